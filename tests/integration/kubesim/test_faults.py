"""kubesim's fault knobs (cluster.py FAULT_DEFAULTS, set live with POST /_kubesim/faults), each driven through
the real `kubernetes` client and kubectl, asserting what a client of a real cluster would see in that
failure: HTTP codes, Status bodies, headers, Events, conditions and kubectl's columns."""

import json
import time
import urllib.error

import pytest
import urllib3
from kubernetes import client, watch
from simutil import (JSON_PATCH, api_error, create_pod, deployment_manifest, error_body, events_for, gone,
                     injected_revision, kube, kubectl_pods, namespace, pod_manifest, wait_for)

from kubesim.cluster import FAULT_DEFAULTS

SEED_REV = "asm-173-3"
PROXY_IMAGE = "gcr.io/gke-release/asm/proxyv2:1.7.3-asm.3"


REVIEWS_PDB = {"metadata": {"name": "reviews"},
               "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "reviews"}}}}


def meshed(k, name="meshed", rev=SEED_REV):
    return namespace(k, name, {"istio.io/rev": rev})


def evict(k, ns, name):
    return k.core.create_namespaced_pod_eviction(
        name, ns, client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=ns)))


# -- injector_down -------------------------------------------------------------------------------


def test_injector_down_fail_closed_rejects_pods_and_stalls_the_rollout(seed):
    """failurePolicy Fail + unreachable injector: pod CREATE in an injected namespace is refused with 500
    `failed calling webhook` (apiserver admission/plugin/webhook/mutating dispatcher → NewInternalError);
    a restarted Deployment's new ReplicaSet records FailedCreate Events and a ReplicaFailure condition
    (replica_set.go manageReplicas / calculateStatus) while the old pods keep running. Once the injector
    is back, the ReplicaSet controller's retry creates the pods and the condition goes away."""
    k = kube(seed)
    seed.kubectl("label", "namespace", "demo", "istio-injection-", f"istio.io/rev={SEED_REV}", "--overwrite")
    old = {p.metadata.name: p.metadata.uid for p in
           k.core.list_namespaced_pod("demo", label_selector="app=productpage").items}
    assert len(old) == 1
    seed.faults(injector_down=True)

    exc = api_error(create_pod, k, "demo", "probe")
    body = error_body(exc)
    assert exc.status == 500 and body["reason"] == "InternalError"
    assert 'failed calling webhook "rev.namespace.sidecar-injector.istio.io"' in body["message"]
    # Namespaces no injector webhook selects are not affected.
    assert injected_revision(create_pod(k, "default", "probe")) is None

    seed.kubectl("rollout", "restart", "deployment/productpage", "-n", "demo")

    def failed_rs():
        for rs in k.apps.list_namespaced_replica_set("demo", label_selector="app=productpage").items:
            if rs.metadata.annotations.get("deployment.kubernetes.io/revision") == "2" and rs.status.conditions:
                return rs
    rs = wait_for(failed_rs, 10, what="the new ReplicaSet's ReplicaFailure condition")
    (cond,) = rs.status.conditions
    assert (cond.type, cond.status, cond.reason) == ("ReplicaFailure", "True", "FailedCreate")
    assert "failed calling webhook" in cond.message
    assert rs.spec.replicas == 1 and not rs.status.replicas
    events = events_for(k, "demo", rs.metadata.name, "FailedCreate")
    assert events and events[0].type == "Warning" and events[0].involved_object.kind == "ReplicaSet"
    assert events[0].message.startswith("Error creating: ") and "failed calling webhook" in events[0].message
    deployment = k.apps.read_namespaced_deployment("productpage", "demo")
    assert any(c.type == "ReplicaFailure" and c.status == "True" for c in deployment.status.conditions)

    pods = k.core.list_namespaced_pod("demo", label_selector="app=productpage").items
    assert {p.metadata.name: p.metadata.uid for p in pods} == old
    assert not pods[0].metadata.deletion_timestamp and injected_revision(pods[0]) is None
    status = seed.kubectl("rollout", "status", "deployment/productpage", "-n", "demo", "--timeout=2s", check=False)
    assert status.returncode != 0 and "0 out of 1 new replicas have been updated" in status.stdout

    seed.faults(injector_down=False)
    done = seed.kubectl("rollout", "status", "deployment/productpage", "-n", "demo", "--timeout=30s")
    assert "successfully rolled out" in done.stdout
    new = wait_for(lambda: [p for p in k.core.list_namespaced_pod("demo", label_selector="app=productpage").items
                            if p.metadata.name not in old], 10)
    assert injected_revision(new[0]) == SEED_REV
    rs = k.apps.read_namespaced_replica_set(rs.metadata.name, "demo")
    assert not rs.status.conditions


def test_injector_down_for_one_revision_only(start_sim):
    """`injector_down` may name revisions: only namespaces injected by those are refused."""
    sim = start_sim("canary")
    k = kube(sim)
    sim.faults(injector_down=["asm-1162-2"])
    assert api_error(create_pod, k, "payments", "p").status == 500
    assert injected_revision(create_pod(k, "shop", "p")) == SEED_REV


def test_injector_down_with_failure_policy_ignore_creates_pods_without_sidecar(seed):
    """failurePolicy Ignore: an unreachable injector is skipped and the pod is admitted unmutated
    (admissionregistration/v1 FailurePolicyType Ignore): pods come up 1/1, no error, no Event."""
    k = kube(seed)
    meshed(k)
    name = f"istio-sidecar-injector-{SEED_REV}"
    mwc = k.admission.read_mutating_webhook_configuration(name)
    assert {w.failure_policy for w in mwc.webhooks} == {"Fail"}
    ops = [{"op": "replace", "path": f"/webhooks/{i}/failurePolicy", "value": "Ignore"}
           for i in range(len(mwc.webhooks))]
    k.admission.patch_mutating_webhook_configuration(name, ops, _content_type=JSON_PATCH)
    seed.faults(injector_down=True)

    assert injected_revision(create_pod(k, "meshed", "bare")) is None
    k.apps.create_namespaced_deployment("meshed", deployment_manifest("web", replicas=2))
    out = seed.kubectl("rollout", "status", "deployment/web", "-n", "meshed", "--timeout=20s")
    assert "successfully rolled out" in out.stdout
    shown = wait_for(lambda: (lambda p: p if len(p) == 3 and all(v[:2] == ["1/1", "Running"] for v in p.values())
                              else None)(kubectl_pods(seed, "meshed")), 15, what="three 1/1 pods")
    assert set(shown) >= {"bare"}
    assert all(injected_revision(p) is None for p in k.core.list_namespaced_pod("meshed").items)
    assert k.core.list_namespaced_event("meshed", field_selector="type=Warning").items == []

    seed.faults(injector_down=False)
    assert injected_revision(create_pod(k, "meshed", "after")) == SEED_REV


# -- kubelet faults ------------------------------------------------------------------------------


def test_proxy_image_pull_failure(seed):
    """The proxy image cannot be pulled: new injected pods are stuck in Init:ImagePullBackOff (the
    istio-init container comes first; printers.go printPod prefixes init container reasons with
    "Init:"), phase Pending, with a kubelet BackOff Event; pods without a sidecar are unaffected."""
    k = kube(seed)
    meshed(k)
    seed.faults(proxy_image_pull_failure=True)
    create_pod(k, "meshed", "stuck")
    create_pod(k, "default", "plain")
    wait_for(lambda: kubectl_pods(seed, "meshed").get("stuck", [])[:2] == ["0/2", "Init:ImagePullBackOff"], 10,
             what=lambda: kubectl_pods(seed, "meshed"))
    wait_for(lambda: kubectl_pods(seed, "default").get("plain", [])[:2] == ["1/1", "Running"], 10)
    events = events_for(k, "meshed", "stuck", "BackOff")
    assert [(e.type, e.message) for e in events] == [("Warning", f'Back-off pulling image "{PROXY_IMAGE}"')]
    pod = k.core.read_namespaced_pod("stuck", "meshed")
    assert pod.status.phase == "Pending"
    (init,) = pod.status.init_container_statuses
    assert init.name == "istio-init" and init.state.waiting.reason == "ImagePullBackOff"
    # Still stuck well past the time a healthy pod needs (start 0.3 s + readiness 1 s).
    time.sleep(1.5)
    assert kubectl_pods(seed, "meshed")["stuck"][:2] == ["0/2", "Init:ImagePullBackOff"]


def test_crash_loop_proxy(start_sim):
    """`crash_loop: [istio-proxy]`: the proxy container restarts with the kubelet's back-off (10 s, 20 s,
    40 s ...): waiting reason CrashLoopBackOff, restartCount growing, READY 1/2, a BackOff Event. Run at
    10x simulated speed so three restarts take ~3 s. A {container, namespace} entry limits the fault."""
    sim = start_sim("seed", speed=10)
    k = kube(sim)
    meshed(k)
    meshed(k, "healthy")
    sim.faults(crash_loop=[{"container": "istio-proxy", "namespace": "meshed"}])
    create_pod(k, "meshed", "crashy")
    create_pod(k, "healthy", "fine")
    seen = []

    def restarts():
        statuses = k.core.read_namespaced_pod("crashy", "meshed").status.container_statuses or []
        proxy = next((s for s in statuses if s.name == "istio-proxy"), None)
        if proxy is not None and (not seen or seen[-1] != proxy.restart_count):
            seen.append(proxy.restart_count)
        return proxy if proxy is not None and proxy.restart_count >= 3 else None
    proxy = wait_for(restarts, 15, interval=0.05, what=lambda: f"3 restarts (seen {seen})")
    assert seen == sorted(seen) and len(seen) >= 3 and seen[-1] >= 3, seen
    assert proxy.state.waiting.reason == "CrashLoopBackOff" and not proxy.ready
    assert proxy.last_state.terminated.exit_code != 0
    app = next(s for s in k.core.read_namespaced_pod("crashy", "meshed").status.container_statuses
               if s.name == "app")
    assert app.restart_count == 0 and app.state.running is not None
    ready, status, shown_restarts, _age = kubectl_pods(sim, "meshed")["crashy"]
    assert (ready, status) == ("1/2", "CrashLoopBackOff") and int(shown_restarts.split()[0]) >= 3
    backoff = events_for(k, "meshed", "crashy", "BackOff")
    assert backoff and "Back-off restarting failed container istio-proxy" in backoff[0].message
    assert kubectl_pods(sim, "healthy")["fine"][:3] == ["2/2", "Running", "0"]


def test_readiness_delay(seed):
    """`readiness_delay`: containers run but the pod stays not Ready (Ready condition False,
    ContainersNotReady) until the delay has passed; clearing the knob restores the scenario's 1 s."""
    k = kube(seed)
    seed.faults(readiness_delay=3)
    start = time.monotonic()
    create_pod(k, "default", "slow")
    running_not_ready = []

    def ready():
        pod = k.core.read_namespaced_pod("slow", "default")
        if pod.status.phase == "Running" and not any(c.type == "Ready" and c.status == "True"
                                                      for c in pod.status.conditions):
            running_not_ready.append(time.monotonic() - start)
        return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
    wait_for(ready, 15, interval=0.1, what="pod Ready")
    took = time.monotonic() - start
    assert 3.0 <= took <= 8, took
    assert running_not_ready and max(running_not_ready) > 2.0, running_not_ready
    cond = next(c for c in k.core.read_namespaced_pod("slow", "default").status.conditions if c.type == "Ready")
    assert cond.status == "True"

    seed.faults(readiness_delay=None)
    start = time.monotonic()
    create_pod(k, "default", "fast")
    wait_for(lambda: any(c.type == "Ready" and c.status == "True"
                         for c in k.core.read_namespaced_pod("fast", "default").status.conditions or []), 10)
    assert time.monotonic() - start < 2.8


# -- API errors ----------------------------------------------------------------------------------


def test_api_errors_429_with_retry_after_then_cleared(seed):
    """`api_errors {"429": 1.0}`: every API request answers 429 TooManyRequests with a Retry-After header
    and `details.retryAfterSeconds` (apiserver's max-in-flight filter / api-conventions.md); the header is
    real enough that urllib3 (under the kubernetes client) honours it: a GET is retried 3 times, Retry-After
    seconds apart, before the 429 surfaces. Cleared, the same request succeeds. Writes are not retried."""
    k = kube(seed)
    seed.faults(api_errors={"429": 1.0}, retry_after=1)
    mark = seed.audit_mark()
    exc = api_error(k.core.list_namespace)
    assert exc.status == 429 and exc.headers["Retry-After"] == "1"
    body = error_body(exc)
    assert body["kind"] == "Status" and body["reason"] == "TooManyRequests"
    assert body["details"]["retryAfterSeconds"] == 1
    attempts = [e for e in seed.audit(mark) if e["path"] == "/api/v1/namespaces"]
    assert [e["code"] for e in attempts] == [429] * 4
    gaps = [b["time"] - a["time"] for a, b in zip(attempts, attempts[1:])]
    assert all(gap >= 0.9 for gap in gaps), gaps
    mark = seed.audit_mark()
    exc = api_error(k.core.create_namespaced_config_map, "default", {"metadata": {"name": "c"}})
    assert exc.status == 429 and len(seed.audit(mark)) == 1
    seed.faults(api_errors={})
    assert "demo" in {n.metadata.name for n in k.core.list_namespace().items}


def test_api_errors_500_rate_is_respected(seed):
    """`api_errors {"500": 0.5}`: about half of 100 requests fail with 500 InternalError; the audit log
    shows exactly the 100 requests (no hidden client retries) with the same split."""
    k = kube(seed)
    seed.faults(api_errors={"500": 0.5})
    mark = seed.audit_mark()
    codes = []
    for _ in range(100):
        try:
            k.core.read_namespace("default")
            codes.append(200)
        except client.ApiException as exc:
            codes.append(exc.status)
            assert error_body(exc)["reason"] == "InternalError"
    seed.faults(api_errors={})
    assert set(codes) <= {200, 500}
    assert 30 <= codes.count(500) <= 70, codes.count(500)
    audited = [e["code"] for e in seed.audit(mark) if e["path"] == "/api/v1/namespaces/default"]
    assert audited == codes


def test_conflict_rate_answers_409_on_writes(seed):
    """`conflict_rate: 1.0`: every update/patch of a named object answers 409 Conflict (the Status an
    optimistic-concurrency failure gives, store.go); reads and creates are unaffected and nothing is
    written."""
    k = kube(seed)
    k.core.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    seed.faults(conflict_rate=1.0)
    exc = api_error(k.core.patch_namespaced_config_map, "c", "default", {"data": {"a": "2"}})
    assert exc.status == 409
    body = error_body(exc)
    assert body["reason"] == "Conflict" and 'Operation cannot be fulfilled on configmaps "c"' in body["message"]
    current = k.core.read_namespaced_config_map("c", "default")
    assert api_error(k.core.replace_namespaced_config_map, "c", "default", current).status == 409
    out = seed.kubectl("label", "configmap", "c", "-n", "default", "x=y", check=False)
    assert out.returncode != 0 and "Operation cannot be fulfilled" in out.stderr
    k.core.create_namespaced_config_map("default", {"metadata": {"name": "d"}})
    assert k.core.read_namespaced_config_map("c", "default").data == {"a": "1"}
    seed.faults(conflict_rate=0.0)
    assert k.core.patch_namespaced_config_map("c", "default", {"data": {"a": "2"}}).data == {"a": "2"}


def test_conflict_first_write(seed):
    """`conflict_first_write`: the first update/patch of each object gets 409, the retry succeeds — the
    shape of a read-modify-write race a client must retry."""
    k = kube(seed)
    for name in ("a", "b"):
        k.core.create_namespaced_config_map("default", {"metadata": {"name": name}, "data": {"v": "0"}})
    seed.faults(conflict_first_write=True)
    assert api_error(k.core.patch_namespaced_config_map, "a", "default", {"data": {"v": "1"}}).status == 409
    assert k.core.read_namespaced_config_map("a", "default").data == {"v": "0"}
    assert k.core.patch_namespaced_config_map("a", "default", {"data": {"v": "1"}}).data == {"v": "1"}
    assert k.core.patch_namespaced_config_map("a", "default", {"data": {"v": "2"}}).data == {"v": "2"}
    assert api_error(k.core.patch_namespaced_config_map, "b", "default", {"data": {"v": "1"}}).status == 409
    assert k.core.patch_namespaced_config_map("b", "default", {"data": {"v": "1"}}).data == {"v": "1"}


# -- watches -------------------------------------------------------------------------------------


def test_watch_drop_after(seed):
    """`watch_drop_after: 1`: the server ends watch streams after ~1 s although the client asked for 30
    (clients must re-establish them, as client-go's reflector does)."""
    k = kube(seed)
    seed.faults(watch_drop_after=1)
    start = time.monotonic()
    events = list(watch.Watch().stream(k.core.list_namespaced_pod, "demo", timeout_seconds=30))
    took = time.monotonic() - start
    assert 0.8 <= took < 5, took
    assert events and {e["type"] for e in events} == {"ADDED"}  # the synthetic ADDED of the initial state
    seed.faults(watch_drop_after=None)
    start = time.monotonic()
    list(watch.Watch().stream(k.core.list_namespaced_pod, "demo", timeout_seconds=2))
    assert time.monotonic() - start >= 1.8


def _raw_watch(k, rv):
    resp = k.core.list_namespaced_config_map("default", watch=True, resource_version=rv, timeout_seconds=1,
                                             _preload_content=False)
    return [json.loads(line) for line in resp.read().splitlines() if line.strip()]


def test_watch_gone(seed):
    """`watch_gone`: a watch resuming from a resourceVersion gets one ERROR event carrying a 410 Expired
    Status (cacher.go: "too old resource version"); the kubernetes client's Watch retries once and then
    raises 410. Without the knob the same resume replays what happened since."""
    k = kube(seed)
    rv = k.core.list_namespaced_config_map("default").metadata.resource_version
    k.core.create_namespaced_config_map("default", {"metadata": {"name": "after-rv"}})
    replay = _raw_watch(k, rv)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in replay] == [("ADDED", "after-rv")]

    seed.faults(watch_gone=True)
    (event,) = _raw_watch(k, rv)
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"
    with pytest.raises(client.ApiException) as info:
        for _ in watch.Watch().stream(k.core.list_namespaced_config_map, "default", resource_version=rv):
            pass
    assert info.value.status == 410
    # A fresh watch (no resourceVersion) starts from the current state and works.
    fresh = list(watch.Watch().stream(k.core.list_namespaced_config_map, "default", timeout_seconds=1))
    assert "after-rv" in {e["object"].metadata.name for e in fresh}


def test_compaction_makes_old_resource_versions_gone(seed):
    """`compact` (a control action beside the knobs): after etcd-style compaction, resuming a watch from
    a resourceVersion older than the compaction gets 410, while newer ones still resume."""
    k = kube(seed)
    rv = k.core.list_namespaced_config_map("default").metadata.resource_version
    k.core.create_namespaced_config_map("default", {"metadata": {"name": "old"}})
    seed.faults(compact=True)
    (event,) = _raw_watch(k, rv)
    assert event["type"] == "ERROR" and event["object"]["code"] == 410
    rv2 = k.core.list_namespaced_config_map("default").metadata.resource_version
    k.core.create_namespaced_config_map("default", {"metadata": {"name": "new"}})
    assert [e["type"] for e in _raw_watch(k, rv2)] == ["ADDED"]


# -- connectivity and latency ----------------------------------------------------------------------


def test_unreachable_seconds(seed):
    """`unreachable_seconds: 2`: for ~2 s every request dies with a connection error (no HTTP status at
    all: urllib3 gives up after its retries), then requests succeed again."""
    k = kube(seed)
    k.core.list_namespace()
    start = time.monotonic()
    seed.faults(unreachable_seconds=2)
    errors = []
    while True:
        try:
            k.core.list_namespace(_request_timeout=3)
            break
        except urllib3.exceptions.HTTPError as exc:
            errors.append((time.monotonic() - start, type(exc).__name__))
        assert time.monotonic() - start < 10, "API server still unreachable after 10 s"
        time.sleep(0.1)
    recovered = time.monotonic() - start
    assert errors and errors[0][0] < 1.0, errors
    assert {name for _, name in errors} <= {"MaxRetryError", "ProtocolError"}, errors
    assert 1.8 <= recovered <= 4, recovered
    assert "demo" in seed.kubectl("get", "ns", "-o", "name").stdout


def test_latency_ms(seed):
    """`latency_ms`: every API response is delayed by that much."""
    k = kube(seed)
    seed.faults(latency_ms=400)
    start = time.monotonic()
    k.core.read_namespace("default")
    assert time.monotonic() - start >= 0.4
    seed.faults(latency_ms=0)
    start = time.monotonic()
    k.core.read_namespace("default")
    assert time.monotonic() - start < 0.3


# -- evictions -----------------------------------------------------------------------------------


def test_block_evictions(seed):
    """`block_evictions`: every PodDisruptionBudget behaves as if it allowed no disruption, so evicting a
    Running pod a PDB covers answers 429 TooManyRequests with a DisruptionBudget cause (eviction.go),
    even though the PDB itself would allow one. Pods no PDB covers are evicted normally, and so are
    covered pods that are not Running (eviction.go canIgnorePDB: Pending pods). Cleared, the PDB's own
    budget applies again — and it cannot be spent twice: once one pod is evicted (terminating), the next
    eviction is refused until a replacement is healthy (disruption.go: terminating pods are not healthy,
    the expected count is the controller's scale)."""
    k = kube(seed)
    k.policy.create_namespaced_pod_disruption_budget("demo", REVIEWS_PDB)
    wait_for(lambda: (lambda st: st is not None and st.disruptions_allowed == 1)(
        k.policy.read_namespaced_pod_disruption_budget("reviews", "demo").status), 10, what="PDB allows 1")
    reviews = sorted(p.metadata.name for p in k.core.list_namespaced_pod("demo", label_selector="app=reviews").items)
    assert len(reviews) == 3
    seed.faults(block_evictions=True)

    exc = api_error(evict, k, "demo", reviews[0])
    body = error_body(exc)
    assert exc.status == 429 and body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert not k.core.read_namespaced_pod(reviews[0], "demo").metadata.deletion_timestamp

    ratings = k.core.list_namespaced_pod("demo", label_selector="app=ratings").items[0].metadata.name
    evict(k, "demo", ratings)  # no PDB covers it
    wait_for(lambda: gone(k.core.read_namespaced_pod, ratings, "demo"), 10, what="evicted ratings pod gone")

    # A covered pod that is not Running (its proxy image cannot be pulled: Pending) may always be evicted.
    seed.kubectl("label", "namespace", "demo", f"istio.io/rev={SEED_REV}")
    seed.faults(proxy_image_pull_failure=True)
    k.core.create_namespaced_pod("demo", pod_manifest("reviews-extra", {"app": "reviews"}))
    wait_for(lambda: kubectl_pods(seed, "demo").get("reviews-extra", [""])[0] == "0/2", 10)
    assert k.core.read_namespaced_pod("reviews-extra", "demo").status.phase == "Pending"
    evict(k, "demo", "reviews-extra")
    wait_for(lambda: gone(k.core.read_namespaced_pod, "reviews-extra", "demo"), 10, what="Pending pod evicted")

    seed.faults(block_evictions=False, proxy_image_pull_failure=False)
    evict(k, "demo", reviews[0])
    assert k.core.read_namespaced_pod(reviews[0], "demo").metadata.deletion_timestamp
    exc = api_error(evict, k, "demo", reviews[1])
    assert exc.status == 429, "the PDB's single allowed disruption was spent twice"
    assert not k.core.read_namespaced_pod(reviews[1], "demo").metadata.deletion_timestamp


def test_pdb_still_protects_when_replacements_cannot_be_created(seed):
    """Injector down (fail closed) while pods are evicted: the ReplicaSet cannot create replacements, so
    after one eviction under `maxUnavailable: 1` the budget is spent and further evictions are refused
    — the PDB's expected count is the controller's scale (3), not the pods that happen to remain
    (disruption.go getExpectedPodCount/getExpectedScale, countHealthyPods)."""
    k = kube(seed)
    seed.kubectl("label", "namespace", "demo", f"istio.io/rev={SEED_REV}")
    k.policy.create_namespaced_pod_disruption_budget("demo", REVIEWS_PDB)
    reviews = sorted(p.metadata.name for p in k.core.list_namespaced_pod("demo", label_selector="app=reviews").items)
    seed.faults(injector_down=True)
    evict(k, "demo", reviews[0])
    wait_for(lambda: gone(k.core.read_namespaced_pod, reviews[0], "demo"), 10, what="evicted pod gone")
    rs = k.apps.list_namespaced_replica_set("demo", label_selector="app=reviews").items[0]
    wait_for(lambda: events_for(k, "demo", rs.metadata.name, "FailedCreate"), 10, what="FailedCreate")
    pdb = wait_for(lambda: (lambda p: p if p.status.current_healthy == 2 else None)(
        k.policy.read_namespaced_pod_disruption_budget("reviews", "demo")), 10, what="PDB status updated")
    assert (pdb.status.expected_pods, pdb.status.desired_healthy, pdb.status.disruptions_allowed) == (3, 2, 0)
    for name in reviews[1:]:
        exc = api_error(evict, k, "demo", name)
        assert exc.status == 429 and error_body(exc)["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert len(k.core.list_namespaced_pod("demo", label_selector="app=reviews").items) == 2


# -- the control surface -------------------------------------------------------------------------


def test_unknown_knob_is_refused_listing_the_valid_ones(seed):
    """POST /_kubesim/faults with a knob kubesim does not know answers 400 naming it and listing the valid
    knobs, and applies nothing (so a typo in a test cannot silently leave a fault off)."""
    with pytest.raises(urllib.error.HTTPError) as info:
        seed.faults(no_such_knob=1)
    assert info.value.code == 400
    message = json.loads(info.value.read())["error"]
    assert "no_such_knob" in message
    assert all(knob in message for knob in FAULT_DEFAULTS), message
    assert seed.faults() == FAULT_DEFAULTS  # nothing was applied

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""asm_rollout_verify through the real `ansible-playbook` against kubesim: the seed's steps 3 and 4
(restart, then every pod READY 2/2 with the revision's sidecar), idempotence and check mode proved
from the audit log, eviction with PodDisruptionBudgets, OnDelete and paused workloads, native
sidecars, a canary move between revisions, stale proxies after an in-place upgrade, and the
failures an operator meets (injector down, image pull, crash loop, slow readiness, flaky API)."""

from __future__ import annotations

import pytest
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from ansible_helpers import run_playbook

from kubesim.testing import WRITE_VERBS

sys.path.insert(0, str(Path(__file__).resolve().parent / "kubesim"))
from simutil import PodWatch, kube, wait_for  # noqa: E402  (tests/integration/kubesim helpers)

VERIFY = "servicemesh.asm.asm_rollout_verify"
INJECT = "servicemesh.asm.asm_namespace_inject"
REV = "asm-173-3"
NEW_REV = "asm-1162-2"
DEMO_WORKLOADS = {("DaemonSet", "log-agent"), ("Deployment", "productpage"), ("Deployment", "ratings"),
                  ("Deployment", "reviews"), ("StatefulSet", "mysql")}
DEMO_CONTROLLED_PODS = 11  # productpage 1 + reviews 3 + ratings 2 + mysql 2 + log-agent 3 (one per node)


# -- playbook pieces -----------------------------------------------------------------------------------------------

def verify(register, check_mode=False, **args):
    args = dict({"kubeconfig": "{{ kubeconfig }}", "namespaces": ["demo"], "revision": REV, "timeout": 60}, **args)
    task = {"name": register, VERIFY: args, "register": register}
    if check_mode:
        task["check_mode"] = True
    return task


def inject(register="label", namespaces=("demo",), revision=REV):
    return {"name": register, INJECT: {"kubeconfig": "{{ kubeconfig }}", "namespaces": list(namespaces),
                                       "revision": revision}, "register": register}


def mark(register):
    """kubesim's audit position between two tasks: results[register]["json"]["next"]."""
    return {"name": register, "register": register, "check_mode": False,
            "ansible.builtin.uri": {"url": "{{ sim_url }}/_kubesim/audit?since=1000000000",
                                    "ca_path": "{{ sim_ca }}", "return_content": True}}


def kubectl(register, *argv):
    return {"name": register, "register": register, "check_mode": False,
            "environment": {"KUBECONFIG": "{{ kubeconfig }}"}, "ansible.builtin.command": {"argv": ["kubectl", *argv]}}


def play(sim, tmp_path, tasks, timeout=240):
    run = run_playbook(tmp_path, tasks, timeout=timeout, extra_vars={
        "kubeconfig": str(sim.kubeconfig), "sim_url": getattr(sim, "url", ""),  # mark(): kubesim only
        "sim_ca": str(getattr(sim, "ca_file", ""))})
    assert set(run.results) == set(t["register"] for t in tasks), run.explain()
    return run


def ok(result):
    assert result.get("failed") is not True, json.dumps(result, indent=1)[:6000]
    return result


def failed(result):
    assert result.get("failed") is True, json.dumps(result, indent=1)[:6000]
    return result


def between(sim, run, start, end):
    """Audit entries between two mark tasks."""
    first, last = run[start]["json"]["next"], run[end]["json"]["next"]
    return sim.audit(first)[: last - first]


def writes(entries):
    """Writes that were stored (server-side dry runs store nothing)."""
    return [(e["method"], e["path"], e["code"]) for e in entries if e["verb"] in WRITE_VERBS and not e.get("dry_run")]


def label(sim, namespace="demo", revision=REV):
    sim.kubectl("label", "namespace", namespace, "istio-injection-", "istio.io/rev=" + revision, "--overwrite")


# -- reading the cluster -------------------------------------------------------------------------------------------

def pods(sim, namespace="demo", live=True):
    items = json.loads(sim.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
    return [p for p in items if not (live and p["metadata"].get("deletionTimestamp"))]


def owner_kind(pod):
    refs = [r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")]
    return refs[0]["kind"] if refs else None


def ready(pod):
    """kubectl's READY: restartable init containers count."""
    restartable = [c["name"] for c in pod["spec"].get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    names = [c["name"] for c in pod["spec"]["containers"]] + restartable
    statuses = {s["name"]: s for s in (pod["status"].get("containerStatuses") or [])
                + (pod["status"].get("initContainerStatuses") or [])}
    return "%d/%d" % (sum(1 for n in names if statuses.get(n, {}).get("ready")), len(names))


def revision(pod):
    status = (pod["metadata"].get("annotations") or {}).get("sidecar.istio.io/status")
    return json.loads(status)["revision"] if status else None


def proxy_image(pod):
    for c in pod["spec"]["containers"] + (pod["spec"].get("initContainers") or []):
        if c["name"] == "istio-proxy":
            return c["image"]
    return None


def meshed(pod):
    """(READY, revision) — what the seed's `kubectl get pods` check shows, plus the injecting revision."""
    return ready(pod), revision(pod)


def workloads(items):
    return set((w["kind"], w["name"]) for w in items)


def patches_by_name(entries, resource):
    return Counter(e["name"] for e in entries
                   if e["verb"] == "patch" and e["resource"] == resource and e["code"] < 400)


# -- the seed ------------------------------------------------------------------------------------------------------

@pytest.mark.kubesim_only(reason="reads kubesim's audit endpoint (/_kubesim/audit) between playbook tasks")
def test_seed_flow_restarts_once_verifies_2_of_2_and_reruns_restart_nothing(seed, tmp_path):
    debug_before = [p for p in pods(seed) if p["metadata"]["name"] == "debug-shell"][0]["metadata"]["uid"]
    run = play(seed, tmp_path, [
        inject(),
        mark("m0"),
        verify("plan", check_mode=True),
        mark("m1"),
        verify("first"),
        mark("m2"),
        verify("second"),
        mark("m3"),
    ])

    # check mode: the plan, and not a single write
    plan = ok(run["plan"])
    assert writes(between(seed, run, "m0", "m1")) == []
    assert plan["check_mode"] is True and plan["changed"] is True and plan["complete"] is False
    assert workloads(plan["restarted"]) == DEMO_WORKLOADS
    assert set(r["state"] for r in plan["restarted"]) == {"planned"}
    assert set(r["method"] for r in plan["restarted"]) == {"rollout"}
    assert sum(r["pods"] for r in plan["restarted"]) == DEMO_CONTROLLED_PODS
    assert all(r["reasons"] == {"no sidecar": r["pods"]} for r in plan["restarted"])
    assert plan["failed_pods"] == []

    # the real run: one restartedAt patch per workload, every controller-owned pod 2/2 with asm-173-3
    first = ok(run["first"])
    assert first["changed"] is True and first["complete"] is True and first["revision"] == REV
    assert workloads(first["restarted"]) == DEMO_WORKLOADS
    assert set((r["method"], r["state"]) for r in first["restarted"]) == {("rollout", "done")}
    assert first["failed_pods"] == [] and first["failed_workloads"] == [] and first["skipped_workloads"] == []
    assert first["bare_pods"] == [{"namespace": "demo", "name": "debug-shell", "reason": "no sidecar",
                                   "deleted": False, "will_delete": False}]
    assert [p["name"] for p in first["unverified_pods"]] == ["debug-shell"]
    (counts,) = first["namespaces"]
    assert (counts["name"], counts["expected_revision"], counts["pods"], counts["injected"], counts["ready"],
            counts["restarted"], counts["problems"]) == ("demo", REV, 12, 11, 12, 5, 0)
    entries = between(seed, run, "m1", "m2")
    restart_patches = [e for e in entries if e["verb"] == "patch"]
    assert sorted((e["resource"], e["name"], e["code"]) for e in restart_patches) == [
        ("daemonsets", "log-agent", 200), ("deployments", "productpage", 200), ("deployments", "ratings", 200),
        ("deployments", "reviews", 200), ("statefulsets", "mysql", 200)]
    assert [e for e in entries if e["verb"] in WRITE_VERBS and e["verb"] != "patch"] == []

    after = pods(seed)
    controlled = [p for p in after if owner_kind(p)]
    assert len(controlled) == DEMO_CONTROLLED_PODS
    assert sorted(set(meshed(p) for p in controlled)) == [("2/2", REV)]
    # every pod comes from a template `kubectl rollout restart`-style annotated
    assert all("kubectl.kubernetes.io/restartedAt" in p["metadata"]["annotations"] for p in controlled)
    debug = [p for p in after if p["metadata"]["name"] == "debug-shell"]
    assert len(debug) == 1 and debug[0]["metadata"]["uid"] == debug_before and meshed(debug[0]) == ("1/1", None)
    # the seed's own check: `kubectl get pods -n demo` shows READY 2/2 Running (debug-shell 1/1)
    table = [row.split() for row in seed.kubectl("get", "pods", "-n", "demo", "--no-headers").stdout.splitlines()]
    shown = dict((row[0], (row[1], row[2])) for row in table if row[2] != "Terminating")
    assert shown.pop("debug-shell") == ("1/1", "Running")
    assert len(shown) == DEMO_CONTROLLED_PODS and set(shown.values()) == {("2/2", "Running")}
    template = json.loads(seed.kubectl("get", "deployment", "reviews", "-n", "demo", "-o", "json").stdout)
    assert "kubectl.kubernetes.io/restartedAt" in template["spec"]["template"]["metadata"]["annotations"]

    # a second call: nothing restarted, nothing written
    second = ok(run["second"])
    assert second["changed"] is False and second["complete"] is True
    assert second["restarted"] == [] and second["waited_for"] == [] and second["failed_pods"] == []
    assert writes(between(seed, run, "m2", "m3")) == []
    assert second["api_requests"] < 25  # grows with namespaces, not with pods
    assert second["namespaces"][0]["restarted"] == 0


@pytest.mark.kubesim_only(reason="reads kubesim's audit endpoint (/_kubesim/audit) between playbook tasks")
def test_stale_proxy_after_in_place_upgrade_restarts_everything(seed, tmp_path):
    """The revision keeps its name while its injector now injects another proxy image (an in-place
    upgrade, or managed ASM): pods injected before are stale and restart (istioctl analyze IST0158)."""
    cm = json.loads(seed.kubectl("get", "configmap", "istio-sidecar-injector-" + REV, "-n", "istio-system",
                                 "-o", "json").stdout)
    values = json.loads(cm["data"]["values"])
    assert values["global"]["tag"] == "1.7.3-asm.3"
    values["global"]["tag"] = "1.7.3-asm.4"
    upgraded = "%s/%s:1.7.3-asm.4" % (values["global"]["hub"], (values["global"].get("proxy") or {}).get(
        "image", "proxyv2"))
    run = play(seed, tmp_path, [
        inject(),
        verify("converge"),
        kubectl("upgrade", "patch", "configmap", "istio-sidecar-injector-" + REV, "-n", "istio-system",
                "--type", "merge", "-p", json.dumps({"data": {"values": json.dumps(values)}})),
        verify("stale"),
        verify("again"),
    ])
    ok(run["converge"])
    assert run["upgrade"]["rc"] == 0, run["upgrade"]
    stale = ok(run["stale"])
    assert workloads(stale["restarted"]) == DEMO_WORKLOADS
    for r in stale["restarted"]:
        ((reason, count),) = r["reasons"].items()
        assert reason.startswith("stale proxy gcr.io/gke-release/asm/proxyv2:1.7.3-asm.3 ") and upgraded in reason
        assert count == r["pods"] and r["state"] == "done"
    controlled = [p for p in pods(seed) if owner_kind(p)]
    assert len(controlled) == DEMO_CONTROLLED_PODS
    assert set((ready(p), revision(p), proxy_image(p)) for p in controlled) == {("2/2", REV, upgraded)}
    assert ok(run["again"])["restarted"] == []


# -- eviction, OnDelete, paused ------------------------------------------------------------------------------------

@pytest.mark.kubesim_only(reason="needs kubesim's fault knob block_evictions (the real cluster's blocking PDB is "
                                 "test_real_faults.py)")
def test_delete_pods_evicts_respecting_a_pod_disruption_budget(seed, tmp_path):
    k = kube(seed)
    label(seed)
    k.policy.create_namespaced_pod_disruption_budget("demo", {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "reviews"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "reviews"}}}})
    wait_for(lambda: (k.policy.read_namespaced_pod_disruption_budget("reviews", "demo").status.current_healthy
                      or 0) == 3, what="the PDB's status")

    lowest = {"healthy": 3}

    def healthy_reviews(current):
        count = sum(1 for p in current.values() if p["metadata"]["name"].startswith("reviews-")
                    and not p["metadata"].get("deletionTimestamp")
                    and any(c["type"] == "Ready" and c["status"] == "True"
                            for c in p["status"].get("conditions") or []))
        lowest["healthy"] = min(lowest["healthy"], count)

    watcher = PodWatch(k, "demo", check=healthy_reviews)
    # Block every eviction the budget covers until the module has been refused at least once.
    seed.faults(block_evictions=True)
    start = seed.audit_mark()
    box = {}
    runner = threading.Thread(target=lambda: box.update(run=play(seed, tmp_path, [
        verify("evict", restart="delete_pods", max_concurrent=2, timeout=90)])))
    runner.start()
    try:
        # The module retries while blocked (every ~2 s): wait for a second refusal.
        wait_for(lambda: sum(1 for e in seed.audit(start) if e["subresource"] == "eviction" and e["code"] == 429
                             and e["name"].startswith("reviews-")) >= 2, timeout=60,
                 what="two refused evictions of a reviews pod")
        assert sum(1 for p in pods(seed) if p["metadata"]["name"].startswith("reviews-") and revision(p)) == 0
        seed.faults(block_evictions=False)
    finally:
        runner.join(timeout=200)
        watcher.stop()
    assert watcher.error is None
    result = ok(box["run"]["evict"])
    assert workloads(result["restarted"]) == DEMO_WORKLOADS
    assert set((r["method"], r["state"]) for r in result["restarted"]) == {("evict", "done")}

    entries = seed.audit(start)
    evictions = [e for e in entries if e["resource"] == "pods" and e["subresource"] == "eviction"]
    refused = [e for e in evictions if e["code"] == 429]
    assert refused and all(e["name"].startswith("reviews-") for e in refused)
    assert len([e for e in refused if e["method"] == "POST"]) >= 2  # retried while blocked
    accepted = Counter(next(w for _kind, w in DEMO_WORKLOADS if e["name"].startswith(w + "-"))
                       for e in evictions if e["code"] < 300)
    assert accepted == {"reviews": 3, "ratings": 2, "productpage": 1, "mysql": 2, "log-agent": 3}
    # never a plain DELETE of a pod, and no workload patched
    assert [e for e in entries if e["resource"] == "pods" and e["verb"] == "delete"] == []
    assert [e for e in entries if e["verb"] == "patch"] == []
    assert lowest["healthy"] >= 2  # the budget held at every pod event
    controlled = [p for p in pods(seed) if owner_kind(p)]
    assert len(controlled) == DEMO_CONTROLLED_PODS
    assert sorted(set(meshed(p) for p in controlled)) == [("2/2", REV)]


@pytest.mark.kubesim_only(reason="time budget (make test < 40 min): OnDelete eviction on the real cluster is "
                                 "test_availability.py's PDB case")
def test_on_delete_statefulset_is_evicted_and_paused_deployment_left_alone(seed, tmp_path):
    k = kube(seed)
    k.apps.create_namespaced_stateful_set("demo", {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "cache", "labels": {"app": "cache"}},
        "spec": {"replicas": 2, "serviceName": "cache", "updateStrategy": {"type": "OnDelete"},
                 "selector": {"matchLabels": {"app": "cache"}},
                 "template": {"metadata": {"labels": {"app": "cache"}},
                              "spec": {"containers": [{"name": "redis", "image": "docker.io/library/redis:7.4"}]}}}})
    wait_for(lambda: [ready(p) for p in pods(seed) if p["metadata"]["name"].startswith("cache-")] == ["1/1", "1/1"],
             what="the OnDelete StatefulSet's pods")
    seed.kubectl("rollout", "pause", "deployment/productpage", "-n", "demo")
    before = dict((p["metadata"]["name"], p["metadata"]["uid"]) for p in pods(seed))
    start = seed.audit_mark()
    run = play(seed, tmp_path, [inject(), verify("verify")])
    result = ok(run["verify"])
    entries = seed.audit(start)

    by_key = dict(((r["kind"], r["name"]), r) for r in result["restarted"])
    assert set(by_key) == DEMO_WORKLOADS - {("Deployment", "productpage")} | {("StatefulSet", "cache")}
    assert (by_key[("StatefulSet", "cache")]["method"], by_key[("StatefulSet", "cache")]["state"]) == ("evict", "done")
    assert by_key[("StatefulSet", "mysql")]["method"] == "rollout"
    cache_evictions = [(e["name"], e["code"]) for e in entries if e["subresource"] == "eviction"]
    assert cache_evictions == [("cache-1", 201), ("cache-0", 201)]  # highest ordinal first, like a rolling update
    assert patches_by_name(entries, "statefulsets") == {"mysql": 1}
    after = pods(seed)
    cache = [p for p in after if p["metadata"]["name"].startswith("cache-")]
    assert sorted((p["metadata"]["name"], meshed(p)) for p in cache) == [("cache-0", ("2/2", REV)),
                                                                         ("cache-1", ("2/2", REV))]
    assert all(p["metadata"]["uid"] != before[p["metadata"]["name"]] for p in cache)

    (skipped,) = result["skipped_workloads"]
    assert (skipped["kind"], skipped["name"]) == ("Deployment", "productpage")
    assert skipped["reason"] == "paused: run `kubectl rollout resume deployment/productpage -n demo` first"
    assert not [e for e in entries if e["resource"] == "deployments" and e["name"] == "productpage"
                and e["verb"] in WRITE_VERBS]
    productpage = [p for p in after if p["metadata"]["name"].startswith("productpage-")]
    assert [(p["metadata"]["uid"], meshed(p)) for p in productpage] == [
        (before[productpage[0]["metadata"]["name"]], ("1/1", None))]
    assert sorted(p["name"] for p in result["unverified_pods"]) == ["debug-shell", productpage[0]["metadata"]["name"]]
    output = " ".join((run.stdout + run.stderr).split())  # undo Ansible's line wrapping
    assert "Deployment/productpage not restarted: paused" in output, run.explain()


# -- native sidecars, canary -----------------------------------------------------------------------------------------

@pytest.mark.kubesim_only(reason="time budget (make test < 40 min): a cluster of its own (scenario native) and a full"
                                 " restart")
def test_native_sidecars_count_as_2_of_2(start_sim, tmp_path):
    sim = start_sim("native")
    run = play(sim, tmp_path, [inject(revision="asm-1271-1"), verify("verify", revision="asm-1271-1")])
    result = ok(run["verify"])
    assert workloads(result["restarted"]) == {("Deployment", "api")}
    api = [p for p in pods(sim) if p["metadata"]["name"].startswith("api-")]
    assert len(api) == 2
    for pod in api:
        assert "istio-proxy" not in [c["name"] for c in pod["spec"]["containers"]]
        proxy = [c for c in pod["spec"]["initContainers"] if c["name"] == "istio-proxy"]
        assert len(proxy) == 1 and proxy[0]["restartPolicy"] == "Always"
        assert meshed(pod) == ("2/2", "asm-1271-1")
    rows = sim.kubectl("get", "pods", "-n", "demo", "-l", "app=api", "--no-headers").stdout.split("\n")
    assert [r.split()[1] for r in rows if r.strip()] == ["2/2", "2/2"]
    # the Job's pod has completed: legitimately without a sidecar, neither restarted nor failing
    (counts,) = result["namespaces"]
    assert [counts[k] for k in ("pods", "injected", "ready", "exempt", "problems")] == [3, 2, 2, 1, 0]
    assert result["skipped_workloads"] == [] and result["failed_pods"] == []


@pytest.mark.kubesim_only(reason="time budget (make test < 40 min): a cluster of its own (scenario canary) and a full"
                                 " restart; tests/realcluster/tests/test_canary.py injects with both revisions")
def test_canary_move_from_old_to_new_revision(start_sim, tmp_path):
    sim = start_sim("canary")
    before = dict((p["metadata"]["name"], revision(p)) for p in pods(sim, "shop"))
    assert set(before.values()) == {REV}
    start = sim.audit_mark()
    run = play(sim, tmp_path, [inject(namespaces=["shop"], revision=NEW_REV),
                               verify("move", namespaces=["shop"], revision=NEW_REV)])
    result = ok(run["move"])
    assert result["revision"] == NEW_REV
    assert workloads(result["restarted"]) == {("Deployment", "cart"), ("Deployment", "checkout")}
    for r in result["restarted"]:
        assert r["reasons"] == {"sidecar from revision asm-173-3, expected asm-1162-2": r["pods"]}
    shop = pods(sim, "shop")
    assert len(shop) == 3
    assert set((ready(p), revision(p), proxy_image(p)) for p in shop) == {
        ("2/2", NEW_REV, "gcr.io/gke-release/asm/proxyv2:1.16.2-asm.2")}
    assert not set(p["metadata"]["name"] for p in shop) & set(before)
    # the other namespaces were not touched
    assert set(e["namespace"] for e in sim.writes(start) if e["code"] < 400) == {"shop"}


# -- failures ------------------------------------------------------------------------------------------------------

@pytest.mark.kubesim_only(reason="needs kubesim's fault knob injector_down (the real cluster's stopped istiod is "
                                 "test_real_faults.py)")
def test_injector_down_fail_closed_fails_fast_naming_the_workloads(seed, tmp_path):
    label(seed)
    seed.faults(injector_down=True)
    run = play(seed, tmp_path, [verify("down", timeout=90)])
    result = failed(run["down"])
    msg = result["msg"]
    assert result["elapsed_seconds"] < 20, msg  # recognised (ReplicaFailure, FailedCreate Events), not waited out
    assert "failed calling webhook" in msg and "cannot be created" in msg
    # Deployments show it as a ReplicaFailure condition; StatefulSets and DaemonSets only as FailedCreate Events.
    assert workloads(result["failed_workloads"]) == DEMO_WORKLOADS
    for w in result["failed_workloads"]:
        assert w["state"] == "failed" and w["message"].startswith("new pods cannot be created: ")
        assert 'failed calling webhook "rev.namespace.sidecar-injector.istio.io"' in w["message"]
    for name in ("log-agent", "mysql", "productpage", "ratings", "reviews"):
        assert "demo/%s-" % name in msg
    assert result["complete"] is False and result["restarted"] and result["failed_pods"]
    # the old pods keep running (fail closed: nothing came up without a sidecar)
    assert set(meshed(p) for p in pods(seed) if owner_kind(p) == "ReplicaSet") == {("1/1", None)}


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob injector_down and a failurePolicy Ignore revision")
def test_injector_down_fail_open_pods_come_back_without_sidecar(seed, tmp_path):
    k = kube(seed)
    label(seed)
    mwc = k.admission.read_mutating_webhook_configuration("istio-sidecar-injector-" + REV)
    patch = [{"op": "replace", "path": "/webhooks/%d/failurePolicy" % i, "value": "Ignore"}
             for i in range(len(mwc.webhooks))]
    seed.kubectl("patch", "mutatingwebhookconfiguration", "istio-sidecar-injector-" + REV, "--type", "json",
                 "-p", json.dumps(patch))
    seed.faults(injector_down=True)
    run = play(seed, tmp_path, [verify("open", timeout=60)])
    result = failed(run["open"])
    assert "re-created without a sidecar" in result["msg"]
    reasons = [p["reason"] for p in result["failed_pods"]]
    assert reasons and all(r.startswith("re-created without a sidecar although the namespace is labelled for "
                                        "asm-173-3") for r in reasons)
    assert any("unreachable" in p["hint"] for p in result["failed_pods"])
    # the pods really are up without a sidecar (1/1): the silent failure the module must catch
    controlled = [p for p in pods(seed) if owner_kind(p) == "ReplicaSet"]
    assert controlled and set(meshed(p) for p in controlled) == {("1/1", None)}


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob proxy_image_pull_failure (kwok pulls no images)")
def test_proxy_image_pull_failure_is_named(seed, tmp_path):
    label(seed)
    seed.faults(proxy_image_pull_failure=True)
    result = failed(play(seed, tmp_path, [verify("pull", timeout=8)])["pull"])
    assert "ImagePullBackOff" in result["msg"] or "ErrImagePull" in result["msg"]
    pulling = [p for p in result["failed_pods"] if "ImagePullBackOff" in p["reason"] or "ErrImagePull" in p["reason"]]
    assert pulling and all(p["reason"].startswith(("istio-init ", "istio-proxy ")) for p in pulling)
    assert all("proxy image" in p["hint"] for p in pulling)


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob crash_loop (kwok pods have no containers to crash)")
def test_proxy_crash_loop_is_named(seed, tmp_path):
    label(seed)
    seed.faults(crash_loop=["istio-proxy"])
    result = failed(play(seed, tmp_path, [verify("crash", timeout=8)])["crash"])
    assert "istio-proxy CrashLoopBackOff" in result["msg"]
    crashing = [p for p in result["failed_pods"] if p["reason"].startswith("istio-proxy CrashLoopBackOff")]
    assert crashing and all("kubectl logs" in p["hint"] for p in crashing)


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob readiness_delay (the real cluster's slow pods are "
                                 "test_real_faults.py)")
def test_slow_readiness_times_out_with_not_ready_reasons(seed, tmp_path):
    label(seed)
    seed.faults(readiness_delay=30)
    started = time.monotonic()
    result = failed(play(seed, tmp_path, [verify("slow", timeout=5)])["slow"])
    assert time.monotonic() - started < 25
    assert "(timeout)" in result["msg"]
    assert 4.5 <= result["elapsed_seconds"] < 12
    assert set(w["state"] for w in result["failed_workloads"]) == {"timeout"}
    not_ready = [p for p in result["failed_pods"] if "not ready" in p["reason"]]
    assert not_ready and any(p["ready"] in ("0/2", "1/2") for p in not_ready)


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob api_errors")
def test_transient_api_errors_are_retried_without_double_restarts(seed, tmp_path):
    label(seed)
    seed.faults(api_errors={"500": 0.2, "429": 0.1})  # 429 with Retry-After: 1
    start = seed.audit_mark()
    result = ok(play(seed, tmp_path, [verify("flaky", timeout=120)])["flaky"])
    seed.faults(api_errors={})
    assert result["api_retries"] > 0
    entries = seed.audit(start)
    assert [e for e in entries if e["code"] in (429, 500)], "the fault injected no errors"
    assert workloads(result["restarted"]) == DEMO_WORKLOADS
    patched = patches_by_name(entries, "deployments") + patches_by_name(entries, "statefulsets") + \
        patches_by_name(entries, "daemonsets")
    assert patched == {"productpage": 1, "reviews": 1, "ratings": 1, "mysql": 1, "log-agent": 1}
    controlled = [p for p in pods(seed) if owner_kind(p)]
    assert sorted(set(meshed(p) for p in controlled)) == [("2/2", REV)]


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob watch_drop_after")
def test_watch_drops_are_resumed(seed, tmp_path):
    label(seed)
    seed.faults(watch_drop_after=1)
    start = seed.audit_mark()
    result = ok(play(seed, tmp_path, [verify("drops")])["drops"])
    assert workloads(result["restarted"]) == DEMO_WORKLOADS and result["complete"] is True
    watches = [e for e in seed.audit(start) if e["verb"] == "watch" and e["resource"] == "pods"]
    assert len(watches) >= 3  # the pod watch was cut every second and resumed
    controlled = [p for p in pods(seed) if owner_kind(p)]
    assert sorted(set(meshed(p) for p in controlled)) == [("2/2", REV)]


# -- refusals ------------------------------------------------------------------------------------------------------

def test_bad_inputs_fail_clearly_without_writes(seed, tmp_path):
    label(seed)  # a valid call would restart five workloads here
    start = seed.audit_mark()
    run = play(seed, tmp_path, [
        verify("timeout", timeout=0),
        verify("concurrency", max_concurrent=0),
        verify("jmespath", skip_workloads="metadata.labels.["),
        verify("revision", revision="asm-999-9"),
        verify("namespace", namespaces=["demo", "nope"]),
    ])
    assert failed(run["timeout"])["msg"] == "timeout must be between 1 and 86400 seconds, got 0."
    assert failed(run["concurrency"])["msg"] == "max_concurrent must be between 1 and 10000, got 0."
    msg = failed(run["jmespath"])["msg"]
    assert msg.startswith("skip_workloads 'metadata.labels.[' is not a valid JMESPath expression: ")
    msg = failed(run["revision"])["msg"]
    assert msg.startswith("Revision 'asm-999-9' is not known to the cluster. Known revisions: ") and REV in msg
    assert failed(run["namespace"])["msg"].startswith("Namespaces that do not exist: nope.")
    assert seed.writes(start) == []


# -- refusals by admission (review finding 4) ----------------------------------------------------------------------

VAP_REVIEWS = {"engine": "vap", "verbs": ["patch"], "resource": "deployments", "namespace": "demo",
               "label_selector": "app=reviews", "policy": "no-restarts.example.com", "binding": "demo-binding",
               "message": "failed expression: !has(object.spec.template.metadata.annotations)"}
KYVERNO_EVICTIONS = {"engine": "webhook", "webhook": "policy.kyverno.example", "verbs": ["create"],
                     "resource": "pods/eviction", "namespace": "demo", "code": 400, "message": "evictions are frozen"}


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob admission_deny (the real cluster's "
                                 "ValidatingAdmissionPolicy is test_real_faults.py)")
def test_a_refused_restart_fails_that_workload_only_and_the_report_is_kept(seed, tmp_path):
    """A ValidatingAdmissionPolicy refuses the restart patch of reviews: the other four workloads are restarted
    and verified, the failure names the refusal with the server's message, and changed is true."""
    label(seed)
    seed.faults(admission_deny=[VAP_REVIEWS])
    run = play(seed, tmp_path, [mark("m0"), verify("refused"), mark("m1")])
    result = failed(run["refused"])
    assert result["changed"] is True
    states = dict((w["name"], (w["state"], w["message"])) for w in result["restarted"])
    assert states["reviews"][0] == "failed"
    assert states["reviews"][1].startswith("refused: ") and "(422)" in states["reviews"][1]
    assert "no-restarts.example.com" in states["reviews"][1] and "no-restarts.example.com" in result["msg"]
    assert all(states[n] == ("done", "rolled out") for n in ("productpage", "ratings", "mysql", "log-agent")), states
    # The others are restarted and verified 2/2; only reviews' pods are reported.
    assert set(p["workload"] for p in result["failed_pods"]) == {"Deployment/reviews"}
    assert [(w["name"], w["state"]) for w in result["failed_workloads"]] == [("reviews", "failed")]
    patched = sorted(path.rsplit("/", 1)[-1] for method, path, code in writes(between(seed, run, "m0", "m1"))
                     if method == "PATCH" and code == 200)
    assert patched == ["log-agent", "mysql", "productpage", "ratings"]


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob admission_deny (the real cluster's "
                                 "ValidatingAdmissionPolicy is test_real_faults.py)")
def test_check_mode_shows_a_refusal_by_a_server_side_dry_run_and_writes_nothing(seed, tmp_path):
    label(seed)
    seed.faults(admission_deny=[VAP_REVIEWS])
    run = play(seed, tmp_path, [mark("m0"), verify("plan", check_mode=True), mark("m1")])
    result = failed(run["plan"])
    assert result["msg"].startswith("Check mode: the API server would refuse restarts")
    assert "no-restarts.example.com" in result["msg"]
    assert writes(between(seed, run, "m0", "m1")) == []  # nothing stored ...
    dry = [e for e in between(seed, run, "m0", "m1") if e["verb"] in WRITE_VERBS]
    assert len(dry) == 5 and all(e["dry_run"] for e in dry)  # ... but every restart was asked for


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob admission_deny on evictions")
def test_refused_evictions_fail_the_workload_without_deleting_anything(seed, tmp_path):
    label(seed)
    seed.faults(admission_deny=[KYVERNO_EVICTIONS])
    uids = set(p["metadata"]["uid"] for p in pods(seed))
    run = play(seed, tmp_path, [verify("evict", restart="delete_pods", timeout=30)])
    result = failed(run["evict"])
    assert result["changed"] is False
    assert all(w["state"] == "failed" and "evictions are frozen" in w["message"] for w in result["restarted"])
    assert set(p["metadata"]["uid"] for p in pods(seed)) == uids

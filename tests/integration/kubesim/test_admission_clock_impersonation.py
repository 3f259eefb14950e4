"""kubesim's policy-engine refusals, dry runs, server clock and impersonation, seen by real clients.

Sources: apiserver pkg/admission/plugin/webhook/errors/statuserror.go (webhook denials),
pkg/admission/plugin/policy/validating/dispatcher.go (ValidatingAdmissionPolicy denials),
pkg/endpoints/filters/impersonation/impersonation.go (impersonation), API Concepts "Dry-run".
"""

import email.utils
import http.client
import json
import ssl
import time
import urllib.error
from pathlib import Path

import pytest
import yaml
from simutil import MERGE, api_error, error_body, kube, wait_for

GATEKEEPER_NS = {"engine": "gatekeeper", "verbs": ["update"], "resource": "namespaces", "name": "legacy",
                 "policy": "ns-must-have-owner", "message": 'you must provide labels: {"owner"}'}
VAP_DEPLOY = {"engine": "vap", "verbs": ["patch"], "resource": "deployments", "namespace": "demo",
              "label_selector": "app=reviews", "policy": "no-restarts.example.com", "binding": "demo-binding",
              "message": "failed expression: !has(object.spec.template.metadata.annotations)"}


def raw(sim, method, path, headers=(), body=None, token=None):
    """One HTTP request with exactly the given header lines (repeats kept): (status, headers, JSON body)."""
    host, port = sim.url.removeprefix("https://").split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=str(sim.ca_file)))
    try:
        conn.putrequest(method, path)
        conn.putheader("Authorization", f"Bearer {token or sim.token}")
        for name, value in headers:
            conn.putheader(name, value)
        data = json.dumps(body).encode() if body is not None else b""
        if body is not None:
            conn.putheader("Content-Type", MERGE)
        conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        resp = conn.getresponse()
        return resp.status, resp.headers, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def scenario(tmp_path: Path, **extra) -> str:
    spec = yaml.safe_load((Path(__file__).parents[2] / "kubesim/scenarios/seed.yaml").read_text())
    spec.update(extra)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


# -- admission refusals --------------------------------------------------------------------------


def test_gatekeeper_refusal_of_a_named_namespace_also_on_dry_run(seed):
    k = kube(seed)
    seed.faults(admission_deny=[GATEKEEPER_NS])
    before = k.core.read_namespace("legacy").metadata.resource_version
    for dry_run in (None, "All"):
        exc = api_error(k.core.patch_namespace, "legacy", {"metadata": {"labels": {"x": "y"}}}, dry_run=dry_run)
        body = error_body(exc)
        assert (exc.status, body["reason"]) == (403, "Forbidden")
        assert body["message"] == ('admission webhook "validation.gatekeeper.sh" denied the request: '
                                   '[ns-must-have-owner] you must provide labels: {"owner"}')
    assert k.core.read_namespace("legacy").metadata.resource_version == before
    k.core.patch_namespace("demo", {"metadata": {"labels": {"x": "y"}}})  # other objects are not refused
    refused = [e for e in seed.audit() if e["name"] == "legacy" and e["verb"] == "patch"]
    assert [(e["code"], e["dry_run"]) for e in refused] == [(403, False), (403, True)]


def test_vap_refusal_by_label_selector_is_422_with_the_policy_and_binding(seed):
    k = kube(seed)
    seed.faults(admission_deny=[VAP_DEPLOY])
    restart = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}}}
    exc = api_error(k.apps.patch_namespaced_deployment, "reviews", "demo", restart)
    body = error_body(exc)
    denied = ("ValidatingAdmissionPolicy 'no-restarts.example.com' with binding 'demo-binding' denied request: "
              "failed expression: !has(object.spec.template.metadata.annotations)")
    assert (exc.status, body["reason"]) == (422, "Invalid")
    assert body["message"] == f'deployments.apps "reviews" is forbidden: {denied}'
    assert body["details"]["causes"] == [{"message": denied}]
    k.apps.patch_namespaced_deployment("ratings", "demo", restart)  # app=ratings: not selected
    out = seed.kubectl("rollout", "restart", "deployment/reviews", "-n", "demo", check=False)
    assert out.returncode != 0 and "no-restarts.example.com" in out.stderr


VAP_INJECTED = {"engine": "vap", "verbs": ["create"], "resource": "pods", "namespace": "demo",
                "annotations": {"istio.io/rev": "asm-173-3"}, "policy": "no-asm-173-3.example.com",
                "message": "failed expression: object.metadata.annotations['istio.io/rev'] != 'asm-173-3'"}


def test_a_controllers_pod_create_is_refused_after_injection_and_shows_as_failed_create(seed):
    """Validation runs after mutation and on the controllers' writes too: a policy on the injected annotation
    refuses the ReplicaSet controller's pod creates (FailedCreate on the ReplicaSet, ReplicaFailure on the
    Deployment), not the pods the injector leaves alone."""
    k = kube(seed)
    seed.kubectl("label", "namespace", "demo", "istio.io/rev=asm-173-3")
    seed.faults(admission_deny=[VAP_INJECTED])
    seed.kubectl("rollout", "restart", "deployment/ratings", "-n", "demo")

    def failed_create():
        events = k.core.list_namespaced_event("demo", field_selector="reason=FailedCreate").items
        return [e.message for e in events if e.involved_object.kind == "ReplicaSet"]
    message = wait_for(failed_create, 10, what="the ReplicaSet's FailedCreate event")[0]
    assert message.startswith('Error creating: pods "ratings-') and "no-asm-173-3.example.com" in message, message
    assert "denied request: failed expression" in message

    def replica_failure():
        return [c for c in k.apps.read_namespaced_deployment("ratings", "demo").status.conditions or []
                if c.type == "ReplicaFailure" and c.status == "True"]
    wait_for(replica_failure, 10, what="the Deployment's ReplicaFailure condition")
    # the namespace legacy's pods get no sidecar, so no annotation: the policy does not refuse them
    seed.faults(admission_deny=[dict(VAP_INJECTED, namespace="legacy")])
    seed.kubectl("rollout", "restart", "deployment/legacy-app", "-n", "legacy")
    seed.kubectl("rollout", "status", "deployment/legacy-app", "-n", "legacy", "--timeout=20s")


def test_a_refused_replicaset_retries_on_its_work_queues_backoff(seed):
    """Refused creates are retried 5 ms * 2^n apart (about 10.2 s and 20.5 s after the first): with the policy lifted
    at 11 s the pods come only with the retry near 20.5 s, as on a real cluster, not with one every few seconds."""
    k = kube(seed)
    seed.kubectl("label", "namespace", "demo", "istio.io/rev=asm-173-3")
    seed.faults(admission_deny=[VAP_INJECTED])
    restarted = time.monotonic()
    seed.kubectl("rollout", "restart", "deployment/ratings", "-n", "demo")

    def status():
        d = k.apps.read_namespaced_deployment("ratings", "demo")
        failing = any(c.type == "ReplicaFailure" and c.status == "True" for c in d.status.conditions or [])
        return failing, d.status.updated_replicas or 0
    wait_for(lambda: status()[0], 5, what="the Deployment's ReplicaFailure condition")
    time.sleep(max(0.0, restarted + 11 - time.monotonic()))
    seed.faults(admission_deny=[])
    # A retry every 5 s (or any retry sooner than the backoff's) would bring the new pod in this window.
    while time.monotonic() < restarted + 18.5:
        assert status() == (True, 0), "retried %.1f s after the restart, before its backoff was over" % (
            time.monotonic() - restarted)
        time.sleep(0.5)
    wait_for(lambda: status() == (False, 1), 20, what="the retry after the backoff")


def test_eviction_refusal_and_code_override(seed):
    k = kube(seed)
    pod = next(p for p in k.core.list_namespaced_pod("demo").items if p.metadata.name.startswith("mysql-0"))
    seed.faults(admission_deny=[{"engine": "webhook", "webhook": "policy.kyverno.example", "verbs": ["create"],
                                 "resource": "pods/eviction", "namespace": "demo", "code": 400,
                                 "message": "evictions are frozen"}])
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod.metadata.name, "namespace": "demo"}}
    for dry_run in ("", "?dryRun=All"):
        status, _, answer = raw(seed, "POST", f"/api/v1/namespaces/demo/pods/{pod.metadata.name}/eviction{dry_run}",
                                body=body)
        assert (status, answer["reason"]) == (400, "BadRequest")
        assert answer["message"] == ('admission webhook "policy.kyverno.example" denied the request: '
                                     'evictions are frozen')
    assert not k.core.read_namespaced_pod(pod.metadata.name, "demo").metadata.deletion_timestamp


def test_bad_rules_are_refused_at_the_control_endpoint_and_in_a_scenario(seed, tmp_path):
    for rule in ({"verbs": ["explode"]}, {"engine": "opa"}, {"label_selector": "a in (b"}, {"colour": "red"}):
        with pytest.raises(urllib.error.HTTPError) as info:
            seed.faults(admission_deny=[rule])
        assert info.value.code == 400
    assert seed.faults()["admission_deny"] == []
    from kubesim import scenarios
    with pytest.raises(SystemExit, match="admission_deny"):
        scenarios.build_cluster({"faults": {"admission_deny": [{"engine": "opa"}]}})


def test_scenario_faults_set_admission_and_clock_offset(start_sim, tmp_path):
    sim = start_sim(scenario(tmp_path, faults={"admission_deny": [GATEKEEPER_NS], "clock_offset": 7200}))
    k = kube(sim)
    assert api_error(k.core.patch_namespace, "legacy", {"metadata": {"labels": {"x": "y"}}}).status == 403
    _, headers, _ = raw(sim, "GET", "/version")
    assert abs(email.utils.parsedate_to_datetime(headers["Date"]).timestamp() - (time.time() + 7200)) < 300


# -- dry runs ------------------------------------------------------------------------------------


def test_dry_run_writes_nothing_and_answers_like_the_real_call(seed):
    k = kube(seed)
    ns_before = k.core.read_namespace("demo")
    pod = next(p for p in k.core.list_namespaced_pod("demo").items if p.metadata.name.startswith("reviews"))
    mark = seed.audit_mark()
    rv_before = seed.state()["resource_version"]

    patched = k.core.patch_namespace("demo", {"metadata": {"labels": {"istio.io/rev": "x"}}}, dry_run="All")
    assert patched.metadata.labels["istio.io/rev"] == "x"
    assert patched.metadata.resource_version == ns_before.metadata.resource_version
    created = k.core.create_namespaced_config_map("demo", {"metadata": {"name": "dry"}, "data": {"a": "b"}},
                                                  dry_run="All")
    assert created.metadata.uid and created.metadata.creation_timestamp and not created.metadata.resource_version
    status, _, answer = raw(seed, "DELETE", f"/api/v1/namespaces/demo/pods/{pod.metadata.name}?dryRun=All")
    assert status == 200 and answer["kind"] == "Pod" and answer["metadata"]["deletionTimestamp"]
    assert answer["metadata"]["deletionGracePeriodSeconds"] == 30
    status, _, answer = raw(seed, "DELETE", "/apis/apps/v1/namespaces/demo/deployments/reviews?dryRun=All")
    assert status == 200 and (answer["kind"], answer["status"]) == ("Status", "Success")
    status, _, answer = raw(seed, "POST", f"/api/v1/namespaces/demo/pods/{pod.metadata.name}/eviction?dryRun=All",
                            body={"apiVersion": "policy/v1", "kind": "Eviction",
                                  "metadata": {"name": pod.metadata.name, "namespace": "demo"}})
    assert status == 201 and answer["status"] == "Success"
    scaled = raw(seed, "PATCH", "/apis/apps/v1/namespaces/demo/deployments/reviews/scale?dryRun=All",
                 body={"spec": {"replicas": 9}})
    assert scaled[0] == 200 and scaled[2]["spec"]["replicas"] == 9

    assert seed.state()["resource_version"] == rv_before  # no write reached the store
    assert "istio.io/rev" not in (k.core.read_namespace("demo").metadata.labels or {})
    assert not k.core.read_namespaced_pod(pod.metadata.name, "demo").metadata.deletion_timestamp
    assert k.apps.read_namespaced_deployment("reviews", "demo").spec.replicas == 3
    writes = seed.writes(mark)
    assert len(writes) == 6 and all(e["dry_run"] for e in writes)


# -- server clock --------------------------------------------------------------------------------


def test_clock_offset_shifts_date_header_timestamps_and_events(seed):
    k = kube(seed)
    status, headers, _ = raw(seed, "GET", "/version")
    assert status == 200 and abs(email.utils.parsedate_to_datetime(headers["Date"]).timestamp() - time.time()) < 60
    assert raw(seed, "GET", "/api/v1/namespaces", token="wrong")[1]["Date"]  # errors carry it too
    seed.faults(clock_offset=-3600, crash_loop=["late"])
    host = time.time()
    _, headers, _ = raw(seed, "GET", "/version")
    server = email.utils.parsedate_to_datetime(headers["Date"]).timestamp()
    assert abs(server - (host - 3600)) < 60
    k.core.create_namespaced_pod("demo", {"metadata": {"name": "late"}, "spec": {"containers": [
        {"name": "late", "image": "docker.io/library/busybox:1.37"}]}})
    created = k.core.read_namespaced_pod("late", "demo").metadata.creation_timestamp.timestamp()
    assert abs(created - server) < 60
    event = wait_for(lambda: [e for e in k.core.list_namespaced_event("demo").items
                              if e.involved_object.name == "late"], 30, what="a BackOff event")[0]
    assert abs(event.last_timestamp.timestamp() - server) < 120
    seed.faults(clock_offset=0)
    _, headers, _ = raw(seed, "GET", "/version")
    assert abs(email.utils.parsedate_to_datetime(headers["Date"]).timestamp() - time.time()) < 60


# -- impersonation -------------------------------------------------------------------------------

IMPERSONATION = {
    "users": [
        {"name": "deployer", "token": "tok-deployer", "rules": [
            {"verbs": ["impersonate"], "resources": ["users"], "resourceNames": ["alice"]},
            {"verbs": ["impersonate"], "resources": ["groups"], "resourceNames": ["devs", "ops"]}]},
        {"name": "alice"}],
    "groups": [
        {"name": "devs", "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["namespaces"]}]},
        {"name": "ops", "rules": [{"verbs": ["patch"], "apiGroups": [""], "resources": ["namespaces"]}]}],
}


def test_impersonation_each_group_header_is_one_group(start_sim, tmp_path):
    sim = start_sim(scenario(tmp_path, **IMPERSONATION))
    as_alice = [("Impersonate-User", "alice"), ("Impersonate-Group", "devs"), ("Impersonate-Group", "ops")]
    label = {"metadata": {"labels": {"x": "y"}}}
    assert raw(sim, "GET", "/api/v1/namespaces", token="tok-deployer")[0] == 403  # not on its own
    assert raw(sim, "GET", "/api/v1/namespaces", as_alice, token="tok-deployer")[0] == 200
    assert raw(sim, "PATCH", "/api/v1/namespaces/demo", as_alice, label, token="tok-deployer")[0] == 200
    entry = sim.audit()[-1]
    assert entry["user"] == "deployer"
    assert entry["impersonated_user"] == {"username": "alice", "groups": ["devs", "ops", "system:authenticated"]}

    # One header "devs,ops" is the single group "devs,ops", which deployer may not impersonate.
    status, _, body = raw(sim, "GET", "/api/v1/namespaces", [("Impersonate-User", "alice"),
                                                              ("Impersonate-Group", "devs,ops")], token="tok-deployer")
    assert status == 403 and body["message"] == ('groups "devs,ops" is forbidden: User "deployer" cannot impersonate '
                                                 'resource "groups" in API group "" at the cluster scope')
    # devs alone reads but may not patch
    only_devs = [("Impersonate-User", "alice"), ("Impersonate-Group", "devs")]
    assert raw(sim, "GET", "/api/v1/namespaces", only_devs, token="tok-deployer")[0] == 200
    status, _, body = raw(sim, "PATCH", "/api/v1/namespaces/demo", only_devs, label, token="tok-deployer")
    assert status == 403 and 'User "alice" cannot patch resource "namespaces"' in body["message"]
    status, _, body = raw(sim, "GET", "/api/v1/namespaces", [("Impersonate-User", "bob")], token="tok-deployer")
    assert status == 403 and body["message"].startswith('users "bob" is forbidden: User "deployer" cannot impersonate')
    status, _, body = raw(sim, "GET", "/api/v1/namespaces", [("Impersonate-Group", "devs")], token="tok-deployer")
    assert status == 400 and "without impersonating a user" in body["message"]
    # the admin may impersonate anyone; a service account gets its groups
    assert raw(sim, "GET", "/api/v1/namespaces", [("Impersonate-User", "system:serviceaccount:demo:bot")])[0] == 403
    assert sim.audit()[-1]["impersonated_user"]["groups"] == [
        "system:serviceaccounts", "system:serviceaccounts:demo", "system:authenticated"]

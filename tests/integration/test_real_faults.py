"""Faults the real control plane produces for real (kubesim's versions use its fault knobs): RBAC with
docs/rbac.yaml's roles for client-certificate users, a ValidatingAdmissionPolicy that refuses a restart,
a PodDisruptionBudget that blocks every eviction, the injector down (its pilot-discovery process
stopped: `failurePolicy: Fail` makes the controllers' pod creates fail, FailedCreate), and slow pods
(kwok's per-pod ready delay).  Writes are counted from kube-apiserver's audit log.

Each test leaves the shared seed cluster as it found it: the namespaces are reset by the fixture;
cluster-scoped objects (bindings, policies) and the injector are put back here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from ansible_helpers import ROOT, run_playbook
from test_role import ENABLE, playbook
from test_rollout_verify import REV, failed, meshed, ok, owner_kind, pods, verify, workloads

pytestmark = pytest.mark.real_only(reason="kubesim's versions of these faults are its fault knobs")


def play(sim, tmp_path, tasks, timeout=240):
    run = run_playbook(tmp_path, tasks, timeout=timeout, extra_vars={"kubeconfig": str(sim.kubeconfig)})
    assert set(run.results) == set(t["register"] for t in tasks), run.explain()
    return run


def label(sim, namespace):
    sim.kubectl("label", "namespace", namespace, "istio-injection-", "istio.io/rev=" + REV, "--overwrite")


def wait_for(predicate, what, timeout=60.0, interval=0.5):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(interval)


def user_kubeconfig(sim, tmp_path, name, clusterrole):
    import users  # tests/realcluster/users.py (on sys.path once realsim is imported)

    path = tmp_path / ("%s.kubeconfig" % name)
    users.mint_from_state(sim.process.state_file, name, [], path)
    sim.kubectl("apply", "-f", str(ROOT / "docs" / "rbac.yaml"))
    sim.kubectl("create", "clusterrolebinding", "test-" + name, "--clusterrole=" + clusterrole, "--user=" + name)
    return path


# -- RBAC ----------------------------------------------------------------------------------------------------------

def test_docs_rbac_operator_role_may_make_every_write_of_the_job_and_the_reader_role_may_not(seed, tmp_path):
    """Check mode sends the job's writes as server-side dry runs, which the real RBAC authorizes like real
    ones: under docs/rbac.yaml's operator role every one (labels and restarts of demo and legacy) is
    allowed, under its reader role the first is refused and the run fails naming it.  (A real run under
    the operator role costs a minute and a half here; the writes it would make are exactly these.)"""
    operator = user_kubeconfig(seed, tmp_path, "asm-operator", "servicemesh-asm-operator")
    reader = user_kubeconfig(seed, tmp_path, "asm-reader", "servicemesh-asm-reader")
    try:
        mark = seed.audit_mark()
        check = playbook(ENABLE, "--check", "-e", "asm_kubeconfig=%s" % reader, "-e", "asm_namespaces=legacy")
        assert check.returncode != 0
        out = " ".join(check.stdout.split()).replace('\\"', '"')
        assert "Forbidden (403): the credentials in use may not patch namespace" in out, out[-3000:]
        assert seed.stored_writes(mark) == []
        refused = [e for e in seed.writes(mark) if e["user"] == "asm-reader"]
        assert refused and all(e["code"] == 403 and e["dry_run"] for e in refused), refused

        mark = seed.audit_mark()
        run = playbook(ENABLE, "--check", "-e", "asm_kubeconfig=%s" % operator, "-e", "asm_namespaces=demo,legacy")
        assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
        assert seed.stored_writes(mark) == []
        ours = [e for e in seed.writes(mark) if e["user"] == "asm-operator"]
        assert ours and all(e["code"] < 400 and e["dry_run"] for e in ours), [e for e in ours if e["code"] >= 400]
        assert {(e["resource"], e["name"]) for e in ours} == {
            ("namespaces", "demo"), ("namespaces", "legacy"), ("deployments", "legacy-app"),
            ("deployments", "productpage"), ("deployments", "reviews"), ("deployments", "ratings"),
            ("statefulsets", "mysql"), ("daemonsets", "log-agent")}, ours
    finally:
        seed.kubectl("delete", "clusterrolebinding", "test-asm-operator", "test-asm-reader", "--ignore-not-found")


# -- admission -----------------------------------------------------------------------------------------------------

POLICY = "no-restarts.example.com"
VAP = [
    {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy", "metadata": {"name": POLICY},
     "spec": {"failurePolicy": "Fail",
              "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                                      "operations": ["UPDATE"], "resources": ["deployments"]}]},
              "validations": [{"expression": "object.spec.template == oldObject.spec.template",
                               "message": "legacy-app may not be restarted this week"}]}},
    {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
     "metadata": {"name": "legacy-binding"},
     "spec": {"policyName": POLICY, "validationActions": ["Deny"],
              "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "legacy"}},
                                 "objectSelector": {"matchLabels": {"app": "legacy-app"}}}}},
]


def test_a_validating_admission_policy_refuses_the_restart_and_check_mode_shows_it(seed, tmp_path):
    """The real API server's refusal (422, the policy and binding named) is reported as that workload's
    failure, in check mode (server-side dry run) and in a real run, and nothing is stored.  (That the
    other workloads still roll is kubesim's test_a_refused_restart_fails_that_workload_only.)"""
    label(seed, "legacy")
    seed.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": VAP}))
    try:
        # The policy is in force once the API server refuses a dry-run template change.
        probe = ["patch", "deployment", "legacy-app", "-n", "legacy", "--dry-run=server", "-p",
                 '{"spec":{"template":{"metadata":{"annotations":{"probe":"%s"}}}}}']
        wait_for(lambda: seed.kubectl(*probe[:-1], probe[-1] % time.time(), check=False).returncode != 0,
                 "the ValidatingAdmissionPolicy in force")

        mark = seed.audit_mark()
        plan = failed(play(seed, tmp_path, [verify("plan", namespaces=["legacy"], check_mode=True)])["plan"])
        assert plan["msg"].startswith("Check mode: the API server would refuse restarts"), plan["msg"]
        assert POLICY in plan["msg"] and "legacy-app may not be restarted this week" in plan["msg"], plan["msg"]
        assert seed.stored_writes(mark) == []
        dry = [e for e in seed.writes(mark) if e["verb"] == "patch"]
        assert len(dry) == 1 and dry[0]["dry_run"] and dry[0]["code"] == 422, dry

        mark = seed.audit_mark()
        result = failed(play(seed, tmp_path, [verify("refused", namespaces=["legacy"], timeout=60)])["refused"])
        states = dict((w["name"], (w["state"], w["message"])) for w in result["restarted"])
        assert states["legacy-app"][0] == "failed" and states["legacy-app"][1].startswith("refused: "), states
        assert "(422)" in states["legacy-app"][1] and POLICY in states["legacy-app"][1] and POLICY in result["msg"]
        assert [(w["name"], w["state"]) for w in result["failed_workloads"]] == [("legacy-app", "failed")]
        refused = [e for e in seed.writes(mark) if e["verb"] == "patch"]
        assert refused and all(e["code"] == 422 and e["name"] == "legacy-app" for e in refused), refused
        assert seed.stored_writes(mark) == refused  # refused, so nothing stored
    finally:
        seed.kubectl("delete", "validatingadmissionpolicybinding", "legacy-binding", "--ignore-not-found")
        seed.kubectl("delete", "validatingadmissionpolicy", POLICY, "--ignore-not-found")


# -- a PodDisruptionBudget that allows no eviction -------------------------------------------------------------------

def test_a_pdb_that_allows_no_disruption_blocks_every_eviction_and_deletes_nothing(seed, tmp_path):
    label(seed, "legacy")
    seed.kubectl("create", "poddisruptionbudget", "legacy-app", "-n", "legacy", "--selector=app=legacy-app",
                 "--min-available=2")
    wait_for(lambda: seed.get_json("pdb", "-n", "legacy", "legacy-app").get("status", {}).get("currentHealthy") == 2,
             "the PDB's status")
    before = sorted(p["metadata"]["uid"] for p in pods(seed, "legacy"))
    mark = seed.audit_mark()
    result = failed(play(seed, tmp_path, [verify("evict", namespaces=["legacy"], restart="delete_pods",
                                                 timeout=15)])["evict"])
    assert "(timeout)" in result["msg"], result["msg"]
    blocked = [w for w in result["failed_workloads"] if w["name"] == "legacy-app"]
    assert blocked and blocked[0]["state"] == "timeout", result["failed_workloads"]
    assert "blocked" in blocked[0]["message"] and "disruption budget" in blocked[0]["message"], blocked
    evictions = [e for e in seed.writes(mark) if e["subresource"] == "eviction"]
    assert evictions and all(e["code"] == 429 for e in evictions if not e["dry_run"]), evictions
    assert [e for e in seed.writes(mark) if e["verb"] == "delete"] == []
    assert sorted(p["metadata"]["uid"] for p in pods(seed, "legacy")) == before


# -- the injector down ---------------------------------------------------------------------------------------------

def _proc_info(pid):
    cmdline = Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0")[:-1]
    raw = Path("/proc/%d/environ" % pid).read_bytes().split(b"\0")
    environ = dict(item.split(b"=", 1) for item in raw if b"=" in item)
    return ([c.decode() for c in cmdline], {k.decode(): v.decode() for k, v in environ.items()},
            os.readlink("/proc/%d/cwd" % pid))


def _istiod_ready(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/ready" % port, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_injector_down_fails_fast_naming_the_workloads_and_the_old_pods_keep_running(seed, tmp_path):
    info = seed.state_info["istiod"][REV]
    pid = info["pid"]
    cmd, env, cwd = _proc_info(pid)
    label(seed, "legacy")
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not _istiod_ready(info["ports"]["http"]), "pilot-discovery stopped", timeout=30)
    restarted = None
    try:
        result = failed(play(seed, tmp_path, [verify("down", namespaces=["legacy"], timeout=90)])["down"])
        msg = result["msg"]
        assert result["elapsed_seconds"] < 30, msg  # recognised (ReplicaFailure, FailedCreate), not waited out
        assert "failed calling webhook" in msg and "cannot be created" in msg, msg
        assert workloads(result["failed_workloads"]) == {("Deployment", "legacy-app")}
        for w in result["failed_workloads"]:
            assert w["state"] == "failed" and w["message"].startswith("new pods cannot be created: ")
            assert 'failed calling webhook "rev.namespace.sidecar-injector.istio.io"' in w["message"]
            assert "connection refused" in w["message"], w["message"]
        # fail closed: the old pods keep running, nothing came up without a sidecar
        assert set(meshed(p) for p in pods(seed, "legacy") if owner_kind(p) == "ReplicaSet") == {("1/1", None)}
    finally:
        with open(Path(info["log"]).with_suffix(".restarted.log"), "w") as log:
            restarted = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_for(lambda: _istiod_ready(info["ports"]["http"]), "pilot-discovery back", timeout=60)
        seed.state_info["istiod"][REV]["pid"] = restarted.pid


# -- slow pods -----------------------------------------------------------------------------------------------------

def test_slow_pods_by_kwok_delay_fail_verification_with_not_ready_reasons(seed, tmp_path):
    seed.kubectl("create", "namespace", "slow")
    label(seed, "slow")
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "slowapp", "namespace": "slow"},
                  "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "slowapp"}},
                           "template": {"metadata": {"labels": {"app": "slowapp"}, "annotations": {
                               "pod-ready.stage.kwok.x-k8s.io/delay": "60s",
                               "pod-ready.stage.kwok.x-k8s.io/jitter-delay": "60s"}},
                               "spec": {"containers": [{"name": "app", "image": "docker.io/library/nginx:1.27"}]}}}}
    seed.kubectl("apply", "-f", "-", input=json.dumps(deployment))
    wait_for(lambda: len([p for p in pods(seed, "slow") if p["spec"].get("nodeName")]) == 2, "slow pods scheduled")
    started = time.monotonic()
    result = failed(play(seed, tmp_path, [verify("slow", namespaces=["slow"], timeout=6)])["slow"])
    assert time.monotonic() - started < 40
    # Nothing to restart (injected at creation): verification alone fails, naming both pods as kwok holds
    # them -- Pending, their containers ContainerCreating until the ready Stage's delay is over.
    assert result["msg"].startswith("Sidecar verification failed after "), result["msg"]
    assert "2 pods not as expected" in result["msg"], result["msg"]
    pending = [p for p in result["failed_pods"] if p["reason"].startswith("Pending")]
    assert len(pending) == 2 and all(p["ready"] == "0/2" for p in pending), result["failed_pods"]
    assert result["complete"] is False


def test_asm_revision_info_on_the_real_cluster_without_the_managed_asm_crd(seed, tmp_path):
    """mesh.cloud.google.com is not installed: listing ControlPlaneRevisions is a 404 the module must take."""
    task = {"name": "info", "servicemesh.asm.asm_revision_info": {"kubeconfig": "{{ kubeconfig }}"}, "register": "info"}
    run = play(seed, tmp_path, [task])
    info = ok(run["info"])
    assert info["revision"] == REV

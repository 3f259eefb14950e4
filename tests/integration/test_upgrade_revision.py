# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/upgrade_revision.yml against the canary cluster: the tag flow moves the tag and restarts the
namespaces that use it batch by batch; a failed batch moves the tag back and restarts what was done on the old
revision; the relabel flow moves namespaces labelled with the old revision in batches, and a failed batch goes
back alone (earlier batches stay moved, later ones are untouched); --check stores nothing and lists per batch
what would restart.  The shared cases run on kubesim and on the real control plane; the rest need kubesim."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from ansible_helpers import BIN, ROOT, accepted_writes, ansible_env

KUBESIM_CANARY = pytest.mark.kubesim_only(reason=(
    "expects kubesim's canary scenario (tags without a tag Service, no istiod-default-validator) or its "
    "fault knobs; the real tag flow runs in tests/realcluster/tests/test_revision_tag_real.py"))

OLD, NEW = "asm-173-3", "asm-1162-2"


def upgrade(sim, *extra, timeout=600):
    return subprocess.run([str(BIN / "ansible-playbook"), str(ROOT / "playbooks" / "upgrade_revision.yml"),
                           "-e", "asm_kubeconfig=%s" % sim.kubeconfig, "-e", "asm_to_revision=%s" % NEW, *extra],
                          cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=timeout, check=False)


def revisions(sim, namespace):
    """The revisions the namespace's live pods were injected by (None: no sidecar)."""
    pods = json.loads(sim.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
    out = set()
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        status = (pod["metadata"].get("annotations") or {}).get("sidecar.istio.io/status")
        out.add(json.loads(status)["revision"] if status else None)
    return out


def tag_prod_on_old(sim, *namespaces):
    rc = subprocess.run([str(BIN / "ansible"), "localhost", "-m", "servicemesh.asm.asm_revision_tag", "-a",
                         "kubeconfig=%s tag=prod revision=%s" % (sim.kubeconfig, OLD),
                         "-e", "ansible_python_interpreter=%s" % (BIN / "python")],
                        cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=120, check=False)
    assert rc.returncode == 0, rc.stdout
    for name in namespaces:
        sim.kubectl("label", "namespace", name, "istio.io/rev=prod", "--overwrite")


@KUBESIM_CANARY
def test_tag_flow_moves_the_tag_and_restarts_batch_by_batch(start_sim):
    sim = start_sim("canary")
    tag_prod_on_old(sim, "shop", "unlabelled")
    mark = sim.audit_mark()
    check = upgrade(sim, "-e", "asm_tag=prod", "--check")
    assert check.returncode == 0, check.stdout[-3000:]
    assert "asm-173-3 -> asm-1162-2 (tag prod): 2 namespace(s) in 2 batch(es) of at most 1" in check.stdout
    # the plan as if the tag had moved: per batch, the workloads that would restart
    assert "Batch 1 (shop): 2 workload(s) would restart" in check.stdout, check.stdout[-3000:]
    assert "would restart shop/Deployment/cart by rollout: the API server accepted the restart (dry run)" \
        in check.stdout
    assert "Batch 2 (unlabelled): 1 workload(s) would restart" in check.stdout
    assert [b["status"] for b in play_report(check.stdout)["batches"]] == ["planned", "planned"]
    assert accepted_writes(sim, mark) == []

    run = upgrade(sim, "-e", "asm_tag=prod", "-e", "asm_batch_size=1")
    assert run.returncode == 0, run.stdout[-4000:]
    assert revisions(sim, "shop") == {NEW} and revisions(sim, "unlabelled") == {NEW}
    assert revisions(sim, "legacy") == {OLD}  # the default tag was not touched
    assert '"status": "upgraded"' in run.stdout and '"batch": 2' in run.stdout
    labels = json.loads(sim.kubectl("get", "namespace", "shop", "-o", "json").stdout)["metadata"]["labels"]
    assert labels["istio.io/rev"] == "prod"  # the tag flow never relabels
    mark = sim.audit_mark()
    again = upgrade(sim, "-e", "asm_tag=prod", "-e", "asm_batch_size=1")
    assert again.returncode == 0 and " changed=0 " in again.stdout, again.stdout[-3000:]
    assert accepted_writes(sim, mark) == []


@KUBESIM_CANARY
def test_a_failed_batch_moves_the_tag_back_and_restarts_on_the_old_revision(start_sim):
    sim = start_sim("canary")
    tag_prod_on_old(sim, "shop")
    sim.faults(injector_down=[NEW])  # the new revision's injector cannot be called: pods cannot be created
    run = upgrade(sim, "-e", "asm_tag=prod", "-e", "asm_timeout=20")
    assert run.returncode != 0
    assert "Batch 1 (shop) failed" in run.stdout and "Rolled back to asm-173-3: shop" in run.stdout, run.stdout[-4000:]
    mwc = json.loads(sim.kubectl("get", "mutatingwebhookconfiguration", "istio-revision-tag-prod", "-o",
                                 "json").stdout)
    assert mwc["metadata"]["labels"]["istio.io/rev"] == OLD
    assert revisions(sim, "shop") == {OLD}


def test_relabel_flow_moves_the_old_revisions_namespaces(start_sim):
    sim = start_sim("canary")
    run = upgrade(sim, "-e", "asm_from_revision=%s" % OLD, "-e", "asm_batch_size=2")
    assert run.returncode == 0, run.stdout[-4000:]
    assert revisions(sim, "shop") == {NEW}
    labels = json.loads(sim.kubectl("get", "namespace", "shop", "-o", "json").stdout)["metadata"]["labels"]
    assert labels["istio.io/rev"] == NEW
    assert revisions(sim, "legacy") == {OLD}  # istio-injection=enabled is not labelled with the revision


def test_bad_inputs_are_refused_before_anything_is_written(start_sim):
    sim = start_sim("canary")
    mark = sim.audit_mark()
    run = upgrade(sim, "-e", "asm_batch_size=0")
    assert run.returncode != 0
    assert "Give asm_tag (the tag flow) or asm_from_revision (the relabel flow), not both." in run.stdout
    assert "asm_batch_size must be a whole number of at least 1, got 0." in run.stdout
    assert sim.writes(mark) == []


# -- the relabel flow in three batches, batch 2 failing (both clusters) ---------------------------------------------

WAVES = ("wave-1", "wave-2", "wave-3")
POLICY = "no-new-proxies.example.com"
REFUSED = "failed expression: object.metadata.annotations['istio.io/rev'] != '%s'" % NEW


def deploy_on_old(sim, namespace):
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {"istio.io/rev": OLD}}}
    web = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                                     {"name": "web", "image": "docker.io/library/nginx:1.27"}]}}}}
    from kubernetes import client
    api = sim.api_client()
    client.CoreV1Api(api).create_namespace(ns)
    client.AppsV1Api(api).create_namespaced_deployment(namespace, web)


def live_pods(sim, namespace):
    return [p for p in json.loads(sim.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
            if not p["metadata"].get("deletionTimestamp")]


def settled(sim, namespace, replicas=2):
    pods = live_pods(sim, namespace)
    statuses = [p["status"].get("containerStatuses") or [] for p in pods]
    return len(pods) == replicas and all(len(s) == 2 and all(c["ready"] for c in s) for s in statuses)


def wait_until(predicate, what, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.5)


def refuse_new_proxies(sim, namespace):
    """A policy refusing pods with the new revision's sidecar in one namespace (validation sees the pod after
    injection), so that batch cannot roll out while the others can. On the real cluster a
    ValidatingAdmissionPolicy; on kubesim its admission_deny knob. Returns the clean-up."""
    if sim.kind == "kubesim":
        sim.faults(admission_deny=[{"engine": "vap", "verbs": ["create"], "resource": "pods", "namespace": namespace,
                                    "annotations": {"istio.io/rev": NEW}, "policy": POLICY, "message": REFUSED}])
        return lambda: sim.faults(admission_deny=[])
    policy = [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": POLICY},
         "spec": {"failurePolicy": "Fail",
                  "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                          "operations": ["CREATE"], "resources": ["pods"]}]},
                  "validations": [{"expression": "!has(object.metadata.annotations) || "
                                                 "!('istio.io/rev' in object.metadata.annotations) || "
                                                 "object.metadata.annotations['istio.io/rev'] != '%s'" % NEW,
                                   "message": REFUSED}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {"name": POLICY},
         "spec": {"policyName": POLICY, "validationActions": ["Deny"],
                  "matchResources": {"namespaceSelector": {"matchLabels": {
                      "kubernetes.io/metadata.name": namespace}}}}},
    ]
    sim.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": policy}))
    # In force once a dry-run create of a pod carrying the annotation (and no injection to rewrite it) is refused.
    probe = {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "probe", "namespace": namespace, "annotations": {"istio.io/rev": NEW},
                          "labels": {"sidecar.istio.io/inject": "false"}},
             "spec": {"containers": [{"name": "c", "image": "docker.io/library/busybox:1.37"}]}}
    wait_until(lambda: sim.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(probe),
                                   check=False).returncode != 0, "the ValidatingAdmissionPolicy in force", 60)
    return lambda: sim.kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", POLICY)


def play_report(stdout):
    """The msg of upgrade_revision.yml's Report task."""
    start = stdout.index("{", stdout.index("TASK [Report]"))
    return json.JSONDecoder().raw_decode(stdout[start:])[0]["msg"]


def namespace_rev(sim, namespace):
    return json.loads(sim.kubectl("get", "namespace", namespace, "-o", "json").stdout)["metadata"]["labels"].get(
        "istio.io/rev")


def test_relabel_flow_in_three_batches_rolls_back_the_failed_batch_alone(start_sim):
    """Batch 2's new pods are refused: batch 1 stays on the new revision and verified, batch 2 gets its label back
    and is restarted and verified on the old revision, batch 3 is not touched; the run fails naming batch 2 and
    the refusal, and the report says upgraded / rolled_back / untouched."""
    sim = start_sim("canary")
    for namespace in WAVES:
        deploy_on_old(sim, namespace)
    for namespace in WAVES:
        wait_until(lambda namespace=namespace: settled(sim, namespace), "%s 2/2 on %s" % (namespace, OLD))
    untouched = sorted(p["metadata"]["uid"] for p in live_pods(sim, "wave-3"))
    clean_up = refuse_new_proxies(sim, "wave-2")
    try:
        run = upgrade(sim, "-e", "asm_from_revision=%s" % OLD, "-e", "asm_upgrade_namespaces=%s" % ",".join(WAVES),
                      "-e", "asm_timeout=40")
    finally:
        clean_up()
    out = " ".join(run.stdout.split()).replace('\\"', '"')
    assert run.returncode != 0, out[-4000:]
    assert "%s -> %s: 3 namespace(s) in 3 batch(es) of at most 1" % (OLD, NEW) in out
    assert "Batch 2 (wave-2) failed: " in out and POLICY in out, out[-4000:]
    assert "Rolled back to %s: wave-2." % OLD in out and "Batches already moved to %s stay there: wave-1." % NEW in out
    report = play_report(run.stdout)
    batches = [(b["batch"], b["namespaces"], b["status"]) for b in report["batches"]]
    assert batches == [(1, ["wave-1"], "upgraded"), (2, ["wave-2"], "rolled_back"), (3, ["wave-3"], "untouched")]
    assert (report["from_revision"], report["to_revision"], report["unused_revisions"]) == (OLD, NEW, [])

    assert namespace_rev(sim, "wave-1") == NEW and revisions(sim, "wave-1") == {NEW} and settled(sim, "wave-1")
    # Back on the old revision, and the restart batch 2 could not roll out has rolled out there by the time the run
    # ends. On the real cluster the refused ReplicaSet retries on its controller's backoff: the rollback sees the
    # stuck rollout and restarts it afresh instead of verifying the old pods the Deployment is about to replace.
    assert namespace_rev(sim, "wave-2") == OLD and revisions(sim, "wave-2") == {OLD} and settled(sim, "wave-2"), (
        [(p["metadata"]["name"], p["metadata"].get("deletionTimestamp"), [(c["name"], c["ready"]) for c in
          p["status"].get("containerStatuses") or []]) for p in json.loads(sim.kubectl(
              "get", "pods", "-n", "wave-2", "-o", "json").stdout)["items"]], out[-3000:])
    web = json.loads(sim.kubectl("get", "deployment", "web", "-n", "wave-2", "-o", "json").stdout)
    status = web["status"]
    assert "kubectl.kubernetes.io/restartedAt" in web["spec"]["template"]["metadata"]["annotations"]
    assert (status.get("observedGeneration"), status.get("updatedReplicas"), status.get("readyReplicas"),
            status.get("replicas")) == (web["metadata"]["generation"], 2, 2, 2), status
    assert not [c for c in status.get("conditions") or [] if c["type"] == "ReplicaFailure"], status
    assert namespace_rev(sim, "wave-3") == OLD
    assert sorted(p["metadata"]["uid"] for p in live_pods(sim, "wave-3")) == untouched

"""asm_revision_tag on the real control plane (scenario canary: asm-173-3 with the `default` tag, asm-1162-2, each
with its own real istiod; istio.io/istio eed52ebb66ad, VERSION 1.31):

- the MutatingWebhookConfiguration and the Service the module writes for a tag are the ones the real
  `istioctl tag set` writes (modulo server-assigned metadata and the Service's cluster IP);
- a move equals what `istioctl tag generate --overwrite` renders for the new revision;
- `istioctl tag list` and asm_revision_info agree afterwards;
- real injection follows the moved tag (a new pod's sidecar.istio.io/status names the new revision);
- check mode stores nothing, a re-run changes nothing, removal refuses while a namespace uses the tag;
- playbooks/upgrade_revision.yml's tag flow moves the tag and restarts the namespace that uses it.
One cluster for the module."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from ansible_helpers import BIN, ROOT, ansible_env, run_adhoc, run_playbook
from realcluster_helpers import TIMINGS, RealClusterProcess

OLD, NEW = "asm-173-3", "asm-1162-2"
TAG = "servicemesh.asm.asm_revision_tag"
SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = RealClusterProcess("canary", tmp_path_factory.mktemp("realcluster-tag"))
    cluster.start()
    TIMINGS["canary cluster start (revision tags)"] = cluster.start_seconds
    yield cluster
    assert cluster.stop() == 0, cluster.log_text()


def istioctl(cluster, *args):
    return subprocess.run([cluster.state["binaries"]["istioctl"], "--kubeconfig", str(cluster.kubeconfig), *args],
                          capture_output=True, text=True, check=True, timeout=120).stdout


def normalized(obj):
    """An object as stored, without what the API server assigns (metadata bookkeeping, cluster IPs)."""
    obj = json.loads(json.dumps(obj))
    for key in SERVER_FIELDS:
        obj["metadata"].pop(key, None)
    for key in ("clusterIP", "clusterIPs"):
        obj.get("spec", {}).pop(key, None)
    obj.pop("status", None)
    return obj


def as_stored(cluster, obj):
    """What the API server would store for obj (its defaults applied): a server-side dry-run create under
    another name (the real one exists), normalized."""
    obj = json.loads(json.dumps(obj))
    obj["metadata"]["name"] += "-generated"
    out = cluster.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(obj)).stdout
    return normalized(json.loads(out))


def without_name(obj):
    obj = json.loads(json.dumps(obj))
    obj["metadata"].pop("name")
    return obj


def tag_objects(cluster, tag):
    """(webhook, service) of a tag as stored, normalized; None for a missing one."""
    mwc = cluster.kubectl("get", "mutatingwebhookconfiguration", "istio-revision-tag-" + tag, "-o", "json",
                          check=False)
    svc = cluster.kubectl("-n", "istio-system", "get", "service", "istiod-revision-tag-" + tag, "-o", "json",
                          check=False)
    return (normalized(json.loads(mwc.stdout)) if mwc.returncode == 0 else None,
            normalized(json.loads(svc.stdout)) if svc.returncode == 0 else None)


def module(cluster, args):
    rc, status, result, stdout = run_adhoc(TAG, "kubeconfig=%s %s" % (cluster.kubeconfig, args))
    return rc, status, result, stdout


def tag_list(cluster):
    rows = json.loads(istioctl(cluster, "tag", "list", "-o", "json"))
    return {row["tag"]: (row["revision"], sorted(row.get("namespaces") or [])) for row in rows if row.get("tag")}


def revision_info_tags(cluster):
    rc, status, result, stdout = run_adhoc("servicemesh.asm.asm_revision_info",
                                           "kubeconfig=%s require_revision=false" % cluster.kubeconfig)
    assert (rc, status) == (0, "SUCCESS"), stdout
    return result["tags"]


def injected_revision(cluster, namespace, name):
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                "spec": {"containers": [{"name": "app", "image": "docker.io/library/nginx:1.27"}]}}
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))
    pod = cluster.get_json("pod", "-n", namespace, name)
    status = (pod["metadata"].get("annotations") or {}).get("sidecar.istio.io/status")
    return json.loads(status)["revision"] if status else None


def test_tag_set_equals_istioctl_tag_set(cluster):
    # the reference: what the real istioctl writes for tag prod
    istioctl(cluster, "tag", "set", "prod", "--revision", NEW, "--skip-confirmation")
    reference = tag_objects(cluster, "prod")
    assert reference[0] is not None and reference[1] is not None, "istioctl 1.31 writes a webhook and a Service"
    istioctl(cluster, "tag", "remove", "prod", "--skip-confirmation")
    assert tag_objects(cluster, "prod") == (None, None)

    rc, status, result, stdout = module(cluster, "tag=prod revision=%s" % NEW)
    assert (rc, status) == (0, "CHANGED"), stdout
    assert result["service"] == "istiod-revision-tag-prod"  # auto: the cluster's `default` tag has a Service
    ours = tag_objects(cluster, "prod")
    assert ours[0] == reference[0]
    assert ours[1] == reference[1]
    assert tag_list(cluster)["prod"] == (NEW, [])
    assert revision_info_tags(cluster) == {"default": OLD, "prod": NEW}

    rc, status, again, stdout = module(cluster, "tag=prod revision=%s" % NEW)
    assert (rc, status, again["changed"]) == (0, "SUCCESS", False), stdout


def test_check_mode_stores_nothing(cluster, tmp_path):
    task = {"name": "tag", TAG: {"kubeconfig": str(cluster.kubeconfig), "tag": "canary", "revision": OLD},
            "register": "tag"}
    run = run_playbook(tmp_path, [task], check=True, diff=True)
    assert run.rc == 0 and run["tag"]["changed"] is True, run.explain()
    assert len(run["tag"]["actions"]) == 2  # webhook and Service, as server-side dry runs
    assert tag_objects(cluster, "canary") == (None, None)


def test_move_equals_istioctl_and_injection_follows(cluster):
    cluster.kubectl("create", "namespace", "tagged")
    cluster.kubectl("label", "namespace", "tagged", "istio.io/rev=prod")
    assert injected_revision(cluster, "tagged", "before-move") == NEW

    rc, status, result, stdout = module(cluster, "tag=prod revision=%s" % OLD)
    assert (rc, status) == (0, "CHANGED"), stdout
    assert (result["previous_revision"], result["namespaces"]) == (NEW, ["tagged"])
    assert tag_list(cluster)["prod"] == (OLD, ["tagged"])
    assert revision_info_tags(cluster) == {"default": OLD, "prod": OLD}
    assert injected_revision(cluster, "tagged", "after-move") == OLD

    # what istioctl would write to move it back, against what the module writes
    rendered = [d for d in yaml.safe_load_all(istioctl(cluster, "tag", "generate", "prod", "--revision", NEW,
                                                       "--overwrite")) if d]
    rc, status, result, stdout = module(cluster, "tag=prod revision=%s" % NEW)
    assert (rc, status) == (0, "CHANGED"), stdout
    webhook, service = tag_objects(cluster, "prod")
    [generated_mwc] = [d for d in rendered if d["kind"] == "MutatingWebhookConfiguration"]
    [generated_svc] = [d for d in rendered if d["kind"] == "Service"]
    assert without_name(webhook) == without_name(as_stored(cluster, generated_mwc))
    assert without_name(service) == without_name(as_stored(cluster, generated_svc))
    assert injected_revision(cluster, "tagged", "moved-back") == NEW


def test_upgrade_playbook_tag_flow(cluster):
    """upgrade_revision.yml moves the tag and restarts the namespace that uses it; the real injector gives the
    re-created pods the new revision's proxy."""
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "tagged"},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                                          {"name": "web", "image": "docker.io/library/nginx:1.27"}]}}}}
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))
    cluster.kubectl("-n", "tagged", "rollout", "status", "deployment/web", "--timeout=120s")
    # the bare probe pods of the tests above
    cluster.kubectl("-n", "tagged", "delete", "pods", "-l", "!app", "--grace-period=1")
    run = subprocess.run([str(BIN / "ansible-playbook"), str(ROOT / "playbooks" / "upgrade_revision.yml"),
                          "-e", "asm_kubeconfig=%s" % cluster.kubeconfig, "-e", "asm_tag=prod",
                          "-e", "asm_to_revision=%s" % OLD], cwd=ROOT, env=ansible_env(), capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-4000:]
    assert "asm-1162-2 -> asm-173-3 (tag prod): 1 namespace(s) in 1 batch(es)" in run.stdout
    pods = [p for p in cluster.get_json("pods", "-n", "tagged", "-l", "app=web")["items"]
            if not p["metadata"].get("deletionTimestamp")]
    assert len(pods) == 2
    assert {json.loads(p["metadata"]["annotations"]["sidecar.istio.io/status"])["revision"] for p in pods} == {OLD}
    assert tag_list(cluster)["prod"] == (OLD, ["tagged"])


def test_remove_refuses_while_used_then_removes(cluster):
    rc, status, result, stdout = module(cluster, "tag=prod state=absent")
    assert (rc, status) == (2, "FAILED!"), stdout
    assert result["msg"].startswith("Revision tag prod is still used by namespaces tagged")
    assert tag_objects(cluster, "prod")[0] is not None

    cluster.kubectl("label", "namespace", "tagged", "istio.io/rev-")
    rc, status, result, stdout = module(cluster, "tag=prod state=absent")
    assert (rc, status) == (0, "CHANGED"), stdout
    assert sorted(result["actions"]) == ["deleted mutatingwebhookconfiguration istio-revision-tag-prod",
                                         "deleted service istio-system/istiod-revision-tag-prod"]
    assert tag_objects(cluster, "prod") == (None, None)
    assert "prod" not in tag_list(cluster)
    assert revision_info_tags(cluster) == {"default": OLD}


def test_moving_the_default_tag_equals_istioctl(cluster):
    """The `default` tag: its four webhooks, its Service and the default revision's validator
    istiod-default-validator, against what `istioctl tag generate default --overwrite` renders."""
    rendered = dict((d["kind"], d) for d in yaml.safe_load_all(istioctl(
        cluster, "tag", "generate", "default", "--revision", NEW, "--overwrite")) if d)
    assert sorted(rendered) == ["MutatingWebhookConfiguration", "Service", "ValidatingWebhookConfiguration"]
    rc, status, result, stdout = module(cluster, "tag=default revision=%s" % NEW)
    assert (rc, status) == (0, "CHANGED"), stdout
    assert result["namespaces"] == ["legacy"]
    webhook, service = tag_objects(cluster, "default")
    validator = normalized(cluster.get_json("validatingwebhookconfiguration", "istiod-default-validator"))
    assert without_name(webhook) == without_name(as_stored(cluster, rendered["MutatingWebhookConfiguration"]))
    assert without_name(service) == without_name(as_stored(cluster, rendered["Service"]))
    assert without_name(validator) == without_name(as_stored(cluster, rendered["ValidatingWebhookConfiguration"]))
    assert tag_list(cluster)["default"] == (NEW, [])  # istioctl lists istio.io/rev=default namespaces only
    assert injected_revision(cluster, "legacy", "after-default-move") == NEW  # istio-injection=enabled
    rc, status, again, stdout = module(cluster, "tag=default revision=%s" % NEW)
    assert (rc, status, again["changed"]) == (0, "SUCCESS", False), stdout

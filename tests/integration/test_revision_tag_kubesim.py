# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""asm_revision_tag through the real `ansible-playbook` against kubesim's canary cluster (asm-173-3 with the
`default` tag, asm-1162-2): set, move and remove a tag; check mode stores nothing; a re-run changes nothing;
removal refuses while a namespace or pod uses the tag; and kubesim's injector follows the moved tag."""

from __future__ import annotations

import json

import pytest

from ansible_helpers import accepted_writes, run_playbook

pytestmark = pytest.mark.kubesim_only(reason=(
    "expects kubesim's canary scenario (tags without a tag Service, no istiod-default-validator); on the "
    "real control plane tests/realcluster/tests/test_revision_tag_real.py compares the module with "
    "istioctl"))

TAG = "servicemesh.asm.asm_revision_tag"
INFO = "servicemesh.asm.asm_revision_info"
OLD, NEW = "asm-173-3", "asm-1162-2"


def tag_task(register, **args):
    return {"name": register, TAG: dict({"kubeconfig": "{{ kubeconfig }}"}, **args), "register": register}


def play(sim, tmp_path, *tasks, check=False, diff=False):
    run = run_playbook(tmp_path, list(tasks), {"kubeconfig": str(sim.kubeconfig)}, check=check, diff=diff)
    assert run.rc in (0, 2), run.explain()
    return run


def injected_revision(sim, namespace, name, labels=None):
    """Create a bare pod and read the revision its sidecar.istio.io/status says injected it (None: no sidecar)."""
    from kubernetes import client
    api = client.CoreV1Api(sim.api_client())
    api.create_namespaced_pod(namespace, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "app", "image": "docker.io/library/nginx:1.27"}]}})
    pod = api.read_namespaced_pod(name, namespace)
    status = (pod.metadata.annotations or {}).get("sidecar.istio.io/status")
    return json.loads(status)["revision"] if status else None


def label_namespace(sim, name, value):
    sim.kubectl("label", "namespace", name, "istio.io/rev=%s" % value, "--overwrite")


def test_set_move_and_injection_follows_the_tag(start_sim, tmp_path):
    sim = start_sim("canary")
    mark = sim.audit_mark()
    # check mode: everything goes as a dry run, nothing is stored
    checked = play(sim, tmp_path, tag_task("tag", tag="prod", revision=NEW), check=True, diff=True)
    assert checked["tag"]["changed"] is True, checked.explain()
    assert checked["tag"]["actions"] == ["created mutatingwebhookconfiguration istio-revision-tag-prod -> asm-1162-2"]
    assert accepted_writes(sim, mark) == []
    assert [e["dry_run"] for e in sim.writes(mark)] == [True]
    assert "--- before" in checked.stdout and "rev.namespace.sidecar-injector.istio.io" in checked.stdout

    mark = sim.audit_mark()
    run = play(sim, tmp_path, tag_task("tag", tag="prod", revision=NEW),
               tag_task("again", tag="prod", revision=NEW),
               {"name": "info", INFO: {"kubeconfig": "{{ kubeconfig }}", "require_revision": False},
                "register": "info"})
    assert run["tag"]["changed"] is True and run["again"]["changed"] is False, run.explain()
    assert [(e["method"], e["resource"]) for e in accepted_writes(sim, mark)] == [
        ("POST", "mutatingwebhookconfigurations")]
    assert run["info"]["tags"] == {"default": OLD, "prod": NEW}
    stored = json.loads(sim.kubectl("get", "mutatingwebhookconfiguration", "istio-revision-tag-prod", "-o",
                                    "json").stdout)
    assert stored["metadata"]["labels"]["istio.io/tag"] == "prod"
    assert stored["metadata"]["labels"]["istio.io/rev"] == NEW
    assert stored["webhooks"][0]["clientConfig"]["service"]["name"] == "istiod-" + NEW

    # a namespace labelled with the tag gets the tag's revision, through kubesim's own admission
    label_namespace(sim, "unlabelled", "prod")
    assert injected_revision(sim, "unlabelled", "probe-1") == NEW

    moved = play(sim, tmp_path, tag_task("move", tag="prod", revision=OLD), diff=True)
    assert moved["move"]["actions"] == [
        "moved mutatingwebhookconfiguration istio-revision-tag-prod from asm-1162-2 to asm-173-3"]
    assert (moved["move"]["previous_revision"], moved["move"]["namespaces"]) == (NEW, ["unlabelled"])
    assert injected_revision(sim, "unlabelled", "probe-2") == OLD
    # a pod selecting the tag with its own label, in a namespace without injection labels
    sim.kubectl("label", "namespace", "unlabelled", "istio.io/rev-")
    assert injected_revision(sim, "unlabelled", "probe-3", {"istio.io/rev": "prod"}) == OLD


def test_moving_the_default_tag_moves_istio_injection_enabled(start_sim, tmp_path):
    sim = start_sim("canary")
    assert injected_revision(sim, "legacy", "before") == OLD
    run = play(sim, tmp_path, tag_task("default", tag="default", revision=NEW),
               tag_task("again", tag="default", revision=NEW))
    assert run["default"]["actions"] == [
        "moved mutatingwebhookconfiguration istio-revision-tag-default from asm-173-3 to asm-1162-2",
        # canary's default tag came without one; `istioctl tag set default` writes it
        "created validatingwebhookconfiguration istiod-default-validator -> asm-1162-2"], run.explain()
    assert run["default"]["namespaces"] == ["legacy"]
    assert run["again"]["changed"] is False
    assert injected_revision(sim, "legacy", "after") == NEW
    assert injected_revision(sim, "unlabelled", "opted-in", {"sidecar.istio.io/inject": "true"}) == NEW


def test_remove_refuses_while_used_check_mode_stores_nothing_force_removes(start_sim, tmp_path):
    sim = start_sim("canary")
    play(sim, tmp_path, tag_task("tag", tag="prod", revision=NEW))
    label_namespace(sim, "unlabelled", "prod")
    mark = sim.audit_mark()
    refused = play(sim, tmp_path, tag_task("remove", tag="prod", state="absent"))
    assert refused["remove"]["failed"] is True
    assert refused["remove"]["msg"].startswith("Revision tag prod is still used by namespaces unlabelled")
    assert "force: true" in refused["remove"]["msg"]
    assert sim.writes(mark) == []

    checked = play(sim, tmp_path, tag_task("remove", tag="prod", state="absent", force=True), check=True)
    assert checked["remove"]["changed"] is True
    assert accepted_writes(sim, mark) == [] and [e["dry_run"] for e in sim.writes(mark)] == [True]

    sim.kubectl("label", "namespace", "unlabelled", "istio.io/rev-")
    removed = play(sim, tmp_path, tag_task("remove", tag="prod", state="absent"),
                   tag_task("again", tag="prod", state="absent"))
    assert removed["remove"]["actions"] == ["deleted mutatingwebhookconfiguration istio-revision-tag-prod"]
    assert removed["remove"]["previous_revision"] == NEW
    assert removed["again"]["changed"] is False
    assert sim.kubectl("get", "mutatingwebhookconfiguration", "istio-revision-tag-prod", check=False).returncode != 0


def test_clear_refusals(start_sim, tmp_path):
    sim = start_sim("canary")
    mark = sim.audit_mark()
    run = play(sim, tmp_path, tag_task("unknown", tag="prod", revision="asm-1163-0"),
               tag_task("clash", tag=OLD, revision=NEW),
               tag_task("tag_of_tag", tag="prod", revision="default"),
               tag_task("bad_name", tag="Prod_1", revision=NEW))
    assert run["unknown"]["msg"] == ("revision 'asm-1163-0' is not known to the cluster. Known revisions: asm-1162-2, "
                                     "asm-173-3 (tags: default -> asm-173-3).")
    assert run["clash"]["msg"].startswith("cannot create revision tag 'asm-173-3': a control plane revision has that "
                                          "name")
    assert "is a revision tag (-> asm-173-3), not a revision" in run["tag_of_tag"]["msg"]
    assert run["bad_name"]["msg"].startswith("tag 'Prod_1' is not valid")
    assert sim.writes(mark) == []


def test_the_revision_tag_role_of_docs_rbac_is_what_the_module_uses(start_sim, tmp_path):
    from test_least_privilege import granted, roles, scenario_with_users
    rules = roles()["servicemesh-asm-revision-tag"]
    sim = start_sim(scenario_with_users(tmp_path, "canary", [{"name": "tagger", "token": "tagger-t", "rules": rules}]))
    mark = sim.audit_mark()
    base = {"kubeconfig": "{{ kubeconfig }}", "context": "kubesim-tagger"}
    run = play(sim, tmp_path,
               {"name": "create", TAG: dict(base, tag="prod", revision=NEW, service="always"), "register": "create"},
               {"name": "move", TAG: dict(base, tag="prod", revision=OLD), "register": "move"},
               {"name": "remove", TAG: dict(base, tag="prod", state="absent"), "register": "remove"},
               {"name": "default", TAG: dict(base, tag="default", revision=NEW), "register": "default"},
               {"name": "back", TAG: dict(base, tag="default", revision=OLD), "register": "back"},
               {"name": "drop", TAG: dict(base, tag="default", state="absent", force=True), "register": "drop"})
    assert run["default"]["actions"][-1] == "created validatingwebhookconfiguration istiod-default-validator -> " + NEW
    assert run["back"]["actions"][-1] == ("moved validatingwebhookconfiguration istiod-default-validator from %s to "
                                          "%s" % (NEW, OLD))
    assert "deleted validatingwebhookconfiguration istiod-default-validator" in run["drop"]["actions"]
    for name in ("create", "move", "remove", "default", "back", "drop"):
        assert run[name]["changed"] is True and not run[name].get("failed"), run.explain()
    groups = {"mutatingwebhookconfigurations": "admissionregistration.k8s.io", "controlplanerevisions":
              "mesh.cloud.google.com", "validatingwebhookconfigurations": "admissionregistration.k8s.io"}
    needed = set()
    for entry in sim.audit(mark):
        if entry["user"] == "tagger" and entry["verb"]:
            assert entry["code"] != 403, entry
            needed.add((groups.get(entry["resource"], ""), entry["resource"], entry["verb"]))
    grants = granted(rules)
    assert needed <= grants, "used but not granted: %s" % sorted(needed - grants)
    # update is only for the `default` tag's deactivation of an unrevisioned injector, which canary lacks
    assert grants - needed == {("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "update")}

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""asm_revision_info through the real `ansible` / `ansible-playbook` against kubesim's seed, canary
and managed clusters: discovery, the revision choice and its failure messages."""

from __future__ import annotations

import re
import time

import pytest

from ansible_helpers import accepted_writes, ansible_doc, run_adhoc, run_playbook, write_summary

INFO = "servicemesh.asm.asm_revision_info"
INJECT = "servicemesh.asm.asm_namespace_inject"
SEED_LABELS = re.compile(r"^app=istiod,istio\.io/rev=asm-173-3,istio=istiod,pod-template-hash=[a-z0-9]{6,10}$")


def info(register, **args):
    return {"name": register, INFO: dict({"kubeconfig": "{{ kubeconfig }}"}, **args), "register": register}


def by_name(revisions):
    return dict((r["name"], r) for r in revisions)


@pytest.mark.kubesim_only(reason="counts the module's API requests (reads) in kubesim's audit log; the real audit "
                                 "policy logs writes only")
def test_seed_adhoc_finds_asm_173_3_with_two_ready_istiod_pods(seed):
    """The issue's check: `ansible localhost -m servicemesh.asm.asm_revision_info -a kubeconfig=…`."""
    mark = seed.audit_mark()
    rc, status, result, stdout = run_adhoc(INFO, "kubeconfig=%s" % seed.kubeconfig)
    audit = seed.audit(since=mark)
    assert (rc, status) == (0, "SUCCESS"), stdout
    assert result["changed"] is False
    assert (result["revision"], result["revision_reason"]) == ("asm-173-3", "the only ready revision")
    assert (result["tags"], result["default_revision"], result["istio_namespace"]) == ({}, None, "istio-system")
    [rev] = result["revisions"]
    assert (rev["name"], rev["version"], rev["ready"], rev["managed"], rev["default"]) == (
        "asm-173-3", "1.7.3-asm.3", True, False, False)
    assert (rev["istiod"]["ready"], rev["istiod"]["total"]) == (2, 2)
    assert rev["proxy_image"] == "gcr.io/gke-release/asm/proxyv2:1.7.3-asm.3"
    assert [w["configuration"] for w in rev["webhooks"]] == ["istio-sidecar-injector-asm-173-3"] * 2
    assert rev["namespaces"] == []  # legacy's istio-injection=enabled has no default revision to go to

    # istiod_pods are the rows of the seed's `kubectl -n istio-system get pods -l app=istiod --show-labels`
    rows = result["istiod_pods"]
    assert len(rows) == 2
    for row in rows:
        assert SEED_LABELS.match(row["labels_text"]), row["labels_text"]
        assert row["name"].startswith("istiod-asm-173-3-")
        assert (row["ready"], row["status"], row["restarts"], row["age"]) == ("1/1", "Running", 0, "23h")
        assert row["labels"]["istio.io/rev"] == "asm-173-3"
    assert sorted(rev["istiod"]["pods"]) == [row["name"] for row in rows]
    kubectl = seed.kubectl("-n", "istio-system", "get", "pods", "-l", "app=istiod", "--show-labels", "--no-headers")
    table = [line.split() for line in kubectl.stdout.splitlines()]
    assert [[r["name"], r["ready"], r["status"], str(r["restarts"]), r["age"], r["labels_text"]] for r in rows] == table

    # read-only, and every request it counted reached the API server
    assert [e for e in audit if e["method"] != "GET"] == []
    # pods, webhooks, configmaps, namespaces, controlplanerevisions, and the tag Services istioctl tag list reads
    assert len(audit) == result["api_requests"] == 6
    assert result["revision_tags"] == []


@pytest.mark.kubesim_only(reason="names kubesim's kubeconfig contexts (kubesim-ci-reader)")
def test_seed_options_check_mode_auth_forms_and_failures(seed, tmp_path):
    mark = seed.audit_mark()
    run = run_playbook(tmp_path, [
        dict(info("in_check_mode"), check_mode=True),
        {"name": "kubeconfig as a dict", "register": "as_dict",
         INFO: {"kubeconfig": "{{ lookup('ansible.builtin.file', kubeconfig) | from_yaml }}"}},
        {"name": "K8S_AUTH_* fallbacks, read-only user", "register": "from_env", INFO: {},
         "environment": {"K8S_AUTH_KUBECONFIG": "{{ kubeconfig }}", "K8S_AUTH_CONTEXT": "kubesim-ci-reader"}},
        info("explicit", revision="asm-173-3"),
        info("unknown", revision="asm-999"),
        info("unknown_not_required", revision="asm-999", require_revision=False),
        info("elsewhere", istio_namespace="mesh-elsewhere", require_revision=False),
        info("elsewhere_requested", istio_namespace="mesh-elsewhere", revision="asm-173-3"),
        info("elsewhere_allowed", istio_namespace="mesh-elsewhere", revision="asm-173-3", allow_unready=True),
        info("bad_prefer", prefer="oldest"),
    ], extra_vars={"kubeconfig": str(seed.kubeconfig)})
    assert run.rc == 0, run.explain()
    for name in ("in_check_mode", "as_dict", "from_env", "explicit"):
        assert run[name].get("failed") is not True, (name, run[name])
        assert run[name]["revision"] == "asm-173-3", name
        assert run[name]["changed"] is False
    assert run["explicit"]["revision_reason"] == "requested"
    assert run["in_check_mode"]["revisions"] == run["explicit"]["revisions"]

    known = ("Known revisions: asm-173-3 (istiod 2/2 ready; version 1.7.3-asm.3). Tags: none.")
    for name in ("unknown", "unknown_not_required"):  # an explicit revision must exist, require_revision or not
        assert run[name]["failed"] is True
        assert run[name]["msg"] == "Revision 'asm-999' is not known to the cluster. " + known

    # no istiod in that namespace: the revision is known from its webhook only, and not ready
    elsewhere = run["elsewhere"]
    assert elsewhere.get("failed") is not True
    assert (elsewhere["revision"], elsewhere["istiod_pods"], elsewhere["istio_namespace"]) == (
        None, [], "mesh-elsewhere")
    assert elsewhere["revision_reason"] == "No revision has a ready control plane: asm-173-3 (istiod 0/0 ready)."
    assert run["elsewhere_requested"]["failed"] is True
    assert run["elsewhere_requested"]["msg"] == (
        "Revision asm-173-3 has no ready control plane: asm-173-3 (istiod 0/0 ready). Pods labelled for it would fail "
        "to be created or come up without a sidecar. Choose a ready revision or set allow_unready.")
    assert run["elsewhere_allowed"]["revision"] == "asm-173-3"

    assert run["bad_prefer"]["failed"] is True
    assert run["bad_prefer"]["msg"] == "value of prefer must be one of: newest, default, got: oldest"
    assert "ci-reader" in {e["user"] for e in seed.audit(since=mark)}  # the env context was really used
    assert write_summary(seed, mark) == []


@pytest.mark.kubesim_only(reason="time budget (make test < 40 min): a third cluster (canary); "
                                 "tests/realcluster/tests/test_canary.py checks asm_revision_info against istioctl "
                                 "tag list on the real one")
def test_canary_two_revisions_prefer_and_tags(start_sim, tmp_path):
    sim = start_sim("canary")
    mark = sim.audit_mark()
    run = run_playbook(tmp_path, [
        info("plain"),
        info("newest", prefer="newest"),
        info("default", prefer="default"),
        info("tag", revision="default"),
        info("explicit", revision="asm-1162-2", prefer="default"),
        info("facts_only", require_revision=False),
    ], extra_vars={"kubeconfig": str(sim.kubeconfig)})
    assert run.rc == 0, run.explain()
    several = ("Several revisions are ready: asm-1162-2 (istiod 2/2 ready; version 1.16.2-asm.2); asm-173-3 (istiod "
               "2/2 ready; version 1.7.3-asm.3; tags default). Choose one with revision (a revision or tag name) or "
               "set prefer to one of: newest, default.")
    assert run["plain"]["failed"] is True
    assert run["plain"]["msg"] == several
    assert several in run.stdout  # what the operator sees
    assert (run["newest"]["revision"], run["newest"]["revision_reason"]) == (
        "asm-1162-2", "the newest version (1.16.2-asm.2)")  # 1.16 > 1.7: versions, not names, are compared
    assert (run["default"]["revision"], run["default"]["revision_reason"]) == ("asm-173-3", "the default revision")
    assert (run["tag"]["revision"], run["tag"]["revision_reason"]) == ("asm-173-3", "requested (tag default)")
    assert (run["explicit"]["revision"], run["explicit"]["revision_reason"]) == ("asm-1162-2", "requested")
    facts = run["facts_only"]
    assert facts.get("failed") is not True
    assert (facts["revision"], facts["revision_reason"]) == (None, several)
    assert (facts["tags"], facts["default_revision"]) == ({"default": "asm-173-3"}, "asm-173-3")
    revs = by_name(facts["revisions"])
    assert [r["name"] for r in facts["revisions"]] == ["asm-1162-2", "asm-173-3"]
    old, new = revs["asm-173-3"], revs["asm-1162-2"]
    assert (old["version"], new["version"]) == ("1.7.3-asm.3", "1.16.2-asm.2")
    assert (old["tags"], new["tags"], old["default"], new["default"]) == (["default"], [], True, False)
    assert (old["istiod"]["ready"], old["istiod"]["total"], new["istiod"]["ready"], new["istiod"]["total"]) == (
        2, 2, 2, 2)
    assert old["namespaces"] == ["legacy", "shop"]  # legacy through istio-injection=enabled → the default tag
    assert new["namespaces"] == ["payments"]
    assert len(facts["istiod_pods"]) == 4
    assert {p["labels"]["istio.io/rev"] for p in facts["istiod_pods"]} == {"asm-173-3", "asm-1162-2"}
    assert sim.stored_writes(mark) == []  # check mode: dry runs only


@pytest.mark.kubesim_only(reason='managed ASM (ControlPlaneRevision) exists only in kubesim')
def test_managed_asm_and_the_wrong_channel(start_sim, tmp_path):
    sim = start_sim("managed")
    mark = sim.audit_mark()
    run = run_playbook(tmp_path, [
        info("managed"),
        info("channel_missing", revision="asm-managed"),
        {"name": "label with the channel missing", "register": "label_wrong", INJECT: {
            "kubeconfig": "{{ kubeconfig }}", "revision": "asm-managed", "namespaces": ["orders"]}},
        {"name": "label with the right channel", "register": "label_right", "check_mode": True, INJECT: {
            "kubeconfig": "{{ kubeconfig }}", "revision": "{{ managed.revision }}", "namespaces": ["orders"]}},
    ], extra_vars={"kubeconfig": str(sim.kubeconfig)})
    assert run.rc == 0, run.explain()
    managed = run["managed"]
    assert (managed["revision"], managed["revision_reason"]) == ("asm-managed-rapid", "the only ready revision")
    assert (managed["istiod_pods"], managed["tags"], managed["default_revision"]) == (
        [], {"default": "asm-managed-rapid"}, "asm-managed-rapid")
    [rev] = managed["revisions"]
    assert (rev["name"], rev["managed"], rev["version"], rev["ready"], rev["channel"]) == (
        "asm-managed-rapid", True, None, True, "RAPID")
    assert rev["istiod"] == {"ready": 0, "total": 0, "pods": []}
    assert rev["namespaces"] == ["store"]  # orders is labelled asm-managed, which no injector serves
    assert (rev["tags"], rev["default"]) == (["default"], True)
    assert rev["proxy_image"] == "gcr.io/gke-release/asm/proxyv2:1.23.4-asm.1"
    assert {w["configuration"] for w in rev["webhooks"]} == {"istio-revision-tag-default", "istiod-asm-managed-rapid"}

    assert run["channel_missing"]["failed"] is True
    assert run["channel_missing"]["msg"] == (
        "Revision 'asm-managed' is not known to the cluster. Known revisions: asm-managed-rapid (managed channel "
        "RAPID, provisioned; tags default). Tags: default -> asm-managed-rapid.")
    assert run["label_wrong"]["failed"] is True
    assert run["label_wrong"]["msg"] == (
        "Revision 'asm-managed' is unknown to the cluster: no active injector webhook serves it, so pods in the "
        "labelled namespaces would silently come up without a sidecar. Known revisions and tags: asm-managed-rapid, "
        "default. Set force: true to label anyway.")
    right = run["label_right"]
    assert right["changed"] is True
    [orders] = right["namespaces"]
    assert (orders["previous_labels"], orders["labels"]) == ({"istio.io/rev": "asm-managed"},
                                                             {"istio.io/rev": "asm-managed-rapid"})
    assert orders["injection"]["revision"] == "asm-managed-rapid"
    assert sim.stored_writes(mark) == []  # check mode: dry runs only
    assert accepted_writes(sim, mark) == []


def test_ansible_doc_renders():
    proc = ansible_doc(INFO)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for section in ("EXAMPLES:", "RETURN VALUES:", "OPTIONS (", "ATTRIBUTES:"):
        assert section in text, section
    options = ("istio_namespace", "prefer", "allow_unready", "require_revision", "kubeconfig", "impersonate_groups")
    for option in options:
        assert option in text, option
    assert "servicemesh.asm.asm_revision_info:" in text      # the examples
    assert "labels_text" in text and "revision_reason" in text  # return values


def test_count_proxies_tells_a_revision_without_namespaces_from_an_unused_one(start_sim):
    """payments is relabelled to the old revision but not restarted: asm-1162-2 has no namespace left, yet its two
    billing proxies still run, so it is not safe to uninstall; once payments is restarted it has neither."""
    sim = start_sim("canary")
    sim.kubectl("label", "namespace", "payments", "istio.io/rev=asm-173-3", "--overwrite")

    def revisions():
        rc, status, result, stdout = run_adhoc(INFO, "kubeconfig=%s require_revision=false count_proxies=true"
                                               % sim.kubeconfig)
        assert (rc, status) == (0, "SUCCESS"), stdout
        return result, by_name(result["revisions"])
    result, revs = revisions()
    assert revs["asm-1162-2"]["namespaces"] == [] and revs["asm-1162-2"]["proxies"] == 2
    # shop 3 pods + legacy 1 through the default tag; unlabelled's pod has no sidecar
    assert revs["asm-173-3"]["proxies"] == 4 and result["proxies"] == {"asm-1162-2": 2, "asm-173-3": 4}

    sim.kubectl("rollout", "restart", "deployment/billing", "-n", "payments")
    sim.kubectl("rollout", "status", "deployment/billing", "-n", "payments", "--timeout=120s")
    deadline = time.monotonic() + 60
    while revisions()[1]["asm-1162-2"]["proxies"] and time.monotonic() < deadline:
        time.sleep(1)  # the old pods terminate after rollout status returns
    result, revs = revisions()
    assert (revs["asm-1162-2"]["namespaces"], revs["asm-1162-2"]["proxies"]) == ([], 0)
    assert result["proxies"] == {"asm-173-3": 6}

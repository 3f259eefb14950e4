# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Namespace selection and the injection-label patch (the seed's
`kubectl label namespace NS istio-injection- istio.io/rev=REV --overwrite`)."""

from __future__ import annotations

import pytest

from ansible_collections.servicemesh.asm.plugins.module_utils import namespaces
from ansible_collections.servicemesh.asm.plugins.module_utils.client import KubeError
from ansible_collections.servicemesh.asm.plugins.module_utils.namespaces import (
    SelectionError, check_names, desired_labels, injection_labels, invalid_names, is_system, merge_patch, select)

from ansible_collections.servicemesh.asm.tests.unit.plugins.module_utils.istio_objects import (
    injector_mwc,
)

REV = "asm-173-3"


# -- names -----------------------------------------------------------------------------------------------


def test_valid_names():
    assert invalid_names(["demo", "a", "a-b-1", "0abc", "a" * 63]) == []
    assert invalid_names(None) == []


def test_invalid_names():
    bad = ["Demo", "a_b", "-a", "a-", "a" * 64, "", "a.b", "dém", 5, None]
    assert invalid_names(bad + ["ok"]) == bad


def test_check_names_message():
    check_names("namespaces", ["demo", "shop"])  # no error
    with pytest.raises(SelectionError) as err:
        check_names("exclude", ["ok", "Bad_Name", "x" * 64])
    assert str(err.value) == (
        "exclude contains invalid namespace names: 'Bad_Name', '%s'. A namespace name is an RFC 1123 label: at "
        "most 63 lower-case letters, digits or '-', starting and ending with a letter or digit." % ("x" * 64))


@pytest.mark.parametrize("name,istio_namespace,expected", [
    ("kube-system", "istio-system", True), ("kube-public", "istio-system", True),
    ("kube-node-lease", "istio-system", True), ("istio-system", "istio-system", True),
    ("asm-cp", "asm-cp", True), ("istio-system", "asm-cp", False), ("gke-connect", "istio-system", True),
    ("gke-managed-system", "istio-system", True), ("gmp-system", "istio-system", True),
    ("gmp-public", "istio-system", True), ("config-management-system", "istio-system", True),
    ("anthos-identity-service", "istio-system", True), ("asm-system", "istio-system", True),
    ("default", "istio-system", False), ("demo", "istio-system", False), ("kubernetes", "istio-system", False),
    ("istio-system-copy", "istio-system", False),
])
def test_is_system(name, istio_namespace, expected):
    assert is_system(name, istio_namespace) is expected


# -- select() ---------------------------------------------------------------------------------------------


EXISTING = {
    "demo": {"labels": {}, "phase": "Active"},
    "shop": {"labels": {"team": "a"}, "phase": "Active"},
    "pay": {"labels": {"team": "a"}, "phase": "Active"},
    "old": {"labels": {"team": "a"}, "phase": "Terminating"},
    "kube-system": {"labels": {"team": "a"}, "phase": "Active"},
    "istio-system": {"labels": {"team": "a"}, "phase": "Active"},
    "gke-managed-x": {"labels": {"team": "a"}, "phase": "Active"},
}


def test_select_named_only():
    assert select(EXISTING, ["shop", "demo"], None, [], "istio-system") == (["shop", "demo"], [], [])


def test_select_named_system_namespaces_count():
    selected, skipped, missing = select(EXISTING, ["kube-system", "istio-system"], None, [], "istio-system")
    assert (selected, skipped, missing) == (["kube-system", "istio-system"], [], [])


def test_select_selector_skips_system_terminating_and_excluded():
    matches = ["shop", "pay", "old", "kube-system", "istio-system", "gke-managed-x"]
    selected, skipped, missing = select(EXISTING, [], matches, ["pay"], "istio-system")
    assert selected == ["shop"]
    system = "system namespace (name it in namespaces to include it)"
    assert skipped == [
        {"name": "gke-managed-x", "reason": system},
        {"name": "istio-system", "reason": system},
        {"name": "kube-system", "reason": system},
        {"name": "old", "reason": "namespace is terminating"},
        {"name": "pay", "reason": "excluded"},
    ]
    assert missing == []


def test_select_named_and_selector_together():
    # named first in the given order, then the selector's matches sorted; each once; a named system namespace counts
    named, matches = ["istio-system", "demo", "ghost", "demo"], ["shop", "demo", "istio-system"]
    selected, skipped, missing = select(EXISTING, named, matches, [], "istio-system")
    assert selected == ["istio-system", "demo", "shop"]
    assert skipped == []
    assert missing == ["ghost"]


def test_select_exclude_beats_naming_and_terminating_named_is_skipped():
    selected, skipped, missing = select(EXISTING, ["demo", "old", "shop"], None, ["shop"], "istio-system")
    assert selected == ["demo"]
    assert skipped == [{"name": "old", "reason": "namespace is terminating"}, {"name": "shop", "reason": "excluded"}]


def test_select_missing_names():
    assert select(EXISTING, ["ghost", "nope"], None, None, "istio-system") == ([], [], ["ghost", "nope"])


# -- labels and patches --------------------------------------------------------------------------------------


def test_injection_labels_and_desired_labels():
    labels = {"istio-injection": "enabled", "istio.io/rev": "x", "team": "a", "kubernetes.io/metadata.name": "demo"}
    assert injection_labels(labels) == {"istio-injection": "enabled", "istio.io/rev": "x"}
    assert injection_labels(None) == {}
    assert desired_labels(labels, "present", REV) == {"istio.io/rev": REV}
    assert desired_labels(labels, "absent", REV) == {}


@pytest.mark.parametrize("before,state,patch", [
    ({}, "present", {"metadata": {"labels": {"istio.io/rev": REV}}}),
    # the seed's `istio-injection- istio.io/rev=REV`: one patch removes one label and sets the other
    ({"istio-injection": "enabled"}, "present", {"metadata": {"labels": {"istio-injection": None,
                                                                         "istio.io/rev": REV}}}),
    ({"istio-injection": "enabled", "istio.io/rev": REV}, "present", {"metadata": {"labels": {
        "istio-injection": None}}}),
    ({"istio.io/rev": "asm-1162-2"}, "present", {"metadata": {"labels": {"istio.io/rev": REV}}}),
    ({"istio.io/rev": REV}, "present", None),
    ({"istio.io/rev": REV}, "absent", {"metadata": {"labels": {"istio.io/rev": None}}}),
    ({"istio-injection": "enabled", "istio.io/rev": REV}, "absent", {"metadata": {"labels": {
        "istio-injection": None, "istio.io/rev": None}}}),
    ({}, "absent", None),
])
def test_merge_patch(before, state, patch):
    assert merge_patch(before, desired_labels(before, state, REV)) == patch


# -- run(): the module's entry with a fake client ------------------------------------------------------------


class FakeClient(object):
    """Namespaces and injector webhooks in memory; records every request."""

    def __init__(self, labels_by_name, mwcs=None, selector_error=None):
        self.namespaces = dict((name, dict(labels)) for name, labels in labels_by_name.items())
        self.mwcs = [injector_mwc(REV)] if mwcs is None else mwcs
        self.selector_error = selector_error
        self.requests = []

    def list(self, path, label_selector=None, field_selector=None, limit=500, transform=None, action=None):
        self.requests.append(("LIST", path, label_selector))
        if path.endswith("/mutatingwebhookconfigurations"):
            return list(self.mwcs)
        if label_selector:
            if self.selector_error:
                raise KubeError("bad selector", 400, "BadRequest", {"message": self.selector_error})
            key, value = label_selector.split("=")
            names = [n for n, labels in self.namespaces.items() if labels.get(key) == value]
        else:
            names = list(self.namespaces)
        return [{"metadata": {"name": n, "labels": self.namespaces[n]}, "status": {"phase": "Active"}} for n in names]

    def get(self, path, action=None, missing_ok=False):
        self.requests.append(("GET", path, None))
        name = path.rsplit("/", 1)[-1]
        if name not in self.namespaces:
            return None
        return {"metadata": {"name": name, "labels": self.namespaces[name]}, "status": {"phase": "Active"}}

    def request(self, method, path, query=None, body=None, content_type=None, action=None, retry_429=True):
        dry = ("dryRun=All",) if query == {"dryRun": "All"} else ()
        self.requests.append((method, path, body, content_type) + dry)
        return {}

    def writes(self):
        """Writes that were not dry runs."""
        return [r for r in self.requests if r[0] not in ("LIST", "GET") and r[-1] != "dryRun=All"]

    def dry_runs(self):
        return [r[:2] for r in self.requests if r[-1] == "dryRun=All"]


def inject_params(**overrides):
    base = {"state": "present", "revision": REV, "namespaces": [], "namespace_selector": None, "exclude": [],
            "create": False, "force": False, "istio_namespace": "istio-system"}
    base.update(overrides)
    return base


SEED = {"demo": {}, "legacy": {"istio-injection": "enabled"}, "kube-system": {}, "istio-system": {}}


def test_run_labels_like_kubectl_with_one_merge_patch_each():
    client = FakeClient(SEED)
    result = namespaces.run(client, inject_params(namespaces=["demo", "legacy"]), want_diff=True)
    assert client.writes() == [
        ("PATCH", "/api/v1/namespaces/demo", {"metadata": {"labels": {"istio.io/rev": REV}}},
         "application/merge-patch+json"),
        ("PATCH", "/api/v1/namespaces/legacy", {"metadata": {"labels": {"istio-injection": None, "istio.io/rev": REV}}},
         "application/merge-patch+json"),
    ]
    assert result["changed"] is True
    assert [(n["name"], n["previous_labels"], n["labels"], n["changed"]) for n in result["namespaces"]] == [
        ("demo", {}, {"istio.io/rev": REV}, True),
        ("legacy", {"istio-injection": "enabled"}, {"istio.io/rev": REV}, True)]
    assert result["namespaces"][0]["injection"] == {
        "revision": REV,
        "reason": "webhook istio-sidecar-injector-asm-173-3/rev.namespace.sidecar-injector.istio.io (revision "
                  "asm-173-3)"}
    assert result["diff"] == [
        {"before_header": "namespace/demo labels", "after_header": "namespace/demo labels", "before": {},
         "after": {"istio.io/rev": REV}},
        {"before_header": "namespace/legacy labels", "after_header": "namespace/legacy labels",
         "before": {"istio-injection": "enabled"}, "after": {"istio.io/rev": REV}}]


def test_run_idempotent_and_check_mode_write_nothing():
    client = FakeClient({"demo": {"istio.io/rev": REV}, "shop": {}})
    result = namespaces.run(client, inject_params(namespaces=["demo"]))
    assert result["changed"] is False and client.writes() == []
    result = namespaces.run(client, inject_params(namespaces=["shop"]), check_mode=True)
    assert result["changed"] is True and client.writes() == []
    result = namespaces.run(client, inject_params(namespaces=["ghost"], create=True), check_mode=True)
    assert result["created"] == ["ghost"] and client.writes() == []
    # check mode sends what it would write as server-side dry runs (review finding 15)
    assert client.dry_runs() == [("PATCH", "/api/v1/namespaces/shop"), ("POST", "/api/v1/namespaces")]


def test_named_namespaces_are_read_by_name_not_listed_cluster_wide():
    """A namespace admin (RoleBindings only) can get its namespace but not list namespaces (review finding 16)."""
    client = FakeClient(SEED)
    namespaces.run(client, inject_params(namespaces=["demo", "legacy"]))
    reads = [r[:3] for r in client.requests if r[0] in ("GET", "LIST") and "mutatingwebhook" not in r[1]]
    assert reads == [("GET", "/api/v1/namespaces/demo", None), ("GET", "/api/v1/namespaces/legacy", None)]
    client = FakeClient(SEED)
    namespaces.run(client, inject_params(namespaces=["demo"], namespace_selector="istio-injection=enabled"))
    reads = [r[:3] for r in client.requests if r[0] in ("GET", "LIST") and "mutatingwebhook" not in r[1]]
    assert reads == [("LIST", "/api/v1/namespaces", "istio-injection=enabled"),
                     ("GET", "/api/v1/namespaces/demo", None)]


def test_run_create():
    client = FakeClient({})
    result = namespaces.run(client, inject_params(namespaces=["fresh"], create=True))
    assert result["created"] == ["fresh"]
    assert client.writes() == [("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "fresh", "labels": {"istio.io/rev": REV}}}, None)]


def test_run_absent_returns_previous_labels():
    client = FakeClient({"demo": {"istio.io/rev": REV, "team": "a"}, "legacy": {"istio-injection": "enabled"}})
    result = namespaces.run(client, inject_params(state="absent", revision=None, namespaces=["demo", "legacy"]))
    assert result["revision"] is None
    assert [(n["name"], n["previous_labels"], n["labels"]) for n in result["namespaces"]] == [
        ("demo", {"istio.io/rev": REV}, {}), ("legacy", {"istio-injection": "enabled"}, {})]
    assert [w[2] for w in client.writes()] == [{"metadata": {"labels": {"istio.io/rev": None}}},
                                               {"metadata": {"labels": {"istio-injection": None}}}]
    assert not any(r[1].endswith("mutatingwebhookconfigurations") for r in client.requests)


def test_run_ambient_skipped_and_both_labels_warned():
    client = FakeClient({"mesh": {"istio.io/dataplane-mode": "ambient"},
                         "mixed": {"istio-injection": "enabled", "istio.io/rev": REV}})
    result = namespaces.run(client, inject_params(namespaces=["mesh", "mixed"]))
    mesh, mixed = result["namespaces"]
    assert (mesh["skipped"], mesh["changed"], mesh["reason"]) == (
        True, False, "ambient namespace (istio.io/dataplane-mode=ambient): no sidecars")
    assert mixed["changed"] is True
    assert result["warnings"] == [
        "Namespace mesh is in ambient mode (istio.io/dataplane-mode=ambient); skipped.",
        "Namespace mixed carried both istio-injection=enabled and istio.io/rev=asm-173-3: istio-injection wins, so "
        "istio.io/rev was ignored."]
    assert [w[1] for w in client.writes()] == ["/api/v1/namespaces/mixed"]


def test_run_unknown_revision_refused_unless_forced():
    client = FakeClient(SEED)
    with pytest.raises(SelectionError) as err:
        namespaces.run(client, inject_params(revision="asm-managed", namespaces=["demo"]))
    assert str(err.value) == (
        "Revision 'asm-managed' is unknown to the cluster: no active injector webhook serves it, so pods in the "
        "labelled namespaces would silently come up without a sidecar. Known revisions and tags: asm-173-3. Set "
        "force: true to label anyway.")
    assert client.writes() == []
    result = namespaces.run(client, inject_params(revision="asm-managed", namespaces=["demo"], force=True))
    assert result["changed"] is True
    assert result["warnings"][0].startswith("Revision 'asm-managed' is unknown to the cluster")
    assert len(client.writes()) == 1


def test_run_refuses_a_namespace_istio_never_injects():
    client = FakeClient(SEED)
    with pytest.raises(SelectionError) as err:
        namespaces.run(client, inject_params(namespaces=["demo", "kube-system"]))
    assert str(err.value) == (
        "After labelling, no injector webhook would inject revision asm-173-3 into: kube-system: Istio never injects "
        "into kube-system. Nothing was changed. Fix the revision or the labels, or set force: true.")
    assert client.writes() == []  # demo was fine, but a refusal leaves every namespace untouched


@pytest.mark.parametrize("overrides,message", [
    ({"namespaces": []}, "No namespaces selected: give namespaces (a list of names) and/or namespace_selector"),
    ({"namespaces": ["ghost", "demo"]}, "Namespaces that do not exist: ghost. Create them first, fix the names, or "
                                        "set create: true."),
    ({"namespaces": ["demo"], "exclude": ["demo"]}, "No namespaces selected after exclusions: demo (excluded)."),
    ({"namespace_selector": "team=none"}, "No namespaces selected after exclusions: nothing matched. Matched by "
                                          "namespace_selector 'team=none': no namespace."),
    ({"namespaces": ["Demo"]}, "namespaces contains invalid namespace names: 'Demo'."),
    ({"revision": None, "namespaces": ["demo"]}, "state=present needs revision"),
])
def test_run_selection_errors(overrides, message):
    client = FakeClient(SEED)
    with pytest.raises(SelectionError) as err:
        namespaces.run(client, inject_params(**overrides))
    assert str(err.value).startswith(message)
    assert client.writes() == []


def test_run_selector_system_namespaces_listed_in_not_selected():
    client = FakeClient(dict((n, {"team": "a"}) for n in ("shop", "kube-system", "istio-system", "gmp-system")))
    result = namespaces.run(client, inject_params(namespace_selector="team=a"))
    assert [n["name"] for n in result["namespaces"]] == ["shop"]
    assert [s["name"] for s in result["not_selected"]] == ["gmp-system", "istio-system", "kube-system"]
    assert "skipped" not in result  # Ansible would read a top-level `skipped` as a skipped task


def test_run_malformed_selector():
    client = FakeClient(SEED, selector_error="unable to parse requirement: 'a in (b'")
    with pytest.raises(SelectionError) as err:
        namespaces.run(client, inject_params(namespace_selector="a=b"))
    assert str(err.value).startswith("namespace_selector 'a=b' is not a valid label selector (unable to parse "
                                     "requirement: 'a in (b'). Valid forms: 'key=value'")

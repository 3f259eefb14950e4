# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Injector webhooks and Istio's label precedence (istio-discovery templates/mutatingwebhook.yaml,
istioctl x check-inject), evaluated without a cluster."""

from __future__ import annotations

import pytest

from ansible_collections.servicemesh.asm.plugins.module_utils import webhooks
from ansible_collections.servicemesh.asm.plugins.module_utils.webhooks import (
    check_inject, injector_webhooks, is_injector_configuration, no_match_reason, selector_matches,
    with_planned_tags)

from ansible_collections.servicemesh.asm.tests.unit.plugins.module_utils.istio_objects import (
    expr, injector_mwc,
)

OLD, NEW = "asm-173-3", "asm-1162-2"
URL = "https://meshconfig.googleapis.com/v1alpha1/projects/p/locations/l/clusters/c/channels/rapid/targets/x:inject"


def canary_hooks():
    """Two revisions and the `default` tag on the old one, like kubesim's canary scenario."""
    return injector_webhooks([injector_mwc(OLD), injector_mwc(NEW), injector_mwc(OLD, tag="default")])


def revisioned_hooks():
    """The seed: one revisioned install, no default revision."""
    return injector_webhooks([injector_mwc(OLD)])


# -- selector_matches: metav1.LabelSelector semantics --------------------------------------------


@pytest.mark.parametrize("selector", [None, {}, {"matchLabels": {}, "matchExpressions": []}])
def test_missing_or_empty_selector_matches_everything(selector):
    assert selector_matches(selector, {}) is True
    assert selector_matches(selector, {"a": "b"}) is True
    assert selector_matches(selector, None) is True


def test_match_labels_need_every_pair():
    selector = {"matchLabels": {"app": "istiod", "istio": "istiod"}}
    assert selector_matches(selector, {"app": "istiod", "istio": "istiod", "x": "y"}) is True
    assert selector_matches(selector, {"app": "istiod"}) is False
    assert selector_matches(selector, {"app": "istiod", "istio": "pilot"}) is False
    assert selector_matches(selector, None) is False


@pytest.mark.parametrize("operator,values,labels,expected", [
    ("In", ["a", "b"], {"k": "a"}, True),
    ("In", ["a", "b"], {"k": "c"}, False),
    ("In", ["a"], {}, False),                      # In needs the key
    ("NotIn", ["false"], {}, True),                # NotIn matches an absent key
    ("NotIn", ["false"], {"k": "false"}, False),
    ("NotIn", ["false"], {"k": "true"}, True),
    ("Exists", [], {"k": ""}, True),
    ("Exists", [], {}, False),
    ("DoesNotExist", [], {}, True),
    ("DoesNotExist", [], {"k": "x"}, False),
    ("Gt", ["1"], {"k": "2"}, False),              # not a LabelSelector operator: never matches
])
def test_match_expressions_operators(operator, values, labels, expected):
    assert selector_matches({"matchExpressions": [expr("k", operator, *values)]}, labels) is expected


def test_match_labels_and_expressions_are_anded():
    selector = {"matchLabels": {"env": "prod"}, "matchExpressions": [expr("team", "In", "a", "b")]}
    assert selector_matches(selector, {"env": "prod", "team": "a"}) is True
    assert selector_matches(selector, {"env": "prod", "team": "c"}) is False
    assert selector_matches(selector, {"env": "dev", "team": "a"}) is False


# -- injector_webhooks / is_injector_configuration -------------------------------------------------


def test_injector_webhooks_records_in_api_server_call_order():
    foreign = {"metadata": {"name": "cert-manager-webhook", "labels": {}},
               "webhooks": [{"name": "webhook.cert-manager.io", "clientConfig": {}}]}
    mwc_old = injector_mwc(OLD)
    mwc_old["webhooks"].append({"name": "validation.example.com", "clientConfig": {"url": "https://x"}})
    hooks = injector_webhooks([injector_mwc(OLD, tag="default"), mwc_old, injector_mwc(NEW), foreign])
    # sorted by configuration name, webhooks in their order; only *.sidecar-injector.istio.io ones
    assert [(h["configuration"], h["name"]) for h in hooks] == [
        ("istio-revision-tag-default", "rev.namespace.sidecar-injector.istio.io"),
        ("istio-revision-tag-default", "rev.object.sidecar-injector.istio.io"),
        ("istio-revision-tag-default", "namespace.sidecar-injector.istio.io"),
        ("istio-revision-tag-default", "object.sidecar-injector.istio.io"),
        ("istio-sidecar-injector-asm-1162-2", "rev.namespace.sidecar-injector.istio.io"),
        ("istio-sidecar-injector-asm-1162-2", "rev.object.sidecar-injector.istio.io"),
        ("istio-sidecar-injector-asm-173-3", "rev.namespace.sidecar-injector.istio.io"),
        ("istio-sidecar-injector-asm-173-3", "rev.object.sidecar-injector.istio.io"),
    ]
    tag_hook, new_hook = hooks[0], hooks[4]
    assert (tag_hook["revision"], tag_hook["tag"]) == (OLD, "default")
    assert (new_hook["revision"], new_hook["tag"]) == (NEW, None)
    assert new_hook["endpoint"] == "istiod-asm-1162-2.istio-system"
    assert new_hook["failure_policy"] == "Fail"
    assert new_hook["deactivated"] is False
    assert new_hook["namespace_selector"]["matchExpressions"][0] == expr("istio.io/rev", "In", NEW)


def test_injector_webhooks_url_endpoint_failure_policy_and_unlabelled_revision():
    managed = injector_mwc("asm-managed-rapid", name="istiod-asm-managed-rapid", url=URL, failure_policy="Ignore")
    unrevisioned = injector_mwc(None)
    del unrevisioned["metadata"]["labels"]["istio.io/rev"]  # very old installs carry no istio.io/rev label
    for hook in unrevisioned["webhooks"]:
        del hook["failurePolicy"]                            # the API server's default is Fail
    hooks = injector_webhooks([managed, unrevisioned])
    assert {h["endpoint"] for h in hooks if h["configuration"] == "istiod-asm-managed-rapid"} == {URL}
    assert {h["failure_policy"] for h in hooks if h["configuration"] == "istiod-asm-managed-rapid"} == {"Ignore"}
    old = [h for h in hooks if h["configuration"] == "istio-sidecar-injector"]
    assert len(old) == 4
    assert {h["revision"] for h in old} == {"default"}
    assert {h["failure_policy"] for h in old} == {"Fail"}
    assert old[0]["endpoint"] == "istiod.istio-system"


def test_injector_webhooks_marks_deactivated():
    hooks = injector_webhooks([injector_mwc(None, deactivated=True), injector_mwc(OLD)])
    assert {(h["configuration"], h["deactivated"]) for h in hooks} == {
        ("istio-sidecar-injector", True), ("istio-sidecar-injector-asm-173-3", False)}


def test_is_injector_configuration():
    assert is_injector_configuration(injector_mwc(OLD)) is True
    unlabelled = injector_mwc(OLD)
    unlabelled["metadata"]["labels"] = {}
    assert is_injector_configuration(unlabelled) is True      # recognised by its webhook names
    assert is_injector_configuration({"metadata": {"name": "istio-revision-tag-x", "labels": {"istio.io/rev": OLD}},
                                      "webhooks": []}) is True  # istioctl tag list: MWCs with istio.io/rev
    assert is_injector_configuration({"metadata": {"name": "cert-manager-webhook"},
                                      "webhooks": [{"name": "webhook.cert-manager.io"}]}) is False


# -- check_inject: Istio's label precedence --------------------------------------------------------


def test_namespace_rev_label_selects_its_revision():
    revision, matched, reason = check_inject(canary_hooks(), "payments", {"istio.io/rev": NEW})
    assert revision == NEW
    assert [(m["configuration"], m["name"]) for m in matched] == [
        ("istio-sidecar-injector-asm-1162-2", "rev.namespace.sidecar-injector.istio.io")]
    assert reason == "webhook istio-sidecar-injector-asm-1162-2/rev.namespace.sidecar-injector.istio.io (revision " \
                     "asm-1162-2)"


def test_namespace_rev_label_with_a_tag_resolves_to_the_tag_target():
    revision, matched, reason = check_inject(canary_hooks(), "shop", {"istio.io/rev": "default"})
    assert revision == OLD
    assert len(matched) == 1
    assert reason == "webhook istio-revision-tag-default/rev.namespace.sidecar-injector.istio.io (revision " \
                     "asm-173-3, tag default)"


def test_planned_tags_repoint_the_tag_and_leave_the_rest():
    planned = with_planned_tags(canary_hooks(), {"default": NEW})
    assert check_inject(planned, "shop", {"istio.io/rev": "default"})[0] == NEW
    assert check_inject(planned, "legacy", {"istio-injection": "enabled"})[0] == NEW  # the default tag's extra hooks
    assert check_inject(planned, "shop", {"istio.io/rev": OLD})[0] == OLD  # the revision's own webhooks stay
    assert check_inject(canary_hooks(), "shop", {"istio.io/rev": "default"})[0] == OLD  # not changed in place
    assert with_planned_tags(canary_hooks(), None) == canary_hooks()


def test_istio_injection_enabled_uses_the_default_revision():
    revision, matched, reason = check_inject(canary_hooks(), "legacy", {"istio-injection": "enabled"})
    assert revision == OLD
    assert [m["name"] for m in matched] == ["namespace.sidecar-injector.istio.io"]
    assert "tag default" in reason


def test_both_labels_istio_injection_wins_and_the_default_injects():
    # istio-injection beats istio.io/rev: the namespace asks for asm-1162-2 but the default (asm-173-3) injects
    revision, matched, reason = check_inject(canary_hooks(), "mixed", {"istio-injection": "enabled",
                                                                       "istio.io/rev": NEW})
    assert revision == OLD
    assert [m["configuration"] for m in matched] == ["istio-revision-tag-default"]


def test_both_labels_without_a_default_inject_nothing():
    revision, matched, reason = check_inject(revisioned_hooks(), "mixed", {"istio-injection": "enabled",
                                                                           "istio.io/rev": OLD})
    assert (revision, matched) == (None, [])
    assert reason == ("istio-injection=enabled overrides istio.io/rev=asm-173-3 and no default revision serves it: "
                      "remove the istio-injection label")


def test_istio_injection_disabled_cannot_be_overridden():
    hooks = canary_hooks()
    for ns_labels, pod_labels in (({"istio-injection": "disabled"}, {}),
                                  ({"istio-injection": "disabled", "istio.io/rev": NEW}, {}),
                                  ({"istio-injection": "disabled"}, {"istio.io/rev": NEW}),
                                  ({"istio-injection": "disabled"}, {"sidecar.istio.io/inject": "true"})):
        revision, matched, reason = check_inject(hooks, "off", ns_labels, pod_labels)
        assert (revision, matched) == (None, []), (ns_labels, pod_labels)
        assert reason == "istio-injection=disabled disables injection and cannot be overridden"


def test_pod_rev_label_in_an_unlabelled_namespace():
    revision, matched, reason = check_inject(canary_hooks(), "unlabelled", {}, {"istio.io/rev": NEW})
    assert revision == NEW
    assert [m["name"] for m in matched] == ["rev.object.sidecar-injector.istio.io"]


def test_namespace_rev_beats_the_pods():
    revision, matched, reason = check_inject(canary_hooks(), "shop", {"istio.io/rev": OLD}, {"istio.io/rev": NEW})
    assert revision == OLD
    assert [(m["configuration"], m["name"]) for m in matched] == [
        ("istio-sidecar-injector-asm-173-3", "rev.namespace.sidecar-injector.istio.io")]


def test_pod_opt_out_label():
    revision, matched, reason = check_inject(canary_hooks(), "shop", {"istio.io/rev": OLD},
                                             {"sidecar.istio.io/inject": "false"})
    assert (revision, matched) == (None, [])
    assert reason == "the pod opts out with the label sidecar.istio.io/inject=false"
    revision, matched, reason = check_inject(canary_hooks(), "legacy", {"istio-injection": "enabled"},
                                             {"sidecar.istio.io/inject": "false"})
    assert revision is None
    assert reason == "the pod opts out with the label sidecar.istio.io/inject=false"


def test_pod_opt_in_label_needs_a_default_revision():
    revision, matched, reason = check_inject(canary_hooks(), "unlabelled", {}, {"sidecar.istio.io/inject": "true"})
    assert revision == OLD
    assert [m["name"] for m in matched] == ["object.sidecar-injector.istio.io"]
    revision, matched, reason = check_inject(revisioned_hooks(), "unlabelled", {}, {"sidecar.istio.io/inject": "true"})
    assert (revision, matched) == (None, [])
    assert reason == "the namespace has neither istio.io/rev nor istio-injection"


def test_no_default_revision():
    revision, matched, reason = check_inject(revisioned_hooks(), "legacy", {"istio-injection": "enabled"})
    assert (revision, matched) == (None, [])
    assert reason == ("istio-injection=enabled but there is no default revision (no `default` tag or unrevisioned "
                      "install)")


def test_unrevisioned_install_is_the_default():
    revision, matched, reason = check_inject(injector_webhooks([injector_mwc(None)]), "legacy",
                                             {"istio-injection": "enabled"})
    assert revision == "default"
    assert reason == "webhook istio-sidecar-injector/namespace.sidecar-injector.istio.io (revision default)"


def test_unknown_revision_lists_the_known_ones():
    revision, matched, reason = check_inject(canary_hooks(), "orders", {"istio.io/rev": "asm-managed"})
    assert (revision, matched) == (None, [])
    assert reason == ("no active injector serves istio.io/rev=asm-managed (known revisions and tags: asm-1162-2, "
                      "asm-173-3, default)")


def test_unknown_pod_revision_names_the_pod_label():
    revision, matched, reason = check_inject(canary_hooks(), "unlabelled", {}, {"istio.io/rev": "asm-999"})
    assert revision is None
    assert reason == ("the namespace has neither istio.io/rev nor istio-injection, and no active injector serves the "
                      "pod label istio.io/rev=asm-999 (known revisions and tags: asm-1162-2, asm-173-3, default)")


def test_deactivated_tag_never_injects_and_is_not_listed_as_known():
    hooks = injector_webhooks([injector_mwc(OLD), injector_mwc(NEW, tag="prod", deactivated=True)])
    revision, matched, reason = check_inject(hooks, "shop", {"istio.io/rev": "prod"})
    assert (revision, matched) == (None, [])
    assert reason == "no active injector serves istio.io/rev=prod (known revisions and tags: asm-173-3)"


def test_no_injector_webhooks_at_all():
    assert check_inject([], "demo", {"istio.io/rev": OLD}) == (
        None, [], "there are no Istio injector webhooks in the cluster")


@pytest.mark.parametrize("name", ["kube-system", "kube-public", "kube-node-lease", "local-path-storage"])
def test_istio_never_injects_into_its_ignored_namespaces(name):
    # istio/istio pkg/kube/inject/initializer.go IgnoredNamespaces: the webhook is called but skips the pod
    revision, matched, reason = check_inject(canary_hooks(), name, {"istio.io/rev": OLD})
    assert revision is None
    assert len(matched) == 1
    assert reason == "Istio never injects into %s" % name
    assert set(webhooks.IGNORED_NAMESPACES) == {"kube-system", "kube-public", "kube-node-lease", "local-path-storage"}


def test_several_matching_injectors_last_one_wins_and_is_reported():
    # an unrevisioned install left active beside a `default` tag: both namespace. webhooks match
    hooks = injector_webhooks([injector_mwc(None), injector_mwc(OLD, tag="default")])
    revision, matched, reason = check_inject(hooks, "legacy", {"istio-injection": "enabled"})
    assert [m["configuration"] for m in matched] == ["istio-revision-tag-default", "istio-sidecar-injector"]
    assert revision == "default"
    assert reason.endswith("; 2 injector webhooks match, which is a misconfiguration")


def test_the_api_server_adds_the_metadata_name_label():
    mwc = injector_mwc(OLD)
    for hook in mwc["webhooks"]:
        hook["namespaceSelector"]["matchExpressions"].append(expr("kubernetes.io/metadata.name", "NotIn", "skipme"))
    hooks = injector_webhooks([mwc])
    assert check_inject(hooks, "demo", {"istio.io/rev": OLD})[0] == OLD
    assert check_inject(hooks, "skipme", {"istio.io/rev": OLD})[0] is None


def test_no_match_reason_without_pod_labels_keeps_namespace_reasons():
    hooks = canary_hooks()
    assert no_match_reason(hooks, {}) == "the namespace has neither istio.io/rev nor istio-injection"
    assert no_match_reason(hooks, {"istio-injection": "off"}) == (
        "istio-injection=off disables injection and cannot be overridden")

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""asm_revision_tag's logic without a cluster: the tag webhook as istioctl/pkg/tag/generate.go renders it
from the revision's canonical webhook (revision-tags-mwc.yaml), the tag Service (revision-tags-svc.yaml),
comparison under the API server's defaults, who uses a tag, and run() with a fake client."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.servicemesh.asm.plugins.module_utils import revision_tag as rt
from ansible_collections.servicemesh.asm.plugins.module_utils.client import KubeError
from ansible_collections.servicemesh.asm.tests.unit.plugins.module_utils.istio_objects import (
    expr, injector_mwc, istiod_pod)

OLD, NEW = "asm-173-3", "asm-1162-2"
CA = "LS0tLS1CRUdJTi1DRVJUSUZJQ0FURS0tLS0t"


def canonical(revision=NEW, url=None, ca=CA, reinvocation=None, **labels):
    """A revision's injector configuration as istioctl/helm installs it (mutatingwebhook.yaml labels)."""
    mwc = injector_mwc(revision, url=url)
    mwc["metadata"]["labels"].update({"install.operator.istio.io/owning-resource": "unknown",
                                      "operator.istio.io/component": "Pilot", "release": "istio",
                                      "app.kubernetes.io/name": "istiod", "app.kubernetes.io/version": "1.0.0",
                                      "helm.sh/chart": "istiod-1.0.0"}, **labels)
    for hook in mwc["webhooks"]:
        hook["clientConfig"]["caBundle"] = ca
        hook["sideEffects"] = "None"
        if reinvocation:
            hook["reinvocationPolicy"] = reinvocation
    return mwc


def stored(mwc):
    """What the API server stores: admissionregistration/v1 defaults applied, metadata added."""
    out = copy.deepcopy(mwc)
    out["metadata"].update(resourceVersion="42", uid="u-1", creationTimestamp="2026-12-01T00:00:00Z", generation=1)
    for hook in out["webhooks"]:
        hook.setdefault("matchPolicy", "Equivalent")
        hook.setdefault("timeoutSeconds", 10)
        hook.setdefault("reinvocationPolicy", "Never")
        for rule in hook["rules"]:
            rule.setdefault("scope", "*")
        if "service" in hook["clientConfig"]:
            hook["clientConfig"]["service"].setdefault("port", 443)
    return out


# -- the tag webhook ---------------------------------------------------------------------------------------------


def test_tag_webhook_is_revision_tags_mwc_with_the_canonical_endpoint_ca_and_labels():
    desired = rt.desired_webhook(canonical(), "prod", "istio-system")
    meta = desired["metadata"]
    assert meta["name"] == "istio-revision-tag-prod"
    # canonical labels minus app, chart labels, tag labels; operator.istio.io ones dropped (UserManaged)
    assert meta["labels"] == {
        "istio.io/tag": "prod", "istio.io/rev": NEW, "app": "sidecar-injector", "release": "istio",
        "app.kubernetes.io/name": "istiod", "app.kubernetes.io/part-of": "istio",
        "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": "istio",
        "app.kubernetes.io/version": "1.0.0", "helm.sh/chart": "istiod-1.0.0"}
    assert [h["name"] for h in desired["webhooks"]] == ["rev.namespace.sidecar-injector.istio.io",
                                                        "rev.object.sidecar-injector.istio.io"]
    ns_hook, obj_hook = desired["webhooks"]
    assert ns_hook["namespaceSelector"] == {"matchExpressions": [expr("istio.io/rev", "In", "prod"),
                                                                 expr("istio-injection", "DoesNotExist")]}
    assert ns_hook["objectSelector"] == {"matchExpressions": [expr("sidecar.istio.io/inject", "NotIn", "false")]}
    assert obj_hook["objectSelector"]["matchExpressions"][1] == expr("istio.io/rev", "In", "prod")
    for hook in desired["webhooks"]:
        assert hook["clientConfig"] == {"service": {"name": "istiod-" + NEW, "namespace": "istio-system",
                                                    "path": "/inject", "port": 443}, "caBundle": CA}
        assert (hook["failurePolicy"], hook["sideEffects"], hook["reinvocationPolicy"]) == ("Fail", "None", "Never")
        assert hook["admissionReviewVersions"] == ["v1"]


def test_default_tag_gets_the_namespace_and_object_webhooks():
    desired = rt.desired_webhook(canonical(), "default", "istio-system")
    assert [h["name"].split(".")[0] for h in desired["webhooks"]] == ["rev", "rev", "namespace", "object"]
    assert desired["webhooks"][2]["namespaceSelector"] == {"matchExpressions": [
        expr("istio-injection", "In", "enabled")]}
    assert desired["webhooks"][3]["objectSelector"] == {"matchExpressions": [
        expr("sidecar.istio.io/inject", "In", "true"), expr("istio.io/rev", "DoesNotExist")]}


def test_url_webhook_reinvocation_and_annotations_come_from_the_canonical_one():
    source = canonical(url="https://127.0.0.1:15017/inject", reinvocation="IfNeeded")
    source["metadata"]["annotations"] = {"example.com/owner": "mesh-team"}
    desired = rt.desired_webhook(source, "canary", "istio-system")
    assert desired["webhooks"][0]["clientConfig"] == {"url": "https://127.0.0.1:15017/inject", "caBundle": CA}
    assert {h["reinvocationPolicy"] for h in desired["webhooks"]} == {"IfNeeded"}
    assert desired["metadata"]["annotations"] == {"example.com/owner": "mesh-team"}


def test_outside_istio_system_the_name_carries_the_namespace():
    assert rt.webhook_name("prod", "istio-system") == "istio-revision-tag-prod"
    assert rt.webhook_name("prod", "mesh") == "istio-revision-tag-prod-mesh"
    desired = rt.desired_webhook(canonical(), "prod", "mesh")
    assert desired["webhooks"][0]["clientConfig"]["service"]["namespace"] == "mesh"


def test_a_canonical_configuration_without_an_injector_webhook_is_refused():
    broken = canonical()
    broken["webhooks"] = []
    with pytest.raises(rt.TagError, match="no \\*.sidecar-injector.istio.io webhook"):
        rt.desired_webhook(broken, "prod", "istio-system")


def test_tag_service_is_revision_tags_svc():
    istiod_svc = {"metadata": {"labels": {"app": "istiod", "istio.io/rev": NEW, "app.kubernetes.io/version": "1.0.0",
                                          "helm.sh/chart": "istiod-1.0.0"}}}
    svc = rt.desired_service(NEW, "prod", "istio-system", istiod_svc)
    assert svc["metadata"]["name"] == "istiod-revision-tag-prod"
    assert svc["metadata"]["labels"]["istio.io/tag"] == "prod"
    assert svc["metadata"]["labels"]["istio.io/rev"] == NEW
    assert svc["metadata"]["labels"]["helm.sh/chart"] == "istiod-1.0.0"
    assert not [k for k in svc["metadata"]["labels"] if "operator.istio.io" in k]
    assert svc["spec"]["selector"] == {"app": "istiod", "istio.io/rev": NEW}
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [
        ("grpc-xds", 15010), ("https-dns", 15012), ("https-webhook", 443), ("http-monitoring", 15014)]
    assert rt.desired_service("default", "default", "istio-system")["spec"]["selector"] == {
        "app": "istiod", "istio": "pilot"}


def test_default_validator_follows_the_injector_endpoint_and_keeps_a_non_fail_policy():
    desired = rt.desired_validator(canonical(url="https://127.0.0.1:15017/inject"), "istio-system")
    [hook] = desired["webhooks"]
    assert desired["metadata"]["name"] == "istiod-default-validator"
    assert desired["metadata"]["labels"]["istio.io/tag"] == "default"
    assert desired["metadata"]["labels"]["istio.io/rev"] == NEW
    assert desired["metadata"]["labels"]["app"] == "istiod"
    assert hook["clientConfig"] == {"url": "https://127.0.0.1:15017/validate", "caBundle": CA}
    assert hook["failurePolicy"] == "Ignore"  # the chart's, without an existing validator
    existing = {"webhooks": [{"name": "validation.istio.io", "failurePolicy": "Fail"}]}
    assert "failurePolicy" not in rt.desired_validator(canonical(), "istio-system", existing)["webhooks"][0]
    service = rt.desired_validator(canonical(), "istio-system")["webhooks"][0]["clientConfig"]["service"]
    assert service == {"name": "istiod-" + NEW, "namespace": "istio-system", "path": "/validate"}
    current = copy.deepcopy(desired)
    current["webhooks"][0].update(matchPolicy="Equivalent", timeoutSeconds=10)
    assert not rt.validator_differs(current, desired)
    assert rt.validator_differs(rt.desired_validator(canonical(OLD), "istio-system"), desired)


# -- comparison --------------------------------------------------------------------------------------------------


def test_stored_tag_equals_desired_under_the_api_servers_defaults():
    desired = rt.desired_webhook(canonical(), "prod", "istio-system")
    current = stored(desired)
    current["metadata"]["labels"]["added-by-someone"] = "x"  # others' labels are kept, not a difference
    assert not rt.webhook_differs(current, desired)
    current["webhooks"][0]["clientConfig"]["caBundle"] = "rotated-by-istiod"  # istiod owns the caBundle
    assert not rt.webhook_differs(current, desired)


@pytest.mark.parametrize("change", ["revision", "selector", "failure", "missing"])
def test_a_moved_or_changed_tag_differs(change):
    desired = rt.desired_webhook(canonical(), "prod", "istio-system")
    current = stored(rt.desired_webhook(canonical(OLD), "prod", "istio-system")) if change == "revision" \
        else stored(desired)
    if change == "selector":
        current = rt.deactivated(current)
    elif change == "failure":
        current["webhooks"][0]["failurePolicy"] = "Ignore"
    elif change == "missing":
        current = None
    assert rt.webhook_differs(current, desired)


def test_service_comparison_ignores_server_defaults():
    desired = rt.desired_service(NEW, "prod", "istio-system")
    current = copy.deepcopy(desired)
    current["spec"].update(clusterIP="10.0.0.7", type="ClusterIP", sessionAffinity="None")
    for port in current["spec"]["ports"]:
        port.setdefault("targetPort", port["port"])
    assert not rt.service_differs(current, desired)
    moved = rt.desired_service(OLD, "prod", "istio-system")
    assert rt.service_differs(moved, desired)


def test_selectors_view_and_deactivation():
    view = rt.selectors_view(rt.desired_webhook(canonical(), "prod", "istio-system"))
    assert view["revision"] == NEW
    assert sorted(view["webhooks"]) == ["rev.namespace.sidecar-injector.istio.io",
                                        "rev.object.sidecar-injector.istio.io"]
    off = rt.deactivated(injector_mwc(None))
    assert rt.is_deactivated(off) and not rt.is_deactivated(injector_mwc(None))
    assert rt.selectors_view(None) is None


# -- inputs and refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("tag,ok", [("prod", True), ("prod-stable", True), ("1-28", True), ("Prod", False),
                                    ("-x", False), ("a_b", False), ("", False), ("x" * 43, True), ("x" * 44, False)])
def test_tag_syntax(tag, ok):
    assert (rt.validate_tag(tag) is None) is ok


def revisions(*ready):
    return [{"name": name, "ready": up, "istiod": {"ready": int(up), "total": 1}, "version": "1.31.0"}
            for name, up in ready]


def test_unknown_revision_lists_the_known_ones():
    with pytest.raises(rt.TagError, match=r"'nope' is not known.*Known revisions: asm-1162-2, asm-173-3 "
                                          r"\(tags: default -> asm-173-3\)"):
        rt.check_revision("nope", "prod", revisions((NEW, True), (OLD, True)), {"default": OLD}, [])


def test_a_tag_is_not_a_revision():
    with pytest.raises(rt.TagError, match="is a revision tag .-> asm-173-3., not a revision.*Use revision: asm-173-3"):
        rt.check_revision("default", "prod", revisions((OLD, True)), {"default": OLD}, [])


def test_unready_revision_is_refused_unless_allowed():
    with pytest.raises(rt.TagError, match="no ready control plane.*allow_unready"):
        rt.check_revision(NEW, "prod", revisions((NEW, False)), {}, [canonical()])
    assert rt.check_revision(NEW, "prod", revisions((NEW, False)), {}, [canonical()], allow_unready=True)


def test_several_canonical_configurations_are_refused_like_istioctl():
    second = canonical()
    second["metadata"]["name"] = "stray"
    with pytest.raises(rt.TagError, match="several injector MutatingWebhookConfigurations"):
        rt.check_revision(NEW, "prod", revisions((NEW, True)), {}, [canonical(), second])


def test_tag_named_like_a_revision_is_refused_but_default_is_fine():
    mwcs = [canonical(OLD), canonical(NEW)]
    with pytest.raises(rt.TagError, match="cannot create revision tag 'asm-173-3'"):
        rt.check_tag_name(OLD, revisions((OLD, True)), mwcs, [])
    rt.check_tag_name("default", revisions((OLD, True)), mwcs, [])
    rt.check_tag_name("prod", revisions((OLD, True)), mwcs, [])


# -- who uses a tag ----------------------------------------------------------------------------------------------


def ns(name, **labels):
    return {"name": name, "labels": labels, "phase": "Active"}


def test_namespaces_using_a_tag():
    spaces = [ns("shop", **{"istio.io/rev": "prod"}), ns("legacy", **{"istio-injection": "enabled"}),
              ns("pay", **{"istio.io/rev": NEW}), ns("plain")]
    assert rt.namespaces_using("prod", spaces) == ["shop"]
    assert rt.namespaces_using("default", spaces) == ["legacy"]


def pod(namespace, name, **labels):
    return {"metadata": {"namespace": namespace, "name": name, "labels": labels}}


def test_pods_using_a_tag_by_their_own_labels():
    ns_labels = {"plain": {}, "shop": {"istio.io/rev": NEW}}
    pods = [pod("plain", "a", **{"istio.io/rev": "prod"}), pod("plain", "b", **{"sidecar.istio.io/inject": "true"}),
            pod("shop", "c", **{"sidecar.istio.io/inject": "true"})]
    assert rt.pods_using("prod", pods, ns_labels) == ["plain/a"]
    assert rt.pods_using("default", pods, ns_labels) == ["plain/b"]


@pytest.mark.parametrize("mode,version,others,existing,want", [
    ("always", "1.7.3", [], None, True), ("never", "1.31.0", [], None, False),
    ("auto", "1.28.0", [], None, True), ("auto", "1.27.3", [], None, False), ("auto", "1.16.2-asm.2", [], None, False),
    ("auto", None, [], None, False), ("auto", "1.16.2-asm.2", [{"x": 1}], None, True),
    ("auto", "1.7.3", [], {"x": 1}, True)])
def test_when_a_tag_service_is_written(mode, version, others, existing, want):
    assert rt.wants_service(mode, version, others, existing) is want


# -- run() with a fake API -----------------------------------------------------------------------------------


class FakeApi(object):
    """The objects run() lists, in memory; writes are applied unless they are dry runs."""

    def __init__(self, mwcs, namespaces=(), services=(), pods=()):
        self.mwcs = dict((m["metadata"]["name"], stored(m)) for m in mwcs)
        self.namespaces = [{"metadata": {"name": n["name"], "labels": n["labels"]}} for n in namespaces]
        self.services = list(services)
        self.pods = list(pods)
        self.istiods = [istiod_pod(OLD, "a", "1.7.3-asm.3"), istiod_pod(NEW, "b", "1.16.2-asm.2")]
        self.requests = []

    def list(self, path, label_selector=None, field_selector=None, limit=500, transform=None, action=None):
        self.requests.append(("LIST", path, label_selector))
        items = {"mutatingwebhookconfigurations": list(self.mwcs.values()), "namespaces": self.namespaces,
                 "services": self.services, "configmaps": [], "pods": self.istiods if "istio-system" in path
                 else self.pods}.get(path.rsplit("/", 1)[-1])
        if items is None:
            raise KubeError("not found", 404)
        if path.endswith("/pods") and "istio-system" not in path and label_selector:
            key, value = label_selector.split("=")
            items = [p for p in items if p["metadata"]["labels"].get(key) == value]
        return [transform(i) if transform else copy.deepcopy(i) for i in items]

    def request(self, method, path, query=None, body=None, content_type=None, action=None, retry_429=True):
        dry = query == {"dryRun": "All"}
        self.requests.append((method, path, dry))
        if dry or "mutatingwebhookconfigurations" not in path:
            return {}
        name = path.rsplit("/", 1)[-1]
        if method == "POST":
            self.mwcs[body["metadata"]["name"]] = stored(body)
        elif method == "DELETE":
            del self.mwcs[name]
        elif method == "PUT":
            self.mwcs[name] = stored(body)
        elif method == "PATCH":
            current = self.mwcs[name]
            current["metadata"]["labels"].update(body["metadata"]["labels"])
            current["webhooks"] = body["webhooks"]
            self.mwcs[name] = stored(current)
        return {}

    def writes(self):
        return [r for r in self.requests if r[0] not in ("LIST", "GET")]


def params(**over):
    base = {"tag": "prod", "revision": NEW, "state": "present", "force": False, "allow_unready": False,
            "service": "auto", "istio_namespace": "istio-system"}
    base.update(over)
    return base


def test_run_creates_then_changes_nothing_then_moves():
    api = FakeApi([canonical(OLD), canonical(NEW)], namespaces=[ns("shop", **{"istio.io/rev": "prod"})])
    result = rt.run(api, params(), want_diff=True)
    assert result["changed"] and result["actions"] == ["created mutatingwebhookconfiguration istio-revision-tag-prod "
                                                       "-> asm-1162-2"]
    assert (result["previous_revision"], result["revision"], result["namespaces"]) == (None, NEW, ["shop"])
    assert result["diff"]["before"]["webhook"] is None and result["diff"]["after"]["webhook"]["revision"] == NEW
    assert result["service"] is None  # 1.16/1.7 istiods and no tag Services: this Istio writes none
    again = rt.run(api, params())
    assert not again["changed"] and again["actions"] == []
    moved = rt.run(api, params(revision=OLD), want_diff=True)
    assert moved["actions"] == ["moved mutatingwebhookconfiguration istio-revision-tag-prod from asm-1162-2 to "
                                "asm-173-3"]
    before, after = moved["diff"]["before"]["webhook"], moved["diff"]["after"]["webhook"]
    assert (before["revision"], after["revision"]) == (NEW, OLD)
    assert api.mwcs["istio-revision-tag-prod"]["metadata"]["labels"]["istio.io/rev"] == OLD


def test_check_mode_sends_only_dry_runs():
    api = FakeApi([canonical(OLD), canonical(NEW)])
    result = rt.run(api, params(service="always"), check_mode=True)
    assert result["changed"] and len(result["actions"]) == 2
    assert api.writes() and all(dry for _m, _p, dry in api.writes())
    assert "istio-revision-tag-prod" not in api.mwcs


def test_default_tag_deactivates_the_unrevisioned_injector():
    api = FakeApi([injector_mwc(None), canonical(NEW)])
    result = rt.run(api, params(tag="default"))
    assert result["actions"][0] == "deactivated mutatingwebhookconfiguration istio-sidecar-injector"
    assert rt.is_deactivated(api.mwcs["istio-sidecar-injector"])
    assert not rt.run(api, params(tag="default"))["changed"]


def test_absent_refuses_while_used_then_force_removes():
    api = FakeApi([canonical(OLD), canonical(NEW), injector_mwc(NEW, tag="prod")],
                  namespaces=[ns("shop", **{"istio.io/rev": "prod"}), ns("plain")],
                  pods=[pod("plain", "job-1", **{"istio.io/rev": "prod"})])
    with pytest.raises(rt.TagError, match="still used by namespaces shop and pods plain/job-1.*force: true") as err:
        rt.run(api, params(state="absent", revision=None))
    assert err.value.result["namespaces"] == ["shop"] and not api.writes()
    result = rt.run(api, params(state="absent", revision=None, force=True))
    assert result["actions"] == ["deleted mutatingwebhookconfiguration istio-revision-tag-prod"]
    assert result["previous_revision"] == NEW and result["warnings"]
    assert not rt.run(api, params(state="absent", revision=None))["changed"]


def test_invalid_tag_is_refused_before_any_request():
    api = FakeApi([])
    with pytest.raises(rt.TagError, match="tag 'Prod' is not valid"):
        rt.run(api, params(tag="Prod"))
    assert api.requests == []

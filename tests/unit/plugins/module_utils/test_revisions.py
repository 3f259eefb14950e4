# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Control-plane discovery and the revision choice, on hand-made inventories."""

from __future__ import annotations

import calendar
import json
import time

import pytest

from ansible_collections.servicemesh.asm.plugins.module_utils import revisions
from ansible_collections.servicemesh.asm.plugins.module_utils.client import KubeError
from ansible_collections.servicemesh.asm.plugins.module_utils.revisions import (
    RevisionError, build_revisions, choose_revision, human_age, image_version, injector_values, pod_row, tag_rows,
    tag_warnings, version_key)
from ansible_collections.servicemesh.asm.plugins.module_utils.webhooks import injector_webhooks

from ansible_collections.servicemesh.asm.tests.unit.plugins.module_utils.istio_objects import (
    cpr, injector_configmap, injector_mwc, inventory, istiod_pod, namespace,
)

OLD, NEW = "asm-173-3", "asm-1162-2"
NOW = calendar.timegm(time.strptime("2026-11-25T11:00:00Z", "%Y-%m-%dT%H:%M:%SZ"))  # 23 h after the pods
URL = "https://meshconfig.googleapis.com/v1alpha1/projects/p/locations/l/clusters/c/channels/rapid/targets/x:inject"


def by_name(revs):
    return dict((r["name"], r) for r in revs)


def seed_inventory():
    return inventory(
        pods=[istiod_pod(OLD, "t7st2", "1.7.3-asm.3"), istiod_pod(OLD, "87dlf", "1.7.3-asm.3")],
        mwcs=[injector_mwc(OLD)],
        configmaps=[injector_configmap(OLD, tag="1.7.3-asm.3", native="false")],
        namespaces=[namespace("default"), namespace("demo"), namespace("legacy", {"istio-injection": "enabled"}),
                    namespace("istio-system")])


def canary_inventory():
    return inventory(
        pods=[istiod_pod(OLD, "a", "1.7.3-asm.3"), istiod_pod(OLD, "b", "1.7.3-asm.3"),
              istiod_pod(NEW, "c", "1.16.2-asm.2", template_hash="7f9c6d8b44"),
              istiod_pod(NEW, "d", "1.16.2-asm.2", template_hash="7f9c6d8b44")],
        mwcs=[injector_mwc(OLD), injector_mwc(NEW), injector_mwc(OLD, tag="default")],
        configmaps=[injector_configmap(OLD, tag="1.7.3-asm.3"), injector_configmap(NEW, tag="1.16.2-asm.2")],
        namespaces=[namespace("shop", {"istio.io/rev": OLD}), namespace("payments", {"istio.io/rev": NEW}),
                    namespace("legacy", {"istio-injection": "enabled"}), namespace("unlabelled"),
                    namespace("tagged", {"istio.io/rev": "default"}),
                    # istio-injection beats istio.io/rev; a value other than enabled disables injection
                    namespace("off", {"istio-injection": "disabled", "istio.io/rev": NEW}),
                    namespace("both", {"istio-injection": "enabled", "istio.io/rev": NEW})])


def managed_inventory(with_cpr=True, provisioned=True):
    return inventory(
        mwcs=[injector_mwc("asm-managed-rapid", name="istiod-asm-managed-rapid", url=URL, failure_policy="Ignore"),
              injector_mwc("asm-managed-rapid", tag="default", url=URL, failure_policy="Ignore")],
        configmaps=[injector_configmap("asm-managed-rapid", tag="1.23.4-asm.1")],
        namespaces=[namespace("store", {"istio.io/rev": "asm-managed-rapid"}),
                    namespace("orders", {"istio.io/rev": "asm-managed"}), namespace("web")],
        cprs=[cpr("asm-managed-rapid", "RAPID", provisioned)] if with_cpr else [])


# -- version_key / image_version -----------------------------------------------------------------


@pytest.mark.parametrize("text,key", [
    ("1.7.3-asm.3", (1, 7, 3, 3)),
    ("1.16.2-asm.2", (1, 16, 2, 2)),
    ("v1.20.1", (1, 20, 1, 0)),
    ("1.22", (1, 22, 0, 0)),
    ("1.23.4-asm.1-distroless", (1, 23, 4, 1)),
    ("asm-173-3", None),     # an ASM revision name is not a version
    ("asm-1162-2", None),
    ("asm-managed-rapid", None),
    ("latest", None),
    ("sha256:0123abcd", None),
    ("", None),
    (None, None),
])
def test_version_key(text, key):
    assert version_key(text) == key


def test_version_keys_compare_numerically():
    assert version_key("1.16.2-asm.2") > version_key("1.7.3-asm.3")  # "1.16" > "1.7" as numbers, not text
    assert version_key("1.16.2-asm.10") > version_key("1.16.2-asm.9")
    assert version_key("1.16.2-asm.2") > version_key("1.16.2")


@pytest.mark.parametrize("image,tag", [
    ("gcr.io/gke-release/asm/pilot:1.7.3-asm.3", "1.7.3-asm.3"),
    ("registry.example.com:5000/istio/pilot:1.20.1", "1.20.1"),       # a registry port is not a tag
    ("registry.example.com:5000/istio/pilot", None),
    ("gcr.io/gke-release/asm/pilot@sha256:" + "a" * 64, None),        # digest only: no version
    ("gcr.io/gke-release/asm/pilot:1.16.2-asm.2@sha256:" + "b" * 64, "1.16.2-asm.2"),
    ("localhost:5000/pilot:1.22.0-distroless", "1.22.0-distroless"),
    ("pilot", None),
    ("", None),
    (None, None),
])
def test_image_version(image, tag):
    assert image_version(image) == tag


# -- human_age: apimachinery duration.HumanDuration (kubectl's AGE column) --------------------------


@pytest.mark.parametrize("seconds,text", [
    (-5, "0s"), (0, "0s"), (59, "59s"), (119, "119s"),
    (120, "2m"), (125, "2m5s"), (599, "9m59s"), (600, "10m"), (179 * 60 + 59, "179m"),
    (3 * 3600, "3h"), (3 * 3600 + 5 * 60, "3h5m"), (7 * 3600 + 59 * 60, "7h59m"),
    (8 * 3600, "8h"), (23 * 3600 + 59 * 60, "23h"), (47 * 3600, "47h"),
    (48 * 3600, "2d"), (49 * 3600, "2d1h"), (7 * 86400 + 23 * 3600, "7d23h"),
    (8 * 86400, "8d"), (8 * 86400 + 5 * 3600, "8d"), (729 * 86400, "729d"),
    (730 * 86400, "2y"), (731 * 86400, "2y1d"), (3 * 365 * 86400 + 10 * 86400, "3y10d"),
    (8 * 365 * 86400 + 20 * 86400, "8y"),
])
def test_human_age(seconds, text):
    assert human_age(seconds) == text


# -- injector_values ---------------------------------------------------------------------------------


def test_injector_values_image_and_native_mode():
    assert injector_values(injector_configmap(OLD, tag="1.7.3-asm.3", native="false")) == (
        "gcr.io/gke-release/asm/proxyv2:1.7.3-asm.3", "false")
    assert injector_values(injector_configmap(NEW, hub="docker.io/istio", tag="1.27.1", native=True)) == (
        "docker.io/istio/proxyv2:1.27.1", "true")
    assert injector_values(injector_configmap(NEW, tag="1.27.1"))[1] is None


def test_injector_values_variant_numeric_tag_and_full_image():
    values = {"global": {"hub": "docker.io/istio", "tag": "1.22.0", "variant": "distroless",
                         "proxy": {"image": "proxyv2"}}, "pilot": {"env": {"ENABLE_NATIVE_SIDECARS": "auto"}}}
    assert injector_values({"data": {"values": json.dumps(values)}}) == (
        "docker.io/istio/proxyv2:1.22.0-distroless", "auto")
    values["global"]["variant"] = "default"
    assert injector_values({"data": {"values": json.dumps(values)}})[0] == "docker.io/istio/proxyv2:1.22.0"
    values = {"global": {"hub": "h", "tag": 1.2, "proxy": {"image": "registry.internal/mesh/proxy:7"}}}
    assert injector_values({"data": {"values": json.dumps(values)}})[0] == "registry.internal/mesh/proxy:7"


@pytest.mark.parametrize("data", [{}, {"values": ""}, {"values": "{}"}, {"values": '{"global": {"tag": "1.2"}}'}])
def test_injector_values_unknown_image_is_none(data):
    # without hub and tag the image is unknown: never a made-up "/proxyv2:" that looks stale
    assert injector_values({"data": data}) == (None, None)


def test_injector_values_bad_json():
    assert injector_values({"data": {"values": "{not json"}}) == (None, None)
    assert injector_values({}) == (None, None)


# -- pod_row: kubectl get pods --show-labels ---------------------------------------------------------


def test_pod_row_like_kubectl():
    row = pod_row(istiod_pod(OLD, "t7st2", "1.7.3-asm.3"), NOW)
    assert row == {
        "name": "istiod-asm-173-3-5788d57586-t7st2", "ready": "1/1", "status": "Running", "restarts": 0,
        "age": "23h", "is_ready": True, "image": "gcr.io/gke-release/asm/pilot:1.7.3-asm.3",
        "labels": {"app": "istiod", "istio.io/rev": OLD, "istio": "istiod", "pod-template-hash": "5788d57586"},
        "labels_text": "app=istiod,istio.io/rev=asm-173-3,istio=istiod,pod-template-hash=5788d57586",
    }


def test_pod_row_waiting_reason_terminating_and_unready():
    pod = istiod_pod(OLD, "x", "1.7.3-asm.3", ready=False)
    pod["status"]["containerStatuses"][0].update(restartCount=4, state={"waiting": {"reason": "CrashLoopBackOff"}})
    row = pod_row(pod, NOW)
    assert (row["ready"], row["status"], row["restarts"], row["is_ready"]) == ("0/1", "CrashLoopBackOff", 4, False)
    pod = istiod_pod(OLD, "y", "1.7.3-asm.3")
    pod["metadata"]["deletionTimestamp"] = "2026-11-25T10:59:00Z"
    assert pod_row(pod, NOW)["status"] == "Terminating"
    del pod["metadata"]["creationTimestamp"]
    assert pod_row(pod, NOW)["age"] == "<unknown>"


# -- build_revisions -----------------------------------------------------------------------------------


def test_build_revisions_seed():
    revs, tags, default = build_revisions(seed_inventory(), NOW)
    assert (tags, default) == ({}, None)
    assert [r["name"] for r in revs] == [OLD]
    rev = revs[0]
    assert rev["version"] == "1.7.3-asm.3"
    pods = ["istiod-asm-173-3-5788d57586-t7st2", "istiod-asm-173-3-5788d57586-87dlf"]
    assert rev["istiod"] == {"ready": 2, "total": 2, "pods": pods}
    assert (rev["ready"], rev["managed"], rev["default"], rev["tags"], rev["channel"]) == (True, False, False, [], None)
    assert rev["namespaces"] == []  # legacy's istio-injection=enabled reaches no revision: there is no default
    assert rev["proxy_image"] == "gcr.io/gke-release/asm/proxyv2:1.7.3-asm.3"
    assert rev["native_sidecars"] == "false"
    assert [(w["configuration"], w["name"], w["tag"], w["failure_policy"], w["deactivated"]) for w in rev["webhooks"]] \
        == [("istio-sidecar-injector-asm-173-3", "rev.namespace.sidecar-injector.istio.io", None, "Fail", False),
            ("istio-sidecar-injector-asm-173-3", "rev.object.sidecar-injector.istio.io", None, "Fail", False)]


def test_build_revisions_canary_with_default_tag():
    revs, tags, default = build_revisions(canary_inventory(), NOW)
    assert [r["name"] for r in revs] == [NEW, OLD]  # sorted by name
    assert tags == {"default": OLD}
    assert default == OLD
    old, new = by_name(revs)[OLD], by_name(revs)[NEW]
    assert (old["version"], new["version"]) == ("1.7.3-asm.3", "1.16.2-asm.2")
    assert (old["tags"], new["tags"]) == (["default"], [])
    assert (old["default"], new["default"]) == (True, False)
    # shop directly, tagged through the tag, legacy and both through istio-injection=enabled (the default)
    assert old["namespaces"] == ["both", "legacy", "shop", "tagged"]
    assert new["namespaces"] == ["payments"]  # not "off": istio-injection=disabled beats its istio.io/rev
    assert (old["istiod"]["ready"], new["istiod"]["ready"]) == (2, 2)
    assert new["proxy_image"] == "gcr.io/gke-release/asm/proxyv2:1.16.2-asm.2"
    assert len(old["webhooks"]) == 6 and len(new["webhooks"]) == 2


def test_build_revisions_managed_with_controlplanerevision_and_url_webhook():
    revs, tags, default = build_revisions(managed_inventory(), NOW)
    assert (tags, default) == ({"default": "asm-managed-rapid"}, "asm-managed-rapid")
    assert len(revs) == 1
    rev = revs[0]
    assert (rev["name"], rev["managed"], rev["channel"], rev["ready"], rev["version"]) == (
        "asm-managed-rapid", True, "RAPID", True, None)
    assert rev["istiod"] == {"ready": 0, "total": 0, "pods": []}
    assert rev["namespaces"] == ["store"]  # orders says asm-managed: no such revision
    assert rev["tags"] == ["default"] and rev["default"] is True
    assert rev["proxy_image"] == "gcr.io/gke-release/asm/proxyv2:1.23.4-asm.1"


def test_build_revisions_managed_from_url_webhook_alone_and_unprovisioned():
    rev = build_revisions(managed_inventory(with_cpr=False), NOW)[0][0]
    assert (rev["managed"], rev["ready"], rev["channel"]) == (True, True, None)
    rev = build_revisions(managed_inventory(provisioned=False), NOW)[0][0]
    assert (rev["managed"], rev["ready"]) == (True, False)


def test_build_revisions_dangling_tag():
    inv = seed_inventory()
    inv["mwcs"].append(injector_mwc("asm-999", tag="prod"))  # points at a revision that was removed
    revs, tags, default = build_revisions(inv, NOW)
    assert tags == {"prod": "asm-999"}
    dangling = by_name(revs)["asm-999"]
    assert (dangling["ready"], dangling["managed"], dangling["version"], dangling["tags"]) == (
        False, False, None, ["prod"])
    assert dangling["istiod"] == {"ready": 0, "total": 0, "pods": []}
    with pytest.raises(RevisionError) as err:
        choose_revision(revs, tags, "prod")
    assert str(err.value).startswith("Revision asm-999 has no ready control plane: asm-999 (istiod 0/0 ready; tags "
                                     "prod).")
    assert choose_revision(revs, tags) == (OLD, "the only ready revision")


def test_build_revisions_deactivated_default_tag_is_not_the_default():
    inv = seed_inventory()
    inv["mwcs"].append(injector_mwc(OLD, tag="default", deactivated=True))
    revs, tags, default = build_revisions(inv, NOW)
    assert tags == {"default": OLD}           # istioctl tag list still shows it
    assert default is None
    assert revs[0]["default"] is False
    assert revs[0]["namespaces"] == []        # so legacy (istio-injection=enabled) is not served


def test_build_revisions_unrevisioned_install():
    pod = istiod_pod("default", "z", "1.20.1", registry="docker.io/istio")
    pod["metadata"]["labels"]["istio"] = "pilot"
    inv = inventory(pods=[pod], mwcs=[injector_mwc(None)], configmaps=[injector_configmap("default", tag="1.20.1")],
                    namespaces=[namespace("legacy", {"istio-injection": "enabled"})])
    revs, tags, default = build_revisions(inv, NOW)
    assert [(r["name"], r["version"], r["default"], r["namespaces"]) for r in revs] == [
        ("default", "1.20.1", True, ["legacy"])]
    assert default == "default"
    assert revs[0]["proxy_image"] == "gcr.io/gke-release/asm/proxyv2:1.20.1"


def test_build_revisions_unready_istiod():
    inv = seed_inventory()
    inv["pods"] = [istiod_pod(OLD, "a", "1.7.3-asm.3", ready=False)]
    rev = build_revisions(inv, NOW)[0][0]
    assert (rev["ready"], rev["istiod"]["ready"], rev["istiod"]["total"]) == (False, 0, 1)


# -- choose_revision ----------------------------------------------------------------------------------


def test_choose_explicit_and_tag():
    revs, tags, default = build_revisions(canary_inventory(), NOW)
    assert choose_revision(revs, tags, NEW) == (NEW, "requested")
    assert choose_revision(revs, tags, "default") == (OLD, "requested (tag default)")


def test_choose_unknown_lists_known_revisions_and_tags():
    revs, tags, default = build_revisions(canary_inventory(), NOW)
    with pytest.raises(RevisionError) as err:
        choose_revision(revs, tags, "asm-999")
    assert str(err.value) == (
        "Revision 'asm-999' is not known to the cluster. Known revisions: asm-1162-2 (istiod 2/2 ready; version "
        "1.16.2-asm.2); asm-173-3 (istiod 2/2 ready; version 1.7.3-asm.3; tags default). Tags: default -> asm-173-3.")


def test_choose_unready_fails_unless_allowed():
    inv = canary_inventory()
    for pod in inv["pods"]:
        if pod["metadata"]["labels"]["istio.io/rev"] == NEW:
            pod["status"]["conditions"][0]["status"] = "False"
    revs, tags, default = build_revisions(inv, NOW)
    with pytest.raises(RevisionError) as err:
        choose_revision(revs, tags, NEW)
    message = str(err.value)
    assert message.startswith("Revision asm-1162-2 has no ready control plane: asm-1162-2 (istiod 0/2 ready; "
                              "version 1.16.2-asm.2).")
    assert "Choose a ready revision or set allow_unready." in message
    assert choose_revision(revs, tags, NEW, allow_unready=True) == (NEW, "requested")
    # without a request, the one ready revision is chosen
    assert choose_revision(revs, tags) == (OLD, "the only ready revision")


def test_choose_single():
    revs, tags, default = build_revisions(seed_inventory(), NOW)
    assert choose_revision(revs, tags) == (OLD, "the only ready revision")
    assert choose_revision(revs, tags, prefer="newest") == (OLD, "the only ready revision")
    revs, tags, default = build_revisions(managed_inventory(), NOW)
    assert choose_revision(revs, tags) == ("asm-managed-rapid", "the only ready revision")


def test_choose_several_fails_listing_them():
    revs, tags, default = build_revisions(canary_inventory(), NOW)
    with pytest.raises(RevisionError) as err:
        choose_revision(revs, tags)
    assert str(err.value) == (
        "Several revisions are ready: asm-1162-2 (istiod 2/2 ready; version 1.16.2-asm.2); asm-173-3 (istiod 2/2 "
        "ready; version 1.7.3-asm.3; tags default). Choose one with revision (a revision or tag name) or set prefer "
        "to one of: newest, default.")


def test_choose_prefer_newest_and_default():
    revs, tags, default = build_revisions(canary_inventory(), NOW)
    assert choose_revision(revs, tags, prefer="newest") == (NEW, "the newest version (1.16.2-asm.2)")
    assert choose_revision(revs, tags, prefer="default") == (OLD, "the default revision")
    assert choose_revision(revs, tags, NEW, prefer="default") == (NEW, "requested")  # an explicit choice wins


def test_choose_prefer_default_without_a_default():
    inv = canary_inventory()
    inv["mwcs"] = [m for m in inv["mwcs"] if m["metadata"]["name"] != "istio-revision-tag-default"]
    revs, tags, default = build_revisions(inv, NOW)
    with pytest.raises(RevisionError) as err:
        choose_revision(revs, tags, prefer="default")
    assert str(err.value).startswith("prefer=default, but no ready revision is the default (no `default` tag). "
                                     "Ready: asm-1162-2 (istiod 2/2 ready; version 1.16.2-asm.2); asm-173-3")


def test_choose_prefer_newest_without_versions():
    revs = [dict(r, name=name) for name in ("asm-managed-rapid", "asm-managed-stable")
            for r in build_revisions(managed_inventory(), NOW)[0]]
    with pytest.raises(RevisionError) as err:
        choose_revision(revs, {}, prefer="newest")
    assert str(err.value).startswith("prefer=newest, but no ready revision has a version from its istiod image: "
                                     "asm-managed-rapid (managed channel RAPID, provisioned; tags default)")


def test_choose_nothing_installed_and_nothing_ready():
    with pytest.raises(RevisionError) as err:
        choose_revision([], {})
    assert str(err.value).startswith("No Istio/ASM control plane found: no istiod pods (app=istiod), no injector "
                                     "MutatingWebhookConfigurations and no ControlPlaneRevisions.")
    inv = seed_inventory()
    inv["pods"] = []
    revs, tags, default = build_revisions(inv, NOW)
    with pytest.raises(RevisionError) as err:
        choose_revision(revs, tags)
    assert str(err.value) == "No revision has a ready control plane: asm-173-3 (istiod 0/0 ready)."


# -- run(): the module's entry with a fake client -------------------------------------------------------


class FakeClient(object):
    """client.list() served from an inventory; CPRs answer 404 like a cluster without managed ASM."""

    def __init__(self, inv, cpr_status=404, services=(), services_status=None):
        self.inv = inv
        self.cpr_status = cpr_status
        self.services, self.services_status = list(services), services_status
        self.calls = []

    def list(self, path, label_selector=None, field_selector=None, limit=500, transform=None, action=None):
        self.calls.append((path, label_selector))
        if path.endswith("/controlplanerevisions"):
            if self.cpr_status:
                raise KubeError("no CRD", self.cpr_status)
            items = self.inv["cprs"]
        elif path.endswith("/pods"):
            items = self.inv["pods"]
        elif path.endswith("/mutatingwebhookconfigurations"):
            items = self.inv["mwcs"]
        elif path.endswith("/configmaps"):
            items = self.inv["configmaps"] + [{"metadata": {"name": "istio-ca-root-cert"}, "data": {}}]
        elif path.endswith("/services"):
            if self.services_status:
                raise KubeError("forbidden", self.services_status)
            items = self.services
        else:
            items = [{"metadata": {"name": ns["name"], "labels": ns["labels"]}} for ns in self.inv["namespaces"]]
        return [transform(item) if transform else item for item in items]


def params(**overrides):
    base = {"istio_namespace": "istio-system", "revision": None, "prefer": None, "allow_unready": False,
            "require_revision": True}
    base.update(overrides)
    return base


def test_run_seed_facts_and_istiod_rows(monkeypatch):
    monkeypatch.setattr(revisions.time, "time", lambda: NOW)
    client = FakeClient(seed_inventory())
    result = revisions.run(client, params())
    assert (result["revision"], result["revision_reason"]) == (OLD, "the only ready revision")
    assert result["changed"] is False
    assert [p["name"] for p in result["istiod_pods"]] == ["istiod-asm-173-3-5788d57586-87dlf",
                                                          "istiod-asm-173-3-5788d57586-t7st2"]
    assert set(result["istiod_pods"][0]) == {"name", "ready", "status", "restarts", "age", "labels", "labels_text"}
    assert ("/api/v1/namespaces/istio-system/pods", "app=istiod") in client.calls
    assert ("/apis/mesh.cloud.google.com/v1beta1/namespaces/istio-system/controlplanerevisions", None) in client.calls


def test_run_require_revision_false_reports_why():
    result = revisions.run(FakeClient(canary_inventory()), params(require_revision=False))
    assert result["revision"] is None
    assert result["revision_reason"].startswith("Several revisions are ready: asm-1162-2")
    with pytest.raises(RevisionError):
        revisions.run(FakeClient(canary_inventory()), params())
    # an explicit revision that does not exist fails even then
    with pytest.raises(RevisionError):
        revisions.run(FakeClient(canary_inventory()), params(require_revision=False, revision="asm-999"))


def test_run_propagates_errors_other_than_a_missing_cpr_crd_or_permission():
    with pytest.raises(KubeError):
        revisions.run(FakeClient(seed_inventory(), cpr_status=500), params())
    # Not allowed to list them: the webhooks still tell the revisions, and a warning says what is missed.
    result = revisions.run(FakeClient(seed_inventory(), cpr_status=403), params())
    assert result["revision"] == OLD
    assert result["warnings"] == [
        "Not allowed to list controlplanerevisions (mesh.cloud.google.com) in namespace istio-system: managed ASM "
        "revisions are judged from the injector webhooks alone. Grant list on them to see their channels and "
        "readiness."]
    with pytest.raises(RevisionError) as err:  # a failure carries the warning: it may be the cause
        revisions.run(FakeClient(seed_inventory(), cpr_status=403), params(revision="asm-managed-rapid"))
    assert str(err.value).endswith("Grant list on them to see their channels and readiness.")
    result = revisions.run(FakeClient(managed_inventory(), cpr_status=None), params())
    assert result["revision"] == "asm-managed-rapid"
    assert result["revisions"][0]["channel"] == "RAPID"


# -- revision tags as istioctl tag list shows them (webhooks and tag Services) ---------------------------


def service(name, revision, tag=None):
    labels = {"istio.io/rev": revision}
    if tag:
        labels["istio.io/tag"] = tag
    return {"metadata": {"name": name, "namespace": "istio-system", "labels": labels}}


def test_tag_rows_union_webhooks_and_services_like_istioctl_tag_list():
    inv = canary_inventory()
    inv["mwcs"].append(injector_mwc(OLD, tag="prod"))
    inv["namespaces"] += [namespace("orders", {"istio.io/rev": "prod"}), namespace("web", {"istio.io/rev": "ambient"})]
    services = [service("istiod-asm-173-3", OLD),  # a revision's own Service: no tag row
                service("istiod-revision-tag-default", OLD, "default"),
                service("istiod-revision-tag-ambient", NEW, "ambient"),  # a Service alone
                service("istiod-revision-tag-prod", NEW, "prod")]  # the webhook says OLD
    rows = tag_rows(injector_webhooks(inv["mwcs"]), services, inv["namespaces"])
    assert [(r["revision"], r["tag"], r["webhook"], r["service"], r["namespaces"]) for r in rows] == [
        (NEW, "ambient", None, "istiod-revision-tag-ambient", ["web"]),
        (NEW, "prod", None, "istiod-revision-tag-prod", ["orders"]),
        (OLD, "default", "istio-revision-tag-default", "istiod-revision-tag-default", ["tagged"]),
        (OLD, "prod", "istio-revision-tag-prod", None, ["orders"])]
    assert tag_warnings(rows, "istio-system") == [
        "Revision tag ambient exists only as Service istio-system/istiod-revision-tag-ambient (-> asm-1162-2), with "
        "no injector webhook: istioctl tag list shows it, but no sidecar is injected through it (namespaces labelled "
        "istio.io/rev=ambient: web). Set the tag again (asm_revision_tag state=present) or remove the Service.",
        "Revision tag prod points at asm-173-3 by its webhook istio-revision-tag-prod but at asm-1162-2 by its "
        "Service istio-system/istiod-revision-tag-prod: injection follows the webhook. Set the tag again "
        "(asm_revision_tag state=present) to make them agree."]


def test_tag_rows_webhooks_only_before_istio_1_28_warn_nothing():
    inv = canary_inventory()
    rows = tag_rows(injector_webhooks(inv["mwcs"]), [], inv["namespaces"])
    assert [(r["tag"], r["revision"], r["webhook"], r["service"]) for r in rows] == [
        ("default", OLD, "istio-revision-tag-default", None)]
    assert tag_warnings(rows, "istio-system") == []
    assert tag_warnings(tag_rows([], [service("s", NEW, "lone")], []), "mesh")[0].startswith(
        "Revision tag lone exists only as Service mesh/s (-> asm-1162-2), with no injector webhook: istioctl tag list "
        "shows it, but no sidecar is injected through it (no namespace is labelled istio.io/rev=lone).")


def test_run_lists_service_only_tags_without_resolving_through_them():
    inv = canary_inventory()
    inv["namespaces"].append(namespace("web", {"istio.io/rev": "ambient"}))
    client = FakeClient(inv, services=[service("istiod-revision-tag-ambient", NEW, "ambient")])
    result = revisions.run(client, params(prefer="default"))
    assert ("/api/v1/namespaces/istio-system/services", "istio.io/rev") in client.calls
    assert [(r["tag"], r["revision"], r["webhook"]) for r in result["revision_tags"]] == [
        ("ambient", NEW, None), ("default", OLD, "istio-revision-tag-default")]
    assert result["tags"] == {"default": OLD}  # what injects: a namespace labelled ambient gets no sidecar
    assert "web" not in by_name(result["revisions"])[NEW]["namespaces"]
    assert result["warnings"][0].startswith("Revision tag ambient exists only as Service")
    with pytest.raises(RevisionError) as err:
        revisions.run(client, params(revision="ambient"))
    assert "is not known to the cluster" in str(err.value)


def test_run_without_permission_on_services_lists_webhook_tags_and_says_so():
    result = revisions.run(FakeClient(canary_inventory(), services_status=403), params(prefer="default"))
    assert result["revision"] == OLD
    assert [r["tag"] for r in result["revision_tags"]] == ["default"]
    assert result["warnings"] == [
        "Not allowed to list services in namespace istio-system: revision tags that exist only as a Service are not "
        "listed. Grant list on services there to see them."]
    with pytest.raises(KubeError):
        revisions.run(FakeClient(canary_inventory(), services_status=500), params(prefer="default"))

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The expected proxy image per pod (proxyimage.py), with cases from Istio's own tests:
pkg/kube/inject/inject_test.go TestProxyImage and testdata/inject/hello-proxy-override.yaml(.injected)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.servicemesh.asm.plugins.module_utils import pods as podlib
from ansible_collections.servicemesh.asm.plugins.module_utils import proxyimage
from ansible_collections.servicemesh.asm.plugins.module_utils.client import KubeError
from ansible_collections.servicemesh.asm.plugins.module_utils.proxyimage import (
    RevisionImages, dry_run_proxy_image, expected_proxy_images, proxy_image, template_rule)


def _values(hub, tag, **glob):
    return {"global": dict(hub=hub, tag=tag, **glob)}


ASM = "gcr.io/gke-release/asm"
REL = "registry.istio.io/release"
# inject_test.go TestProxyImage: (values hub, tag), ProxyConfig image.imageType, proxyImageType annotation, want
ISTIO_PROXY_IMAGE_CASES = [
    (REL, 11, "", None, REL + "/proxyv2:11"),
    (REL, 1.12, "distroless", None, REL + "/proxyv2:1.12-distroless"),
    (ASM, "1.11.2-asm.17", "", "distroless",
     ASM + "/proxyv2:1.11.2-asm.17-distroless"),
    (ASM, "1.11.2-asm.17", "distroless", "debug", ASM + "/proxyv2:1.11.2-asm.17-debug"),
    (ASM, "1.11.2-asm.17", "debug", "default", ASM + "/proxyv2:1.11.2-asm.17"),
    (ASM, "1.11.2-asm.17-distroless", "default", None, ASM + "/proxyv2:1.11.2-asm.17"),
    (ASM, "1.11.2-asm.17-distroless", "", "default", ASM + "/proxyv2:1.11.2-asm.17"),
    (REL, "1.12-debug", "distroless", None, REL + "/proxyv2:1.12-distroless"),
    (REL, "1.12-distroless", "", "distroless",
     REL + "/proxyv2:1.12-distroless"),
    ("private-repo/istio", "1.12-this-is-unusual-tag", "", None, "private-repo/istio/proxyv2:1.12-this-is-unusual-tag"),
    ("private-repo/istio", "1.12-this-is-unusual-tag-distroless", "default", None,
     "private-repo/istio/proxyv2:1.12-this-is-unusual-tag"),
    ("private-repo/istio", "1.12-this-is-unusual-tag", "", "distroless",
     "private-repo/istio/proxyv2:1.12-this-is-unusual-tag-distroless"),
]


@pytest.mark.parametrize("hub,tag,image_type,annotation,want", ISTIO_PROXY_IMAGE_CASES)
def test_proxy_image_matches_istio_test_proxy_image(hub, tag, image_type, annotation, want):
    ann = {proxyimage.IMAGE_TYPE_ANNOTATION: annotation} if annotation else {}
    assert proxy_image(_values(hub, tag), image_type, ann) == want


def test_variant_applies_only_without_a_proxyconfig_image_type():
    values = _values("docker.io/istio", "1.22.0", variant="distroless")
    assert proxy_image(values) == "docker.io/istio/proxyv2:1.22.0-distroless"
    assert proxy_image(values, "debug") == "docker.io/istio/proxyv2:1.22.0-debug"
    assert proxy_image(_values("docker.io/istio", "1.22.0", variant="default")) == "docker.io/istio/proxyv2:1.22.0"


# The istio-proxy image lines of the upstream template, three generations.
TEMPLATE_1_31 = """\
  containers:
  - name: istio-proxy
  {{- if contains "/" (annotation .ObjectMeta `sidecar.istio.io/proxyImage` .Values.global.proxy.image) }}
    image: {{ annotation .ObjectMeta `sidecar.istio.io/proxyImage` .Values.global.proxy.image | quote }}
  {{- else }}
    image: "{{ .ProxyImage }}"
  {{- end }}
    {{ if $nativeSidecar }}restartPolicy: Always{{end}}
    ports:
"""
TEMPLATE_1_20 = TEMPLATE_1_31.replace(
    "image: {{ annotation .ObjectMeta `sidecar.istio.io/proxyImage` .Values.global.proxy.image | quote }}",
    "image: \"{{ annotation .ObjectMeta `sidecar.istio.io/proxyImage` .Values.global.proxy.image }}\"")
TEMPLATE_1_12 = TEMPLATE_1_20.replace(
    "{{ .ProxyImage }}", "{{ .Values.global.hub }}/{{ .Values.global.proxy.image }}:{{ .Values.global.tag }}")
CUSTOM = TEMPLATE_1_31.replace("{{ .ProxyImage }}", "my.registry/proxy:{{ .Values.global.tag }}")


def test_template_rules_of_upstream_templates_and_a_custom_one():
    assert template_rule(TEMPLATE_1_31) == ("ann_or_values", "ann_or_values", "proxy_image")
    assert template_rule(TEMPLATE_1_20) == ("ann_or_values", "ann_or_values", "proxy_image")
    assert template_rule(TEMPLATE_1_12) == ("ann_or_values", "ann_or_values", "hub_tag")
    assert template_rule(CUSTOM) == "unknown"
    assert template_rule("spec:\n  volumes: []\n") is None  # sets no istio-proxy image


VALUES = _values("gcr.io/gke-release/asm", "1.7.3-asm.3", proxy={"image": "proxyv2"})
PLAIN = "gcr.io/gke-release/asm/proxyv2:1.7.3-asm.3"
DISTROLESS = PLAIN + "-distroless"


def _config(sidecar=TEMPLATE_1_31, **extra):
    return json.dumps(dict({"templates": {"sidecar": sidecar}}, **extra))  # JSON is YAML


def _record(namespace="demo", labels=None, annotations=None, image=PLAIN, name="p-1"):
    pod = {"metadata": {"namespace": namespace, "name": name, "uid": "u-" + name, "labels": labels or {},
                        "annotations": dict(annotations or {}, **{
                            "sidecar.istio.io/status": json.dumps({"revision": "asm-173-3"})})},
           "spec": {"containers": [{"name": "app"}, {"name": "istio-proxy", "image": image}]},
           "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                      "containerStatuses": [{"name": "app", "ready": True}, {"name": "istio-proxy", "ready": True}]}}
    return podlib.compact(pod)


def _pc(namespace, name, image_type, selector=None, created="2026-01-01T00:00:00Z"):
    spec = {"image": {"imageType": image_type}}
    if selector is not None:
        spec["selector"] = {"matchLabels": selector}
    return {"metadata": {"namespace": namespace, "name": name, "creationTimestamp": created}, "spec": spec}


def test_proxy_image_annotation_is_used_verbatim__hello_proxy_override():
    images = RevisionImages("asm-173-3", VALUES, _config())
    pinned = "registry.istio.io/release/proxy2_debug:unittest"  # hello-proxy-override.yaml(.injected)
    record = _record(annotations={proxyimage.PROXY_IMAGE_ANNOTATION: pinned}, image=pinned)
    assert images.expected(record) == (pinned, None)
    assert podlib.classify(record, "asm-173-3", images)[0] == podlib.OK
    # Without a "/" the template ignores the annotation (`contains "/"` is false): .ProxyImage.
    bare = _record(annotations={proxyimage.PROXY_IMAGE_ANNOTATION: "proxyv2:custom"})
    assert images.expected(bare) == (PLAIN, None)
    # values.global.proxy.image with a "/" is used verbatim too.
    full = RevisionImages("r", _values("h", "t", proxy={"image": "reg.io/p/proxy:9"}), _config())
    assert full.expected(_record()) == ("reg.io/p/proxy:9", None)


def test_proxy_config_precedence__proxy_config_go_effective_proxy_config():
    mesh = {"defaultConfig": {"image": {"imageType": "debug"}}}
    assert RevisionImages("r", VALUES, _config(), mesh).expected(_record())[0] == PLAIN + "-debug"
    root = _pc("istio-system", "root", "distroless")
    assert RevisionImages("r", VALUES, _config(), mesh, [root]).expected(_record())[0] == DISTROLESS
    ns = _pc("demo", "ns", "default")
    assert RevisionImages("r", VALUES, _config(), mesh, [root, ns]).expected(_record())[0] == PLAIN
    annotated = _record(annotations={proxyimage.PROXY_CONFIG_ANNOTATION: "image:\n  imageType: distroless\n"})
    assert RevisionImages("r", VALUES, _config(), mesh, [root, ns]).expected(annotated)[0] == DISTROLESS
    # A selector ProxyConfig outranks the annotation ("lower priority than the workload-matching CRs").
    workload = _pc("demo", "wl", "debug", selector={"app": "web"})
    web = _record(labels={"app": "web", "v": "1"},
                  annotations={proxyimage.PROXY_CONFIG_ANNOTATION: "image:\n  imageType: distroless\n"})
    assert RevisionImages("r", VALUES, _config(), {}, [workload]).expected(web)[0] == PLAIN + "-debug"
    assert RevisionImages("r", VALUES, _config(), {}, [workload]).expected(_record(labels={"app": "db"}))[0] == PLAIN
    # The proxyImageType annotation beats every ProxyConfig (inject.go proxyImageURL).
    typed = _record(labels={"app": "web"}, annotations={proxyimage.IMAGE_TYPE_ANNOTATION: "distroless"})
    assert RevisionImages("r", VALUES, _config(), {}, [workload]).expected(typed)[0] == DISTROLESS
    # The oldest ProxyConfig of a namespace wins (sortConfigByCreationTime).
    older = _pc("demo", "z-old", "distroless", created="2025-01-01T00:00:00Z")
    assert RevisionImages("r", VALUES, _config(), {}, [ns, older]).expected(_record())[0] == DISTROLESS


def test_distroless_pod_is_not_stale_and_an_old_one_is():
    images = RevisionImages("asm-173-3", VALUES, _config(), {"defaultConfig": {"image": {"imageType": "distroless"}}})
    assert podlib.classify(_record(image=DISTROLESS), "asm-173-3", images)[0] == podlib.OK
    cls, reason = podlib.classify(_record(image=PLAIN), "asm-173-3", images)
    assert cls == podlib.NEEDS_RESTART and reason.startswith("stale proxy %s " % PLAIN) and DISTROLESS in reason
    # the in-place upgrade case: a pod of the old tag is stale
    upgraded = RevisionImages("asm-173-3", _values("gcr.io/gke-release/asm", "1.7.3-asm.4"), _config())
    assert podlib.classify(_record(), "asm-173-3", upgraded)[0] == podlib.NEEDS_RESTART


@pytest.mark.parametrize("images,record,why", [
    (RevisionImages("r", VALUES, _config(CUSTOM)), _record(), "does not recognise"),
    (RevisionImages("r", VALUES, _config()), _record(annotations={proxyimage.TEMPLATES_ANNOTATION: "sidecar,spire"}),
     "'spire' is not in the injector's config"),
    (RevisionImages("r", VALUES, _config(), unknown_namespaces={"demo": "ProxyConfigs cannot be read"}), _record(),
     "ProxyConfigs cannot be read"),
    (RevisionImages("r", VALUES, _config(), unknown_namespaces={"istio-system": "root forbidden"}), _record(),
     "root forbidden"),
    (RevisionImages("r", VALUES, _config()), _record(annotations={proxyimage.PROXY_CONFIG_ANNOTATION: "image: ["}),
     "cannot be parsed"),
    (RevisionImages("r", VALUES, "templates: [unclosed"), _record(), "not valid YAML"),
])
def test_cannot_know_is_never_stale(images, record, why):
    image, reason = images.expected(record)
    assert image is None and why in reason
    assert podlib.classify(record, "asm-173-3", images)[0] == podlib.OK  # 2/2 ready, not restarted
    assert any(why in w for w in images.warned)


def test_templates_annotation_and_aliases_select_templates():
    config = json.dumps({"templates": {"sidecar": TEMPLATE_1_31, "extra": "metadata: {}\n"},
                         "aliases": {"both": ["sidecar", "extra"]}})
    images = RevisionImages("r", VALUES, config)
    assert images.expected(_record(annotations={proxyimage.TEMPLATES_ANNOTATION: "both"})) == (PLAIN, None)
    only_extra = _record(annotations={proxyimage.TEMPLATES_ANNOTATION: "extra"})
    assert images.expected(only_extra)[0] is None


class FakeClient(object):
    def __init__(self, proxyconfigs=(), forbidden=(), missing=False, injected=None):
        self.proxyconfigs, self.forbidden, self.missing = list(proxyconfigs), forbidden, missing
        self.injected = injected
        self.calls = []

    def list(self, path, action=None, **kwargs):
        self.calls.append(("GET", path))
        if self.missing:
            raise KubeError("404", 404)
        parts = path.split("/")
        ns = parts[parts.index("namespaces") + 1] if "namespaces" in parts else None
        if "*" in self.forbidden and ns is None or ns in self.forbidden:
            raise KubeError("forbidden", 403)
        return [p for p in self.proxyconfigs if ns is None or p["metadata"]["namespace"] == ns]

    def request(self, method, path, query=None, body=None, action=None, **kwargs):
        self.calls.append((method, path, query, body))
        return self.injected


def _inventory(mesh=None):
    cm = {"metadata": {"name": "istio-sidecar-injector-asm-173-3"},
          "data": {"values": json.dumps(VALUES), "config": _config()}}
    meshes = [{"metadata": {"name": "istio-asm-173-3"}, "data": {"mesh": mesh}}] if mesh else []
    return {"configmaps": [cm], "meshconfigs": meshes}


REVS = [{"name": "asm-173-3"}, {"name": "asm-managed"}]


def test_expected_proxy_images_reads_mesh_config_and_proxyconfigs_once():
    client = FakeClient([_pc("demo", "d", "distroless")])
    images = expected_proxy_images(client, _inventory("defaultConfig:\n  image:\n    imageType: debug\n"), REVS,
                                   "istio-system", ["demo", "other"])
    assert set(images) == {"asm-173-3"}  # no injector ConfigMap for the managed revision: not judged
    assert images["asm-173-3"].expected(_record())[0] == DISTROLESS
    assert images["asm-173-3"].expected(_record(namespace="other"))[0] == PLAIN + "-debug"
    assert client.calls == [("GET", "/apis/networking.istio.io/v1beta1/proxyconfigs")]


def test_proxyconfigs_forbidden_cluster_wide_fall_back_per_namespace():
    client = FakeClient([_pc("demo", "d", "distroless")], forbidden=("*", "other"))
    images = expected_proxy_images(client, _inventory(), REVS, "istio-system", ["demo", "other"])["asm-173-3"]
    assert images.expected(_record())[0] == DISTROLESS
    image, why = images.expected(_record(namespace="other"))
    assert image is None and "grant list on proxyconfigs.networking.istio.io" in why
    assert [c[1] for c in client.calls] == ["/apis/networking.istio.io/v1beta1/proxyconfigs",
                                            "/apis/networking.istio.io/v1beta1/namespaces/istio-system/proxyconfigs",
                                            "/apis/networking.istio.io/v1beta1/namespaces/demo/proxyconfigs",
                                            "/apis/networking.istio.io/v1beta1/namespaces/other/proxyconfigs"]


def test_no_proxyconfig_crd_means_none_apply():
    images = expected_proxy_images(FakeClient(missing=True), _inventory(), REVS, "istio-system", ["demo"])
    assert images["asm-173-3"].expected(_record()) == (PLAIN, None)


def test_compact_keeps_only_the_image_inputs():
    record = _record(labels={"app": "web"}, annotations={proxyimage.PROXY_IMAGE_ANNOTATION: "a/b:c", "other": "x"})
    assert record["inject_annotations"] == {proxyimage.PROXY_IMAGE_ANNOTATION: "a/b:c"}
    assert record["labels"] == {"app": "web"}


@pytest.mark.parametrize("native", [False, True])
def test_dry_run_proxy_image_asks_the_injector(native):
    proxy = {"name": "istio-proxy", "image": DISTROLESS}
    spec = {"containers": [{"name": "web"}], "initContainers": [dict(proxy, restartPolicy="Always")]} if native \
        else {"containers": [{"name": "web"}, proxy]}
    injected = {"metadata": {"annotations": {"sidecar.istio.io/status": json.dumps({"revision": "asm-173-3"})}},
                "spec": spec}
    client = FakeClient(injected=injected)
    template = {"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
                "spec": {"containers": [{"name": "web", "image": "web:1"}]}}
    assert dry_run_proxy_image(client, "demo", template, "web") == {
        "injected": True, "image": DISTROLESS, "native": native, "revision": "asm-173-3"}
    ((method, path, query, body),) = client.calls
    assert (method, path, query) == ("POST", "/api/v1/namespaces/demo/pods", {"dryRun": "All"})
    assert body["metadata"]["generateName"] == "web-asm-dry-run-" and body["metadata"]["labels"] == {"app": "web"}
    assert body["spec"] == template["spec"]


def test_dry_run_of_a_pod_the_injector_skips():
    client = FakeClient(injected={"metadata": {}, "spec": {"containers": [{"name": "web"}]}})
    assert dry_run_proxy_image(client, "demo", {"spec": {}}, "web") == {
        "injected": False, "image": None, "native": False, "revision": None}


class OwnerClient(FakeClient):
    """GET of a controller answers its template; the dry-run create answers `injected` or raises `refusal`."""

    def __init__(self, injected=None, refusal=None):
        super().__init__(injected=injected)
        self.refusal = refusal

    def request(self, method, path, query=None, body=None, action=None, **kwargs):
        self.calls.append((method, path, query, body))
        if method == "GET":
            return {"spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}}}
        if self.refusal is not None:
            raise self.refusal
        return self.injected


class Formula(object):
    def for_pod(self, record):
        return "formula-image"


def _owned(name, owner=("ReplicaSet", "web-7d9f")):
    return {"namespace": "demo", "name": name, "owner": {"kind": owner[0], "name": owner[1]} if owner else None}


def test_dry_run_images_ask_once_per_controller():
    injected = {"metadata": {"annotations": {"sidecar.istio.io/status": json.dumps({"revision": "asm-173-3"})}},
                "spec": {"containers": [{"name": "istio-proxy", "image": DISTROLESS}]}}
    client = OwnerClient(injected=injected)
    rule = proxyimage.DryRunImages(client, "asm-173-3", Formula())
    assert [rule.for_pod(_owned("web-7d9f-%d" % i)) for i in range(3)] == [DISTROLESS] * 3
    assert [(c[0], c[1]) for c in client.calls] == [("GET", "/apis/apps/v1/namespaces/demo/replicasets/web-7d9f"),
                                                    ("POST", "/api/v1/namespaces/demo/pods")]


def test_dry_run_images_fall_back_to_the_formula_when_refused_or_not_askable():
    refused = proxyimage.DryRunImages(OwnerClient(refusal=KubeError("Forbidden (403): may not create pods", 403)),
                                      "asm-173-3", Formula())
    assert refused.for_pod(_owned("web-7d9f-0")) == "formula-image"
    assert any("could not be asked" in w for w in refused.warned)
    bare = proxyimage.DryRunImages(OwnerClient(), "asm-173-3", None)
    assert bare.for_pod(_owned("debug", owner=None)) is None  # cannot know: never called stale
    other = {"metadata": {"annotations": {"sidecar.istio.io/status": json.dumps({"revision": "asm-1162-2"})}},
             "spec": {"containers": [{"name": "istio-proxy", "image": DISTROLESS}]}}
    assert proxyimage.DryRunImages(OwnerClient(injected=other), "asm-173-3", Formula()).for_pod(
        _owned("web-7d9f-0")) == "formula-image"

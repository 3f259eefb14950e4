"""kubesim's injector chooses the istio-proxy image like istiod (tests/kubesim/istio.py), checked
against Istio's own cases: pkg/kube/inject/inject_test.go TestProxyImage,
testdata/inject/hello-proxy-override.yaml(.injected), and pilot/pkg/model/proxy_config.go
EffectiveProxyConfig's precedence."""

from __future__ import annotations

import json

import pytest

from kubesim.istio import inject_pod, injected_proxy_image, proxy_image_url, sidecar_injector_values

ASM = "gcr.io/gke-release/asm"
REL = "registry.istio.io/release"
TYPE = "sidecar.istio.io/proxyImageType"


@pytest.mark.parametrize("hub,tag,image_type,ann,want", [
    (REL, 11, "", None, REL + "/proxyv2:11"),
    (REL, 1.12, "distroless", None, REL + "/proxyv2:1.12-distroless"),
    (ASM, "1.11.2-asm.17", "", "distroless", ASM + "/proxyv2:1.11.2-asm.17-distroless"),
    (ASM, "1.11.2-asm.17", "distroless", "debug", ASM + "/proxyv2:1.11.2-asm.17-debug"),
    (ASM, "1.11.2-asm.17", "debug", "default", ASM + "/proxyv2:1.11.2-asm.17"),
    (ASM, "1.11.2-asm.17-distroless", "default", None, ASM + "/proxyv2:1.11.2-asm.17"),
    (ASM, "1.11.2-asm.17-distroless", "", "default", ASM + "/proxyv2:1.11.2-asm.17"),
    (REL, "1.12-debug", "distroless", None, REL + "/proxyv2:1.12-distroless"),
    (REL, "1.12-distroless", "", "distroless", REL + "/proxyv2:1.12-distroless"),
    ("private-repo/istio", "1.12-this-is-unusual-tag", "", None, "private-repo/istio/proxyv2:1.12-this-is-unusual-tag"),
    ("private-repo/istio", "1.12-this-is-unusual-tag-distroless", "default", None,
     "private-repo/istio/proxyv2:1.12-this-is-unusual-tag"),
    ("private-repo/istio", "1.12-this-is-unusual-tag", "", "distroless",
     "private-repo/istio/proxyv2:1.12-this-is-unusual-tag-distroless"),
])
def test_proxy_image_url__inject_test_go_test_proxy_image(hub, tag, image_type, ann, want):
    values = {"global": {"hub": hub, "tag": tag}}
    assert proxy_image_url(values, "proxyv2", image_type, {TYPE: ann} if ann else {}) == want


def _cms(values, mesh=None, rev="asm-173-3"):
    cms = [{"metadata": {"name": "istio-sidecar-injector-" + rev, "namespace": "istio-system"},
            "data": {"values": json.dumps(values)}}]
    if mesh is not None:
        cms.append({"metadata": {"name": "istio-" + rev, "namespace": "istio-system"}, "data": {"mesh": mesh}})
    return cms


VALUES = {"global": {"hub": ASM, "tag": "1.7.3-asm.3", "proxy": {"image": "proxyv2"}}}
PLAIN = ASM + "/proxyv2:1.7.3-asm.3"


def _pod(namespace="demo", labels=None, annotations=None):
    return {"metadata": {"name": "p", "namespace": namespace, "labels": labels or {},
                         "annotations": annotations or {}},
            "spec": {"containers": [{"name": "app", "image": "app:1"}]}}


def _pc(namespace, name, image_type, selector=None, created="2026-01-01T00:00:00Z"):
    spec = {"image": {"imageType": image_type}}
    if selector is not None:
        spec["selector"] = {"matchLabels": selector}
    return {"metadata": {"namespace": namespace, "name": name, "creationTimestamp": created}, "spec": spec}


def test_proxy_image_annotation__hello_proxy_override_yaml_injected():
    injector = sidecar_injector_values(_cms(VALUES), "asm-173-3")
    pinned = "registry.istio.io/release/proxy2_debug:unittest"
    pod = inject_pod(_pod(annotations={"sidecar.istio.io/proxyImage": pinned}), "asm-173-3", injector["image"],
                     False, injector=injector)
    assert [c["image"] for c in pod["spec"]["initContainers"] + pod["spec"]["containers"]
            if c["name"] in ("istio-init", "istio-proxy")] == [pinned, pinned]
    # no "/" in the annotation: the template's `contains "/"` is false and .ProxyImage is used
    assert injected_proxy_image(injector, _pod(annotations={"sidecar.istio.io/proxyImage": "x:1"}), []) == PLAIN


def test_effective_proxy_config_precedence__proxy_config_go():
    mesh = "defaultConfig:\n  image:\n    imageType: debug\n"
    injector = sidecar_injector_values(_cms(VALUES, mesh), "asm-173-3")
    assert injector["image"] == PLAIN + "-debug"  # mesh defaultConfig applies to every pod
    root, ns = _pc("istio-system", "root", "distroless"), _pc("demo", "ns", "default")
    assert injected_proxy_image(injector, _pod(), [root]) == PLAIN + "-distroless"
    assert injected_proxy_image(injector, _pod(), [root, ns]) == PLAIN
    ann = {"proxy.istio.io/config": "image:\n  imageType: distroless\n"}
    assert injected_proxy_image(injector, _pod(annotations=ann), [root, ns]) == PLAIN + "-distroless"
    workload = _pc("demo", "wl", "debug", selector={"app": "web"})
    assert injected_proxy_image(injector, _pod(labels={"app": "web"}, annotations=ann), [workload]) == PLAIN + "-debug"
    # the proxyImageType annotation is applied last (inject.go proxyImageURL)
    typed = _pod(labels={"app": "web"}, annotations={TYPE: "default"})
    assert injected_proxy_image(injector, typed, [workload]) == PLAIN
    # first by creation time wins
    older = _pc("demo", "z", "distroless", created="2025-06-01T00:00:00Z")
    assert injected_proxy_image(injector, _pod(), [ns, older]) == PLAIN + "-distroless"


def test_distroless_variant_and_tag_suffix():
    values = {"global": {"hub": "docker.io/istio", "tag": "1.22.0-distroless", "variant": "debug"}}
    injector = sidecar_injector_values(_cms(values), "asm-173-3")
    assert injector["image"] == "docker.io/istio/proxyv2:1.22.0-debug"  # the suffix is replaced, not stacked
    assert injected_proxy_image(injector, _pod(annotations={TYPE: "default"}), []) == "docker.io/istio/proxyv2:1.22.0"

"""kubesim's Istio injector model against docs/docsite/rst/istio_facts.rst and the istio/istio sources it cites.

Test names end in the source that fixes the behaviour: mutatingwebhook_yaml / revision_tags_mwc_yaml
(istio-discovery chart), inject_go (injectRequired, SidecarInjectionStatus), webhook_go (reorderPod,
re-injection, DetectNativeSidecar), hello_yaml_injected / native_sidecar_yaml_injected (testdata),
istioctl_tag_util_go (deactivation), k8s_mutating_webhook_manager_go (call order).
"""

import json

import pytest

from kubesim.istio import (
    STATUS_ANNOTATION,
    deactivate,
    decide_injection,
    inject_pod,
    injector_webhook_config,
    injector_webhooks,
    istiod_pod_labels,
    matching_webhooks,
    native_sidecar_enabled,
    sidecar_injector_values,
)

REV = "asm-173-3"
OTHER = "asm-1162-2"
IMAGE = "gcr.io/gke-release/asm/proxyv2:1.7.3-asm.3"


def ns_labels(name="app", labels=None):
    return {"metadata": {"name": name, "labels": labels or {}}}


def pod(labels=None, annotations=None, host_network=False, init=None):
    spec = {"containers": [{"name": "hello", "image": "hello:1.0", "ports": [{"containerPort": 80}]}]}
    if host_network:
        spec["hostNetwork"] = True
    if init:
        spec["initContainers"] = [{"name": n, "image": "busybox"} for n in init]
    meta = {"generateName": "hello-5788d57586-", "namespace": "app", "labels": dict(labels or {}),
            "ownerReferences": [{"kind": "ReplicaSet", "name": "hello-5788d57586"}]}
    meta["labels"].setdefault("pod-template-hash", "5788d57586")
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"metadata": meta, "spec": spec}


REV_MWC = injector_webhook_config(REV)
OTHER_MWC = injector_webhook_config(OTHER)
DEFAULT_MWC = injector_webhook_config("default")


# --------------------------------------------------------------------------- precedence (§6)


def test_namespace_rev_label_injects_that_revision__mutatingwebhook_yaml_rev_namespace():
    d = decide_injection([REV_MWC], ns_labels(labels={"istio.io/rev": REV}), pod())
    assert (d.revision, d.webhook, d.config_name) == (REV, "rev.namespace.sidecar-injector.istio.io",
                                                      f"istio-sidecar-injector-{REV}")
    assert d.failure_policy == "Fail" and d.injected and len(d.matched) == 1


def test_istio_injection_enabled_without_default_revision_injects_nothing__mutatingwebhook_yaml():
    d = decide_injection([REV_MWC], ns_labels(labels={"istio-injection": "enabled"}), pod())
    assert d.revision is None and d.webhook is None
    assert "default-revision" in d.reason


def test_istio_injection_enabled_with_unrevisioned_install__mutatingwebhook_yaml_namespace():
    d = decide_injection([DEFAULT_MWC], ns_labels(labels={"istio-injection": "enabled"}), pod())
    assert (d.revision, d.webhook) == ("default", "namespace.sidecar-injector.istio.io")


def test_istio_injection_label_beats_rev__mutatingwebhook_yaml():
    both = ns_labels(labels={"istio-injection": "enabled", "istio.io/rev": REV})
    # rev.namespace. requires istio-injection DoesNotExist: only the default revision can match.
    d = decide_injection([REV_MWC, DEFAULT_MWC], both, pod())
    assert (d.revision, d.webhook) == ("default", "namespace.sidecar-injector.istio.io")
    # ... and with no default revision, nothing injects (the seed removes istio-injection for this).
    d = decide_injection([REV_MWC], both, pod())
    assert d.revision is None and "overrides the namespace's istio.io/rev=asm-173-3" in d.reason


def test_istio_injection_disabled_not_overridable_by_pod__mutatingwebhook_yaml():
    disabled = ns_labels(labels={"istio-injection": "disabled"})
    for labels in ({"istio.io/rev": REV}, {"sidecar.istio.io/inject": "true"}):
        d = decide_injection([REV_MWC, DEFAULT_MWC], disabled, pod(labels))
        assert d.revision is None and d.webhook is None
        assert "istio-injection=disabled" in d.reason


def test_namespace_rev_beats_pod_rev__mutatingwebhook_yaml_rev_object_requires_no_ns_rev():
    d = decide_injection([REV_MWC, OTHER_MWC], ns_labels(labels={"istio.io/rev": REV}),
                         pod({"istio.io/rev": OTHER}))
    assert d.revision == REV and len(d.matched) == 1
    d = decide_injection([OTHER_MWC], ns_labels(labels={"istio.io/rev": REV}), pod({"istio.io/rev": OTHER}))
    assert d.revision is None and "pod's istio.io/rev=asm-1162-2 is ignored" in d.reason


def test_pod_rev_label_only_when_namespace_unlabelled__mutatingwebhook_yaml_rev_object():
    d = decide_injection([REV_MWC, OTHER_MWC], ns_labels(), pod({"istio.io/rev": OTHER}))
    assert (d.revision, d.webhook) == (OTHER, "rev.object.sidecar-injector.istio.io")
    d = decide_injection([REV_MWC, OTHER_MWC, DEFAULT_MWC], ns_labels(labels={"istio-injection": "enabled"}),
                         pod({"istio.io/rev": OTHER}))
    assert d.revision == "default"


def test_pod_inject_true_in_unlabelled_namespace_uses_default_revision__mutatingwebhook_yaml_object():
    d = decide_injection([REV_MWC, DEFAULT_MWC], ns_labels(), pod({"sidecar.istio.io/inject": "true"}))
    assert (d.revision, d.webhook) == ("default", "object.sidecar-injector.istio.io")
    assert decide_injection([REV_MWC], ns_labels(), pod({"sidecar.istio.io/inject": "true"})).revision is None


def test_unlabelled_namespace_injects_nothing__mutatingwebhook_yaml():
    d = decide_injection([REV_MWC, DEFAULT_MWC], ns_labels(), pod())
    assert d.revision is None and "no injection label" in d.reason


def test_pod_opt_out_label_is_seen_by_object_selector__mutatingwebhook_yaml():
    opted_out = pod({"sidecar.istio.io/inject": "false"})
    d = decide_injection([REV_MWC], ns_labels(labels={"istio.io/rev": REV}), opted_out)
    assert d.revision is None and d.webhook is None  # not even called
    assert "opted out" in d.reason


def test_pod_opt_out_annotation_still_honoured_by_inject_required__inject_go():
    namespace = ns_labels(labels={"istio.io/rev": REV})
    d = decide_injection([REV_MWC], namespace, pod(annotations={"sidecar.istio.io/inject": "false"}))
    assert d.webhook == "rev.namespace.sidecar-injector.istio.io"  # the webhook is called...
    assert d.revision is None and "sidecar.istio.io/inject=false" in d.reason  # ...and skips
    # "The label is the new API; if both are present we prefer the label"
    d = decide_injection([REV_MWC], namespace, pod({"sidecar.istio.io/inject": "true"},
                                                   {"sidecar.istio.io/inject": "false"}))
    assert d.revision == REV


def test_host_network_pod_skipped_but_webhook_called__inject_go_inject_required():
    d = decide_injection([REV_MWC], ns_labels(labels={"istio.io/rev": REV}), pod(host_network=True))
    assert d.revision is None and not d.injected and "hostNetwork" in d.reason
    # the API server still calls the webhook: a down injector with Fail would reject the pod
    assert (d.webhook, d.failure_policy) == ("rev.namespace.sidecar-injector.istio.io", "Fail")


def test_kube_system_is_ignored_by_injector__initializer_go():
    d = decide_injection([REV_MWC], ns_labels("kube-system", {"istio.io/rev": REV}), pod())
    assert d.revision is None and "ignored" in d.reason


def test_wrong_managed_channel_injects_nothing__mutatingwebhook_yaml():
    rapid = injector_webhook_config("asm-managed-rapid", url="https://meshconfig.example/inject",
                                    name="istiod-asm-managed-rapid")
    d = decide_injection([rapid], ns_labels(labels={"istio.io/rev": "asm-managed-stable"}), pod())
    assert d.revision is None and "'asm-managed-stable'" in d.reason
    d = decide_injection([rapid], ns_labels(labels={"istio.io/rev": "asm-managed-rapid"}), pod())
    assert (d.revision, d.config_name) == ("asm-managed-rapid", "istiod-asm-managed-rapid")


# --------------------------------------------------------------------------- tags, default, deactivation


def test_revision_tag_resolves_to_target_revision__revision_tags_mwc_yaml():
    tag = injector_webhook_config(REV, tag="prod")
    d = decide_injection([REV_MWC, tag], ns_labels(labels={"istio.io/rev": "prod"}), pod())
    assert (d.revision, d.tag, d.config_name) == (REV, "prod", "istio-revision-tag-prod")
    d = decide_injection([tag], ns_labels(), pod({"istio.io/rev": "prod"}))
    assert (d.revision, d.webhook) == (REV, "rev.object.sidecar-injector.istio.io")


def test_default_tag_serves_istio_injection_enabled__revision_tags_mwc_yaml():
    tag = injector_webhook_config(REV, tag="default")
    d = decide_injection([REV_MWC, tag], ns_labels(labels={"istio-injection": "enabled"}), pod())
    assert (d.revision, d.tag, d.webhook) == (REV, "default", "namespace.sidecar-injector.istio.io")
    d = decide_injection([REV_MWC, tag], ns_labels(), pod({"sidecar.istio.io/inject": "true"}))
    assert (d.revision, d.webhook) == (REV, "object.sidecar-injector.istio.io")


def test_deactivated_webhooks_never_match__istioctl_tag_util_go():
    old = deactivate(DEFAULT_MWC)
    assert all(w["deactivated"] for w in injector_webhooks([old]))
    assert not any(w["deactivated"] for w in injector_webhooks([DEFAULT_MWC]))
    tag = injector_webhook_config(REV, tag="default")
    d = decide_injection([old, tag], ns_labels(labels={"istio-injection": "enabled"}), pod())
    assert (d.revision, d.config_name, len(d.matched)) == (REV, "istio-revision-tag-default", 1)
    d = decide_injection([old], ns_labels(labels={"istio.io/rev": "default"}), pod())
    assert d.revision is None and "deactivated" in d.reason


def test_several_matching_webhooks_last_wins__k8s_mutating_webhook_manager_go_and_webhook_go():
    # Misconfiguration: `tag default` created without deactivating the unrevisioned injector.
    tag = injector_webhook_config(REV, tag="default")
    d = decide_injection([DEFAULT_MWC, tag], ns_labels(labels={"istio-injection": "enabled"}), pod())
    assert [w["config_name"] for w in d.matched] == ["istio-revision-tag-default", "istio-sidecar-injector"]
    assert (d.revision, d.config_name) == ("default", "istio-sidecar-injector")
    assert "misconfiguration: 2 injector webhooks matched" in d.reason


# --------------------------------------------------------------------------- webhook plumbing


def test_injector_webhooks_fields__mutatingwebhook_yaml():
    foreign = {"metadata": {"name": "a-other"}, "webhooks": [{"name": "mutate.example.com"}]}
    managed = injector_webhook_config("asm-managed", url="https://x/inject", name="istiod-asm-managed",
                                      failure_policy="Ignore")
    whs = injector_webhooks([REV_MWC, foreign, managed, injector_webhook_config(REV, tag="prod")])
    assert [(w["config_name"], w["webhook_name"].split(".")[1]) for w in whs] == [
        ("istio-revision-tag-prod", "namespace"), ("istio-revision-tag-prod", "object"),
        (f"istio-sidecar-injector-{REV}", "namespace"), (f"istio-sidecar-injector-{REV}", "object"),
        ("istiod-asm-managed", "namespace"), ("istiod-asm-managed", "object")]
    assert (whs[0]["revision"], whs[0]["tag"]) == (REV, "prod")
    assert whs[2]["service"] == {"name": f"istiod-{REV}", "namespace": "istio-system", "path": "/inject",
                                 "port": 443}
    assert (whs[4]["url"], whs[4]["service"], whs[4]["failurePolicy"]) == ("https://x/inject", None, "Ignore")


def test_missing_selector_matches_everything_and_rules_need_pod_create__admission_semantics():
    hook = {"name": "sidecar-injector.istio.io", "namespaceSelector": {"matchLabels": {"istio-injection": "enabled"}},
            "clientConfig": {"service": {"name": "istiod", "namespace": "istio-system", "path": "/inject"}},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]}
    legacy = {"metadata": {"name": "istio-sidecar-injector"}, "webhooks": [hook]}  # Istio 1.7 chart: no objectSelector
    whs = injector_webhooks([legacy])
    assert [w["revision"] for w in whs] == ["default"]  # from the endpoint (Service istiod), not a label
    assert matching_webhooks(whs, {"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "false"})
    updates_only = dict(hook, rules=[dict(hook["rules"][0], operations=["UPDATE"])])
    assert injector_webhooks([dict(legacy, webhooks=[updates_only])]) == []
    elsewhere = dict(hook, clientConfig={"service": {"name": "mutator", "namespace": "policy"}})
    assert injector_webhooks([dict(legacy, webhooks=[elsewhere])]) == []  # not an istiod: not an injector


def test_injector_webhook_config_shapes__mutatingwebhook_yaml_revision_tags_mwc_yaml():
    assert REV_MWC["metadata"]["labels"]["istio.io/rev"] == REV
    assert [w["name"] for w in REV_MWC["webhooks"]] == ["rev.namespace.sidecar-injector.istio.io",
                                                       "rev.object.sidecar-injector.istio.io"]
    w = REV_MWC["webhooks"][0]
    assert w["rules"][0]["operations"] == ["CREATE"] and w["failurePolicy"] == "Fail"
    assert w["namespaceSelector"]["matchExpressions"] == [
        {"key": "istio.io/rev", "operator": "In", "values": [REV]},
        {"key": "istio-injection", "operator": "DoesNotExist"}]
    assert DEFAULT_MWC["metadata"]["name"] == "istio-sidecar-injector"
    assert DEFAULT_MWC["webhooks"][0]["clientConfig"]["service"]["name"] == "istiod"
    assert len(DEFAULT_MWC["webhooks"]) == 4
    tag = injector_webhook_config(REV, tag="default")
    assert tag["metadata"]["name"] == "istio-revision-tag-default"
    assert {k: tag["metadata"]["labels"][k] for k in ("istio.io/tag", "istio.io/rev")} == {
        "istio.io/tag": "default", "istio.io/rev": REV}
    assert tag["webhooks"][0]["clientConfig"]["service"]["name"] == f"istiod-{REV}"
    assert len(tag["webhooks"]) == 4 and len(injector_webhook_config(REV, tag="prod")["webhooks"]) == 2
    assert deactivate(REV_MWC)["webhooks"][1]["objectSelector"] == {
        "matchLabels": {"istio.io/deactivated": "never-match"}}
    assert REV_MWC["webhooks"][1]["objectSelector"] != deactivate(REV_MWC)["webhooks"][1]["objectSelector"]


# --------------------------------------------------------------------------- inject_pod


def _names(containers):
    return [c["name"] for c in containers]


def test_injected_pod_looks_like_hello_yaml_injected():
    original = pod({"app": "hello"})
    before = json.dumps(original, sort_keys=True)
    p = inject_pod(original, REV, IMAGE, native_sidecar=False)
    assert json.dumps(original, sort_keys=True) == before  # a new dict; the input is untouched
    spec, meta = p["spec"], p["metadata"]
    assert _names(spec["containers"]) == ["hello", "istio-proxy"]
    assert _names(spec["initContainers"]) == ["istio-init"]
    init, proxy = spec["initContainers"][0], spec["containers"][1]
    assert init["image"] == proxy["image"] == IMAGE and init["args"][0] == "istio-iptables"
    assert init["securityContext"]["capabilities"]["add"] == ["NET_ADMIN", "NET_RAW"]
    assert {"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"} in proxy["ports"]
    assert proxy["readinessProbe"]["httpGet"] == {"path": "/healthz/ready", "port": 15021}
    assert "restartPolicy" not in proxy
    assert {"name": "CA_ADDR", "value": f"istiod-{REV}.istio-system.svc:15012"} in proxy["env"]
    assert {"istio-envoy", "istio-data", "istio-podinfo", "istio-token", "istiod-ca-cert"} <= set(
        _names(spec["volumes"]))
    assert meta["labels"]["security.istio.io/tlsMode"] == "istio"
    assert meta["labels"]["service.istio.io/canonical-name"] == "hello"
    assert meta["labels"]["service.istio.io/canonical-revision"] == "latest"
    assert "istio.io/rev" not in meta["labels"]  # an annotation since 1.18, not a label (§6)
    a = meta["annotations"]
    assert a["istio.io/rev"] == REV
    assert a["kubectl.kubernetes.io/default-container"] == "hello"
    assert a["kubectl.kubernetes.io/default-logs-container"] == "hello"
    assert (a["prometheus.io/port"], a["prometheus.io/path"], a["prometheus.io/scrape"]) == (
        "15020", "/stats/prometheus", "true")


def test_status_annotation_json__inject_go_sidecar_injection_status_hello_yaml_injected():
    p = inject_pod(pod(), REV, IMAGE, native_sidecar=False)
    assert p["metadata"]["annotations"][STATUS_ANNOTATION] == (
        '{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["workload-socket",'
        '"credential-socket","workload-certs","istio-envoy","istio-data","istio-podinfo","istio-token",'
        '"istiod-ca-cert"],"imagePullSecrets":null,"revision":"asm-173-3"}')


def test_status_revision_is_real_revision_when_injected_through_tag__inject_go():
    tag = injector_webhook_config(REV, tag="prod")
    d = decide_injection([REV_MWC, tag], ns_labels(labels={"istio.io/rev": "prod"}), pod())
    p = inject_pod(pod(), d.revision, IMAGE, native_sidecar=False)
    assert json.loads(p["metadata"]["annotations"][STATUS_ANNOTATION])["revision"] == REV
    assert p["metadata"]["annotations"]["istio.io/rev"] == REV


def test_native_sidecar_placement__webhook_go_reorder_pod_native_sidecar_yaml_injected():
    p = inject_pod(pod(init=["migrate"]), REV, IMAGE, native_sidecar=True)
    spec = p["spec"]
    assert _names(spec["initContainers"]) == ["istio-init", "istio-proxy", "migrate"]
    assert spec["initContainers"][1]["restartPolicy"] == "Always"
    assert _names(spec["containers"]) == ["hello"]
    assert p["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] == "hello"
    status = json.loads(p["metadata"]["annotations"][STATUS_ANNOTATION])
    assert (status["initContainers"], status["containers"]) == (["istio-init", "istio-proxy"], None)
    # classic mode: istio-init goes after user init containers (webhook.go reorderPod MoveLast)
    classic = inject_pod(pod(init=["migrate"]), REV, IMAGE, native_sidecar=False)
    assert _names(classic["spec"]["initContainers"]) == ["migrate", "istio-init"]


def test_pod_annotations_override_native_mode_and_image__injection_template_yaml():
    p = inject_pod(pod(annotations={"sidecar.istio.io/nativeSidecar": "false",
                                    "sidecar.istio.io/proxyImage": "my.reg/proxyv2:custom"}),
                   REV, IMAGE, native_sidecar=True)
    assert _names(p["spec"]["containers"]) == ["hello", "istio-proxy"]
    assert p["spec"]["containers"][1]["image"] == "my.reg/proxyv2:custom"


def test_user_declared_istio_proxy_overrides_template__webhook_go_reapply_overwritten_containers():
    custom = pod()
    custom["spec"]["containers"].append({"name": "istio-proxy", "image": "auto", "args": ["custom"]})
    p = inject_pod(custom, REV, IMAGE, native_sidecar=False)
    assert _names(p["spec"]["containers"]) == ["hello", "istio-proxy"]
    proxy = p["spec"]["containers"][1]
    assert (proxy["image"], proxy["args"]) == (IMAGE, ["custom"])


def test_cni_uses_istio_validation_without_net_admin__injection_template_yaml():
    p = inject_pod(pod(), REV, IMAGE, native_sidecar=False, cni=True)
    init = p["spec"]["initContainers"][0]
    assert init["name"] == "istio-validation" and "add" not in init["securityContext"]["capabilities"]
    assert "--run-validation" in init["args"]


def test_canonical_labels_and_existing_values_kept__injection_template_yaml():
    p = inject_pod(pod({"app.kubernetes.io/name": "shop", "version": "v2", "security.istio.io/tlsMode": "x"}),
                   REV, IMAGE, native_sidecar=False)
    labels = p["metadata"]["labels"]
    assert (labels["service.istio.io/canonical-name"], labels["service.istio.io/canonical-revision"],
            labels["security.istio.io/tlsMode"]) == ("shop", "v2", "x")
    # no app label: the workload name (Deployment behind the ReplicaSet owner)
    labels = inject_pod(pod(), REV, IMAGE, False)["metadata"]["labels"]
    assert labels["service.istio.io/canonical-name"] == "hello"


def test_injection_is_idempotent_and_reinjection_replaces__webhook_go_reapply_overwritten_containers():
    once = inject_pod(pod(), REV, IMAGE, native_sidecar=False)
    assert inject_pod(once, REV, IMAGE, native_sidecar=False) == once
    newer = "gcr.io/gke-release/asm/proxyv2:1.16.2-asm.2"
    again = inject_pod(once, OTHER, newer, native_sidecar=True)
    assert _names(again["spec"]["containers"]) == ["hello"]
    assert _names(again["spec"]["initContainers"]) == ["istio-init", "istio-proxy"]
    assert again["spec"]["initContainers"][1]["image"] == newer
    assert len(again["spec"]["volumes"]) == len(once["spec"]["volumes"])
    assert json.loads(again["metadata"]["annotations"][STATUS_ANNOTATION])["revision"] == OTHER


# --------------------------------------------------------------------------- values, control plane


def _cm(name, values, namespace="istio-system"):
    return {"metadata": {"name": name, "namespace": namespace}, "data": {"values": json.dumps(values),
                                                                        "config": "{}"}}


def test_sidecar_injector_values__istiod_injector_configmap_yaml_inject_go_proxy_image():
    asm = _cm(f"istio-sidecar-injector-{REV}", {"global": {
        "hub": "gcr.io/gke-release/asm", "tag": "1.7.3-asm.3", "proxy": {"image": "proxyv2"}}})
    keys = ("image", "native_sidecars", "native_sidecar_mode", "cni")
    assert {k: sidecar_injector_values([asm], REV)[k] for k in keys} == {
        "image": IMAGE, "native_sidecars": False, "native_sidecar_mode": None, "cni": False}
    default = _cm("istio-sidecar-injector", {
        "global": {"hub": "docker.io/istio", "tag": "1.22.0", "variant": "distroless", "proxy": {}},
        "pilot": {"env": {"ENABLE_NATIVE_SIDECARS": "true"}, "cni": {"enabled": True}}})
    v = sidecar_injector_values([asm, default], "default")
    assert {k: v[k] for k in keys} == {"image": "docker.io/istio/proxyv2:1.22.0-distroless", "native_sidecars": True,
                 "native_sidecar_mode": "true", "cni": True}
    full = _cm("istio-sidecar-injector-x", {
        "global": {"hub": "h", "tag": "t", "proxy": {"image": "reg.io/p/proxy:9"}},
        "pilot": {"env": {"ENABLE_NATIVE_SIDECARS": "false"}}})
    assert sidecar_injector_values([full], "x")["image"] == "reg.io/p/proxy:9"
    assert sidecar_injector_values([full], "x")["native_sidecars"] is False
    assert sidecar_injector_values([asm], OTHER) is None
    assert sidecar_injector_values([_cm(f"istio-sidecar-injector-{REV}", {}, namespace="app")], REV) is None


@pytest.mark.parametrize("mode,kubelets,expected", [
    ("true", [], True), ("false", ["v1.33.1"], False), (None, ["v1.33.1"], False),
    ("auto", ["v1.33.1", "v1.34.0"], True), ("auto", ["v1.33.1", "v1.32.4"], False), ("auto", [], False),
])
def test_native_sidecar_mode__webhook_go_detect_native_sidecar(mode, kubelets, expected):
    assert native_sidecar_enabled(mode, kubelets) is expected


def test_istiod_pod_labels_match_seed__deployment_yaml():
    assert istiod_pod_labels(REV, "5788d57586") == {
        "app": "istiod", "istio.io/rev": "asm-173-3", "istio": "istiod", "pod-template-hash": "5788d57586"}
    assert istiod_pod_labels("default", "abc")["istio"] == "pilot"
    assert istiod_pod_labels("default", "abc")["istio.io/rev"] == "default"

"""Istio's injection precedence rules (docs/docsite/rst/istio_facts.rst), exercised end to end: namespaces
and pods are created
through the real `kubernetes` client against a kubesim process, and what the API server hands back (after
the injector webhooks ran) is checked: `istio-proxy` present or not, and the `sidecar.istio.io/status`
annotation's `revision`.

Webhook selectors: istio/istio manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml
(revision injectors) and templates/revision-tags-mwc.yaml (tags); the injector's own checks:
pkg/kube/inject/inject.go (injectRequired, SidecarInjectionStatus) and pkg/kube/inject/webhook.go.
"""

import json

from simutil import (JSON_PATCH, MERGE, api_error, create_pod, injected_revision, injection_status, kube,
                     kubectl_pods, namespace, pod_manifest, rows, wait_for)

SEED_REV = "asm-173-3"
NEW_REV = "asm-1162-2"


def revision_of(k, ns, name, labels=None, **spec):
    """Create a pod and return the revision that injected it (None: no sidecar)."""
    return injected_revision(create_pod(k, ns, name, labels, **spec))


# -- rev.namespace / namespace. webhooks ----------------------------------------------------------


def test_namespace_rev_label_injects_that_revision(seed):
    """Rule: a namespace labelled `istio.io/rev=<rev>` gets that revision's sidecar.

    Source: mutatingwebhook.yaml webhook `rev.namespace.sidecar-injector.istio.io` (namespaceSelector
    `istio.io/rev In [<rev>]`, `istio-injection DoesNotExist`); the injected proxy image comes from the
    revision's injector values (istiod-injector-configmap.yaml: hub/proxyv2:tag)."""
    k = kube(seed)
    namespace(k, "meshed", {"istio.io/rev": SEED_REV})
    pod = create_pod(k, "meshed", "web")
    assert injected_revision(pod) == SEED_REV
    proxy = next(c for c in pod.spec.containers if c.name == "istio-proxy")
    assert proxy.image == "gcr.io/gke-release/asm/proxyv2:1.7.3-asm.3"
    assert [c.name for c in pod.spec.init_containers] == ["istio-init"]
    status = injection_status(pod)
    assert status["containers"] == ["istio-proxy"] and status["initContainers"] == ["istio-init"]
    # ... and the kubelet brings it to 2/2 Running, as `kubectl get pod` prints it.
    wait_for(lambda: kubectl_pods(seed, "meshed").get("web", [])[:2] == ["2/2", "Running"], 15,
             what=lambda: kubectl_pods(seed, "meshed"))
    # An unlabelled namespace next to it gets nothing.
    namespace(k, "plain")
    assert revision_of(k, "plain", "web") is None


def test_istio_injection_enabled_without_default_revision_injects_nothing(seed):
    """Rule: `istio-injection=enabled` only works if there is a default revision (or `default` tag);
    the seed has only revision asm-173-3, so namespace `legacy` gets no sidecar, silently.

    Source: mutatingwebhook.yaml — only the default (unrevisioned) injector or the `default` tag renders
    `namespace.sidecar-injector.istio.io` (`istio-injection In [enabled]`); the revisioned
    `rev.namespace.` webhook requires `istio-injection DoesNotExist`."""
    k = kube(seed)
    assert k.core.read_namespace("legacy").metadata.labels["istio-injection"] == "enabled"
    assert revision_of(k, "legacy", "probe") is None
    existing = {n: v for n, v in kubectl_pods(seed, "legacy").items() if n.startswith("legacy-app-")}
    assert len(existing) == 2 and all(v[:2] == ["1/1", "Running"] for v in existing.values()), existing
    assert not [e for e in k.core.list_namespaced_event("legacy").items if e.reason == "FailedCreate"]


# -- label precedence ----------------------------------------------------------------------------


def test_istio_injection_beats_rev_label(start_sim):
    """Rule: `istio-injection` beats `istio.io/rev`: with both on a namespace, the default revision (here
    the `default` tag → asm-173-3) injects — not the revision named by the rev label.

    Source: mutatingwebhook.yaml / revision-tags-mwc.yaml: `rev.namespace.` requires
    `istio-injection DoesNotExist`, while the default tag's `namespace.` webhook only asks for
    `istio-injection In [enabled]`."""
    sim = start_sim("canary")
    k = kube(sim)
    namespace(k, "both", {"istio-injection": "enabled", "istio.io/rev": NEW_REV})
    pod = create_pod(k, "both", "web")
    assert injected_revision(pod) == SEED_REV
    assert pod.metadata.annotations["istio.io/rev"] == SEED_REV
    # The same rev label alone does select asm-1162-2: it is the istio-injection label that overrides it.
    namespace(k, "rev-only", {"istio.io/rev": NEW_REV})
    assert revision_of(k, "rev-only", "web") == NEW_REV


def test_istio_injection_beats_rev_label_without_default_injects_nothing(seed):
    """Rule: both labels and no default revision → nothing injects (the seed's situation before its
    step 2 removes `istio-injection`).

    Source: mutatingwebhook.yaml, `rev.namespace.` (`istio-injection DoesNotExist`)."""
    k = kube(seed)
    namespace(k, "both", {"istio-injection": "enabled", "istio.io/rev": SEED_REV})
    assert revision_of(k, "both", "web") is None
    # Removing istio-injection, as the seed page does, makes the rev label effective.
    k.core.patch_namespace("both", {"metadata": {"labels": {"istio-injection": None}}}, _content_type=MERGE)
    assert revision_of(k, "both", "web2") == SEED_REV


def test_injection_disabled_cannot_be_overridden_by_pod(start_sim):
    """Rule: `istio-injection=disabled` on the namespace wins over a pod's `sidecar.istio.io/inject=true`
    label (and over a pod `istio.io/rev` label).

    Source: revision-tags-mwc.yaml / mutatingwebhook.yaml: the `object.` webhook (pod label
    `sidecar.istio.io/inject In [true]`) and `rev.object.` both require `istio-injection DoesNotExist`
    on the namespace."""
    sim = start_sim("canary")
    k = kube(sim)
    namespace(k, "off", {"istio-injection": "disabled"})
    assert revision_of(k, "off", "wants-in", {"sidecar.istio.io/inject": "true"}) is None
    assert revision_of(k, "off", "wants-rev", {"istio.io/rev": NEW_REV}) is None
    # Control: in a namespace without labels the same pod label is honoured by the default tag.
    namespace(k, "free")
    assert revision_of(k, "free", "wants-in", {"sidecar.istio.io/inject": "true"}) == SEED_REV


def test_namespace_rev_beats_pod_rev(start_sim):
    """Rule: a namespace `istio.io/rev` beats the pod's own `istio.io/rev` label.

    Source: mutatingwebhook.yaml: `rev.object.` (pod label `istio.io/rev In [<rev>]`) requires the
    namespace to have no `istio.io/rev`; only the namespace's revision's `rev.namespace.` matches."""
    sim = start_sim("canary")
    k = kube(sim)
    namespace(k, "old", {"istio.io/rev": SEED_REV})
    namespace(k, "new", {"istio.io/rev": NEW_REV})
    assert revision_of(k, "old", "p", {"istio.io/rev": NEW_REV}) == SEED_REV
    assert revision_of(k, "new", "p", {"istio.io/rev": SEED_REV}) == NEW_REV


def test_pod_rev_label_when_namespace_has_neither_label(start_sim):
    """Rule: a pod labelled `istio.io/rev=<rev>` is injected by that revision when its namespace carries
    neither `istio-injection` nor `istio.io/rev`.

    Source: mutatingwebhook.yaml `rev.object.sidecar-injector.istio.io` (namespaceSelector both
    DoesNotExist; objectSelector `istio.io/rev In [<rev>]`)."""
    sim = start_sim("canary")
    k = kube(sim)
    assert revision_of(k, "unlabelled", "to-new", {"istio.io/rev": NEW_REV}) == NEW_REV
    assert revision_of(k, "unlabelled", "to-old", {"istio.io/rev": SEED_REV}) == SEED_REV
    assert revision_of(k, "unlabelled", "none") is None
    # A revision nobody serves: no webhook matches, the pod is created without a sidecar, no error.
    assert revision_of(k, "unlabelled", "typo", {"istio.io/rev": "asm-999-9"}) is None


def test_pod_opt_out_label(seed):
    """Rule: the pod label `sidecar.istio.io/inject: "false"` opts a pod out in an injected namespace.
    The annotation form is deprecated: the injector still honours it, but the webhook's objectSelector
    cannot see annotations, so the API server still calls the injector for such a pod — with the injector
    down and failurePolicy Fail, only the label opt-out lets the pod be created.

    Source: mutatingwebhook.yaml objectSelector `sidecar.istio.io/inject NotIn ["false"]`;
    pkg/kube/inject/inject.go injectRequired (label, then annotation)."""
    k = kube(seed)
    namespace(k, "meshed", {"istio.io/rev": SEED_REV})
    assert revision_of(k, "meshed", "out", {"sidecar.istio.io/inject": "false"}) is None
    assert revision_of(k, "meshed", "in") == SEED_REV
    annotated = pod_manifest("out-annotated")
    annotated["metadata"]["annotations"] = {"sidecar.istio.io/inject": "false"}
    assert injected_revision(k.core.create_namespaced_pod("meshed", annotated)) is None

    seed.faults(injector_down=True)
    assert revision_of(k, "meshed", "out2", {"sidecar.istio.io/inject": "false"}) is None
    annotated["metadata"]["name"] = "out-annotated2"
    exc = api_error(k.core.create_namespaced_pod, "meshed", annotated)
    assert exc.status == 500 and "failed calling webhook" in exc.body


# -- tags ----------------------------------------------------------------------------------------


def test_default_tag_resolves_to_its_revision(start_sim):
    """Rule: revision tags are aliases; `istio-injection=enabled` and `istio.io/rev=default` both go to the
    `default` tag's revision (asm-173-3 in the canary scenario), and the status annotation names the real
    revision, never the tag. Moving the tag (as `istioctl tag set default --revision X --overwrite` does)
    moves new pods.

    Source: revision-tags-mwc.yaml (MWC `istio-revision-tag-<tag>` labelled `istio.io/tag`, `istio.io/rev`
    = target revision, clientConfig = the target's istiod; `rev.*` webhooks keyed on the tag value, plus
    `namespace.`/`object.` for the `default` tag); inject.go SidecarInjectionStatus `revision`."""
    sim = start_sim("canary")
    k = kube(sim)
    tag_out = sim.kubectl("get", "mutatingwebhookconfigurations", "-l", "istio.io/tag=default",
                          "-o", "jsonpath={.items[*].metadata.name} {.items[*].metadata.labels.istio\\.io/rev}")
    assert tag_out.stdout.split() == ["istio-revision-tag-default", SEED_REV]

    legacy = [p for p in k.core.list_namespaced_pod("legacy").items]
    assert legacy and all(injected_revision(p) == SEED_REV for p in legacy)
    assert revision_of(k, "legacy", "new") == SEED_REV
    namespace(k, "by-tag", {"istio.io/rev": "default"})
    pod = create_pod(k, "by-tag", "web")
    assert injected_revision(pod) == SEED_REV
    assert pod.metadata.annotations["istio.io/rev"] == SEED_REV

    # Retarget the tag to asm-1162-2 the way istioctl regenerates it: the MWC's istio.io/rev label and
    # its webhooks' service follow the new revision.
    mwc = k.admission.read_mutating_webhook_configuration("istio-revision-tag-default")
    ops = [{"op": "replace", "path": "/metadata/labels/istio.io~1rev", "value": NEW_REV}]
    ops += [{"op": "replace", "path": f"/webhooks/{i}/clientConfig/service/name", "value": f"istiod-{NEW_REV}"}
            for i in range(len(mwc.webhooks))]
    k.admission.patch_mutating_webhook_configuration("istio-revision-tag-default", ops, _content_type=JSON_PATCH)
    assert revision_of(k, "by-tag", "web2") == NEW_REV
    assert revision_of(k, "legacy", "new2") == NEW_REV
    # Already running pods keep the proxy they were injected with.
    assert injected_revision(k.core.read_namespaced_pod("web", "by-tag")) == SEED_REV


def test_deactivated_webhook_never_matches(start_sim):
    """Rule: a deactivated injector webhook (selectors patched to `istio.io/deactivated: never-match`, as
    `istioctl tag set`/`tag remove` does to the webhook it supersedes) matches no pod.

    Source: istioctl/pkg/tag/util.go DeactivateIstioInjectionWebhook, istioctl/pkg/util/common.go
    NeverMatch; the selectors of revision-tags-mwc.yaml."""
    sim = start_sim("canary")
    k = kube(sim)
    namespace(k, "by-tag", {"istio.io/rev": "default"})
    assert revision_of(k, "by-tag", "before") == SEED_REV
    assert revision_of(k, "legacy", "before") == SEED_REV

    never = {"matchLabels": {"istio.io/deactivated": "never-match"}}
    mwc = k.admission.read_mutating_webhook_configuration("istio-revision-tag-default")
    ops = [op for i in range(len(mwc.webhooks)) for op in (
        {"op": "replace", "path": f"/webhooks/{i}/namespaceSelector", "value": never},
        {"op": "replace", "path": f"/webhooks/{i}/objectSelector", "value": never})]
    k.admission.patch_mutating_webhook_configuration("istio-revision-tag-default", ops, _content_type=JSON_PATCH)

    assert revision_of(k, "by-tag", "after") is None
    assert revision_of(k, "legacy", "after") is None
    assert revision_of(k, "unlabelled", "after", {"sidecar.istio.io/inject": "true"}) is None
    # The revisions' own injectors are untouched.
    assert revision_of(k, "shop", "after") == SEED_REV
    assert revision_of(k, "payments", "after") == NEW_REV


# -- managed ASM ---------------------------------------------------------------------------------


def test_managed_rapid_injects_and_wrong_channel_silently_injects_nothing(start_sim):
    """Rule: with managed ASM, `istio.io/rev=asm-managed-rapid` injects (the ControlPlaneRevision's
    Google-hosted injector); the channel-less `asm-managed` matches no webhook: pods come up 1/1, no
    error, no event — the pitfall verify must catch.

    Source: docs/docsite/rst/istio_facts.rst, Control plane (managed ASM: MWC `istiod-asm-managed-rapid`,
    URL clientConfig); the selectors of
    mutatingwebhook.yaml."""
    sim = start_sim("managed")
    k = kube(sim)
    store = kubectl_pods(sim, "store")
    assert len(store) == 2 and all(v[:2] == ["2/2", "Running"] for v in store.values()), store
    assert all(injected_revision(p) == "asm-managed-rapid" for p in k.core.list_namespaced_pod("store").items)
    pod = create_pod(k, "store", "new")
    assert injected_revision(pod) == "asm-managed-rapid"
    proxy = next(c for c in pod.spec.containers if c.name == "istio-proxy")
    assert proxy.image == "gcr.io/gke-release/asm/proxyv2:1.23.4-asm.1"
    wait_for(lambda: kubectl_pods(sim, "store").get("new", [])[:2] == ["2/2", "Running"], 15,
             what="managed-injected pod 2/2 (no istiod pods: the proxy gets config from the managed plane)")

    orders = kubectl_pods(sim, "orders")
    assert len(orders) == 2 and all(v[:2] == ["1/1", "Running"] for v in orders.values()), orders
    assert all(injected_revision(p) is None for p in k.core.list_namespaced_pod("orders").items)
    assert injected_revision(create_pod(k, "orders", "new")) is None
    wait_for(lambda: kubectl_pods(sim, "orders").get("new", [])[:2] == ["1/1", "Running"], 15, what="orders/new 1/1")
    assert k.core.list_namespaced_event("orders", field_selector="type=Warning").items == []
    assert not k.core.list_namespaced_pod("istio-system", label_selector="app=istiod").items


# -- what injection leaves on the pod ------------------------------------------------------------


def test_injected_pods_carry_rev_annotation_not_label(seed):
    """Rule: injected pods carry NO `istio.io/rev` label (since 1.11) but an `istio.io/rev` annotation
    (since 1.18) and the status annotation's `revision`: selecting injected pods with
    `-l istio.io/rev=<rev>` finds only the control plane.

    Source: manifests/charts/istio-control/istio-discovery/files/injection-template.yaml (metadata
    annotations/labels), pkg/kube/inject/testdata/inject/hello.yaml.injected."""
    k = kube(seed)
    namespace(k, "meshed", {"istio.io/rev": SEED_REV})
    pod = create_pod(k, "meshed", "web", {"app": "web"})
    assert "istio.io/rev" not in pod.metadata.labels
    assert pod.metadata.annotations["istio.io/rev"] == SEED_REV
    assert injection_status(pod)["revision"] == SEED_REV
    assert pod.metadata.labels["security.istio.io/tlsMode"] == "istio"
    assert pod.metadata.labels["service.istio.io/canonical-name"] == "web"
    out = seed.kubectl("get", "pods", "-A", "-l", f"istio.io/rev={SEED_REV}").stdout
    assert {r[0] for r in rows(out)} == {"istio-system"}
    assert len(rows(out)) == 2  # the two istiod pods


def test_host_network_pod_not_injected(seed):
    """Rule: pods with `hostNetwork: true` are never injected, even in an injected namespace (the webhook
    is still called; the injector declines).

    Source: pkg/kube/inject/inject.go injectRequired (`if podSpec.HostNetwork { return false }`)."""
    k = kube(seed)
    namespace(k, "meshed", {"istio.io/rev": SEED_REV})
    pod = create_pod(k, "meshed", "node-agent", hostNetwork=True)
    assert injected_revision(pod) is None
    assert "istio.io/rev" not in (pod.metadata.annotations or {})
    wait_for(lambda: kubectl_pods(seed, "meshed").get("node-agent", [])[:2] == ["1/1", "Running"], 15,
             what="hostNetwork pod 1/1 Running")
    assert revision_of(k, "meshed", "normal") == SEED_REV


def test_native_sidecar_is_restartable_init_container_and_shows_2_of_2(start_sim):
    """Rule: native sidecars (ENABLE_NATIVE_SIDECARS auto on Istio 1.27 with kubelets >= 1.33): istio-proxy
    is injected into `spec.initContainers` with `restartPolicy: Always`, not into `spec.containers`, and
    kubectl's READY still counts it: 2/2.

    Source: pkg/kube/inject/webhook.go DetectNativeSidecar, reorderPod;
    pkg/kube/inject/testdata/inject/native-sidecar.yaml.injected; kubernetes
    pkg/printers/internalversion/printers.go printPod (restartable init containers in READY)."""
    sim = start_sim("native")
    k = kube(sim)
    k.core.patch_namespace("demo", {"metadata": {"labels": {"istio.io/rev": "asm-1271-1"}}}, _content_type=MERGE)
    sim.kubectl("rollout", "restart", "deployment/api", "-n", "demo")
    sim.kubectl("rollout", "status", "deployment/api", "-n", "demo", "--timeout=30s")

    def settled():
        pods = [p for p in k.core.list_namespaced_pod("demo", label_selector="app=api").items
                if not p.metadata.deletion_timestamp]
        return pods if len(pods) == 2 and all(injected_revision(p) == "asm-1271-1" for p in pods) else None
    pods = wait_for(settled, 15, what="two natively injected api pods")
    for pod in pods:
        assert "istio-proxy" not in [c.name for c in pod.spec.containers]
        inits = {c.name: c for c in pod.spec.init_containers}
        assert list(inits) == ["istio-init", "istio-proxy"]
        assert inits["istio-proxy"].restart_policy == "Always"
        assert inits["istio-init"].restart_policy is None
        status = injection_status(pod)
        assert status["initContainers"] == ["istio-init", "istio-proxy"] and status["containers"] is None
    shown = wait_for(lambda: {n: v for n, v in kubectl_pods(sim, "demo").items() if n.startswith("api-")
                              and v[:2] == ["2/2", "Running"]}, 15, what="api pods 2/2 Running")
    assert set(shown) == {p.metadata.name for p in pods}


def test_native_sidecar_needs_kubelet_1_33_in_auto_mode(seed):
    """Rule: in `auto` mode, native sidecars are used only when every node's kubelet is >= 1.33; the seed's
    1.32 nodes get the classic container form even from an injector whose values say `auto`.

    Source: pkg/kube/inject/webhook.go DetectNativeSidecar; pilot/pkg/features ENABLE_NATIVE_SIDECARS."""
    k = kube(seed)
    cm = k.core.read_namespaced_config_map(f"istio-sidecar-injector-{SEED_REV}", "istio-system")
    values = json.loads(cm.data["values"])
    values["pilot"]["env"]["ENABLE_NATIVE_SIDECARS"] = "auto"
    k.core.patch_namespaced_config_map(cm.metadata.name, "istio-system", {"data": {"values": json.dumps(values)}},
                                       _content_type=MERGE)
    namespace(k, "meshed", {"istio.io/rev": SEED_REV})
    pod = create_pod(k, "meshed", "web")
    assert injected_revision(pod) == SEED_REV
    assert "istio-proxy" in [c.name for c in pod.spec.containers]
    values["pilot"]["env"]["ENABLE_NATIVE_SIDECARS"] = "true"
    k.core.patch_namespaced_config_map(cm.metadata.name, "istio-system", {"data": {"values": json.dumps(values)}},
                                       _content_type=MERGE)
    pod = create_pod(k, "meshed", "web-native")
    assert [c.name for c in pod.spec.init_containers] == ["istio-init", "istio-proxy"]


MATRIX = [  # (namespace labels, pod labels, expected revision) on the canary scenario
    ({"istio.io/rev": SEED_REV}, {}, SEED_REV),
    ({"istio.io/rev": SEED_REV}, {"sidecar.istio.io/inject": "false"}, None),
    ({"istio-injection": "enabled"}, {}, SEED_REV),
    ({"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "false"}, None),
    ({"istio-injection": "disabled"}, {"sidecar.istio.io/inject": "true"}, None),
    ({"istio-injection": "disabled", "istio.io/rev": NEW_REV}, {}, None),
    ({}, {"sidecar.istio.io/inject": "true"}, SEED_REV),
    ({}, {"istio.io/rev": NEW_REV}, NEW_REV),
    ({}, {"istio.io/rev": NEW_REV, "sidecar.istio.io/inject": "false"}, None),
    ({"istio.io/rev": "default"}, {"istio.io/rev": NEW_REV}, SEED_REV),
    ({"istio.io/rev": "asm-999-9"}, {"istio.io/rev": NEW_REV}, None),
]


def test_check_inject_matrix_on_canary(start_sim):
    """The precedence table at a glance (what `istioctl x check-inject` answers), each row decided by a real
    pod CREATE (which must succeed: no row is an error). Source: mutatingwebhook.yaml and
    revision-tags-mwc.yaml selectors, inject.go injectRequired."""
    sim = start_sim("canary")
    k = kube(sim)
    got = []
    for i, (ns_labels, pod_labels, _) in enumerate(MATRIX):
        namespace(k, f"t{i}", ns_labels)
        got.append(revision_of(k, f"t{i}", "p", pod_labels))
    assert got == [row[2] for row in MATRIX]

"""Istio's sidecar injector, modelled as pure functions (no I/O, no server imports).

Sources (istio/istio; cited, not copied):
- manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml and
  revision-tags-mwc.yaml: MWC names, labels and the rev.namespace./rev.object./namespace./object.
  webhook selectors.
- istioctl/pkg/tag/util.go DeactivateIstioInjectionWebhook + istioctl/pkg/util/common.go NeverMatch.
- pkg/kube/inject/inject.go injectRequired (hostNetwork, ignored namespaces, inject label/annotation)
  and SidecarInjectionStatus; pkg/kube/inject/webhook.go reorderPod, applyPrometheusMerge,
  reapplyOverwrittenContainers (an already-injected pod is re-injected, replacing what its
  status annotation lists); DetectNativeSidecar.
- files/injection-template.yaml and pkg/kube/inject/testdata/inject/hello.yaml.injected,
  native-sidecar.yaml.injected (1.22): what an injected pod looks like.
- kubernetes staging/src/k8s.io/apiserver/pkg/admission/configuration/mutating_webhook_manager.go:
  configurations are called sorted by name, webhooks in their listed order, in series.
- The proxy image (ported from Istio's Go, never from plugins/): pkg/kube/inject/inject.go
  ProxyImage/ProxyInitImage/proxyImageURL/imageURL/updateImageTypeIfPresent (cases: TestProxyImage);
  the injection template's `contains "/" (annotation .ObjectMeta sidecar.istio.io/proxyImage
  .Values.global.proxy.image)` branches; the ProxyConfig passed to ProxyImage is webhook.go
  GetProxyConfigOrDefault → pilot/pkg/model/proxy_config.go EffectiveProxyConfig (mergeWithPrecedence
  over mesh defaultConfig, root-namespace, namespace and selector ProxyConfigs, the
  proxy.istio.io/config annotation), ProxyConfigs sorted by config.go sortConfigByCreationTime.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import yaml

from .selectors import match_label_selector

INJECTOR_SUFFIX = "sidecar-injector.istio.io"
STATUS_ANNOTATION = "sidecar.istio.io/status"
INJECT_LABEL = "sidecar.istio.io/inject"
REV_LABEL = "istio.io/rev"
TAG_LABEL = "istio.io/tag"
INJECTION_LABEL = "istio-injection"
DEACTIVATED_KEY = "istio.io/deactivated"
NEVER_MATCH = {"matchLabels": {DEACTIVATED_KEY: "never-match"}}  # istioctl/pkg/util/common.go
# pkg/kube/inject/initializer.go IgnoredNamespaces: injectRequired never injects there.
IGNORED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})
ISTIO_NAMESPACE = "istio-system"
PROXY = "istio-proxy"
INIT_NAMES = ("istio-init", "istio-validation")
_RESOURCES = {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}
_POD_CREATE_RULE = {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}


def _is_default(revision: str | None) -> bool:
    return revision in (None, "", "default")


# --------------------------------------------------------------------------- webhooks


def _selector_keys(selector: dict | None) -> set[str]:
    selector = selector or {}
    keys = set(selector.get("matchLabels") or {})
    return keys | {e.get("key") for e in selector.get("matchExpressions") or []}


def served_revision(client_config: dict, labels: dict) -> str | None:
    """The revision of the istiod a webhook calls, or None for another webhook. The injector injects
    with its own revision whatever the configuration says (an istiod's REVISION env is what its status
    annotation carries: pkg/kube/inject/webhook.go), so the endpoint decides, not the MWC's name: Service
    istiod[-<rev>] in istio-system (istio-discovery chart, service.yaml). A URL endpoint is a managed
    control plane with no istiod here to ask: its configuration's istio.io/rev label stands for it."""
    service = client_config.get("service") or {}
    if service:
        name = service.get("name") or ""
        if service.get("namespace") != ISTIO_NAMESPACE or not (name == "istiod" or name.startswith("istiod-")):
            return None
        return "default" if name == "istiod" else name[len("istiod-"):]
    return labels.get(REV_LABEL) if client_config.get("url") else None


def injector_webhooks(mwcs: list[dict]) -> list[dict]:
    """The webhooks the API server would consider for a pod CREATE that lead to an istiod, in the order it
    calls them (configurations by name, then webhooks as listed: mutating_webhook_manager.go). Chosen by
    their rules and endpoint, as the API server does, not by Istio's naming."""
    out = []
    for mwc in sorted(mwcs, key=lambda m: m.get("metadata", {}).get("name", "")):
        meta = mwc.get("metadata") or {}
        labels = meta.get("labels") or {}
        for wh in mwc.get("webhooks") or []:
            client = wh.get("clientConfig") or {}
            revision = served_revision(client, labels)
            if revision is None or not _handles_pod_create(wh.get("rules") or []):
                continue
            out.append({
                "config_name": meta.get("name"),
                "webhook_name": wh.get("name"),
                "revision": revision,
                "tag": labels.get(TAG_LABEL),  # for messages only
                "namespaceSelector": wh.get("namespaceSelector"),
                "objectSelector": wh.get("objectSelector"),
                "failurePolicy": wh.get("failurePolicy") or "Fail",  # admissionregistration/v1 default
                # For messages only: such selectors simply never match.
                "deactivated": DEACTIVATED_KEY in (_selector_keys(wh.get("namespaceSelector"))
                                                   | _selector_keys(wh.get("objectSelector"))),
                "url": client.get("url"),
                "service": client.get("service"),
            })
    return out


def _handles_pod_create(rules: list[dict]) -> bool:
    def has(rule, key, value):
        values = rule.get(key) or []
        return value in values or "*" in values

    return any(has(r, "operations", "CREATE") and has(r, "apiGroups", "") and has(r, "apiVersions", "v1")
               and has(r, "resources", "pods") for r in rules)


def matching_webhooks(webhooks: list[dict], namespace_labels: dict, pod_labels: dict) -> list[dict]:
    """Webhooks the API server would call for a pod CREATE: namespaceSelector matches the namespace,
    objectSelector the pod (a missing selector matches everything), rules cover pods CREATE.
    Deactivated webhooks never match: their selectors require istio.io/deactivated=never-match."""
    return [
        w for w in webhooks
        if match_label_selector(w.get("namespaceSelector"), namespace_labels, nil_matches=True)
        and match_label_selector(w.get("objectSelector"), pod_labels, nil_matches=True)
    ]


@dataclass(frozen=True)
class InjectionDecision:
    """Outcome of admitting one pod CREATE.

    `webhook`/`config_name`/`failure_policy` name the effective webhook whenever one matched, even when
    the injector then skips the pod (hostNetwork, opt-out annotation): the API server still calls it,
    so an unreachable injector with failurePolicy Fail still rejects that pod. `matched` lists every
    webhook called. `revision` is None when no sidecar is injected. Reachability is the caller's
    business (this decision is independent of the injector being up)."""

    revision: str | None
    webhook: str | None
    failure_policy: str | None
    reason: str
    config_name: str | None = None
    tag: str | None = None
    matched: tuple = ()

    @property
    def injected(self) -> bool:
        return self.revision is not None


def _skip_reason(namespace_name: str, pod: dict) -> str | None:
    """pkg/kube/inject/inject.go injectRequired, with the default policy `enabled`."""
    if (pod.get("spec") or {}).get("hostNetwork"):
        return "pod uses hostNetwork; the injector skips it (inject.go injectRequired)"
    if namespace_name in IGNORED_NAMESPACES:
        return f"namespace {namespace_name} is ignored by the injector (initializer.go IgnoredNamespaces)"
    meta = pod.get("metadata") or {}
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    value = labels[INJECT_LABEL] if INJECT_LABEL in labels else annotations.get(INJECT_LABEL)
    if value == "false":
        return f"pod has {INJECT_LABEL}=false (the label wins over the annotation: inject.go injectRequired)"
    return None


def _no_match_reason(webhooks: list[dict], ns: dict, pod: dict) -> str:
    """Why no webhook matched, in Istio's precedence order (mutatingwebhook.yaml selectors)."""
    inj, ns_rev, pod_rev = ns.get(INJECTION_LABEL), ns.get(REV_LABEL), pod.get(REV_LABEL)
    if inj is not None and inj != "enabled":
        return f"namespace has {INJECTION_LABEL}={inj}; pods cannot override it"
    if pod.get(INJECT_LABEL) == "false":
        return f"pod opted out with label {INJECT_LABEL}=false"
    if inj == "enabled":
        both = f" ({INJECTION_LABEL} overrides the namespace's {REV_LABEL}={ns_rev})" if ns_rev else ""
        return f"namespace has {INJECTION_LABEL}=enabled but no active default-revision injector{both}"
    key = ns_rev or pod_rev
    if key is not None:
        where = "namespace" if ns_rev else "pod"
        shadowed = f"; the pod's {REV_LABEL}={pod_rev} is ignored" if ns_rev and pod_rev else ""
        if any(w["deactivated"] and key in (w["tag"], w["revision"]) for w in webhooks):
            return f"{where} label {REV_LABEL}={key} only matches deactivated webhooks{shadowed}"
        return f"no injector webhook for revision or tag {key!r} ({where} label {REV_LABEL}){shadowed}"
    return "namespace has no injection label and the pod does not select a revision"


def decide_injection(mwcs: list[dict], namespace: dict, pod: dict) -> InjectionDecision:
    """Which revision (if any) injects this pod at CREATE, given the cluster's MWCs.

    Selectors do the precedence (mutatingwebhook.yaml): istio-injection beats istio.io/rev; an
    istio-injection value other than `enabled` blocks everything; a namespace istio.io/rev beats the
    pod's; tags resolve to their MWC's istio.io/rev. If several webhooks match (a misconfiguration)
    the API server calls all of them in series and each istiod re-injects over the previous result
    (webhook.go: containers listed in the status annotation are replaced), so the LAST one wins."""
    ns_meta = namespace.get("metadata") or {}
    ns_name = ns_meta.get("name", "")
    ns_labels = {"kubernetes.io/metadata.name": ns_name, **(ns_meta.get("labels") or {})}
    pod_labels = (pod.get("metadata") or {}).get("labels") or {}
    webhooks = injector_webhooks(mwcs)
    matched = matching_webhooks(webhooks, ns_labels, pod_labels)
    if not matched:
        return InjectionDecision(None, None, None, _no_match_reason(webhooks, ns_labels, pod_labels))
    eff = matched[-1]
    via = f" (tag {eff['tag']})" if eff["tag"] else ""
    reason = f"{eff['config_name']}/{eff['webhook_name']} matched: revision {eff['revision']}{via}"
    if len(matched) > 1:
        names = ", ".join(f"{w['config_name']}/{w['webhook_name']}" for w in matched)
        reason += f"; misconfiguration: {len(matched)} injector webhooks matched ({names}), the last one wins"
    skip = _skip_reason(ns_name, pod)
    return InjectionDecision(
        revision=None if skip else eff["revision"],
        webhook=eff["webhook_name"],
        failure_policy=eff["failurePolicy"],
        reason=f"{reason}; not injected: {skip}" if skip else reason,
        config_name=eff["config_name"],
        tag=eff["tag"],
        matched=tuple(matched),
    )


# --------------------------------------------------------------------------- injector values


def injector_configmap_name(revision: str) -> str:
    return "istio-sidecar-injector" if _is_default(revision) else f"istio-sidecar-injector-{revision}"


def _named(configmaps: list[dict], name: str) -> dict | None:
    for cm in configmaps:
        meta = cm.get("metadata") or {}
        if meta.get("name") == name and meta.get("namespace", ISTIO_NAMESPACE) == ISTIO_NAMESPACE:
            return cm
    return None


def sidecar_injector_values(configmaps: list[dict], revision: str) -> dict | None:
    """What the revision's injector works from: ConfigMap istio-sidecar-injector[-<rev>] `values`
    (istiod-injector-configmap.yaml) and the mesh config istio[-<rev>] `mesh` (its defaultConfig is
    the lowest ProxyConfig layer). None if the injector ConfigMap is absent.

    `image` is what a pod with no image annotations and no ProxyConfig gets (inject.go ProxyImage
    with the mesh defaultConfig's image); inject_pod(..., injector=this) decides per pod. Native
    sidecars: pilot.env ENABLE_NATIVE_SIDECARS (pilot/pkg/features/pilot.go: "true", "false", "auto")."""
    cm = _named(configmaps, injector_configmap_name(revision))
    if cm is None:
        return None
    values = json.loads((cm.get("data") or {}).get("values") or "{}")
    mesh_cm = _named(configmaps, "istio" if _is_default(revision) else f"istio-{revision}")
    mesh = yaml.safe_load((mesh_cm.get("data") or {}).get("mesh") or "") if mesh_cm else None
    mesh = mesh if isinstance(mesh, dict) else {}
    pilot = values.get("pilot") or {}
    mode = (pilot.get("env") or {}).get("ENABLE_NATIVE_SIDECARS")
    mode = None if mode is None else str(mode).lower()
    injector = {
        "values": values,
        "mesh": mesh,
        "native_sidecars": mode == "true",
        "native_sidecar_mode": mode,
        "cni": bool((pilot.get("cni") or {}).get("enabled")),
    }
    injector["image"] = injected_proxy_image(injector, {"metadata": {"namespace": ""}}, [])
    return injector


# --------------------------------------------------------------------------- proxy image

IMAGE_TYPE_DEFAULT = "default"
KNOWN_IMAGE_TYPES = ("distroless", "debug")  # inject.go KnownImageTypes, in its order
PROXY_IMAGE_ANNOTATION = "sidecar.istio.io/proxyImage"
PROXY_IMAGE_TYPE_ANNOTATION = "sidecar.istio.io/proxyImageType"
PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"


def _sprint(value) -> str:
    """Go fmt.Sprint/%v of a JSON-decoded value (structpb: numbers are float64)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        number = float(value)
        return f"{number:.0f}" if number.is_integer() and abs(number) < 1e21 else repr(number)
    return str(value)


def update_image_type_if_present(tag: str, image_type: str) -> str:
    if image_type == "":
        return tag
    for known in KNOWN_IMAGE_TYPES:
        if tag.endswith("-" + known):
            tag = tag[: len(tag) - (len(known) + 1)]
            break
    if image_type == IMAGE_TYPE_DEFAULT:
        return tag
    return tag + "-" + image_type


def proxy_image_url(values: dict, image_name: str, image_type: str, annotations: dict) -> str:
    """inject.go proxyImageURL + imageURL."""
    glob = values.get("global") or {}
    tag = _sprint(glob["tag"]) if "tag" in glob and glob["tag"] is not None else ""
    if image_type == "":
        image_type = glob.get("variant") or ""
    if PROXY_IMAGE_TYPE_ANNOTATION in annotations:
        image_type = annotations[PROXY_IMAGE_TYPE_ANNOTATION]
    return (glob.get("hub") or "") + "/" + image_name + ":" + update_image_type_if_present(tag, image_type)


def _merge(high: dict | None, low: dict) -> dict:
    """mergeWithPrecedence(high, low) on ProxyConfig dicts: high's set fields win, messages merge."""
    out = copy.deepcopy(low)
    for key, value in (high or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(value, out[key])
        elif value not in (None, "", {}, []):
            out[key] = copy.deepcopy(value)
    return out


def _to_mesh_proxy_config(spec: dict) -> dict:
    """proxy_config.go toMeshConfigProxyConfig: concurrency, environmentVariables, image."""
    out = {}
    if spec.get("concurrency") is not None:
        out["concurrency"] = spec["concurrency"]
    if spec.get("environmentVariables") is not None:
        out["proxyMetadata"] = spec["environmentVariables"]
    if spec.get("image") is not None:
        out["image"] = spec["image"]
    return out


def effective_proxy_config(mesh: dict, proxyconfigs: list[dict], namespace: str, labels: dict,
                           annotations: dict) -> dict:
    """proxy_config.go EffectiveProxyConfig for a pod (only the fields ProxyImage reads matter)."""
    root = mesh.get("rootNamespace") or ISTIO_NAMESPACE
    by_ns: dict[str, list[dict]] = {}
    for obj in sorted(proxyconfigs, key=lambda o: (o["metadata"].get("creationTimestamp") or "",
                                                   o["metadata"].get("name", ""), o["metadata"].get("namespace", ""))):
        by_ns.setdefault(obj["metadata"].get("namespace", ""), []).append(obj.get("spec") or {})

    def namespace_config(ns):  # mergedNamespaceConfig: the first with a nil selector
        return next((_to_mesh_proxy_config(pc) for pc in by_ns.get(ns, []) if pc.get("selector") is None), None)

    def workload_config():  # mergedWorkloadConfig: the first whose matchLabels are a subset of the pod's
        for pc in by_ns.get(namespace, []):
            match = (pc.get("selector") or {}).get("matchLabels") or {}
            if match and all(labels.get(k) == v for k, v in match.items()):
                return _to_mesh_proxy_config(pc)
        return None

    effective = _merge(mesh.get("defaultConfig") or {}, {})
    effective = _merge(namespace_config(root), effective)
    if namespace != root:
        effective = _merge(namespace_config(namespace), effective)
    workload = workload_config()
    if PROXY_CONFIG_ANNOTATION in annotations:
        try:
            pca = yaml.safe_load(annotations[PROXY_CONFIG_ANNOTATION])
        except yaml.YAMLError:
            pca = None
        if isinstance(pca, dict):  # an unparsable annotation is ignored here (err != nil)
            workload = _merge(workload, pca)
    return _merge(workload, effective)


def injected_proxy_image(injector: dict, pod: dict, proxyconfigs: list[dict]) -> str:
    """The istio-proxy image the upstream template renders for this pod."""
    values, meta = injector["values"], pod.get("metadata") or {}
    annotations, labels = meta.get("annotations") or {}, meta.get("labels") or {}
    proxy_values = (values.get("global") or {}).get("proxy") or {}
    # {{ if contains "/" (annotation .ObjectMeta `sidecar.istio.io/proxyImage` .Values.global.proxy.image) }}
    verbatim = annotations[PROXY_IMAGE_ANNOTATION] if PROXY_IMAGE_ANNOTATION in annotations else \
        _sprint(proxy_values.get("image"))
    if "/" in verbatim:
        return verbatim
    config = effective_proxy_config(injector["mesh"], proxyconfigs, meta.get("namespace", ""), labels, annotations)
    image_type = (config.get("image") or {}).get("imageType") or ""
    return proxy_image_url(values, proxy_values.get("image") or "proxyv2", image_type, annotations)


def injected_init_image(injector: dict, pod: dict) -> str:
    """The init container's image: the template's proxy_init branch, else inject.go ProxyInitImage."""
    values, annotations = injector["values"], (pod.get("metadata") or {}).get("annotations") or {}
    init_values = (values.get("global") or {}).get("proxy_init") or {}
    verbatim = annotations[PROXY_IMAGE_ANNOTATION] if PROXY_IMAGE_ANNOTATION in annotations else \
        _sprint(init_values.get("image"))
    if "/" in verbatim:
        return verbatim
    return proxy_image_url(values, init_values.get("image") or "proxyv2", "", annotations)


def native_sidecar_enabled(mode: str | None, kubelet_versions: list[str]) -> bool:
    """webhook.go DetectNativeSidecar: "true" on, "auto" only if every node's kubelet is >= 1.33."""
    if mode == "true":
        return True
    if mode != "auto" or not kubelet_versions:
        return False
    try:
        return all(int(v.lstrip("v").split(".")[1]) >= 33 for v in kubelet_versions)
    except (IndexError, ValueError):
        return False


# --------------------------------------------------------------------------- injection


def _field_env(name: str, path: str) -> dict:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _init_container(image: str, cni: bool) -> dict:
    """istio-init (or istio-validation with CNI): injection-template.yaml, hello.yaml.injected."""
    args = ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*",
            "-x", "", "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"]
    if cni:
        args += ["--run-validation", "--skip-rule-apply"]
        sec = {"capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
               "runAsGroup": 1337, "runAsUser": 1337, "runAsNonRoot": True}
    else:
        sec = {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
               "readOnlyRootFilesystem": False, "runAsGroup": 0, "runAsUser": 0, "runAsNonRoot": False}
    sec = {"allowPrivilegeEscalation": False, "privileged": False, **sec}
    return {"name": INIT_NAMES[1] if cni else INIT_NAMES[0], "image": image, "args": args,
            "resources": copy.deepcopy(_RESOURCES), "securityContext": sec}


_MOUNTS = [("workload-socket", "/var/run/secrets/workload-spiffe-uds"),
           ("credential-socket", "/var/run/secrets/credential-uds"),
           ("workload-certs", "/var/run/secrets/workload-spiffe-credentials"),
           ("istiod-ca-cert", "/var/run/secrets/istio"), ("istio-data", "/var/lib/istio/data"),
           ("istio-envoy", "/etc/istio/proxy"), ("istio-token", "/var/run/secrets/tokens"),
           ("istio-podinfo", "/etc/istio/pod")]


def _volumes() -> list[dict]:
    """The volumes of hello.yaml.injected, in its order."""
    podinfo = [{"path": p, "fieldRef": {"fieldPath": f"metadata.{p}"}} for p in ("labels", "annotations")]
    token = {"serviceAccountToken": {"audience": "istio-ca", "expirationSeconds": 43200,
                                     "path": "istio-token"}}
    return [
        *({"name": n, "emptyDir": {}} for n in ("workload-socket", "credential-socket", "workload-certs")),
        {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
        {"name": "istio-data", "emptyDir": {}},
        {"name": "istio-podinfo", "downwardAPI": {"items": podinfo}},
        {"name": "istio-token", "projected": {"sources": [token]}},
        {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}},
    ]


def _proxy_container(image: str, revision: str, app_containers: list[str], native: bool) -> dict:
    """istio-proxy as in hello.yaml.injected; restartPolicy Always in native mode."""
    istiod = "istiod" if _is_default(revision) else f"istiod-{revision}"
    probe = {"httpGet": {"path": "/healthz/ready", "port": 15021}, "timeoutSeconds": 3}
    container = {
        "name": PROXY,
        "image": image,
        "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
                 "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error",
                 "--log_output_level=default:info"],
        "env": [
            {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
            {"name": "CA_ADDR", "value": f"{istiod}.{ISTIO_NAMESPACE}.svc:15012"},
            *(_field_env(n, p) for n, p in (
                ("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace"),
                ("INSTANCE_IP", "status.podIP"), ("SERVICE_ACCOUNT", "spec.serviceAccountName"),
                ("HOST_IP", "status.hostIP"))),
            {"name": "ISTIO_META_APP_CONTAINERS", "value": ",".join(app_containers)},
            {"name": "ISTIO_META_INTERCEPTION_MODE", "value": "REDIRECT"},
            {"name": "ISTIO_META_MESH_ID", "value": "cluster.local"},
            {"name": "TRUST_DOMAIN", "value": "cluster.local"},
        ],
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "readinessProbe": {**probe, "failureThreshold": 4, "periodSeconds": 15},
        "startupProbe": {**probe, "failureThreshold": 600, "periodSeconds": 1},
        "resources": copy.deepcopy(_RESOURCES),
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "privileged": False, "readOnlyRootFilesystem": True, "runAsGroup": 1337,
                            "runAsNonRoot": True, "runAsUser": 1337},
        "volumeMounts": [{"name": n, "mountPath": p} for n, p in _MOUNTS],
    }
    if native:
        container["restartPolicy"] = "Always"
    return container


def _workload_name(meta: dict) -> str:
    """Roughly kube.GetDeployMetaFromPod: owning ReplicaSet minus its pod-template-hash, else owner,
    else the pod's own name."""
    owners = meta.get("ownerReferences") or []
    if owners:
        name, pth = owners[0].get("name", ""), (meta.get("labels") or {}).get("pod-template-hash")
        if owners[0].get("kind") == "ReplicaSet" and pth and name.endswith(f"-{pth}"):
            return name[: -len(pth) - 1]
        return name
    return meta.get("name") or (meta.get("generateName") or "").rstrip("-")


def _strip_previous(spec: dict, annotations: dict) -> None:
    """webhook.go re-injection: drop what the previous status annotation says was injected (from
    either container list, since istio-proxy moves when native mode changes)."""
    try:
        status = json.loads(annotations.get(STATUS_ANNOTATION) or "{}")
    except ValueError:
        status = {}
    containers = set(status.get("initContainers") or []) | set(status.get("containers") or [])
    for key, names in (("initContainers", containers), ("containers", containers),
                       ("volumes", set(status.get("volumes") or []))):
        if key in spec:
            spec[key] = [c for c in spec[key] if c.get("name") not in names]


def inject_pod(pod: dict, revision: str, proxy_image: str, native_sidecar: bool, cni: bool = False,
               injector: dict | None = None, proxyconfigs: list[dict] | None = None) -> dict:
    """A new pod dict as istiod's injector mutates it (injection-template.yaml, webhook.go
    postProcessPod/reorderPod). `revision` is the real revision (never a tag).

    With `injector` (sidecar_injector_values) the images are decided per pod from the values, the
    mesh config, `proxyconfigs` (ProxyConfig objects) and the pod's annotations
    (injected_proxy_image); without it `proxy_image` is used, or a proxyImage annotation with a "/".
    Pod annotations honoured: sidecar.istio.io/proxyImage, sidecar.istio.io/proxyImageType,
    proxy.istio.io/config, sidecar.istio.io/nativeSidecar.
    A pod already carrying the status annotation is re-injected like Istio does (previously injected
    containers/volumes replaced), so injecting twice with the same inputs returns an equal pod."""
    new = copy.deepcopy(pod)
    meta = new.setdefault("metadata", {})
    labels = meta.setdefault("labels", {})
    annotations = meta.setdefault("annotations", {})
    spec = new.setdefault("spec", {})
    _strip_previous(spec, annotations)

    if injector is not None:
        image = injected_proxy_image(injector, new, proxyconfigs or [])
        init_image = injected_init_image(injector, new)
    else:
        ann = annotations.get(PROXY_IMAGE_ANNOTATION, "")
        image = init_image = ann if "/" in ann else proxy_image
    native = annotations.get("sidecar.istio.io/nativeSidecar", str(native_sidecar).lower()) != "false"
    apps = [c["name"] for c in spec.get("containers") or [] if c.get("name") != PROXY]
    init = _init_container(init_image, cni)
    proxy = _proxy_container(image, revision, apps, native)
    # a user-declared istio-proxy overrides template fields (webhook.go reapplyOverwrittenContainers;
    # shallow here, strategic merge there)
    for key in ("containers", "initContainers"):
        overrides = [c for c in spec.get(key) or [] if c.get("name") == PROXY]
        spec[key] = [c for c in spec.get(key) or [] if c.get("name") != PROXY]
        for override in overrides:
            proxy.update({k: v for k, v in override.items() if (k, v) != ("image", "auto")})
    user_inits = spec.get("initContainers") or []
    if native:  # reorderPod: {istio-init|istio-validation} => proxy => user init containers
        spec["initContainers"] = [init, proxy, *user_inits]
        spec["containers"] = list(spec.get("containers") or [])
    else:  # istio-validation first, istio-init last; proxy last container (default-container stays the app)
        spec["initContainers"] = [init, *user_inits] if cni else [*user_inits, init]
        spec["containers"] = [*(spec.get("containers") or []), proxy]
    volumes = _volumes()
    spec["volumes"] = [*(spec.get("volumes") or []), *volumes]

    # injection-template.yaml metadata
    labels.setdefault("security.istio.io/tlsMode", "istio")
    canonical = (labels.get("service.istio.io/canonical-name") or labels.get("app.kubernetes.io/name")
                 or labels.get("app") or _workload_name(meta))
    labels["service.istio.io/canonical-name"] = canonical[:63].strip("-_.")
    labels["service.istio.io/canonical-revision"] = (
        labels.get("service.istio.io/canonical-revision") or labels.get("app.kubernetes.io/version")
        or labels.get("version") or "latest")
    annotations[REV_LABEL] = revision or "default"  # an annotation since 1.18, never a label
    if apps:
        annotations.setdefault("kubectl.kubernetes.io/default-logs-container", apps[0])
        annotations.setdefault("kubectl.kubernetes.io/default-container", apps[0])
    if annotations.get("prometheus.io/scrape", "true").lower() != "false":  # webhook.go applyPrometheusMerge
        annotations.update({"prometheus.io/path": "/stats/prometheus", "prometheus.io/port": "15020",
                            "prometheus.io/scrape": "true"})
    status = {  # inject.go SidecarInjectionStatus; Go marshals empty lists as null
        "initContainers": [init["name"], PROXY] if native else [init["name"]],
        "containers": None if native else [PROXY],
        "volumes": [v["name"] for v in volumes],
        "imagePullSecrets": None,
        "revision": revision or "default",
    }
    annotations[STATUS_ANNOTATION] = json.dumps(status, separators=(",", ":"))
    return new


# --------------------------------------------------------------------------- control plane objects


def istiod_pod_labels(revision: str, template_hash: str) -> dict:
    """istio-discovery templates/deployment.yaml pod labels (as the seed page shows them)."""
    default = _is_default(revision)
    return {"app": "istiod", REV_LABEL: "default" if default else revision,
            "istio": "pilot" if default else "istiod", "pod-template-hash": template_hash}


def _webhook(prefix: str, client: dict, failure_policy: str, ns_sel: list, obj_sel: list) -> dict:
    return {
        "name": f"{prefix}{INJECTOR_SUFFIX}",
        "clientConfig": copy.deepcopy(client),
        "sideEffects": "None",
        "rules": [copy.deepcopy(_POD_CREATE_RULE)],
        "failurePolicy": failure_policy,
        "reinvocationPolicy": "Never",
        "admissionReviewVersions": ["v1"],
        "namespaceSelector": {"matchExpressions": ns_sel},
        "objectSelector": {"matchExpressions": obj_sel},
    }


def _expr(key: str, op: str, *values: str) -> dict:
    return {"key": key, "operator": op, **({"values": list(values)} if values else {})}


def injector_webhook_config(revision: str, tag: str | None = None, default: bool = False,
                            failure_policy: str = "Fail", url: str | None = None,
                            name: str | None = None, path: str = "/inject") -> dict:
    """A MutatingWebhookConfiguration as istio-discovery renders it: mutatingwebhook.yaml for a
    revision (`default`/"" = unrevisioned install), revision-tags-mwc.yaml when `tag` is given.
    The namespace./object. webhooks come with unrevisioned installs, tag `default`, or default=True.
    `url` gives a URL clientConfig (managed ASM, whose MWCs are named e.g. istiod-asm-managed-rapid:
    pass `name`)."""
    unrevisioned = _is_default(revision)
    key = tag or ("default" if unrevisioned else revision)
    svc = "istiod" if unrevisioned else f"istiod-{revision}"
    client = {"url": url} if url else {
        "service": {"name": svc, "namespace": ISTIO_NAMESPACE, "path": path, "port": 443}}
    if name is None:
        name = f"istio-revision-tag-{tag}" if tag else injector_configmap_name(revision)
    labels = {REV_LABEL: "default" if unrevisioned else revision, "app": "sidecar-injector",
              "operator.istio.io/component": "Pilot", "app.kubernetes.io/name": "istiod"}
    if tag:
        labels[TAG_LABEL] = tag
    not_false = _expr(INJECT_LABEL, "NotIn", "false")
    webhooks = [
        _webhook("rev.namespace.", client, failure_policy,
                 [_expr(REV_LABEL, "In", key), _expr(INJECTION_LABEL, "DoesNotExist")], [not_false]),
        _webhook("rev.object.", client, failure_policy,
                 [_expr(REV_LABEL, "DoesNotExist"), _expr(INJECTION_LABEL, "DoesNotExist")],
                 [not_false, _expr(REV_LABEL, "In", key)]),
    ]
    if default or (unrevisioned and not tag) or tag == "default":
        webhooks += [
            _webhook("namespace.", client, failure_policy, [_expr(INJECTION_LABEL, "In", "enabled")],
                     [not_false]),
            _webhook("object.", client, failure_policy,
                     [_expr(INJECTION_LABEL, "DoesNotExist"), _expr(REV_LABEL, "DoesNotExist")],
                     [_expr(INJECT_LABEL, "In", "true"), _expr(REV_LABEL, "DoesNotExist")]),
        ]
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": name, "labels": labels}, "webhooks": webhooks}


def deactivate(mwc: dict) -> dict:
    """A copy with every webhook's selectors set to NeverMatch, as `istioctl tag set default` does to
    the unrevisioned injector (istioctl/pkg/tag/util.go DeactivateIstioInjectionWebhook)."""
    new = copy.deepcopy(mwc)
    for wh in new.get("webhooks") or []:
        wh["namespaceSelector"] = copy.deepcopy(NEVER_MATCH)
        wh["objectSelector"] = copy.deepcopy(NEVER_MATCH)
    return new

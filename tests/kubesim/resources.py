"""The resource types kubesim serves, with the discovery facts kubectl and client-go read.

Names, short names, verbs and categories follow `kubectl api-resources` of a v1.32 cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_ONLY = ("get", "list", "watch")


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    # Fields the API server accepts in fieldSelector besides metadata.name/namespace
    # (pkg/registry/core/pod/strategy.go ToSelectableFields, ...).
    field_selectors: tuple[str, ...] = ()
    has_generation: bool = False
    # list kind: PodList, ...
    list_kind: str = field(default="", compare=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()


def _r(group, version, kind, plural, namespaced, **kw) -> Resource:
    return Resource(group, version, kind, plural, namespaced, list_kind=kind + "List", **kw)


RESOURCES: tuple[Resource, ...] = (
    _r("", "v1", "Namespace", "namespaces", False, short_names=("ns",),
       verbs=("create", "delete", "get", "list", "patch", "update", "watch"), subresources=("status",),
       field_selectors=("status.phase",)),
    _r("", "v1", "Node", "nodes", False, short_names=("no",), subresources=("status",)),
    _r("", "v1", "Pod", "pods", True, short_names=("po",), categories=("all",),
       subresources=("eviction", "status"),
       field_selectors=("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                        "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
                        "status.nominatedNodeName")),
    _r("", "v1", "ConfigMap", "configmaps", True, short_names=("cm",)),
    _r("", "v1", "Event", "events", True, short_names=("ev",),
       field_selectors=("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                        "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")),
    _r("", "v1", "Service", "services", True, short_names=("svc",), categories=("all",),
       subresources=("status",)),
    _r("apps", "v1", "Deployment", "deployments", True, short_names=("deploy",), categories=("all",),
       subresources=("scale", "status"), has_generation=True),
    _r("apps", "v1", "ReplicaSet", "replicasets", True, short_names=("rs",), categories=("all",),
       subresources=("scale", "status"), has_generation=True),
    _r("apps", "v1", "StatefulSet", "statefulsets", True, short_names=("sts",), categories=("all",),
       subresources=("scale", "status"), has_generation=True),
    _r("apps", "v1", "DaemonSet", "daemonsets", True, short_names=("ds",), categories=("all",),
       subresources=("status",), has_generation=True),
    _r("batch", "v1", "Job", "jobs", True, categories=("all",), subresources=("status",), has_generation=True),
    _r("batch", "v1", "CronJob", "cronjobs", True, short_names=("cj",), categories=("all",),
       subresources=("status",), has_generation=True),
    _r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, short_names=("pdb",),
       subresources=("status",), has_generation=True),
    _r("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
       "mutatingwebhookconfigurations", False, has_generation=True),
    # Stored and served, never called (admission calls Istio's injector only): `istioctl tag set default`
    # writes istiod-default-validator (istioctl/pkg/tag/generate.go generateValidatingWebhook).
    _r("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
       "validatingwebhookconfigurations", False, has_generation=True),
    # Managed ASM's control plane object (controlplanerevisions.mesh.cloud.google.com).
    _r("mesh.cloud.google.com", "v1beta1", "ControlPlaneRevision", "controlplanerevisions", True,
       subresources=("status",), has_generation=True),
    # Istio's ProxyConfig (proxyconfigs.networking.istio.io; only v1beta1 exists): its image.imageType
    # changes the injected proxy image (istio.py effective_proxy_config).
    _r("networking.istio.io", "v1beta1", "ProxyConfig", "proxyconfigs", True, has_generation=True),
)

BY_PLURAL: dict[tuple[str, str], Resource] = {(r.group, r.plural): r for r in RESOURCES}
BY_KIND: dict[str, Resource] = {r.kind: r for r in RESOURCES}


def groups() -> dict[str, list[Resource]]:
    """Resources by API group, core group ("") first, in a stable order."""
    out: dict[str, list[Resource]] = {}
    for res in RESOURCES:
        out.setdefault(res.group, []).append(res)
    return out


# Subresource verbs as discovery lists them.
SUBRESOURCE_VERBS = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "eviction": ("create",),
}
SUBRESOURCE_KIND = {"scale": ("autoscaling", "v1", "Scale"), "eviction": ("policy", "v1", "Eviction")}

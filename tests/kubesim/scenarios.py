"""Scenarios: YAML files describing a cluster, expanded into Kubernetes objects and loaded
through the same create path (admission, controllers) the API uses.

Shorthand keys (all optional): kubernetes_version, kubelet, nodes, control_plane {revisions, tags,
managed}, namespaces [{name, labels, workloads}], objects (raw manifests), users, groups, faults, generate.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path

import yaml

from . import istio, kwok
from .cluster import ISTIO_NAMESPACE, Cluster, KubeletConfig
from .clock import Clock
from .resources import BY_KIND

SCENARIO_DIR = Path(__file__).parent / "scenarios"
CONTROL_PLANE_AGE = 23 * 3600  # the seed page shows istiod pods 23h old
APP_AGE = 3600


def resolve(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = SCENARIO_DIR / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    known = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
    raise SystemExit(f"kubesim: unknown scenario {name_or_path!r}; known: {', '.join(known)} or a path to a .yaml")


def load_spec(name_or_path: str, params: dict | None = None) -> dict:
    spec = yaml.safe_load(resolve(name_or_path).read_text()) or {}
    if params:
        spec.setdefault("generate", {}).update({k: int(v) for k, v in params.items()})
    return spec


def build_cluster(spec: dict, seed: int = 1, speed: float = 1.0) -> Cluster:
    from .controllers import Controllers

    kubelet = KubeletConfig(**(spec.get("kubelet") or {}))
    wall = time.time()
    clock = Clock(speed=speed, start=wall - CONTROL_PLANE_AGE)
    cluster = Cluster(clock, version=spec.get("kubernetes_version", "v1.32.4"), kubelet=kubelet, seed=seed)
    Controllers(cluster)
    cluster.store.recording = False  # no watch history for the load itself
    control_plane, webhooks = _system_objects(spec)
    # istiod runs before its injector webhook exists, as an install orders it: the seed's istiod
    # pods carry no `sidecar.istio.io/inject=false` label, so the rev.object webhook would match them.
    for batch in (control_plane, webhooks):
        for obj in batch:
            _create(cluster, obj)
        cluster.settle(max_sim_seconds=600)
    clock.advance(max(0.0, (wall - APP_AGE) - clock.now()))
    for obj in _app_objects(spec):
        _create(cluster, obj)
    cluster.settle(max_sim_seconds=max(0.0, time.time() - clock.now()))
    clock.advance(max(0.0, time.time() - clock.now()))  # serve with simulated time = wall time
    cluster.store.recording = True
    faults = spec.get("faults") or {}
    unknown = sorted(set(faults) - set(cluster.faults))
    if unknown:
        raise SystemExit(f"kubesim: unknown scenario faults {unknown}; valid: {sorted(cluster.faults)}")
    try:
        cluster.set_faults(faults)
    except ValueError as exc:
        raise SystemExit(f"kubesim: scenario faults: {exc}") from None
    return cluster


def _create(cluster: Cluster, obj: dict) -> None:
    res = BY_KIND[obj["kind"]]
    cluster.create(res, obj, obj["metadata"].get("namespace"))


# -- expansion -----------------------------------------------------------------------------
def _nodes(spec: dict) -> list[dict]:
    nodes = spec.get("nodes") or {"count": 3}
    if isinstance(nodes, dict):
        version = nodes.get("kubelet_version", "v1.32.4-gke.1106000")
        nodes = [{"name": f"gke-cluster-1-default-pool-5f9a2c1e-{i:04d}", "kubelet_version": version}
                 for i in range(nodes.get("count", 3))]
    out = []
    for n in nodes:
        out.append({"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": n["name"], "labels": {"kubernetes.io/hostname": n["name"],
                                                               "kubernetes.io/os": "linux", **n.get("labels", {})}},
                    "status": {"nodeInfo": _node_info(n["name"], n.get("kubelet_version", "v1.32.4")),
                               "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}})
    return out


def _node_info(name: str, kubelet_version: str) -> dict:
    """core/v1 NodeSystemInfo as a GKE COS node's kubelet reports it: every field is required (clients that
    validate, like the kubernetes Python client, refuse a Node without them)."""
    ident = uuid.uuid5(uuid.NAMESPACE_DNS, name)
    return {"architecture": "amd64", "bootID": str(uuid.uuid5(ident, "boot")), "containerRuntimeVersion":
            "containerd://1.7.27", "kernelVersion": "6.6.72+", "kubeProxyVersion": kubelet_version,
            "kubeletVersion": kubelet_version, "machineID": ident.hex, "operatingSystem": "linux",
            "osImage": "Container-Optimized OS from Google", "systemUUID": str(uuid.uuid5(ident, "system"))}


def _namespace(name: str, labels: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}}


def _system_objects(spec: dict) -> tuple[list[dict], list[dict]]:
    """(control plane objects, injector webhooks)."""
    cp = spec.get("control_plane") or {}
    objs = _nodes(spec) + [_namespace(n) for n in ("kube-system", "kube-public", "kube-node-lease", "default")]
    objs.append(_namespace(ISTIO_NAMESPACE))
    webhooks = []
    for rev in cp.get("revisions") or []:
        objs += _revision_objects(rev)
        webhooks.append(istio.injector_webhook_config(rev["name"], default=rev.get("default", False),
                                                      failure_policy=rev.get("failure_policy", "Fail")))
    for managed in cp.get("managed") or []:
        objs += _managed_objects(managed)
        webhooks.append(istio.injector_webhook_config(
            managed["name"], url=_managed_url(managed["name"]), name=f"istiod-{managed['name']}",
            failure_policy=managed.get("failure_policy", "Ignore")))
    for tag in cp.get("tags") or []:
        mwc = istio.injector_webhook_config(tag["revision"], tag=tag["name"],
                                            failure_policy=tag.get("failure_policy", "Fail"),
                                            url=_managed_url(tag["revision"]) if tag.get("managed") else None)
        webhooks.append(istio.deactivate(mwc) if tag.get("deactivated") else mwc)
    return objs, webhooks


def _injector_configmap(revision: str, hub: str, tag: str, native: bool | str = False) -> dict:
    mode = native if isinstance(native, str) else ("true" if native else "false")
    values = {"global": {"hub": hub, "tag": tag, "proxy": {"image": "proxyv2"}},
              "pilot": {"env": {"ENABLE_NATIVE_SIDECARS": mode}}, "revision": revision}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": istio.injector_configmap_name(revision), "namespace": ISTIO_NAMESPACE,
                         "labels": {"istio.io/rev": revision, "release": "istio"}},
            "data": {"values": json.dumps(values), "config": "policy: enabled\n"}}


def _revision_objects(rev: dict) -> list[dict]:
    name, version = rev["name"], rev["version"]
    hub = rev.get("hub", "gcr.io/gke-release/asm")
    deploy_name = "istiod" if name == "default" else f"istiod-{name}"
    labels = {"app": "istiod", "istio.io/rev": name, "istio": "pilot" if name == "default" else "istiod"}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": deploy_name, "namespace": ISTIO_NAMESPACE, "labels": dict(labels)},
        "spec": {"replicas": rev.get("replicas", 1), "selector": {"matchLabels": {"app": "istiod",
                                                                                    "istio.io/rev": name}},
                 "template": {"metadata": {"labels": dict(labels)},
                              "spec": {"serviceAccountName": "istiod",
                                       "containers": [{"name": "discovery", "image": f"{hub}/pilot:{version}",
                                                       "ports": [{"containerPort": 15017},
                                                                 {"containerPort": 15010}]}]}}}}
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": deploy_name, "namespace": ISTIO_NAMESPACE, "labels": dict(labels)},
               "spec": {"selector": {"app": "istiod", "istio.io/rev": name},
                        "ports": [{"name": "https-webhook", "port": 443, "targetPort": 15017}]}}
    return [_injector_configmap(name, hub, version, rev.get("native_sidecars", False)), service, deployment]


def _managed_url(revision: str) -> str:
    return f"https://meshconfig.googleapis.com/v1alpha1/projects/demo/locations/us-central1/clusters/c1:{revision}"


def _managed_objects(managed: dict) -> list[dict]:
    name = managed["name"]
    channel = managed.get("channel", name.rsplit("-", 1)[-1])
    cpr = {"apiVersion": "mesh.cloud.google.com/v1beta1", "kind": "ControlPlaneRevision",
           "metadata": {"name": name, "namespace": ISTIO_NAMESPACE,
                        "labels": {"mesh.cloud.google.com/managed-cni-enabled": "false"}},
           "spec": {"type": "managed_service", "channel": channel.upper()},
           "status": {"conditions": [
               {"type": "Reconciled", "status": "True", "reason": "Reconciled", "message": "Ready"},
               {"type": "Stalled", "status": "False", "reason": "NotStalled", "message": "Processing"},
               {"type": "ProvisioningFinished", "status": "True", "reason": "Provisioned", "message": "Provisioned"}]}}
    cm = _injector_configmap(name, managed.get("hub", "gcr.io/gke-release/asm"), managed["version"],
                             managed.get("native_sidecars", False))
    return [cpr, cm]


def workload(namespace: str, w: dict) -> list[dict]:
    """Expand a workload shorthand ({kind, name, replicas, image, ...}) into manifests."""
    kind, name = w["kind"], w["name"]
    _check_kwok_timing(namespace, name, w.get("annotations") or {})
    pod_labels = {"app": name, **(w.get("labels") or {})}
    container = {"name": w.get("container", name), "image": w.get("image", f"docker.io/istio/examples-{name}:1.20"),
                 "ports": [{"containerPort": w.get("port", 8080)}]}
    pod_spec = {"containers": [container], **(w.get("pod_spec") or {})}
    if w.get("host_network"):
        pod_spec["hostNetwork"] = True
    template = {"metadata": {"labels": pod_labels, **({"annotations": w["annotations"]} if w.get("annotations")
                                                        else {})}, "spec": pod_spec}
    meta = {"name": name, "namespace": namespace, "labels": {"app": name}}
    api = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Job": "batch/v1",
           "CronJob": "batch/v1", "Pod": "v1", "PodDisruptionBudget": "policy/v1"}[kind]
    obj: dict = {"apiVersion": api, "kind": kind, "metadata": meta}
    if kind == "Pod":
        obj["metadata"] = {**meta, "labels": pod_labels, **template["metadata"]}
        obj["metadata"]["labels"] = pod_labels
        obj["spec"] = pod_spec
    elif kind == "PodDisruptionBudget":
        obj["spec"] = {"selector": {"matchLabels": {"app": w.get("target", name)}},
                       **{k: w[k] for k in ("minAvailable", "maxUnavailable") if k in w}}
    elif kind == "Job":
        obj["spec"] = {"template": {**template, "spec": {**pod_spec, "restartPolicy": "Never"}}}
    elif kind == "CronJob":
        obj["spec"] = {"schedule": w.get("schedule", "0 3 * * *"), "suspend": True, "jobTemplate": {
            "spec": {"template": {**template, "spec": {**pod_spec, "restartPolicy": "Never"}}}}}
    else:
        obj["spec"] = {"selector": {"matchLabels": {"app": name}}, "template": template}
        if kind != "DaemonSet":
            obj["spec"]["replicas"] = w.get("replicas", 1)
        if kind == "StatefulSet":
            obj["spec"]["serviceName"] = name
        if w.get("update_strategy"):
            key = "strategy" if kind == "Deployment" else "updateStrategy"
            obj["spec"][key] = {"type": w["update_strategy"]}
        if w.get("paused"):
            obj["spec"]["paused"] = True
    for key, value in (w.get("spec") or {}).items():
        obj["spec"][key] = copy.deepcopy(value)
    return [obj]


def _check_kwok_timing(namespace: str, name: str, annotations: dict) -> None:
    """Refuse kwok's silent cap (see kwok.py): a ready delay above the default jitter needs a jitter-delay."""
    delay = kwok.duration_from(annotations, kwok.READY_DELAY, 0.0)
    if delay is not None and delay > kwok.READY_DEFAULTS[1] and kwok.READY_JITTER not in annotations:
        raise SystemExit(f"kubesim: workload {namespace}/{name}: {kwok.READY_DELAY} {annotations[kwok.READY_DELAY]!r} "
                         f"without {kwok.READY_JITTER}: kwok (and kubesim) would make its pods ready after "
                         f"{kwok.READY_DEFAULTS[1]:g}s, the default jitter; set {kwok.READY_JITTER} to the latest "
                         f"ready time (equal to the delay for an exact one)")


def _app_objects(spec: dict) -> list[dict]:
    objs = []
    for ns in spec.get("namespaces") or []:
        objs.append(_namespace(ns["name"], ns.get("labels")))
        for w in ns.get("workloads") or []:
            objs += workload(ns["name"], w)
    gen = spec.get("generate")
    if gen:
        objs += _generated(gen)
    for raw in spec.get("objects") or []:
        objs.append(copy.deepcopy(raw))
    return objs


def _generated(gen: dict) -> list[dict]:
    """The `scale` scenario: N namespaces × W Deployments × R replicas."""
    objs = []
    labels = gen.get("namespace_labels") or {}
    for i in range(int(gen.get("namespaces", 10))):
        ns = f"app-{i:04d}"
        objs.append(_namespace(ns, {"tier": "apps", **labels}))
        for j in range(int(gen.get("workloads", 10))):
            objs += workload(ns, {"kind": "Deployment", "name": f"svc-{j:02d}", "replicas": int(gen.get("replicas", 3)),
                                  "image": "docker.io/istio/examples-bookinfo-details-v1:1.20.2"})
    return objs


def users(spec: dict) -> list[dict]:
    return list(spec.get("users") or [])

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pods and workloads as the API server returns them (typed-list items: no kind/apiVersion), for the
rollout unit tests.

Injected pods follow istio/istio pkg/kube/inject (injection-template.yaml): classic sidecars are
`istio-init` + container `istio-proxy`; native sidecars (Istio >= 1.19, ENABLE_NATIVE_SIDECARS) put
`istio-proxy` in initContainers with `restartPolicy: Always`; the `sidecar.istio.io/status`
annotation is JSON carrying the real revision.
"""

from __future__ import annotations

import json

REV = "asm-173-3"
NEW_REV = "asm-1162-2"
PROXY_IMAGE = "gcr.io/gke-release/asm/proxyv2:1.7.3-asm.3"
NEW_PROXY_IMAGE = "gcr.io/gke-release/asm/proxyv2:1.16.2-asm.2"
APP_IMAGE = "docker.io/istio/examples-bookinfo-reviews-v1:1.20.2"


def status_annotation(revision):
    return json.dumps({"initContainers": ["istio-init"], "containers": ["istio-proxy"],
                       "volumes": ["istio-envoy", "istio-data", "istio-podinfo", "istio-token", "istiod-ca-cert"],
                       "imagePullSecrets": None, "revision": revision})


def running(name, ready=True, restarts=0):
    return {"name": name, "ready": ready, "restartCount": restarts, "started": True,
            "state": {"running": {"startedAt": "2026-11-25T10:00:00Z"}}}


def waiting(name, reason, message=None, restarts=0):
    state = {"reason": reason}
    if message:
        state["message"] = message
    return {"name": name, "ready": False, "restartCount": restarts, "started": False, "state": {"waiting": state}}


def completed_init(name="istio-init"):
    return {"name": name, "ready": True, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}


def pod(name="reviews-6c88c486f4-cm5zx", namespace="demo", owner=("ReplicaSet", "reviews-6c88c486f4"),
        sidecar="classic", revision=REV, proxy_image=PROXY_IMAGE, phase="Running", app_ready=True,
        proxy_ready=True, labels=None, annotations=None, host_network=False, terminating=False,
        container_statuses=None, init_statuses=None, conditions=None, uid=None):
    """A pod; sidecar: "classic", "native" or None (not injected)."""
    labels = {"app": name.split("-")[0], "pod-template-hash": "6c88c486f4", **(labels or {})}
    annotations = dict(annotations or {})
    containers = [{"name": "app", "image": APP_IMAGE}]
    init_containers = []
    statuses = [running("app", app_ready)]
    init = []
    if sidecar:
        annotations.setdefault("sidecar.istio.io/status", status_annotation(revision))
        annotations.setdefault("istio.io/rev", revision)
        init_containers.append({"name": "istio-init", "image": proxy_image})
        init.append(completed_init())
        proxy = {"name": "istio-proxy", "image": proxy_image}
        if sidecar == "native":
            proxy["restartPolicy"] = "Always"
            init_containers.append(proxy)
            init.append(running("istio-proxy", proxy_ready))
        else:
            containers.append(proxy)
            statuses.append(running("istio-proxy", proxy_ready))
    meta = {"name": name, "namespace": namespace, "uid": uid or "uid-" + name, "labels": labels,
            "annotations": annotations, "resourceVersion": "1234", "creationTimestamp": "2026-11-25T10:00:00Z"}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1],
                                    "uid": "uid-" + owner[1], "controller": True, "blockOwnerDeletion": True}]
    if terminating:
        meta["deletionTimestamp"] = "2026-11-25T10:05:00Z"
        meta["deletionGracePeriodSeconds"] = 30
    spec = {"containers": containers, "nodeName": "gke-node-1", "restartPolicy": "Always"}
    if init_containers:
        spec["initContainers"] = init_containers
    if host_network:
        spec["hostNetwork"] = True
    all_ready = phase == "Running" and all(s["ready"] for s in statuses + init)
    status = {
        "phase": phase,
        "conditions": conditions if conditions is not None else [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": "True" if all_ready else "False"},
            {"type": "Ready", "status": "True" if all_ready else "False"}],
        "containerStatuses": container_statuses if container_statuses is not None else statuses,
    }
    if init or init_statuses is not None:
        status["initContainerStatuses"] = init_statuses if init_statuses is not None else init
    return {"metadata": meta, "spec": spec, "status": status}


def deployment(name="reviews", namespace="demo", replicas=3, generation=2, observed=2, updated=None,
               current=None, available=None, ready=None, paused=False, strategy="RollingUpdate", conditions=None):
    updated = replicas if updated is None else updated
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": "uid-" + name, "generation": generation,
                     "labels": {"app": name}},
        "spec": {"replicas": replicas, "paused": paused, "strategy": {"type": strategy},
                 "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app"}]}}},
        "status": {"observedGeneration": observed, "replicas": replicas if current is None else current,
                   "updatedReplicas": updated, "readyReplicas": replicas if ready is None else ready,
                   "availableReplicas": replicas if available is None else available,
                   "conditions": conditions or [
                       {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                       {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]},
    }


def statefulset(name="mysql", namespace="demo", replicas=2, generation=1, observed=1, strategy="RollingUpdate",
                partition=None, ready=None, updated=None, current_revision="mysql-5d8f7b9c4", update_revision=None):
    update = {"type": strategy}
    if strategy == "RollingUpdate" and partition is not None:
        update["rollingUpdate"] = {"partition": partition}
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": "uid-" + name, "generation": generation},
        "spec": {"replicas": replicas, "updateStrategy": update, "serviceName": name,
                 "selector": {"matchLabels": {"app": name}}},
        "status": {"observedGeneration": observed, "replicas": replicas,
                   "readyReplicas": replicas if ready is None else ready,
                   "currentReplicas": replicas, "updatedReplicas": replicas if updated is None else updated,
                   "availableReplicas": replicas if ready is None else ready,
                   "currentRevision": current_revision, "updateRevision": update_revision or current_revision},
    }


def daemonset(name="log-agent", namespace="demo", desired=3, generation=1, observed=1, updated=None, available=None,
              ready=None, strategy="RollingUpdate"):
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": "uid-" + name, "generation": generation},
        "spec": {"updateStrategy": {"type": strategy}, "selector": {"matchLabels": {"app": name}}},
        "status": {"observedGeneration": observed, "desiredNumberScheduled": desired,
                   "currentNumberScheduled": desired,
                   "updatedNumberScheduled": desired if updated is None else updated,
                   "numberAvailable": desired if available is None else available,
                   "numberReady": desired if ready is None else ready},
    }


def replicaset(name="reviews-6c88c486f4", namespace="demo", deployment="reviews", replicas=3, kind="Deployment"):
    meta = {"name": name, "namespace": namespace, "uid": "uid-" + name}
    if deployment:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": kind, "name": deployment,
                                    "uid": "uid-" + deployment, "controller": True}]
    return {"metadata": meta, "spec": {"replicas": replicas}, "status": {"replicas": replicas}}

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Workloads: compact records, pod → workload ownership, and rollout status as
`kubectl rollout status` judges it (kubectl/pkg/polymorphichelpers/rollout_status.go), including
`updatedReplicas`, which a ready-count check alone misses.
"""

from __future__ import annotations

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
RESTARTABLE = ("Deployment", "StatefulSet", "DaemonSet")


def _conditions(status):
    return dict((c.get("type"), {"status": c.get("status"), "reason": c.get("reason"), "message": c.get("message")})
                for c in status.get("conditions") or [])


def compact_workload(obj, kind, skip=None):
    """Deployment / StatefulSet / DaemonSet → the fields rollout decisions read. `kind` is passed
    in: items of typed lists carry no kind."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    strategy = spec.get("strategy") or spec.get("updateStrategy") or {}
    record = {
        "kind": kind, "namespace": meta.get("namespace"), "name": meta["name"], "uid": meta.get("uid"),
        "generation": meta.get("generation", 0), "observed": status.get("observedGeneration", 0),
        "strategy": strategy.get("type", "RollingUpdate"),
        "partition": (strategy.get("rollingUpdate") or {}).get("partition") or 0,
        "paused": bool(spec.get("paused")),
        "conditions": _conditions(status),
        "skip": skip,
    }
    if kind == "DaemonSet":
        record.update(desired=status.get("desiredNumberScheduled", 0), updated=status.get("updatedNumberScheduled", 0),
                      available=status.get("numberAvailable", 0), ready=status.get("numberReady", 0))
    else:
        record.update(desired=spec.get("replicas", 1), updated=status.get("updatedReplicas", 0),
                      available=status.get("availableReplicas", 0), ready=status.get("readyReplicas", 0),
                      current=status.get("replicas", 0), current_revision=status.get("currentRevision"),
                      update_revision=status.get("updateRevision"))
    return record


def compact_replicaset(obj):
    meta = obj["metadata"]
    owner = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
    return {"namespace": meta.get("namespace"), "name": meta["name"],
            "deployment": owner["name"] if owner and owner.get("kind") == "Deployment" else None,
            "replicas": (obj.get("spec") or {}).get("replicas", 1)}


def workload_of(pod, replicasets):
    """(kind, namespace, name) of the workload owning a pod, or None for a bare pod."""
    owner = pod["owner"]
    if owner is None:
        return None
    if owner["kind"] == "ReplicaSet":
        rs = replicasets.get((pod["namespace"], owner["name"]))
        if rs and rs["deployment"]:
            return ("Deployment", pod["namespace"], rs["deployment"])
    return (owner["kind"], pod["namespace"], owner["name"])


def rollout_status(w):
    """(done, failed, message) for a workload, like `kubectl rollout status`."""
    kind = w["kind"]
    if w["generation"] > w["observed"]:
        return False, False, "waiting for the %s controller to observe the change" % kind
    if kind == "Deployment":
        progressing = w["conditions"].get("Progressing") or {}
        if progressing.get("reason") == "ProgressDeadlineExceeded":
            return False, True, "exceeded its progress deadline: %s" % (progressing.get("message") or "")
        if w["updated"] < w["desired"]:
            return False, False, "%d of %d new replicas updated" % (w["updated"], w["desired"])
        if w["current"] > w["updated"]:
            return False, False, "%d old replicas pending termination" % (w["current"] - w["updated"])
        if w["available"] < w["updated"]:
            return False, False, "%d of %d updated replicas available" % (w["available"], w["updated"])
        return True, False, "rolled out"
    if w["strategy"] != "RollingUpdate":
        return True, False, "OnDelete: pods are replaced when deleted"
    if kind == "StatefulSet":
        if w["ready"] < w["desired"]:
            return False, False, "%d of %d pods ready" % (w["ready"], w["desired"])
        if w["partition"] and w["updated"] >= w["desired"] - w["partition"]:
            return True, False, "partitioned roll out complete"
        if w["update_revision"] and w["update_revision"] != w["current_revision"]:
            return False, False, "%d of %d pods at the new revision" % (w["updated"], w["desired"])
        return True, False, "rolled out"
    if w["updated"] < w["desired"]:
        return False, False, "%d of %d updated pods scheduled" % (w["updated"], w["desired"])
    if w["available"] < w["desired"]:
        return False, False, "%d of %d updated pods available" % (w["available"], w["desired"])
    return True, False, "rolled out"


def replica_failure(w):
    """The FailedCreate message a Deployment copies from its ReplicaSet (e.g. an unreachable webhook)."""
    failure = w["conditions"].get("ReplicaFailure") or {}
    return failure.get("message") if failure.get("status") == "True" else None


def stuck_rollout(w):
    """Why a workload's rollout will not finish by itself, or None: its progress deadline passed, or
    (a Deployment) its new ReplicaSet cannot create pods. The ReplicaSet controller retries a failed
    create only on its work queue's backoff (exponential, up to 1000 s), so after the cause is gone
    (an injector back up, labels put back) the rollout may still stall for minutes; a fresh restart
    makes a new ReplicaSet, which creates its pods at once."""
    if w["kind"] not in RESTARTABLE or w["paused"]:
        return None
    done, failed, message = rollout_status(w)
    if failed:
        return message
    failure = None if done else replica_failure(w)
    return "new pods cannot be created: %s" % failure if failure else None


def restart_patch(now_rfc3339):
    """What `kubectl rollout restart` sends (kubectl/pkg/polymorphichelpers/objectrestarter.go)."""
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now_rfc3339}}}}}


def ordinal(pod_name):
    """A StatefulSet pod's ordinal (-1 for other names)."""
    suffix = pod_name.rsplit("-", 1)[-1]
    return int(suffix) if suffix.isdigit() else -1


def below_partition(pod, w):
    """Whether a StatefulSet's RollingUpdate partition keeps its controller from updating the pod
    (pods with an ordinal below the partition keep the old revision: StatefulSet docs, Partitions)."""
    return bool(w and w["kind"] == "StatefulSet" and w["strategy"] == "RollingUpdate" and w["partition"]
                and 0 <= ordinal(pod["name"]) < w["partition"])


def fully_ready(pod):
    """The pod counts as up: Ready condition true, every container (restartable init ones too) ready,
    not terminating."""
    if pod["terminating"] or not pod["ready"]:
        return False
    return all(pod["statuses"].get(n, {}).get("ready") for n in pod["containers"])


def disruption_blocker(pods, desired):
    """Why taking one more pod of a workload down now would leave more than one member down, or None.

    Judged from the pods alone, so any call (a later round, a re-run, a second run) decides alike: every
    live pod up and at least `desired` of them. A terminating pod whose replacement already runs and is
    ready (a ReplicaSet replaces at once) does not block; a StatefulSet re-creates a pod under the same
    name only once the old one is gone, so there the gap shows as a missing pod."""
    live = [p for p in pods if not p["terminating"]]
    down = sorted(p["name"] for p in live if not fully_ready(p))
    if down:
        return "waiting for %s to be ready before taking another pod down" % ", ".join(down[:3])
    if desired is not None and len(live) < desired:
        return "waiting for %d of %d pods to exist before taking another pod down" % (desired - len(live), desired)
    return None

"""Controllers and the kubelet, event-driven on store changes, timed by the simulated clock.

Behaviour follows kubernetes/kubernetes:
- Deployment: pkg/controller/deployment/{sync,rolling,recreate}.go, util/deployment_util.go
  (maxSurge rounds up, maxUnavailable down, both 0 → 1; status from the ReplicaSets).
- ReplicaSet: pkg/controller/replicaset/replica_set.go (create/delete the difference; status).
- StatefulSet: pkg/controller/statefulset/stateful_set_control.go (ordinals, OrderedReady,
  RollingUpdate from the highest ordinal down to the partition, OnDelete, currentRevision).
- DaemonSet: pkg/controller/daemon/update.go (one pod per node, maxUnavailable).
- Job: pkg/controller/job (parallelism/completions); garbage collector: pkg/controller/garbagecollector.
- Kubelet: pod phases and container states as kubelet reports them (kuberuntime, status manager).
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field

from . import kwok
from .cluster import (BY_KIND, NAMESPACE, NODE, PDB, POD, Cluster, _scaled, pdb_status, pod_ready,
                      ready_since)
from .resources import RESOURCES
from .store import ApiError

DEPLOYMENT, REPLICASET = BY_KIND["Deployment"], BY_KIND["ReplicaSet"]
STATEFULSET, DAEMONSET, JOB = BY_KIND["StatefulSet"], BY_KIND["DaemonSet"], BY_KIND["Job"]
PROXY_CONTAINERS = ("istio-init", "istio-validation", "istio-proxy")
CRASH_BACKOFF = (10, 20, 40, 80, 160, 300)  # kubelet's CrashLoopBackOff schedule, capped at 5 min
# The ReplicaSet, StatefulSet, DaemonSet and Job controllers requeue a sync that failed with their work
# queue's rate limiter (AddRateLimited; Forget after a sync that succeeds): per item 5 ms * 2^failures, at
# most 1000 s (client-go util/workqueue default_rate_limiters.go, DefaultTypedControllerRateLimiter). So a
# controller whose creates were refused for a while retries only minutes later once the cause is gone.
RETRY_BASE_SECONDS, RETRY_MAX_SECONDS = 0.005, 1000.0
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: dict) -> str:
    """controller.ComputeHash: fnv32a of the template, rendered with rand.SafeEncodeString."""
    template = copy.deepcopy(template)
    (template.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    value = 0x811C9DC5
    for byte in json.dumps(template, sort_keys=True, separators=(",", ":")).encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE[ord(ch) % len(_SAFE)] for ch in str(value))


def controller_ref(obj: dict) -> dict | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def owner_reference(owner: dict) -> dict:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def active(pod: dict) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and (pod.get("status") or {}).get("phase") not in (
        "Succeeded", "Failed")


def available(pod: dict, min_ready: int, now: float) -> bool:
    since = ready_since(pod)
    return since is not None and (min_ready <= 0 or since + min_ready <= now)


def status_changed(obj: dict, status: dict) -> bool:
    return (obj.get("status") or {}) != status


def _condition(type_: str, status: str, reason: str, message: str, now: str, previous: list) -> dict:
    old = next((c for c in previous or [] if c.get("type") == type_), None)
    since = old["lastTransitionTime"] if old and old.get("status") == status else now
    return {"type": type_, "status": status, "lastUpdateTime": now if not old or old.get("reason") != reason
            else old.get("lastUpdateTime", now), "lastTransitionTime": since, "reason": reason, "message": message}


def _set_condition(previous: list, condition: dict) -> dict:
    """SetCondition / SetDeploymentCondition (replicaset/replica_set_utils.go, deployment/util/deployment_util.go):
    a condition of the same type, status and reason is kept as it was, message and times included."""
    old = next((c for c in previous or [] if c.get("type") == condition["type"]), None)
    same = old is not None and (old.get("status"), old.get("reason")) == (condition["status"], condition["reason"])
    return dict(old if same else condition)


@dataclass
class PodRuntime:
    """What the kubelet knows about a pod that the API object does not say."""
    start_at: float
    pull_fail: set = field(default_factory=set)
    crash: set = field(default_factory=set)
    readiness_delay: float = 1.0
    job_seconds: float | None = None
    terminate_at: float | None = None
    events: set = field(default_factory=set)


class Controllers:
    def __init__(self, cluster: Cluster):
        self.c = cluster
        self.runtime: dict[str, PodRuntime] = {}
        self._hashes: dict[tuple, str] = {}
        self._deadline_checks: set[tuple] = set()
        self._failed_create: dict[str, str] = {}
        self._sync_failures: dict[str, int] = {}
        self._retry_pending: set[str] = set()
        self.pilot_waiters: dict[str, set] = {}
        self._next_node = 0
        self.jitter = random.Random(cluster.seed)  # its own stream: jittered pods must not shift generated names
        cluster.handlers.update({
            "kubelet": self.kubelet, "replicaset": self.replicaset, "deployment": self.deployment,
            "statefulset": self.statefulset, "daemonset": self.daemonset, "job": self.job,
            "pdb": self.pdb, "namespace": self.namespace, "gc": self.gc})
        cluster.store.add_listener(self.on_event)

    # -- routing store events to work -------------------------------------------------------
    def on_event(self, res, event) -> None:
        obj, meta = event.obj, event.obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        enqueue = self.c.enqueue
        if event.type == "DELETED":
            enqueue("gc", "", meta["uid"])
            self.runtime.pop(meta["uid"], None)
        if res is POD:
            if event.type != "DELETED":
                enqueue("kubelet", ns, name)
            ref = controller_ref(obj)
            if ref and ref["kind"] in ("ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
                enqueue(ref["kind"].lower(), ns, ref["name"])
            if event.type == "DELETED" and ref and ref["kind"] == "ReplicaSet":
                # deployment_controller.go deletePod: a Recreate rollout waits for its old pods to be gone.
                rs = self.c.store.get(REPLICASET, ns, ref["name"])
                owner = controller_ref(rs) if rs else None
                if owner and owner["kind"] == "Deployment":
                    enqueue("deployment", ns, owner["name"])
            for pdb in self.c.store.objects(PDB, ns):
                enqueue("pdb", ns, pdb["metadata"]["name"])
            labels = meta.get("labels") or {}
            if ns == "istio-system" and labels.get("app") == "istiod" and pod_ready(obj):
                for waiter in self.pilot_waiters.pop(labels.get("istio.io/rev"), set()):
                    enqueue("kubelet", *waiter)
        elif res is REPLICASET:
            enqueue("replicaset", ns, name)
            ref = controller_ref(obj)
            if ref and ref["kind"] == "Deployment":
                enqueue("deployment", ns, ref["name"])
        elif res in (DEPLOYMENT, STATEFULSET, DAEMONSET, JOB, PDB) and event.type != "DELETED":
            enqueue(res.kind.lower() if res is not PDB else "pdb", ns, name)
        elif res is NODE:
            for ds in self.c.store.objects(DAEMONSET):
                enqueue("daemonset", ds["metadata"]["namespace"], ds["metadata"]["name"])
        elif res is NAMESPACE and meta.get("deletionTimestamp") and event.type != "DELETED":
            enqueue("namespace", "", name)
        if event.type != "DELETED" and meta.get("deletionTimestamp") and meta.get("finalizers"):
            enqueue("gc", "", meta["uid"])

    # -- helpers ----------------------------------------------------------------------------
    def _template_hash(self, obj: dict) -> str:
        """template_hash, memoised per object generation (the template only changes with it)."""
        key = (obj["metadata"]["uid"], obj["metadata"].get("generation"))
        cached = self._hashes.get(key)
        if cached is None:
            cached = self._hashes[key] = template_hash(obj["spec"]["template"])
        return cached

    def _write_status(self, res, obj: dict, status: dict) -> None:
        if status_changed(obj, status):
            self.c.store.replace(res, {**obj, "status": status})

    def _create_pod(self, owner: dict, pod: dict) -> bool:
        try:
            # The ReplicaSet/StatefulSet/DaemonSet/Job controllers create pods through the API server, so
            # validating admission refuses them like any client (their FailedCreate events show the refusal).
            self.c.create(POD, pod, owner["metadata"]["namespace"], admit=True)
            self._sync_failures.pop(owner["metadata"]["uid"], None)
            return True
        except ApiError as exc:
            self.c.record_event(owner, "Warning", "FailedCreate", f"Error creating: {exc.message}",
                                f"{owner['kind'].lower()}-controller")
            self._failed_create[owner["metadata"]["uid"]] = exc.message
            self._retry_failed_sync(owner)
            return False

    def _retry_failed_sync(self, owner: dict) -> None:
        """One rate-limited retry per failed sync (see RETRY_BASE_SECONDS). Simplified: a successful create
        forgets the failures (upstream: a whole successful sync), and a retry already pending is not
        rescheduled (upstream counts each failed sync, event-triggered ones too: it backs off faster)."""
        meta = owner["metadata"]
        uid = meta["uid"]
        if uid in self._retry_pending:
            return
        failures = self._sync_failures.get(uid, 0)
        self._sync_failures[uid] = failures + 1
        self._retry_pending.add(uid)
        handler, namespace, name = owner["kind"].lower(), meta["namespace"], meta["name"]

        def retry():
            self._retry_pending.discard(uid)
            self.c.enqueue(handler, namespace, name)
        self.c.clock.call_later(min(RETRY_BASE_SECONDS * 2 ** failures, RETRY_MAX_SECONDS), retry)
        if self.c.wakeup is not None:
            self.c.wakeup.set()

    def _pod_from_template(self, owner: dict, name: str | None, extra_labels: dict) -> dict:
        template = copy.deepcopy(owner["spec"]["template"])
        meta = template.get("metadata") or {}
        meta["labels"] = {**(meta.get("labels") or {}), **extra_labels}
        meta["ownerReferences"] = [owner_reference(owner)]
        if name:
            meta["name"] = name
        else:
            meta["generateName"] = owner["metadata"]["name"] + "-"
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec", {})}

    def _owned_pods(self, owner: dict) -> list[dict]:
        uid = owner["metadata"]["uid"]
        return [p for p in self.c.pods_with_owner(uid) if (controller_ref(p) or {}).get("uid") == uid]

    # -- ReplicaSet --------------------------------------------------------------------------
    def replicaset(self, ns: str, name: str) -> None:
        rs = self.c.store.get(REPLICASET, ns, name)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        uid = rs["metadata"]["uid"]
        pods = [p for p in self._owned_pods(rs) if active(p)]
        want = rs["spec"].get("replicas", 1)
        self._failed_create.pop(uid, None)
        if len(pods) < want:
            for _ in range(want - len(pods)):
                pod = self._pod_from_template(rs, None, {})
                if not self._create_pod(rs, pod):  # requeued by _create_pod
                    break
            pods = [p for p in self._owned_pods(rs) if active(p)]
        elif len(pods) > want:
            # getPodsToDelete: unscheduled < pending < not ready < ready; newer before older.
            def rank(p):
                return (bool(p["spec"].get("nodeName")), p["status"].get("phase") == "Running", pod_ready(p),
                        -(ready_since(p) or 0), p["metadata"]["creationTimestamp"])
            for victim in sorted(pods, key=rank)[: len(pods) - want]:
                self.c.delete(POD, ns, victim["metadata"]["name"])
            pods = [p for p in self._owned_pods(rs) if active(p)]
        now = self.c.clock.now()
        min_ready = rs["spec"].get("minReadySeconds", 0)
        status = {"replicas": len(pods), "fullyLabeledReplicas": len(pods),
                  "readyReplicas": sum(1 for p in pods if pod_ready(p)),
                  "availableReplicas": sum(1 for p in pods if available(p, min_ready, now)),
                  "observedGeneration": rs["metadata"].get("generation", 1)}
        if min_ready and status["readyReplicas"] > status["availableReplicas"]:
            self.c.later(min_ready, "replicaset", ns, name)
        failure = self._failed_create.get(uid)
        if failure:
            # Retries do not rewrite the status (nor wake the ReplicaSet again).
            status["conditions"] = [_set_condition((rs.get("status") or {}).get("conditions"), _condition(
                "ReplicaFailure", "True", "FailedCreate", failure, self.c.clock.iso(), None))]
        self._write_status(REPLICASET, rs, {k: v for k, v in status.items() if v or k == "replicas"})

    # -- Deployment --------------------------------------------------------------------------
    def deployment(self, ns: str, name: str) -> None:
        d = self.c.store.get(DEPLOYMENT, ns, name)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return
        uid, spec = d["metadata"]["uid"], d["spec"]
        all_rs = [self.c.store.get(REPLICASET, *key) for res, key in self.c.store.dependents.get(uid, ())
                  if res is REPLICASET]
        all_rs = [rs for rs in all_rs if rs and (controller_ref(rs) or {}).get("uid") == uid]
        thash = self._template_hash(d)
        new_rs = next((rs for rs in all_rs if rs["metadata"].get("labels", {}).get("pod-template-hash") == thash),
                      None)
        old_rs = [rs for rs in all_rs if rs is not new_rs]
        desired = spec.get("replicas", 1)
        if spec.get("paused"):
            if new_rs is not None:
                self._scale_rs(d, new_rs, desired)
            return self._deployment_status(d, all_rs, new_rs)
        recreate = spec.get("strategy", {}).get("type") == "Recreate"
        if new_rs is None and not recreate:
            new_rs = self._create_rs(d, thash, old_rs)
            all_rs.append(new_rs)
        if recreate:
            for rs in old_rs:
                new = self._scale_rs(d, rs, 0)
                all_rs[all_rs.index(rs)] = new
            still_running = any(self._owned_pods(rs) for rs in old_rs)
            if not still_running:
                # recreate.go rolloutRecreate: the new ReplicaSet is created only once no old pod is left.
                if new_rs is None:
                    new_rs = self._create_rs(d, thash, old_rs)
                    all_rs.append(new_rs)
                new_rs = self._scale_rs(d, new_rs, desired)
        else:
            new_rs, all_rs = self._rolling(d, new_rs, old_rs, all_rs, desired)
        self._cleanup_history(d, [rs for rs in all_rs if rs is not new_rs])
        self._deployment_status(d, all_rs, new_rs)

    def _rolling(self, d, new_rs, old_rs, all_rs, desired):
        rolling = d["spec"]["strategy"].get("rollingUpdate") or {}
        surge = _scaled(rolling.get("maxSurge", "25%"), desired, True)
        unavailable = _scaled(rolling.get("maxUnavailable", "25%"), desired, False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        replicas = lambda rs: rs["spec"].get("replicas", 0)  # noqa: E731
        # reconcileNewReplicaSet
        current = sum(replicas(rs) for rs in all_rs)
        target = replicas(new_rs)
        if target > desired:
            target = desired
        elif target < desired and current < desired + surge:
            target = min(target + desired + surge - current, desired)
        if target != replicas(new_rs):
            new = self._scale_rs(d, new_rs, target)
            all_rs[all_rs.index(new_rs)] = new
            new_rs = new
        # reconcileOldReplicaSets
        olds = [rs for rs in all_rs if rs is not new_rs]
        if sum(replicas(rs) for rs in olds):
            min_available = desired - unavailable
            new_unavailable = replicas(new_rs) - (new_rs.get("status") or {}).get("availableReplicas", 0)
            max_scale_down = sum(replicas(rs) for rs in all_rs) - min_available - new_unavailable
            if max_scale_down > 0:
                # cleanupUnhealthyReplicas first, then scale down available old pods oldest first.
                olds.sort(key=lambda rs: rs["metadata"]["creationTimestamp"])
                for rs in olds:
                    unhealthy = replicas(rs) - (rs.get("status") or {}).get("availableReplicas", 0)
                    cut = min(max_scale_down, max(unhealthy, 0))
                    if cut:
                        new = self._scale_rs(d, rs, replicas(rs) - cut)
                        all_rs[all_rs.index(rs)] = new
                        max_scale_down -= cut
                olds = [rs for rs in all_rs if rs is not new_rs]
                total_available = sum((rs.get("status") or {}).get("availableReplicas", 0) for rs in all_rs)
                budget = min(max_scale_down, total_available - min_available)
                for rs in sorted(olds, key=lambda rs: rs["metadata"]["creationTimestamp"]):
                    if budget <= 0:
                        break
                    cut = min(replicas(rs), budget)
                    if cut:
                        new = self._scale_rs(d, rs, replicas(rs) - cut)
                        all_rs[all_rs.index(rs)] = new
                        budget -= cut
        return new_rs, all_rs

    def _create_rs(self, d: dict, thash: str, old_rs: list) -> dict:
        template = copy.deepcopy(d["spec"]["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = thash
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})["pod-template-hash"] = thash
        revision = 1 + max([int(rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0))
                            for rs in old_rs] or [0])
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": f"{d['metadata']['name']}-{thash}", "namespace": d["metadata"]["namespace"],
                           "labels": dict(template["metadata"]["labels"]),
                           "annotations": {"deployment.kubernetes.io/revision": str(revision),
                                           "deployment.kubernetes.io/desired-replicas": str(d["spec"]["replicas"])},
                           "ownerReferences": [owner_reference(d)]},
              "spec": {"replicas": 0, "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                       "selector": selector, "template": template}}
        created = self.c.create(REPLICASET, rs, d["metadata"]["namespace"])
        annotations = {**(d["metadata"].get("annotations") or {}), "deployment.kubernetes.io/revision": str(revision)}
        self.c.store.replace(DEPLOYMENT, {**d, "metadata": {**d["metadata"], "annotations": annotations}})
        return created

    def _scale_rs(self, d: dict, rs: dict, replicas: int) -> dict:
        old = rs["spec"].get("replicas", 0)
        if old == replicas:
            return rs
        verb = "up" if replicas > old else "down"
        self.c.record_event(d, "Normal", "ScalingReplicaSet",
                            f"Scaled {verb} replica set {rs['metadata']['name']} from {old} to {replicas}",
                            "deployment-controller")
        return self.c.store.replace(REPLICASET, {**rs, "spec": {**rs["spec"], "replicas": replicas}})

    def _cleanup_history(self, d: dict, old_rs: list) -> None:
        limit = d["spec"].get("revisionHistoryLimit", 10)
        idle = sorted((rs for rs in old_rs if rs["spec"].get("replicas", 0) == 0
                       and not (rs.get("status") or {}).get("replicas")),
                      key=lambda rs: int(rs["metadata"].get("annotations", {}).get(
                          "deployment.kubernetes.io/revision", 0)))
        for rs in idle[: max(0, len(idle) - limit)]:
            self.c.delete(REPLICASET, rs["metadata"]["namespace"], rs["metadata"]["name"])

    def _deployment_status(self, d: dict, all_rs: list, new_rs: dict | None) -> None:
        st = lambda rs, k: (rs.get("status") or {}).get(k, 0)  # noqa: E731
        desired = d["spec"].get("replicas", 1)
        total_spec = sum(rs["spec"].get("replicas", 0) for rs in all_rs)
        available_n = sum(st(rs, "availableReplicas") for rs in all_rs)
        status = {"observedGeneration": d["metadata"].get("generation", 1),
                  "replicas": sum(st(rs, "replicas") for rs in all_rs),
                  "updatedReplicas": st(new_rs, "replicas") if new_rs else 0,
                  "readyReplicas": sum(st(rs, "readyReplicas") for rs in all_rs),
                  "availableReplicas": available_n,
                  "unavailableReplicas": max(0, total_spec - available_n)}
        status = {k: v for k, v in status.items() if v or k in ("observedGeneration", "replicas")}
        old = d.get("status") or {}
        prev = old.get("conditions") or []
        now_iso = self.c.clock.iso()
        rolling = d["spec"].get("strategy", {}).get("rollingUpdate") or {}
        max_unavailable = _scaled(rolling.get("maxUnavailable", "25%"), desired, False) if rolling else 0
        conditions = [_condition("Available", "True", "MinimumReplicasAvailable",
                                 "Deployment has minimum availability.",
                                 now_iso, prev)
                      if available_n >= desired - max_unavailable else
                      _condition("Available", "False", "MinimumReplicasUnavailable",
                                 "Deployment does not have minimum availability.", now_iso, prev)]
        rs_name = new_rs["metadata"]["name"] if new_rs else ""
        complete = (new_rs is not None and status.get("updatedReplicas", 0) == desired
                    and status["replicas"] == desired and available_n == desired)
        progressing = next((c for c in prev if c["type"] == "Progressing"), None)
        counts_moved = any(old.get(k) != status.get(k) for k in ("replicas", "updatedReplicas", "readyReplicas",
                                                                  "availableReplicas"))
        if d["spec"].get("paused"):
            cond = _condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now_iso, prev)
        elif complete:
            cond = _condition("Progressing", "True", "NewReplicaSetAvailable",
                              f'ReplicaSet "{rs_name}" has successfully progressed.', now_iso, prev)
        elif progressing and not counts_moved and progressing["reason"] != "NewReplicaSetAvailable" and (
                self.c.clock.now() - _ts(progressing["lastUpdateTime"]) >= d["spec"].get("progressDeadlineSeconds",
                                                                                     600)):
            cond = _condition("Progressing", "False", "ProgressDeadlineExceeded",
                              f'ReplicaSet "{rs_name}" has timed out progressing.', now_iso, prev)
        else:
            cond = _condition("Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.',
                              now_iso, prev)
            if counts_moved or (progressing and progressing["reason"] != "ReplicaSetUpdated"):
                cond["lastUpdateTime"] = now_iso
            # One deadline check per rollout progress, not one per status write (thousands at scale).
            deadline_key = (d["metadata"]["uid"], cond["lastUpdateTime"])
            if deadline_key not in self._deadline_checks:
                self._deadline_checks.add(deadline_key)
                self.c.later(d["spec"].get("progressDeadlineSeconds", 600) + 0.01, "deployment",
                             d["metadata"]["namespace"], d["metadata"]["name"])
        conditions.append(cond)
        failure = next((c for rs in all_rs for c in (rs.get("status") or {}).get("conditions") or []
                        if c["type"] == "ReplicaFailure"), None)
        if failure:
            conditions.append(_set_condition(prev, failure))
        status["conditions"] = conditions
        self._write_status(DEPLOYMENT, d, status)

    # -- StatefulSet -------------------------------------------------------------------------
    def statefulset(self, ns: str, name: str) -> None:
        sts = self.c.store.get(STATEFULSET, ns, name)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        spec, status = sts["spec"], sts.get("status") or {}
        want = spec.get("replicas", 1)
        update_rev = f"{name}-{self._template_hash(sts)}"
        current_rev = status.get("currentRevision") or update_rev
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        by_ordinal = {}
        for pod in self._owned_pods(sts):
            suffix = pod["metadata"]["name"].rsplit("-", 1)[-1]
            if suffix.isdigit():
                by_ordinal[int(suffix)] = pod
        # Scale down: condemned ordinals from the highest, one at a time when ordered.
        condemned = sorted((o for o in by_ordinal if o >= want), reverse=True)
        for ordinal in condemned:
            pod = by_ordinal[ordinal]
            if not pod["metadata"].get("deletionTimestamp"):
                self.c.delete(POD, ns, pod["metadata"]["name"])
            if ordered:
                break
        blocked = False
        for ordinal in range(want):
            pod = by_ordinal.get(ordinal)
            if pod is None:
                labels = {"controller-revision-hash": update_rev, "statefulset.kubernetes.io/pod-name":
                          f"{name}-{ordinal}", "apps.kubernetes.io/pod-index": str(ordinal)}
                new = self._pod_from_template(sts, f"{name}-{ordinal}", labels)
                new["spec"]["hostname"] = f"{name}-{ordinal}"
                if spec.get("serviceName"):
                    new["spec"]["subdomain"] = spec["serviceName"]
                self._create_pod(sts, new)  # a failure is requeued by _create_pod
                blocked = True
                if ordered:
                    break
            elif ordered and (pod["metadata"].get("deletionTimestamp") or not pod_ready(pod)):
                blocked = True
                break
        strategy = spec.get("updateStrategy", {})
        if not blocked and not condemned and strategy.get("type", "RollingUpdate") == "RollingUpdate":
            partition = (strategy.get("rollingUpdate") or {}).get("partition", 0)
            for ordinal in range(want - 1, partition - 1, -1):
                pod = by_ordinal.get(ordinal)
                if pod and pod["metadata"].get("labels", {}).get("controller-revision-hash") != update_rev:
                    if not pod["metadata"].get("deletionTimestamp"):
                        self.c.delete(POD, ns, pod["metadata"]["name"])
                    break
        pods = [p for p in self._owned_pods(sts) if active(p)]
        revs = [p["metadata"].get("labels", {}).get("controller-revision-hash") for p in pods]
        new_status = {"observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(pods),
                      "readyReplicas": sum(1 for p in pods if pod_ready(p)),
                      "availableReplicas": sum(1 for p in pods if pod_ready(p)),
                      "currentReplicas": revs.count(current_rev), "updatedReplicas": revs.count(update_rev),
                      "currentRevision": current_rev, "updateRevision": update_rev,
                      "collisionCount": 0}
        if (strategy.get("type", "RollingUpdate") == "RollingUpdate" and new_status["updatedReplicas"] == want
                and new_status["readyReplicas"] == want and new_status["replicas"] == want):
            new_status["currentRevision"], new_status["currentReplicas"] = update_rev, new_status["updatedReplicas"]
        self._write_status(STATEFULSET, sts, new_status)

    # -- DaemonSet ---------------------------------------------------------------------------
    def daemonset(self, ns: str, name: str) -> None:
        ds = self.c.store.get(DAEMONSET, ns, name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        spec = ds["spec"]
        node_selector = spec["template"].get("spec", {}).get("nodeSelector") or {}
        nodes = [n["metadata"]["name"] for n in self.c.store.objects(NODE)
                 if all((n["metadata"].get("labels") or {}).get(k) == v for k, v in node_selector.items())]
        thash = self._template_hash(ds)
        pods_by_node: dict[str, list] = {}
        for pod in self._owned_pods(ds):
            pods_by_node.setdefault(pod["spec"].get("nodeName"), []).append(pod)
        now = self.c.clock.now()
        min_ready = spec.get("minReadySeconds", 0)
        for node in nodes:
            if not [p for p in pods_by_node.get(node, []) if not p["metadata"].get("deletionTimestamp")]:
                labels = {"controller-revision-hash": thash,
                          "pod-template-generation": str(ds["metadata"].get("generation", 1))}
                pod = self._pod_from_template(ds, None, labels)
                pod["spec"]["nodeName"] = node
                self._create_pod(ds, pod)  # a failure is requeued by _create_pod
        strategy = spec.get("updateStrategy", {})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            rolling = strategy.get("rollingUpdate") or {}
            max_unavailable = _scaled(rolling.get("maxUnavailable", 1), len(nodes), True) or 1
            live = [p for node in nodes for p in pods_by_node.get(node, []) if not p["metadata"].get(
                "deletionTimestamp")]
            unavailable = len(nodes) - sum(1 for p in live if available(p, min_ready, now))
            old = [p for p in live if p["metadata"].get("labels", {}).get("controller-revision-hash") != thash]
            # Unavailable old pods go first: deleting them costs no availability.
            old.sort(key=lambda p: available(p, min_ready, now))
            for pod in old:
                if available(pod, min_ready, now):
                    if unavailable >= max_unavailable:
                        break
                    unavailable += 1
                self.c.delete(POD, ns, pod["metadata"]["name"])
        pods = [p for p in self._owned_pods(ds) if active(p) and p["spec"].get("nodeName") in nodes]
        updated = [p for p in pods if p["metadata"].get("labels", {}).get("controller-revision-hash") == thash]
        avail = sum(1 for p in pods if available(p, min_ready, now))
        self._write_status(DAEMONSET, ds, {
            "desiredNumberScheduled": len(nodes), "currentNumberScheduled": len({p["spec"]["nodeName"] for p in pods}),
            "numberMisscheduled": 0, "numberReady": sum(1 for p in pods if pod_ready(p)),
            "updatedNumberScheduled": len(updated), "numberAvailable": avail,
            "numberUnavailable": max(0, len(nodes) - avail), "observedGeneration": ds["metadata"].get("generation", 1)})

    # -- Job ---------------------------------------------------------------------------------
    def job(self, ns: str, name: str) -> None:
        job = self.c.store.get(JOB, ns, name)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        spec, status = job["spec"], dict(job.get("status") or {})
        pods = self._owned_pods(job)
        succeeded = sum(1 for p in pods if p.get("status", {}).get("phase") == "Succeeded")
        running = [p for p in pods if active(p)]
        completions = spec.get("completions", 1)
        done = succeeded >= completions
        if not done and not spec.get("suspend"):
            missing = min(spec.get("parallelism", 1), completions - succeeded) - len(running)
            uid = job["metadata"]["uid"]
            for _ in range(max(0, missing)):
                labels = {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                          "batch.kubernetes.io/job-name": name, "job-name": name}
                if not self._create_pod(job, self._pod_from_template(job, None, labels)):  # requeued by _create_pod
                    break
            running = [p for p in self._owned_pods(job) if active(p)]
        now = self.c.clock.iso()
        status.setdefault("startTime", now)
        ready = sum(1 for p in running if pod_ready(p))
        status.update({"active": len(running), "succeeded": succeeded, "ready": ready})
        status = {k: v for k, v in status.items() if v or k in ("startTime",)}
        if done and "completionTime" not in status:
            status["completionTime"] = now
            status["conditions"] = [
                {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
                 "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"},
                {"type": "Complete", "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
                 "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"}]
        self._write_status(JOB, job, status)

    # -- PodDisruptionBudget ------------------------------------------------------------------
    def pdb(self, ns: str, name: str) -> None:
        pdb = self.c.store.get(PDB, ns, name)
        if pdb is None:
            return
        status = pdb_status(self.c, pdb)
        allowed = status["disruptionsAllowed"] > 0
        status["conditions"] = [_condition(
            "DisruptionAllowed", "True" if allowed else "False", "SufficientPods" if allowed else "InsufficientPods",
            "", self.c.clock.iso(), (pdb.get("status") or {}).get("conditions"))]
        for cond in status["conditions"]:
            cond.pop("lastUpdateTime", None)
        self._write_status(PDB, pdb, status)

    # -- Namespace deletion -------------------------------------------------------------------
    def namespace(self, _ns: str, name: str) -> None:
        ns = self.c.store.get(NAMESPACE, None, name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for res in RESOURCES:
            if not res.namespaced:
                continue
            for obj in self.c.store.objects(res, name):
                remaining += 1
                if not obj["metadata"].get("deletionTimestamp"):
                    self.c.delete(res, name, obj["metadata"]["name"])
        if remaining:
            self.c.later(0.5, "namespace", "", name)
        else:
            self.c.store.remove(NAMESPACE, None, name)

    # -- Garbage collector --------------------------------------------------------------------
    def gc(self, _ns: str, uid: str) -> None:
        owner = self.c.by_uid(uid)
        dependents = [(res, key) for res, key in list(self.c.store.dependents.get(uid, ()))]
        if owner is None:
            for res, (ns, name) in dependents:
                obj = self.c.store.get(res, ns, name)
                if obj is None or obj["metadata"].get("deletionTimestamp"):
                    continue
                refs = obj["metadata"].get("ownerReferences") or []
                if all(self.c.by_uid(r["uid"]) is None for r in refs):
                    self.c.delete(res, ns or None, name)
            return
        meta = owner["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if not meta.get("deletionTimestamp"):
            return
        res_owner = BY_KIND[owner["kind"]]
        if "orphan" in finalizers:
            for res, (ns, name) in dependents:
                obj = self.c.store.get(res, ns, name)
                refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r["uid"] != uid]
                meta_new = {**obj["metadata"], "ownerReferences": refs}
                if not refs:
                    meta_new.pop("ownerReferences")
                self.c.store.replace(res, {**obj, "metadata": meta_new})
            finalizers.remove("orphan")
        if "foregroundDeletion" in finalizers:
            live = [(res, key) for res, key in dependents if self.c.store.get(res, *key) is not None]
            if live:
                for res, (ns, name) in live:
                    obj = self.c.store.get(res, ns, name)
                    if not obj["metadata"].get("deletionTimestamp"):
                        self.c.delete(res, ns or None, name, {"propagationPolicy": "Foreground"})
                self.c.later(0.2, "gc", "", uid)
            else:
                finalizers.remove("foregroundDeletion")
        if finalizers != list(meta.get("finalizers") or []):
            new_meta = {**meta, "finalizers": finalizers}
            if not finalizers:
                new_meta.pop("finalizers")
            self.c.update(res_owner, meta.get("namespace"), meta["name"], {**owner, "metadata": new_meta})

    # -- Scheduler + kubelet ------------------------------------------------------------------
    def kubelet(self, ns: str, name: str) -> None:
        pod = self.c.store.get(POD, ns, name)
        if pod is None:
            return
        meta, spec, now = pod["metadata"], pod["spec"], self.c.clock.now()
        rt = self.runtime.get(meta["uid"])
        if meta.get("deletionTimestamp"):
            return self._terminate(pod, rt, now)
        if not spec.get("nodeName"):
            return self._schedule(pod)
        if rt is None:
            rt = self.runtime[meta["uid"]] = self._new_runtime(pod, now)
        status, next_wake = self._pod_status(pod, rt, now)
        if next_wake is not None:
            self.c.later(max(0.0, next_wake - now), "kubelet", ns, name)
        self._write_status(POD, pod, status)

    def _schedule(self, pod: dict) -> None:
        nodes = sorted(n["metadata"]["name"] for n in self.c.store.objects(NODE))
        if not nodes:
            return
        node = nodes[self._next_node % len(nodes)]
        self._next_node += 1
        status = {**pod.get("status", {}), "phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
             "lastTransitionTime": self.c.clock.iso()}]}
        self.c.store.replace(POD, {**pod, "spec": {**pod["spec"], "nodeName": node}, "status": status})

    def _terminate(self, pod: dict, rt: PodRuntime | None, now: float) -> None:
        meta = pod["metadata"]
        if not pod["spec"].get("nodeName") or pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            if not meta.get("finalizers"):
                self.c.store.remove(POD, meta["namespace"], meta["name"])
            return
        if rt is None:
            rt = self.runtime[meta["uid"]] = self._new_runtime(pod, now)
        if rt.terminate_at is None:
            deadline = _ts(meta["deletionTimestamp"])  # now + grace period: the kubelet kills at the latest then
            delay = kwok.delete_delay(pod, now, deadline, self.jitter)
            rt.terminate_at = min(deadline, now + (self.c.kubelet.termination_delay if delay is None else delay))
        if now >= rt.terminate_at:
            if meta.get("finalizers"):
                return
            self.c.store.remove(POD, meta["namespace"], meta["name"])
        else:
            self.c.later(rt.terminate_at - now, "kubelet", meta["namespace"], meta["name"])

    def _new_runtime(self, pod: dict, now: float) -> PodRuntime:
        faults, cfg = self.c.faults, self.c.kubelet
        names = [c["name"] for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]]
        crash = set()
        for entry in faults["crash_loop"] or []:
            entry = {"container": entry} if isinstance(entry, str) else entry
            if entry.get("namespace") in (None, pod["metadata"]["namespace"]) and entry["container"] in names:
                crash.add(entry["container"])
        pull_fail = {n for n in names if n in PROXY_CONTAINERS} if faults["proxy_image_pull_failure"] else set()
        # The pod's own kwok stage annotations beat the readiness_delay knob, which beats the kubelet default.
        delay = kwok.ready_delay(pod, now, self.jitter)
        if delay is None:
            delay = faults["readiness_delay"] if faults["readiness_delay"] is not None else cfg.readiness_delay
        is_job = (controller_ref(pod) or {}).get("kind") == "Job"
        return PodRuntime(start_at=now + cfg.start_delay, pull_fail=pull_fail, crash=crash,
                          readiness_delay=delay, job_seconds=cfg.job_seconds if is_job else None)

    def _proxy_connected(self, pod: dict) -> bool:
        """istio-proxy turns ready only once istiod sent its config ("config not received from Pilot")."""
        annotation = pod["metadata"].get("annotations", {}).get("sidecar.istio.io/status")
        if not annotation:
            return True
        revision = json.loads(annotation).get("revision", "default")
        if self.c.managed_revision(revision) or self.c.ready_istiod_pods(revision):
            return True
        self.pilot_waiters.setdefault(revision, set()).add((pod["metadata"]["namespace"], pod["metadata"]["name"]))
        return False

    def _pod_status(self, pod: dict, rt: PodRuntime, now: float) -> tuple[dict, float | None]:
        """The status the kubelet would report now, and when it next changes."""
        iso, spec, old = self.c.clock.iso, pod["spec"], pod.get("status") or {}
        old_statuses = {s["name"]: s for s in (old.get("initContainerStatuses") or []) +
                        (old.get("containerStatuses") or [])}
        started = now >= rt.start_at
        ready_at = rt.start_at + rt.readiness_delay
        wakes = [t for t in (rt.start_at, ready_at) if t > now]
        blocked = False  # an init container that has not completed blocks the ones after it
        init_statuses, restartable_ready = [], True
        for c in spec.get("initContainers", []):
            sidecar = c.get("restartPolicy") == "Always"
            state, ready = self._container_state(pod, c, rt, now, started and not blocked, ready_at, old_statuses,
                                                 wakes, run_to_completion=not sidecar)
            if not sidecar and "terminated" not in state:
                blocked = True
            if sidecar and not ready:
                restartable_ready = False
            init_statuses.append(self._container_status(c, state, ready, old_statuses, sidecar))
        statuses, all_ready, running_any, app_done = [], True, False, True
        for c in spec["containers"]:
            job_app = rt.job_seconds is not None and c["name"] not in PROXY_CONTAINERS
            state, ready = self._container_state(pod, c, rt, now, started and not blocked, ready_at, old_statuses,
                                                 wakes, run_to_completion=job_app)
            all_ready = all_ready and ready
            running_any = running_any or "running" in state
            if job_app and "terminated" not in state:
                app_done = False
            statuses.append(self._container_status(c, state, ready, old_statuses, False))
        node = spec["nodeName"]
        status = {"phase": "Pending", "hostIP": _node_ip(node), "hostIPs": [{"ip": _node_ip(node)}],
                  "qosClass": old.get("qosClass", "BestEffort"), "startTime": old.get("startTime") or iso()}
        if started and not blocked:
            status["podIP"] = _pod_ip(pod["metadata"]["uid"])
            status["podIPs"] = [{"ip": status["podIP"]}]
        if rt.job_seconds is not None and app_done and not running_any and started and not blocked:
            status["phase"] = "Succeeded"
        elif running_any or (rt.job_seconds is not None and app_done and started and not blocked):
            status["phase"] = "Running"
        ready = started and not blocked and all_ready and restartable_ready and status["phase"] == "Running"
        prev = old.get("conditions") or []
        completed = status["phase"] == "Succeeded"
        if completed:  # KEP-753: once the main containers have exited, the kubelet stops the sidecars
            finished = iso(rt.start_at + (rt.job_seconds or 0))
            for st in init_statuses:
                running = st["state"].get("running")
                if running is not None:
                    st.update(ready=False, started=False, state={"terminated": {
                        "exitCode": 0, "reason": "Completed", "startedAt": running["startedAt"],
                        "finishedAt": finished}})

        def cond(type_, ok, reason=None):
            c = {"type": type_, "status": "True" if ok else "False", "lastProbeTime": None,
                 "lastTransitionTime": next((p["lastTransitionTime"] for p in prev if p["type"] == type_
                                             and p["status"] == ("True" if ok else "False")), iso())}
            if reason and not ok:
                c["reason"] = reason
            return c
        not_ready_reason = "PodCompleted" if completed else "ContainersNotReady"
        status["conditions"] = [cond("PodReadyToStartContainers", True), cond("Initialized", not blocked,
                                                                               "ContainersNotInitialized"),
                                cond("Ready", ready, not_ready_reason),
                                cond("ContainersReady", ready, not_ready_reason), cond("PodScheduled", True)]
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        status["containerStatuses"] = statuses
        return status, min(wakes) if wakes else None

    def _container_state(self, pod, c, rt, now, may_start, ready_at, old_statuses, wakes,
                         run_to_completion) -> tuple[dict, bool]:
        name, iso = c["name"], self.c.clock.iso
        started_at = (old_statuses.get(name, {}).get("state", {}).get("running") or {}).get("startedAt")
        if not may_start:
            reason = "PodInitializing" if pod["spec"].get("initContainers") else "ContainerCreating"
            return {"waiting": {"reason": reason}}, False
        if name in rt.pull_fail:
            self._event_once(pod, rt, "BackOff", f'Back-off pulling image "{c["image"]}"')
            return {"waiting": {"reason": "ImagePullBackOff",
                                "message": f'Back-off pulling image "{c["image"]}"'}}, False
        if name in rt.crash:
            crash_times, t = [], rt.start_at + 1
            for backoff in CRASH_BACKOFF + (300,) * 1000:
                if t > now:
                    wakes.append(t)
                    break
                crash_times.append(t)
                t += backoff
            if not crash_times:
                return {"running": {"startedAt": iso(rt.start_at)}}, False
            self._event_once(pod, rt, "BackOff", f"Back-off restarting failed container {name} in pod "
                                                 f"{pod['metadata']['name']}")
            return {"waiting": {"reason": "CrashLoopBackOff",
                                "message": f"back-off {CRASH_BACKOFF[min(len(crash_times), 5) - 1]}s restarting "
                                           f"failed container={name}"},
                    "_restarts": len(crash_times), "_last": iso(crash_times[-1])}, False
        if run_to_completion:
            finish = rt.start_at + (rt.job_seconds if rt.job_seconds is not None else 0.1)
            if now >= finish:
                return {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": iso(rt.start_at),
                                       "finishedAt": iso(finish)}}, False
            wakes.append(finish)
            return {"running": {"startedAt": started_at or iso(rt.start_at)}}, False
        ready = now >= ready_at
        if ready and name == "istio-proxy" and not self._proxy_connected(pod):
            self._event_once(pod, rt, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")
            ready = False
        return {"running": {"startedAt": started_at or iso(rt.start_at)}}, ready

    def _container_status(self, c, state, ready, old_statuses, sidecar) -> dict:
        restarts = state.pop("_restarts", old_statuses.get(c["name"], {}).get("restartCount", 0))
        last = state.pop("_last", None)
        status = {"name": c["name"], "state": state, "ready": ready, "restartCount": restarts, "image": c["image"],
                  "imageID": "", "started": "running" in state}
        if "running" in state or "terminated" in state:
            status["imageID"] = f"{c['image'].split(':')[0]}@sha256:{abs(hash(c['image'])):064x}"[:200]
            status["containerID"] = f"containerd://{abs(hash((c['name'], id(c)))):064x}"
        if last:
            status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": last}}
        return status

    def _event_once(self, pod: dict, rt: PodRuntime, reason: str, message: str) -> None:
        if (reason, message) not in rt.events:
            rt.events.add((reason, message))
            self.c.record_event(pod, "Warning", reason, message, "kubelet")


def _ts(text: str) -> float:
    from .clock import parse_rfc3339
    return parse_rfc3339(text)


def _node_ip(node: str) -> str:
    return f"10.128.0.{(sum(node.encode()) % 250) + 2}"


def _pod_ip(uid: str) -> str:
    n = int(uid.replace("-", "")[:6], 16)
    return f"10.{8 + (n >> 16) % 8}.{(n >> 8) & 255}.{(n & 255) or 1}"

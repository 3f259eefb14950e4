# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restart plan (pure): which workloads restart, how, which are skipped and why, from compact
pods, ReplicaSets and workloads. Decided from the cluster's state alone, so a re-run, a second round or
a run after an interruption plans the same thing an uninterrupted run would still do."""

from __future__ import annotations

from ansible_collections.servicemesh.asm.plugins.module_utils import pods as podlib
from ansible_collections.servicemesh.asm.plugins.module_utils.workloads import (
    RESTARTABLE, below_partition, rollout_status, stuck_rollout, workload_of)

RESTART_CHOICES = ("rollout", "delete_pods", "none")
# Reasons of workloads whose pods are all as expected but whose own rollout has not finished.
ROLLOUT_STUCK = "rollout stuck"
ROLLOUT_UNDER_WAY = "rollout under way"
# Pod labels the injector webhooks' objectSelectors read (the object./rev.object. webhooks).
POD_INJECTION_LABELS = ("sidecar.istio.io/inject", "istio.io/rev")


def pod_info(info, pod):
    """The namespace's judgement, refined by the pod's own injection labels: a pod that opts in with
    `sidecar.istio.io/inject=true` or a pod-level `istio.io/rev` is injected by the object webhooks even in a
    namespace without labels. info["pod_injection"](labels) answers (revision, reason) for such pods."""
    labels = pod.get("labels") or {}
    relevant = tuple((k, labels[k]) for k in POD_INJECTION_LABELS if k in labels)
    if not relevant or info.get("pod_injection") is None:
        return info
    injects, reason = info["pod_injection"](relevant)
    if injects == info["injects"]:
        return info
    return dict(info, injects=injects, inject_reason=reason,
                expected=info["target"] if info.get("target") else injects)


def classify(pod, info, images):
    """A pod judged against the revision that should inject it (and the injector's proxy image)."""
    info = pod_info(info, pod)
    return podlib.classify(pod, info["expected"], images.get(info["expected"]), info["ambient"])


def build_plan(ns_infos, pods, replicasets, workloads, restart="rollout", force_restart=False,
               delete_bare_pods=False, images=None):
    """What to do. ns_infos: {ns: {expected, injects, inject_reason, ambient}}; pods: compact pod
    records; replicasets: {(ns, name): rs}; workloads: {(kind, ns, name): record}.

    Returns {"actions": [...], "skipped": [...], "bare": [...]}; an action is
    {key, kind, namespace, name, method: rollout|evict|wait|delete, pods, uids, reasons}."""
    images = images or {}
    needs, bare, held_back, bare_uids = {}, [], {}, {}
    for pod in sorted(pods, key=lambda p: (p["namespace"], p["name"])):
        info = ns_infos[pod["namespace"]]
        cls, reason = classify(pod, info, images)
        forced = force_restart and cls in (podlib.OK, podlib.WAITING) and not pod["terminating"]
        if cls != podlib.NEEDS_RESTART and not forced:
            continue
        key = workload_of(pod, replicasets)
        if key is None:
            bare.append({"namespace": pod["namespace"], "name": pod["name"], "reason": reason,
                         "deleted": False, "will_delete": bool(delete_bare_pods)})
            bare_uids[(pod["namespace"], pod["name"])] = pod["uid"]
            continue
        if below_partition(pod, workloads.get(key)):
            # `kubectl rollout restart` leaves them to whoever lowers the partition: so do we.
            held_back.setdefault(key, []).append(pod["name"])
            continue
        entry = needs.setdefault(key, {"pods": [], "uids": [], "reasons": {}, "info": pod_info(info, pod)})
        entry["pods"].append(pod["name"])
        entry["uids"].append(pod["uid"])
        why = reason if cls == podlib.NEEDS_RESTART else "force_restart"
        entry["reasons"][why] = entry["reasons"].get(why, 0) + 1
    if force_restart:
        for key in workloads:
            if key[1] in ns_infos and key not in needs:
                needs[key] = {"pods": [], "uids": [], "reasons": {"force_restart": 1}}
    if restart != "none":
        _add_unfinished_rollouts(needs, held_back, ns_infos, workloads)
    actions, skipped = [], []
    for key in sorted(held_back):
        w = workloads[key]
        skipped.append({"key": key, "kind": key[0], "namespace": key[1], "name": key[2], "pods": held_back[key],
                        "uids": [], "reasons": {"below the partition": len(held_back[key])}, "verified": False,
                        "held_back": True,
                        "reason": "pods below its rollingUpdate partition (%d) are not updated by its controller: "
                                  "lower the partition to update them" % w["partition"]})
    for key in sorted(needs):
        kind, namespace, name = key
        entry, w = needs[key], workloads.get(key)
        info = entry.get("info") or ns_infos[namespace]
        record = {"key": key, "kind": kind, "namespace": namespace, "name": name, "pods": entry["pods"],
                  "uids": entry["uids"], "reasons": entry["reasons"]}
        skip, verify = _skip_reason(key, w, info, restart)
        if skip:
            record.update(reason=skip, verified=verify)
            skipped.append(record)
            continue
        # A stuck rollout gets a fresh restart even when it is under way: following it would only wait.
        record["forced"] = "force_restart" in entry["reasons"] or bool(w is not None and stuck_rollout(w))
        record["method"] = _method(w, kind, restart, record["forced"])
        actions.append(record)
    if delete_bare_pods:
        for pod in bare:
            actions.append({"key": ("Pod", pod["namespace"], pod["name"]), "kind": "Pod", "namespace": pod["namespace"],
                            "name": pod["name"], "pods": [pod["name"]],
                            "uids": [bare_uids[(pod["namespace"], pod["name"])]],
                            "reasons": {pod["reason"]: 1}, "method": "delete"})
    return {"actions": actions, "skipped": skipped, "bare": bare}


def _add_unfinished_rollouts(needs, held_back, ns_infos, workloads):
    """Workloads whose pods all look right but whose rollout has not finished: the pods that will run
    are not there yet, so verifying the ones there now would pass too early. A stuck rollout (see
    stuck_rollout) is restarted afresh, one under way is waited for."""
    for key, w in workloads.items():
        if key in needs or key in held_back or key[1] not in ns_infos or w.get("skip"):
            continue
        if stuck_rollout(w):
            needs[key] = {"pods": [], "uids": [], "reasons": {ROLLOUT_STUCK: 1}}
        elif not w["paused"] and not rollout_status(w)[0]:  # workloads holds restartable kinds only
            needs[key] = {"pods": [], "uids": [], "reasons": {ROLLOUT_UNDER_WAY: 1}}


def _skip_reason(key, w, info, restart):
    """(why the workload is not restarted, whether its pods are still verified), or (None, False).
    Legitimate skips leave the pods unverified; the others are verified and fail."""
    kind, namespace, name = key
    if kind in ("Job", "CronJob"):
        return "owned by a %s: its pods get a sidecar when it runs again" % kind, False
    if kind == "Node":
        return "a static pod: the kubelet re-creates it from its manifest, the API cannot restart it", False
    if w is not None and w.get("skip"):
        return "matched skip_workloads", False
    if info["injects"] != info["expected"]:
        return "restarting would not help: %s" % info["inject_reason"], True
    if restart == "none":
        return "restart is none", True
    if kind in RESTARTABLE and w is None:
        return "the %s no longer exists" % kind, False
    if kind == "Deployment" and w["paused"]:
        return "paused: run `kubectl rollout resume deployment/%s -n %s` first" % (name, namespace), False
    return None, False


def _method(w, kind, restart, forced):
    if kind not in RESTARTABLE:
        return "evict"  # a ReplicaSet or another controller re-creates evicted pods
    done, failed, _message = rollout_status(w)
    if not done and not failed and not forced:
        return "wait"  # already rolling: restarting again would only churn
    if restart == "delete_pods" or w["strategy"] == "OnDelete":
        return "evict"
    return "rollout"

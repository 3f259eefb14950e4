# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""asm_rollout_verify's report: per-namespace counts, each restart once with its final state, every
pod or workload not as expected with the reason and a hint, and the progress line."""

from __future__ import annotations

import time

from ansible_collections.servicemesh.asm.plugins.module_utils import pods as podlib
from ansible_collections.servicemesh.asm.plugins.module_utils.errors import AsmError
from ansible_collections.servicemesh.asm.plugins.module_utils.plan import pod_info
from ansible_collections.servicemesh.asm.plugins.module_utils.workloads import RESTARTABLE, workload_of


class VerificationFailed(AsmError):
    """Restart or verification failed; `result` is the full report."""

    def __init__(self, message, result):
        super().__init__(message, result=result)


def label(key):
    return "%s/%s" % (key[0], key[2])


def missing_replicas(ex, key):
    """'N of M pods exist' when a workload has fewer live pods than it wants, else None: pods that were
    never re-created (a StatefulSet pod evicted and not back yet, a quota, a refused create) show in no pod
    list, so judging pods alone would pass."""
    desired = ex.desired(key)
    if not desired:
        return None
    live = [p for p in ex.pods_of(key) if not p["terminating"]]
    if len(live) >= desired:
        return None
    return "%d of %d pods exist" % (len(live), desired)


def verified_workloads(cols, ns_infos, skipped_keys):
    """Keys of the restartable workloads whose pods are verified."""
    keys = []
    for kind in RESTARTABLE:
        for w in cols[kind].values():
            key = (kind, w["namespace"], w["name"])
            if w["namespace"] in ns_infos and key not in skipped_keys and not w.get("skip"):
                keys.append(key)
    return keys


def explain(pod, cls, reason, info, action):
    """(reason, hint) for a pod that is not as expected at the end."""
    if cls == podlib.WAITING:
        return podlib.problem(pod) if reason != "terminating" else ("still terminating", "wait a little longer")
    # By uid: a StatefulSet's re-created pod has its predecessor's name.
    if action and pod["uid"] in action.uids and action.state != "done":
        return ("%s; its %s %s did not complete: %s" % (
                reason, action.kind, action.method, action.message or "not started before the timeout"),
                "look at the workload's new pods and events (kubectl describe %s %s -n %s)" % (
                    action.kind.lower(), action.name, action.namespace))
    expected = info["expected"]
    if expected is None:
        return reason, "restart its workload so that it comes back without a sidecar"
    if pod["proxy"] is None:
        if info["injects"] != expected:
            return ("not injected: %s" % info["inject_reason"],
                    "label the namespace istio.io/rev=%s (asm_namespace_inject), then restart" % expected)
        if action and action.method != "wait":
            return ("re-created without a sidecar although the namespace is labelled for %s" % expected,
                    "the injector was probably unreachable (webhook failurePolicy Ignore): check istiod-%s, then "
                    "re-run" % expected)
        return ("no sidecar: created before the namespace was labelled for %s" % expected,
                "restart its workload (restart: rollout or delete_pods)")
    return reason, "restart its workload to replace the sidecar"


def progress(result):
    """One line an operator can read while waiting: counts per namespace and what is awaited."""
    parts = []
    for ns in result["namespaces"]:
        verified = ns["pods"] - ns["exempt"]
        parts.append("%s: %d/%d pods ready%s" % (ns["name"], ns["ready"], ns["pods"], ", %d/%d with %s" % (
            ns["injected"], verified, ns["expected_revision"]) if ns["expected_revision"] else ""))
    waiting = ["%s/%s (%s)" % (w["kind"], w["name"], w["message"]) for w in result["failed_workloads"][:3]]
    waiting += ["%s (%s)" % (p["name"], p["reason"]) for p in result["failed_pods"]
                if not any(p["workload"] and p["workload"].split("/")[1] in w for w in waiting)][:3]
    return "; ".join(parts) + ("; waiting on " + ", ".join(waiting) if waiting else "")


def _pod_entries(ex, actions_by_key, unverified_keys, held_pods, counts, check_mode):
    failed_pods, unverified = [], []
    rs_items = ex.cols["replicasets"].items
    for pod in sorted(ex.cols["pods"].values(), key=lambda p: (p["namespace"], p["name"])):
        if pod["terminating"] or pod["namespace"] not in counts:
            continue
        info, c = pod_info(ex.ns_infos[pod["namespace"]], pod), counts[pod["namespace"]]
        cls, reason = ex.classify(pod)
        key = workload_of(pod, rs_items)
        ready, total = podlib.ready_count(pod)
        c["pods"] += 1
        c["injected"] += int(pod["proxy"] is not None and pod["injected_revision"] == info["expected"]
                             and info["expected"] is not None)
        c["ready"] += int(pod["ready"] and ready == total)
        if cls == podlib.EXEMPT:
            c["exempt"] += 1
            continue
        if cls == podlib.OK:
            continue
        entry = {"namespace": pod["namespace"], "name": pod["name"], "ready": "%d/%d" % (ready, total),
                 "workload": label(key) if key else None}
        held = held_pods.get((pod["namespace"], pod["name"]))
        if key is None or key in unverified_keys or held:
            entry["reason"] = held or reason
            unverified.append(entry)
            continue
        if check_mode:
            continue
        action = actions_by_key.get(key)
        entry["reason"], entry["hint"] = explain(pod, cls, reason, info, action)
        # Still in progress (a pod coming up, a restart not finished) rather than settled wrong.
        entry["in_progress"] = cls == podlib.WAITING or bool(action and action.state in ("running", "timeout"))
        failed_pods.append(entry)
        c["problems"] += 1
    return failed_pods, unverified


def unverified_keys(plan):
    """Workloads whose pods are not judged: skipped for a reason that leaves them as they are. A
    StatefulSet held back by its partition is judged above the partition (only the held pods are not)."""
    return set(s["key"] for s in plan["skipped"] if not s["verified"] and not s.get("held_back"))


def build(ex, params, plan, actions, target, started, complete, error=None):
    """The result dict; raises VerificationFailed (carrying it) when anything is not as expected."""
    result = summarise(ex, params, plan, actions, target, started, complete, error)
    return judge(result, params, complete, error, ex.check_mode)


def summarise(ex, params, plan, actions, target, started, complete, error=None):
    """The result dict, judged on the watched state now."""
    check_mode = ex.check_mode
    actions_by_key = dict((a.key, a) for a in actions)
    counts = dict((ns, {"name": ns, "expected_revision": info["expected"], "pods": 0, "injected": 0, "ready": 0,
                        "exempt": 0, "restarted": 0, "problems": 0}) for ns, info in ex.ns_infos.items())
    skipped = unverified_keys(plan)
    held_pods = dict(((s["namespace"], name), s["reason"]) for s in plan["skipped"] if s.get("held_back")
                     for name in s["pods"])
    failed_pods, unverified = _pod_entries(ex, actions_by_key, skipped, held_pods, counts, check_mode)
    restarted, waited, failed_workloads = [], [], []
    for a in actions:
        item = a.report()
        if a.method in ("rollout", "evict"):
            counts[a.namespace]["restarted"] += 1
        (waited if a.method == "wait" else restarted).append(item)
        if a.state in ("failed", "timeout"):
            failed_workloads.append(item)
    if not check_mode:
        for key in verified_workloads(ex.cols, ex.ns_infos, skipped):
            missing = missing_replicas(ex, key)
            if missing and not any(w["namespace"] == key[1] and w["name"] == key[2] and w["kind"] == key[0]
                                   for w in failed_workloads):
                failed_workloads.append({"kind": key[0], "namespace": key[1], "name": key[2], "method": "verify",
                                         "pods": 0, "reasons": {}, "state": "timeout" if not complete else "failed",
                                         "message": missing, "seconds": None})
    deleted = set(a.key[1:] for a in actions if a.method == "delete" and a.state == "done")
    for pod in plan["bare"]:
        if (pod["namespace"], pod["name"]) in deleted:
            pod["deleted"] = True
    elapsed = round(time.monotonic() - started, 1)
    wrote = [a for a in actions if a.wrote]
    result = {
        # check mode: whether a real run would write; otherwise whether this one did.
        "changed": bool([a for a in actions if a.method != "wait"]) if check_mode else bool(wrote),
        "revision": target,
        "restart": params["restart"],
        "check_mode": check_mode,
        "complete": bool(complete and not failed_pods and not failed_workloads and error is None) and not check_mode,
        "restarted": restarted,
        "waited_for": waited,
        "skipped_workloads": [dict((k, v) for k, v in s.items() if k not in ("key", "verified", "uids", "held_back"))
                              for s in plan["skipped"]],
        "bare_pods": plan["bare"],
        "namespaces": [counts[ns] for ns in sorted(counts)],
        "failed_pods": failed_pods,
        "failed_workloads": failed_workloads,
        "unverified_pods": unverified,
        "elapsed_seconds": elapsed,
        "watch_relists": sum(getattr(col, "relists", 0) for col in ex.cols.values()),
        "warnings": [],
    }
    result["progress"] = progress(result)
    for s in plan["skipped"]:
        result["warnings"].append("%s not restarted: %s" % (label(s["key"]), s["reason"]))
    for pod in plan["bare"]:
        if not pod["deleted"]:
            result["warnings"].append("bare pod %s/%s (no controller) left untouched: %s" % (
                pod["namespace"], pod["name"], pod["reason"]))
    return result


def judge(result, params, complete, error, check_mode):
    failed_pods, failed_workloads = result["failed_pods"], result["failed_workloads"]
    elapsed = result["elapsed_seconds"]
    if error is not None:
        wrote = [w for w in result["restarted"] if w["state"] != "planned"]
        raise VerificationFailed("%s (restarts had been sent: the report lists them)" % error
                                 if result["changed"] and wrote else str(error), result)
    settled_wrong = [p for p in failed_pods if not p["in_progress"]] + [
        w for w in failed_workloads if w["state"] == "failed"]
    if not params.get("fail_on_timeout", True) and not settled_wrong:
        return result  # only still in progress: the caller runs another round
    if failed_pods or failed_workloads or (not complete and not check_mode):
        raise VerificationFailed(_failure_message(elapsed, failed_pods, failed_workloads, complete, check_mode), result)
    return result


def _failure_message(elapsed, failed_pods, failed_workloads, complete, check_mode):
    lines = ["%s/%s %s: %s" % (p["namespace"], p["name"], p["ready"], p["reason"]) for p in failed_pods[:10]]
    lines += ["%s %s/%s: %s" % (w["kind"], w["namespace"], w["name"], w["message"])
              for w in failed_workloads[:10] if not any(w["name"] in line for line in lines)]
    more = len(failed_pods) - 10
    counted = ["%d pods not as expected" % len(failed_pods)] if failed_pods or not failed_workloads else []
    counted += ["%d workloads failed" % len(failed_workloads)] if failed_workloads else []
    what = "Check mode: the API server would refuse restarts" if check_mode else \
        "Sidecar verification failed after %.0fs" % elapsed
    return "%s: %s%s. %s%s" % (what, ", ".join(counted), "" if complete else " (timeout)", "; ".join(lines),
                               " (and %d more)" % more if more > 0 else "")

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""asm_rollout_verify: the seed's steps 3 and 4 — re-create what needs a (new) sidecar, then prove
every pod is READY n/n with the proxy of the expected revision.

plan (pure) → restart (bounded window: at most max_concurrent workloads rolling) → wait (watches)
→ verify → report. Only workloads that need it restart; a workload already rolling is waited for,
not restarted again, so a re-run or an interrupted run converges without double restarts.
"""

from __future__ import annotations

import calendar
import concurrent.futures
import time

from ansible_collections.servicemesh.asm.plugins.module_utils import pods as podlib
from ansible_collections.servicemesh.asm.plugins.module_utils.client import KubeError, api_path
from ansible_collections.servicemesh.asm.plugins.module_utils.namespaces import (
    AMBIENT_LABEL, SelectionError, nothing_selected, select, selection_params, selector_matches)
from ansible_collections.servicemesh.asm.plugins.module_utils.options import (
    HAS_JMESPATH, option_errors, skip_expression)
from ansible_collections.servicemesh.asm.plugins.module_utils.revisions import (
    build_revisions, describe, fetch_inventory)
from ansible_collections.servicemesh.asm.plugins.module_utils.watchcache import Collection
from ansible_collections.servicemesh.asm.plugins.module_utils.webhooks import check_inject, injector_webhooks
from ansible_collections.servicemesh.asm.plugins.module_utils.workloads import (
    RESTARTABLE, compact_replicaset, compact_workload, replica_failure, restart_patch, rollout_status, workload_of)

RESTART_CHOICES = ("rollout", "delete_pods", "none")
START_THREADS = 8  # concurrent restart requests in one wave
WATCH_ANSWER_SECONDS = 10  # most to wait, before the first restart, for the API server to accept the watches
EVALUATE_EVERY = 0.2  # seconds between judgements while events stream in
PER_NAMESPACE_LIMIT = 3  # above this many namespaces, list and watch cluster-wide
EVICTION_RETRY_SECONDS = 2.0
FAILED_CREATE_CHECK_SECONDS = 3.0  # how often FailedCreate Events are listed while StatefulSets/DaemonSets wait
WORKLOAD_API = {"Deployment": ("apps/v1", "deployments"), "StatefulSet": ("apps/v1", "statefulsets"),
                "DaemonSet": ("apps/v1", "daemonsets")}


class VerificationFailed(Exception):
    """Restart or verification failed; `result` is the full report."""

    def __init__(self, message, result):
        super().__init__(message)
        self.result = result


def _label(key):
    return "%s/%s" % (key[0], key[2])


# -- plan (pure) ----------------------------------------------------------------------------------
def build_plan(ns_infos, pods, replicasets, workloads, restart="rollout", force_restart=False,
               delete_bare_pods=False, images=None):
    """What to do. ns_infos: {ns: {expected, injects, inject_reason, ambient}}; pods: compact pod
    records; replicasets: {(ns, name): rs}; workloads: {(kind, ns, name): record}.

    Returns {"actions": [...], "skipped": [...], "bare": [...]}; an action is
    {key, method: rollout|evict|wait|delete, pods, reasons}."""
    images = images or {}
    needs, bare = {}, []
    for pod in sorted(pods, key=lambda p: (p["namespace"], p["name"])):
        info = ns_infos[pod["namespace"]]
        cls, reason = podlib.classify(pod, info["expected"], images.get(info["expected"]), info["ambient"])
        forced = force_restart and cls in (podlib.OK, podlib.WAITING) and not pod["terminating"]
        if cls != podlib.NEEDS_RESTART and not forced:
            continue
        key = workload_of(pod, replicasets)
        if key is None:
            bare.append({"namespace": pod["namespace"], "name": pod["name"], "reason": reason,
                         "deleted": False, "will_delete": bool(delete_bare_pods)})
            continue
        entry = needs.setdefault(key, {"pods": [], "uids": [], "reasons": {}})
        entry["pods"].append(pod["name"])
        entry["uids"].append(pod["uid"])
        why = reason if cls == podlib.NEEDS_RESTART else "force_restart"
        entry["reasons"][why] = entry["reasons"].get(why, 0) + 1
    if force_restart:
        for key in workloads:
            if key[1] in ns_infos and key not in needs:
                needs[key] = {"pods": [], "uids": [], "reasons": {"force_restart": 1}}
    actions, skipped = [], []
    for key in sorted(needs):
        kind, namespace, name = key
        entry, info, w = needs[key], ns_infos[namespace], workloads.get(key)
        record = {"key": key, "kind": kind, "namespace": namespace, "name": name, "pods": entry["pods"],
                  "uids": entry["uids"], "reasons": entry["reasons"]}
        # Legitimate skips leave the pods unverified; the others are verified and fail.
        skip, verify = None, False
        if kind in ("Job", "CronJob"):
            skip = "owned by a %s: its pods get a sidecar when it runs again" % kind
        elif w is not None and w.get("skip"):
            skip = "matched skip_workloads"
        elif info["injects"] != info["expected"]:
            skip, verify = "restarting would not help: %s" % info["inject_reason"], True
        elif restart == "none":
            skip, verify = "restart is none", True
        elif kind in RESTARTABLE and w is None:
            skip = "the %s no longer exists" % kind
        elif kind == "Deployment" and w["paused"]:
            skip = "paused: run `kubectl rollout resume deployment/%s -n %s` first" % (name, namespace)
        if skip:
            record.update(reason=skip, verified=verify)
            skipped.append(record)
            continue
        if kind in RESTARTABLE:
            done, failed, _message = rollout_status(w)
            if not done and not failed and "force_restart" not in entry["reasons"]:
                record["method"] = "wait"  # already rolling: restarting again would only churn
            elif restart == "delete_pods" or w["strategy"] == "OnDelete":
                record["method"] = "evict"
            else:
                record["method"] = "rollout"
        else:
            record["method"] = "evict"  # a ReplicaSet or another controller re-creates evicted pods
        actions.append(record)
    if delete_bare_pods:
        for pod in bare:
            actions.append({"key": ("Pod", pod["namespace"], pod["name"]), "kind": "Pod", "namespace": pod["namespace"],
                            "name": pod["name"], "pods": [pod["name"]], "uids": [], "reasons": {pod["reason"]: 1},
                            "method": "delete"})
    return {"actions": actions, "skipped": skipped, "bare": bare}


def _event_time(event):
    """Seconds since the epoch of an Event's last occurrence (0 when it has no timestamp)."""
    stamp = event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
    try:
        return calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except (TypeError, ValueError):
        return 0


def _ordinal(name):
    suffix = name.rsplit("-", 1)[-1]
    return int(suffix) if suffix.isdigit() else -1


# -- execution -------------------------------------------------------------------------------------
class Rollout(object):
    """Runs the plan's actions in a sliding window and waits on watched collections."""

    def __init__(self, client, cols, ns_infos, images, params, deadline):
        self.client, self.cols, self.ns_infos, self.images = client, cols, ns_infos, images
        self.params, self.deadline = params, deadline
        self.events = cols["pods"].changed
        self._next_event_check = 0
        self.deleted_namespaces = set()

    # state lookups
    def replicasets(self):
        return self.cols["replicasets"].items

    def workload(self, key):
        col = self.cols.get(key[0])
        return col.get(key[1], key[2]) if col else None

    def pods_of(self, key):
        rs = self.replicasets()
        if key[0] == "Pod":
            pod = self.cols["pods"].get(key[1], key[2])
            return [pod] if pod else []
        return [p for p in self.cols["pods"].values(key[1]) if workload_of(p, rs) == key]

    def classify(self, pod):
        info = self.ns_infos[pod["namespace"]]
        return podlib.classify(pod, info["expected"], self.images.get(info["expected"]), info["ambient"])

    def desired(self, key):
        w = self.workload(key)
        if w is not None:
            return w["desired"]
        rs = self.cols["replicasets"].get(key[1], key[2]) if key[0] == "ReplicaSet" else None
        return rs["replicas"] if rs else None

    def settled(self, key, old_uids=(), ignore_old=False):
        """(all pods as expected, pods that came back wrong). A pod that was there before the restart
        (uid in old_uids) and still needs one is not wrong, only not replaced yet: watches of different
        resources are not ordered, so a Deployment can look rolled out before the pod watch shows its
        old pods terminating, and an eviction queue still holds old pods. ignore_old: such pods do not
        keep the workload from counting as settled."""
        live = [p for p in self.pods_of(key) if not p["terminating"]]
        classes = [(p, self.classify(p)) for p in live]
        old = set(p["uid"] for p, (cls, _r) in classes if cls == podlib.NEEDS_RESTART and p["uid"] in old_uids)
        wrong = [(p, reason) for p, (cls, reason) in classes if cls == podlib.NEEDS_RESTART and p["uid"] not in old]
        desired = self.desired(key)
        count_ok = desired is None or len(live) >= desired
        return count_ok and all(cls in (podlib.OK, podlib.EXEMPT) or (ignore_old and p["uid"] in old)
                                for p, (cls, _r) in classes), wrong

    # actions
    def start(self, action, now):
        action.update(state="running", started=now, started_wall=time.time(), message="starting")
        method, (kind, namespace, name) = action["method"], action["key"]
        action["old_uids"] = set(p["uid"] for p in self.pods_of(action["key"]))
        if method == "rollout":
            api_version, plural = WORKLOAD_API[kind]
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            try:
                updated = self.client.request("PATCH", api_path(api_version, plural, namespace, name),
                                              body=restart_patch(stamp), content_type="application/merge-patch+json",
                                              action="patch %s %r in namespace %s" % (plural, name, namespace))
            except KubeError as exc:
                if exc.status != 404:
                    raise
                return self.finish(action, "failed", now, self.gone(kind, namespace))
            # step() waits until the watched status has observed this generation. The response is not put
            # into the cache: the watch may already have delivered the controller's newer status, which
            # the older response would overwrite, leaving "waiting to observe" until the timeout.
            action["generation"] = updated["metadata"].get("generation", 0)
        elif method == "evict":
            pods = list(action["pods"]) or [p["name"] for p in self.pods_of(action["key"]) if not p["terminating"]]
            live = dict((p["name"], p["uid"]) for p in self.pods_of(action["key"]))
            action["queue"] = [(n, live[n]) for n in sorted(pods, key=lambda n: (-_ordinal(n), n)) if n in live]
            action["current"] = None
        elif method == "delete":
            pod = self.cols["pods"].get(namespace, name)
            if pod:
                try:
                    self.client.request("DELETE", api_path("v1", "pods", namespace, name),
                                        action="delete pod %r in namespace %s" % (name, namespace))
                except KubeError as exc:
                    if exc.status != 404:  # already gone is what a delete wants
                        raise

    def step(self, action, now):
        method, key = action["method"], action["key"]
        if method == "delete":
            if self.cols["pods"].get(key[1], key[2]) is None:
                self.finish(action, "done", now, "deleted")
            return
        if method == "evict":
            return self._step_evict(action, now)
        w = self.workload(key)
        if w is None:
            return self.finish(action, "failed", now, self.gone(key[0], key[1]))
        if w["observed"] < action.get("generation", 0):
            action["message"] = "waiting for the controller to observe the restart"
            return None
        failure = replica_failure(w)
        if failure:
            return self.finish(action, "failed", now, "new pods cannot be created: %s" % failure)
        done, failed, message = rollout_status(w)
        action["message"] = message
        if failed:
            return self.finish(action, "failed", now, message)
        if done:
            ok, wrong = self.settled(key, action["old_uids"])
            if wrong:
                return self.finish(action, "failed", now, "pods came back wrong: %s" % "; ".join(
                    "%s: %s" % (p["name"], r) for p, r in wrong[:5]))
            if ok:
                return self.finish(action, "done", now, "rolled out")
        return None

    def _step_evict(self, action, now):
        current = action.get("current")
        if current:
            name, uid = current
            pod = self.cols["pods"].get(action["namespace"], name)
            if pod is not None and pod["uid"] == uid:
                action["message"] = "waiting for evicted pod %s to terminate" % name
                return None
            ok, wrong = self.settled(action["key"], action["old_uids"], ignore_old=True)
            if wrong:
                return self.finish(action, "failed", now, "pods came back wrong: %s" % "; ".join(
                    "%s: %s" % (p["name"], r) for p, r in wrong[:5]))
            if not ok:
                action["message"] = "waiting for the replacement of %s" % name
                return None
            action["current"] = None
        if now < action.get("next_try", 0):
            return None
        while action["queue"]:
            name, uid = action["queue"][0]
            pod = self.cols["pods"].get(action["namespace"], name)
            if pod is None or pod["uid"] != uid or pod["terminating"]:
                action["queue"].pop(0)
                continue
            try:
                self.client.request("POST", api_path("v1", "pods", action["namespace"], name, "eviction"),
                                    body={"apiVersion": "policy/v1", "kind": "Eviction",
                                          "metadata": {"name": name, "namespace": action["namespace"]}},
                                    retry_429=False,
                                    action="evict pod %r in namespace %s" % (name, action["namespace"]))
            except KubeError as exc:
                if exc.status == 404:
                    action["queue"].pop(0)
                    continue
                if exc.status == 429:  # a PodDisruptionBudget allows no disruption right now
                    causes = (exc.body.get("details") or {}).get("causes") or [{}]
                    action["message"] = "eviction of %s blocked: %s" % (name, causes[0].get("message") or exc.body.get(
                        "message"))
                    action["blocked"] = action["message"]
                    action["next_try"] = now + EVICTION_RETRY_SECONDS
                    return None
                raise
            action["queue"].pop(0)
            action["current"] = (name, uid)
            action["evicted"] = action.get("evicted", 0) + 1
            action.pop("blocked", None)
            action["message"] = "evicted %s" % name
            return None
        return self.finish(action, "done", now, "all pods replaced")

    def gone(self, kind, namespace):
        """Why a workload vanished mid-run: most often its namespace is being deleted. Asked once per
        namespace (a deleted one stays deleted), so no namespace watch is kept for this rare case; a
        list by name, since the operator role grants list, not get, on namespaces."""
        if namespace not in self.deleted_namespaces:
            try:
                found = self.client.list(api_path("v1", "namespaces"), field_selector="metadata.name=" + namespace,
                                         action="list namespace %s" % namespace)
            except KubeError:
                found = None  # only a diagnosis: without it, say what is known
            if found is None or (found and not found[0]["metadata"].get("deletionTimestamp")):
                return "the %s was deleted during the rollout" % kind
            self.deleted_namespaces.add(namespace)
        return "namespace %s was deleted during the run; its workloads were not verified" % namespace

    @staticmethod
    def finish(action, state, now, message):
        action.update(state=state, finished=now, message=message,
                      seconds=round(now - action.get("started", now), 1))

    def run(self, actions):
        window = self.params["max_concurrent"]
        pending = list(actions)
        running = []
        while True:
            now = time.monotonic()
            self.events.clear()
            # Workloads already rolling (from an earlier run or round) start first and take their
            # slots: the bound is on workloads rolling at once, whoever started them.
            for action in [a for a in pending if a["method"] == "wait"]:
                pending.remove(action)
                self.start(action, now)
                running.append(action)
            starting = []
            while pending and len(running) + len(starting) < window:
                starting.append(pending.pop(0))
            # Restarts are independent requests: issue a wave of them concurrently.
            if len(starting) > 1:
                with concurrent.futures.ThreadPoolExecutor(min(START_THREADS, len(starting))) as pool:
                    list(pool.map(self.start, starting, [now] * len(starting)))
            elif starting:
                self.start(starting[0], now)
            running.extend(starting)
            for action in running:
                if action["state"] == "running":  # a start can already have failed it
                    self.step(action, now)
            running = [a for a in running if a["state"] == "running"]
            self.check_failed_creates(running, now)
            running = [a for a in running if a["state"] == "running"]
            if not pending and not running:
                return True
            self.raise_fatal_watch_error()
            if now >= self.deadline:
                for action in running + pending:
                    action.setdefault("state", "timeout")
                    if action["state"] == "running":
                        action["state"] = "timeout"
                return False
            self._pause(now)

    def check_failed_creates(self, running, now):
        """StatefulSets and DaemonSets have no ReplicaFailure condition: a pod their controller cannot
        create (an unreachable fail-closed injector webhook: "failed calling webhook") shows only as a
        FailedCreate Event on the workload. While such restarts wait, list those Events, once per
        namespace every few seconds, and fail the restarts they name instead of waiting for the timeout."""
        if now < self._next_event_check:
            return
        stalled = [a for a in running if a["kind"] in ("StatefulSet", "DaemonSet") and now - a["started"] >= 2.0]
        if not stalled:
            return
        self._next_event_check = now + FAILED_CREATE_CHECK_SECONDS
        for namespace in sorted(set(a["namespace"] for a in stalled)):
            try:
                events = self.client.list(api_path("v1", "events", namespace), field_selector="reason=FailedCreate",
                                          action="list FailedCreate events in namespace %s" % namespace)
            except KubeError as exc:
                # Only a diagnosis: without it (e.g. no RBAC permission to list events) a stall ends at the timeout.
                if exc.status == 403:
                    self._next_event_check = float("inf")
                return
            for action in [a for a in stalled if a["namespace"] == namespace]:
                w = self.workload(action["key"])
                # Event timestamps have whole seconds (and another clock): allow a little slack.
                recent = [e for e in events if w is not None and (e.get("involvedObject") or {}).get("uid") == w["uid"]
                          and _event_time(e) >= action["started_wall"] - 2]
                if recent:
                    latest = max(recent, key=_event_time)
                    self.finish(action, "failed", now, "new pods cannot be created: %s" % latest.get("message"))

    def raise_fatal_watch_error(self):
        """A watch the API server refuses (say, no RBAC permission to watch) would leave the wait blind
        until the timeout: end it now, with the refusal's message."""
        for col in self.cols.values():
            error = col.fatal_error
            if error is not None:
                raise error

    def _pause(self, now):
        """Sleep until something changed (at most 1 s), then let a burst of events settle: during a
        big rollout thousands arrive per second, and judging after each would only take CPU from
        the watches (and, on the same machine, from the API server)."""
        if self.events.wait(min(1.0, max(0.05, self.deadline - now))):
            time.sleep(min(EVALUATE_EVERY, max(0.0, self.deadline - time.monotonic())))

    def wait_verified(self, relevant):
        """Wait until no relevant pod is still coming up, or the deadline."""
        while True:
            self.events.clear()
            pending = [p for p in self.cols["pods"].values() if relevant(p) and self.classify(p)[0] == podlib.WAITING]
            if not pending or time.monotonic() >= self.deadline:
                return
            self.raise_fatal_watch_error()
            self._pause(time.monotonic())


# -- module entry ----------------------------------------------------------------------------------
def _validate(params):
    errors = option_errors(params)
    if params.get("skip_workloads") and not HAS_JMESPATH:
        errors.append("skip_workloads needs the jmespath Python library on the host running the module.")
    if errors:
        raise SelectionError(" ".join(errors))
    return skip_expression(params.get("skip_workloads"))


def _collections(client, namespaces, skip_expr, cluster_wide):
    """Watched collections for pods, ReplicaSets and the restartable workloads."""
    changed = None
    specs = [("pods", "v1", "pods", podlib.compact), ("replicasets", "apps/v1", "replicasets", compact_replicaset)]
    for kind, (api_version, plural) in WORKLOAD_API.items():
        specs.append((kind, api_version, plural, _workload_transform(kind, skip_expr)))
    cols = {}
    for name, api_version, plural, transform in specs:
        scopes = [None] if cluster_wide else list(namespaces)
        parts = []
        for scope in scopes:
            col = Collection(client, api_path(api_version, plural, scope), transform,
                             namespaces=namespaces if scope is None else None, changed=changed,
                             description="%s %s" % (plural, "(cluster scope)" if scope is None else "in " + scope))
            changed = col.changed
            parts.append(col)
        cols[name] = parts[0] if len(parts) == 1 else _Union(parts)
    return cols


def _workload_transform(kind, skip_expr):
    def transform(obj):
        skip = bool(skip_expr.search(obj)) if skip_expr is not None else False
        return compact_workload(obj, kind, skip)
    return transform


class _Union(object):
    """Several per-namespace collections seen as one."""

    def __init__(self, parts):
        self.parts = parts
        self.changed = parts[0].changed
        self.by_namespace = dict((p.path.split("/namespaces/")[1].split("/")[0], p) for p in parts)

    def load(self):
        for part in self.parts:
            part.load()

    def start(self):
        for part in self.parts:
            part.start()

    def stop(self):
        for part in self.parts:
            part.stop()

    @property
    def fatal_error(self):
        return next((p.fatal_error for p in self.parts if p.fatal_error is not None), None)

    def wait_answered(self, timeout):
        deadline = time.monotonic() + timeout
        for part in self.parts:
            part.wait_answered(max(0.0, deadline - time.monotonic()))

    @property
    def items(self):
        merged = {}
        for part in self.parts:
            merged.update(part.items)
        return merged

    @property
    def relists(self):
        return sum(p.relists for p in self.parts)

    def values(self, namespace=None):
        if namespace is not None:
            part = self.by_namespace.get(namespace)
            return part.values() if part else []
        return [v for p in self.parts for v in p.values()]

    def get(self, namespace, name):
        part = self.by_namespace.get(namespace)
        return part.get(namespace, name) if part else None

    def put(self, obj):
        part = self.by_namespace.get(obj["metadata"].get("namespace"))
        if part:
            part.put(obj)


def _explain(pod, cls, reason, info, action):
    """(reason, hint) for a pod that is not as expected at the end."""
    if cls == podlib.WAITING:
        return podlib.problem(pod) if reason != "terminating" else ("still terminating", "wait a little longer")
    # By uid: a StatefulSet's re-created pod has its predecessor's name.
    if action and pod["uid"] in action.get("uids", ()) and action.get("state") != "done":
        return ("%s; its %s %s did not complete: %s" % (
                reason, action["kind"], action["method"], action.get("message") or "not started before the timeout"),
                "look at the workload's new pods and events (kubectl describe %s %s -n %s)" % (
                    action["kind"].lower(), action["name"], action["namespace"]))
    expected = info["expected"]
    if expected is None:
        return reason, "restart its workload so that it comes back without a sidecar"
    if pod["proxy"] is None:
        if info["injects"] != expected:
            return ("not injected: %s" % info["inject_reason"],
                    "label the namespace istio.io/rev=%s (asm_namespace_inject), then restart" % expected)
        if action and action["method"] != "wait":
            return ("re-created without a sidecar although the namespace is labelled for %s" % expected,
                    "the injector was probably unreachable (webhook failurePolicy Ignore): check istiod-%s, then "
                    "re-run" % expected)
        return ("no sidecar: created before the namespace was labelled for %s" % expected,
                "restart its workload (restart: rollout or delete_pods)")
    return reason, "restart its workload to replace the sidecar"


def run(client, params, check_mode=False, want_diff=False):
    started = time.monotonic()
    deadline = started + params["timeout"]
    skip_expr = _validate(params)
    named, selector, exclude = selection_params(params)
    istio_ns = params["istio_namespace"]
    inventory = fetch_inventory(client, istio_ns)
    revisions, tags, _default = build_revisions(inventory)
    by_name = dict((r["name"], r) for r in revisions)
    existing = dict((ns["name"], ns) for ns in inventory["namespaces"])
    matched = selector_matches(client, selector)
    selected, not_selected, missing = select(existing, named, matched, exclude, istio_ns)
    if missing:
        raise SelectionError("Namespaces that do not exist: %s. Fix the names or create them first."
                             % ", ".join(missing))
    if not selected:
        raise nothing_selected(not_selected, matched, selector)
    target = params.get("revision")
    if target:
        target = tags.get(target, target)
        if target not in by_name:
            raise SelectionError("Revision %r is not known to the cluster. Known revisions: %s; tags: %s." % (
                params["revision"], "; ".join(describe(r) for r in revisions) or "none",
                ", ".join("%s -> %s" % kv for kv in tags.items()) or "none"))
    webhooks = injector_webhooks(inventory["mwcs"])
    images = podlib.expected_proxy_images(client, inventory, revisions, istio_ns, selected) \
        if params.get("detect_stale_proxies", True) else {}
    ns_infos = {}
    for name in selected:
        labels = dict(existing[name]["labels"])
        if name in (params.get("planned_labels") or {}):
            # Judge as if the labelling step (skipped in check mode) had happened.
            labels = dict((k, v) for k, v in labels.items() if k not in ("istio-injection", "istio.io/rev"))
            labels.update(params["planned_labels"][name] or {})
        injects, _matched, inject_reason = check_inject(webhooks, name, labels)
        ns_infos[name] = {"expected": target if target else injects, "injects": injects,
                          "inject_reason": inject_reason, "ambient": labels.get(AMBIENT_LABEL) == "ambient"}

    cluster_wide = len(selected) > PER_NAMESPACE_LIMIT
    cols = _collections(client, selected, skip_expr, cluster_wide)
    try:
        for col in cols.values():
            col.load()
    except KubeError as exc:
        if not cluster_wide or exc.status != 403:
            raise
        cols = _collections(client, selected, skip_expr, False)  # namespace-scoped RBAC only
        for col in cols.values():
            col.load()
    workloads = {}
    for kind in WORKLOAD_API:
        for w in cols[kind].values():
            workloads[(kind, w["namespace"], w["name"])] = w
    plan = build_plan(ns_infos, cols["pods"].values(), cols["replicasets"].items, workloads, params["restart"],
                      params["force_restart"], params["delete_bare_pods"], images)
    actions = plan["actions"]
    writes = [a for a in actions if a["method"] != "wait"]
    if writes and not check_mode:
        for rev_name in set(ns_infos[a["namespace"]]["expected"] for a in writes) - {None}:
            if not by_name[rev_name]["ready"]:
                raise SelectionError("Revision %s has no ready control plane (%s): restarted pods would fail to be "
                                     "created or come up without a sidecar. Nothing was restarted."
                                     % (rev_name, describe(by_name[rev_name])))
    runner = Rollout(client, cols, ns_infos, images, params, deadline)
    complete = True
    if not check_mode:
        for col in cols.values():
            col.start()
        try:
            # A watch refused now (no RBAC permission to watch) would blind the wait: fail before any restart.
            for col in cols.values():
                col.wait_answered(WATCH_ANSWER_SECONDS)
            runner.raise_fatal_watch_error()
            if actions:
                complete = runner.run(actions)
            skipped_keys = set(s["key"] for s in plan["skipped"] if not s["verified"])
            rs_items = cols["replicasets"].items

            def relevant(pod):
                return workload_of(pod, rs_items) not in skipped_keys and pod["owner"] is not None
            if params["wait"]:
                runner.wait_verified(relevant)
        finally:
            for col in cols.values():
                col.stop()
        if actions and any(a.get("state") != "done" for a in actions):
            # Watches of different resources are not ordered: a restart judged failed from its workload's
            # status may still see old pods the pod watch has not shown terminating. Report from a fresh list.
            try:
                cols["pods"].load()
            except KubeError:
                pass  # keep the watched state
    return _report(params, plan, cols, ns_infos, target, runner, check_mode, started, complete)


def _progress(result, target):
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


def _report(params, plan, cols, ns_infos, target, runner, check_mode, started, complete):
    rs_items = cols["replicasets"].items
    skipped_keys = set(s["key"] for s in plan["skipped"] if not s["verified"])
    actions_by_key = dict((a["key"], a) for a in plan["actions"])
    counts = dict((ns, {"name": ns, "expected_revision": info["expected"], "pods": 0, "injected": 0, "ready": 0,
                        "exempt": 0, "restarted": 0, "problems": 0}) for ns, info in ns_infos.items())
    failed_pods, unverified = [], []
    for pod in sorted(cols["pods"].values(), key=lambda p: (p["namespace"], p["name"])):
        if pod["terminating"] or pod["namespace"] not in counts:
            continue
        info, c = ns_infos[pod["namespace"]], counts[pod["namespace"]]
        cls, reason = runner.classify(pod)
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
                 "workload": _label(key) if key else None}
        if key is None or key in skipped_keys:
            entry["reason"] = reason
            unverified.append(entry)
            continue
        if check_mode:
            continue
        action = actions_by_key.get(key)
        entry["reason"], entry["hint"] = _explain(pod, cls, reason, info, action)
        # Still in progress (a pod coming up, a restart not finished) rather than settled wrong.
        entry["in_progress"] = cls == podlib.WAITING or bool(action and action.get("state") in ("running", "timeout"))
        failed_pods.append(entry)
        c["problems"] += 1
    restarted, waited, failed_workloads = [], [], []
    for a in plan["actions"]:
        c = counts[a["namespace"]]
        if a["method"] in ("rollout", "evict"):
            c["restarted"] += 1
        item = {"kind": a["kind"], "namespace": a["namespace"], "name": a["name"], "method": a["method"],
                "pods": len(a["pods"]), "reasons": a["reasons"], "state": a.get("state", "planned"),
                "message": a.get("message"), "seconds": a.get("seconds")}
        (waited if a["method"] == "wait" else restarted).append(item)
        if a.get("state") in ("failed", "timeout"):
            failed_workloads.append(item)
    for a in plan["actions"]:
        if a["method"] == "delete" and a.get("state") == "done":
            for pod in plan["bare"]:
                if (pod["namespace"], pod["name"]) == (a["namespace"], a["name"]):
                    pod["deleted"] = True
    elapsed = round(time.monotonic() - started, 1)
    writes = [a for a in plan["actions"] if a["method"] != "wait"]
    result = {
        "changed": bool(writes),
        "revision": target,
        "restart": params["restart"],
        "check_mode": check_mode,
        "complete": bool(complete and not failed_pods and not failed_workloads) and not check_mode,
        "restarted": restarted,
        "waited_for": waited,
        "skipped_workloads": [dict((k, v) for k, v in s.items() if k not in ("key", "verified"))
                              for s in plan["skipped"]],
        "bare_pods": plan["bare"],
        "namespaces": [counts[ns] for ns in sorted(counts)],
        "failed_pods": failed_pods,
        "failed_workloads": failed_workloads,
        "unverified_pods": unverified,
        "elapsed_seconds": elapsed,
        "watch_relists": sum(getattr(col, "relists", 0) for col in cols.values()),
        "warnings": [],
    }
    result["progress"] = _progress(result, target)
    for s in plan["skipped"]:
        result["warnings"].append("%s not restarted: %s" % (_label(s["key"]), s["reason"]))
    for pod in plan["bare"]:
        if not pod["deleted"]:
            result["warnings"].append("bare pod %s/%s (no controller) left untouched: %s" % (
                pod["namespace"], pod["name"], pod["reason"]))
    settled_wrong = [p for p in failed_pods if not p["in_progress"]] + [
        w for w in failed_workloads if w["state"] == "failed"]
    if not params.get("fail_on_timeout", True) and not settled_wrong:
        return result  # only still in progress: the caller runs another round
    if failed_pods or failed_workloads or (not complete and not check_mode):
        lines = ["%s/%s %s: %s" % (p["namespace"], p["name"], p["ready"], p["reason"]) for p in failed_pods[:10]]
        lines += ["%s %s/%s: %s" % (w["kind"], w["namespace"], w["name"], w["message"])
                  for w in failed_workloads[:10] if not any(w["name"] in line for line in lines)]
        more = len(failed_pods) - 10
        counted = ["%d pods not as expected" % len(failed_pods)] if failed_pods or not failed_workloads else []
        counted += ["%d workloads failed" % len(failed_workloads)] if failed_workloads else []
        message = "Sidecar verification failed after %.0fs: %s%s. %s%s" % (
            elapsed, ", ".join(counted), "" if complete else " (timeout)", "; ".join(lines),
            " (and %d more)" % more if more > 0 else "")
        raise VerificationFailed(message, result)
    return result

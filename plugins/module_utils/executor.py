# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the plan: at most max_concurrent workloads rolling at once, each judged on watched state.

One small action type per method (rollout, wait, evict, delete). Safety rules:
- An eviction is sent only while every live pod of the workload is up and none is missing
  (`disruption_blocker`), judged from the pods, not from memory of earlier calls, so a later round or
  a re-run never takes a second member down; PodDisruptionBudgets apply on top (the Eviction API).
- Evictions and deletes carry the pod's uid as a precondition: a retried request can never take
  down a replacement that reuses the name (StatefulSets).
- A write the API server refuses (admission, quota, RBAC) fails that workload only; the others go on.
"""

from __future__ import annotations

import calendar
import concurrent.futures
import email.utils
import json
import time

from ansible_collections.servicemesh.asm.plugins.module_utils import pods as podlib
from ansible_collections.servicemesh.asm.plugins.module_utils.client import KubeError, api_path
from ansible_collections.servicemesh.asm.plugins.module_utils.plan import classify
from ansible_collections.servicemesh.asm.plugins.module_utils.workloads import (
    below_partition, disruption_blocker, ordinal, replica_failure, restart_patch, rollout_status, workload_of)

START_THREADS = 8  # concurrent restart requests in one wave
EVALUATE_EVERY = 0.2  # seconds between judgements while events stream in
EVICTION_RETRY_SECONDS = 2.0
FAILED_CREATE_CHECK_SECONDS = 3.0  # how often a stalled StatefulSet/DaemonSet's FailedCreate Events are listed
FAILED_CREATE_AFTER = 2.0  # seconds a StatefulSet/DaemonSet restart may take before its Events are looked at
# A Deployment reports the ReplicaFailure of any of its ReplicaSets (the deployment controller's
# getReplicaFailures), so after a fresh restart of a stuck rollout the old ReplicaSet's failure shows
# until its controller has synced it, scaled to 0. Only a failure still there after this long counts.
STALE_FAILURE_SECONDS = 10.0
WORKLOAD_API = {"Deployment": ("apps/v1", "deployments"), "StatefulSet": ("apps/v1", "statefulsets"),
                "DaemonSet": ("apps/v1", "daemonsets")}
DRY_RUN = {"dryRun": "All"}


def server_time(response):
    """Seconds since the epoch by the API server's clock (its Date header), or None."""
    stamp = response.headers.get("Date") if response is not None else None
    parsed = email.utils.parsedate_tz(stamp) if stamp else None
    return float(email.utils.mktime_tz(parsed)) if parsed else None


def event_time(event):
    """Seconds since the epoch of an Event's last occurrence (0 when it has no timestamp)."""
    stamp = event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
    try:
        return calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except (TypeError, ValueError):
        return 0


def refusal(exc):
    """How a refused write reads in the report."""
    return "refused: %s" % exc


class Action(object):
    """One workload's restart: the plan's record plus its progress."""

    method = None

    def __init__(self, record):
        self.key = record["key"]
        self.kind, self.namespace, self.name = self.key
        self.pods, self.uids, self.reasons = record["pods"], record["uids"], record["reasons"]
        self.state = "planned"  # running, done, failed, timeout
        self.message = None
        self.started = self.finished = self.seconds = None
        self.server_started = None  # the API server's clock when our first write was accepted
        self.old_uids = set()
        self.wrote = False
        self.forced = bool(record.get("forced"))  # restarted even if already rolling
        self.failure_before = None  # the Deployment's ReplicaFailure before our restart

    @property
    def label(self):
        return "%s/%s" % (self.kind, self.name)

    def finish(self, state, now, message):
        self.state, self.finished, self.message = state, now, message
        self.seconds = round(now - (self.started if self.started is not None else now), 1)

    def begin(self, ex, now):
        self.state, self.started, self.message = "running", now, "starting"
        self.old_uids = set(p["uid"] for p in ex.pods_of(self.key))

    def start(self, ex, now):
        self.begin(ex, now)

    def step(self, ex, now):
        raise NotImplementedError

    def report(self):
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name, "method": self.method,
                "pods": len(self.pods), "reasons": self.reasons, "state": self.state, "message": self.message,
                "seconds": self.seconds}


class Wait(Action):
    """A rollout already under way (an earlier run or round started it): watch it finish."""

    method = "wait"
    generation = 0

    def step(self, ex, now):
        w = ex.workload(self.key)
        if w is None:
            return self.finish("failed", now, ex.gone(self.kind, self.namespace))
        if w["observed"] < self.generation:
            self.message = "waiting for the controller to observe the restart"
            return None
        failure = replica_failure(w)
        if failure and failure == self.failure_before and now - self.started < STALE_FAILURE_SECONDS:
            self.message = "waiting for the old ReplicaSet's failure to clear"
            return None
        if failure:
            return self.finish("failed", now, "new pods cannot be created: %s" % failure)
        done, failed, message = rollout_status(w)
        self.message = message
        if failed:
            return self.finish("failed", now, message)
        if done:
            ok, wrong = ex.settled(self.key, self.old_uids)
            if wrong:
                return self.finish("failed", now, came_back_wrong(wrong))
            if ok:
                return self.finish("done", now, "rolled out")
        return None


class Rollout(Wait):
    """`kubectl rollout restart`: the restartedAt template annotation, then the controller rolls."""

    method = "rollout"

    def start(self, ex, now):
        self.begin(ex, now)
        if not ex.check_mode and not self.forced and self._done_by_someone_else(ex, now):
            return None
        before = ex.workload(self.key)
        self.failure_before = replica_failure(before) if before is not None else None
        api_version, plural = WORKLOAD_API[self.kind]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            updated = ex.write(self, "PATCH", api_path(api_version, plural, self.namespace, self.name),
                               restart_patch(stamp), "application/merge-patch+json",
                               "patch %s %r in namespace %s" % (plural, self.name, self.namespace))
        except KubeError as exc:
            if exc.status == 404:
                return self.finish("failed", now, ex.gone(self.kind, self.namespace))
            return self.finish("failed", now, refusal(exc))
        # step() waits until the watched status has observed this generation. The response is not put
        # into the cache: the watch may already have delivered the controller's newer status, which
        # the older response would overwrite, leaving "waiting to observe" until the timeout.
        self.generation = updated["metadata"].get("generation", 0)
        if ex.check_mode:
            self.finish("done", now, "the API server accepted the restart (dry run)")
        return None

    def _done_by_someone_else(self, ex, now):
        """Judged again just before the write, from the watched state: another run (a second one at the same
        time, or one interrupted whose module still runs) may have restarted the workload since the plan.
        Then follow its rollout instead of restarting it twice."""
        w = ex.workload(self.key)
        if w is None:
            return False
        done, failed, _message = rollout_status(w)
        if not done and not failed:
            self.message = "already rolling (restarted by another run): waiting for it"
            return True
        ok, _wrong = ex.settled(self.key)
        if ok:
            self.finish("done", now, "already as expected")
            return True
        return False


class Evict(Action):
    """Pods replaced one at a time through the Eviction API (OnDelete workloads, restart=delete_pods,
    controllers we cannot restart): highest ordinal first, like a StatefulSet rolls."""

    method = "evict"

    def __init__(self, record):
        super().__init__(record)
        self.queue = []  # (name, uid) of the old pods still to evict
        self.in_flight = None  # the last eviction until the pod watch shows it: watches lag the response
        self.next_try = 0.0
        self.blocked = None
        self.evicted = 0

    def start(self, ex, now):
        self.begin(ex, now)
        live = dict((p["name"], p["uid"]) for p in ex.pods_of(self.key) if not p["terminating"])
        names = list(self.pods) or list(live)
        self.queue = [(n, live[n]) for n in sorted(names, key=lambda n: (-ordinal(n), n)) if n in live]
        if ex.check_mode:
            self._dry_run(ex, now)

    def _dry_run(self, ex, now):
        """Check mode: would the first eviction be admitted (RBAC, admission)? A PDB that blocks right now
        is no refusal: a real run waits for it."""
        if not self.queue:
            return self.finish("done", now, "nothing to evict")
        name, uid = self.queue[0]
        try:
            ex.write(self, "POST", api_path("v1", "pods", self.namespace, name, "eviction"), self._body(name, uid),
                     None, "evict pod %r in namespace %s" % (name, self.namespace), query=DRY_RUN, retry_429=False)
        except KubeError as exc:
            if exc.status not in (404, 409, 429):
                return self.finish("failed", now, refusal(exc))
        self.finish("done", now, "the API server accepted the eviction (dry run)")

    def _body(self, name, uid):
        return {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": self.namespace},
                "deleteOptions": {"preconditions": {"uid": uid}}}

    def step(self, ex, now):
        pods = ex.pods_of(self.key)
        if self.in_flight is not None:
            name, uid = self.in_flight
            pod = next((p for p in pods if p["uid"] == uid), None)
            if pod is not None and not pod["terminating"]:
                self.message = "waiting for the pod watch to show %s terminating" % name
                return None
            self.in_flight = None
        ok, wrong = ex.settled(self.key, self.old_uids, ignore_old=True)
        if wrong:
            return self.finish("failed", now, came_back_wrong(wrong))
        by_uid = dict((p["uid"], p) for p in pods)
        self.queue = [(n, u) for n, u in self.queue if u in by_uid and not by_uid[u]["terminating"]]
        if not self.queue:
            if ok:
                return self.finish("done", now, "all pods replaced" if self.evicted or self.pods else "nothing to do")
            self.message = "waiting for the replacements to be ready"
            return None
        blocker = disruption_blocker([p for p in pods if not below_partition(p, ex.workload(self.key))],
                                     ex.desired(self.key))
        if blocker:
            self.message = blocker
            return None
        if now < self.next_try:
            return None
        return self._evict_next(ex, now)

    def _evict_next(self, ex, now):
        name, uid = self.queue[0]
        try:
            ex.write(self, "POST", api_path("v1", "pods", self.namespace, name, "eviction"), self._body(name, uid),
                     None, "evict pod %r in namespace %s" % (name, self.namespace), retry_429=False)
        except KubeError as exc:
            if exc.status in (404, 409):  # gone, or the name now belongs to its replacement (uid precondition)
                self.queue.pop(0)
                return None
            if exc.status == 429:  # a PodDisruptionBudget allows no disruption right now
                causes = (exc.body.get("details") or {}).get("causes") or [{}]
                self.message = self.blocked = "eviction of %s blocked: %s" % (
                    name, causes[0].get("message") or exc.body.get("message"))
                self.next_try = now + EVICTION_RETRY_SECONDS
                return None
            return self.finish("failed", now, refusal(exc))
        self.queue.pop(0)
        self.in_flight = (name, uid)
        self.evicted += 1
        self.blocked = None
        self.message = "evicted %s" % name
        return None


class Delete(Action):
    """A bare pod, deleted only when asked (nothing re-creates it)."""

    method = "delete"

    def start(self, ex, now):
        self.begin(ex, now)
        pod = ex.cols["pods"].get(self.namespace, self.name)
        if pod is None:
            return None
        uid = self.uids[0] if self.uids else pod["uid"]
        try:
            ex.write(self, "DELETE", api_path("v1", "pods", self.namespace, self.name),
                     {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}}, None,
                     "delete pod %r in namespace %s" % (self.name, self.namespace))
        except KubeError as exc:
            if exc.status not in (404, 409):  # already gone (or replaced by another pod of that name)
                return self.finish("failed", now, refusal(exc))
        if ex.check_mode:
            self.finish("done", now, "the API server accepted the delete (dry run)")
        return None

    def step(self, ex, now):
        pod = ex.cols["pods"].get(self.namespace, self.name)
        if pod is None or (self.uids and pod["uid"] not in self.uids):
            self.finish("done", now, "deleted")


ACTION_TYPES = dict((cls.method, cls) for cls in (Wait, Rollout, Evict, Delete))


def make_action(record):
    return ACTION_TYPES[record["method"]](record)


def came_back_wrong(wrong):
    return "pods came back wrong: %s" % "; ".join("%s: %s" % (p["name"], r) for p, r in wrong[:5])


class Executor(object):
    """Runs actions in a sliding window and waits on watched collections."""

    def __init__(self, client, cols, ns_infos, images, params, deadline, check_mode=False):
        self.client, self.cols, self.ns_infos, self.images = client, cols, ns_infos, images
        self.params, self.deadline, self.check_mode = params, deadline, check_mode
        self.events = cols["pods"].changed
        self._next_event_check = {}
        self._events_forbidden = False
        self.deleted_namespaces = set()
        self.progress = lambda now, force=False: None  # called while waiting; rollout.ProgressFile writes it
        self.abandoned = lambda: False  # rollout.Heartbeat: true once the caller stopped touching its file

    # state lookups
    def workload(self, key):
        col = self.cols.get(key[0])
        return col.get(key[1], key[2]) if col else None

    def pods_of(self, key):
        if key[0] == "Pod":
            pod = self.cols["pods"].get(key[1], key[2])
            return [pod] if pod else []
        rs = self.cols["replicasets"].items
        return [p for p in self.cols["pods"].values(key[1]) if workload_of(p, rs) == key]

    def classify(self, pod):
        return classify(pod, self.ns_infos[pod["namespace"]], self.images)

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
        keep the workload from counting as settled. Pods a StatefulSet partition holds back are not
        judged: its controller leaves them as they are."""
        w = self.workload(key)
        live = [p for p in self.pods_of(key) if not p["terminating"]]
        judged = [p for p in live if not below_partition(p, w)]
        classes = [(p, self.classify(p)) for p in judged]
        old = set(p["uid"] for p, (cls, _r) in classes if cls == podlib.NEEDS_RESTART and p["uid"] in old_uids)
        wrong = [(p, reason) for p, (cls, reason) in classes if cls == podlib.NEEDS_RESTART and p["uid"] not in old]
        desired = self.desired(key)
        count_ok = desired is None or len(live) >= desired
        return count_ok and all(cls in (podlib.OK, podlib.EXEMPT) or (ignore_old and p["uid"] in old)
                                for p, (cls, _r) in classes), wrong

    # writes
    def write(self, action, method, path, body, content_type, what, query=None, retry_429=True):
        """A write for `action` (a server-side dry run in check mode); returns the response's JSON."""
        if self.check_mode:
            query = dict(query or {}, **DRY_RUN)
        response = self.client.open(method, path, query, body, content_type, what, retry_429)
        if not self.check_mode:
            action.wrote = True
            if action.server_started is None:
                action.server_started = server_time(response)
        try:
            return json.loads(response.data or b"{}")
        except ValueError:
            return {}

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

    # the loop
    def run(self, actions):
        """Start and follow every action; False when the deadline came first."""
        if self.check_mode:  # each start is a server-side dry run; nothing rolls
            self._start_all(actions, time.monotonic())
            for action in actions:
                if action.state != "failed":  # accepted: a real run would do it
                    action.state = "planned"
            return True
        window = self.params["max_concurrent"]
        pending, running = list(actions), []
        while True:
            now = time.monotonic()
            self.events.clear()
            # Workloads already rolling (from an earlier run or round) start first and take their
            # slots: the bound is on workloads rolling at once, whoever started them.
            for action in [a for a in pending if a.method == "wait"]:
                pending.remove(action)
                action.start(self, now)
                running.append(action)
            starting = []
            while pending and len(running) + len(starting) < window:
                starting.append(pending.pop(0))
            self._start_all(starting, now)
            running.extend(starting)
            for action in running:
                if action.state == "running":  # a start can already have failed it
                    action.step(self, now)
            running = [a for a in running if a.state == "running"]
            self.check_failed_creates(running, now)
            running = [a for a in running if a.state == "running"]
            if not pending and not running:
                return True
            self.raise_fatal_watch_error()
            self.progress(now)
            if self.abandoned():
                # Whoever ran us is gone (an interrupted playbook, a cancelled job): start nothing more.
                for action in running + pending:
                    action.state = "timeout"
                    action.message = "not finished: the run was interrupted (its controller stopped)"
                return False
            if now >= self.deadline:
                for action in running + pending:
                    action.state = "timeout"
                return False
            self._pause(now)

    def _start_all(self, actions, now):
        # Restarts are independent requests: issue a wave of them concurrently.
        if len(actions) > 1:
            with concurrent.futures.ThreadPoolExecutor(min(START_THREADS, len(actions))) as pool:
                list(pool.map(lambda a: a.start(self, now), actions))
        elif actions:
            actions[0].start(self, now)

    def check_failed_creates(self, running, now):
        """StatefulSets and DaemonSets have no ReplicaFailure condition: a pod their controller cannot
        create (an unreachable fail-closed injector webhook: "failed calling webhook") shows only as a
        FailedCreate Event on the workload. While such a restart waits, list the Events of that workload
        (by its uid) every few seconds and fail the restart when one is newer than our first write, both
        by the API server's clock: the controller host's clock may be off."""
        if self._events_forbidden:
            return
        for action in running:
            w = self.workload(action.key)
            if action.kind not in ("StatefulSet", "DaemonSet") or w is None:
                continue
            if now - action.started < FAILED_CREATE_AFTER:
                continue
            if now < self._next_event_check.get(action.key, 0):
                continue
            self._next_event_check[action.key] = now + FAILED_CREATE_CHECK_SECONDS
            try:
                events = self.client.list(api_path("v1", "events", action.namespace),
                                          field_selector="involvedObject.uid=%s,reason=FailedCreate" % w["uid"],
                                          action="list FailedCreate events of %s in namespace %s" % (
                                              action.label, action.namespace))
            except KubeError as exc:
                # Only a diagnosis: without it (e.g. no RBAC permission to list events) a stall ends at the timeout.
                if exc.status == 403:
                    self._events_forbidden = True
                    return
                continue
            since = action.server_started
            if since is None:
                continue  # nothing of ours was accepted: no event can be about our restart
            # Event timestamps have whole seconds: an event in the second of our write counts.
            recent = [e for e in events if (e.get("involvedObject") or {}).get("uid") == w["uid"]
                      and event_time(e) >= int(since)]
            if recent:
                latest = max(recent, key=event_time)
                action.finish("failed", now, "new pods cannot be created: %s" % latest.get("message"))

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

    def wait_verified(self, relevant, workloads_settled=None):
        """Wait until no relevant pod is still coming up and every workload has all its pods
        (`workloads_settled()`), or the deadline."""
        while True:
            self.events.clear()
            pending = [p for p in self.cols["pods"].values() if relevant(p) and self.classify(p)[0] == podlib.WAITING]
            settled = workloads_settled is None or workloads_settled()
            if (not pending and settled) or time.monotonic() >= self.deadline:
                return
            self.raise_fatal_watch_error()
            self.progress(time.monotonic())
            self._pause(time.monotonic())

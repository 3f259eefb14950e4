# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The executor's judgements on watched state, with in-memory collections and a recording client: the
availability budget across calls, uid preconditions, refused writes, FailedCreate Events by the server's
clock, partitioned StatefulSets, and old pods the pod watch has not yet shown terminating."""

from __future__ import annotations

import email.utils
import json
import threading
import time

import pytest

from ansible_collections.servicemesh.asm.plugins.module_utils import executor
from ansible_collections.servicemesh.asm.plugins.module_utils.client import KubeError
from ansible_collections.servicemesh.asm.plugins.module_utils.executor import Executor, event_time, make_action
from ansible_collections.servicemesh.asm.plugins.module_utils.pods import compact
from ansible_collections.servicemesh.asm.plugins.module_utils.report import explain
from ansible_collections.servicemesh.asm.plugins.module_utils.watchcache import Collection
from ansible_collections.servicemesh.asm.plugins.module_utils.workloads import compact_replicaset, compact_workload

from ansible_collections.servicemesh.asm.tests.unit.plugins.module_utils.pod_objects import (
    REV, deployment, pod, replicaset, statefulset,
)

INFO = {"expected": REV, "injects": REV, "ambient": False, "inject_reason": "webhook"}
WEBHOOK_DOWN = ('Error creating: Internal error occurred: failed calling webhook "rev.namespace.sidecar-injector.'
                'istio.io": failed to call webhook: no endpoints available for service "istiod-asm-173-3"')


class Col(object):
    """What the executor reads from a watched collection."""

    fatal_error = None

    def __init__(self, records=()):
        self.items = dict(((r["namespace"], r["name"]), r) for r in records)
        self.changed = threading.Event()

    def values(self, namespace=None):
        return [v for (ns, _n), v in self.items.items() if namespace in (None, ns)]

    def get(self, namespace, name):
        return self.items.get((namespace, name))

    def put(self, record):
        self.items[(record["namespace"], record["name"])] = record


class Response(object):
    def __init__(self, body, date=None):
        self.data = json.dumps(body).encode()
        self.headers = {"Date": email.utils.formatdate(date, usegmt=True)} if date else {}


class Client(object):
    """Records writes; answers them from `answers` ({(method, path-suffix): KubeError or body})."""

    def __init__(self, events=(), answers=None, server_clock=0.0):
        self.events = list(events)
        self.answers = answers or {}
        self.calls = []
        self.server_clock = server_clock  # seconds the API server's clock is ahead of ours

    def list(self, path, label_selector=None, field_selector=None, action=None):
        self.calls.append(("LIST", path, field_selector))
        return list(self.events)

    def open(self, method, path, query=None, body=None, content_type=None, action=None, retry_429=True):
        self.calls.append((method, path, query, body))
        for (m, suffix), answer in self.answers.items():
            if m == method and path.endswith(suffix):
                if isinstance(answer, Exception):
                    raise answer
                return Response(answer, time.time() + self.server_clock)
        return Response({"metadata": {"generation": 3}}, time.time() + self.server_clock)

    def writes(self):
        return [c for c in self.calls if c[0] != "LIST"]


def make(pods=(), workloads=(), replicasets=(), client=None, check_mode=False, max_concurrent=5):
    cols = {"pods": Col(pods), "replicasets": Col(replicasets), "Deployment": Col(), "StatefulSet": Col(),
            "DaemonSet": Col()}
    for w in workloads:
        cols[w["kind"]].put(w)
    return Executor(client or Client(), cols, {"demo": INFO}, {}, {"max_concurrent": max_concurrent},
                    time.monotonic() + 60, check_mode)


def iso(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def zk(ordinal, sidecar="classic", ready=True, uid=None, terminating=False):
    return compact(pod("zk-%d" % ordinal, owner=("StatefulSet", "zk"), sidecar=sidecar, app_ready=ready,
                       uid=uid, terminating=terminating))


def evict_record(pods, uids):
    return {"key": ("StatefulSet", "demo", "zk"), "kind": "StatefulSet", "namespace": "demo", "name": "zk",
            "method": "evict", "pods": pods, "uids": uids, "reasons": {"no sidecar": len(pods)}}


ON_DELETE_ZK = compact_workload(statefulset("zk", replicas=3, strategy="OnDelete"), "StatefulSet")


def evictions(client):
    return [c[1].split("/")[-2] for c in client.writes() if c[1].endswith("/eviction")]


def test_event_time():
    assert event_time({"lastTimestamp": "2026-11-25T10:00:05Z", "firstTimestamp": "2026-11-25T09:00:00Z"}) == \
        event_time({"eventTime": "2026-11-25T10:00:05.123456Z"}) == 1795600805
    assert event_time({}) == 0 and event_time({"lastTimestamp": "yesterday"}) == 0


def test_a_new_call_does_not_evict_while_the_previous_replacement_is_not_ready():
    """Review finding 1: round 2 of the role (a fresh module call, no memory) found zk-2's replacement not
    ready yet and evicted zk-1 at once. The budget is judged from the pods: nothing is evicted now."""
    pods = [zk(0, sidecar=None), zk(1, sidecar=None), zk(2, ready=False, uid="uid-zk-2-new")]
    client = Client()
    ex = make(pods=pods, workloads=[ON_DELETE_ZK], client=client)
    action = make_action(evict_record(["zk-0", "zk-1"], ["uid-zk-0", "uid-zk-1"]))
    action.start(ex, time.monotonic())
    action.step(ex, time.monotonic())
    assert evictions(client) == []
    assert action.state == "running" and action.message == \
        "waiting for zk-2 to be ready before taking another pod down"


def test_a_missing_member_blocks_the_next_eviction():
    """zk-2 was evicted and the StatefulSet has not re-created it yet: 2 of 3 exist."""
    client = Client()
    ex = make(pods=[zk(0, sidecar=None), zk(1, sidecar=None)], workloads=[ON_DELETE_ZK], client=client)
    action = make_action(evict_record(["zk-0", "zk-1"], ["uid-zk-0", "uid-zk-1"]))
    action.start(ex, time.monotonic())
    action.step(ex, time.monotonic())
    assert evictions(client) == [] and "1 of 3 pods to exist" in action.message


def test_one_eviction_at_a_time_with_the_uid_precondition():
    client = Client()
    pods = [zk(i, sidecar=None) for i in range(3)]
    ex = make(pods=pods, workloads=[ON_DELETE_ZK], client=client)
    action = make_action(evict_record(["zk-0", "zk-1", "zk-2"], ["uid-zk-0", "uid-zk-1", "uid-zk-2"]))
    action.start(ex, time.monotonic())
    action.step(ex, time.monotonic())
    (call,) = client.writes()
    assert call[0] == "POST" and call[1] == "/api/v1/namespaces/demo/pods/zk-2/eviction"
    assert call[3]["deleteOptions"] == {"preconditions": {"uid": "uid-zk-2"}}
    # The pod watch has not shown zk-2 terminating yet: however often it is asked, no second eviction.
    for _i in range(3):
        action.step(ex, time.monotonic())
    assert evictions(client) == ["zk-2"]
    assert action.message == "waiting for the pod watch to show zk-2 terminating"
    # zk-2 terminating, then gone, then back not ready: still nothing.
    ex.cols["pods"].put(zk(2, sidecar=None, terminating=True))
    action.step(ex, time.monotonic())
    del ex.cols["pods"].items[("demo", "zk-2")]
    action.step(ex, time.monotonic())
    ex.cols["pods"].put(zk(2, ready=False, uid="uid-zk-2-new"))
    action.step(ex, time.monotonic())
    assert evictions(client) == ["zk-2"]
    # Ready: the next member goes.
    ex.cols["pods"].put(zk(2, uid="uid-zk-2-new"))
    action.step(ex, time.monotonic())
    assert evictions(client) == ["zk-2", "zk-1"]


def test_an_eviction_conflict_means_the_name_belongs_to_a_replacement():
    conflict = KubeError("Conflict (409)", status=409)
    client = Client(answers={("POST", "zk-2/eviction"): conflict})
    ex = make(pods=[zk(i, sidecar=None) for i in range(3)], workloads=[ON_DELETE_ZK], client=client)
    action = make_action(evict_record(["zk-2"], ["uid-zk-2"]))
    action.start(ex, time.monotonic())
    action.step(ex, time.monotonic())
    assert action.queue == [] and action.state == "running" and not action.wrote


def test_bare_pod_delete_carries_the_uid_precondition():
    client = Client()
    ex = make(pods=[compact(pod("debug-shell", owner=None, sidecar=None))], client=client)
    action = make_action({"key": ("Pod", "demo", "debug-shell"), "kind": "Pod", "namespace": "demo",
                          "name": "debug-shell", "pods": ["debug-shell"], "uids": ["uid-debug-shell"],
                          "reasons": {"no sidecar": 1}, "method": "delete"})
    action.start(ex, time.monotonic())
    (call,) = client.writes()
    assert call[:2] == ("DELETE", "/api/v1/namespaces/demo/pods/debug-shell")
    assert call[3]["preconditions"] == {"uid": "uid-debug-shell"}


def rollout_record(name):
    return {"key": ("Deployment", "demo", name), "kind": "Deployment", "namespace": "demo", "name": name,
            "method": "rollout", "pods": [], "uids": [], "reasons": {"no sidecar": 1}}


def test_a_refused_restart_fails_that_workload_only():
    denied = KubeError('Invalid (422): the API server rejected the request to patch deployments \'ratings\'. The API '
                       'server said: admission webhook "validation.gatekeeper.sh" denied the request: frozen.',
                       status=422)
    client = Client(answers={("PATCH", "/deployments/ratings"): denied})
    ex = make(workloads=[compact_workload(deployment("ratings"), "Deployment"),
                         compact_workload(deployment("reviews"), "Deployment")], client=client)
    actions = [make_action(rollout_record("ratings")), make_action(rollout_record("reviews"))]
    ex._start_all(actions, time.monotonic())
    ratings, reviews = actions
    assert ratings.state == "failed" and not ratings.wrote
    assert ratings.message.startswith("refused: Invalid (422)") and "validation.gatekeeper.sh" in ratings.message
    assert reviews.state == "running" and reviews.wrote and reviews.generation == 3


def test_check_mode_sends_server_side_dry_runs_and_reports_refusals():
    forbidden = KubeError("Forbidden (403): the credentials in use may not patch deployments", status=403)
    client = Client(answers={("PATCH", "/deployments/ratings"): forbidden})
    ex = make(workloads=[compact_workload(deployment("ratings"), "Deployment"),
                         compact_workload(deployment("reviews"), "Deployment")], client=client, check_mode=True)
    actions = [make_action(rollout_record("ratings")), make_action(rollout_record("reviews"))]
    assert ex.run(actions) is True
    assert all(c[2] == {"dryRun": "All"} for c in client.writes()) and len(client.writes()) == 2
    assert actions[0].state == "failed" and actions[0].message.startswith("refused: Forbidden (403)")
    assert actions[1].state == "planned" and not any(a.wrote for a in actions)


def started(ex, record, seconds_ago, server_started):
    action = make_action(record)
    now = time.monotonic()
    action.start(ex, now - seconds_ago)
    action.server_started = server_started
    return action, now


def sts_record(kind="StatefulSet", name="mysql"):
    return {"key": (kind, "demo", name), "kind": kind, "namespace": "demo", "name": name, "method": "wait",
            "pods": [], "uids": [], "reasons": {}}


def test_failed_create_events_of_the_workload_by_uid_on_the_servers_clock():
    """Review finding 14: the host's clock is 10 minutes behind the API server's. The event is from after our
    write by the server's clock, so it counts; it is asked for by the workload's uid."""
    server_now = time.time() + 600
    sts = compact_workload(statefulset("mysql"), "StatefulSet")
    event = {"reason": "FailedCreate", "message": WEBHOOK_DOWN, "lastTimestamp": iso(server_now + 1),
             "involvedObject": {"kind": "StatefulSet", "name": "mysql", "uid": sts["uid"]}}
    client = Client([event])
    ex = make(workloads=[sts], client=client)
    action, now = started(ex, sts_record(), 3, server_now)
    ex.check_failed_creates([action], now)
    assert client.calls == [("LIST", "/api/v1/namespaces/demo/events",
                             "involvedObject.uid=uid-mysql,reason=FailedCreate")]
    assert action.state == "failed" and action.message == "new pods cannot be created: " + WEBHOOK_DOWN
    # listed at most every FAILED_CREATE_CHECK_SECONDS per workload
    again, _now = started(ex, sts_record(), 3, server_now)
    ex.check_failed_creates([again], now + 1)
    assert len(client.calls) == 1


def test_failed_create_event_from_before_our_write_by_the_servers_clock_is_ignored():
    """The host's clock is 10 minutes ahead: by it, an event from 5 minutes before our write would look new."""
    server_now = time.time() - 600
    sts = compact_workload(statefulset("mysql"), "StatefulSet")
    stale = {"reason": "FailedCreate", "message": WEBHOOK_DOWN, "lastTimestamp": iso(server_now - 300),
             "involvedObject": {"kind": "StatefulSet", "name": "mysql", "uid": sts["uid"]}}
    ex = make(workloads=[sts], client=Client([stale]))
    action, now = started(ex, sts_record(), 3, server_now)
    ex.check_failed_creates([action], now)
    assert action.state == "running"


def test_server_time_reads_the_date_header():
    assert executor.server_time(Response({}, 1795600805)) == 1795600805
    assert executor.server_time(Response({})) is None


def test_failed_create_events_are_not_listed_for_fresh_or_deployment_restarts():
    client = Client()
    ex = make(workloads=[compact_workload(statefulset("mysql"), "StatefulSet"),
                         compact_workload(deployment("reviews"), "Deployment")], client=client)
    fresh, now = started(ex, sts_record(), 0.5, time.time())
    deploy, _now = started(ex, dict(sts_record("Deployment", "reviews")), 10, time.time())
    ex.check_failed_creates([fresh, deploy], now)
    assert client.calls == [] and fresh.state == deploy.state == "running"


def test_old_pod_still_listed_is_not_replaced_yet_not_wrong():
    """The Deployment already reports the rollout done, but the pod watch still shows an old pod (no sidecar,
    not terminating): watches of different resources are not ordered. Wait; do not call it wrong."""
    new = [compact(pod("reviews-7d9f-%d" % i, owner=("ReplicaSet", "reviews-7d9f"))) for i in range(3)]
    old = compact(pod("reviews-6c88c486f4-cm5zx", sidecar=None))
    rs = [compact_replicaset(replicaset("reviews-7d9f")), compact_replicaset(replicaset("reviews-6c88c486f4"))]
    reviews = compact_workload(deployment("reviews", replicas=3), "Deployment")
    ex = make(pods=new + [old], replicasets=rs, workloads=[reviews])
    key = ("Deployment", "demo", "reviews")
    assert ex.settled(key, {old["uid"]}) == (False, [])
    assert ex.settled(key, {old["uid"]}, ignore_old=True) == (True, [])
    ok, wrong = ex.settled(key, set())
    assert not ok and [p["name"] for p, _reason in wrong] == ["reviews-6c88c486f4-cm5zx"]


def test_partitioned_statefulset_settles_above_its_partition():
    """Review finding 9: with partition 2, kubectl rollout status says "partitioned roll out complete" once
    web-2 is updated; web-0 and web-1 keep the old pod template and must not hold the rollout."""
    sts = compact_workload(statefulset("web", replicas=3, partition=2, updated=1), "StatefulSet")
    pods = [compact(pod("web-%d" % i, owner=("StatefulSet", "web"), sidecar=None if i < 2 else "classic"))
            for i in range(3)]
    ex = make(pods=pods, workloads=[sts])
    assert ex.settled(("StatefulSet", "demo", "web")) == (True, [])


def test_explain_statefulset_pod_recreated_under_the_same_name():
    """mysql-0 re-created without a sidecar has its predecessor's name but not its uid."""
    old_uid = "uid-mysql-0-before"
    action = make_action({"key": ("StatefulSet", "demo", "mysql"), "kind": "StatefulSet", "namespace": "demo",
                          "name": "mysql", "method": "rollout", "pods": ["mysql-0"], "uids": [old_uid],
                          "reasons": {}})
    action.state, action.message = "failed", "pods came back wrong: mysql-0: no sidecar"
    recreated = compact(pod("mysql-0", owner=("StatefulSet", "mysql"), sidecar=None, uid="uid-mysql-0-after"))
    reason, hint = explain(recreated, "needs_restart", "no sidecar", INFO, action)
    assert reason == "re-created without a sidecar although the namespace is labelled for asm-173-3"
    assert "unreachable" in hint
    original = compact(pod("mysql-0", owner=("StatefulSet", "mysql"), sidecar=None, uid=old_uid))
    reason, hint = explain(original, "needs_restart", "no sidecar", INFO, action)
    assert reason == ("no sidecar; its StatefulSet rollout did not complete: pods came back wrong: mysql-0: "
                      "no sidecar")
    assert hint == "look at the workload's new pods and events (kubectl describe statefulset mysql -n demo)"


class GoneClient(Client):
    """Answers a restart PATCH with 404 and a namespace list by name with the given namespace (None: none)."""

    def __init__(self, namespace):
        super().__init__(answers={("PATCH", ""): KubeError("not found", status=404)})
        self.namespace = namespace

    def list(self, path, label_selector=None, field_selector=None, action=None):
        self.calls.append(("LIST", path, field_selector))
        assert path == "/api/v1/namespaces" and field_selector == "metadata.name=demo"
        return [self.namespace] if self.namespace else []


def test_restart_of_a_workload_whose_namespace_was_deleted_fails_naming_the_namespace():
    for namespace in (None, {"metadata": {"name": "demo", "deletionTimestamp": "2026-11-25T10:00:00Z"}}):
        client = GoneClient(namespace)
        action = make_action(rollout_record("reviews"))
        ex = make(client=client)
        action.start(ex, time.monotonic())
        assert action.state == "failed"
        assert action.message == "namespace demo was deleted during the run; its workloads were not verified"
        assert [c[0] for c in client.calls] == ["PATCH", "LIST"]
        # The namespace's other workloads are judged without asking again.
        other = make_action(rollout_record("ratings"))
        other.start(ex, time.monotonic())
        assert other.message == action.message and [c[0] for c in client.calls] == ["PATCH", "LIST", "PATCH"]


def test_a_workload_deleted_on_its_own_is_named_as_such():
    action = make_action(rollout_record("reviews"))
    ex = make(client=GoneClient({"metadata": {"name": "demo"}}))
    action.start(ex, time.monotonic())
    assert action.state == "failed" and action.message == "the Deployment was deleted during the rollout"
    action.state, action.generation = "running", 1  # the PATCH had worked; the Deployment vanished afterwards
    action.step(ex, time.monotonic())
    assert action.state == "failed" and action.message == "the Deployment was deleted during the rollout"


def test_a_refused_watch_ends_the_wait_with_its_error():
    ex = make()
    ex.raise_fatal_watch_error()  # nothing refused: no error
    refused = KubeError("Forbidden (403): the credentials in use may not watch pods", status=403)
    ex.cols["replicasets"].fatal_error = refused
    with pytest.raises(KubeError) as err:
        ex.raise_fatal_watch_error()
    assert err.value is refused


def test_only_errors_retrying_cannot_help_are_fatal():
    col = Collection(Client(), "/api/v1/pods", lambda obj: obj)
    assert col.fatal_error is None
    for status, fatal in ((401, True), (403, True), (404, True), (410, False), (500, False), (None, False)):
        col.error = KubeError("watch failed", status=status)
        assert (col.fatal_error is col.error) is fatal, status


class BrokenWatchClient(object):
    """Lists fine; each watch yields one event the transform cannot read (a garbled or unexpected object)."""

    def __init__(self):
        self.lists = 0

    def list_with_version(self, path, transform=None, action=None):
        self.lists += 1
        return [transform({"metadata": {"name": "a", "namespace": "demo"}, "ok": True})], "10"

    def watch(self, path, resource_version, timeout_seconds=30, action=None, on_open=None):
        on_open()
        yield {"type": "MODIFIED", "object": {"metadata": {"name": "a", "namespace": "demo", "resourceVersion": "11"}}}


def test_a_watch_thread_survives_an_unexpected_error_then_gives_up_loudly():
    """Review finding 10: a KeyError in a transform used to end the watch thread silently (the wait went on
    blind until the deadline). Now it relists; when it keeps happening, the error is fatal and named."""
    client = BrokenWatchClient()
    col = Collection(client, "/api/v1/namespaces/demo/pods", lambda obj: {"ok": obj["ok"]})
    col.load()
    col.start()
    deadline = time.monotonic() + 20
    while col.fatal_error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    col.stop()
    assert client.lists >= 3  # relisted after each break
    assert col.fatal_error is not None
    assert str(col.fatal_error).startswith("The watch of /api/v1/namespaces/demo/pods broke: KeyError")


def test_delete_pods_does_not_wait_for_the_evicted_pods_termination_grace():
    """Review finding 13: with restart=delete_pods a Deployment's evicted pod stays terminating for its grace
    period (30 s and the Istio drain), but its ReplicaSet replaced it at once. Once the replacement is ready
    the next pod goes, without waiting for the old one to be gone."""
    rs = [compact_replicaset(replicaset("reviews-6c88c486f4"))]
    old = [compact(pod("reviews-6c88c486f4-%s" % s, sidecar=None)) for s in ("a", "b")]
    client = Client()
    ex = make(pods=old, replicasets=rs, client=client,
              workloads=[compact_workload(deployment("reviews", replicas=2), "Deployment")])
    action = make_action({"key": ("Deployment", "demo", "reviews"), "kind": "Deployment", "namespace": "demo",
                          "name": "reviews", "method": "evict", "pods": [p["name"] for p in old],
                          "uids": [p["uid"] for p in old], "reasons": {"no sidecar": 2}})
    action.start(ex, time.monotonic())
    action.step(ex, time.monotonic())
    assert evictions(client) == ["reviews-6c88c486f4-a"]
    ex.cols["pods"].put(compact(pod("reviews-6c88c486f4-a", sidecar=None, terminating=True)))
    action.step(ex, time.monotonic())
    assert evictions(client) == ["reviews-6c88c486f4-a"]  # one of two missing: wait for the replacement
    ex.cols["pods"].put(compact(pod("reviews-6c88c486f4-c")))  # the replacement, ready, with its sidecar
    action.step(ex, time.monotonic())
    assert evictions(client) == ["reviews-6c88c486f4-a", "reviews-6c88c486f4-b"]


def test_an_abandoned_run_starts_no_further_restart():
    """The role stopped touching the heartbeat (Ctrl-C, a cancelled AWX job): the rollout still running in the
    background starts nothing more."""
    client = Client()
    ex = make(workloads=[compact_workload(deployment(n), "Deployment") for n in ("a", "b", "c")], client=client,
              max_concurrent=1)
    ex.abandoned = lambda: True
    actions = [make_action(rollout_record(n)) for n in ("a", "b", "c")]
    assert ex.run(actions) is False
    assert [c[1].rsplit("/", 1)[-1] for c in client.writes()] == ["a"]
    assert [a.state for a in actions] == ["timeout"] * 3
    assert actions[1].message == "not finished: the run was interrupted (its controller stopped)"


def test_a_workload_another_run_restarted_meanwhile_is_followed_not_restarted_again():
    client = Client()
    rolling = compact_workload(deployment("reviews", generation=3, observed=2), "Deployment")
    ex = make(workloads=[rolling], client=client)
    action = make_action(rollout_record("reviews"))
    action.start(ex, time.monotonic())
    assert client.writes() == [] and action.state == "running"
    assert action.message == "already rolling (restarted by another run): waiting for it"


def test_heartbeat_ages(tmp_path):
    import os
    from ansible_collections.servicemesh.asm.plugins.module_utils.rollout import Heartbeat
    beat = tmp_path / "beat"
    beat.write_text("")
    assert Heartbeat(str(beat), 60)() is False
    os.utime(beat, (time.time() - 120, time.time() - 120))
    assert Heartbeat(str(beat), 60)() is True
    fresh = tmp_path / "fresh"
    started = Heartbeat(str(fresh), 60)
    assert fresh.exists() and started() is False  # the run starts the clock
    fresh.unlink()
    assert started() is True  # removed: the caller is gone
    assert Heartbeat(None, 60)() is False


STUCK_CONDITIONS = [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"},
                    {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": WEBHOOK_DOWN}]


def test_a_stuck_rollout_is_restarted_and_its_old_failure_ignored_for_a_while():
    client = Client()
    stuck = compact_workload(deployment("reviews", updated=0, conditions=STUCK_CONDITIONS), "Deployment")
    ex = make(workloads=[stuck], client=client)
    action = make_action(dict(rollout_record("reviews"), forced=True, reasons={"rollout stuck": 1}))
    start = time.monotonic()
    action.start(ex, start)
    assert [c[1] for c in client.writes()] == ["/apis/apps/v1/namespaces/demo/deployments/reviews"]
    # The controller has observed the restart; the condition is still the old ReplicaSet's.
    ex.cols["Deployment"].put(compact_workload(deployment("reviews", generation=3, observed=3, updated=0,
                                                          conditions=STUCK_CONDITIONS), "Deployment"))
    assert action.step(ex, start + 1) is None and action.state == "running"
    assert action.message == "waiting for the old ReplicaSet's failure to clear"
    # Still there long after the restart: the new ReplicaSet cannot create pods either.
    action.step(ex, start + executor.STALE_FAILURE_SECONDS + 1)
    assert action.state == "failed" and action.message == "new pods cannot be created: " + WEBHOOK_DOWN


def test_a_failure_that_appears_after_the_restart_fails_it_at_once():
    client = Client()
    ex = make(workloads=[compact_workload(deployment("reviews"), "Deployment")], client=client)
    action = make_action(rollout_record("reviews"))
    start = time.monotonic()
    action.start(ex, start)
    ex.cols["Deployment"].put(compact_workload(deployment("reviews", generation=3, observed=3, updated=0,
                                                          conditions=STUCK_CONDITIONS), "Deployment"))
    action.step(ex, start + 1)
    assert action.state == "failed" and action.message.startswith("new pods cannot be created: Error creating")

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout runner's judgements on watched state, with in-memory collections: old pods the pod watch
has not yet shown terminating, FailedCreate Events of StatefulSets/DaemonSets, and the reasons given
for a StatefulSet pod re-created under its predecessor's name."""

from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.servicemesh.asm.plugins.module_utils import rollout
from ansible_collections.servicemesh.asm.plugins.module_utils.pods import compact
from ansible_collections.servicemesh.asm.plugins.module_utils.rollout import Rollout, _event_time, _explain
from ansible_collections.servicemesh.asm.plugins.module_utils.watchcache import Collection
from ansible_collections.servicemesh.asm.plugins.module_utils.workloads import compact_replicaset, compact_workload

from pod_objects import REV, deployment, pod, replicaset, statefulset

INFO = {"expected": REV, "injects": REV, "ambient": False, "inject_reason": "webhook"}
WEBHOOK_DOWN = ('Error creating: Internal error occurred: failed calling webhook "rev.namespace.sidecar-injector.'
                'istio.io": failed to call webhook: no endpoints available for service "istiod-asm-173-3"')


class Col(object):
    """What Rollout reads from a watched collection."""

    fatal_error = None

    def __init__(self, records=()):
        self.items = dict(((r["namespace"], r["name"]), r) for r in records)
        self.changed = threading.Event()

    def values(self, namespace=None):
        return [v for (ns, _n), v in self.items.items() if namespace in (None, ns)]

    def get(self, namespace, name):
        return self.items.get((namespace, name))


class Client(object):
    def __init__(self, events=()):
        self.events = list(events)
        self.calls = []

    def list(self, path, label_selector=None, field_selector=None, action=None):
        self.calls.append((path, field_selector))
        return list(self.events)


def runner(pods=(), workloads=(), replicasets=(), client=None):
    cols = {"pods": Col(pods), "replicasets": Col(replicasets), "Deployment": Col(), "StatefulSet": Col(),
            "DaemonSet": Col()}
    for w in workloads:
        cols[w["kind"]].items[(w["namespace"], w["name"])] = w
    return Rollout(client or Client(), cols, {"demo": INFO}, {}, {"max_concurrent": 5}, time.monotonic() + 60)


def iso(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def test_event_time():
    assert _event_time({"lastTimestamp": "2026-11-25T10:00:05Z", "firstTimestamp": "2026-11-25T09:00:00Z"}) == \
        _event_time({"eventTime": "2026-11-25T10:00:05.123456Z"}) == 1795600805
    assert _event_time({}) == 0 and _event_time({"lastTimestamp": "yesterday"}) == 0


def test_old_pod_still_listed_is_not_replaced_yet_not_wrong():
    """The Deployment already reports the rollout done, but the pod watch still shows an old pod (no sidecar,
    not terminating): watches of different resources are not ordered. Wait; do not call it wrong."""
    new = [compact(pod("reviews-7d9f-%d" % i, owner=("ReplicaSet", "reviews-7d9f"))) for i in range(3)]
    old = compact(pod("reviews-6c88c486f4-cm5zx", sidecar=None))
    rs = [compact_replicaset(replicaset("reviews-7d9f")), compact_replicaset(replicaset("reviews-6c88c486f4"))]
    r = runner(pods=new + [old], replicasets=rs,
               workloads=[compact_workload(deployment("reviews", replicas=3), "Deployment")])
    key = ("Deployment", "demo", "reviews")
    assert r.settled(key, {old["uid"]}) == (False, [])
    assert r.settled(key, {old["uid"]}, ignore_old=True) == (True, [])
    # without knowing it is an old pod, it would count as a pod that came back without a sidecar
    ok, wrong = r.settled(key, set())
    assert not ok and [p["name"] for p, _reason in wrong] == ["reviews-6c88c486f4-cm5zx"]


def test_new_pod_without_sidecar_is_wrong():
    bad = compact(pod("reviews-7d9f-0", owner=("ReplicaSet", "reviews-7d9f"), sidecar=None))
    r = runner(pods=[bad], replicasets=[compact_replicaset(replicaset("reviews-7d9f"))],
               workloads=[compact_workload(deployment("reviews", replicas=1), "Deployment")])
    ok, wrong = r.settled(("Deployment", "demo", "reviews"), {"uid-some-old-pod"})
    assert not ok and [(p["name"], reason) for p, reason in wrong] == [("reviews-7d9f-0", "no sidecar")]


def started_action(r, kind, name, seconds_ago):
    action = {"key": (kind, "demo", name), "kind": kind, "namespace": "demo", "name": name, "method": "rollout",
              "pods": [], "uids": [], "reasons": {}}
    now = time.monotonic()
    action.update(state="running", started=now - seconds_ago, started_wall=time.time() - seconds_ago,
                  message="1 of 2 pods ready")
    return action, now


def test_failed_create_event_fails_a_statefulset_restart():
    sts = compact_workload(statefulset("mysql"), "StatefulSet")
    event = {"reason": "FailedCreate", "message": WEBHOOK_DOWN, "lastTimestamp": iso(time.time()),
             "involvedObject": {"kind": "StatefulSet", "name": "mysql", "uid": sts["uid"]}}
    other = dict(event, involvedObject={"kind": "StatefulSet", "name": "cache", "uid": "uid-cache"})
    client = Client([other, event])
    r = runner(workloads=[sts], client=client)
    action, now = started_action(r, "StatefulSet", "mysql", 3)
    r.check_failed_creates([action], now)
    assert client.calls == [("/api/v1/namespaces/demo/events", "reason=FailedCreate")]
    assert action["state"] == "failed"
    assert action["message"] == "new pods cannot be created: " + WEBHOOK_DOWN
    # listed at most every FAILED_CREATE_CHECK_SECONDS, once per namespace
    action2, _now = started_action(r, "DaemonSet", "log-agent", 3)
    r.check_failed_creates([action2], now + 1)
    assert len(client.calls) == 1
    assert rollout.FAILED_CREATE_CHECK_SECONDS >= 1


def test_failed_create_event_from_before_the_restart_is_ignored():
    sts = compact_workload(statefulset("mysql"), "StatefulSet")
    stale = {"reason": "FailedCreate", "message": WEBHOOK_DOWN, "lastTimestamp": iso(time.time() - 600),
             "involvedObject": {"kind": "StatefulSet", "name": "mysql", "uid": sts["uid"]}}
    r = runner(workloads=[sts], client=Client([stale]))
    action, now = started_action(r, "StatefulSet", "mysql", 3)
    r.check_failed_creates([action], now)
    assert action["state"] == "running"


def test_failed_create_events_are_not_listed_for_fresh_or_deployment_restarts():
    client = Client()
    r = runner(workloads=[compact_workload(statefulset("mysql"), "StatefulSet"),
                          compact_workload(deployment("reviews"), "Deployment")], client=client)
    fresh, now = started_action(r, "StatefulSet", "mysql", 0.5)
    deploy, _now = started_action(r, "Deployment", "reviews", 10)  # Deployments carry ReplicaFailure instead
    r.check_failed_creates([fresh, deploy], now)
    assert client.calls == [] and fresh["state"] == deploy["state"] == "running"


def test_explain_statefulset_pod_recreated_under_the_same_name():
    """mysql-0 re-created without a sidecar has its predecessor's name but not its uid."""
    old_uid = "uid-mysql-0-before"
    action = {"kind": "StatefulSet", "name": "mysql", "namespace": "demo", "method": "rollout", "pods": ["mysql-0"],
              "uids": [old_uid], "state": "failed", "message": "pods came back wrong: mysql-0: no sidecar"}
    recreated = compact(pod("mysql-0", owner=("StatefulSet", "mysql"), sidecar=None, uid="uid-mysql-0-after"))
    reason, hint = _explain(recreated, "needs_restart", "no sidecar", INFO, action)
    assert reason == "re-created without a sidecar although the namespace is labelled for asm-173-3"
    assert "unreachable" in hint
    original = compact(pod("mysql-0", owner=("StatefulSet", "mysql"), sidecar=None, uid=old_uid))
    reason, hint = _explain(original, "needs_restart", "no sidecar", INFO, action)
    assert reason == ("no sidecar; its StatefulSet rollout did not complete: pods came back wrong: mysql-0: "
                      "no sidecar")
    assert hint == "look at the workload's new pods and events (kubectl describe statefulset mysql -n demo)"


class GoneClient(Client):
    """Answers a restart PATCH with 404 and a namespace list by name with the given namespace (None: none)."""

    def __init__(self, namespace):
        super().__init__()
        self.namespace = namespace

    def request(self, method, path, body=None, content_type=None, action=None, **kwargs):
        self.calls.append((method, path))
        raise rollout.KubeError("not found", status=404)

    def list(self, path, label_selector=None, field_selector=None, action=None):
        self.calls.append(("LIST", path))
        assert path == "/api/v1/namespaces" and field_selector == "metadata.name=demo"
        return [self.namespace] if self.namespace else []


def rollout_action():
    return {"method": "rollout", "key": ("Deployment", "demo", "reviews"), "kind": "Deployment",
            "namespace": "demo", "name": "reviews"}


def test_restart_of_a_workload_whose_namespace_was_deleted_fails_naming_the_namespace():
    for namespace in (None, {"metadata": {"name": "demo", "deletionTimestamp": "2026-11-25T10:00:00Z"}}):
        client = GoneClient(namespace)
        action = rollout_action()
        r = runner(client=client)
        r.start(action, time.monotonic())
        assert action["state"] == "failed"
        assert action["message"] == "namespace demo was deleted during the run; its workloads were not verified"
        assert [m for m, _p in client.calls] == ["PATCH", "LIST"]
        # The namespace's other workloads are judged without asking again.
        other = dict(rollout_action(), key=("Deployment", "demo", "ratings"), name="ratings")
        r.start(other, time.monotonic())
        assert other["message"] == action["message"] and [m for m, _p in client.calls] == ["PATCH", "LIST", "PATCH"]


def test_a_workload_deleted_on_its_own_is_named_as_such():
    action = rollout_action()
    r = runner(client=GoneClient({"metadata": {"name": "demo"}}))
    r.start(action, time.monotonic())
    assert action["state"] == "failed" and action["message"] == "the Deployment was deleted during the rollout"
    action.update(state="running", generation=1)  # the PATCH had worked; the Deployment vanished afterwards
    r.step(action, time.monotonic())
    assert action["state"] == "failed" and action["message"] == "the Deployment was deleted during the rollout"


def test_a_refused_watch_ends_the_wait_with_its_error():
    r = runner()
    r.raise_fatal_watch_error()  # nothing refused: no error
    refused = rollout.KubeError("Forbidden (403): the credentials in use may not watch pods", status=403)
    r.cols["replicasets"].fatal_error = refused
    with pytest.raises(rollout.KubeError) as err:
        r.raise_fatal_watch_error()
    assert err.value is refused


def test_only_errors_retrying_cannot_help_are_fatal():
    col = Collection(Client(), "/api/v1/pods", lambda obj: obj)
    assert col.fatal_error is None
    for status, fatal in ((401, True), (403, True), (404, True), (410, False), (500, False), (None, False)):
        col.error = rollout.KubeError("watch failed", status=status)
        assert (col.fatal_error is col.error) is fatal, status

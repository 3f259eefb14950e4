# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""build_plan: which workloads restart, how, and which are skipped (and whether their pods are still
verified), from compact pods, ReplicaSets and workloads — no cluster."""

from __future__ import annotations

from ansible_collections.servicemesh.asm.plugins.module_utils.pods import compact
from ansible_collections.servicemesh.asm.plugins.module_utils.plan import build_plan
from ansible_collections.servicemesh.asm.plugins.module_utils.workloads import compact_replicaset, compact_workload

from ansible_collections.servicemesh.asm.tests.unit.plugins.module_utils.pod_objects import (
    NEW_PROXY_IMAGE, PROXY_IMAGE, REV, daemonset, deployment, pod, replicaset, statefulset,
)

INJECTS = {"expected": REV, "injects": REV, "ambient": False,
           "inject_reason": "webhook istio-sidecar-injector-asm-173-3/rev.namespace.sidecar-injector.istio.io "
                            "(revision asm-173-3)"}
UNLABELLED = {"expected": REV, "injects": None, "ambient": False,
              "inject_reason": "the namespace has neither istio.io/rev nor istio-injection"}


class Cluster(object):
    """The seed's demo namespace: reviews (Deployment, 3), mysql (StatefulSet, 2), log-agent (DaemonSet, 3),
    debug-shell (bare). `sidecar` applies to every pod unless overridden per workload."""

    def __init__(self, sidecar="classic", ns_info=None, **overrides):
        self.ns_infos = {"demo": dict(ns_info or INJECTS)}
        self.pods, self.replicasets, self.workloads = [], {}, {}
        self.add(deployment("reviews", replicas=3, **overrides.get("reviews", {})), "Deployment")
        rs = compact_replicaset(replicaset("reviews-6c88c486f4", deployment="reviews"))
        self.replicasets[("demo", rs["name"])] = rs
        self.add(statefulset("mysql", **overrides.get("mysql", {})), "StatefulSet")
        self.add(daemonset("log-agent", **overrides.get("log-agent", {})), "DaemonSet")
        for suffix in ("cm5zx", "l8jhq", "x2k9p"):
            self.pods.append(compact(pod("reviews-6c88c486f4-" + suffix, sidecar=sidecar)))
        for ordinal in (0, 1):
            self.pods.append(compact(pod("mysql-%d" % ordinal, owner=("StatefulSet", "mysql"), sidecar=sidecar)))
        for suffix in ("5vrv9", "pw574", "zxxq2"):
            self.pods.append(compact(pod("log-agent-" + suffix, owner=("DaemonSet", "log-agent"), sidecar=sidecar)))
        self.pods.append(compact(pod("debug-shell", owner=None, sidecar=sidecar)))

    def add(self, obj, kind, skip=False):
        w = compact_workload(obj, kind, skip)
        self.workloads[(kind, w["namespace"], w["name"])] = w

    def plan(self, **kwargs):
        return build_plan(self.ns_infos, self.pods, self.replicasets, self.workloads, **kwargs)


def by_name(items):
    return dict((a["name"], a) for a in items)


def test_converged_cluster_plans_nothing():
    plan = Cluster().plan(images={REV: PROXY_IMAGE})
    assert plan == {"actions": [], "skipped": [], "bare": []}


def test_missing_sidecar_restarts_each_workload_once():
    plan = Cluster(sidecar=None).plan()
    actions = by_name(plan["actions"])
    assert sorted(actions) == ["log-agent", "mysql", "reviews"]
    assert actions["reviews"]["key"] == ("Deployment", "demo", "reviews")
    assert actions["reviews"]["method"] == "rollout"
    assert actions["reviews"]["pods"] == ["reviews-6c88c486f4-cm5zx", "reviews-6c88c486f4-l8jhq",
                                          "reviews-6c88c486f4-x2k9p"]
    assert actions["reviews"]["reasons"] == {"no sidecar": 3}
    assert actions["mysql"]["method"] == "rollout" and actions["mysql"]["reasons"] == {"no sidecar": 2}
    assert actions["log-agent"]["method"] == "rollout" and actions["log-agent"]["kind"] == "DaemonSet"
    assert plan["skipped"] == []
    assert plan["bare"] == [{"namespace": "demo", "name": "debug-shell", "reason": "no sidecar", "deleted": False,
                             "will_delete": False}]


def test_stale_proxy_restarts_with_reason():
    plan = Cluster().plan(images={REV: NEW_PROXY_IMAGE})
    reviews = by_name(plan["actions"])["reviews"]
    assert reviews["method"] == "rollout"
    assert reviews["reasons"] == {"stale proxy %s (the injector now injects %s)" % (PROXY_IMAGE, NEW_PROXY_IMAGE): 3}


def test_only_the_workload_that_needs_it_restarts():
    c = Cluster()
    c.pods = [p for p in c.pods if not p["name"].startswith("mysql")]
    c.pods.append(compact(pod("mysql-0", owner=("StatefulSet", "mysql"), sidecar=None)))
    c.pods.append(compact(pod("mysql-1", owner=("StatefulSet", "mysql"))))
    plan = c.plan()
    assert [(a["name"], a["pods"], a["reasons"]) for a in plan["actions"]] == [
        ("mysql", ["mysql-0"], {"no sidecar": 1})]


def test_on_delete_statefulset_and_daemonset_are_evicted():
    plan = Cluster(sidecar=None, mysql={"strategy": "OnDelete"}, **{"log-agent": {"strategy": "OnDelete"}}).plan()
    actions = by_name(plan["actions"])
    assert actions["mysql"]["method"] == "evict" and actions["log-agent"]["method"] == "evict"
    assert actions["reviews"]["method"] == "rollout"


def test_delete_pods_evicts_every_workload():
    plan = Cluster(sidecar=None).plan(restart="delete_pods")
    assert sorted((a["name"], a["method"]) for a in plan["actions"]) == [
        ("log-agent", "evict"), ("mysql", "evict"), ("reviews", "evict")]
    assert [p["name"] for p in plan["bare"]] == ["debug-shell"]


def test_paused_deployment_is_skipped_and_not_verified():
    plan = Cluster(sidecar=None, reviews={"paused": True}).plan()
    assert "reviews" not in by_name(plan["actions"])
    (skipped,) = plan["skipped"]
    assert skipped["key"] == ("Deployment", "demo", "reviews")
    assert skipped["reason"] == "paused: run `kubectl rollout resume deployment/reviews -n demo` first"
    assert skipped["verified"] is False
    assert skipped["reasons"] == {"no sidecar": 3}


def test_job_pods_are_skipped_not_restarted():
    c = Cluster()
    c.pods.append(compact(pod("migrate-7xk2p", owner=("Job", "migrate"), sidecar=None)))
    plan = c.plan()
    assert plan["actions"] == []
    (skipped,) = plan["skipped"]
    assert (skipped["kind"], skipped["name"], skipped["verified"]) == ("Job", "migrate", False)
    assert skipped["reason"] == "owned by a Job: its pods get a sidecar when it runs again"


def test_completed_job_pod_is_exempt_not_skipped():
    c = Cluster()
    c.pods.append(compact(pod("migrate-7xk2p", owner=("Job", "migrate"), sidecar=None, phase="Succeeded")))
    assert c.plan() == {"actions": [], "skipped": [], "bare": []}


def test_namespace_not_labelled_for_the_revision_skips_but_verifies():
    plan = Cluster(sidecar=None, ns_info=UNLABELLED).plan()
    assert plan["actions"] == []
    assert sorted(s["name"] for s in plan["skipped"]) == ["log-agent", "mysql", "reviews"]
    for s in plan["skipped"]:
        assert s["verified"] is True
        assert s["reason"] == "restarting would not help: the namespace has neither istio.io/rev nor istio-injection"


def test_restart_none_skips_and_verifies():
    plan = Cluster(sidecar=None).plan(restart="none")
    assert plan["actions"] == []
    assert [(s["name"], s["reason"], s["verified"]) for s in plan["skipped"]] == [
        ("log-agent", "restart is none", True), ("reviews", "restart is none", True),
        ("mysql", "restart is none", True)]


def test_already_rolling_workload_is_waited_for():
    # A rollout interrupted by an earlier run: 1 of 3 updated. Restarting again would only churn.
    plan = Cluster(sidecar=None, reviews={"updated": 1, "current": 4}).plan()
    actions = by_name(plan["actions"])
    assert actions["reviews"]["method"] == "wait"
    assert actions["mysql"]["method"] == "rollout"


def test_force_restart_adds_every_workload():
    plan = Cluster().plan(force_restart=True, images={REV: PROXY_IMAGE})
    actions = by_name(plan["actions"])
    assert sorted(actions) == ["log-agent", "mysql", "reviews"]
    assert all(a["method"] == "rollout" for a in actions.values())
    assert actions["reviews"]["reasons"] == {"force_restart": 3}
    assert plan["bare"] == [{"namespace": "demo", "name": "debug-shell", "reason": "2/2 ready", "deleted": False,
                             "will_delete": False}]


def test_force_restart_adds_workloads_without_pods_and_restarts_rolling_ones():
    c = Cluster(reviews={"updated": 1, "current": 4})
    c.add(deployment("idle", replicas=0), "Deployment")
    actions = by_name(c.plan(force_restart=True)["actions"])
    assert actions["idle"]["reasons"] == {"force_restart": 1} and actions["idle"]["pods"] == []
    assert actions["reviews"]["method"] == "rollout"


def test_force_restart_still_skips_paused():
    plan = Cluster(reviews={"paused": True}).plan(force_restart=True)
    assert "reviews" not in by_name(plan["actions"])
    assert by_name(plan["skipped"])["reviews"]["reason"].startswith("paused")


def test_bare_pods_are_reported_and_deleted_only_when_asked():
    c = Cluster(sidecar=None)
    plan = c.plan()
    assert all(a["method"] != "delete" for a in plan["actions"])
    assert plan["bare"][0]["will_delete"] is False

    plan = c.plan(delete_bare_pods=True)
    deletes = [a for a in plan["actions"] if a["method"] == "delete"]
    assert [(a["key"], a["kind"], a["name"], a["pods"], a["reasons"]) for a in deletes] == [
        (("Pod", "demo", "debug-shell"), "Pod", "debug-shell", ["debug-shell"], {"no sidecar": 1})]
    assert plan["bare"][0]["will_delete"] is True


def test_skip_workloads_match_is_skipped_and_not_verified():
    c = Cluster(sidecar=None)
    c.add(deployment("reviews", replicas=3), "Deployment", skip=True)
    plan = c.plan()
    assert "reviews" not in by_name(plan["actions"])
    skipped = by_name(plan["skipped"])["reviews"]
    assert (skipped["reason"], skipped["verified"]) == ("matched skip_workloads", False)


def test_replicaset_without_deployment_is_evicted():
    c = Cluster()
    rs = compact_replicaset(replicaset("standalone", deployment=None, replicas=1))
    c.replicasets[("demo", "standalone")] = rs
    c.pods.append(compact(pod("standalone-q7w2e", owner=("ReplicaSet", "standalone"), sidecar=None)))
    (action,) = c.plan()["actions"]
    assert (action["kind"], action["name"], action["method"]) == ("ReplicaSet", "standalone", "evict")


def test_deleted_workload_is_skipped():
    c = Cluster(sidecar=None)
    del c.workloads[("StatefulSet", "demo", "mysql")]
    skipped = by_name(c.plan()["skipped"])["mysql"]
    assert skipped["reason"] == "the StatefulSet no longer exists" and skipped["verified"] is False


def test_terminating_and_exempt_pods_need_nothing():
    c = Cluster()
    c.pods.append(compact(pod("reviews-6c88c486f4-old01", sidecar=None, terminating=True)))
    c.pods.append(compact(pod("node-exporter-abcde", owner=("DaemonSet", "node-exporter"), sidecar=None,
                              host_network=True)))
    c.pods.append(compact(pod("batch-0", owner=("StatefulSet", "batch"), sidecar=None,
                              labels={"sidecar.istio.io/inject": "false"})))
    assert c.plan(images={REV: PROXY_IMAGE}) == {"actions": [], "skipped": [], "bare": []}


def test_injection_off_restarts_pods_that_still_have_a_sidecar():
    c = Cluster(ns_info={"expected": None, "injects": None, "ambient": False,
                         "inject_reason": "the namespace has neither istio.io/rev nor istio-injection"})
    actions = by_name(c.plan()["actions"])
    assert sorted(actions) == ["log-agent", "mysql", "reviews"]
    assert actions["reviews"]["reasons"] == {"has a sidecar (revision asm-173-3) but injection is off": 3}


def test_pod_level_opt_in_is_judged_per_pod():
    """Review finding 11: with injection off for the namespace (disable), a pod that opts in with
    sidecar.istio.io/inject=true is injected by the default revision's object webhook: restarting it would
    bring its sidecar back ("came back wrong"). Judged per pod, it is as expected; its neighbours restart."""
    off = {"expected": None, "injects": None, "ambient": False, "target": None,
           "inject_reason": "the namespace has neither istio.io/rev nor istio-injection",
           "pod_injection": lambda labels: (REV, "webhook istio-sidecar-injector/object.sidecar-injector.istio.io")
           if dict(labels).get("sidecar.istio.io/inject") == "true" else (None, "no webhook matches")}
    c = Cluster(ns_info=off)
    c.pods = [p for p in c.pods if not p["name"].startswith("mysql")]
    c.pods += [compact(pod("mysql-%d" % i, owner=("StatefulSet", "mysql"),
                           labels={"sidecar.istio.io/inject": "true"})) for i in (0, 1)]
    actions = by_name(c.plan(images={REV: PROXY_IMAGE})["actions"])
    assert "mysql" not in actions
    assert sorted(actions) == ["log-agent", "reviews"]


REPLICA_FAILURE = [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                   {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"},
                   {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                    "message": 'pods "reviews-7f9d-" is forbidden: ValidatingAdmissionPolicy denied'}]


def test_stuck_rollout_of_right_pods_restarts_afresh():
    # A restart whose new pods were refused (a rolled-back batch): the old pods are as expected, the
    # Deployment still rolls towards pods it cannot create.
    plan = Cluster(reviews={"updated": 0, "current": 3, "conditions": REPLICA_FAILURE}).plan(images={REV: PROXY_IMAGE})
    reviews = by_name(plan["actions"])["reviews"]
    assert reviews["method"] == "rollout" and reviews["forced"] is True
    assert reviews["reasons"] == {"rollout stuck": 1} and reviews["pods"] == []
    assert [a["name"] for a in plan["actions"]] == ["reviews"]


def test_stuck_rollout_with_pods_to_restart_is_not_merely_waited_for():
    plan = Cluster(sidecar=None, reviews={"updated": 1, "current": 4, "conditions": REPLICA_FAILURE}).plan()
    reviews = by_name(plan["actions"])["reviews"]
    assert reviews["method"] == "rollout" and reviews["forced"] is True
    assert reviews["reasons"] == {"no sidecar": 3}


def test_rollout_past_its_deadline_restarts_afresh():
    deadline = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                 "message": 'ReplicaSet "reviews-7f9d" has timed out progressing.'}]
    plan = Cluster(reviews={"updated": 1, "current": 3, "conditions": deadline}).plan(images={REV: PROXY_IMAGE})
    assert by_name(plan["actions"])["reviews"]["reasons"] == {"rollout stuck": 1}


def test_rollout_under_way_of_right_pods_is_waited_for():
    plan = Cluster(reviews={"updated": 1, "current": 4}).plan(images={REV: PROXY_IMAGE})
    reviews = by_name(plan["actions"])["reviews"]
    assert reviews["method"] == "wait" and reviews["forced"] is False
    assert reviews["reasons"] == {"rollout under way": 1}


def test_unfinished_rollouts_left_alone_when_paused_skipped_or_restart_none():
    stuck = {"updated": 0, "current": 3, "conditions": REPLICA_FAILURE}
    assert Cluster(reviews=dict(stuck, paused=True)).plan(images={REV: PROXY_IMAGE})["actions"] == []
    assert Cluster(reviews=stuck).plan(images={REV: PROXY_IMAGE}, restart="none") == {
        "actions": [], "skipped": [], "bare": []}
    c = Cluster()
    c.add(deployment("reviews", replicas=3, **stuck), "Deployment", skip=True)
    assert c.plan(images={REV: PROXY_IMAGE})["actions"] == []


def test_finished_rollout_with_a_stale_replica_failure_plans_nothing():
    # Rolled out (every replica updated and available): a leftover condition is no reason to restart.
    plan = Cluster(reviews={"conditions": REPLICA_FAILURE}).plan(images={REV: PROXY_IMAGE})
    assert plan["actions"] == []

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Workloads: compact records, pod → workload ownership and rollout status as `kubectl rollout status`
judges it (kubectl/pkg/polymorphichelpers/rollout_status.go), and the `kubectl rollout restart` patch
(objectrestarter.go)."""

from __future__ import annotations

import pytest

from ansible_collections.servicemesh.asm.plugins.module_utils.pods import compact
from ansible_collections.servicemesh.asm.plugins.module_utils.workloads import (
    RESTARTED_AT, compact_replicaset, compact_workload, replica_failure, restart_patch, rollout_status, workload_of)

from ansible_collections.servicemesh.asm.tests.unit.plugins.module_utils.pod_objects import (
    daemonset, deployment, pod, replicaset, statefulset,
)


def rs_index(*objs):
    records = [compact_replicaset(o) for o in objs]
    return dict(((r["namespace"], r["name"]), r) for r in records)


# -- compact_workload ---------------------------------------------------------------------------------------------

def test_compact_deployment():
    w = compact_workload(deployment(replicas=3, generation=4, observed=3, updated=1, current=4, available=2,
                                    ready=2, paused=True), "Deployment", skip=False)
    assert w["kind"] == "Deployment" and (w["namespace"], w["name"], w["uid"]) == ("demo", "reviews", "uid-reviews")
    assert (w["generation"], w["observed"]) == (4, 3)
    assert (w["desired"], w["updated"], w["current"], w["available"], w["ready"]) == (3, 1, 4, 2, 2)
    assert w["strategy"] == "RollingUpdate" and w["paused"] is True and w["skip"] is False
    assert w["conditions"]["Progressing"]["reason"] == "NewReplicaSetAvailable"


def test_compact_deployment_defaults():
    # spec.replicas unset (1), no status yet, Recreate strategy.
    obj = deployment(strategy="Recreate")
    del obj["spec"]["replicas"]
    del obj["status"]
    w = compact_workload(obj, "Deployment")
    assert (w["desired"], w["updated"], w["available"], w["observed"]) == (1, 0, 0, 0)
    assert w["strategy"] == "Recreate" and w["paused"] is False and w["conditions"] == {}


def test_compact_statefulset():
    w = compact_workload(statefulset(replicas=3, partition=1, ready=2, updated=1, update_revision="mysql-7f9"),
                         "StatefulSet")
    assert w["kind"] == "StatefulSet"
    assert (w["desired"], w["ready"], w["updated"], w["partition"]) == (3, 2, 1, 1)
    assert (w["current_revision"], w["update_revision"]) == ("mysql-5d8f7b9c4", "mysql-7f9")
    assert w["strategy"] == "RollingUpdate" and w["paused"] is False


def test_compact_statefulset_on_delete():
    w = compact_workload(statefulset(strategy="OnDelete"), "StatefulSet")
    assert w["strategy"] == "OnDelete" and w["partition"] == 0


def test_compact_daemonset():
    w = compact_workload(daemonset(desired=3, updated=2, available=1, ready=1), "DaemonSet")
    assert w["kind"] == "DaemonSet"
    assert (w["desired"], w["updated"], w["available"], w["ready"]) == (3, 2, 1, 1)
    # The kind comes from the caller: items of typed lists carry none.
    assert "kind" not in daemonset()


def test_compact_replicaset():
    assert compact_replicaset(replicaset()) == {"namespace": "demo", "name": "reviews-6c88c486f4",
                                                "deployment": "reviews", "replicas": 3}
    assert compact_replicaset(replicaset(name="orphan", deployment=None))["deployment"] is None
    # Owned by something else than a Deployment (e.g. an Argo Rollout).
    assert compact_replicaset(replicaset(deployment="canary", kind="Rollout"))["deployment"] is None


# -- workload_of ----------------------------------------------------------------------------------------------------

def test_workload_of_pod_replicaset_deployment():
    rs = rs_index(replicaset())
    assert workload_of(compact(pod()), rs) == ("Deployment", "demo", "reviews")


def test_workload_of_replicaset_without_deployment():
    rs = rs_index(replicaset(name="standalone", deployment=None))
    rec = compact(pod(name="standalone-x2k9p", owner=("ReplicaSet", "standalone")))
    assert workload_of(rec, rs) == ("ReplicaSet", "demo", "standalone")


def test_workload_of_unknown_replicaset_stays_replicaset():
    assert workload_of(compact(pod()), {}) == ("ReplicaSet", "demo", "reviews-6c88c486f4")


def test_workload_of_replicaset_in_another_namespace_does_not_match():
    rs = rs_index(replicaset(namespace="other"))
    assert workload_of(compact(pod()), rs) == ("ReplicaSet", "demo", "reviews-6c88c486f4")


@pytest.mark.parametrize("kind, name", [("StatefulSet", "mysql"), ("DaemonSet", "log-agent"), ("Job", "migrate")])
def test_workload_of_direct_owners(kind, name):
    assert workload_of(compact(pod(name=name + "-0", owner=(kind, name))), {}) == (kind, "demo", name)


def test_workload_of_bare_pod():
    assert workload_of(compact(pod(name="debug-shell", owner=None)), rs_index(replicaset())) is None


# -- rollout_status: Deployment --------------------------------------------------------------------------------------

def deploy(**kwargs):
    return compact_workload(deployment(**kwargs), "Deployment")


def test_deployment_generation_not_observed():
    assert rollout_status(deploy(generation=3, observed=2)) == (
        False, False, "waiting for the Deployment controller to observe the change")


def test_deployment_updated_less_than_desired():
    assert rollout_status(deploy(replicas=3, updated=1)) == (False, False, "1 of 3 new replicas updated")


def test_deployment_old_replicas_pending_termination():
    assert rollout_status(deploy(replicas=3, updated=3, current=5)) == (
        False, False, "2 old replicas pending termination")


def test_deployment_available_less_than_updated():
    assert rollout_status(deploy(replicas=3, available=2)) == (False, False, "2 of 3 updated replicas available")


def test_deployment_rolled_out():
    assert rollout_status(deploy()) == (True, False, "rolled out")


def test_deployment_progress_deadline_exceeded_fails():
    conditions = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                   "message": 'ReplicaSet "reviews-7d9" has timed out progressing.'}]
    done, failed, message = rollout_status(deploy(updated=1, conditions=conditions))
    assert (done, failed) == (False, True)
    assert message == 'exceeded its progress deadline: ReplicaSet "reviews-7d9" has timed out progressing.'


def test_deployment_deadline_not_judged_before_generation_observed():
    conditions = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    assert rollout_status(deploy(generation=5, observed=4, conditions=conditions))[:2] == (False, False)


# -- rollout_status: StatefulSet -------------------------------------------------------------------------------------

def sts(**kwargs):
    return compact_workload(statefulset(**kwargs), "StatefulSet")


def test_statefulset_generation_not_observed():
    assert rollout_status(sts(generation=2, observed=1))[:2] == (False, False)


def test_statefulset_rolling_update_waits_for_ready_then_revision():
    assert rollout_status(sts(replicas=3, ready=2)) == (False, False, "2 of 3 pods ready")
    assert rollout_status(sts(replicas=3, updated=1, update_revision="mysql-7f9")) == (
        False, False, "1 of 3 pods at the new revision")
    assert rollout_status(sts(replicas=3)) == (True, False, "rolled out")


def test_statefulset_partition():
    # partition 2 of 3: only ordinal 2 is updated, which completes the (partitioned) roll out.
    assert rollout_status(sts(replicas=3, partition=2, updated=1, update_revision="mysql-7f9")) == (
        True, False, "partitioned roll out complete")
    assert rollout_status(sts(replicas=3, partition=1, updated=1, update_revision="mysql-7f9"))[:2] == (False, False)


def test_statefulset_on_delete_is_not_rolled_by_a_restart():
    done, failed, message = rollout_status(sts(strategy="OnDelete", update_revision="mysql-7f9", updated=0))
    assert (done, failed) == (True, False) and "OnDelete" in message


# -- rollout_status: DaemonSet ---------------------------------------------------------------------------------------

def ds(**kwargs):
    return compact_workload(daemonset(**kwargs), "DaemonSet")


def test_daemonset_rollout_status():
    assert rollout_status(ds(generation=2, observed=1))[:2] == (False, False)
    assert rollout_status(ds(desired=3, updated=2)) == (False, False, "2 of 3 updated pods scheduled")
    assert rollout_status(ds(desired=3, available=2)) == (False, False, "2 of 3 updated pods available")
    assert rollout_status(ds()) == (True, False, "rolled out")
    assert rollout_status(ds(strategy="OnDelete", updated=0))[:2] == (True, False)


# -- replica_failure, restart_patch ----------------------------------------------------------------------------------

def test_replica_failure():
    message = ('Internal error occurred: failed calling webhook "rev.namespace.sidecar-injector.istio.io": '
               'failed to call webhook: Post "https://istiod-asm-173-3.istio-system.svc:443/inject": no endpoints')
    conditions = [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": message}]
    assert replica_failure(deploy(conditions=conditions)) == message
    cleared = [{"type": "ReplicaFailure", "status": "False", "reason": "FailedCreate", "message": message}]
    assert replica_failure(deploy(conditions=cleared)) is None
    assert replica_failure(deploy()) is None


def test_restart_patch_is_what_kubectl_rollout_restart_sends():
    assert RESTARTED_AT == "kubectl.kubernetes.io/restartedAt"
    assert restart_patch("2026-11-25T10:00:00Z") == {
        "spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2026-11-25T10:00:00Z"}}}}}


def test_disruption_blocker_counts_down_and_missing_pods():
    from ansible_collections.servicemesh.asm.plugins.module_utils.pods import compact
    from ansible_collections.servicemesh.asm.plugins.module_utils.workloads import disruption_blocker
    from ansible_collections.servicemesh.asm.tests.unit.plugins.module_utils.pod_objects import pod

    def zk(i, **kw):
        return compact(pod("zk-%d" % i, owner=("StatefulSet", "zk"), **kw))
    assert disruption_blocker([zk(0), zk(1), zk(2)], 3) is None
    assert disruption_blocker([zk(0), zk(1), zk(2, proxy_ready=False)], 3) == \
        "waiting for zk-2 to be ready before taking another pod down"
    assert disruption_blocker([zk(0), zk(1)], 3) == "waiting for 1 of 3 pods to exist before taking another pod down"
    # A ReplicaSet replaces at once: an old pod still terminating beside a ready replacement is no gap.
    assert disruption_blocker([zk(0), zk(1), zk(2), zk(9, terminating=True)], 3) is None
    assert disruption_blocker([zk(0, phase="Pending", app_ready=False), zk(1), zk(2)], 3).startswith("waiting for zk-0")

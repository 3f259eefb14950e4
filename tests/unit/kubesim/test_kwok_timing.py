"""Per-pod timing from kwok's stage annotations (kwok v0.8.0 kustomize/stage/pod/general/pod-ready.yaml and
pod-delete.yaml; pkg/utils/lifecycle/lifecycle.go Stage.Delay, value_duration_from.go). The simulated clock is
driven by hand: no wall time passes in these tests."""

import pytest

from kubesim import kwok, scenarios
from kubesim.cluster import POD

READY, JITTER, DELETE = kwok.READY_DELAY, kwok.READY_JITTER, kwok.DELETE_DELAY


def cluster_with(*workloads, kubelet=None):
    spec = {"kubelet": kubelet or {}, "namespaces": [{"name": "app", "workloads": list(workloads)}]}
    cluster = scenarios.build_cluster(spec)
    return cluster, cluster.handlers["kubelet"].__self__


def pods(cluster, app):
    return [p for p in cluster.store.objects(POD, "app") if p["metadata"]["labels"].get("app") == app]


def readiness(controllers, pod):
    return controllers.runtime[pod["metadata"]["uid"]].readiness_delay


@pytest.mark.parametrize("text,seconds", [
    ("12s", 12), ("1m30s", 90), ("1.5h", 5400), ("500ms", 0.5), ("0", 0), ("-2s", -2), ("+3s", 3), (".5s", 0.5),
    ("1h2m3s4ms", 3723.004), ("12", None), ("", None), ("s", None), ("12 s", None), ("twelve", None)])
def test_go_duration_parses_like_time_ParseDuration(text, seconds):
    got = kwok.go_duration(text)
    assert got == pytest.approx(seconds) if seconds is not None else got is None


def test_delay_and_jitter_delay_make_pods_ready_uniformly_between_them_slow_and_fast_side_by_side():
    cluster, ctl = cluster_with(
        {"kind": "Deployment", "name": "slow", "replicas": 12, "annotations": {READY: "12s", JITTER: "14s"}},
        {"kind": "Deployment", "name": "fast", "replicas": 2})
    delays = [readiness(ctl, p) for p in pods(cluster, "slow")]
    assert len(delays) == 12 and all(12 <= d <= 14 for d in delays)
    assert len(set(delays)) > 1  # drawn per pod, not once per workload
    assert {readiness(ctl, p) for p in pods(cluster, "fast")} == {1.0}  # the kubelet default


def test_ready_transition_follows_the_annotation_on_the_simulated_clock():
    cluster, ctl = cluster_with({"kind": "Pod", "name": "db", "annotations": {READY: "20s", JITTER: "20s"}})
    (pod,) = pods(cluster, "db")
    started = pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    assert readiness(ctl, pod) == 20
    assert 19 <= _seconds(ready["lastTransitionTime"]) - _seconds(started) <= 21


@pytest.mark.parametrize("annotations,low,high", [
    ({READY: "3s"}, 3, 5),  # up to the stage's default jitter, 5 s
    ({READY: "3s", JITTER: "3s"}, 3, 3),  # exact
    ({JITTER: "2s"}, 1, 2),  # the stage's default delay, 1 s, up to the jitter
    ({READY: "8s", JITTER: "4s"}, 4, 4),  # a jitter below the delay wins (Stage.Delay)
    ({READY: "nonsense", JITTER: "nonsense"}, 1, 5),  # unparsable values fall back to the stage defaults
])
def test_kwok_stage_delay_rules(annotations, low, high):
    cluster, ctl = cluster_with({"kind": "Deployment", "name": "w", "replicas": 3, "annotations": annotations})
    assert all(low <= readiness(ctl, p) <= high for p in pods(cluster, "w"))


def test_annotation_beats_the_readiness_delay_fault_which_beats_the_kubelet_default():
    cluster, ctl = cluster_with({"kind": "Deployment", "name": "a", "annotations": {READY: "3s", JITTER: "3s"}},
                                {"kind": "Deployment", "name": "b"}, kubelet={"readiness_delay": 2.0})
    assert readiness(ctl, pods(cluster, "b")[0]) == 2.0
    cluster.faults["readiness_delay"] = 7
    for app in ("a", "b"):
        cluster.delete(POD, "app", pods(cluster, app)[0]["metadata"]["name"], {"gracePeriodSeconds": 0})
    cluster.settle(60)
    assert readiness(ctl, pods(cluster, "a")[0]) == 3
    assert readiness(ctl, pods(cluster, "b")[0]) == 7


def test_a_long_ready_delay_without_jitter_delay_is_refused_in_a_scenario():
    """kwok would cut it to its default jitter (5 s): the scenario author must say the upper bound."""
    with pytest.raises(SystemExit, match="jitter-delay"):
        cluster_with({"kind": "Deployment", "name": "db", "annotations": {READY: "20s"}})


def _delete_and_terminate_at(cluster, ctl, pod, grace=None):
    name = pod["metadata"]["name"]
    deleted_at = cluster.clock.now()
    cluster.delete(POD, "app", name, {} if grace is None else {"gracePeriodSeconds": grace})
    cluster.run_pending()
    return ctl.runtime[pod["metadata"]["uid"]].terminate_at - deleted_at


def test_pod_delete_delay_is_bounded_by_the_grace_period_like_kwoks_pod_delete_stage():
    cluster, ctl = cluster_with(
        {"kind": "Deployment", "name": "drain", "replicas": 8, "annotations": {DELETE: "10s"},
         "pod_spec": {"terminationGracePeriodSeconds": 30}},
        {"kind": "Deployment", "name": "stuck", "annotations": {DELETE: "90s"},
         "pod_spec": {"terminationGracePeriodSeconds": 20}},
        {"kind": "Deployment", "name": "plain"}, kubelet={"termination_delay": 0.5})
    # pod-delete.yaml: jitter up to the deletionTimestamp, so between the delay and the end of the grace period.
    waits = [_delete_and_terminate_at(cluster, ctl, p) for p in pods(cluster, "drain")]
    assert all(9 <= w <= 30 for w in waits) and len({round(w, 3) for w in waits}) > 1
    assert 19 <= _delete_and_terminate_at(cluster, ctl, pods(cluster, "stuck")[0]) <= 20
    assert _delete_and_terminate_at(cluster, ctl, pods(cluster, "plain")[0]) == pytest.approx(0.5, abs=0.1)
    # a shorter grace on the DELETE bounds it too
    cluster.settle(60)
    fresh = [p for p in pods(cluster, "drain") if not p["metadata"].get("deletionTimestamp")]
    assert _delete_and_terminate_at(cluster, ctl, fresh[0], grace=3) <= 3


def test_a_terminating_pod_is_still_there_until_its_delay_has_passed():
    cluster, ctl = cluster_with({"kind": "Pod", "name": "db", "annotations": {DELETE: "15s"},
                                 "pod_spec": {"terminationGracePeriodSeconds": 15}})
    (pod,) = pods(cluster, "db")
    assert 14 <= _delete_and_terminate_at(cluster, ctl, pod) <= 15
    cluster.clock.advance(13)
    cluster.run_pending()
    assert pods(cluster, "db") and pods(cluster, "db")[0]["metadata"]["deletionTimestamp"]
    cluster.clock.advance(3)
    cluster.run_pending()
    assert not pods(cluster, "db")


def _seconds(text):
    from kubesim.clock import parse_rfc3339
    return parse_rfc3339(text)

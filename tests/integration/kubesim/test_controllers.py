"""kubesim's controllers against what kube-controller-manager does, observed the way a client would: with
the real `kubernetes` client (watches on pods, so every intermediate state is seen, not just polls) and
the real kubectl (`rollout status/restart/pause/resume`, `get`).

Sources: kubernetes pkg/controller/deployment/{rolling,recreate,sync}.go and util/deployment_util.go;
pkg/controller/statefulset/stateful_set_control.go; pkg/controller/daemon/update.go; pkg/controller/job;
pkg/controller/namespace/deletion; kubectl polymorphichelpers/rollout_status.go and objectrestarter.go.
"""

import time

from simutil import (PodWatch, api_error, deployment_manifest, error_body, gone, injected_revision, kube,
                     kubectl_pods, namespace, raw_ready, raw_terminating, wait_for)

SEED_REV = "asm-173-3"


def rollout_status(sim, kind_name, ns, timeout="60s"):
    out = sim.kubectl("rollout", "status", kind_name, "-n", ns, f"--timeout={timeout}")
    return out.stdout


def template_hash(pod: dict, key="pod-template-hash") -> str:
    return pod["metadata"]["labels"][key]


def ready_deployment(k, sim, ns, name, replicas, **kwargs):
    k.apps.create_namespaced_deployment(ns, deployment_manifest(name, replicas, **kwargs))
    rollout_status(sim, f"deployment/{name}", ns)
    return wait_for(lambda: (lambda d: d if (d.status.ready_replicas or 0) == replicas else None)(
        k.apps.read_namespaced_deployment(name, ns)), 15, what=f"{name} ready")


def live_pods(k, ns, selector):
    return [p for p in k.core.list_namespaced_pod(ns, label_selector=selector).items
            if not p.metadata.deletion_timestamp]


# -- Deployment ----------------------------------------------------------------------------------


def test_deployment_rolling_update_math(seed):
    """replicas 4, maxSurge 1, maxUnavailable 0 (rolling.go reconcileNewReplicaSet/reconcileOldReplicaSets):
    at every pod event of the restart there are at most 5 live pods and never fewer than 4 ready ones; the
    ReplicaSets move one pod at a time; the rollout ends with every pod on the new ReplicaSet, `kubectl
    rollout status` succeeds and the status counts are final."""
    k = kube(seed)
    namespace(k, "roll")
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    ready_deployment(k, seed, "roll", "web", 4, strategy=strategy)
    (old_rs,) = k.apps.list_namespaced_replica_set("roll").items
    old_hash = old_rs.metadata.labels["pod-template-hash"]

    samples = []

    def check(pods):
        live = [p for p in pods.values() if not raw_terminating(p)]
        samples.append((len(live), sum(1 for p in live if raw_ready(p)), len(pods)))
    w = PodWatch(k, "roll", check)
    try:
        seed.kubectl("rollout", "restart", "deployment/web", "-n", "roll")
        assert 'deployment "web" successfully rolled out' in rollout_status(seed, "deployment/web", "roll")

        def finished():
            pods = w.snapshot()
            return len(pods) == 4 and all(not raw_terminating(p) and raw_ready(p) and template_hash(p) != old_hash
                                          for p in pods.values())
        wait_for(finished, 15, what=lambda: w.snapshot().keys())
    finally:
        w.stop()
    assert len(samples) > 20, samples  # the watch saw the whole rollout: 4 creations, 4 deletions, status moves
    assert max(s[0] for s in samples) == 5, samples  # the surge was used ...
    assert all(live <= 5 for live, _, _ in samples), samples  # ... and never exceeded
    assert min(ready for _, ready, _ in samples) == 4, samples  # maxUnavailable 0: never below 4 ready

    d = k.apps.read_namespaced_deployment("web", "roll")
    assert d.metadata.generation == 2 and d.status.observed_generation == 2
    st = d.status
    assert (st.replicas, st.updated_replicas, st.ready_replicas, st.available_replicas) == (4, 4, 4, 4)
    assert not st.unavailable_replicas
    conds = {c.type: (c.status, c.reason) for c in st.conditions}
    assert conds["Available"] == ("True", "MinimumReplicasAvailable")
    assert conds["Progressing"] == ("True", "NewReplicaSetAvailable")

    rss = {rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs
           for rs in k.apps.list_namespaced_replica_set("roll").items}
    assert set(rss) == {"1", "2"} and rss["1"].metadata.name == old_rs.metadata.name
    assert rss["1"].spec.replicas == 0 and rss["2"].spec.replicas == 4
    new_name, old_name = rss["2"].metadata.name, old_rs.metadata.name
    scaling = {e.message for e in k.core.list_namespaced_event(
        "roll", field_selector="involvedObject.kind=Deployment,reason=ScalingReplicaSet").items}
    expected = {f"Scaled up replica set {new_name} from {n - 1} to {n}" for n in range(1, 5)}
    expected |= {f"Scaled down replica set {old_name} from {n + 1} to {n}" for n in range(4)}
    expected.add(f"Scaled up replica set {old_name} from 0 to 4")
    assert scaling == expected


def test_paused_deployment_does_not_roll_until_resumed(seed):
    """A paused Deployment syncs its status (observedGeneration follows the spec) but creates no new
    ReplicaSet for a template change (sync.go: getAllReplicaSetsAndSyncRevision(createIfNotExisted=false));
    `kubectl rollout restart` refuses it (objectrestarter.go); `rollout resume` rolls it."""
    k = kube(seed)
    namespace(k, "paused")
    ready_deployment(k, seed, "paused", "web", 2)
    uids = {p.metadata.uid for p in live_pods(k, "paused", "app=web")}
    seed.kubectl("rollout", "pause", "deployment/web", "-n", "paused")
    seed.kubectl("set", "image", "deployment/web", "web=docker.io/library/nginx:1.28", "-n", "paused")

    d = wait_for(lambda: (lambda d: d if d.status.observed_generation == d.metadata.generation else None)(
        k.apps.read_namespaced_deployment("web", "paused")), 10, what="paused deployment observed")
    assert d.spec.paused and d.metadata.generation == 3  # pause and set image each bumped it
    progressing = next(c for c in d.status.conditions if c.type == "Progressing")
    assert (progressing.status, progressing.reason) == ("Unknown", "DeploymentPaused")
    time.sleep(1.0)  # give a (wrong) rollout the time to start
    assert len(k.apps.list_namespaced_replica_set("paused").items) == 1
    assert {p.metadata.uid for p in live_pods(k, "paused", "app=web")} == uids
    refused = seed.kubectl("rollout", "restart", "deployment/web", "-n", "paused", check=False)
    assert refused.returncode != 0 and "run rollout resume first" in refused.stderr

    seed.kubectl("rollout", "resume", "deployment/web", "-n", "paused")
    assert "successfully rolled out" in rollout_status(seed, "deployment/web", "paused")
    assert len(k.apps.list_namespaced_replica_set("paused").items) == 2
    pods = wait_for(lambda: (lambda ps: ps if len(ps) == 2 and not uids & {p.metadata.uid for p in ps} else None)(
        live_pods(k, "paused", "app=web")), 10, what="two new pods")
    assert {p.spec.containers[0].image for p in pods} == {"docker.io/library/nginx:1.28"}


def test_recreate_strategy_kills_all_old_pods_first(seed):
    """strategy Recreate (recreate.go): scale the old ReplicaSets to 0, wait until none of their pods is
    left (terminating ones included), only then create the new pods: no moment with both."""
    k = kube(seed)
    namespace(k, "recreate")
    ready_deployment(k, seed, "recreate", "web", 3, strategy={"type": "Recreate"})
    old_hash = template_hash(k.raw(live_pods(k, "recreate", "app=web")[0]))
    samples = []
    w = PodWatch(k, "recreate", lambda pods: samples.append({template_hash(p) for p in pods.values()}))
    try:
        seed.kubectl("rollout", "restart", "deployment/web", "-n", "recreate")
        # While old pods exist (terminating), the new ReplicaSet does not exist yet: list the ReplicaSets
        # first, then the pods; if old pods are still there, they were there at the first listing too.
        early = []
        for _ in range(100):
            rss = k.apps.list_namespaced_replica_set("recreate").items
            if not [p for p in k.core.list_namespaced_pod("recreate").items
                    if p.metadata.labels["pod-template-hash"] == old_hash]:
                break
            early.append(len(rss))
            time.sleep(0.02)
        assert early and set(early) == {1}, early
        rollout_status(seed, "deployment/web", "recreate")
        wait_for(lambda: (lambda ps: len(ps) == 3 and all(raw_ready(p) and template_hash(p) != old_hash
                                                          for p in ps.values()))(w.snapshot()), 15)
    finally:
        w.stop()
    assert not [s for s in samples if len(s) > 1], samples
    assert set() in samples  # there was a moment without any pod
    assert samples[0] == {old_hash} and old_hash not in samples[-1]


# -- StatefulSet ---------------------------------------------------------------------------------


def statefulset(name, replicas, strategy=None):
    body = {"metadata": {"name": name}, "spec": {
        "replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": name, "image": "docker.io/library/redis:7.4"}]}}}}
    if strategy:
        body["spec"]["updateStrategy"] = strategy
    return body


def test_statefulset_ordered_creation_and_rolling_update_from_highest_ordinal(seed):
    """OrderedReady: pods are created 0, 1, 2, each after the previous is Ready; a rolling update replaces
    them from the highest ordinal down, one at a time, each only once the previous replacement is Ready
    (stateful_set_control.go updateStatefulSet), and ends with currentRevision == updateRevision."""
    k = kube(seed)
    namespace(k, "sts")
    events = []
    w = PodWatch(k, "sts", lambda pods: events.append({n: (raw_ready(p), raw_terminating(p)) for n, p in pods.items()}))
    try:
        k.apps.create_namespaced_stateful_set("sts", statefulset("db", 3))
        wait_for(lambda: (k.apps.read_namespaced_stateful_set("db", "sts").status.ready_replicas or 0) == 3, 20)
        created = [name for kind, name, _ in w.events if kind == "ADDED"]
        assert created == ["db-0", "db-1", "db-2"]
        for i, name in enumerate(created[1:], 1):  # db-i appears only once db-(i-1) is Ready
            first = next(s for s in events if name in s)
            assert first[f"db-{i - 1}"][0], (name, first)
        old_rev = k.apps.read_namespaced_stateful_set("db", "sts").status.current_revision
        mark = len(w.events)

        seed.kubectl("rollout", "restart", "statefulset/db", "-n", "sts")
        out = rollout_status(seed, "statefulset/db", "sts")
        assert "partitioned roll out complete: 3 new pods have been updated" in out
        sts = wait_for(lambda: (lambda s: s if s.status.current_revision == s.status.update_revision else None)(
            k.apps.read_namespaced_stateful_set("db", "sts")), 10, what="currentRevision == updateRevision")
    finally:
        w.stop()
    terminated = []
    for kind, name, obj in w.events[mark:]:
        if kind == "MODIFIED" and raw_terminating(obj) and name not in terminated:
            terminated.append(name)
    assert terminated == ["db-2", "db-1", "db-0"]
    for snapshot in events[mark:]:  # one pod at a time: never two missing / not ready / terminating
        unhealthy = 3 - sum(1 for ready, term in snapshot.values() if ready and not term)
        assert unhealthy <= 1, snapshot
    st = sts.status
    assert st.update_revision != old_rev and st.observed_generation == sts.metadata.generation == 2
    assert (st.replicas, st.ready_replicas, st.updated_replicas, st.current_replicas) == (3, 3, 3, 3)
    pods = k.core.list_namespaced_pod("sts").items
    assert sorted(p.metadata.name for p in pods) == ["db-0", "db-1", "db-2"]
    assert {p.metadata.labels["controller-revision-hash"] for p in pods} == {st.update_revision}


def test_statefulset_on_delete_replaces_only_deleted_pods(seed):
    """updateStrategy OnDelete: a template change moves updateRevision but replaces no pod; a pod deleted by
    hand comes back at the new revision (stateful_set_control.go; docs/docsite/rst/istio_facts.rst,
    Restarting). kubectl refuses
    `rollout status` for it."""
    k = kube(seed)
    namespace(k, "ondelete")
    k.apps.create_namespaced_stateful_set("ondelete", statefulset("kv", 2, {"type": "OnDelete"}))
    wait_for(lambda: (k.apps.read_namespaced_stateful_set("kv", "ondelete").status.ready_replicas or 0) == 2, 20)
    before = {p.metadata.name: p.metadata.uid for p in k.core.list_namespaced_pod("ondelete").items}
    old_rev = k.apps.read_namespaced_stateful_set("kv", "ondelete").status.update_revision

    seed.kubectl("rollout", "restart", "statefulset/kv", "-n", "ondelete")
    sts = wait_for(lambda: (lambda s: s if s.status.update_revision != old_rev
                            and s.status.observed_generation == s.metadata.generation else None)(
        k.apps.read_namespaced_stateful_set("kv", "ondelete")), 10, what="new updateRevision")
    new_rev = sts.status.update_revision
    time.sleep(1.0)  # a RollingUpdate would have started replacing kv-1 by now
    pods = k.core.list_namespaced_pod("ondelete").items
    assert {p.metadata.name: p.metadata.uid for p in pods} == before
    assert not any(p.metadata.deletion_timestamp for p in pods)
    assert {p.metadata.labels["controller-revision-hash"] for p in pods} == {old_rev}
    sts = k.apps.read_namespaced_stateful_set("kv", "ondelete")
    assert sts.status.current_revision == old_rev and not sts.status.updated_replicas
    status = seed.kubectl("rollout", "status", "statefulset/kv", "-n", "ondelete", "--timeout=5s", check=False)
    assert status.returncode != 0 and "only available for RollingUpdate strategy type" in status.stderr

    k.core.delete_namespaced_pod("kv-1", "ondelete")

    def replaced():
        pod = {p.metadata.name: p for p in k.core.list_namespaced_pod("ondelete").items}.get("kv-1")
        return pod if pod and pod.metadata.uid != before["kv-1"] and pod.status.phase == "Running" else None
    pod = wait_for(replaced, 15, what="kv-1 re-created")
    assert pod.metadata.labels["controller-revision-hash"] == new_rev
    kv0 = k.core.read_namespaced_pod("kv-0", "ondelete")
    assert kv0.metadata.uid == before["kv-0"] and kv0.metadata.labels["controller-revision-hash"] == old_rev
    st = wait_for(lambda: (lambda s: s if s.status.updated_replicas == 1 else None)(
        k.apps.read_namespaced_stateful_set("kv", "ondelete")), 10).status
    assert (st.current_replicas, st.current_revision, st.update_revision) == (1, old_rev, new_rev)


# -- DaemonSet -----------------------------------------------------------------------------------


def test_daemonset_one_pod_per_node_and_rolling_update(seed):
    """One pod per node (the seed has 3 nodes); a rolling update (maxUnavailable 1, update.go) replaces them
    keeping at least 2 nodes with an available pod at every pod event, and ends one new pod per node."""
    k = kube(seed)
    namespace(k, "ds")
    nodes = {n.metadata.name for n in k.core.list_node().items}
    assert len(nodes) == 3
    k.apps.create_namespaced_daemon_set("ds", {"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}},
        "template": {"metadata": {"labels": {"app": "agent"}},
                     "spec": {"containers": [{"name": "agent", "image": "docker.io/fluent/fluent-bit:3.2"}]}}}})
    assert "successfully rolled out" in rollout_status(seed, "daemonset/agent", "ds")
    pods = live_pods(k, "ds", "app=agent")
    assert sorted(p.spec.node_name for p in pods) == sorted(nodes)
    old_hash = pods[0].metadata.labels["controller-revision-hash"]

    covered = []
    w = PodWatch(k, "ds", lambda ps: covered.append(len({p["spec"]["nodeName"] for p in ps.values()
                                                          if raw_ready(p) and not raw_terminating(p)})))
    try:
        seed.kubectl("rollout", "restart", "daemonset/agent", "-n", "ds")
        assert "successfully rolled out" in rollout_status(seed, "daemonset/agent", "ds")
        wait_for(lambda: (lambda ps: len(ps) == 3 and all(raw_ready(p) and not raw_terminating(p)
                                                          for p in ps.values()))(w.snapshot()), 10)
    finally:
        w.stop()
    assert min(covered) == 2 and max(covered) == 3, covered  # one node at a time was without its pod
    pods = live_pods(k, "ds", "app=agent")
    assert sorted(p.spec.node_name for p in pods) == sorted(nodes)
    assert old_hash not in {p.metadata.labels["controller-revision-hash"] for p in pods}
    st = k.apps.read_namespaced_daemon_set("agent", "ds").status
    assert (st.desired_number_scheduled, st.current_number_scheduled, st.number_ready, st.updated_number_scheduled,
            st.number_available) == (3, 3, 3, 3, 3)


# -- Job -----------------------------------------------------------------------------------------


def job(name):
    return {"metadata": {"name": name}, "spec": {"backoffLimit": 0, "template": {"spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "main", "image": "docker.io/library/busybox:1.37", "command": ["true"]}]}}}}


def test_job_pod_completes(seed):
    """A Job's pod runs to completion: phase Succeeded, kubectl `0/1 Completed`, the Job gets
    `succeeded: 1`, completionTime and the Complete condition (job_controller.go)."""
    k = kube(seed)
    namespace(k, "batch")
    k.batch.create_namespaced_job("batch", job("once"))
    seed.kubectl("wait", "--for=condition=complete", "job/once", "-n", "batch", "--timeout=20s")
    j = k.batch.read_namespaced_job("once", "batch")
    assert j.status.succeeded == 1 and not j.status.active and j.status.completion_time
    assert ("Complete", "True") in {(c.type, c.status) for c in j.status.conditions}
    (pod,) = k.core.list_namespaced_pod("batch", label_selector="job-name=once").items
    assert pod.status.phase == "Succeeded"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 0
    assert kubectl_pods(seed, "batch")[pod.metadata.name][:2] == ["0/1", "Completed"]


def test_job_with_classic_sidecar_never_completes(seed):
    """The real Istio pitfall: in an injected namespace a Job's pod gets a classic istio-proxy container,
    which keeps running after the app exits — the pod stays Running (1/2 NotReady in kubectl) and the Job
    never completes."""
    k = kube(seed)
    namespace(k, "meshed", {"istio.io/rev": SEED_REV})
    k.batch.create_namespaced_job("meshed", job("migrate"))

    def app_exited():
        for pod in k.core.list_namespaced_pod("meshed", label_selector="job-name=migrate").items:
            if any(s.name == "main" and s.state.terminated for s in pod.status.container_statuses or []):
                return pod
    pod = wait_for(app_exited, 15, what="the Job's app container to exit")
    assert injected_revision(pod) == SEED_REV
    time.sleep(1.5)  # well past the point where a sidecar-less pod would have Succeeded
    pod = k.core.read_namespaced_pod(pod.metadata.name, "meshed")
    assert pod.status.phase == "Running"
    statuses = {s.name: s for s in pod.status.container_statuses}
    assert statuses["main"].state.terminated.exit_code == 0
    assert statuses["istio-proxy"].state.running is not None and statuses["istio-proxy"].ready
    assert kubectl_pods(seed, "meshed")[pod.metadata.name][:2] == ["1/2", "NotReady"]
    j = k.batch.read_namespaced_job("migrate", "meshed")
    assert j.status.active == 1 and not j.status.succeeded and not j.status.completion_time
    assert "Complete" not in {c.type for c in j.status.conditions or []}


def test_job_with_native_sidecar_completes(start_sim):
    """With native sidecars (istio-proxy a restartable init container) the Job completes: the kubelet stops
    sidecars once the main containers have exited (KEP-753), so the pod is Succeeded and kubectl shows
    `0/2 Completed` (printers.go: a terminated sidecar is neither started nor ready)."""
    sim = start_sim("native")
    k = kube(sim)
    namespace(k, "meshed", {"istio.io/rev": "asm-1271-1"})
    k.batch.create_namespaced_job("meshed", job("migrate"))
    sim.kubectl("wait", "--for=condition=complete", "job/migrate", "-n", "meshed", "--timeout=20s")
    (pod,) = k.core.list_namespaced_pod("meshed", label_selector="job-name=migrate").items
    assert injected_revision(pod) == "asm-1271-1"
    assert pod.status.phase == "Succeeded"
    proxy = next(s for s in pod.status.init_container_statuses if s.name == "istio-proxy")
    assert proxy.state.terminated is not None and not proxy.ready
    assert kubectl_pods(sim, "meshed")[pod.metadata.name][:2] == ["0/2", "Completed"]


# -- Namespace deletion --------------------------------------------------------------------------


def test_namespace_deletion_removes_everything_then_the_namespace(seed):
    """Deleting a namespace (namespace controller, deletion/namespaced_resources_deleter.go): it turns
    Terminating, refuses new content with 403, deletes every object in it (pods gracefully), and
    disappears once empty."""
    k = kube(seed)
    namespace(k, "doomed")
    ready_deployment(k, seed, "doomed", "web", 2)
    k.core.create_namespaced_config_map("doomed", {"metadata": {"name": "settings"}})
    k.core.create_namespaced_pod("doomed", {"metadata": {"name": "bare"}, "spec": {
        "containers": [{"name": "c", "image": "docker.io/library/busybox:1.37"}]}})
    w = PodWatch(k, "doomed")
    try:
        out = seed.kubectl("delete", "namespace", "doomed", "--wait=false")
        assert 'namespace "doomed" deleted' in out.stdout
        ns = k.core.read_namespace("doomed")
        assert ns.status.phase == "Terminating" and ns.metadata.deletion_timestamp
        exc = api_error(k.core.create_namespaced_config_map, "doomed", {"metadata": {"name": "late"}})
        assert exc.status == 403 and "because it is being terminated" in error_body(exc)["message"]
        wait_for(lambda: gone(k.core.read_namespace, "doomed"), 20, what="namespace gone")
    finally:
        w.stop()
    assert k.core.list_namespaced_pod("doomed").items == []
    assert k.apps.list_namespaced_deployment("doomed").items == []
    assert k.apps.list_namespaced_replica_set("doomed").items == []
    assert k.core.list_namespaced_config_map("doomed").items == []
    deleted = {name for kind, name, _ in w.events if kind == "DELETED"}
    graceful = {name for kind, name, obj in w.events if kind == "MODIFIED" and raw_terminating(obj)}
    assert len(deleted) == 3 and "bare" in deleted and graceful == deleted
    assert "doomed" not in {n.metadata.name for n in k.core.list_namespace().items}
    # ... and the name can be reused for a fresh namespace.
    assert namespace(k, "doomed").status.phase == "Active"

"""Server-side Table rendering (kubesim.tables) against kubernetes printers.go / HumanDuration behaviour."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from kubesim.tables import column_definitions, format_labels, human_duration, selector_string, to_table

NOW = datetime(2026, 11, 25, 15, 0, 0, tzinfo=UTC)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def running(name: str, ready: bool = True, restarts: int = 0, finished_ago: float | None = None) -> dict:
    status = {"name": name, "ready": ready, "started": True, "restartCount": restarts,
              "state": {"running": {"startedAt": ts(60)}}}
    if finished_ago is not None:
        last = {"exitCode": 1, "reason": "Error", "finishedAt": ts(finished_ago)}
        status["lastState"] = {"terminated": last}
    return status


def waiting(name: str, reason: str, restarts: int = 0) -> dict:
    return {"name": name, "ready": False, "started": False, "restartCount": restarts,
            "state": {"waiting": {"reason": reason}}}


def terminated(name: str, reason: str = "Completed", exit_code: int = 0) -> dict:
    term = {"exitCode": exit_code, **({"reason": reason} if reason else {})}
    return {"name": name, "ready": False, "started": False, "restartCount": 0, "state": {"terminated": term}}


def make_pod(containers=("app",), statuses=(), phase="Running", init=(), init_statuses=(), conditions=(),
             **meta) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": "shop", "creationTimestamp": ts(300),
                     "labels": {"app": "web"}, **meta},
        "spec": {"containers": [{"name": n, "image": f"{n}:1"} for n in containers],
                 **({"initContainers": list(init)} if init else {})},
        "status": {"phase": phase, "conditions": list(conditions), "containerStatuses": list(statuses),
                   **({"initContainerStatuses": list(init_statuses)} if init_statuses else {})},
    }


def cells(kind: str, obj: dict) -> dict:
    table = to_table(kind, [obj], NOW)
    pairs = zip(table["columnDefinitions"], table["rows"][0]["cells"], strict=True)
    return {column["name"]: cell for column, cell in pairs}


READY_TRUE = ({"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"})
SIDECAR = {"name": "istio-proxy", "image": "proxyv2", "restartPolicy": "Always"}


# --- pods: READY ------------------------------------------------------------------------------


def test_ready_classic_two_containers():
    pod = make_pod(("app", "istio-proxy"), [running("app"), running("istio-proxy")], conditions=READY_TRUE)
    row = cells("Pod", pod)
    assert (row["Ready"], row["Status"], row["Restarts"], row["Age"]) == ("2/2", "Running", "0", "5m")


def test_ready_native_sidecar_counts_restartable_init_container():
    pod = make_pod(("app",), [running("app")], init=[SIDECAR], init_statuses=[running("istio-proxy")],
                   conditions=READY_TRUE)
    assert (cells("Pod", pod)["Ready"], cells("Pod", pod)["Status"]) == ("2/2", "Running")


def test_ready_native_sidecar_started_but_not_ready():
    pod = make_pod(("app",), [running("app")], init=[SIDECAR],
                   init_statuses=[running("istio-proxy", ready=False)], conditions=READY_TRUE[:1])
    assert (cells("Pod", pod)["Ready"], cells("Pod", pod)["Status"]) == ("1/2", "Running")


def test_ready_one_of_two_not_ready_is_still_running():
    pod = make_pod(("app", "istio-proxy"), [running("app"), running("istio-proxy", ready=False)],
                   conditions=({"type": "Ready", "status": "False"},))
    assert (cells("Pod", pod)["Ready"], cells("Pod", pod)["Status"]) == ("1/2", "Running")


# --- pods: STATUS -----------------------------------------------------------------------------

DELETING = {"deletionTimestamp": ts(5)}


@pytest.mark.parametrize(("pod", "status"), [
    (make_pod(statuses=[running("app")]), "Running"),
    (make_pod(phase="Pending"), "Pending"),
    (make_pod(phase="Pending", statuses=[waiting("app", "ContainerCreating")]), "ContainerCreating"),
    (make_pod(phase="Pending", statuses=[waiting("app", "ImagePullBackOff")]), "ImagePullBackOff"),
    (make_pod(statuses=[waiting("app", "CrashLoopBackOff", restarts=4)]), "CrashLoopBackOff"),
    (make_pod(phase="Succeeded", statuses=[terminated("app")]), "Completed"),
    (make_pod(phase="Failed", statuses=[terminated("app", "Error", 1)]), "Error"),
    (make_pod(phase="Failed", statuses=[terminated("app", "", 137)]), "ExitCode:137"),
    (make_pod(statuses=[running("app")], **DELETING), "Terminating"),
    (make_pod(phase="Succeeded", statuses=[terminated("app")], **DELETING), "Completed"),
    (make_pod(statuses=[running("app")], **DELETING) | {"status": {"phase": "Running", "reason": "NodeLost"}},
     "Unknown"),
    (make_pod(phase="Failed") | {"status": {"phase": "Failed", "reason": "Evicted"}}, "Evicted"),
    (make_pod(phase="Pending", init=[{"name": "migrate"}],
              init_statuses=[running("migrate", ready=False)]), "Init:0/1"),
    (make_pod(phase="Pending", init=[{"name": "a"}, {"name": "b"}],
              init_statuses=[terminated("a"), waiting("b", "PodInitializing")]), "Init:1/2"),
    (make_pod(phase="Pending", init=[{"name": "migrate"}],
              init_statuses=[waiting("migrate", "CrashLoopBackOff")]), "Init:CrashLoopBackOff"),
    (make_pod(phase="Pending", init=[{"name": "migrate"}],
              init_statuses=[terminated("migrate", "Error", 1)]), "Init:Error"),
    (make_pod(phase="Pending", init=[{"name": "migrate"}],
              init_statuses=[terminated("migrate", "", 2)]), "Init:ExitCode:2"),
    (make_pod(phase="Pending", conditions=({"type": "PodScheduled", "status": "False",
                                            "reason": "SchedulingGated"},)), "SchedulingGated"),
    # printPod turns "Completed" back into Running / NotReady while another container still runs
    (make_pod(("app", "job"), [running("app"), terminated("job")], conditions=READY_TRUE), "Running"),
    (make_pod(("app", "job"), [running("app"), terminated("job")],
              conditions=({"type": "Ready", "status": "False"},)), "NotReady"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_pod_status(pod, status):
    assert cells("Pod", pod)["Status"] == status


# --- pods: RESTARTS, wide cells, row conditions -----------------------------------------------


def test_restarts_plain_count_without_termination_time():
    pod = make_pod(statuses=[waiting("app", "CrashLoopBackOff", restarts=3)])
    assert cells("Pod", pod)["Restarts"] == "3"


def test_restarts_with_last_termination_uses_the_newest_finish():
    pod = make_pod(("a", "b"), [running("a", restarts=1, finished_ago=302), running("b", restarts=2,
                                                                                    finished_ago=900)])
    assert cells("Pod", pod)["Restarts"] == "3 (5m2s ago)"


def test_restarts_count_sidecars_once_initialized_and_all_init_containers_before():
    init = [SIDECAR, {"name": "migrate"}]
    sidecar = running("istio-proxy", restarts=2, finished_ago=40)
    migrate = terminated("migrate") | {"restartCount": 5}
    ready = make_pod(statuses=[running("app")], init=init, init_statuses=[sidecar, migrate],
                     conditions=READY_TRUE)
    assert cells("Pod", ready)["Restarts"] == "2 (40s ago)"  # only the sidecar's restarts remain
    stuck = make_pod(phase="Pending", init=init,
                     init_statuses=[sidecar, waiting("migrate", "CrashLoopBackOff", 5)])
    row = cells("Pod", stuck)
    assert (row["Status"], row["Restarts"]) == ("Init:CrashLoopBackOff", "7 (40s ago)")


def test_wide_cells():
    pod = make_pod(statuses=[running("app")], conditions=({"type": "example.com/lb", "status": "True"},))
    pod["spec"] |= {"nodeName": "node-1", "readinessGates": [{"conditionType": "example.com/lb"},
                                                              {"conditionType": "example.com/dns"}]}
    pod["status"]["podIPs"] = [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}]
    row = cells("Pod", pod)
    assert [row[c] for c in ("IP", "Node", "Nominated Node", "Readiness Gates")] == [
        "10.0.0.5", "node-1", "<none>", "1/2"]
    bare = make_pod()
    bare["status"]["podIP"] = "10.0.0.7"
    row = cells("Pod", bare)
    assert [row[c] for c in ("IP", "Node", "Readiness Gates")] == ["10.0.0.7", "<none>", "<none>"]


def test_pod_columns_and_row_conditions():
    assert [(c["name"], c["type"], c["priority"]) for c in column_definitions("Pod")] == [
        ("Name", "string", 0), ("Ready", "string", 0), ("Status", "string", 0), ("Restarts", "string", 0),
        ("Age", "string", 0), ("IP", "string", 1), ("Node", "string", 1), ("Nominated Node", "string", 1),
        ("Readiness Gates", "string", 1)]
    assert column_definitions("Pod")[0]["format"] == "name"
    rows = to_table("Pod", [make_pod(statuses=[running("app")]), make_pod(phase="Succeeded")], NOW)["rows"]
    assert "conditions" not in rows[0]
    assert rows[1]["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                      "message": "The pod has completed successfully."}]


# --- HumanDuration (apimachinery duration_test.go) --------------------------------------------

MS, NS = 0.001, 1e-9
M, H, D = 60, 3600, 86400


@pytest.mark.parametrize(("seconds", "want"), [
    # TestHumanDuration
    (1, "1s"), (70, "70s"), (190, "3m10s"), (70 * M, "70m"), (47 * H, "47h"), (49 * H, "2d1h"),
    ((8 * 24 + 2) * H, "8d"), (367 * D, "367d"), ((365 * 2 * 24 + 25) * H, "2y1d"),
    ((365 * 8 * 24 + 2) * H, "8y"),
    # TestHumanDurationBoundaries
    (-2, "<invalid>"), (-2 + NS, "0s"), (0, "0s"), (1 - MS, "0s"), (2 * M - MS, "119s"), (2 * M, "2m"),
    (2 * M + 1, "2m1s"), (10 * M - MS, "9m59s"), (10 * M, "10m"), (10 * M + 1, "10m"), (3 * H - MS, "179m"),
    (3 * H, "3h"), (3 * H + M, "3h1m"), (8 * H - MS, "7h59m"), (8 * H, "8h"), (8 * H + 59 * M, "8h"),
    (2 * D - MS, "47h"), (2 * D, "2d"), (2 * D + H, "2d1h"), (8 * D - MS, "7d23h"), (8 * D, "8d"),
    (8 * D + 23 * H, "8d"), (730 * D - MS, "729d"), (730 * D, "2y"), (730 * D + 23 * H, "2y"),
    (730 * D + 23 * H + 59 * M, "2y"), (731 * D - MS, "2y"), (731 * D, "2y1d"), (3 * 365 * D, "3y"),
    (4 * 365 * D, "4y"), (5 * 365 * D, "5y"), (6 * 365 * D, "6y"), (7 * 365 * D, "7y"),
    (8 * 365 * D - MS, "7y364d"), (8 * 365 * D, "8y"), (8 * 365 * D + 364 * D, "8y"), (9 * 365 * D, "9y"),
    # the AGE examples kubectl users know
    (20, "20s"), (5 * M + 2, "5m2s"), (23 * H, "23h"), (3 * D + 4 * H, "3d4h"),
])
def test_human_duration(seconds, want):
    assert human_duration(seconds) == want


# --- workloads and other kinds ----------------------------------------------------------------

SELECTOR = {"matchLabels": {"app": "web"}, "matchExpressions": [
    {"key": "tier", "operator": "In", "values": ["b", "a"]}, {"key": "canary", "operator": "DoesNotExist"}]}
TEMPLATE = {"spec": {"containers": [{"name": "app", "image": "web:2"}, {"name": "log", "image": "fluent:1"}],
                     "nodeSelector": {"zone": "a", "disk": "ssd"}}}


def obj(kind: str, spec=None, status=None, age: float = 3 * D + 4 * H, **extra) -> dict:
    meta = {"name": "x", "namespace": "shop", "creationTimestamp": ts(age)}
    item = {"kind": kind, "metadata": meta, **extra}
    if spec is not None:
        item["spec"] = spec
    if status is not None:
        item["status"] = status
    return item


def test_deployment_columns_and_cells():
    names = [(c["name"], c["priority"]) for c in column_definitions("Deployment")]
    assert names == [("Name", 0), ("Ready", 0), ("Up-to-date", 0), ("Available", 0), ("Age", 0),
                     ("Containers", 1), ("Images", 1), ("Selector", 1)]
    dep = obj("Deployment", {"replicas": 3, "selector": SELECTOR, "template": TEMPLATE},
              {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2})
    assert to_table("Deployment", [dep], NOW)["rows"][0]["cells"] == [
        "x", "2/3", 3, 2, "3d4h", "app,log", "web:2,fluent:1",
        "app=web,!canary,tier in (a,b)",  # requirements sorted by key
    ]
    fresh = cells("Deployment", obj("Deployment", {"template": TEMPLATE}, age=20))
    assert (fresh["Ready"], fresh["Up-to-date"], fresh["Available"], fresh["Age"], fresh["Selector"]) == (
        "0/1", 0, 0, "20s", "")


def test_selector_and_label_formatting():
    assert selector_string(None) == "" and selector_string({}, "<none>") == "<none>"
    exprs = [{"key": "env", "operator": "NotIn", "values": ["dev"]}, {"key": "app", "operator": "Exists"}]
    assert selector_string({"matchExpressions": exprs}) == "app,env notin (dev)"
    assert format_labels({"zone": "a", "disk": "ssd"}) == "disk=ssd,zone=a" and format_labels({}) == "<none>"


@pytest.mark.parametrize(("kind", "item", "want"), [
    ("ReplicaSet", obj("ReplicaSet", {"replicas": 2, "selector": SELECTOR, "template": TEMPLATE},
                       {"replicas": 2, "readyReplicas": 1}), ["x", 2, 2, 1, "3d4h"]),
    ("StatefulSet", obj("StatefulSet", {"replicas": 3, "template": TEMPLATE}, {"readyReplicas": 3}),
     ["x", "3/3", "3d4h"]),
    ("DaemonSet", obj("DaemonSet", {"template": TEMPLATE},
                      {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                       "updatedNumberScheduled": 3, "numberAvailable": 2}),
     ["x", 3, 3, 2, 3, 2, "disk=ssd,zone=a", "3d4h"]),
    ("Job", obj("Job", {"completions": 1, "template": TEMPLATE},
                {"succeeded": 1, "startTime": ts(400), "completionTime": ts(350),
                 "conditions": [{"type": "Complete", "status": "True"}]}),
     ["x", "Complete", "1/1", "50s", "3d4h"]),
    ("Job", obj("Job", {"parallelism": 3, "template": TEMPLATE}, {"startTime": ts(3 * H)}),
     ["x", "Running", "0/1 of 3", "3h", "3d4h"]),
    ("Job", obj("Job", {"template": TEMPLATE}, {"conditions": [{"type": "Failed", "status": "True"}]}),
     ["x", "Failed", "0/1", "", "3d4h"]),
    ("Job", obj("Job", {"completions": 0, "template": TEMPLATE},
                {"conditions": [{"type": "Suspended", "status": "True"}]}),
     ["x", "Suspended", "0/0", "", "3d4h"]),
    ("Job", obj("Job", {"template": TEMPLATE}, {"conditions": [{"type": "Suspended", "status": "True"}]})
     | {"metadata": {"name": "x", "creationTimestamp": ts(60), "deletionTimestamp": ts(1)}},
     ["x", "Terminating", "0/1", "", "60s"]),
    ("CronJob", obj("CronJob", {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": TEMPLATE}}},
                    {"active": [{"name": "x-1"}], "lastScheduleTime": ts(120)}),
     ["x", "*/5 * * * *", "<none>", "False", 1, "2m", "3d4h"]),
    ("Namespace", obj("Namespace", status={"phase": "Terminating"}), ["x", "Terminating", "3d4h"]),
    ("Namespace", obj("Namespace"), ["x", "Active", "3d4h"]),
    ("Node", obj("Node", {"unschedulable": True},
                 {"conditions": [{"type": "Ready", "status": "True"}],
                  "nodeInfo": {"kubeletVersion": "v1.32.2"}})
     | {"metadata": {"name": "x", "creationTimestamp": ts(D), "labels": {
         "node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/": ""}}},
     ["x", "Ready,SchedulingDisabled", "control-plane", "24h", "v1.32.2"]),
    ("Node", obj("Node"), ["x", "Unknown", "<none>", "3d4h", ""]),
    ("ConfigMap", obj("ConfigMap", data={"a": "1", "b": "2"}, binaryData={"c": "AA=="}), ["x", 3, "3d4h"]),
    ("PodDisruptionBudget", obj("PodDisruptionBudget", {"minAvailable": "50%"}, {"disruptionsAllowed": 1}),
     ["x", "50%", "N/A", 1, "3d4h"]),
    ("MutatingWebhookConfiguration", obj("MutatingWebhookConfiguration", webhooks=[{}, {}]),
     ["x", 2, "3d4h"]),
])
def test_other_kinds_default_columns(kind, item, want):
    table = to_table(kind, [item], NOW)
    shown = [cell for c, cell in zip(table["columnDefinitions"], table["rows"][0]["cells"], strict=True)
             if c["priority"] == 0]
    assert shown == want


def test_event_cells_and_columns():
    event = {"kind": "Event", "metadata": {"name": "web-0.17f", "namespace": "shop"}, "type": "Warning",
             "reason": "BackOff", "message": "Back-off restarting failed container\n", "count": 7,
             "firstTimestamp": ts(600), "lastTimestamp": ts(30),
             "source": {"component": "kubelet", "host": "n1"},
             "involvedObject": {"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{app}"}}
    assert to_table("Event", [event], NOW)["rows"][0]["cells"] == [
        "30s", "Warning", "BackOff", "pod/web-0", "spec.containers{app}", "kubelet, n1",
        "Back-off restarting failed container", "10m", 7, "web-0.17f"]
    assert [c["name"] for c in column_definitions("Event") if c["priority"] == 0] == [
        "Last Seen", "Type", "Reason", "Object", "Message"]
    new_api = {"kind": "Event", "eventTime": "2026-11-25T14:59:00.000000Z", "reportingController": "ctl",
               "involvedObject": {"kind": "Node"}}
    assert cells("Event", new_api)["Last Seen"] == "60s" and cells("Event", new_api)["Count"] == 1
    assert cells("Event", new_api)["Object"] == "node" and cells("Event", new_api)["Source"] == "ctl"


def test_default_table_for_other_kinds():
    gateway = {"kind": "Gateway", "metadata": {"name": "gw", "creationTimestamp": ts(H)}}
    table = to_table("Gateway", [gateway], NOW)
    assert [(c["name"], c["type"], c["format"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", "name"), ("Created At", "date", "")]
    assert table["rows"][0]["cells"] == ["gw", "2026-11-25T14:00:00Z"]


@pytest.mark.parametrize("kind", [
    "Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "Namespace", "Node",
    "ConfigMap", "Event", "PodDisruptionBudget", "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration", "Widget"])
def test_every_row_has_one_cell_per_column_even_for_bare_objects(kind):
    table = to_table(kind, [{"metadata": {"name": "bare"}}], NOW)
    assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"])
    keys = {"name", "type", "format", "description", "priority"}
    assert all(set(column) == keys for column in table["columnDefinitions"])


# --- Table envelope, includeObject ------------------------------------------------------------


def test_envelope_and_list_meta():
    table = to_table("ConfigMap", [], NOW, list_meta={"resourceVersion": "42", "continue": "", "x": 1})
    assert table == {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "42"},
                     "columnDefinitions": column_definitions("ConfigMap"), "rows": []}
    paged = to_table("ConfigMap", [], NOW, list_meta={"resourceVersion": "9", "continue": "abc",
                                                      "remainingItemCount": 3})
    assert paged["metadata"] == {"resourceVersion": "9", "continue": "abc", "remainingItemCount": 3}


@pytest.mark.parametrize("policy", ["Metadata", ""])
def test_include_metadata_is_partial_object_metadata(policy):
    pod = make_pod(statuses=[running("app")])
    row = to_table("Pod", [pod], NOW, include_object=policy)["rows"][0]
    assert row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": pod["metadata"]}
    assert row["object"]["metadata"]["labels"] == {"app": "web"}
    row["object"]["metadata"]["labels"]["app"] = "changed"
    assert pod["metadata"]["labels"] == {"app": "web"}


def test_include_object_and_none():
    pod = make_pod(statuses=[running("app")])
    full = to_table("Pod", [pod], NOW, include_object="Object")["rows"][0]["object"]
    assert full == pod and full is not pod
    assert "object" not in to_table("Pod", [copy.deepcopy(pod)], NOW, include_object="None")["rows"][0]
    with pytest.raises(ValueError, match='unrecognized includeObject value: "Everything"'):
        to_table("Pod", [pod], NOW, include_object="Everything")


def test_naive_now_is_taken_as_utc():
    pod = make_pod()
    assert cells("Pod", pod)["Age"] == to_table("Pod", [pod], NOW.replace(tzinfo=None))["rows"][0]["cells"][4]

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading pods: sidecar presence (classic and native), injecting revision, READY n/n like kubectl,
classification against the expected revision and the reasons given for a pod that is not right."""

from __future__ import annotations

import json

import pytest

from ansible_collections.servicemesh.asm.plugins.module_utils import pods as podlib
from ansible_collections.servicemesh.asm.plugins.module_utils.pods import classify, compact, problem, ready_count

from ansible_collections.servicemesh.asm.tests.unit.plugins.module_utils.pod_objects import (
    NEW_PROXY_IMAGE, NEW_REV, PROXY_IMAGE, REV, completed_init, pod, running, status_annotation, waiting,
)


# -- compact ------------------------------------------------------------------------------------------------------

def test_compact_classic_sidecar():
    rec = compact(pod())
    assert rec["namespace"] == "demo" and rec["name"] == "reviews-6c88c486f4-cm5zx"
    assert rec["uid"] == "uid-reviews-6c88c486f4-cm5zx"
    assert rec["owner"] == {"kind": "ReplicaSet", "name": "reviews-6c88c486f4", "uid": "uid-reviews-6c88c486f4"}
    assert rec["proxy"] == {"image": PROXY_IMAGE, "native": False}
    assert rec["injected_revision"] == REV
    assert rec["containers"] == ["app", "istio-proxy"]
    assert rec["init_containers"] == ["istio-init"]
    assert rec["phase"] == "Running" and rec["ready"] is True and rec["terminating"] is False
    assert rec["statuses"]["istio-proxy"]["ready"] is True and rec["statuses"]["istio-proxy"]["running"] is True
    assert rec["statuses"]["istio-init"]["terminated"] == "Completed"
    assert rec["unschedulable"] is None


def test_compact_shares_the_strings_pods_repeat():
    """Two pods parsed from JSON (each value its own string object) share namespace, owner and image."""
    first, second = (compact(json.loads(json.dumps(pod()))) for copy in range(2))
    assert first["namespace"] is second["namespace"] and first["owner"]["uid"] is second["owner"]["uid"]
    assert first["proxy"]["image"] is second["proxy"]["image"] and first["phase"] is second["phase"]


def test_compact_proxy_at_any_container_index():
    obj = pod()
    obj["spec"]["containers"].reverse()  # istio-proxy first, as some injector templates order it
    assert compact(obj)["proxy"] == {"image": PROXY_IMAGE, "native": False}


def test_compact_native_sidecar_is_a_restartable_init_container():
    rec = compact(pod(sidecar="native"))
    assert rec["proxy"] == {"image": PROXY_IMAGE, "native": True}
    # kubectl's READY counts restartable init containers: the pod is 2/2.
    assert rec["containers"] == ["app", "istio-proxy"]
    assert rec["init_containers"] == ["istio-init"]
    assert ready_count(rec) == (2, 2)


def test_compact_init_container_named_istio_proxy_without_restart_policy_is_no_sidecar():
    obj = pod(sidecar="native")
    del obj["spec"]["initContainers"][1]["restartPolicy"]  # a plain init container runs to completion
    rec = compact(obj)
    assert rec["proxy"] is None
    assert "istio-proxy" in rec["init_containers"] and rec["containers"] == ["app"]


def test_compact_revision_from_status_annotation_not_labels():
    obj = pod(revision=NEW_REV, labels={"istio.io/rev": "some-other-label"})
    obj["metadata"]["annotations"]["istio.io/rev"] = "ignored"
    assert compact(obj)["injected_revision"] == NEW_REV


def test_compact_status_annotation_without_revision_is_default():
    # Injectors before Istio 1.11 wrote no revision into the status annotation.
    status = json.loads(status_annotation(REV))
    del status["revision"]
    rec = compact(pod(annotations={"sidecar.istio.io/status": json.dumps(status)}))
    assert rec["injected_revision"] == "default"


def test_compact_unparsable_status_annotation():
    assert compact(pod(annotations={"sidecar.istio.io/status": "{not json"}))["injected_revision"] == "unknown"


def test_compact_not_injected_and_bare():
    rec = compact(pod(name="debug-shell", owner=None, sidecar=None))
    assert rec["proxy"] is None and rec["injected_revision"] is None and rec["owner"] is None
    assert rec["containers"] == ["app"] and rec["init_containers"] == []


def test_compact_ignores_non_controller_owner_references():
    obj = pod()
    obj["metadata"]["ownerReferences"][0]["controller"] = False
    assert compact(obj)["owner"] is None


@pytest.mark.parametrize("labels, annotations, opted_out", [
    ({"sidecar.istio.io/inject": "false"}, {}, True),
    ({}, {"sidecar.istio.io/inject": "false"}, True),  # the deprecated annotation is still honoured by inject.go
    ({"sidecar.istio.io/inject": "False"}, {}, True),
    # inject.go injectRequired prefers the label when both are present.
    ({"sidecar.istio.io/inject": "true"}, {"sidecar.istio.io/inject": "false"}, False),
    ({"sidecar.istio.io/inject": "false"}, {"sidecar.istio.io/inject": "true"}, True),
    ({"sidecar.istio.io/inject": "true"}, {}, False),
    ({}, {}, False),
])
def test_compact_opt_out_label_vs_annotation(labels, annotations, opted_out):
    assert compact(pod(sidecar=None, labels=labels, annotations=annotations))["opt_out"] is opted_out


def test_compact_host_network_and_terminating():
    assert compact(pod(sidecar=None, host_network=True))["host_network"] is True
    assert compact(pod())["host_network"] is False
    assert compact(pod(terminating=True))["terminating"] is True


# -- ready_count ----------------------------------------------------------------------------------------------------

def test_ready_count_classic_one_of_two():
    assert ready_count(compact(pod(proxy_ready=False))) == (1, 2)


def test_ready_count_native_counts_restartable_init_container():
    assert ready_count(compact(pod(sidecar="native", proxy_ready=False))) == (1, 2)
    assert ready_count(compact(pod(sidecar="native"))) == (2, 2)


def test_ready_count_ignores_completed_init_containers():
    rec = compact(pod(sidecar=None, init_statuses=[completed_init("migrate")]))
    assert ready_count(rec) == (1, 1)


def test_ready_count_container_without_status_is_not_ready():
    rec = compact(pod(container_statuses=[running("app")]))
    assert ready_count(rec) == (1, 2)


# -- classify ------------------------------------------------------------------------------------------------------

def test_classify_ok_classic_and_native():
    assert classify(compact(pod()), REV) == (podlib.OK, "2/2 ready")
    assert classify(compact(pod(sidecar="native")), REV, PROXY_IMAGE) == (podlib.OK, "2/2 ready")


def test_classify_no_sidecar():
    assert classify(compact(pod(sidecar=None)), REV) == (podlib.NEEDS_RESTART, "no sidecar")


def test_classify_wrong_revision():
    cls, reason = classify(compact(pod(revision=REV)), NEW_REV)
    assert cls == podlib.NEEDS_RESTART
    assert reason == "sidecar from revision asm-173-3, expected asm-1162-2"


def test_classify_stale_proxy_image():
    cls, reason = classify(compact(pod(proxy_image=PROXY_IMAGE)), REV, NEW_PROXY_IMAGE)
    assert cls == podlib.NEEDS_RESTART
    assert reason == "stale proxy %s (the injector now injects %s)" % (PROXY_IMAGE, NEW_PROXY_IMAGE)
    # Unknown injector image (ConfigMap unreadable): no stale detection.
    assert classify(compact(pod()), REV, None)[0] == podlib.OK


def test_classify_expected_none():
    assert classify(compact(pod(sidecar=None)), None) == (podlib.OK, "1/1 ready")
    cls, reason = classify(compact(pod()), None)
    assert cls == podlib.NEEDS_RESTART
    assert reason == "has a sidecar (revision asm-173-3) but injection is off"


@pytest.mark.parametrize("kwargs, ambient, reason", [
    ({"labels": {"sidecar.istio.io/inject": "false"}}, False, "opted out (sidecar.istio.io/inject=false)"),
    ({"host_network": True}, False, "hostNetwork pod (Istio never injects it)"),
    ({"phase": "Succeeded", "owner": ("Job", "migrate")}, False, "completed (Succeeded)"),
    ({"phase": "Failed", "owner": ("Job", "migrate")}, False, "completed (Failed)"),
    ({}, True, "ambient namespace (istio.io/dataplane-mode=ambient)"),
])
def test_classify_exempt(kwargs, ambient, reason):
    rec = compact(pod(sidecar=None, **kwargs))
    assert classify(rec, REV, PROXY_IMAGE, namespace_ambient=ambient) == (podlib.EXEMPT, reason)


def test_classify_exempt_pod_with_a_sidecar_when_none_expected_needs_restart():
    rec = compact(pod(labels={"sidecar.istio.io/inject": "false"}))
    assert classify(rec, REV)[0] == podlib.EXEMPT
    assert classify(rec, None)[0] == podlib.NEEDS_RESTART


def test_classify_terminating_waits_whatever_its_sidecar():
    assert classify(compact(pod(sidecar=None, terminating=True)), REV) == (podlib.WAITING, "terminating")
    assert classify(compact(pod(terminating=True)), REV) == (podlib.WAITING, "terminating")


def test_classify_waiting_when_right_sidecar_not_ready():
    assert classify(compact(pod(proxy_ready=False)), REV) == (podlib.WAITING, "istio-proxy not ready")
    native = compact(pod(sidecar="native", proxy_ready=False))
    assert classify(native, REV) == (podlib.WAITING, "istio-proxy not ready")
    assert classify(compact(pod(app_ready=False)), REV) == (podlib.WAITING, "not ready: app")


def test_classify_needs_restart_beats_not_ready():
    # A pod without a sidecar is restarted whatever its readiness.
    assert classify(compact(pod(sidecar=None, app_ready=False)), REV)[0] == podlib.NEEDS_RESTART


# -- problem -------------------------------------------------------------------------------------------------------

PULL_MESSAGE = 'Back-off pulling image "%s"' % PROXY_IMAGE


def test_problem_image_pull_backoff_of_istio_init():
    obj = pod(phase="Pending", init_statuses=[waiting("istio-init", "ImagePullBackOff", PULL_MESSAGE)],
              container_statuses=[waiting("app", "PodInitializing"), waiting("istio-proxy", "PodInitializing")])
    reason, hint = problem(compact(obj))
    assert reason == "istio-init ImagePullBackOff: %s" % PULL_MESSAGE
    assert hint == "check the proxy image and the nodes' access to its registry"


def test_problem_image_pull_backoff_of_istio_proxy():
    obj = pod(container_statuses=[running("app"), waiting("istio-proxy", "ErrImagePull", PULL_MESSAGE)])
    reason, hint = problem(compact(obj))
    assert reason.startswith("istio-proxy ErrImagePull: Back-off pulling image")
    assert "proxy image" in hint


def test_problem_image_pull_backoff_of_app_names_the_container():
    obj = pod(container_statuses=[waiting("app", "ImagePullBackOff"), running("istio-proxy")])
    reason, hint = problem(compact(obj))
    assert reason == "app ImagePullBackOff: image cannot be pulled"
    assert hint == "check the image of app and the nodes' access to its registry"


def test_problem_crash_loop_of_istio_proxy_vs_app():
    proxy = pod(container_statuses=[running("app"), waiting("istio-proxy", "CrashLoopBackOff", restarts=5)])
    reason, hint = problem(compact(proxy))
    assert reason == "istio-proxy CrashLoopBackOff (5 restarts)"
    assert "kubectl logs reviews-6c88c486f4-cm5zx -c istio-proxy" in hint

    app = pod(container_statuses=[waiting("app", "CrashLoopBackOff", restarts=2), running("istio-proxy")])
    reason, hint = problem(compact(app))
    assert reason == "app CrashLoopBackOff (2 restarts)"
    assert hint == "the application container app crashes; check its logs"


def test_problem_proxy_reported_before_app():
    # Both failing: the proxy (what this collection changed) is named first.
    obj = pod(container_statuses=[waiting("app", "CrashLoopBackOff", restarts=1),
                                  waiting("istio-proxy", "CrashLoopBackOff", restarts=3)])
    assert problem(compact(obj))[0] == "istio-proxy CrashLoopBackOff (3 restarts)"


def test_problem_pending_unschedulable():
    obj = pod(phase="Pending", container_statuses=[], init_statuses=[], conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/3 nodes are available: 3 Insufficient cpu."}])
    reason, hint = problem(compact(obj))
    assert reason == "Pending, unschedulable: 0/3 nodes are available: 3 Insufficient cpu."
    assert hint == "the cluster lacks room or matching nodes"


def test_problem_pending_still_starting():
    obj = pod(phase="Pending", init_statuses=[running("istio-init", ready=False)],
              container_statuses=[waiting("app", "PodInitializing"), waiting("istio-proxy", "PodInitializing")])
    reason, hint = problem(compact(obj))
    assert reason == "Pending (istio-proxy PodInitializing, app PodInitializing)"
    assert hint == "the pod is still starting"


def test_problem_istio_proxy_not_ready():
    reason, hint = problem(compact(pod(proxy_ready=False)))
    assert reason == "istio-proxy not ready"
    assert "config not received from Pilot" in hint


def test_problem_app_not_ready():
    expected = ("not ready: app", "the application's readiness probe is failing")
    assert problem(compact(pod(app_ready=False))) == expected


@pytest.mark.parametrize("annotations, expected", [
    ({}, None),
    ({"sidecar.istio.io/status": '{"revision": "asm-173-3"}'}, "asm-173-3"),
    ({"sidecar.istio.io/status": '{"initContainers": ["istio-init"]}'}, "default"),  # unrevisioned install
    ({"sidecar.istio.io/status": "not json"}, "unknown"),
    ({"sidecar.istio.io/status": '["a list"]'}, "unknown"),
])
def test_injected_revision(annotations, expected):
    assert podlib.injected_revision(annotations) == expected


@pytest.mark.parametrize("phase, expected", [("Running", "asm-173-3"), ("Pending", "asm-173-3"), (None, "asm-173-3"),
                                             ("Succeeded", None), ("Failed", None)])
def test_proxy_revision_counts_no_finished_pod(phase, expected):
    pod = {"metadata": {"annotations": {"sidecar.istio.io/status": '{"revision": "asm-173-3"}'}},
           "status": {"phase": phase} if phase else {}}
    assert podlib.proxy_revision(pod) == expected

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stale-proxy detection through the real module against kubesim, whose injector decides the image
from Istio's own rules (tests/kubesim/istio.py): a pinned `sidecar.istio.io/proxyImage` and a
ProxyConfig `image.imageType: distroless` converge and a re-run writes nothing (review finding 2);
an in-place upgrade still restarts what is really stale."""

from __future__ import annotations

import pytest
import json
import sys
from pathlib import Path

from ansible_helpers import accepted_writes

from kubernetes import client

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "kubesim"))
from simutil import kube, wait_for  # noqa: E402
from test_rollout_verify import inject, kubectl, ok, play, pods, proxy_image, ready, verify, workloads  # noqa: E402

REV = "asm-173-3"
HUB = "gcr.io/gke-release/asm"
PINNED = "my.registry.example/istio/proxyv2:1.7.3-pinned"


def _deployment(name, annotations=None):
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels, "annotations": dict(annotations or {})},
                                  "spec": {"containers": [{"name": "app", "image": "docker.io/library/nginx:1.27"}]}}}}


def _setup(seed):
    """demo labelled for REV, then two Deployments whose pods the injector gives non-default images."""
    seed.kubectl("label", "namespace", "demo", "istio-injection-", "istio.io/rev=" + REV, "--overwrite")
    k = kube(seed)
    client.CustomObjectsApi(k.api).create_namespaced_custom_object(
        "networking.istio.io", "v1beta1", "demo", "proxyconfigs", {
            "apiVersion": "networking.istio.io/v1beta1", "kind": "ProxyConfig", "metadata": {"name": "slim"},
            "spec": {"selector": {"matchLabels": {"app": "slim"}}, "image": {"imageType": "distroless"}}})
    k.apps.create_namespaced_deployment("demo", _deployment("pinned", {"sidecar.istio.io/proxyImage": PINNED}))
    k.apps.create_namespaced_deployment("demo", _deployment("slim"))

    def images():
        found = dict((p["metadata"]["labels"].get("app"), proxy_image(p)) for p in pods(seed)
                     if p["metadata"]["labels"].get("app") in ("pinned", "slim") and ready(p) == "2/2")
        return found if len(found) == 2 else None
    return wait_for(images, what="pinned and slim pods ready")


def _of(sim, app):
    return [p for p in pods(sim) if p["metadata"]["labels"].get("app") == app]


@pytest.mark.kubesim_only(reason="time budget (make test < 40 min): the proxy image rules are the modules' logic")
def test_pinned_proxy_image_and_distroless_proxyconfig_converge_and_rerun_writes_nothing(seed, tmp_path):
    assert _setup(seed) == {"pinned": PINNED, "slim": HUB + "/proxyv2:1.7.3-asm.3-distroless"}
    run = play(seed, tmp_path, [inject(), verify("converge"), verify("again")])
    converge = ok(run["converge"])
    restarted = workloads(converge["restarted"])
    assert ("Deployment", "pinned") not in restarted and ("Deployment", "slim") not in restarted
    assert restarted  # the seed's own workloads needed their sidecar
    mark = seed.audit_mark()
    again = ok(play(seed, tmp_path, [verify("rerun")])["rerun"])
    assert again["restarted"] == [] and not again["changed"]
    assert accepted_writes(seed, mark) == []
    assert ok(run["again"])["restarted"] == []


@pytest.mark.kubesim_only(reason="time budget (make test < 40 min): an in-place upgrade is a ConfigMap patch; the "
                                 "proxy image rules are the modules' logic")
def test_in_place_upgrade_restarts_the_distroless_workload_but_not_the_pinned_one(seed, tmp_path):
    _setup(seed)
    cm = json.loads(seed.kubectl("get", "configmap", "istio-sidecar-injector-" + REV, "-n", "istio-system",
                                 "-o", "json").stdout)
    values = json.loads(cm["data"]["values"])
    values["global"]["tag"] = "1.7.3-asm.4"
    run = play(seed, tmp_path, [
        inject(),
        verify("converge"),
        kubectl("upgrade", "patch", "configmap", "istio-sidecar-injector-" + REV, "-n", "istio-system",
                "--type", "merge", "-p", json.dumps({"data": {"values": json.dumps(values)}})),
        verify("stale"),
        verify("again"),
    ])
    ok(run["converge"])
    stale = ok(run["stale"])
    restarted = workloads(stale["restarted"])
    assert ("Deployment", "slim") in restarted and ("Deployment", "pinned") not in restarted
    slim = next(r for r in stale["restarted"] if r["name"] == "slim")
    ((reason, _count),) = slim["reasons"].items()
    assert reason.startswith("stale proxy %s/proxyv2:1.7.3-asm.3-distroless " % HUB)
    assert set(proxy_image(p) for p in _of(seed, "slim")) == {HUB + "/proxyv2:1.7.3-asm.4-distroless"}
    assert set(proxy_image(p) for p in _of(seed, "pinned")) == {PINNED}
    assert ok(run["again"])["restarted"] == []


@pytest.mark.kubesim_only(reason="time budget (make test < 40 min): ~35 s on the real cluster; the real injector's "
                                 "dry run is what the launcher's own injection check does at every start")
def test_dry_run_check_asks_the_injector_once_per_controller(seed, tmp_path):
    """proxy_image_check=dry_run: the expected image is what kubesim's injector puts on a dry-run pod built from
    each controller's template; after an in-place upgrade the same workloads restart as by Istio's rules, and
    the dry-run pods are never stored."""
    _setup(seed)
    cm = json.loads(seed.kubectl("get", "configmap", "istio-sidecar-injector-" + REV, "-n", "istio-system",
                                 "-o", "json").stdout)
    values = json.loads(cm["data"]["values"])
    values["global"]["tag"] = "1.7.3-asm.4"
    run = play(seed, tmp_path, [
        inject(),
        verify("converge", proxy_image_check="dry_run"),
        kubectl("upgrade", "patch", "configmap", "istio-sidecar-injector-" + REV, "-n", "istio-system",
                "--type", "merge", "-p", json.dumps({"data": {"values": json.dumps(values)}})),
        verify("stale", proxy_image_check="dry_run"),
    ])
    assert ("Deployment", "pinned") not in workloads(ok(run["converge"])["restarted"])
    stale = ok(run["stale"])
    restarted = workloads(stale["restarted"])
    assert ("Deployment", "slim") in restarted and ("Deployment", "pinned") not in restarted
    assert set(proxy_image(p) for p in _of(seed, "slim")) == {HUB + "/proxyv2:1.7.3-asm.4-distroless"}
    creates = [e for e in seed.audit() if e["method"] == "POST" and e["resource"] == "pods" and not e["subresource"]
               and e["user"] == "admin"]
    assert creates and all(e["dry_run"] for e in creates)

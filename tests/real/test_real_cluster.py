"""The integration suite against a real cluster with Istio/ASM: `make test-real KUBECONFIG=<path>`.

Creates its own namespace and workloads, runs the playbooks, checks with kubectl, cleans up.
Skipped (not failed) without KUBECONFIG. Environment knobs: ASM_TEST_IMAGE (an image that serves
HTTP, default nginx), ASM_TEST_TIMEOUT (seconds, default 600).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KUBECONFIG = os.environ.get("KUBECONFIG")
pytestmark = pytest.mark.skipif(not KUBECONFIG, reason="no KUBECONFIG: make test-real KUBECONFIG=<path>")
IMAGE = os.environ.get("ASM_TEST_IMAGE", "docker.io/library/nginx:1.27")
TIMEOUT = os.environ.get("ASM_TEST_TIMEOUT", "600")
BIN = ROOT / ".venv" / "bin"


def kubectl(*args, check=True, stdin=None):
    return subprocess.run(["kubectl", *args], env={**os.environ, "KUBECONFIG": KUBECONFIG}, input=stdin,
                          capture_output=True, text=True, check=check, timeout=300)


def playbook(name, namespace):
    return subprocess.run([str(BIN / "ansible-playbook"), str(ROOT / "playbooks" / name), "-e",
                           "asm_kubeconfig=%s" % KUBECONFIG, "-e", "asm_namespaces=%s" % namespace, "-e",
                           "asm_timeout=%s" % TIMEOUT], cwd=ROOT, capture_output=True, text=True, timeout=1800)


@pytest.fixture
def namespace():
    name = "asm-real-%s" % uuid.uuid4().hex[:8]
    kubectl("create", "namespace", name)
    kubectl("-n", name, "create", "deployment", "web", "--image", IMAGE, "--replicas", "2")
    kubectl("-n", name, "rollout", "status", "deployment/web", "--timeout=300s")
    try:
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false", check=False)


def sidecars(namespace):
    pods = json.loads(kubectl("-n", namespace, "get", "pods", "-o", "json").stdout)["items"]
    out = {}
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        names = [c["name"] for c in pod["spec"]["containers"]] + [
            c["name"] for c in pod["spec"].get("initContainers", []) if c.get("restartPolicy") == "Always"]
        out[pod["metadata"]["name"]] = "istio-proxy" in names
    return out


def test_enable_then_disable_on_a_real_cluster(namespace):
    run = playbook("enable_injection.yml", namespace)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert sidecars(namespace) and all(sidecars(namespace).values())
    labels = kubectl("get", "ns", namespace, "--show-labels").stdout
    assert "istio.io/rev=" in labels and "istio-injection" not in labels

    again = playbook("enable_injection.yml", namespace)
    assert again.returncode == 0 and "changed=0" in again.stdout

    run = playbook("disable_injection.yml", namespace)
    assert run.returncode == 0, run.stdout[-5000:]
    assert sidecars(namespace) and not any(sidecars(namespace).values())

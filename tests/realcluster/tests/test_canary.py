"""Scenario canary on the real control plane: two revisions, each with its own real istiod, inject for
real; asm_revision_info agrees with the real `istioctl tag list`, also after `istioctl tag set`."""

from __future__ import annotations

import json
import subprocess

import pytest
from ansible_helpers import run_adhoc
from realcluster_helpers import TIMINGS, RealClusterProcess, listeners

PROXY = "gcr.io/gke-release/asm/proxyv2:"


@pytest.fixture(scope="module")
def canary(tmp_path_factory):
    cluster = RealClusterProcess("canary", tmp_path_factory.mktemp("realcluster-canary"))
    cluster.start()
    TIMINGS["canary cluster start (two revisions)"] = cluster.start_seconds
    yield cluster
    assert cluster.stop() == 0, cluster.log_text()


def istioctl(cluster, *args):
    return subprocess.run([cluster.state["binaries"]["istioctl"], "--kubeconfig", str(cluster.kubeconfig), *args],
                          capture_output=True, text=True, check=True, timeout=120).stdout


def proxy_images(cluster, namespace):
    pods = cluster.get_json("pods", "-n", namespace)["items"]
    return sorted({c["image"] for p in pods for c in p["spec"]["containers"] + p["spec"].get("initContainers", [])
                   if c["name"] == "istio-proxy"} | ({None} if any(
                       "sidecar.istio.io/status" not in (p["metadata"].get("annotations") or {}) for p in pods)
                       else set()), key=str)


def test_each_revision_injects_with_its_own_istiod(canary):
    istiods = canary.state["istiod"]
    assert sorted(istiods) == ["asm-1162-2", "asm-173-3"]
    procs = canary.processes()
    for name, info in istiods.items():
        assert info["pid"] in procs, name
        ports = {address for address, pid, _name in listeners() if pid == info["pid"]}
        assert f"127.0.0.1:{info['ports']['https']}" in ports and all(p.startswith("127.0.0.1:") for p in ports)
    assert proxy_images(canary, "shop") == [PROXY + "1.7.3-asm.3"]
    assert proxy_images(canary, "payments") == [PROXY + "1.16.2-asm.2"]
    assert proxy_images(canary, "legacy") == [PROXY + "1.7.3-asm.3"]  # istio-injection=enabled → the default tag
    assert proxy_images(canary, "unlabelled") == [None]


def tag_list(cluster) -> dict:
    rows = json.loads(istioctl(cluster, "tag", "list", "-o", "json"))
    return {row["tag"]: row["revision"] for row in rows if row.get("tag")}


def revision_info(cluster) -> dict:
    args = f"kubeconfig={cluster.kubeconfig} require_revision=false"
    rc, status, result, stdout = run_adhoc("servicemesh.asm.asm_revision_info", args)
    assert (rc, status) == (0, "SUCCESS"), stdout
    return result


def test_revision_info_agrees_with_istioctl_tag_list(canary):
    assert tag_list(canary) == {"default": "asm-173-3"}
    result = revision_info(canary)
    assert result["tags"] == tag_list(canary)
    revisions = {r["name"]: r for r in result["revisions"]}
    assert {n: (r["version"], r["ready"], r["default"]) for n, r in revisions.items()} == {
        "asm-173-3": ("1.7.3-asm.3", True, True), "asm-1162-2": ("1.16.2-asm.2", True, False)}
    assert result["default_revision"] == "asm-173-3"
    assert {n: r["namespaces"] for n, r in revisions.items()} == {"asm-173-3": ["legacy", "shop"],
                                                                  "asm-1162-2": ["payments"]}

    istioctl(canary, "tag", "set", "prod", "--revision", "asm-1162-2", "--skip-confirmation")
    assert tag_list(canary) == {"default": "asm-173-3", "prod": "asm-1162-2"}
    result = revision_info(canary)
    assert result["tags"] == tag_list(canary)
    assert {r["name"]: sorted(r["tags"]) for r in result["revisions"]} == {"asm-173-3": ["default"],
                                                                           "asm-1162-2": ["prod"]}
    rows = json.loads(istioctl(canary, "tag", "list", "-o", "json"))
    assert [(r["tag"], r["revision"], r["namespaces"]) for r in result["revision_tags"]] == [
        (r["tag"], r["revision"], r["namespaces"]) for r in rows if r["tag"]]
    # This Istio writes a tag Service beside the webhook (since 1.28): each row names both.
    assert {r["tag"]: (r["webhook"], r["service"]) for r in result["revision_tags"]}["prod"] == (
        "istio-revision-tag-prod", "istiod-revision-tag-prod")


def test_a_tag_left_only_as_a_service_is_listed_like_istioctl_and_warned_about(canary):
    """With its webhook deleted by hand, `istioctl tag list` still lists the tag from its Service, but nothing
    injects through it: asm_revision_info lists it too, does not resolve namespaces or revision= through it, and
    says so."""
    if "prod" not in tag_list(canary):
        istioctl(canary, "tag", "set", "prod", "--revision", "asm-1162-2", "--skip-confirmation")
    canary.kubectl("delete", "mutatingwebhookconfiguration", "istio-revision-tag-prod")
    assert tag_list(canary) == {"default": "asm-173-3", "prod": "asm-1162-2"}
    result = revision_info(canary)
    assert {r["tag"]: (r["revision"], r["webhook"]) for r in result["revision_tags"]} == {
        "default": ("asm-173-3", "istio-revision-tag-default"), "prod": ("asm-1162-2", None)}
    assert result["tags"] == {"default": "asm-173-3"}
    rc, status, _result, stdout = run_adhoc("servicemesh.asm.asm_revision_info",
                                            f"kubeconfig={canary.kubeconfig} revision=prod")
    assert (rc, status) != (0, "SUCCESS")
    out = " ".join(stdout.replace("\\n", " ").split())
    assert "Revision 'prod' is not known to the cluster" in out, out
    assert ("Revision tag prod exists only as Service istio-system/istiod-revision-tag-prod (-> asm-1162-2), with no "
            "injector webhook") in out, out

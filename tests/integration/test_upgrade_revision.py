# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/upgrade_revision.yml against kubesim's canary cluster: the tag flow moves the tag and restarts
the namespaces that use it batch by batch; a failed batch moves the tag back and restarts what was done on
the old revision; the relabel flow moves namespaces labelled with the old revision; --check stores nothing."""

from __future__ import annotations

import json
import subprocess

import pytest

from ansible_helpers import BIN, ROOT, accepted_writes, ansible_env

pytestmark = pytest.mark.kubesim_only(reason=(
    "expects kubesim's canary scenario (tags without a tag Service, no istiod-default-validator) and its "
    "fault knobs; the real tag flow runs in tests/realcluster/tests/test_revision_tag_real.py"))

OLD, NEW = "asm-173-3", "asm-1162-2"


def upgrade(sim, *extra, timeout=600):
    return subprocess.run([str(BIN / "ansible-playbook"), str(ROOT / "playbooks" / "upgrade_revision.yml"),
                           "-e", "asm_kubeconfig=%s" % sim.kubeconfig, "-e", "asm_to_revision=%s" % NEW, *extra],
                          cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=timeout, check=False)


def revisions(sim, namespace):
    """The revisions the namespace's live pods were injected by (None: no sidecar)."""
    pods = json.loads(sim.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
    out = set()
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        status = (pod["metadata"].get("annotations") or {}).get("sidecar.istio.io/status")
        out.add(json.loads(status)["revision"] if status else None)
    return out


def tag_prod_on_old(sim, *namespaces):
    rc = subprocess.run([str(BIN / "ansible"), "localhost", "-m", "servicemesh.asm.asm_revision_tag", "-a",
                         "kubeconfig=%s tag=prod revision=%s" % (sim.kubeconfig, OLD),
                         "-e", "ansible_python_interpreter=%s" % (BIN / "python")],
                        cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=120, check=False)
    assert rc.returncode == 0, rc.stdout
    for name in namespaces:
        sim.kubectl("label", "namespace", name, "istio.io/rev=prod", "--overwrite")


def test_tag_flow_moves_the_tag_and_restarts_batch_by_batch(start_sim):
    sim = start_sim("canary")
    tag_prod_on_old(sim, "shop", "unlabelled")
    mark = sim.audit_mark()
    check = upgrade(sim, "-e", "asm_tag=prod", "--check")
    assert check.returncode == 0, check.stdout[-3000:]
    assert "asm-173-3 -> asm-1162-2 (tag prod): 2 namespace(s) in 2 batch(es) of at most 1" in check.stdout
    assert accepted_writes(sim, mark) == []

    run = upgrade(sim, "-e", "asm_tag=prod", "-e", "asm_batch_size=1")
    assert run.returncode == 0, run.stdout[-4000:]
    assert revisions(sim, "shop") == {NEW} and revisions(sim, "unlabelled") == {NEW}
    assert revisions(sim, "legacy") == {OLD}  # the default tag was not touched
    assert '"status": "upgraded"' in run.stdout and '"batch": 2' in run.stdout
    labels = json.loads(sim.kubectl("get", "namespace", "shop", "-o", "json").stdout)["metadata"]["labels"]
    assert labels["istio.io/rev"] == "prod"  # the tag flow never relabels
    mark = sim.audit_mark()
    again = upgrade(sim, "-e", "asm_tag=prod", "-e", "asm_batch_size=1")
    assert again.returncode == 0 and " changed=0 " in again.stdout, again.stdout[-3000:]
    assert accepted_writes(sim, mark) == []


def test_a_failed_batch_moves_the_tag_back_and_restarts_on_the_old_revision(start_sim):
    sim = start_sim("canary")
    tag_prod_on_old(sim, "shop")
    sim.faults(injector_down=[NEW])  # the new revision's injector cannot be called: pods cannot be created
    run = upgrade(sim, "-e", "asm_tag=prod", "-e", "asm_timeout=20")
    assert run.returncode != 0
    assert "Batch 1 (shop) failed" in run.stdout and "Rolled back to asm-173-3: shop" in run.stdout, run.stdout[-4000:]
    mwc = json.loads(sim.kubectl("get", "mutatingwebhookconfiguration", "istio-revision-tag-prod", "-o",
                                 "json").stdout)
    assert mwc["metadata"]["labels"]["istio.io/rev"] == OLD
    assert revisions(sim, "shop") == {OLD}


def test_relabel_flow_moves_the_old_revisions_namespaces(start_sim):
    sim = start_sim("canary")
    run = upgrade(sim, "-e", "asm_from_revision=%s" % OLD, "-e", "asm_batch_size=2")
    assert run.returncode == 0, run.stdout[-4000:]
    assert revisions(sim, "shop") == {NEW}
    labels = json.loads(sim.kubectl("get", "namespace", "shop", "-o", "json").stdout)["metadata"]["labels"]
    assert labels["istio.io/rev"] == NEW
    assert revisions(sim, "legacy") == {OLD}  # istio-injection=enabled is not labelled with the revision


def test_bad_inputs_are_refused_before_anything_is_written(start_sim):
    sim = start_sim("canary")
    mark = sim.audit_mark()
    run = upgrade(sim, "-e", "asm_batch_size=0")
    assert run.returncode != 0
    assert "Give asm_tag (the tag flow) or asm_from_revision (the relabel flow), not both." in run.stdout
    assert "asm_batch_size must be a whole number of at least 1, got 0." in run.stdout
    assert sim.writes(mark) == []

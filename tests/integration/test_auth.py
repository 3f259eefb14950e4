# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Auth options through the real modules against kubesim: impersonation as the API server reads it
(apiserver endpoints/filters/impersonation: one Impersonate-Group header per group)."""

from __future__ import annotations

import pytest
from pathlib import Path

import yaml
from ansible_helpers import run_playbook

INFO = "servicemesh.asm.asm_revision_info"
READ_ALL = {"verbs": ["get", "list", "watch"], "apiGroups": ["*"], "resources": ["*"]}


def seed_with(tmp_path, **extra):
    spec = yaml.safe_load((Path(__file__).parents[1] / "kubesim/scenarios/seed.yaml").read_text())
    spec.update(extra)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


@pytest.mark.kubesim_only(reason='a scenario file with its own token users and impersonation rules')
def test_impersonate_groups_sends_one_header_per_group(start_sim, tmp_path):
    """deployer may impersonate alice and the groups devs and ops, not a group called "devs,ops"; only the
    impersonated groups can read. Sent as one comma-joined header, the run fails with 403."""
    sim = start_sim(seed_with(tmp_path, users=[
        {"name": "deployer", "token": "tok-deployer", "rules": [
            {"verbs": ["impersonate"], "resources": ["users"], "resourceNames": ["alice"]},
            {"verbs": ["impersonate"], "resources": ["groups"], "resourceNames": ["devs", "ops"]}]},
        {"name": "alice"}], groups=[{"name": "devs", "rules": [READ_ALL]}, {"name": "ops", "rules": [READ_ALL]}]))
    mark = sim.audit_mark()
    task = {"name": "info", INFO: {"kubeconfig": str(sim.kubeconfig), "context": "kubesim-deployer",
                                   "impersonate_user": "alice", "impersonate_groups": ["devs", "ops"]},
            "register": "info"}
    run = run_playbook(tmp_path, [task])
    assert run.rc == 0, run.explain()
    assert run["info"].get("failed") is not True, run["info"]
    assert run["info"]["revision"] == "asm-173-3"
    entries = sim.audit(mark)
    assert entries and all(e["user"] == "deployer" and e["code"] < 400 for e in entries)
    assert {tuple(e["impersonated_user"]["groups"]) for e in entries} == {("devs", "ops", "system:authenticated")}
    assert {e["impersonated_user"]["username"] for e in entries} == {"alice"}


@pytest.mark.kubesim_only(reason='client-side kubeconfig fallback: the cluster plays no part')
def test_kubernetes_service_host_without_a_service_account_falls_back_to_KUBECONFIG(seed, tmp_path):
    """A controller in a pod (AWX container group, CI runner) with KUBERNETES_SERVICE_HOST set but no service
    account token mounted, and $KUBECONFIG naming the cluster: kubernetes.core's order tries in-cluster, then
    the kubeconfig. The case where a token is mounted (in-cluster wins) is unit-tested on the loader with a fake
    token directory: the service-account paths are fixed in the kubernetes client, so an integration test
    could only reach them by writing /var/run/secrets or monkeypatching the client."""
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443", "KUBECONFIG": str(seed.kubeconfig)}
    run = run_playbook(tmp_path, [{"name": "info", INFO: {}, "register": "info"}], env=env)
    assert run.rc == 0, run.explain()
    assert run["info"].get("failed") is not True, run["info"]
    assert run["info"]["revision"] == "asm-173-3"

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's summary table: kubectl-like rows, and one line per restart only while that stays readable."""

from __future__ import annotations

from ansible_collections.servicemesh.asm.plugins.filter.report import RESTART_LINES, summary_table


def report(restarted):
    return {"cluster": "prod-eu", "state": "present", "revision": "asm-173-3", "complete": True,
            "namespaces": [{"name": "shop", "expected_revision": "asm-173-3", "pods": 4, "exempt": 1, "injected": 3,
                            "ready": 4, "problems": 0}],
            "restarted": restarted}


def restart(i, state="done", message="rolled out"):
    return {"namespace": "shop", "kind": "Deployment", "name": "svc-%03d" % i, "method": "rollout", "state": state,
            "message": message}


def test_table_rows_and_each_restart_when_few():
    lines = summary_table(report([restart(1), restart(2)]))
    assert lines[0] == "cluster prod-eu: injection enabled, revision asm-173-3"
    assert lines[1].split() == ["NAMESPACE", "REVISION", "INJECTED", "READY", "RESTARTED", "PROBLEMS"]
    assert lines[2].split() == ["shop", "asm-173-3", "3/3", "4/4", "2", "0"]
    assert lines[3:] == ["restarted shop/Deployment/svc-001 by rollout: rolled out",
                         "restarted shop/Deployment/svc-002 by rollout: rolled out"]


def test_many_restarts_list_only_the_unfinished_and_a_count():
    many = [restart(i) for i in range(RESTART_LINES + 10)] + [restart(999, "timeout", "waiting for 1 pod")]
    lines = summary_table(report(many))
    assert [line for line in lines if line.startswith("restarted ")] == [
        "restarted shop/Deployment/svc-999 by rollout: waiting for 1 pod",
        "restarted %d workloads in 1 namespaces, %d finished (each one is in the report)" % (
            RESTART_LINES + 11, RESTART_LINES + 10)]

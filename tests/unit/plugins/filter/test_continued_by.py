# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two asm_rollout_verify calls (one that timed out, one that went on) make one result: each workload once,
with its final state."""

from __future__ import annotations

from ansible_collections.servicemesh.asm.plugins.filter.report import continued_by, summary_table


def entry(name, method="rollout", state="done", message="rolled out", seconds=None, kind="Deployment", ns="shop"):
    return {"kind": kind, "namespace": ns, "name": name, "method": method, "pods": 2, "reasons": {},
            "state": state, "message": message, "seconds": seconds}


def namespace(restarted):
    return {"name": "shop", "expected_revision": "asm-173-3", "pods": 6, "exempt": 0, "injected": 6, "ready": 6,
            "restarted": restarted, "problems": 0}


def test_a_restart_finished_by_the_second_call_is_one_entry_with_the_final_state():
    first = {"changed": True, "complete": False, "elapsed_seconds": 15.0, "watch_relists": 0,
             "restarted": [entry("zk", method="evict", state="running", message="evicting 2 of 3", seconds=None,
                                 kind="StatefulSet"),
                           entry("web", state="done", seconds=3.0)],
             "waited_for": [], "namespaces": [namespace(2)], "warnings": ["w1"]}
    second = {"changed": True, "complete": True, "elapsed_seconds": 30.5, "watch_relists": 1,
              "restarted": [entry("zk", method="evict", state="done", message="evicted 2 pods", seconds=28.0,
                                  kind="StatefulSet"),
                            entry("api", state="done", seconds=5.0)],
              "waited_for": [], "namespaces": [namespace(2)], "warnings": ["w1", "w2"]}
    merged = continued_by(first, second)
    assert [(w["name"], w["method"], w["state"], w["message"]) for w in merged["restarted"]] == [
        ("zk", "evict", "done", "evicted 2 pods"), ("web", "rollout", "done", "rolled out"),
        ("api", "rollout", "done", "rolled out")]
    assert merged["restarted"][0]["seconds"] == 28.0
    assert merged["complete"] is True and merged["changed"] is True
    assert merged["namespaces"][0]["restarted"] == 3
    assert merged["elapsed_seconds"] == 45.5 and merged["watch_relists"] == 1
    assert merged["warnings"] == ["w1", "w2"]


def test_a_wait_of_the_second_call_completes_the_first_calls_rollout():
    first = {"changed": True, "complete": False, "restarted": [entry("web", state="running", message="1 of 2 updated")],
             "namespaces": [namespace(1)]}
    second = {"changed": False, "complete": True,
              "restarted": [], "waited_for": [entry("web", method="wait", state="done", message="rolled out")],
              "namespaces": [namespace(0)]}
    merged = continued_by(first, second)
    assert merged["restarted"] == [entry("web", state="done", message="rolled out")]
    assert merged["waited_for"] == []
    assert merged["changed"] is True  # the first call wrote
    assert merged["namespaces"][0]["restarted"] == 1
    lines = summary_table(dict(merged, cluster="c", state="present", revision="asm-173-3"))
    restart_lines = [line for line in lines if line.startswith("restarted")]
    assert restart_lines == ["restarted shop/Deployment/web by rollout: rolled out"]


def test_a_second_call_that_failed_to_run_keeps_the_first_calls_restarts():
    first = {"changed": True, "complete": False, "restarted": [entry("web", state="running")],
             "namespaces": [namespace(1)]}
    second = {"failed": True, "msg": "module crashed", "finished": 1}
    merged = continued_by(first, second)
    assert merged["msg"] == "module crashed"
    assert merged["restarted"] == first["restarted"] and merged["namespaces"] == first["namespaces"]
    assert merged["changed"] is True

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""upgrade_revision.yml's report after a failed batch: every batch once, with its final status."""

from __future__ import annotations

from ansible_collections.servicemesh.asm.plugins.filter.report import restart_lines
from ansible_collections.servicemesh.asm.plugins.filter.upgrade import upgrade_report

BATCHES = [["a"], ["b"], ["c"]]
DONE = [{"batch": 1, "namespaces": ["a"], "status": "upgraded", "restarted": 2}]


def statuses(entries):
    return [(e["batch"], e["namespaces"], e["status"]) for e in entries]


def test_relabel_flow_rolls_back_the_failed_batch_only():
    report = upgrade_report(DONE, BATCHES, 1, "timeout", ["b"])
    assert statuses(report) == [(1, ["a"], "upgraded"), (2, ["b"], "rolled_back"), (3, ["c"], "untouched")]
    assert report[1]["error"] == "timeout" and "rollback_error" not in report[1]
    assert report[0]["restarted"] == 2


def test_tag_flow_rolls_back_the_earlier_batches_too():
    report = upgrade_report(DONE, BATCHES, 1, "timeout", ["a", "b"])
    assert statuses(report) == [(1, ["a"], "rolled_back"), (2, ["b"], "rolled_back"), (3, ["c"], "untouched")]
    assert DONE[0]["status"] == "upgraded"  # the recorded entries are not changed in place


def test_no_rollback_and_a_failed_rollback():
    assert statuses(upgrade_report(DONE, BATCHES, 1, "timeout")) == [
        (1, ["a"], "upgraded"), (2, ["b"], "failed"), (3, ["c"], "untouched")]
    report = upgrade_report([], BATCHES, 0, "refused", ["a"], "the old revision is gone")
    assert statuses(report) == [(1, ["a"], "rollback_failed"), (2, ["b"], "untouched"), (3, ["c"], "untouched")]
    assert report[0]["rollback_error"] == "the old revision is gone"


def test_restart_lines():
    restarted = [{"namespace": "shop", "kind": "Deployment", "name": "cart", "method": "rollout", "state": "planned"},
                 {"namespace": "shop", "kind": "StatefulSet", "name": "db", "method": "evict", "state": "done",
                  "message": "rolled out"}]
    assert restart_lines(restarted) == ["would restart shop/Deployment/cart by rollout: planned",
                                        "restarted shop/StatefulSet/db by evict: rolled out"]
    assert restart_lines(None) == []

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout options' rules, shared by asm_rollout_verify and the role's up-front check."""

from __future__ import annotations

import pytest

from ansible_collections.servicemesh.asm.plugins.filter.inputs import FilterModule
from ansible_collections.servicemesh.asm.plugins.module_utils.options import option_errors
from ansible_collections.servicemesh.asm.plugins.module_utils.rollout import SelectionError, _planned_tags, _validate


def test_valid_options_have_no_errors_at_the_bounds():
    assert option_errors({"timeout": 1, "max_concurrent": 10000, "progress_interval": 86400,
                          "skip_workloads": "metadata.labels.batch"}) == []
    assert option_errors({}) == []  # missing options are not checked


def test_each_bad_option_is_named_with_its_valid_range():
    errors = option_errors({"timeout": 0, "max_concurrent": 10001, "progress_interval": -1, "return_after": 0,
                            "skip_workloads": "metadata.["}, "asm_")
    assert errors[:4] == ["asm_max_concurrent must be between 1 and 10000, got 10001.",
                          "asm_progress_interval must be between 1 and 86400 seconds, got -1.",
                          "asm_return_after must be between 1 and 86400 seconds, got 0.",
                          "asm_timeout must be between 1 and 86400 seconds, got 0."]
    assert errors[4].startswith("asm_skip_workloads 'metadata.[' is not a valid JMESPath expression: ")
    assert len(errors) == 5


def test_the_module_refuses_with_the_same_messages():
    with pytest.raises(SelectionError) as err:
        _validate({"timeout": 86401, "max_concurrent": 5})
    assert str(err.value) == "timeout must be between 1 and 86400 seconds, got 86401."
    assert _validate({"timeout": 5, "max_concurrent": 5, "skip_workloads": "kind"}).search({"kind": 1}) == 1


def test_the_filter_is_the_same_rule():
    rule = FilterModule().filters()["rollout_option_errors"]
    expected = ["asm_timeout must be between 1 and 86400 seconds, got 0."]
    assert rule({"timeout": 0}, "asm_") == expected


def test_cluster_wide_scope_depends_on_the_share_of_the_cluster_selected():
    """Review finding 8: 4 of 1,000 namespaces used to list every pod of the cluster."""
    from ansible_collections.servicemesh.asm.plugins.module_utils.rollout import cluster_wide
    assert not cluster_wide(4, 1000) and not cluster_wide(20, 1000)
    assert cluster_wide(21, 1000) and cluster_wide(1000, 1000)
    assert cluster_wide(4, 10)  # most of a small cluster: one list is cheaper than four
    assert not cluster_wide(3, 3)


def test_planned_tags_must_name_known_revisions():
    known = {"asm-173-3": {}, "asm-1162-2": {}}
    assert _planned_tags({"planned_tags": {"prod": "asm-1162-2"}}, known) == {"prod": "asm-1162-2"}
    assert _planned_tags({}, known) == {}
    with pytest.raises(SelectionError, match=r"planned_tags names revisions the cluster does not have: "
                                             r"prod -> asm-999-9\. Known revisions: asm-1162-2, asm-173-3\."):
        _planned_tags({"planned_tags": {"prod": "asm-999-9"}}, known)

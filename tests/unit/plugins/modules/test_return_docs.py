# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every key a module returns is documented in its RETURN.

asm_revision_info and asm_namespace_inject are run (their entry functions, with the fake clients of
their unit tests) in several situations and each key of the result, nested ones too where RETURN
describes the structure with `contains`, must be documented. asm_rollout_verify's report needs
watched collections, so its keys are read from the code that builds the report instead.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest
import yaml

from ansible_collections.servicemesh.asm.plugins.module_utils import executor, plan, report, revisions
from ansible_collections.servicemesh.asm.plugins.module_utils import namespaces as nslib
from ansible_collections.servicemesh.asm.plugins.modules import (
    asm_namespace_inject, asm_revision_info, asm_rollout_verify,
)
from ansible_collections.servicemesh.asm.tests.unit.plugins.module_utils.test_namespaces import (
    FakeClient as NamespaceClient, inject_params,
)
from ansible_collections.servicemesh.asm.tests.unit.plugins.module_utils.test_revisions import (
    FakeClient as RevisionClient, canary_inventory, managed_inventory, params, seed_inventory,
)

# Keys Ansible itself defines (common return values) or consumes (diff, warnings): not in RETURN.
COMMON = {"changed", "diff", "warnings", "failed", "msg"}
# Added by module_utils/module.py for every module: API counters always, the HTTP status on an API error.
FINISH = {"api_requests": 0, "api_retries": 0, "status": 403}


def documented(module):
    return yaml.safe_load(module.RETURN)


def undocumented(result, doc, prefix=""):
    """Key paths of `result` that `doc` (a RETURN mapping) does not describe."""
    missing = []
    for key, value in result.items():
        if prefix == "" and key in COMMON:
            continue
        if key not in doc:
            missing.append(prefix + key)
            continue
        contains = (doc[key] or {}).get("contains")
        if not contains:
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                missing.extend(undocumented(item, contains, prefix + key + "."))
    return sorted(set(missing))


@pytest.mark.parametrize("inventory,cpr_status,overrides", [
    (seed_inventory(), 404, {}),
    (canary_inventory(), 404, {"require_revision": False}),
    (managed_inventory(), None, {}),
    (managed_inventory(provisioned=False), None, {"require_revision": False}),
], ids=["seed", "canary-none-chosen", "managed", "managed-unprovisioned"])
def test_asm_revision_info_returns_only_documented_keys(inventory, cpr_status, overrides):
    result = revisions.run(RevisionClient(inventory, cpr_status=cpr_status), params(**overrides))
    result.update(FINISH)
    assert undocumented(result, documented(asm_revision_info)) == []


def test_the_managed_case_exercises_provisioned():
    result = revisions.run(RevisionClient(managed_inventory(), cpr_status=None), params())
    assert any("provisioned" in r for r in result["revisions"])


NAMESPACES = {"demo": {}, "legacy": {"istio-injection": "enabled"},
              "mesh-ambient": {"istio.io/dataplane-mode": "ambient"},
              "kube-system": {}, "team-a": {"team": "a"}, "team-b": {"team": "a"}}


@pytest.mark.parametrize("overrides", [
    {"namespaces": ["demo", "legacy", "mesh-ambient"]},
    {"namespace_selector": "team=a", "exclude": ["team-b"]},
    {"namespaces": ["ghost"], "create": True},
    {"state": "absent", "revision": None, "namespaces": ["legacy"]},
    {"state": "restore", "revision": None, "namespaces": ["demo"],
     "previous_labels": {"demo": {"istio-injection": "enabled"}}},
], ids=["present", "selector-excluded", "create", "absent", "restore"])
def test_asm_namespace_inject_returns_only_documented_keys(overrides):
    client = NamespaceClient(dict(NAMESPACES))
    result = nslib.run(client, inject_params(**overrides), want_diff=True)
    result.update(FINISH)
    assert undocumented(result, documented(asm_namespace_inject)) == []


def _dict_keys(func, name=None):
    """Keys of the dict literals in a function (only those assigned to `name`, when given), and of
    `name[...] = ` subscript assignments."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            named = isinstance(target, ast.Name) and (name is None or target.id == name)
            if named and isinstance(node.value, ast.Dict):
                keys.update(k.value for k in node.value.keys if isinstance(k, ast.Constant))
            for t in (target.elts if isinstance(target, ast.Tuple) else [target]):
                if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == name \
                        and isinstance(t.slice, ast.Constant):
                    keys.add(t.slice.value)
        if name is None and isinstance(node, ast.Return) and isinstance(node.value, ast.Dict):
            keys.update(k.value for k in node.value.keys if isinstance(k, ast.Constant))
    return keys


def test_asm_rollout_verify_report_keys_are_documented():
    doc = documented(asm_rollout_verify)
    top = _dict_keys(report.summarise, "result") | set(FINISH)
    assert {"restarted", "failed_pods", "progress"} <= top  # the parse found the report
    assert sorted(k for k in top - COMMON if k not in doc) == []
    action_keys = _dict_keys(executor.Action.report)
    assert {"kind", "state"} <= action_keys
    assert sorted(action_keys - set(doc["restarted"]["contains"])) == []
    pod_keys = _dict_keys(report._pod_entries, "entry")
    assert {"namespace", "reason", "hint", "in_progress"} <= pod_keys
    assert sorted(pod_keys - set(doc["failed_pods"]["contains"])) == []
    assert sorted(pod_keys - {"hint", "in_progress"} - set(doc["unverified_pods"]["contains"])) == []
    bare = set(doc["bare_pods"]["contains"])
    bare_keys = set()
    for node in ast.walk(ast.parse(inspect.getsource(plan))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "append" \
                and getattr(node.func.value, "id", None) == "bare" and isinstance(node.args[0], ast.Dict):
            bare_keys.update(k.value for k in node.args[0].keys)
    assert bare_keys and sorted(bare_keys - bare) == []
    assert "progress" in doc and "restart" in doc and "check_mode" in doc

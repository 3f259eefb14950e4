# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place where module runs turn into exit_json / fail_json."""

from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.servicemesh.asm.plugins.module_utils import client as kube
from ansible_collections.servicemesh.asm.plugins.module_utils.errors import AsmError


def run(module, entry):
    """Build the API client from the module's auth options, call entry(client, params, check_mode,
    diff) and exit. An AsmError fails the module with its message; one carrying a `result` (a
    report) returns that report with the failure."""
    if not kube.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(kube.KUBERNETES_IMPORT_ERROR))
    api = None
    try:
        api = kube.KubeClient.from_params(module.params)
        result = entry(api, module.params, module.check_mode, module._diff)
    except AsmError as exc:
        result = dict(exc.result or {})
        if exc.status:
            result["status"] = exc.status
        _finish(module, api, result, msg=str(exc))
    _finish(module, api, result)


def _finish(module, api, result, msg=None):
    for warning in result.pop("warnings", []):
        module.warn(warning)
    if api is not None:
        result["api_requests"] = api.request_count
        result["api_retries"] = api.retries
    if msg is not None:
        result.setdefault("changed", False)
        module.fail_json(msg=msg, **result)
    module.exit_json(**result)

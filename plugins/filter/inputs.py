# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Up-front checks of the role's inputs, with the same rules as the modules that use them."""

from __future__ import annotations

from ansible_collections.servicemesh.asm.plugins.module_utils.options import option_errors


def rollout_option_errors(options, prefix=""):
    """Messages for the rollout options (timeout, max_concurrent, progress_interval, skip_workloads)
    that asm_rollout_verify would refuse, each naming the option with `prefix` before it."""
    return option_errors(options, prefix)


class FilterModule(object):
    def filters(self):
        return {"rollout_option_errors": rollout_option_errors}

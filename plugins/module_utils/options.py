# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules for the rollout options, shared by asm_rollout_verify and the role's up-front check
(through a filter, on the controller: so this file imports nothing heavy)."""

from __future__ import annotations

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:
    HAS_JMESPATH = False

# progress_interval is the role's (seconds per round); the modules have no such option.
LIMITS = {"timeout": (1, 86400, " seconds"), "max_concurrent": (1, 10000, ""),
          "progress_interval": (1, 86400, " seconds")}


def option_errors(params, names=None):
    """What is wrong with the rollout options, one message per option naming it (as `names` says: the
    role passes its asm_* variable names) and what would be valid. The module and the role's
    up-front check share it, so a bad option is refused before any namespace is labelled."""
    names = names or {}
    errors = []
    for option, (low, high, unit) in sorted(LIMITS.items()):
        value = params.get(option)
        if value is not None and not low <= value <= high:
            name = names.get(option, option)
            errors.append("%s must be between %d and %d%s, got %s." % (name, low, high, unit, value))
    expression = params.get("skip_workloads")
    if expression and HAS_JMESPATH:
        try:
            jmespath.compile(expression)
        except jmespath.exceptions.JMESPathError as exc:
            errors.append("%s %r is not a valid JMESPath expression: %s" % (
                names.get("skip_workloads", "skip_workloads"), expression, exc))
    return errors

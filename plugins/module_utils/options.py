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

# progress_interval is the role's (seconds between progress lines); the modules have no such option.
LIMITS = {"timeout": (1, 86400, " seconds"), "max_concurrent": (1, 10000, ""),
          "progress_interval": (1, 86400, " seconds"), "return_after": (1, 86400, " seconds")}


def option_errors(params, prefix=""):
    """What is wrong with the rollout options, one message per option naming it (with `prefix`: the
    role's variables are asm_<option>) and what would be valid. The module and the role's up-front
    check share it, so a bad option is refused before any namespace is labelled."""
    errors = []
    for option, (low, high, unit) in sorted(LIMITS.items()):
        value = params.get(option)
        if value is not None and not low <= value <= high:
            errors.append("%s%s must be between %d and %d%s, got %s." % (prefix, option, low, high, unit, value))
    expression = params.get("skip_workloads")
    if expression and HAS_JMESPATH:
        try:
            jmespath.compile(expression)
        except jmespath.exceptions.JMESPathError as exc:
            errors.append("%sskip_workloads %r is not a valid JMESPath expression: %s" % (prefix, expression, exc))
    return errors


def skip_expression(expression):
    """The compiled skip_workloads expression, None without one (option_errors has checked it)."""
    return jmespath.compile(expression) if expression else None

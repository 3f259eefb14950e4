# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception base that reaches the module boundary (module.run turns it into fail_json)."""

from __future__ import annotations


class AsmError(Exception):
    """A failure to report: the message names what was wrong and what would be valid; `result` is the
    report so far (kept on failure), `status` the HTTP status of an API error."""

    def __init__(self, message, result=None, status=None):
        super().__init__(message)
        self.result = result
        self.status = status

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-batch report of playbooks/upgrade_revision.yml once a batch has failed."""

from __future__ import annotations


def upgrade_report(recorded, batches, failed, failure, rolled_back=None, rollback_error=""):
    """recorded: the entries of the batches before the failed one (status `upgraded`); batches: every batch's
    namespaces; failed: the failed batch's index (0-based); rolled_back: the namespaces the rollback put back
    on the old revision (None or empty: no rollback was attempted). Every batch gets one entry: `upgraded`,
    `rolled_back` (or `rollback_failed`), `failed` (not rolled back) or `untouched`."""
    rolled = set(rolled_back or [])
    outcome = ("rollback_failed" if rollback_error else "rolled_back") if rolled else "failed"
    entries = []
    for entry in recorded:
        if rolled and set(entry["namespaces"]) <= rolled:
            entry = dict(entry, status=outcome)  # the tag flow moves every namespace of the tag back
        entries.append(entry)
    failed_entry = {"batch": failed + 1, "namespaces": list(batches[failed]), "status": outcome, "error": failure}
    if rollback_error:
        failed_entry["rollback_error"] = rollback_error
    entries.append(failed_entry)
    entries += [{"batch": index + 1, "namespaces": list(batch), "status": "untouched"}
                for index, batch in enumerate(batches) if index > failed]
    return entries


class FilterModule(object):
    def filters(self):
        return {"upgrade_report": upgrade_report}

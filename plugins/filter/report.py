# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that render the role's output the way kubectl prints tables."""

from __future__ import annotations


RESTART_LINES = 25  # most restarted workloads listed one per line


def _table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    return ["   ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header] + rows]


def pod_row(pod):
    """An asm_revision_info istiod_pods entry as a `kubectl get pods --show-labels` line."""
    values = (pod["name"], pod["ready"], pod["status"], pod["restarts"], pod["age"], pod.get("labels_text", ""))
    return "%-40s %-6s %-10s %-9s %-5s %s" % values


def restart_lines(restarted):
    """asm_rollout_verify's restarted entries, one line each (check mode's are `planned`: would restart)."""
    return ["%s %s/%s/%s by %s: %s" % ("would restart" if w.get("state") == "planned" else "restarted",
                                       w["namespace"], w["kind"], w["name"], w["method"],
                                       w.get("message") or w.get("state")) for w in restarted or []]


def summary_table(report):
    """The role's report as lines: a table per namespace, then restarts, skips and problems."""
    rows = []
    restarted = report.get("restarted") or []
    for ns in report.get("namespaces") or []:
        verified = ns["pods"] - ns["exempt"]
        count = sum(1 for w in restarted if w["namespace"] == ns["name"] and w["method"] != "delete")
        rows.append([ns["name"], ns["expected_revision"] or "-", "%d/%d" % (ns["injected"], verified),
                     "%d/%d" % (ns["ready"], ns["pods"]), count, ns["problems"]])
    lines = ["cluster %s: %s%s" % (report.get("cluster"), "injection %s, revision %s" % (
        "enabled" if report.get("state") == "present" else "disabled", report.get("revision") or "-"),
        " (check mode: nothing was changed)" if report.get("check_mode") else "")]
    lines += _table(["NAMESPACE", "REVISION", "INJECTED", "READY", "RESTARTED", "PROBLEMS"], rows)
    restarted = report.get("restarted") or []
    # At fleet scale one line per restarted workload drowns the problems: past a screenful, list only
    # the restarts that did not finish; the report (asm_report_path, set_stats) keeps every one.
    shown = restarted if len(restarted) <= RESTART_LINES else [w for w in restarted if w.get("state") != "done"]
    lines += restart_lines(shown)
    if len(shown) < len(restarted):
        lines.append("restarted %d workloads in %d namespaces, %d finished (each one is in the report)" % (
            len(restarted), len(set(w["namespace"] for w in restarted)),
            sum(1 for w in restarted if w.get("state") == "done")))
    for w in report.get("skipped_workloads") or []:
        lines.append("not restarted %s/%s/%s: %s" % (w["namespace"], w["kind"], w["name"], w["reason"]))
    for pod in report.get("bare_pods") or []:
        lines.append("bare pod %s/%s %s: %s" % (pod["namespace"], pod["name"],
                                                "deleted" if pod.get("deleted") else "left untouched", pod["reason"]))
    for pod in report.get("failed_pods") or []:
        lines.append("PROBLEM %s/%s %s: %s -- %s" % (pod["namespace"], pod["name"], pod["ready"], pod["reason"],
                                                     pod.get("hint", "")))
    if report.get("message") and not report.get("complete"):
        lines.append("FAILED: %s" % report["message"])
    return lines


def _workload_key(entry):
    return (entry["kind"], entry["namespace"], entry["name"])


def _added_seconds(a, b):
    return None if a is None and b is None else round((a or 0) + (b or 0), 1)


def continued_by(first, second):
    """One asm_rollout_verify result from a call that timed out (complete=false) and the call that went
    on with the same selection. A workload the first call restarted and the second waited for (or
    restarted further) is one entry: the first call's restart with the second's final state."""
    later = dict((_workload_key(w), w) for w in (second.get("restarted") or []) + (second.get("waited_for") or []))
    restarted, finished_keys = [], set()
    for entry in first.get("restarted") or []:
        key = _workload_key(entry)
        final = later.get(key)
        if final is not None:
            finished_keys.add(key)
            entry = dict(entry, state=final.get("state"), message=final.get("message"),
                         seconds=_added_seconds(entry.get("seconds"), final.get("seconds")))
        restarted.append(entry)
    restarted += [w for w in second.get("restarted") or [] if _workload_key(w) not in finished_keys]
    waited = [w for w in second.get("waited_for") or [] if _workload_key(w) not in finished_keys]
    merged = dict(second, restarted=restarted, waited_for=waited)
    merged["changed"] = bool(first.get("changed") or second.get("changed"))
    merged["elapsed_seconds"] = _added_seconds(first.get("elapsed_seconds"), second.get("elapsed_seconds"))
    merged["watch_relists"] = (first.get("watch_relists") or 0) + (second.get("watch_relists") or 0)
    if "namespaces" in merged:
        counted = [w for w in restarted if w["method"] in ("rollout", "evict")]
        merged["namespaces"] = [dict(ns, restarted=sum(1 for w in counted if w["namespace"] == ns["name"]))
                                for ns in merged["namespaces"]]
    elif "namespaces" in first:
        merged["namespaces"] = first["namespaces"]  # the second call failed before it judged anything
    merged["warnings"] = list(dict.fromkeys((first.get("warnings") or []) + (second.get("warnings") or [])))
    return merged


class FilterModule(object):
    def filters(self):
        return {"pod_row": pod_row, "summary_table": summary_table, "continued_by": continued_by,
                "restart_lines": restart_lines}

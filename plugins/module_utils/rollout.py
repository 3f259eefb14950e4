# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""asm_rollout_verify: the seed's steps 3 and 4 — re-create what needs a (new) sidecar, then prove
every pod is READY n/n with the proxy of the expected revision.

discover + select → watched collections → plan (plan.py, pure) → restart (executor.py: bounded
window, availability budget) → wait (watches) → verify and report (report.py). Only workloads that
need it restart; a workload already rolling is waited for, not restarted again, so a re-run or an
interrupted run converges without double restarts.
"""

from __future__ import annotations

import os
import tempfile
import time

from ansible_collections.servicemesh.asm.plugins.module_utils import pods as podlib
from ansible_collections.servicemesh.asm.plugins.module_utils import report as reportlib
from ansible_collections.servicemesh.asm.plugins.module_utils.client import KubeError, api_path
from ansible_collections.servicemesh.asm.plugins.module_utils.executor import WORKLOAD_API, Executor, make_action
from ansible_collections.servicemesh.asm.plugins.module_utils.namespaces import (
    AMBIENT_LABEL, SelectionError, nothing_selected, select, selection_params, selector_matches)
from ansible_collections.servicemesh.asm.plugins.module_utils.options import (
    HAS_JMESPATH, option_errors, skip_expression)
from ansible_collections.servicemesh.asm.plugins.module_utils.plan import RESTART_CHOICES, build_plan
from ansible_collections.servicemesh.asm.plugins.module_utils.proxyimage import proxy_image_rules
from ansible_collections.servicemesh.asm.plugins.module_utils.report import VerificationFailed
from ansible_collections.servicemesh.asm.plugins.module_utils.revisions import (
    build_revisions, describe, fetch_inventory)
from ansible_collections.servicemesh.asm.plugins.module_utils.watchcache import Collection, Union
from ansible_collections.servicemesh.asm.plugins.module_utils.webhooks import (
    check_inject, injector_webhooks, with_planned_tags)
from ansible_collections.servicemesh.asm.plugins.module_utils.workloads import (
    compact_replicaset, compact_workload, workload_of)

__all__ = ["RESTART_CHOICES", "SelectionError", "VerificationFailed", "run"]

WATCH_ANSWER_SECONDS = 10  # most to wait, before the first restart, for the API server to accept the watches
# Per-namespace lists and watches cost 5 requests and 5 streams per namespace; cluster-wide ones cost a
# list of everything. Scope per namespace while the selection is small in absolute terms, or a small part
# of the cluster (then a cluster-wide list would mostly fetch pods we do not need).
PER_NAMESPACE_MAX = 20
CLUSTER_WIDE_SHARE = 0.25
PROGRESS_EVERY = 2.0  # seconds between progress-file updates
DEADLINE_MARGIN = 10.0


def cluster_wide(selected, total):
    """Whether to list and watch cluster-wide (filtered to the selection) rather than per namespace."""
    if selected <= 3:
        return False
    return selected > PER_NAMESPACE_MAX or selected > CLUSTER_WIDE_SHARE * max(total, 1)


def _validate(params):
    errors = option_errors(params)
    if params.get("skip_workloads") and not HAS_JMESPATH:
        errors.append("skip_workloads needs the jmespath Python library on the host running the module.")
    if errors:
        raise SelectionError(" ".join(errors))
    return skip_expression(params.get("skip_workloads"))


def _collections(client, namespaces, skip_expr, scope_cluster):
    """Watched collections for pods, ReplicaSets and the restartable workloads."""
    changed = None
    specs = [("pods", "v1", "pods", podlib.compact), ("replicasets", "apps/v1", "replicasets", compact_replicaset)]
    for kind, (api_version, plural) in WORKLOAD_API.items():
        specs.append((kind, api_version, plural, _workload_transform(kind, skip_expr)))
    cols = {}
    for name, api_version, plural, transform in specs:
        scopes = [None] if scope_cluster else list(namespaces)
        parts = []
        for scope in scopes:
            col = Collection(client, api_path(api_version, plural, scope), transform,
                             namespaces=namespaces if scope is None else None, changed=changed,
                             description="%s %s" % (plural, "(cluster scope)" if scope is None else "in " + scope))
            changed = col.changed
            parts.append(col)
        cols[name] = parts[0] if len(parts) == 1 else Union(parts)
    return cols


def _workload_transform(kind, skip_expr):
    def transform(obj):
        skip = bool(skip_expr.search(obj)) if skip_expr is not None else False
        return compact_workload(obj, kind, skip)
    return transform


def _load(client, selected, skip_expr, scope_cluster):
    cols = _collections(client, selected, skip_expr, scope_cluster)
    try:
        for col in cols.values():
            col.load()
    except KubeError as exc:
        if not scope_cluster or exc.status != 403:
            raise
        cols = _collections(client, selected, skip_expr, False)  # namespace-scoped RBAC only
        for col in cols.values():
            col.load()
    return cols


def _target_revision(params, revisions, tags):
    target = params.get("revision")
    if not target:
        return None
    target = tags.get(target, target)
    if target not in dict((r["name"], r) for r in revisions):
        raise SelectionError("Revision %r is not known to the cluster. Known revisions: %s; tags: %s." % (
            params["revision"], "; ".join(describe(r) for r in revisions) or "none",
            ", ".join("%s -> %s" % kv for kv in tags.items()) or "none"))
    return target


def _planned_tags(params, by_name):
    planned = params.get("planned_tags") or {}
    unknown = sorted("%s -> %s" % (tag, rev) for tag, rev in planned.items() if rev not in by_name)
    if unknown:
        raise SelectionError("planned_tags names revisions the cluster does not have: %s. Known revisions: %s."
                             % (", ".join(unknown), ", ".join(sorted(by_name)) or "none"))
    return planned


def _namespace_infos(params, selected, existing, webhooks, target):
    ns_infos = {}
    for name in selected:
        labels = dict(existing[name]["labels"])
        if name in (params.get("planned_labels") or {}):
            # Judge as if the labelling step (skipped in check mode) had happened.
            labels = dict((k, v) for k, v in labels.items() if k not in ("istio-injection", "istio.io/rev"))
            labels.update(params["planned_labels"][name] or {})
        injects, _matched, inject_reason = check_inject(webhooks, name, labels)
        ns_infos[name] = {"expected": target if target else injects, "injects": injects, "target": target,
                          "inject_reason": inject_reason, "ambient": labels.get(AMBIENT_LABEL) == "ambient",
                          "pod_injection": _pod_injection(webhooks, name, labels)}
    return ns_infos


def _pod_injection(webhooks, namespace, labels):
    """(revision, reason) for a pod with the given injection labels in that namespace, remembered per
    distinct label set (pods of one template share it)."""
    answers = {}

    def answer(pod_labels):
        if pod_labels not in answers:
            injects, _matched, reason = check_inject(webhooks, namespace, labels, dict(pod_labels))
            answers[pod_labels] = (injects, reason)
        return answers[pod_labels]
    return answer


class ProgressFile(object):
    """The progress line, rewritten atomically every few seconds for whoever watches the run (the role
    prints it while it waits for the one long module call)."""

    def __init__(self, path, line):
        self.path, self.line, self.next_write = path, line, 0.0

    def __call__(self, now, force=False, final=False):
        if not self.path or (now < self.next_write and not force):
            return
        self.next_write = now + PROGRESS_EVERY
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            handle, temporary = tempfile.mkstemp(dir=directory, prefix=".progress-")
            with os.fdopen(handle, "w") as stream:
                # "finished" on a line of its own tells a waiting role (wait_for search_regex) it can stop.
                stream.write(self.line() + ("\nfinished\n" if final else "\n"))
            os.replace(temporary, self.path)
        except OSError:
            pass  # progress is a courtesy: never fail the rollout for it


class Heartbeat(object):
    """An asynchronous caller (the role) touches a file while it follows the run; when it stops (Ctrl-C,
    a cancelled AWX job), the file ages and the run stops starting restarts instead of going on unseen."""

    def __init__(self, path, timeout):
        self.path, self.timeout = path, timeout
        if path and not os.path.exists(path):
            # The run starts the clock, so the caller need not create the file before it starts us.
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except OSError:
                pass  # a caller that races us to it has created it

    def __call__(self):
        if not self.path:
            return False
        try:
            return time.time() - os.stat(self.path).st_mtime > self.timeout
        except OSError:
            return True  # removed: the caller is gone


def run(client, params, check_mode=False, want_diff=False):
    started = time.monotonic()
    deadline = started + params["timeout"]
    # Every request, retries and backoff included, ends by then; the margin is for the final report's list.
    client.deadline = deadline + DEADLINE_MARGIN
    if not check_mode and params.get("return_after") is not None and params["return_after"] < params["timeout"]:
        # The wait ends early and unfinished is no failure: the caller calls again.
        deadline = started + params["return_after"]
        params = dict(params, fail_on_timeout=False)
    skip_expr = _validate(params)
    named, selector, exclude = selection_params(params)
    istio_ns = params["istio_namespace"]
    inventory = fetch_inventory(client, istio_ns)
    revisions, tags, _default = build_revisions(inventory)
    by_name = dict((r["name"], r) for r in revisions)
    existing = dict((ns["name"], ns) for ns in inventory["namespaces"])
    matched = selector_matches(client, selector)
    selected, not_selected, missing = select(existing, named, matched, exclude, istio_ns)
    if missing:
        raise SelectionError("Namespaces that do not exist: %s. Fix the names or create them first."
                             % ", ".join(missing))
    if not selected:
        raise nothing_selected(not_selected, matched, selector)
    target = _target_revision(params, revisions, tags)
    webhooks = with_planned_tags(injector_webhooks(inventory["mwcs"]), _planned_tags(params, by_name))
    check = params.get("proxy_image_check") or "formula"
    images = proxy_image_rules(client, inventory, revisions, istio_ns, selected,
                               check if params.get("detect_stale_proxies", True) else "off")
    ns_infos = _namespace_infos(params, selected, existing, webhooks, target)

    cols = _load(client, selected, skip_expr, cluster_wide(len(selected), len(existing)))
    workloads = {}
    for kind in WORKLOAD_API:
        for w in cols[kind].values():
            workloads[(kind, w["namespace"], w["name"])] = w
    plan = build_plan(ns_infos, cols["pods"].values(), cols["replicasets"].items, workloads, params["restart"],
                      params["force_restart"], params["delete_bare_pods"], images)
    actions = [make_action(record) for record in plan["actions"]]
    if any(a.method != "wait" for a in actions) and not check_mode:
        for rev_name in set(ns_infos[a.namespace]["expected"] for a in actions if a.method != "wait") - {None}:
            if not by_name[rev_name]["ready"]:
                raise SelectionError("Revision %s has no ready control plane (%s): restarted pods would fail to be "
                                     "created or come up without a sidecar. Nothing was restarted."
                                     % (rev_name, describe(by_name[rev_name])))
    ex = Executor(client, cols, ns_infos, images, params, deadline, check_mode)
    ex.progress = ProgressFile(params.get("progress_file"), lambda: reportlib.summarise(
        ex, params, plan, actions, target, started, False)["progress"])
    ex.abandoned = Heartbeat(params.get("heartbeat_file"), params.get("heartbeat_timeout") or 60)
    complete, error = True, None
    if check_mode:
        ex.run(actions)  # server-side dry runs: refusals show now
    else:
        complete, error = _restart_and_wait(ex, cols, plan, actions)
    ex.progress(time.monotonic(), force=True, final=True)
    return reportlib.build(ex, params, plan, actions, target, started, complete, error)


def _restart_and_wait(ex, cols, plan, actions):
    """(finished before the deadline, an error that ended the wait early or None)."""
    for col in cols.values():
        col.start()
    complete, error = True, None
    try:
        # A watch refused now (no RBAC permission to watch) would blind the wait: fail before any restart.
        for col in cols.values():
            col.wait_answered(WATCH_ANSWER_SECONDS)
        ex.raise_fatal_watch_error()
        if actions:
            complete = ex.run(actions)
        if ex.params["wait"]:
            skipped = reportlib.unverified_keys(plan)
            keys = reportlib.verified_workloads(cols, ex.ns_infos, skipped)
            rs_items = cols["replicasets"].items

            def relevant(pod):
                from_workload = pod["owner"] is not None
                return from_workload and workload_of(pod, rs_items) not in skipped

            # A workload whose restart already failed is settled (wrong): waiting for its pods helps nothing.
            failed = set(a.key for a in actions if a.state == "failed")
            ex.wait_verified(relevant, lambda: not any(reportlib.missing_replicas(ex, k) for k in keys
                                                       if k not in failed))
    except KubeError as exc:
        if not any(a.wrote for a in actions):
            raise
        error = exc  # restarts were sent: report them with the error
    finally:
        for col in cols.values():
            col.stop()
    # Unfinished, with a caller that calls again (fail_on_timeout=false) and nothing failed: the next call
    # judges from its own list, so a fresh one now would only cost a list of every selected pod.
    continued = not complete and not ex.params.get("fail_on_timeout", True) and not any(
        a.state == "failed" for a in actions)
    if actions and any(a.state != "done" for a in actions) and not continued:
        # Watches of different resources are not ordered: a restart judged failed from its workload's
        # status may still see old pods the pod watch has not shown terminating. Report from a fresh list.
        try:
            cols["pods"].load()
        except KubeError:
            pass  # keep the watched state
    return complete, error

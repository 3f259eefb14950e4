# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Namespace selection and injection labels.

The seed procedure's step 2 is `kubectl label namespace NS istio-injection- istio.io/rev=REV
--overwrite`: one merge patch per namespace that sets the revision label and removes the legacy
one, because `istio-injection` beats `istio.io/rev` (istio-discovery mutatingwebhook.yaml).
"""

from __future__ import annotations

import re

from ansible_collections.servicemesh.asm.plugins.module_utils.client import KubeError, api_path
from ansible_collections.servicemesh.asm.plugins.module_utils.errors import AsmError
from ansible_collections.servicemesh.asm.plugins.module_utils.webhooks import (
    INJECTION_LABEL, REV_LABEL, check_inject, injector_webhooks, is_injector_configuration)

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
INJECTION_KEYS = (INJECTION_LABEL, REV_LABEL)
AMBIENT_LABEL = "istio.io/dataplane-mode"
# Kubernetes' own and GKE/Anthos-managed namespaces: never labelled unless named explicitly.
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "asm-system", "gke-connect",
                     "config-management-system", "config-management-monitoring", "gatekeeper-system",
                     "cnrm-system", "resource-group-system")
SYSTEM_PREFIXES = ("gke-", "gmp-", "anthos-")


class SelectionError(AsmError):
    """Bad or empty selection; the message names the input and what would be valid."""


def invalid_names(names):
    return [n for n in names or [] if not isinstance(n, str) or len(n) > 63 or not NAME_RE.match(n)]


def check_names(option, names):
    bad = invalid_names(names)
    if bad:
        raise SelectionError(
            "%s contains invalid namespace names: %s. A namespace name is an RFC 1123 label: at most 63 lower-case "
            "letters, digits or '-', starting and ending with a letter or digit." % (option, ", ".join(map(repr, bad))))


def is_system(name, istio_namespace):
    return name in SYSTEM_NAMESPACES or name == istio_namespace or name.startswith(SYSTEM_PREFIXES)


def select(existing, named, selector_matches, exclude, istio_namespace):
    """Which namespaces to act on.

    existing: {name: {labels, phase}}; named: explicitly listed names; selector_matches: names
    the label selector matched (None without a selector). Returns (selected, skipped, missing):
    explicit names always count (system ones too); selector matches skip system namespaces."""
    exclude = set(exclude or [])
    missing = [n for n in named or [] if n not in existing]
    selected, skipped, seen = [], [], set()
    candidates = [(n, True) for n in named or []] + [(n, False) for n in sorted(selector_matches or [])]
    for name, explicit in candidates:
        if name in seen or name not in existing:
            continue
        seen.add(name)
        if name in exclude:
            skipped.append({"name": name, "reason": "excluded"})
        elif not explicit and is_system(name, istio_namespace):
            skipped.append({"name": name, "reason": "system namespace (name it in namespaces to include it)"})
        elif existing[name].get("phase") == "Terminating":
            skipped.append({"name": name, "reason": "namespace is terminating"})
        else:
            selected.append(name)
    return selected, skipped, missing


def injection_labels(labels):
    return {k: v for k, v in (labels or {}).items() if k in INJECTION_KEYS}


def desired_labels(labels, state, revision, previous=None):
    """The namespace's injection labels after the change (restore: what `previous` says)."""
    if state == "present":
        return {REV_LABEL: revision}
    if state == "restore":
        return injection_labels(previous)
    return {}


def merge_patch(before, after):
    """A JSON merge patch turning the injection labels `before` into `after` (null removes)."""
    changes = {k: None for k in before if k not in after}
    changes.update({k: v for k, v in after.items() if before.get(k) != v})
    return {"metadata": {"labels": changes}} if changes else None


def _namespace_record(ns):
    meta = ns["metadata"]
    return {"labels": meta.get("labels") or {}, "phase": (ns.get("status") or {}).get("phase", "Active")}


def selection_params(params):
    """(named, selector, exclude) of a module's selection options, validated."""
    named, selector = params.get("namespaces") or [], params.get("namespace_selector")
    exclude = params.get("exclude") or []
    check_names("namespaces", named)
    check_names("exclude", exclude)
    if not named and not selector:
        raise SelectionError("No namespaces selected: give namespaces (a list of names) and/or namespace_selector (a "
                             "label selector such as 'env=prod' or 'team in (a,b)').")
    return named, selector, exclude


def selector_matches(client, selector):
    """Names of the namespaces the label selector matches (the API server evaluates it), or None."""
    if not selector:
        return None
    try:
        return [ns["metadata"]["name"] for ns in client.list(
            api_path("v1", "namespaces"), label_selector=selector, action="list namespaces matching %r" % selector)]
    except KubeError as exc:
        if exc.status == 400:
            raise SelectionError("namespace_selector %r is not a valid label selector (%s). Valid forms: "
                                 "'key=value', 'key!=value', 'key in (a,b)', 'key notin (a)', 'key', '!key', "
                                 "comma-separated." % (selector, exc.body.get("message", exc))) from None
        raise


def _existing(client, named, selector):
    """({name: record} of the named namespaces that exist and the selector's matches, the matched names or None).

    Named namespaces are read one by one (get, allowed to a namespace admin by a RoleBinding in that
    namespace); only a label selector needs to list namespaces cluster-wide."""
    existing, matched = {}, None
    if selector:
        try:
            items = client.list(api_path("v1", "namespaces"), label_selector=selector,
                                action="list namespaces matching %r (cluster scope)" % selector)
        except KubeError as exc:
            if exc.status == 400:
                raise SelectionError("namespace_selector %r is not a valid label selector (%s). Valid forms: "
                                     "'key=value', 'key!=value', 'key in (a,b)', 'key notin (a)', 'key', '!key', "
                                     "comma-separated." % (selector, exc.body.get("message", exc))) from None
            if exc.status == 403:
                raise SelectionError("namespace_selector needs list on namespaces at the cluster scope, which these "
                                     "credentials lack (%s). Name the namespaces in namespaces instead: each is then "
                                     "read by name (get on namespaces, which a RoleBinding in that namespace can "
                                     "grant)." % exc) from None
            raise
        matched = [ns["metadata"]["name"] for ns in items]
        existing.update((ns["metadata"]["name"], _namespace_record(ns)) for ns in items)
    for name in named or []:
        if name in existing:
            continue
        try:
            ns = client.get(api_path("v1", "namespaces", name=name), action="get namespace %r" % name,
                            missing_ok=True)
        except KubeError as exc:
            if exc.status != 403:
                raise
            # Roles granting list but not get on namespaces (docs/rbac.yaml's operator role): list once instead.
            try:
                listed = client.list(api_path("v1", "namespaces"), action="list namespaces (cluster scope)")
            except KubeError:
                raise exc from None
            everything = dict((n["metadata"]["name"], _namespace_record(n)) for n in listed)
            existing.update((n, everything[n]) for n in named if n in everything and n not in existing)
            break
        if ns is not None:
            existing[name] = _namespace_record(ns)
    return existing, matched


def nothing_selected(skipped, matched, selector):
    matched_text = "" if matched is None else " Matched by namespace_selector %r: %s." % (
        selector, ", ".join(sorted(matched)) or "no namespace")
    return SelectionError("No namespaces selected after exclusions: %s.%s" % (
        "; ".join("%s (%s)" % (s["name"], s["reason"]) for s in skipped) or "nothing matched", matched_text))


def run(client, params, check_mode=False, want_diff=False):
    """asm_namespace_inject: returns the module result (raises SelectionError/KubeError)."""
    state, revision, istio_ns = params["state"], params.get("revision"), params["istio_namespace"]
    named, selector, exclude = selection_params(params)
    if state == "present" and not revision:
        raise SelectionError("state=present needs revision: the istio.io/rev value to set (a revision such as "
                             "asm-173-3 or a revision tag); asm_revision_info finds it.")
    previous = params.get("previous_labels") or {}
    if state == "restore" and not previous:
        raise SelectionError("state=restore needs previous_labels: a dictionary namespace -> its injection labels, "
                             "as namespaces[].previous_labels of an earlier run returned them.")
    namespaces_path = api_path("v1", "namespaces")
    warnings = []
    existing, matched = _existing(client, named, selector)
    selected, skipped, missing = select(existing, named, matched, exclude, istio_ns)
    created = []
    if missing:
        if not params.get("create"):
            raise SelectionError("Namespaces that do not exist: %s. Create them first, fix the names, or set create: "
                                 "true." % ", ".join(missing))
        for name in missing:
            if name in set(exclude or []):
                continue
            existing[name] = {"labels": {}, "phase": "Active", "missing": True}
            selected.append(name)
            created.append(name)
    if not selected:
        raise nothing_selected(skipped, matched, selector)
    if state == "restore":
        unknown = [n for n in selected if n not in previous]
        if unknown:
            raise SelectionError("previous_labels has no entry for %s: give every selected namespace its labels to "
                                 "restore ({} for none)." % ", ".join(unknown))

    webhooks = []
    tags = {}
    unverified = False
    if state == "present":
        try:
            mwcs = client.list(api_path("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations"),
                               action="list mutatingwebhookconfigurations (cluster scope)")
        except KubeError as exc:
            if exc.status != 403:
                raise
            # A namespace admin (RoleBindings only) may not read the cluster-scoped injector webhooks.
            unverified = True
            mwcs = []
            warnings.append("Could not read the injector webhooks (403 on list mutatingwebhookconfigurations): "
                            "revision %r and whether it would inject were not verified. Grant list on "
                            "mutatingwebhookconfigurations to have them checked." % revision)
        webhooks = injector_webhooks([m for m in mwcs if is_injector_configuration(m)])
        tags = dict((w["tag"], w["revision"]) for w in webhooks if w["tag"])
        known = sorted({w["revision"] for w in webhooks if not w["deactivated"]} | set(tags))
        if revision not in known and not unverified:
            message = ("Revision %r is unknown to the cluster: no active injector webhook serves it, so pods in the "
                       "labelled namespaces would silently come up without a sidecar. Known revisions and tags: %s."
                       % (revision, ", ".join(known) or "none"))
            if not params.get("force"):
                raise SelectionError(message + " Set force: true to label anyway.")
            warnings.append(message)

    # Plan everything first: a refusal must leave every namespace untouched.
    results, diffs, not_injected, patches = [], [], [], {}
    for name in selected:
        labels = existing[name]["labels"]
        before = injection_labels(labels)
        record = {"name": name, "previous_labels": before, "labels": before, "changed": False, "skipped": False}
        results.append(record)
        if labels.get(AMBIENT_LABEL) == "ambient":
            record.update(skipped=True, reason="ambient namespace (istio.io/dataplane-mode=ambient): no sidecars")
            warnings.append("Namespace %s is in ambient mode (istio.io/dataplane-mode=ambient); skipped." % name)
            continue
        if INJECTION_LABEL in before and REV_LABEL in before:
            warnings.append("Namespace %s carried both istio-injection=%s and istio.io/rev=%s: istio-injection wins, "
                            "so istio.io/rev was ignored." % (name, before[INJECTION_LABEL], before[REV_LABEL]))
        after = desired_labels(labels, state, revision, previous.get(name))
        record["labels"] = after
        if state == "present" and not unverified:
            new_labels = dict((k, v) for k, v in labels.items() if k not in INJECTION_KEYS)
            new_labels.update(after)
            injected_by, _matched, reason = check_inject(webhooks, name, new_labels)
            record["injection"] = {"revision": injected_by, "reason": reason}
            if injected_by != tags.get(revision, revision):
                not_injected.append("%s: %s" % (name, reason))
        patch = merge_patch(before, after)
        if patch or name in created:
            record["changed"] = True
            patches[name] = patch
            if want_diff:
                header = "namespace/%s labels" % name
                diffs.append({"before_header": header, "after_header": header, "before": before, "after": after})
    if not_injected:
        message = "After labelling, no injector webhook would inject revision %s into: %s." % (
            revision, "; ".join(not_injected))
        if not params.get("force"):
            raise SelectionError(message + " Nothing was changed. Fix the revision or the labels, or set force: true.")
        warnings.append(message)
    # Check mode sends the same writes as server-side dry runs (like kubernetes.core's dry_run: All), so RBAC
    # and admission refusals show up in --check; the API server stores nothing.
    query = {"dryRun": "All"} if check_mode else None
    for name, patch in patches.items():
        if name in created:
            client.request("POST", namespaces_path, query=query, body={
                "apiVersion": "v1", "kind": "Namespace", "metadata": {
                    "name": name, "labels": desired_labels({}, state, revision, previous.get(name))}},
                action="create namespace %s%s" % (name, " (dry run)" if check_mode else ""))
        else:
            client.request("PATCH", api_path("v1", "namespaces", name=name), query=query, body=patch,
                           content_type="application/merge-patch+json",
                           action="patch namespaces %r (cluster scope%s)" % (name, ", dry run" if check_mode else ""))
    # Not "skipped": Ansible would read a truthy top-level `skipped` as the task being skipped.
    result = {"changed": any(r["changed"] for r in results), "namespaces": results, "not_selected": skipped,
              "created": created, "state": state, "revision": revision if state == "present" else None,
              "warnings": warnings}
    if want_diff:
        result["diff"] = diffs
    return result

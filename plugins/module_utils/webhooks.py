# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Istio's injector webhooks as data, and the question `istioctl x check-inject` answers:
which webhook (and so which revision) injects a pod with these labels in a namespace with those.

Facts (istio/istio manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml,
istioctl/pkg/tag): injector MutatingWebhookConfigurations carry the label `istio.io/rev`
(revision tags also `istio.io/tag`); their webhooks end in `sidecar-injector.istio.io`; a
deactivated webhook's selectors contain `istio.io/deactivated`. The API server calls every
webhook whose namespaceSelector and objectSelector match (a missing selector matches all).
"""

from __future__ import annotations

INJECTOR_SUFFIX = "sidecar-injector.istio.io"
REV_LABEL = "istio.io/rev"
TAG_LABEL = "istio.io/tag"
INJECTION_LABEL = "istio-injection"
INJECT_LABEL = "sidecar.istio.io/inject"
# The injector skips these whatever their labels (istio/istio pkg/kube/inject/initializer.go IgnoredNamespaces).
IGNORED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "local-path-storage")


def requirement_matches(requirement, labels):
    key, operator = requirement.get("key"), requirement.get("operator")
    values = requirement.get("values") or []
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    return False


def selector_matches(selector, labels):
    """metav1.LabelSelector semantics; for admission webhooks a missing selector matches all."""
    if not selector:
        return True
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(requirement_matches(r, labels) for r in selector.get("matchExpressions") or [])


def _selector_keys(selector):
    selector = selector or {}
    return set(selector.get("matchLabels") or {}) | {e.get("key") for e in selector.get("matchExpressions") or []}


def injector_webhooks(mwcs):
    """Compact records of every Istio injector webhook, in the order the API server calls them."""
    out = []
    for mwc in sorted(mwcs, key=lambda m: m["metadata"]["name"]):
        labels = mwc["metadata"].get("labels") or {}
        for hook in mwc.get("webhooks") or []:
            if not hook.get("name", "").endswith(INJECTOR_SUFFIX):
                continue
            client = hook.get("clientConfig") or {}
            service = client.get("service") or {}
            out.append({
                "configuration": mwc["metadata"]["name"],
                "name": hook["name"],
                "revision": labels.get(REV_LABEL) or "default",
                "tag": labels.get(TAG_LABEL),
                "namespace_selector": hook.get("namespaceSelector"),
                "object_selector": hook.get("objectSelector"),
                "failure_policy": hook.get("failurePolicy", "Fail"),
                "deactivated": "istio.io/deactivated" in (_selector_keys(hook.get("namespaceSelector"))
                                                          | _selector_keys(hook.get("objectSelector"))),
                "endpoint": client.get("url") or ("%s.%s" % (service.get("name"), service.get("namespace"))
                                                  if service else None),
            })
    return out


def is_injector_configuration(mwc):
    labels = mwc["metadata"].get("labels") or {}
    return REV_LABEL in labels or any(h.get("name", "").endswith(INJECTOR_SUFFIX) for h in mwc.get("webhooks") or [])


def check_inject(webhooks, namespace_name, namespace_labels, pod_labels=None):
    """(revision or None, matching webhooks, reason) for a pod created in that namespace.

    The API server adds `kubernetes.io/metadata.name` to every namespace's labels; Istio's
    injector also never injects into IGNORED_NAMESPACES (inject.go injectRequired)."""
    ns_labels = dict(namespace_labels or {})
    ns_labels.setdefault("kubernetes.io/metadata.name", namespace_name)
    pod_labels = pod_labels or {}
    matched = [w for w in webhooks if selector_matches(w["namespace_selector"], ns_labels)
               and selector_matches(w["object_selector"], pod_labels)]
    if namespace_name in IGNORED_NAMESPACES:
        return None, matched, "Istio never injects into %s" % namespace_name
    if not matched:
        return None, [], no_match_reason(webhooks, ns_labels, pod_labels)
    # Each matching injector re-injects in turn (webhook.go), so the last one called wins.
    effective = matched[-1]
    reason = "webhook %s/%s (revision %s%s)" % (effective["configuration"], effective["name"], effective["revision"],
                                                ", tag %s" % effective["tag"] if effective["tag"] else "")
    if len(matched) > 1:
        reason += "; %d injector webhooks match, which is a misconfiguration" % len(matched)
    return effective["revision"], matched, reason


def no_match_reason(webhooks, ns_labels, pod_labels=None):
    injection, rev = ns_labels.get(INJECTION_LABEL), ns_labels.get(REV_LABEL)
    pod_labels = pod_labels or {}
    active = [w for w in webhooks if not w["deactivated"]]
    if not webhooks:
        return "there are no Istio injector webhooks in the cluster"
    if pod_labels.get(INJECT_LABEL) == "false":
        opted_in = dict((k, v) for k, v in pod_labels.items() if k != INJECT_LABEL)
        if any(selector_matches(w["namespace_selector"], ns_labels) and selector_matches(w["object_selector"], opted_in)
               for w in webhooks):
            return "the pod opts out with the label %s=false" % INJECT_LABEL
    if injection == "enabled":
        if rev:
            return ("istio-injection=enabled overrides istio.io/rev=%s and no default revision serves it: remove "
                    "the istio-injection label" % rev)
        return "istio-injection=enabled but there is no default revision (no `default` tag or unrevisioned install)"
    if injection is not None:
        return "istio-injection=%s disables injection and cannot be overridden" % injection
    if rev:
        known = sorted({w["tag"] or w["revision"] for w in active})
        return "no active injector serves istio.io/rev=%s (known revisions and tags: %s)" % (
            rev, ", ".join(known) or "none")
    if pod_labels.get(REV_LABEL):
        known = sorted({w["tag"] or w["revision"] for w in active})
        return ("the namespace has neither istio.io/rev nor istio-injection, and no active injector serves the pod "
                "label istio.io/rev=%s (known revisions and tags: %s)" % (
                    pod_labels[REV_LABEL], ", ".join(known) or "none"))
    return "the namespace has neither istio.io/rev nor istio-injection"


def with_planned_tags(webhooks, planned_tags):
    """The injector webhooks as if each tag in planned_tags pointed at its revision (check mode of a tag move):
    a moved tag keeps its selectors and changes the revision it calls."""
    planned_tags = planned_tags or {}
    return [dict(hook, revision=planned_tags[hook["tag"]]) if hook.get("tag") in planned_tags else hook
            for hook in webhooks]

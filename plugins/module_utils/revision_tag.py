# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Revision tags (asm_revision_tag): create, move and remove `istio-revision-tag-<tag>` the way
`istioctl tag set` / `istioctl tag remove` do.

Read from istio/istio (the real control plane's version, eed52ebb66ad, VERSION 1.31):
- istioctl/pkg/tag/generate.go Generate: the tag webhook is rendered from the target revision's own
  ("canonical") injector MutatingWebhookConfiguration, the one labelled `istio.io/rev=<rev>` without
  `istio.io/tag` (util.go GetWebhooksWithRevision; exactly one, else an error). From its first
  `*sidecar-injector.istio.io` webhook it takes the caBundle, the URL or the Service name and path and
  the reinvocationPolicy; its labels minus `app`, and its annotations
  (tagWebhookConfigFromCanonicalWebhook). The rest is the chart's template
  manifests/charts/istio-control/istio-discovery/templates/revision-tags-mwc.yaml: webhooks
  `rev.namespace.` and `rev.object.` keyed on the tag, plus `namespace.` and `object.` for the tag
  `default`, each with `failurePolicy: Fail`, `sideEffects: None`, rules pods CREATE. Labels whose key
  contains `operator.istio.io` are dropped (generateLabels with UserManaged, as `tag set` sets it).
- generate.go checkTagNameCollidesWithRevisionName: a tag may not be named like an existing revision
  (but `default` may); generateTagService + templates/revision-tags-svc.yaml: since Istio 1.28 a Service
  `istiod-revision-tag-<tag>` labelled `istio.io/tag`/`istio.io/rev` stores the mapping too (istiod's
  pkg/revisions/tag_watcher.go reads both); tag.go setTag applies them all.
- For the tag `default`, Generate first deactivates the unrevisioned injector's webhooks
  (util.go DeactivateIstioInjectionWebhook: selectors set to istioctl/pkg/util NeverMatch).
- tag.go removeTag: deletes the MutatingWebhookConfigurations and Services labelled `istio.io/tag=<tag>`
  and warns about namespaces labelled `istio.io/rev=<tag>` (GetNamespacesWithTag).
The API server's defaults (admissionregistration/v1 defaults.go: matchPolicy Equivalent, timeoutSeconds
10, rule scope `*`, service port 443; core/v1 Service defaults) are ignored when comparing.
"""

from __future__ import annotations

import copy
import re
from urllib.parse import urlsplit, urlunsplit

from ansible_collections.servicemesh.asm.plugins.module_utils.client import KubeError, api_path
from ansible_collections.servicemesh.asm.plugins.module_utils.errors import AsmError
from ansible_collections.servicemesh.asm.plugins.module_utils.revisions import (
    build_revisions, fetch_inventory, list_revision_services, version_key)
from ansible_collections.servicemesh.asm.plugins.module_utils.webhooks import (
    INJECT_LABEL, INJECTION_LABEL, INJECTOR_SUFFIX, REV_LABEL, TAG_LABEL)

MWC_API = "admissionregistration.k8s.io/v1"
MWC_PLURAL = "mutatingwebhookconfigurations"
DEFAULT_TAG = "default"
DEACTIVATED_KEY = "istio.io/deactivated"
NEVER_MATCH = {"matchLabels": {DEACTIVATED_KEY: "never-match"}}  # istioctl/pkg/util/common.go NeverMatch
# The first Istio minor whose `tag set` writes a tag Service (release note revision-tags-as-svc).
SERVICE_SINCE = (1, 28)
SERVICE_CHOICES = ("auto", "always", "never")
# A tag is a label value and part of two names: istio-revision-tag-<tag> and the Service
# istiod-revision-tag-<tag>, a DNS-1035 label of at most 63 characters.
_TAG_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_TAG = 63 - len("istiod-revision-tag-")
# Chart labels every rendered tag object has (revision-tags-*.yaml, zzz_profile.yaml istio.labels with
# istioctl's release "istio": operator/pkg/render/manifest.go), unless the canonical webhook says otherwise.
_CHART_LABELS = {"release": "istio", "app.kubernetes.io/name": "istiod", "app.kubernetes.io/part-of": "istio",
                 "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": "istio"}
# Chart-version labels: only known from the installed objects.
_VERSION_LABELS = ("app.kubernetes.io/version", "helm.sh/chart")
_POD_CREATE_RULES = [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]


class TagError(AsmError):
    """A tag change that was refused; the message names the input and what would be valid."""


def _expr(key, operator, *values):
    out = {"key": key, "operator": operator}
    if values:
        out["values"] = list(values)
    return out


def validate_tag(tag):
    """The tag's own syntax; None when fine, else the reason."""
    if not tag or not _TAG_RE.match(tag):
        return ("tag %r is not valid: use lowercase letters, digits and '-', starting and ending with a letter or "
                "digit (it becomes part of the names istio-revision-tag-<tag> and istiod-revision-tag-<tag>)" % tag)
    if len(tag) > MAX_TAG:
        return "tag %r is too long: at most %d characters (istiod-revision-tag-<tag> must fit 63)" % (tag, MAX_TAG)
    return None


def webhook_name(tag, istio_namespace):
    """revision-tags-mwc.yaml: istio-revision-tag-<tag>, with -<namespace> outside istio-system."""
    return "istio-revision-tag-%s" % tag + ("" if istio_namespace == "istio-system" else "-%s" % istio_namespace)


def service_name(tag):
    return "istiod-revision-tag-%s" % tag


def _labels(obj):
    return (obj.get("metadata") or {}).get("labels") or {}


def canonical_webhooks(mwcs, revision):
    """The revision's own injector configurations: istio.io/rev=<revision> and no istio.io/tag."""
    return [m for m in mwcs if _labels(m).get(REV_LABEL) == revision and TAG_LABEL not in _labels(m)]


def tag_objects(objects, tag):
    """The objects labelled istio.io/tag=<tag> (MutatingWebhookConfigurations or Services)."""
    return [o for o in objects if _labels(o).get(TAG_LABEL) == tag]


def _keep_label(key):
    return "operator.istio.io" not in key  # generate.go generateLabels, UserManaged


def desired_webhook(canonical, tag, istio_namespace):
    """The tag's MutatingWebhookConfiguration as `istioctl tag set <tag> --revision <rev>` renders it from
    the revision's canonical configuration (generate.go tagWebhookConfigFromCanonicalWebhook +
    generateMutatingWebhook over revision-tags-mwc.yaml)."""
    meta = canonical.get("metadata") or {}
    revision = _labels(canonical)[REV_LABEL]
    source = next((w for w in canonical.get("webhooks") or [] if w.get("name", "").endswith(INJECTOR_SUFFIX)), None)
    if source is None:
        raise TagError("The injector configuration %s of revision %s has no *.%s webhook to copy; istioctl refuses "
                       "this too. Reinstall the revision's injector." % (meta.get("name"), revision, INJECTOR_SUFFIX))
    client = source.get("clientConfig") or {}
    config = {}
    if client.get("url"):
        config["url"] = client["url"]
    else:
        service = client.get("service") or {}
        rendered = {"name": service.get("name") or ("istiod" if revision == DEFAULT_TAG else "istiod-%s" % revision),
                    "namespace": istio_namespace, "port": 443}
        if service.get("path") is not None:
            rendered["path"] = service["path"]
        config["service"] = rendered
    if client.get("caBundle"):
        config["caBundle"] = client["caBundle"]
    reinvocation = source.get("reinvocationPolicy") or "Never"

    def hook(prefix, namespace_selector, object_selector):
        return {"name": prefix + INJECTOR_SUFFIX, "clientConfig": copy.deepcopy(config), "sideEffects": "None",
                "rules": copy.deepcopy(_POD_CREATE_RULES), "failurePolicy": "Fail",
                "reinvocationPolicy": reinvocation, "admissionReviewVersions": ["v1"],
                "namespaceSelector": {"matchExpressions": namespace_selector},
                "objectSelector": {"matchExpressions": object_selector}}

    not_false = _expr(INJECT_LABEL, "NotIn", "false")
    hooks = [
        hook("rev.namespace.", [_expr(REV_LABEL, "In", tag), _expr(INJECTION_LABEL, "DoesNotExist")], [not_false]),
        hook("rev.object.", [_expr(REV_LABEL, "DoesNotExist"), _expr(INJECTION_LABEL, "DoesNotExist")],
             [not_false, _expr(REV_LABEL, "In", tag)]),
    ]
    if tag == DEFAULT_TAG:
        hooks += [
            hook("namespace.", [_expr(INJECTION_LABEL, "In", "enabled")], [not_false]),
            hook("object.", [_expr(INJECTION_LABEL, "DoesNotExist"), _expr(REV_LABEL, "DoesNotExist")],
                 [_expr(INJECT_LABEL, "In", "true"), _expr(REV_LABEL, "DoesNotExist")]),
        ]
    labels = dict(_CHART_LABELS)
    labels.update((k, v) for k, v in _labels(canonical).items() if k != "app")
    labels.update({TAG_LABEL: tag, REV_LABEL: revision, "app": "sidecar-injector"})
    labels = dict((k, v) for k, v in sorted(labels.items()) if _keep_label(k))
    metadata = {"name": webhook_name(tag, istio_namespace), "labels": labels}
    if meta.get("annotations"):
        metadata["annotations"] = dict(meta["annotations"])
    return {"apiVersion": MWC_API, "kind": "MutatingWebhookConfiguration", "metadata": metadata, "webhooks": hooks}


VWC_PLURAL = "validatingwebhookconfigurations"
DEFAULT_VALIDATOR = "istiod-default-validator"


def _url_path(url, path):
    """net/url Parse + Path = path + String, as generate.go fixWhConfig does to the injection URL."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def desired_validator(canonical, istio_namespace, existing=None):
    """The default revision's ValidatingWebhookConfiguration `istio-default-validator` that `istioctl tag set
    default` writes (generate.go generateValidatingWebhook over manifests/charts/default/templates/
    validatingwebhook.yaml, endpoint from the injector's (fixWhConfig), failurePolicy kept from the existing
    one unless that is Fail)."""
    revision = _labels(canonical)[REV_LABEL]
    source = next((w for w in canonical.get("webhooks") or [] if w.get("name", "").endswith(INJECTOR_SUFFIX)), {})
    client = source.get("clientConfig") or {}
    if client.get("url"):
        config = {"url": _url_path(client["url"], "/validate")}
    else:
        config = {"service": {"name": "istiod" if revision == DEFAULT_TAG else "istiod-%s" % revision,
                              "namespace": istio_namespace, "path": "/validate"}}
    if client.get("caBundle"):
        config["caBundle"] = client["caBundle"]
    hook = {"name": "validation.istio.io", "clientConfig": config,
            "rules": [{"operations": ["CREATE", "UPDATE"],
                       "apiGroups": ["security.istio.io", "networking.istio.io", "telemetry.istio.io",
                                     "extensions.istio.io"], "apiVersions": ["*"], "resources": ["*"]}],
            "failurePolicy": "Ignore", "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "objectSelector": {"matchExpressions": [_expr(REV_LABEL, "DoesNotExist")]}}
    for old in (existing or {}).get("webhooks") or []:
        if old.get("name") == hook["name"]:
            if old.get("failurePolicy") in (None, "Fail"):
                hook.pop("failurePolicy")  # the API server defaults it to Fail
            else:
                hook["failurePolicy"] = old["failurePolicy"]
    labels = dict(_CHART_LABELS)
    labels.pop("release")
    labels.update({"app": "istiod", "istio": "istiod", REV_LABEL: revision, TAG_LABEL: DEFAULT_TAG})
    labels.update((k, v) for k, v in _labels(canonical).items() if k != "app")
    metadata = {"name": DEFAULT_VALIDATOR,
                "labels": dict((k, v) for k, v in sorted(labels.items()) if _keep_label(k))}
    if (canonical.get("metadata") or {}).get("annotations"):
        metadata["annotations"] = dict(canonical["metadata"]["annotations"])
    return {"apiVersion": MWC_API, "kind": "ValidatingWebhookConfiguration", "metadata": metadata, "webhooks": [hook]}


def validator_differs(current, desired):
    if current is None:
        return True
    if _labels_missing(current, desired):
        return True

    def view(hook):
        client = dict(hook.get("clientConfig") or {})
        client.pop("caBundle", None)  # istiod's validation controller patches it
        if client.get("service"):
            client["service"] = dict(client["service"], port=client["service"].get("port") or 443)
        return {"name": hook.get("name"), "clientConfig": client, "failurePolicy": hook.get("failurePolicy") or "Fail",
                "rules": [dict(r, scope=r.get("scope") or "*") for r in hook.get("rules") or []],
                "objectSelector": hook.get("objectSelector") or {}, "sideEffects": hook.get("sideEffects")}

    return [view(h) for h in current.get("webhooks") or []] != [view(h) for h in desired["webhooks"]]


def desired_service(revision, tag, istio_namespace, canonical_service=None):
    """The tag Service of revision-tags-svc.yaml (generate.go generateTagService). Its chart-version labels
    are those of the revision's own istiod Service when it has them."""
    labels = dict(_CHART_LABELS)
    labels.update({REV_LABEL: revision, TAG_LABEL: tag, "app": "istiod", "istio": "pilot"})
    for key in _VERSION_LABELS:
        if key in _labels(canonical_service or {}):
            labels[key] = _labels(canonical_service)[key]
    selector = {"app": "istiod"}
    selector.update({"istio": "pilot"} if revision == DEFAULT_TAG else {REV_LABEL: revision})
    ports = [{"port": 15010, "name": "grpc-xds", "protocol": "TCP"},
             {"port": 15012, "name": "https-dns", "protocol": "TCP"},
             {"port": 443, "name": "https-webhook", "targetPort": 15017, "protocol": "TCP"},
             {"port": 15014, "name": "http-monitoring", "protocol": "TCP"}]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": service_name(tag), "namespace": istio_namespace,
                         "labels": dict((k, v) for k, v in sorted(labels.items()) if _keep_label(k))},
            "spec": {"ports": ports, "selector": selector}}


# --------------------------------------------------------------------------- comparison


def _hook_view(hook):
    """The fields of one webhook that decide what it does, with the API server's defaults applied
    (admissionregistration/v1 defaults.go). caBundle is left out: istiod keeps it current itself
    (pkg/webhooks/webhookpatch.go patches every configuration labelled with its revision)."""
    client = dict(hook.get("clientConfig") or {})
    client.pop("caBundle", None)
    if client.get("service"):
        client["service"] = dict(client["service"])
        client["service"].setdefault("port", 443)
    rules = [dict(r, scope=r.get("scope") or "*") for r in hook.get("rules") or []]
    return {"name": hook.get("name"), "clientConfig": client, "rules": rules,
            "failurePolicy": hook.get("failurePolicy") or "Fail", "sideEffects": hook.get("sideEffects"),
            "reinvocationPolicy": hook.get("reinvocationPolicy") or "Never",
            "matchPolicy": hook.get("matchPolicy") or "Equivalent",
            "timeoutSeconds": hook.get("timeoutSeconds") or 10,
            "admissionReviewVersions": hook.get("admissionReviewVersions"),
            "namespaceSelector": hook.get("namespaceSelector") or {},
            "objectSelector": hook.get("objectSelector") or {}}


def _labels_missing(current, desired):
    have = _labels(current)
    return dict((k, v) for k, v in _labels(desired).items() if have.get(k) != v)


def webhook_differs(current, desired):
    """Whether the stored tag configuration must be rewritten to be `desired`."""
    if current is None:
        return True
    if _labels_missing(current, desired):
        return True
    return [_hook_view(h) for h in current.get("webhooks") or []] != [_hook_view(h) for h in desired["webhooks"]]


def _port_view(port):
    return (port.get("name"), port.get("port"), port.get("protocol") or "TCP",
            port.get("targetPort") or port.get("port"))


def service_differs(current, desired):
    if current is None:
        return True
    if _labels_missing(current, desired):
        return True
    spec = current.get("spec") or {}
    return (spec.get("selector") != desired["spec"]["selector"]
            or [_port_view(p) for p in spec.get("ports") or []] != [_port_view(p) for p in desired["spec"]["ports"]])


def selectors_view(mwc):
    """What the diff shows of a configuration: its revision and each webhook's selectors."""
    if mwc is None:
        return None
    return {"name": mwc["metadata"]["name"], "revision": _labels(mwc).get(REV_LABEL),
            "webhooks": dict((h.get("name"), {"namespaceSelector": h.get("namespaceSelector"),
                                              "objectSelector": h.get("objectSelector")})
                             for h in mwc.get("webhooks") or [])}


def deactivated(mwc):
    """A copy with every webhook's selectors set to NeverMatch (util.go DeactivateIstioInjectionWebhook)."""
    new = copy.deepcopy(mwc)
    for hook in new.get("webhooks") or []:
        hook["namespaceSelector"] = copy.deepcopy(NEVER_MATCH)
        hook["objectSelector"] = copy.deepcopy(NEVER_MATCH)
    return new


def is_deactivated(mwc):
    return all(h.get("namespaceSelector") == NEVER_MATCH and h.get("objectSelector") == NEVER_MATCH
               for h in mwc.get("webhooks") or [])


# --------------------------------------------------------------------------- who uses a tag


def namespaces_using(tag, namespaces):
    """Namespaces whose new pods the tag injects: istio.io/rev=<tag> (util.go GetNamespacesWithTag), and
    for `default` also istio-injection=enabled (the namespace. webhook)."""
    out = []
    for ns in namespaces:
        labels = ns["labels"]
        if labels.get(REV_LABEL) == tag or (tag == DEFAULT_TAG and labels.get(INJECTION_LABEL) == "enabled"):
            out.append(ns["name"])
    return sorted(out)


def pods_using(tag, pods, namespace_labels):
    """Pods that select the tag themselves (label istio.io/rev=<tag>, the rev.object. webhook; for `default`
    also sidecar.istio.io/inject=true in a namespace with neither injection label, the object. webhook)."""
    out = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        ns_labels = namespace_labels.get(meta.get("namespace")) or {}
        if labels.get(REV_LABEL) == tag:
            out.append("%s/%s" % (meta.get("namespace"), meta.get("name")))
        elif (tag == DEFAULT_TAG and labels.get(INJECT_LABEL) == "true" and REV_LABEL not in labels
              and REV_LABEL not in ns_labels and INJECTION_LABEL not in ns_labels):
            out.append("%s/%s" % (meta.get("namespace"), meta.get("name")))
    return sorted(out)


def wants_service(mode, revision_version, existing_tag_services, existing_service):
    """Whether the tag gets a Service: always/never as asked; auto follows the cluster's Istio: yes when the
    tag already has one, when tag Services exist in the cluster (its tooling writes them), or when the
    target revision's istiod is 1.28 or newer."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    if existing_service is not None or existing_tag_services:
        return True
    key = version_key(revision_version)
    return bool(key and key[:2] >= SERVICE_SINCE)


def _revision_listing(revisions, tags):
    names = [r["name"] for r in revisions]
    return "%s (tags: %s)" % (", ".join(names) or "none",
                              ", ".join("%s -> %s" % kv for kv in sorted(tags.items())) or "none")


def check_revision(revision, tag, revisions, tags, canonical, allow_unready=False):
    """Refusals before anything is written; returns the revision record."""
    by_name = dict((r["name"], r) for r in revisions)
    if revision in tags and revision not in by_name:
        target = tags[revision]
        raise TagError("revision %r is a revision tag (-> %s), not a revision: a tag must point at a revision. Use "
                       "revision: %s. Known revisions: %s." % (revision, target, target,
                                                               _revision_listing(revisions, tags)))
    if not canonical and revision not in by_name:
        raise TagError("revision %r is not known to the cluster. Known revisions: %s." % (
            revision, _revision_listing(revisions, tags)))
    if not canonical:
        raise TagError("revision %r has no injector MutatingWebhookConfiguration of its own (labelled istio.io/rev=%s "
                       "without istio.io/tag), so there is nothing to build tag %s from. Known revisions: %s." % (
                           revision, revision, tag, _revision_listing(revisions, tags)))
    if len(canonical) > 1:
        raise TagError("revision %r has several injector MutatingWebhookConfigurations (%s); istioctl refuses this "
                       "too. Remove the stray ones first." % (
                           revision, ", ".join(sorted(m["metadata"]["name"] for m in canonical))))
    rev = by_name.get(revision)
    if rev is not None and not rev["ready"] and not allow_unready:
        raise TagError("revision %r has no ready control plane (istiod %d/%d ready): pods created in the namespaces "
                       "using tag %s would fail or come up without a sidecar. Start its istiod first, or set "
                       "allow_unready: true." % (revision, rev["istiod"]["ready"], rev["istiod"]["total"], tag))
    return rev


def check_tag_name(tag, revisions, mwcs, services):
    """generate.go checkTagNameCollidesWithRevisionName (`default` is exempt)."""
    if tag == DEFAULT_TAG:
        return
    own = canonical_webhooks(mwcs, tag) + [s for s in services if _labels(s).get(REV_LABEL) == tag
                                           and TAG_LABEL not in _labels(s) and _labels(s).get("app") == "istiod"]
    if own or any(r["name"] == tag and r["istiod"]["total"] for r in revisions):
        raise TagError("cannot create revision tag %r: a control plane revision has that name (as istioctl refuses "
                       "it). Choose another tag name." % tag)


# --------------------------------------------------------------------------- run


def _write(client, method, path, body, check_mode, action, content_type=None):
    query = {"dryRun": "All"} if check_mode else None
    return client.request(method, path, query=query, body=body, content_type=content_type,
                          action=action + (" (dry run)" if check_mode else ""))


def run(client, params, check_mode=False, want_diff=False):
    """asm_revision_tag: make tag `tag` point at `revision` (present) or remove it (absent)."""
    tag, state = params["tag"], params.get("state") or "present"
    istio_namespace = params.get("istio_namespace") or "istio-system"
    problem = validate_tag(tag)
    if problem:
        raise TagError(problem + ".")
    inventory = fetch_inventory(client, istio_namespace)
    revisions, tags, _default = build_revisions(inventory)
    services = list_revision_services(client, istio_namespace)
    mwcs = inventory["mwcs"]
    current = next((m for m in tag_objects(mwcs, tag) if m["metadata"]["name"] == webhook_name(tag, istio_namespace)),
                   None)
    current_service = next((s for s in tag_objects(services, tag) if s["metadata"]["name"] == service_name(tag)), None)
    using = namespaces_using(tag, inventory["namespaces"])
    result = {"changed": False, "tag": tag, "state": state, "webhook": webhook_name(tag, istio_namespace),
              "service": None, "previous_revision": _labels(current).get(REV_LABEL) if current else None,
              "revision": None, "namespaces": using, "pods": [], "actions": [], "warnings": list(inventory["warnings"])}
    if current is None and current_service is not None:
        result["previous_revision"] = _labels(current_service).get(REV_LABEL)
    before = {"webhook": selectors_view(current), "service": current_service["metadata"]["name"]
              if current_service else None}
    if state == "absent":
        after = _remove(client, params, result, inventory, mwcs, services, check_mode)
    else:
        after = _set(client, params, result, revisions, tags, mwcs, services, current, current_service, check_mode)
    result["changed"] = bool(result["actions"])
    if want_diff:
        header = "revision tag %s" % tag
        result["diff"] = {"before_header": header, "after_header": header, "before": before, "after": after}
    return result


def _set(client, params, result, revisions, tags, mwcs, services, current, current_service, check_mode):
    tag, revision = params["tag"], params.get("revision")
    istio_namespace = params.get("istio_namespace") or "istio-system"
    if not revision:
        raise TagError("state: present needs revision: the revision tag %s should point at. Known revisions: %s." % (
            tag, _revision_listing(revisions, tags)))
    check_tag_name(tag, revisions, mwcs, services)
    canonical = canonical_webhooks(mwcs, revision)
    rev = check_revision(revision, tag, revisions, tags, canonical, params.get("allow_unready"))
    desired = desired_webhook(canonical[0], tag, istio_namespace)
    result["revision"] = revision
    path = api_path(MWC_API, MWC_PLURAL)
    if tag == DEFAULT_TAG:  # generate.go Generate: deactivate the unrevisioned injector first
        for legacy in canonical_webhooks(mwcs, DEFAULT_TAG):
            if not is_deactivated(legacy):
                name = legacy["metadata"]["name"]
                _write(client, "PUT", api_path(MWC_API, MWC_PLURAL, name=name), deactivated(legacy), check_mode,
                       "update mutatingwebhookconfigurations %r (cluster scope) to deactivate it" % name)
                result["actions"].append("deactivated mutatingwebhookconfiguration %s" % name)
    if current is None:
        _write(client, "POST", path, desired, check_mode,
               "create mutatingwebhookconfigurations %r (cluster scope)" % desired["metadata"]["name"])
        result["actions"].append("created mutatingwebhookconfiguration %s -> %s" % (
            desired["metadata"]["name"], revision))
    elif webhook_differs(current, desired):
        # A merge patch: labels and annotations merge (others' stay), the webhooks list is replaced whole.
        previous = _labels(current).get(REV_LABEL)
        patch = {"metadata": {"labels": desired["metadata"]["labels"]}, "webhooks": desired["webhooks"]}
        if desired["metadata"].get("annotations"):
            patch["metadata"]["annotations"] = desired["metadata"]["annotations"]
        _write(client, "PATCH", api_path(MWC_API, MWC_PLURAL, name=desired["metadata"]["name"]), patch, check_mode,
               "patch mutatingwebhookconfigurations %r (cluster scope)" % desired["metadata"]["name"],
               content_type="application/merge-patch+json")
        result["actions"].append(("moved mutatingwebhookconfiguration %s from %s to %s" % (
            desired["metadata"]["name"], previous, revision)) if previous != revision else
            "repaired mutatingwebhookconfiguration %s (%s)" % (desired["metadata"]["name"], revision))
    canonical_service = next((s for s in services if _labels(s).get(REV_LABEL) == revision
                              and TAG_LABEL not in _labels(s) and _labels(s).get("app") == "istiod"), None)
    with_service = wants_service(params.get("service") or "auto", (rev or {}).get("version"),
                                 [s for s in services if TAG_LABEL in _labels(s)], current_service)
    if with_service:
        svc = desired_service(revision, tag, istio_namespace, canonical_service)
        result["service"] = svc["metadata"]["name"]
        svc_path = api_path("v1", "services", istio_namespace)
        if current_service is None:
            _write(client, "POST", svc_path, svc, check_mode,
                   "create services %r in namespace %s" % (svc["metadata"]["name"], istio_namespace))
            result["actions"].append("created service %s/%s -> %s" % (
                istio_namespace, svc["metadata"]["name"], revision))
        elif service_differs(current_service, svc):
            selector = dict.fromkeys((current_service.get("spec") or {}).get("selector") or {})  # null removes
            selector.update(svc["spec"]["selector"])
            patch = {"metadata": {"labels": svc["metadata"]["labels"]},
                     "spec": {"selector": selector, "ports": svc["spec"]["ports"]}}
            _write(client, "PATCH", api_path("v1", "services", istio_namespace, svc["metadata"]["name"]), patch,
                   check_mode, "patch services %r in namespace %s" % (svc["metadata"]["name"], istio_namespace),
                   content_type="application/merge-patch+json")
            result["actions"].append("moved service %s/%s to %s" % (istio_namespace, svc["metadata"]["name"],
                                                                    revision))
    elif current_service is not None:
        result["service"] = current_service["metadata"]["name"]
    if tag == DEFAULT_TAG:
        _set_validator(client, result, canonical[0], istio_namespace, check_mode)
    return {"webhook": selectors_view(desired), "service": result["service"]}


def list_validators(client, result, label_selector=None, field_selector=None):
    """ValidatingWebhookConfigurations, or None (with a warning) where the API server does not serve them."""
    try:
        return client.list(api_path(MWC_API, VWC_PLURAL), label_selector=label_selector, field_selector=field_selector,
                           action="list validatingwebhookconfigurations (cluster scope)")
    except KubeError as exc:
        if exc.status != 404:
            raise
        result["warnings"].append("The API server does not serve validatingwebhookconfigurations: the default "
                                  "revision's validator %s was left alone." % DEFAULT_VALIDATOR)
        return None


def _set_validator(client, result, canonical, istio_namespace, check_mode):
    """`istioctl tag set default` also points istiod-default-validator at the revision (generate.go)."""
    found = list_validators(client, result, field_selector="metadata.name=%s" % DEFAULT_VALIDATOR)
    if found is None:
        return
    current = found[0] if found else None
    desired = desired_validator(canonical, istio_namespace, current)
    result["validator"] = DEFAULT_VALIDATOR
    if current is None:
        _write(client, "POST", api_path(MWC_API, VWC_PLURAL), desired, check_mode,
               "create validatingwebhookconfigurations %r (cluster scope)" % DEFAULT_VALIDATOR)
        result["actions"].append("created validatingwebhookconfiguration %s -> %s" % (
            DEFAULT_VALIDATOR, _labels(desired)[REV_LABEL]))
    elif validator_differs(current, desired):
        patch = {"metadata": {"labels": desired["metadata"]["labels"]}, "webhooks": desired["webhooks"]}
        _write(client, "PATCH", api_path(MWC_API, VWC_PLURAL, name=DEFAULT_VALIDATOR), patch, check_mode,
               "patch validatingwebhookconfigurations %r (cluster scope)" % DEFAULT_VALIDATOR,
               content_type="application/merge-patch+json")
        result["actions"].append("moved validatingwebhookconfiguration %s from %s to %s" % (
            DEFAULT_VALIDATOR, _labels(current).get(REV_LABEL), _labels(desired)[REV_LABEL]))


def _remove(client, params, result, inventory, mwcs, services, check_mode):
    tag = params["tag"]
    istio_namespace = params.get("istio_namespace") or "istio-system"
    hooks, svcs = tag_objects(mwcs, tag), tag_objects(services, tag)
    if not hooks and not svcs:
        return {"webhook": None, "service": None}
    ns_labels = dict((ns["name"], ns["labels"]) for ns in inventory["namespaces"])
    pods = client.list(api_path("v1", "pods"), label_selector="%s=%s" % (REV_LABEL, tag),
                       action="list pods (cluster scope) labelled %s=%s" % (REV_LABEL, tag))
    if tag == DEFAULT_TAG:
        pods += client.list(api_path("v1", "pods"), label_selector="%s=true" % INJECT_LABEL,
                            action="list pods (cluster scope) labelled %s=true" % INJECT_LABEL)
    result["pods"] = pods_using(tag, pods, ns_labels)
    if (result["namespaces"] or result["pods"]) and not params.get("force"):
        users = []
        if result["namespaces"]:
            users.append("namespaces %s" % ", ".join(result["namespaces"]))
        if result["pods"]:
            users.append("pods %s" % ", ".join(result["pods"][:20]) + (" and %d more" % (len(result["pods"]) - 20)
                                                                       if len(result["pods"]) > 20 else ""))
        raise TagError("Revision tag %s is still used by %s: removing it would leave their new pods without a "
                       "sidecar. Nothing was changed. Move them to a revision or another tag first "
                       "(asm_namespace_inject), or set force: true." % (tag, " and ".join(users)), result=result)
    if result["namespaces"] or result["pods"]:
        result["warnings"].append("Revision tag %s removed although namespaces (%s) or pods (%d) still use it." % (
            tag, ", ".join(result["namespaces"]) or "none", len(result["pods"])))
    for mwc in hooks:
        name = mwc["metadata"]["name"]
        _write(client, "DELETE", api_path(MWC_API, MWC_PLURAL, name=name), None, check_mode,
               "delete mutatingwebhookconfigurations %r (cluster scope)" % name)
        result["actions"].append("deleted mutatingwebhookconfiguration %s" % name)
    # tag.go removeTag: DeleteTagValidatingWebhooks (istioctl gives only the default tag one).
    for vwc in (list_validators(client, result, label_selector="%s=%s" % (TAG_LABEL, tag)) or []
                if tag == DEFAULT_TAG else []):
        name = vwc["metadata"]["name"]
        _write(client, "DELETE", api_path(MWC_API, VWC_PLURAL, name=name), None, check_mode,
               "delete validatingwebhookconfigurations %r (cluster scope)" % name)
        result["actions"].append("deleted validatingwebhookconfiguration %s" % name)
    for svc in svcs:
        name = svc["metadata"]["name"]
        _write(client, "DELETE", api_path("v1", "services", istio_namespace, name), None, check_mode,
               "delete services %r in namespace %s" % (name, istio_namespace))
        result["actions"].append("deleted service %s/%s" % (istio_namespace, name))
    result["previous_revision"] = result["previous_revision"] or next(
        (_labels(o).get(REV_LABEL) for o in hooks + svcs), None)
    return {"webhook": None, "service": None}

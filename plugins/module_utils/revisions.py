# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Control-plane discovery: which Istio/ASM revisions exist, which is ready, which to use.

Sources of truth, all read in one pass: istiod pods (`app=istiod`, label `istio.io/rev`), the
injector MutatingWebhookConfigurations (revisions, tags, default), managed ASM's
ControlPlaneRevisions, the injectors' ConfigMaps (the proxy image a revision injects now) and
the namespaces' injection labels. ASM revision names (`asm-173-3`) are not versions: versions
come from the istiod image tag (`1.7.3-asm.3`).
"""

from __future__ import annotations

import calendar
import json
import re
import time

from ansible_collections.servicemesh.asm.plugins.module_utils.client import KubeError, api_path
from ansible_collections.servicemesh.asm.plugins.module_utils.errors import AsmError
from ansible_collections.servicemesh.asm.plugins.module_utils.pods import proxy_revision
from ansible_collections.servicemesh.asm.plugins.module_utils.proxyimage import proxy_image
from ansible_collections.servicemesh.asm.plugins.module_utils.webhooks import (
    INJECTION_LABEL, REV_LABEL, TAG_LABEL, injector_webhooks, is_injector_configuration)

PREFER_CHOICES = ("newest", "default")
NOT_FINISHED = "status.phase!=Succeeded,status.phase!=Failed"
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:-asm\.(\d+))?")


class RevisionError(AsmError):
    """The revision choice failed; the message lists what would be valid."""


def version_key(version):
    """'1.16.2-asm.2' → (1, 16, 2, 2); None when the tag is not a version (a digest, 'latest')."""
    match = _VERSION.match(version or "")
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


def image_version(image):
    """The tag of an image reference, without a digest: registry/pilot:1.7.3-asm.3 → 1.7.3-asm.3."""
    name = (image or "").split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def human_age(seconds):
    """kubectl's AGE column (apimachinery duration.HumanDuration), coarse form."""
    seconds = int(max(0, seconds))
    if seconds < 120:
        return "%ds" % seconds
    minutes = seconds // 60
    if minutes < 10:
        return "%dm%ds" % (minutes, seconds % 60) if seconds % 60 else "%dm" % minutes
    if minutes < 180:
        return "%dm" % minutes
    hours = seconds // 3600
    if hours < 8:
        return "%dh%dm" % (hours, minutes % 60) if minutes % 60 else "%dh" % hours
    if hours < 48:
        return "%dh" % hours
    days = hours // 24
    if days < 8 and hours % 24:
        return "%dd%dh" % (days, hours % 24)
    if days < 365 * 2:
        return "%dd" % days
    if days < 365 * 8 and days % 365:
        return "%dy%dd" % (days // 365, days % 365)
    return "%dy" % (days // 365)


def _timestamp(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")) if text else None


def pod_row(pod, now):
    """One row of `kubectl get pods --show-labels`, as facts."""
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    containers = pod.get("spec", {}).get("containers") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    reason = status.get("reason") or status.get("phase") or "Unknown"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    for s in statuses:
        waiting = (s.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
    labels = pod["metadata"].get("labels") or {}
    created = _timestamp(pod["metadata"].get("creationTimestamp"))
    return {
        "name": pod["metadata"]["name"],
        "ready": "%d/%d" % (ready, len(containers)),
        "status": reason,
        "restarts": sum(s.get("restartCount", 0) for s in statuses),
        "age": human_age(now - created) if created else "<unknown>",
        "labels": labels,
        "labels_text": ",".join(sorted("%s=%s" % kv for kv in labels.items())),  # labels.Set.String()
        "is_ready": any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []),
        "image": next((c.get("image") for c in containers if c.get("name") == "discovery"),
                      containers[0].get("image") if containers else None),
    }


def injector_values(configmap):
    """(proxy image, native sidecar mode) the revision's injector uses now (istiod-injector-configmap.yaml).

    The image is the one a pod without image annotations or ProxyConfigs gets; the per-pod answer
    is proxyimage.RevisionImages."""
    try:
        values = json.loads((configmap.get("data") or {}).get("values") or "{}")
    except ValueError:
        return None, None
    glob = values.get("global") or {}
    image = (glob.get("proxy") or {}).get("image") or "proxyv2"
    if "/" not in image and (not glob.get("hub") or glob.get("tag") in (None, "")):
        image = None  # values without hub/tag (an old or hand-written ConfigMap): unknown, not "/proxyv2:"
    elif "/" not in image:
        image = proxy_image(values)  # inject.go ProxyImage: variant, -distroless/-debug suffix rules
    native = ((values.get("pilot") or {}).get("env") or {}).get("ENABLE_NATIVE_SIDECARS")
    return image, None if native is None else str(native).lower()


def _injector_configmap_or_none(cm):
    """Injector ConfigMaps istio-sidecar-injector[-<rev>] and mesh ConfigMaps istio[-<rev>]."""
    name = cm["metadata"]["name"]
    if name.startswith("istio-sidecar-injector") or (name == "istio" or name.startswith("istio-")) and \
            "mesh" in (cm.get("data") or {}):
        return cm
    return None


def _namespace_labels(ns):
    return {"name": ns["metadata"]["name"], "labels": ns["metadata"].get("labels") or {},
            "phase": (ns.get("status") or {}).get("phase", "Active")}


def fetch_inventory(client, istio_namespace):
    """Everything discovery needs, in five list calls (ControlPlaneRevisions may not exist)."""
    in_istio = "in namespace %s" % istio_namespace
    pods = client.list(api_path("v1", "pods", istio_namespace), label_selector="app=istiod",
                       action="list pods " + in_istio)
    mwcs = client.list(api_path("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations"),
                       action="list mutatingwebhookconfigurations (cluster scope)")
    configmaps = client.list(api_path("v1", "configmaps", istio_namespace), action="list configmaps " + in_istio,
                             transform=_injector_configmap_or_none)
    namespaces = client.list(api_path("v1", "namespaces"), action="list namespaces (cluster scope)",
                             transform=_namespace_labels)
    warnings = []
    try:
        cprs = client.list(api_path("mesh.cloud.google.com/v1beta1", "controlplanerevisions", istio_namespace),
                           action="list controlplanerevisions " + in_istio)
    except KubeError as exc:  # the CRD exists only with managed ASM
        if exc.status not in (403, 404):
            raise
        cprs = []
        if exc.status == 403:  # the injector webhooks still tell the revisions; only managed ASM's channels are missed
            warnings.append("Not allowed to list controlplanerevisions (mesh.cloud.google.com) %s: managed ASM "
                            "revisions are judged from the injector webhooks alone. Grant list on them to see their "
                            "channels and readiness." % in_istio)
    injectors = [c for c in configmaps if c and c["metadata"]["name"].startswith("istio-sidecar-injector")]
    meshes = [c for c in configmaps if c and not c["metadata"]["name"].startswith("istio-sidecar-injector")]
    return {"pods": pods, "mwcs": [m for m in mwcs if is_injector_configuration(m)],
            "configmaps": injectors, "meshconfigs": meshes, "namespaces": namespaces, "cprs": cprs,
            "warnings": warnings}


def build_revisions(inventory, now=None):
    """Per-revision facts and the tag → revision map, from a fetched inventory (pure)."""
    now = time.time() if now is None else now
    revisions = {}

    def entry(name):
        return revisions.setdefault(name, {
            "name": name, "version": None, "managed": False, "channel": None, "ready": False,
            "istiod": {"ready": 0, "total": 0, "pods": []}, "tags": [], "default": False, "webhooks": [],
            "namespaces": [], "proxy_image": None, "native_sidecars": None})

    for pod in inventory["pods"]:
        row = pod_row(pod, now)
        rev = entry(row["labels"].get(REV_LABEL) or "default")
        rev["istiod"]["total"] += 1
        rev["istiod"]["ready"] += int(row["is_ready"])
        rev["istiod"]["pods"].append(row["name"])
        rev["version"] = rev["version"] or image_version(row["image"])
    for cpr in inventory["cprs"]:
        rev = entry(cpr["metadata"]["name"])
        rev["managed"] = True
        rev["channel"] = (cpr.get("spec") or {}).get("channel")
        rev["provisioned"] = any(c.get("type") == "ProvisioningFinished" and c.get("status") == "True"
                                 for c in (cpr.get("status") or {}).get("conditions") or [])
    tags = {}
    for hook in injector_webhooks(inventory["mwcs"]):
        rev = entry(hook["revision"])
        if hook["tag"]:
            tags[hook["tag"]] = hook["revision"]
            if hook["tag"] not in rev["tags"]:
                rev["tags"].append(hook["tag"])
        serves_default = hook["tag"] == "default" or (hook["name"].split(".")[0] == "namespace" and not hook["tag"])
        if serves_default and not hook["deactivated"]:
            rev["default"] = True
        if hook["endpoint"] and "://" in hook["endpoint"] and not rev["istiod"]["total"]:
            rev["managed"] = True
        rev["webhooks"].append({k: hook[k] for k in ("configuration", "name", "tag", "failure_policy", "deactivated")})
    for cm in inventory["configmaps"]:
        name = cm["metadata"]["name"]
        rev_name = name[len("istio-sidecar-injector-"):] if name != "istio-sidecar-injector" else "default"
        if rev_name in revisions:
            revisions[rev_name]["proxy_image"], revisions[rev_name]["native_sidecars"] = injector_values(cm)
    default = next((r["name"] for r in revisions.values() if r["default"]), None)
    for ns in inventory["namespaces"]:
        labels = ns["labels"]
        target = labels.get(REV_LABEL)
        if INJECTION_LABEL in labels:  # it beats istio.io/rev; any value but `enabled` disables injection
            target = "default" if default and labels[INJECTION_LABEL] == "enabled" else None
        target = tags.get(target, target)
        if target == "default" and default:
            target = default
        if target in revisions:
            revisions[target]["namespaces"].append(ns["name"])
    for rev in revisions.values():
        rev["ready"] = rev["istiod"]["ready"] > 0 or (rev["managed"] and rev.get("provisioned", True))
        rev["tags"].sort()
        rev["namespaces"].sort()
    ordered = sorted(revisions.values(), key=lambda r: r["name"])
    return ordered, dict(sorted(tags.items())), default


def describe(rev):
    if rev["managed"]:
        state = "managed%s, %s" % (" channel " + rev["channel"] if rev["channel"] else "",
                                   "provisioned" if rev["ready"] else "not provisioned")
    else:
        state = "istiod %d/%d ready" % (rev["istiod"]["ready"], rev["istiod"]["total"])
    extras = []
    if rev["version"]:
        extras.append("version " + rev["version"])
    if rev["tags"]:
        extras.append("tags " + ",".join(rev["tags"]))
    return "%s (%s%s)" % (rev["name"], state, "; " + "; ".join(extras) if extras else "")


def choose_revision(revisions, tags, requested=None, prefer=None, allow_unready=False):
    """The revision to use, and why. Raises RevisionError naming the valid choices."""
    by_name = {r["name"]: r for r in revisions}
    listing = "; ".join(describe(r) for r in revisions) or "none"
    if not revisions:
        raise RevisionError("No Istio/ASM control plane found: no istiod pods (app=istiod), no injector "
                            "MutatingWebhookConfigurations and no ControlPlaneRevisions. Is Istio/ASM installed, "
                            "and is istio_namespace right?")
    if requested:
        name = tags.get(requested, requested)
        if name not in by_name:
            raise RevisionError("Revision %r is not known to the cluster. Known revisions: %s. Tags: %s." % (
                requested, listing, ", ".join("%s -> %s" % kv for kv in tags.items()) or "none"))
        rev = by_name[name]
        if not rev["ready"] and not allow_unready:
            raise RevisionError("Revision %s has no ready control plane: %s. Pods labelled for it would fail to be "
                                "created or come up without a sidecar. Choose a ready revision or set allow_unready."
                                % (name, describe(rev)))
        via = " (tag %s)" % requested if requested != name else ""
        return name, "requested%s" % via
    ready = [r for r in revisions if r["ready"]]
    if len(ready) == 1:
        return ready[0]["name"], "the only ready revision"
    if not ready:
        raise RevisionError("No revision has a ready control plane: %s." % listing)
    if prefer == "default":
        default = next((r for r in ready if r["default"]), None)
        if default:
            return default["name"], "the default revision"
        raise RevisionError("prefer=default, but no ready revision is the default (no `default` tag). Ready: %s."
                            % "; ".join(describe(r) for r in ready))
    if prefer == "newest":
        versioned = [r for r in ready if version_key(r["version"])]
        if versioned:
            newest = max(versioned, key=lambda r: version_key(r["version"]))
            return newest["name"], "the newest version (%s)" % newest["version"]
        raise RevisionError("prefer=newest, but no ready revision has a version from its istiod image: %s." % listing)
    raise RevisionError("Several revisions are ready: %s. Choose one with revision (a revision or tag name) or set "
                        "prefer to one of: %s." % ("; ".join(describe(r) for r in ready), ", ".join(PREFER_CHOICES)))


def count_proxies(client):
    """Running pods per revision whose proxy it injected, across the cluster (like the proxies istioctl's
    uninstall checks for): a revision without namespaces can still serve the pods not restarted yet.
    Only the pods' metadata is listed, and only pods that have not finished (no proxy runs in those)."""
    counts = {}
    for revision in client.list(api_path("v1", "pods"), field_selector=NOT_FINISHED, metadata_only=True,
                                transform=proxy_revision, action="list pods (cluster scope)"):
        if revision:
            counts[revision] = counts.get(revision, 0) + 1
    return dict(sorted(counts.items()))


def list_revision_services(client, istio_namespace):
    """The Services labelled istio.io/rev in the control plane's namespace (tag.go GetRevisionServices): the
    revisions' own istiod Services and, since Istio 1.28, one Service per revision tag."""
    return client.list(api_path("v1", "services", istio_namespace), label_selector=REV_LABEL,
                       action="list services in namespace %s" % istio_namespace)


def tag_rows(webhooks, services, namespaces):
    """The rows of `istioctl tag list` (tag.go listTags, uniqTagsFromServices): one per (tag, revision) of the
    tag webhooks and tag Services, sorted by revision then tag, with the namespaces labelled istio.io/rev=<tag>
    (util.go GetNamespacesWithTag) and what backs the row."""
    backing = [("webhook", h["tag"], h["revision"], h["configuration"]) for h in webhooks if h["tag"]]
    for service in services:
        labels = service["metadata"].get("labels") or {}
        if labels.get(TAG_LABEL):
            backing.append(("service", labels[TAG_LABEL], labels.get(REV_LABEL), service["metadata"]["name"]))
    by_label = {}
    for ns in namespaces:
        by_label.setdefault(ns["labels"].get(REV_LABEL), []).append(ns["name"])
    rows = {}
    for source, tag, revision, name in backing:
        row = rows.setdefault((revision, tag), {"tag": tag, "revision": revision, "webhook": None, "service": None,
                                                "namespaces": sorted(by_label.get(tag, []))})
        row[source] = name
    return [rows[key] for key in sorted(rows)]


def tag_warnings(rows, istio_namespace):
    """A tag only a Service backs injects nothing; a tag whose webhook and Service disagree injects by the webhook."""
    warnings = []
    for tag in sorted({r["tag"] for r in rows}):
        hooks = [r for r in rows if r["tag"] == tag and r["webhook"]]
        services = [r for r in rows if r["tag"] == tag and r["service"]]
        if not hooks:
            service = services[0]
            used = ("namespaces labelled istio.io/rev=%s: %s" % (tag, ", ".join(service["namespaces"]))
                    if service["namespaces"] else "no namespace is labelled istio.io/rev=%s" % tag)
            warnings.append(
                "Revision tag %s exists only as Service %s/%s (-> %s), with no injector webhook: istioctl tag list "
                "shows it, but no sidecar is injected through it (%s). Set the tag again (asm_revision_tag "
                "state=present) or remove the Service."
                % (tag, istio_namespace, service["service"], service["revision"], used))
        elif services and {r["revision"] for r in hooks} != {r["revision"] for r in services}:
            warnings.append(
                "Revision tag %s points at %s by its webhook %s but at %s by its Service %s/%s: injection follows the "
                "webhook. Set the tag again (asm_revision_tag state=present) to make them agree." % (
                    tag, hooks[0]["revision"], hooks[0]["webhook"], services[0]["revision"], istio_namespace,
                    services[0]["service"]))
    return warnings


def run(client, params, check_mode=False, want_diff=False):
    """asm_revision_info: discovery facts and the chosen revision (read-only)."""
    istio_namespace = params["istio_namespace"]
    inventory = fetch_inventory(client, istio_namespace)
    now = time.time()
    revisions, tags, default = build_revisions(inventory, now)
    try:
        services = list_revision_services(client, istio_namespace)
    except KubeError as exc:
        if exc.status != 403:
            raise
        services = []
        inventory["warnings"].append("Not allowed to list services in namespace %s: revision tags that exist only "
                                     "as a Service are not listed. Grant list on services there to see them."
                                     % istio_namespace)
    revision_tags = tag_rows(injector_webhooks(inventory["mwcs"]), services, inventory["namespaces"])
    inventory["warnings"] += tag_warnings(revision_tags, istio_namespace)
    result = {"changed": False, "istio_namespace": istio_namespace, "revisions": revisions, "tags": tags,
              "revision_tags": revision_tags,
              "default_revision": default, "revision": None, "revision_reason": None,
              "istiod_pods": [dict((k, v) for k, v in pod_row(p, now).items() if k not in ("is_ready", "image"))
                              for p in sorted(inventory["pods"], key=lambda p: p["metadata"]["name"])]}
    if params.get("count_proxies"):
        result["proxies"] = count_proxies(client)
        for rev in revisions:
            rev["proxies"] = result["proxies"].get(rev["name"], 0)
    try:
        result["revision"], result["revision_reason"] = choose_revision(
            revisions, tags, params.get("revision"), params.get("prefer"), params.get("allow_unready"))
    except RevisionError as exc:
        if params.get("require_revision", True) or params.get("revision"):
            raise RevisionError(" ".join([str(exc)] + inventory["warnings"])) from None
        result["revision_reason"] = str(exc)
    result["warnings"] = inventory["warnings"]
    return result

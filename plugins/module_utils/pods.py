# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading pods the way Istio and kubectl do: is there a sidecar, from which revision, is it the
image the injector injects now, are all containers ready (READY n/n), and if not, why.

- The proxy is the container `istio-proxy`, or (native sidecars, Istio >= 1.19) an init container
  `istio-proxy` with `restartPolicy: Always`; kubectl's READY counts it either way.
- `sidecar.istio.io/status` (JSON) names the injecting revision; pods carry no `istio.io/rev`
  label since Istio 1.11, so they are never selected by it.
- Opted-out pods (`sidecar.istio.io/inject: "false"`), hostNetwork pods, finished pods and pods in
  ambient namespaces legitimately have no sidecar.
"""

from __future__ import annotations

import json
import sys

from ansible_collections.servicemesh.asm.plugins.module_utils.proxyimage import (
    IMAGE_TYPE_ANNOTATION, PROXY_CONFIG_ANNOTATION, PROXY_IMAGE_ANNOTATION, TEMPLATES_ANNOTATION, proxy_container)

PROXY = "istio-proxy"
PROXY_INIT = ("istio-init", "istio-validation")
STATUS_ANNOTATION = "sidecar.istio.io/status"
INJECT_KEY = "sidecar.istio.io/inject"
# The pod annotations that decide the injected proxy image (proxyimage.py).
IMAGE_INPUTS = (PROXY_IMAGE_ANNOTATION, IMAGE_TYPE_ANNOTATION, PROXY_CONFIG_ANNOTATION, TEMPLATES_ANNOTATION)

# Classification of a pod against the expected state.
OK = "ok"  # as expected and ready
WAITING = "waiting"  # as expected, not ready yet (or terminating / pending)
NEEDS_RESTART = "needs_restart"  # sidecar missing, from another revision, stale, or unwanted
EXEMPT = "exempt"  # legitimately without a sidecar


def _shared(value):
    """One copy of a string many pods repeat (namespace, owner, image, container names, reasons):
    json gives every pod its own, and at 30,000 pods the copies outweigh the rest of the record."""
    return sys.intern(value) if isinstance(value, str) else value


_PARTS = {}
_PARTS_LIMIT = 200000


def _part(key, make):
    """One shared (never mutated) object per distinct value of a record part: most pods' container
    statuses, proxy, owner and container lists are the same as many others'."""
    part = _PARTS.get(key)
    if part is None:
        part = make()
        if len(_PARTS) < _PARTS_LIMIT:
            _PARTS[key] = part
    return part


def _status(s):
    state = s.get("state") or {}
    waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
    values = (bool(s.get("ready")), s.get("restartCount", 0), _shared(waiting.get("reason")), waiting.get("message"),
              _shared(terminated.get("reason")), "running" in state)
    return _part(("status",) + values, lambda: dict(zip(("ready", "restarts", "waiting", "message", "terminated",
                                                         "running"), values)))


def _names(names):
    names = tuple(_shared(n) for n in names)
    return _part(("names",) + names, lambda: list(names))


def injected_revision(annotations):
    """The revision whose injector injected the pod (from sidecar.istio.io/status; `default` for an unrevisioned
    install, `unknown` when the annotation is not JSON), or None when it was not injected."""
    if not annotations.get(STATUS_ANNOTATION):
        return None
    try:
        status = json.loads(annotations[STATUS_ANNOTATION])
    except ValueError:
        return "unknown"
    return (status.get("revision") or "default") if isinstance(status, dict) else "unknown"


def proxy_revision(pod):
    """The revision of the proxy a pod runs, or None: not injected, or finished (Succeeded/Failed: no proxy runs)."""
    if ((pod.get("status") or {}).get("phase")) in ("Succeeded", "Failed"):
        return None
    return injected_revision((pod.get("metadata") or {}).get("annotations") or {})


def compact(pod):
    """The few fields the rollout needs, so 30,000 pods stay small in memory."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    annotations = meta.get("annotations") or {}
    owner = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
    proxy, native = proxy_container(spec)
    revision = injected_revision(annotations)
    restartable = [c["name"] for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    statuses = dict((_shared(s["name"]), _status(s)) for s in (status.get("initContainerStatuses") or [])
                    + (status.get("containerStatuses") or []))
    conditions = dict((c.get("type"), c) for c in status.get("conditions") or [])
    scheduled = conditions.get("PodScheduled") or {}
    image = _shared(proxy.get("image")) if proxy else None
    inputs = tuple((k, annotations[k]) for k in IMAGE_INPUTS if k in annotations)
    labels = tuple(sorted((meta.get("labels") or {}).items()))
    return {
        "namespace": _shared(meta.get("namespace")), "name": meta["name"], "uid": meta.get("uid"),
        "owner": _part(("owner", owner["kind"], owner["name"], owner.get("uid")), lambda: {
            "kind": _shared(owner["kind"]), "name": _shared(owner["name"]), "uid": _shared(owner.get("uid"))})
        if owner else None,
        "opt_out": _opted_out(meta),
        "host_network": bool(spec.get("hostNetwork")),
        "phase": _shared(status.get("phase")), "reason": _shared(status.get("reason")),
        "terminating": bool(meta.get("deletionTimestamp")),
        "proxy": _part(("proxy", image, native), lambda: {"image": image, "native": native}) if proxy else None,
        "injected_revision": _shared(revision),
        # What ProxyConfig selectors and the injection template read (shared: pods of a template agree).
        "labels": _part(("labels",) + labels, lambda: dict(labels)),
        "inject_annotations": _part(("inputs",) + inputs, lambda: dict(inputs)),
        "containers": _names([c["name"] for c in spec.get("containers") or []] + restartable),
        "init_containers": _names([c["name"] for c in spec.get("initContainers") or []
                                   if c["name"] not in restartable]),
        "statuses": statuses,
        "ready": (conditions.get("Ready") or {}).get("status") == "True",
        # Only an unschedulable pod's condition is ever reported (problem()).
        "unschedulable": (scheduled.get("message") or scheduled.get("reason") or "unschedulable")
        if scheduled.get("status") == "False" else None,
    }


def _opted_out(meta):
    # The label is what the webhook's objectSelector sees; the deprecated annotation is still
    # honoured by the injector itself (inject.go injectRequired).
    label = (meta.get("labels") or {}).get(INJECT_KEY)
    annotation = (meta.get("annotations") or {}).get(INJECT_KEY)
    value = label if label is not None else annotation
    return str(value).lower() in ("false", "n", "no", "off", "0") if value is not None else False


def ready_count(record):
    """kubectl's READY: ready containers (restartable init containers included) / containers."""
    names = record["containers"]
    return sum(1 for n in names if record["statuses"].get(n, {}).get("ready")), len(names)


def exempt_reason(record, namespace_ambient=False):
    if record["phase"] in ("Succeeded", "Failed"):
        return "completed (%s)" % record["phase"]
    if record["opt_out"]:
        return "opted out (sidecar.istio.io/inject=false)"
    if record["host_network"]:
        return "hostNetwork pod (Istio never injects it)"
    if namespace_ambient:
        return "ambient namespace (istio.io/dataplane-mode=ambient)"
    return None


def classify(record, expected_revision, expected_image=None, namespace_ambient=False):
    """(class, reason) of a pod whose namespace should inject `expected_revision` (None: no sidecar).

    `expected_image`: the image itself, or a proxyimage.RevisionImages that decides it per pod (None
    when it cannot be known: then the proxy is never called stale)."""
    if record["terminating"]:
        return WAITING, "terminating"
    exempt = exempt_reason(record, namespace_ambient)
    if exempt and not (expected_revision is None and record["proxy"]):
        return EXEMPT, exempt
    if expected_revision is None:
        if record["proxy"]:
            return NEEDS_RESTART, "has a sidecar (revision %s) but injection is off" % record["injected_revision"]
    elif not record["proxy"]:
        return NEEDS_RESTART, "no sidecar"
    elif record["injected_revision"] != expected_revision:
        return NEEDS_RESTART, "sidecar from revision %s, expected %s" % (
            record["injected_revision"], expected_revision)
    elif expected_image and record["proxy"]["image"] != _image_for(expected_image, record):
        return NEEDS_RESTART, "stale proxy %s (the injector now injects %s)" % (
            record["proxy"]["image"], _image_for(expected_image, record))
    if record["phase"] == "Running" and record["ready"]:
        ready, total = ready_count(record)
        if ready == total:
            return OK, "%d/%d ready" % (ready, total)
    return WAITING, problem(record)[0]


def _image_for(expected, record):
    image = expected.for_pod(record) if hasattr(expected, "for_pod") else expected
    return record["proxy"]["image"] if image is None else image  # unknown: not stale


def problem(record):
    """(reason, hint) for a pod that is not (yet) as expected, most specific first."""
    statuses = record["statuses"]
    ordered = list(PROXY_INIT) + [PROXY] + record["init_containers"] + record["containers"]
    seen = set()
    for name in ordered:
        if name in seen or name not in statuses:
            continue
        seen.add(name)
        s = statuses[name]
        if s["waiting"] in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
            what = "the proxy image" if name in PROXY_INIT + (PROXY,) else "the image of %s" % name
            return ("%s %s: %s" % (name, s["waiting"], s["message"] or "image cannot be pulled"),
                    "check %s and the nodes' access to its registry" % what)
        if s["waiting"] == "CrashLoopBackOff":
            hint = ("check `kubectl logs %s -c istio-proxy`: a proxy that cannot reach istiod or has a bad mesh "
                    "config crashes" % record["name"]) if name == PROXY else (
                "the application container %s crashes; check its logs" % name)
            return "%s CrashLoopBackOff (%d restarts)" % (name, s["restarts"]), hint
    if record["phase"] == "Pending":
        if record["unschedulable"]:
            return ("Pending, unschedulable: %s" % record["unschedulable"], "the cluster lacks room or matching nodes")
        waiting = [n for n in dict.fromkeys(ordered) if statuses.get(n, {}).get("waiting")]  # istio-proxy once
        detail = ", ".join("%s %s" % (n, statuses[n]["waiting"]) for n in waiting[:3])
        return "Pending%s" % (" (%s)" % detail if detail else ""), "the pod is still starting"
    not_ready = [n for n in record["containers"] if not statuses.get(n, {}).get("ready")]
    if PROXY in not_ready:
        return ("istio-proxy not ready", "the proxy is usually waiting for its configuration from istiod "
                "(\"config not received from Pilot\"): check that the revision's istiod is running and reachable")
    if not_ready:
        return "not ready: %s" % ", ".join(not_ready), "the application's readiness probe is failing"
    if record["phase"] != "Running":
        return "phase %s" % record["phase"], "the pod is not running"
    return "not ready", "the pod's Ready condition is not true"

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hand-made Kubernetes/Istio objects for the unit tests, shaped like the real ones.

Injector MutatingWebhookConfigurations follow istio/istio
manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml (revisioned and
unrevisioned installs) and revision-tags-mwc.yaml (tags); deactivation is what
istioctl/pkg/tag DeactivateIstioInjectionWebhook writes (selectors istio.io/deactivated=never-match).
"""

from __future__ import annotations

import json

NEVER_MATCH = {"matchLabels": {"istio.io/deactivated": "never-match"}}


def expr(key, operator, *values):
    requirement = {"key": key, "operator": operator}
    if values:
        requirement["values"] = list(values)
    return requirement


def webhook(prefix, client, ns_exprs, obj_exprs, failure_policy="Fail"):
    return {"name": prefix + "sidecar-injector.istio.io", "clientConfig": client, "failurePolicy": failure_policy,
            "namespaceSelector": {"matchExpressions": ns_exprs}, "objectSelector": {"matchExpressions": obj_exprs},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]}


def injector_mwc(revision=None, tag=None, default_webhooks=None, deactivated=False, url=None, name=None,
                 failure_policy="Fail"):
    """revision None = unrevisioned install; tag = revision tag pointing at `revision`."""
    key = tag or revision or "default"
    if name is None:
        if tag:
            name = "istio-revision-tag-" + tag
        else:
            name = "istio-sidecar-injector" + ("-" + revision if revision else "")
    labels = {"istio.io/rev": revision or "default", "app": "sidecar-injector"}
    if tag:
        labels["istio.io/tag"] = tag
    client = {"url": url} if url else {"service": {"name": "istiod" + ("-" + revision if revision else ""),
                                                   "namespace": "istio-system", "path": "/inject", "port": 443}}
    not_false = expr("sidecar.istio.io/inject", "NotIn", "false")
    hooks = [
        webhook("rev.namespace.", client, [expr("istio.io/rev", "In", key), expr("istio-injection", "DoesNotExist")],
                [not_false], failure_policy),
        webhook("rev.object.", client, [expr("istio.io/rev", "DoesNotExist"), expr("istio-injection", "DoesNotExist")],
                [not_false, expr("istio.io/rev", "In", key)], failure_policy),
    ]
    if default_webhooks is None:
        default_webhooks = revision is None or tag == "default"
    if default_webhooks:
        hooks += [
            webhook("namespace.", client, [expr("istio-injection", "In", "enabled")], [not_false], failure_policy),
            webhook("object.", client, [expr("istio-injection", "DoesNotExist"), expr("istio.io/rev", "DoesNotExist")],
                    [expr("sidecar.istio.io/inject", "In", "true"), expr("istio.io/rev", "DoesNotExist")],
                    failure_policy),
        ]
    if deactivated:
        for hook in hooks:
            hook["namespaceSelector"] = dict(NEVER_MATCH)
            hook["objectSelector"] = dict(NEVER_MATCH)
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": name, "labels": labels}, "webhooks": hooks}


def istiod_pod(revision, suffix, version, ready=True, template_hash="5788d57586",
               created="2026-11-24T12:00:00Z", registry="gcr.io/gke-release/asm"):
    labels = {"app": "istiod", "istio.io/rev": revision, "istio": "istiod", "pod-template-hash": template_hash}
    return {
        "metadata": {"name": "istiod-%s-%s-%s" % (revision, template_hash, suffix), "namespace": "istio-system",
                     "labels": labels, "creationTimestamp": created},
        "spec": {"containers": [{"name": "discovery", "image": "%s/pilot:%s" % (registry, version)}]},
        "status": {"phase": "Running",
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                   "containerStatuses": [{"name": "discovery", "ready": ready, "restartCount": 0,
                                          "state": {"running": {}}}]},
    }


def injector_configmap(revision, hub="gcr.io/gke-release/asm", tag="1.7.3-asm.3", native=None):
    values = {"global": {"hub": hub, "tag": tag, "proxy": {"image": "proxyv2"}}}
    if native is not None:
        values["pilot"] = {"env": {"ENABLE_NATIVE_SIDECARS": native}}
    name = "istio-sidecar-injector" + ("-" + revision if revision != "default" else "")
    return {"metadata": {"name": name, "namespace": "istio-system"},
            "data": {"values": json.dumps(values), "config": "policy: enabled\n"}}


def cpr(name, channel, provisioned=True):
    return {"apiVersion": "mesh.cloud.google.com/v1beta1", "kind": "ControlPlaneRevision",
            "metadata": {"name": name, "namespace": "istio-system"},
            "spec": {"type": "managed_service", "channel": channel},
            "status": {"conditions": [{"type": "ProvisioningFinished",
                                       "status": "True" if provisioned else "False"}]}}


def namespace(name, labels=None):
    return {"name": name, "labels": dict(labels or {})}


def inventory(pods=(), mwcs=(), configmaps=(), namespaces=(), cprs=()):
    return {"pods": list(pods), "mwcs": list(mwcs), "configmaps": list(configmaps),
            "namespaces": list(namespaces), "cprs": list(cprs), "warnings": []}

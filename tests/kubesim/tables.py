"""Server-side printing: objects as the meta.k8s.io/v1 Table kube-apiserver answers for `as=Table`.

kubectl 1.32 prints the cells verbatim and hides priority-1 columns unless `-o wide`. Re-written, not
copied, from kubernetes: pkg/printers/internalversion/printers.go (1.32: AddHandlers column definitions;
printPod, printDeployment, printReplicaSet, printStatefulSet, printDaemonSet, printJob, printCronJob,
printNamespace, printNode, printConfigMap, printEvent, printPodDisruptionBudget, printMutatingWebhook);
pkg/printers/storage TableConvertor (the server always builds Wide rows, kubectl drops priority-1 cells);
apiserver registry/rest/table.go defaultTableConvertor (any other kind: Name and "Created At", type "date",
cell = creationTimestamp in RFC3339); apiserver endpoints/handlers/response.go asTable (includeObject
Object / Metadata = PartialObjectMetadata, also for "" / None, else BadRequest); apimachinery
meta/v1/types.go (Table, TableColumnDefinition, TableRow); apimachinery util/duration HumanDuration.
Fields the API server defaults before storage (replicas 1, CronJob suspend false, Namespace phase Active,
Job completions 1) are defaulted here too, so objects kubesim stored verbatim print the same.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

_INCLUDE_POLICIES = ("None", "Metadata", "Object")
_LIST_META_KEYS = ("selfLink", "resourceVersion", "continue", "remainingItemCount")
_POD_DONE = {"Succeeded": "The pod has completed successfully.", "Failed": "The pod failed."}


def _dig(obj: Any, *keys: str) -> Any:
    """obj[k1][k2]...; {} for anything missing or null (Go's zero value for structs)."""
    for key in keys:
        obj = (obj or {}).get(key) if isinstance(obj, dict) or obj is None else None
    return {} if obj is None else obj


_SECOND = 10**9
_MINUTE, _HOUR = 60 * _SECOND, 3600 * _SECOND


def human_duration(seconds: float) -> str:
    """apimachinery duration.HumanDuration: ~2-3 significant figures ("20s", "5m2s", "23h", "3d4h")."""
    whole = int(seconds)  # Go's int(d.Seconds()) truncates toward zero
    if whole < -1:  # up to 2s (excluded) of clock skew still counts as "now"
        return "<invalid>"
    if whole < 120:
        return f"{max(whole, 0)}s"
    ns = round(seconds * _SECOND)
    minutes, hours = ns // _MINUTE, ns // _HOUR
    days, years = hours // 24, hours // 24 // 365
    if minutes < 10:
        return f"{minutes}m{ns // _SECOND % 60}s" if ns // _SECOND % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8 and days % 365:
        return f"{years}y{days % 365}d"
    return f"{years}y"


def _parse_time(value: Any) -> datetime | None:
    """RFC3339 (metav1.Time) or RFC3339 with microseconds (metav1.MicroTime); None when unset."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _since(value: Any, now: datetime) -> str:
    """printers.go translateTimestampSince (value: RFC3339 text or datetime): "<unknown>" when unset."""
    when = value if isinstance(value, datetime) else _parse_time(value)
    return "<unknown>" if when is None else human_duration((now - when).total_seconds())


def _name(obj: dict) -> str:
    return _dig(obj, "metadata").get("name", "")


def _age(obj: dict, now: datetime) -> str:
    return _since(_dig(obj, "metadata", "creationTimestamp"), now)


def _containers(pod_spec: dict) -> list[str]:
    """layoutContainerCells: container names and images, comma separated."""
    containers = pod_spec.get("containers") or []
    return [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)]


def format_labels(labels: dict | None) -> str:
    """labels.FormatLabels: sorted k=v pairs, "<none>" when empty."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def selector_string(selector: dict | None, empty: str = "") -> str:
    """LabelSelectorAsSelector(sel).String(), `empty` for nil/{} (FormatLabelSelector: "<none>")."""
    selector = selector or {}
    reqs = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator", "")
        text = {"Exists": key, "DoesNotExist": "!" + key}.get(op)
        if text is None:
            values = ",".join(sorted(expr.get("values") or []))
            text = f"{key} {'in' if op == 'In' else 'notin'} ({values})"
        reqs.append((key, text))
    return ",".join(text for _, text in sorted(reqs, key=lambda r: r[0])) or empty


def _first_condition_true(conditions: list, ctype: str) -> bool:
    return next((c.get("status") == "True" for c in conditions if c.get("type") == ctype), False)


def _later(current: datetime | None, status: dict) -> datetime | None:
    """Keep the newest lastState.terminated.finishedAt."""
    finished = _parse_time(_dig(status, "lastState", "terminated").get("finishedAt"))
    return finished if finished and (current is None or finished > current) else current


def _terminated_reason(term: dict, prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + term["reason"]
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def _print_pod(pod: dict, now: datetime) -> list:
    spec, status, meta = _dig(pod, "spec"), _dig(pod, "status"), _dig(pod, "metadata")
    init_specs = spec.get("initContainers") or []
    sidecars = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    total = len(spec.get("containers") or []) + sum(c.get("restartPolicy") == "Always" for c in init_specs)
    phase, conditions = status.get("phase") or "", status.get("conditions") or []
    reason = status.get("reason") or phase
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated" for c in conditions):
        reason = "SchedulingGated"

    ready = restarts = sidecar_restarts = 0
    last = sidecar_last = None
    initializing = False
    for index, cs in enumerate(status.get("initContainerStatuses") or []):
        count = int(cs.get("restartCount") or 0)
        restarts, last = restarts + count, _later(last, cs)
        is_sidecar = cs.get("name") in sidecars
        if is_sidecar:
            sidecar_restarts, sidecar_last = sidecar_restarts + count, _later(sidecar_last, cs)
        term, waiting = _dig(cs, "state").get("terminated"), _dig(cs, "state").get("waiting")
        if term is not None and not term.get("exitCode"):
            continue
        if is_sidecar and cs.get("started"):
            ready += bool(cs.get("ready"))
            continue
        if term is not None:
            reason = _terminated_reason(term, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _first_condition_true(conditions, "Initialized"):
        restarts, last, has_running = sidecar_restarts, sidecar_last, False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts, last = restarts + int(cs.get("restartCount") or 0), _later(last, cs)
            state = _dig(cs, "state")
            if _dig(state, "waiting").get("reason"):
                reason = state["waiting"]["reason"]
            elif state.get("terminated") is not None:
                reason = _terminated_reason(state["terminated"])
            elif cs.get("ready") and state.get("running") is not None:
                has_running, ready = True, ready + 1
        if reason == "Completed" and has_running:  # a container still runs: back to Running/NotReady
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
            reason = "Running" if pod_ready else "NotReady"

    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    ips = status.get("podIPs") or ([{"ip": status["podIP"]}] if status.get("podIP") else [])
    gates, gates_cell = spec.get("readinessGates") or [], "<none>"
    if gates:
        passed = sum(_first_condition_true(conditions, g.get("conditionType")) for g in gates)
        gates_cell = f"{passed}/{len(gates)}"
    return [
        meta.get("name", ""), f"{ready}/{total}", reason,
        f"{restarts} ({_since(last, now)} ago)" if restarts and last else str(restarts), _age(pod, now),
        (ips[0].get("ip") if ips else "") or "<none>", spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>", gates_cell,
    ]


def _print_deployment(obj: dict, now: datetime) -> list:
    spec, status = _dig(obj, "spec"), _dig(obj, "status")
    return [_name(obj), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0), _age(obj, now),
            *_containers(_dig(spec, "template", "spec")), selector_string(spec.get("selector"))]


def _print_replicaset(obj: dict, now: datetime) -> list:
    spec, status = _dig(obj, "spec"), _dig(obj, "status")
    return [_name(obj), spec.get("replicas", 1), status.get("replicas", 0),
            status.get("readyReplicas", 0), _age(obj, now), *_containers(_dig(spec, "template", "spec")),
            selector_string(spec.get("selector"), "<none>")]


def _print_statefulset(obj: dict, now: datetime) -> list:
    spec, status = _dig(obj, "spec"), _dig(obj, "status")
    return [_name(obj), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            _age(obj, now), *_containers(_dig(spec, "template", "spec"))]


def _print_daemonset(obj: dict, now: datetime) -> list:
    spec, status = _dig(obj, "spec"), _dig(obj, "status")
    keys = ("desiredNumberScheduled", "currentNumberScheduled", "numberReady", "updatedNumberScheduled",
            "numberAvailable")
    pod_spec = _dig(spec, "template", "spec")
    return [_name(obj), *(status.get(k, 0) for k in keys),
            format_labels(pod_spec.get("nodeSelector")), _age(obj, now), *_containers(pod_spec),
            selector_string(spec.get("selector"), "<none>")]


def _print_job(obj: dict, now: datetime) -> list:
    spec, status = _dig(obj, "spec"), _dig(obj, "status")
    succeeded, parallelism = status.get("succeeded", 0), spec.get("parallelism")
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif parallelism is None:  # both unset: the API defaults completions (and parallelism) to 1
        completions = f"{succeeded}/1"
    else:
        completions = f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"
    start, end = _parse_time(status.get("startTime")), _parse_time(status.get("completionTime"))
    duration = "" if start is None else human_duration(((end or now) - start).total_seconds())
    conditions = status.get("conditions") or []
    # Complete, Failed, then Terminating (deletionTimestamp), Suspended, FailureTarget, else Running
    deleting = ["Terminating"] if _dig(obj, "metadata").get("deletionTimestamp") else []
    state = next((s for s in ("Complete", "Failed", *deleting, "Suspended", "FailureTarget")
                  if s == "Terminating" or _first_condition_true(conditions, s)), "Running")
    return [_name(obj), state, completions, duration, _age(obj, now),
            *_containers(_dig(spec, "template", "spec")), selector_string(spec.get("selector"), "<none>")]


def _print_cronjob(obj: dict, now: datetime) -> list:
    spec, status = _dig(obj, "spec"), _dig(obj, "status")
    job_spec, last = _dig(spec, "jobTemplate", "spec"), status.get("lastScheduleTime")
    return [_name(obj), spec.get("schedule", ""), spec.get("timeZone") or "<none>",
            "True" if spec.get("suspend") else "False", len(status.get("active") or []),
            _since(last, now) if last else "<none>", _age(obj, now),
            *_containers(_dig(job_spec, "template", "spec")),
            selector_string(job_spec.get("selector"), "<none>")]


def _print_namespace(obj: dict, now: datetime) -> list:
    return [_name(obj), _dig(obj, "status").get("phase") or "Active", _age(obj, now)]


def _print_node(obj: dict, now: datetime) -> list:
    status, labels = _dig(obj, "status"), _dig(obj, "metadata", "labels")
    ready = {c.get("type"): c for c in status.get("conditions") or []}.get("Ready")  # the last one wins
    states = ["Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")]
    if _dig(obj, "spec").get("unschedulable"):
        states.append("SchedulingDisabled")
    prefix = "node-role.kubernetes.io/"
    roles = {k[len(prefix):] for k in labels if k.startswith(prefix) and len(k) > len(prefix)}
    roles |= {labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set()
    info, addresses = _dig(status, "nodeInfo"), status.get("addresses") or []
    ips = [next((a.get("address") for a in addresses if a.get("type") == t), "<none>")
           for t in ("InternalIP", "ExternalIP")]
    extra = [info.get(k) or "<unknown>" for k in ("osImage", "kernelVersion", "containerRuntimeVersion")]
    return [_name(obj), ",".join(states), ",".join(sorted(roles)) or "<none>",
            _age(obj, now), info.get("kubeletVersion", ""), *ips, *extra]


def _print_configmap(obj: dict, now: datetime) -> list:
    size = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [_name(obj), size, _age(obj, now)]


def _print_event(obj: dict, now: datetime) -> list:
    first = _since(obj.get("firstTimestamp") or obj.get("eventTime"), now)
    last = _since(obj["lastTimestamp"], now) if obj.get("lastTimestamp") else first
    count = obj.get("count") or 1  # singleton events carry no count in the events.k8s.io API
    if obj.get("series"):
        last, count = _since(obj["series"].get("lastObservedTime"), now), obj["series"].get("count", 0)
    involved, source = _dig(obj, "involvedObject"), _dig(obj, "source")
    kind = (involved.get("kind") or "").lower()
    component = source.get("component") or obj.get("reportingController") or ""
    host = source.get("host") or obj.get("reportingInstance") or ""
    return [last, obj.get("type", ""), obj.get("reason", ""),
            f"{kind}/{involved['name']}" if involved.get("name") else kind, involved.get("fieldPath", ""),
            f"{component}, {host}" if host else component, (obj.get("message") or "").strip(), first, count,
            _name(obj)]


def _print_pdb(obj: dict, now: datetime) -> list:
    spec = _dig(obj, "spec")
    bounds = ["N/A" if spec.get(k) is None else str(spec[k]) for k in ("minAvailable", "maxUnavailable")]
    return [_name(obj), *bounds, _dig(obj, "status").get("disruptionsAllowed", 0),
            _age(obj, now)]


def _print_webhooks(obj: dict, now: datetime) -> list:
    return [_name(obj), len(obj.get("webhooks") or []), _age(obj, now)]


def _print_default(obj: dict, now: datetime) -> list:
    created = _parse_time(_dig(obj, "metadata").get("creationTimestamp"))
    stamp = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if created else "0001-01-01T00:00:00Z"
    return [_name(obj), stamp]


_DOCS = {
    "Name": "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically.",
    "Age": "CreationTimestamp is a timestamp representing the server time when this object was created.",
}
_DOCS["Created At"] = _DOCS["Age"]  # the default table convertor's timestamp column


def _cols(*specs: str) -> list[dict]:
    """"Title[:type][*]" -> column definition ("*": priority 1); kubectl never shows descriptions."""
    out = []
    for spec in specs:
        title, _, typ = spec.rstrip("*").partition(":")
        out.append({"name": title, "type": typ or "string", "format": "name" if title == "Name" else "",
                    "description": _DOCS.get(title, ""), "priority": 1 if spec.endswith("*") else 0})
    return out


_TEMPLATE = ("Containers*", "Images*")
_WEBHOOKS = _cols("Name", "Webhooks:integer", "Age")
_PRINTERS: dict[str, tuple[list[dict], Callable[[dict, datetime], list]]] = {
    "Pod": (_cols("Name", "Ready", "Status", "Restarts", "Age", "IP*", "Node*", "Nominated Node*",
                  "Readiness Gates*"), _print_pod),
    "Deployment": (_cols("Name", "Ready", "Up-to-date", "Available", "Age", *_TEMPLATE, "Selector*"),
                   _print_deployment),
    "ReplicaSet": (_cols("Name", "Desired:integer", "Current:integer", "Ready:integer", "Age", *_TEMPLATE,
                         "Selector*"), _print_replicaset),
    "StatefulSet": (_cols("Name", "Ready", "Age", *_TEMPLATE), _print_statefulset),
    "DaemonSet": (_cols("Name", "Desired:integer", "Current:integer", "Ready:integer", "Up-to-date:integer",
                        "Available:integer", "Node Selector", "Age", *_TEMPLATE, "Selector*"),
                  _print_daemonset),
    "Job": (_cols("Name", "Status", "Completions", "Duration", "Age", *_TEMPLATE, "Selector*"), _print_job),
    "CronJob": (_cols("Name", "Schedule", "Timezone", "Suspend:boolean", "Active:integer", "Last Schedule",
                      "Age", *_TEMPLATE, "Selector*"), _print_cronjob),
    "Namespace": (_cols("Name", "Status", "Age"), _print_namespace),
    "Node": (_cols("Name", "Status", "Roles", "Age", "Version", "Internal-IP*", "External-IP*", "OS-Image*",
                   "Kernel-Version*", "Container-Runtime*"), _print_node),
    "ConfigMap": (_cols("Name", "Data", "Age"), _print_configmap),
    "Event": (_cols("Last Seen", "Type", "Reason", "Object", "Subobject*", "Source*", "Message",
                    "First Seen*", "Count*", "Name*"), _print_event),
    "PodDisruptionBudget": (_cols("Name", "Min Available", "Max Unavailable", "Allowed Disruptions:integer",
                                  "Age"), _print_pdb),
    "MutatingWebhookConfiguration": (_WEBHOOKS, _print_webhooks),
    "ValidatingWebhookConfiguration": (_WEBHOOKS, _print_webhooks),
}
_DEFAULT = (_cols("Name", "Created At:date"), _print_default)


def column_definitions(kind: str) -> list[dict]:
    """The columnDefinitions the API server sends for `kind` (priority 1: shown with `-o wide` only)."""
    return copy.deepcopy(_PRINTERS.get(kind, _DEFAULT)[0])


def to_table(kind: str, objects: list[dict], now: datetime, include_object: str = "Metadata",
             list_meta: dict | None = None) -> dict:
    """Render `objects` of `kind` as the meta.k8s.io/v1 Table kube-apiserver returns for `as=Table`.

    include_object is TableOptions.includeObject: "None", "Metadata" (the default, also for "") or
    "Object"; any other value raises ValueError (the server answers 400 BadRequest with this message).
    list_meta supplies the Table's ListMeta (resourceVersion, continue, remainingItemCount).
    """
    policy = include_object or "Metadata"
    if policy not in _INCLUDE_POLICIES:
        raise ValueError(f'unrecognized includeObject value: "{include_object}"')
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    columns, printer = _PRINTERS.get(kind, _DEFAULT)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": printer(obj, now)}
        phase = _dig(obj, "status").get("phase")
        if kind == "Pod" and phase in _POD_DONE:  # printPod's row conditions for finished pods
            row["conditions"] = [{"type": "Completed", "status": "True", "reason": phase,
                                  "message": _POD_DONE[phase]}]
        if policy == "Object":
            row["object"] = copy.deepcopy(obj)
        elif policy == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": copy.deepcopy(_dig(obj, "metadata"))}
        rows.append(row)
    metadata = {k: v for k, v in (list_meta or {}).items() if k in _LIST_META_KEYS and v}
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
            "columnDefinitions": copy.deepcopy(columns), "rows": rows}

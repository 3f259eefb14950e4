"""The cluster: storage semantics the API server adds on top of the store (admission, defaulting,
validation, updates with conflicts, graceful deletion, eviction, events) and the controller loop.

Sources: apiserver `pkg/registry/generic/registry/store.go` (create/update/delete semantics),
`pkg/registry/core/pod/storage/eviction.go` (eviction vs PDB), `pkg/apis/*/v1/defaults.go`.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Callable

from . import admission, istio, patch
from .clock import Clock, parse_rfc3339
from .resources import BY_KIND, Resource
from .selectors import match_label_selector
from .store import ApiError, Store, conflict, not_found
from .validation import invalid, validate

POD, NAMESPACE, NODE = BY_KIND["Pod"], BY_KIND["Namespace"], BY_KIND["Node"]
EVENT, PDB, MWC, CONFIGMAP = (BY_KIND["Event"], BY_KIND["PodDisruptionBudget"],
                              BY_KIND["MutatingWebhookConfiguration"], BY_KIND["ConfigMap"])
ISTIO_NAMESPACE = "istio-system"
_NAME_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # apiserver/pkg/storage/names/generate.go


def random_suffix(rng: random.Random, n: int = 5) -> str:
    return "".join(rng.choice(_NAME_SUFFIX_CHARS) for _ in range(n))


@dataclass
class KubeletConfig:
    start_delay: float = 0.3  # image pull + container start
    readiness_delay: float = 1.0  # from start until readiness probes pass
    termination_delay: float = 0.5  # from deletion until the containers have exited
    job_seconds: float = 2.0  # how long a Job pod's app container runs


FAULT_DEFAULTS: dict = {
    "api_errors": {},  # {"500": 0.2, "429": 0.1}: fraction of API requests answered with that code
    "retry_after": 1,  # Retry-After seconds sent with 429/503
    "conflict_rate": 0.0,  # fraction of update/patch requests answered 409 Conflict
    "conflict_first_write": False,  # the first update/patch of each object gets 409
    "watch_drop_after": None,  # seconds after which watch streams are cut
    "watch_gone": False,  # watches resuming from a resourceVersion get 410 Gone
    "injector_down": False,  # True, or a list of revisions whose injector is unreachable
    "proxy_image_pull_failure": False,  # istio proxy image cannot be pulled
    "crash_loop": [],  # container names (or {"container", "namespace"}) that crash-loop
    "readiness_delay": None,  # overrides the kubelet readiness delay (simulated seconds)
    "block_evictions": False,  # every PodDisruptionBudget behaves as if it allowed no disruption
    "unreachable_seconds": 0,  # the API server refuses connections for this long (from now)
    "latency_ms": 0,  # added to every API response
    "admission_deny": [],  # rules refusing API writes like a policy engine (admission.py)
    "clock_offset": 0,  # seconds the server's clock (Date header, timestamps) runs ahead of the host; may be < 0
}


@dataclass
class Cluster:
    clock: Clock
    version: str = "v1.32.4"
    kubelet: KubeletConfig = field(default_factory=KubeletConfig)
    seed: int = 1

    def __post_init__(self):
        self.store = Store(self.clock.iso)
        self.rng = random.Random(self.seed)
        self.faults = copy.deepcopy(FAULT_DEFAULTS)
        self.unreachable_until = 0.0
        self.uid_index: dict[str, tuple[Resource, str, str]] = {}
        self.queue: collections.OrderedDict = collections.OrderedDict()
        self.handlers: dict[str, Callable[[str, str], None]] = {}
        self.wakeup: asyncio.Event | None = None
        self.last_activity = self.clock.now()
        self._event_index: dict[tuple, tuple[str, str]] = {}
        self.store.add_listener(self._index_uid)

    # -- work queue --------------------------------------------------------------------------
    def enqueue(self, handler: str, namespace: str, name: str) -> None:
        self.queue[(handler, namespace, name)] = None
        if self.wakeup is not None:
            self.wakeup.set()

    def later(self, delay: float, handler: str, namespace: str, name: str) -> None:
        self.clock.call_later(delay, lambda: self.enqueue(handler, namespace, name))
        if self.wakeup is not None:
            self.wakeup.set()

    def run_pending(self, budget: int = 500) -> int:
        """Process up to `budget` queued items and due timers; returns how many ran."""
        for fn in self.clock.pop_due():
            fn()
        done = 0
        while self.queue and done < budget:
            (handler, namespace, name), _ = self.queue.popitem(last=False)
            self.handlers[handler](namespace, name)
            done += 1
        if done:
            self.last_activity = self.clock.now()
        return done

    def settle(self, max_sim_seconds: float = 3600) -> None:
        """Run controllers to quiescence, jumping the clock to each next timer (scenario load)."""
        deadline = self.clock.now() + max_sim_seconds
        while True:
            while self.run_pending(10_000):
                pass
            due = self.clock.next_due()
            if due is None or due > deadline:
                return
            self.clock.advance(due - self.clock.now())

    async def run(self) -> None:
        self.wakeup = asyncio.Event()
        while True:
            ran = self.run_pending()
            if ran:
                await asyncio.sleep(0)  # let API requests in between batches
                continue
            due = self.clock.next_due()
            timeout = None if due is None else self.clock.wall_seconds_until(due)
            self.wakeup.clear()
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    # -- lookups -----------------------------------------------------------------------------
    def _index_uid(self, res: Resource, event) -> None:
        meta = event.obj["metadata"]
        if event.type == "DELETED":
            self.uid_index.pop(meta["uid"], None)
        else:
            self.uid_index[meta["uid"]] = (res, meta.get("namespace", ""), meta["name"])

    def get(self, res: Resource, namespace: str | None, name: str) -> dict:
        obj = self.store.get(res, namespace if res.namespaced else None, name)
        if obj is None:
            raise not_found(res, name)
        return obj

    def by_uid(self, uid: str) -> dict | None:
        entry = self.uid_index.get(uid)
        return self.store.get(entry[0], entry[1], entry[2]) if entry else None

    def pods_with_owner(self, owner_uid: str) -> list[dict]:
        return [self.store.get(res, *key) for res, key in self.store.dependents.get(owner_uid, ())
                if res is POD]

    # -- create ------------------------------------------------------------------------------
    def create(self, res: Resource, obj: dict, namespace: str | None = None, dry_run: bool = False, *,
               admit: bool = False) -> dict:
        """admit: run validating admission (API requests and the controllers' pod creates, which a real API
        server admits like any request; kubesim's other bookkeeping writes are not refused)."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        for key in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation"):
            meta.pop(key, None)
        if res.namespaced:
            if namespace and meta.get("namespace", namespace) != namespace:
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the "
                                                  "namespace sent on the request")
            meta["namespace"] = namespace = namespace or meta.get("namespace") or "default"
            ns_obj = self.store.get(NAMESPACE, None, namespace)
            if ns_obj is None:
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                               {"name": namespace, "kind": "namespaces"})
            if ns_obj["metadata"].get("deletionTimestamp") and res is not EVENT:
                raise ApiError(403, "Forbidden", f"{res.plural} \"{meta.get('name', '')}\" is forbidden: unable "
                               f"to create new content in namespace {namespace} because it is being terminated")
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + random_suffix(self.rng)
        if not meta.get("name"):
            raise invalid(res, "", ["metadata.name: Required value: name or generateName is required"])
        defaults = _DEFAULTERS.get(res.kind)
        if defaults:
            defaults(obj)
        if res is POD:
            obj = self._admit_pod(obj)
        validate(res, obj)
        if admit:
            self._validating_admission("CREATE", res, None, namespace if res.namespaced else None, meta["name"], obj)
        if self.store.get(res, namespace, meta["name"]) is not None:
            group = f".{res.group}" if res.group else ""
            raise ApiError(409, "AlreadyExists", f'{res.plural}{group} "{meta["name"]}" already exists',
                           {"name": meta["name"], "group": res.group, "kind": res.plural})
        if dry_run:  # BeforeCreate fills uid and creationTimestamp; the dry-run storage sets no resourceVersion
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=self.clock.iso(),
                        **({"generation": 1} if res.has_generation else {}))
            return {**obj, "apiVersion": res.api_version, "kind": res.kind}
        return self.store.insert(res, obj)

    def _admit_pod(self, pod: dict) -> dict:
        """Mutating admission: Istio's injector webhooks, decided by their selectors."""
        namespace = self.store.get(NAMESPACE, None, pod["metadata"]["namespace"])
        decision = istio.decide_injection(self.store.objects(MWC), namespace, pod)
        if not decision.webhook:
            return pod
        # The API server calls a matching webhook even when istiod then declines to inject.
        revision = decision.revision or decision.matched[-1]["revision"]
        if revision and not self.injector_reachable(revision) and decision.failure_policy != "Ignore":
            raise ApiError(500, "InternalError",
                           f'Internal error occurred: failed calling webhook "{decision.webhook}": failed to call '
                           f'webhook: Post "https://istiod-{revision}.istio-system.svc:443/inject?timeout=10s": '
                           f'no endpoints available for service "istiod-{revision}"',
                           {"causes": [{"message": f'failed calling webhook "{decision.webhook}"'}]})
        if not decision.revision or not self.injector_reachable(decision.revision):
            return pod
        values = istio.sidecar_injector_values(self.store.objects(CONFIGMAP, ISTIO_NAMESPACE), decision.revision)
        if values is None:
            raise ApiError(500, "InternalError", f'Internal error occurred: failed calling webhook '
                                                 f'"{decision.webhook}": injector has no configuration for revision '
                                                 f'"{decision.revision}"')
        kubelets = [(n.get("status") or {}).get("nodeInfo", {}).get("kubeletVersion", "")
                    for n in self.store.objects(NODE)]
        native = values["native_sidecars"] or istio.native_sidecar_enabled(values["native_sidecar_mode"], kubelets)
        return istio.inject_pod(pod, decision.revision, values["image"], native, values.get("cni", False),
                                injector=values, proxyconfigs=self.store.objects(BY_KIND["ProxyConfig"]))

    def injector_reachable(self, revision: str) -> bool:
        down = self.faults["injector_down"]
        if down is True or (isinstance(down, list) and revision in down):
            return False
        if self.managed_revision(revision):
            return True
        # The webhook calls Service istiod-<rev>: it needs a ready endpoint (a ready istiod pod).
        return bool(self.ready_istiod_pods(revision))

    def managed_revision(self, revision: str) -> bool:
        return self.store.get(BY_KIND["ControlPlaneRevision"], ISTIO_NAMESPACE, revision) is not None

    def ready_istiod_pods(self, revision: str) -> list[dict]:
        return [p for p in self.store.objects(POD, ISTIO_NAMESPACE)
                if (p["metadata"].get("labels") or {}).get("app") == "istiod"
                and (p["metadata"].get("labels") or {}).get("istio.io/rev") == revision and pod_ready(p)]

    # -- update / patch ----------------------------------------------------------------------
    def update(self, res: Resource, namespace: str | None, name: str, new: dict,
               subresource: str | None = None, dry_run: bool = False, *, admit: bool = False) -> dict:
        current = self.get(res, namespace, name)
        new = copy.deepcopy(new)
        meta = new.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise ApiError(400, "BadRequest", f"the name of the object ({meta.get('name')}) does not match the "
                                              f"name on the URL ({name})")
        if meta.get("resourceVersion") and meta["resourceVersion"] != current["metadata"]["resourceVersion"]:
            raise conflict(res, name)
        cur_meta = current["metadata"]
        if subresource == "status":
            merged = {**current, "status": new.get("status", {})}
        else:
            merged = {**new, "metadata": {**meta, **{k: cur_meta[k] for k in (
                "uid", "creationTimestamp", "namespace", "deletionTimestamp", "deletionGracePeriodSeconds",
                "generation") if k in cur_meta}, "name": name}}
            defaults = _DEFAULTERS.get(res.kind)
            if defaults:  # the decoder defaults every write, updates and patches included
                defaults(merged)
            if "status" in current or "status" in merged:
                merged["status"] = current.get("status", {})
            if res is POD:
                self._check_pod_update(current, merged)
            # Deployments also bump on annotation changes (apps deployment strategy PrepareForUpdate).
            if res.has_generation and (_spec(merged) != _spec(current) or (res.kind == "Deployment" and (
                    meta.get("annotations") or {}) != (cur_meta.get("annotations") or {}))):
                merged["metadata"]["generation"] = cur_meta.get("generation", 1) + 1
        validate(res, merged)
        if admit:  # before the no-op check: admission sees unchanged updates too
            self._validating_admission("UPDATE", res, subresource, namespace, name, merged)
        if _same(merged, current):  # etcd3 GuaranteedUpdate: unchanged data is not written, no new resourceVersion
            return current
        if dry_run:  # dryrun.go GuaranteedUpdate: the update as computed on the current object, its resourceVersion
            return {**merged, "apiVersion": res.api_version, "kind": res.kind,
                    "metadata": {**merged["metadata"], "resourceVersion": cur_meta["resourceVersion"]}}
        if merged["metadata"].get("deletionTimestamp") and not merged["metadata"].get("finalizers"):
            return self.store.remove(res, namespace if res.namespaced else None, name)
        return self.store.replace(res, merged)

    def _check_pod_update(self, current: dict, new: dict) -> None:
        # Pod spec is immutable except images and a few fields (core/validation ValidatePodUpdate).
        def scrub(spec):
            spec = copy.deepcopy(spec or {})
            for key in ("containers", "initContainers"):
                for container in spec.get(key, []):
                    container.pop("image", None)
            for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
                spec.pop(key, None)
            return spec
        if scrub(current.get("spec")) != scrub(new.get("spec")):
            raise invalid(POD, current["metadata"]["name"], [
                "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`, "
                "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions "
                "to existing tolerations), `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
                "was previously negative)"])

    def patch(self, res: Resource, namespace: str | None, name: str, body: bytes, content_type: str,
              subresource: str | None = None, dry_run: bool = False, *, admit: bool = False) -> dict:
        current = self.get(res, namespace, name)
        try:
            patched = patch.apply_patch(current, body, content_type, res.kind)
        except patch.PatchError as exc:
            reason = {415: "UnsupportedMediaType", 422: "Invalid"}.get(exc.code, "BadRequest")
            raise ApiError(exc.code, reason, str(exc)) from None
        # A patch carries a resourceVersion precondition only if it sets one.
        if (patched.get("metadata") or {}).get("resourceVersion") == current["metadata"]["resourceVersion"]:
            patched["metadata"] = {k: v for k, v in patched["metadata"].items() if k != "resourceVersion"}
        return self.update(res, namespace, name, patched, subresource, dry_run, admit=admit)

    # -- delete ------------------------------------------------------------------------------
    def delete(self, res: Resource, namespace: str | None, name: str, options: dict | None = None,
               dry_run: bool = False, *, admit: bool = False) -> tuple[int, dict]:
        """Returns (HTTP code, object): 200 when gone, 202 when deletion is pending (registry/store.go)."""
        options = options or {}
        obj = self.get(res, namespace, name)
        meta = obj["metadata"]
        pre = options.get("preconditions") or {}
        if (pre.get("uid") and pre["uid"] != meta["uid"]) or (
                pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]):
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.plural} "{name}": '
                                            "Precondition failed")
        if admit:
            self._validating_admission("DELETE", res, None, namespace if res.namespaced else None, name, obj)
        ns = namespace if res.namespaced else None
        grace = options.get("gracePeriodSeconds")
        if dry_run:  # what the real call answers, nothing stored (dryrun.Store; graceful pods come back marked)
            if res is POD and not meta.get("deletionTimestamp") and self._graceful(obj, grace):
                grace = obj["spec"].get("terminationGracePeriodSeconds", 30) if grace is None else grace
                return 202, {**obj, "metadata": {**meta, "deletionTimestamp": self.clock.iso(self.clock.now() + grace),
                                                 "deletionGracePeriodSeconds": grace}}
            return (202 if meta.get("deletionTimestamp") else 200), obj
        if res is POD and meta.get("deletionTimestamp"):
            if grace == 0:
                return 200, self.store.remove(res, ns, name)
            return 202, obj
        if meta.get("deletionTimestamp"):
            return 202, obj
        propagation = options.get("propagationPolicy") or ("Orphan" if options.get("orphanDependents") else None)
        finalizers = list(meta.get("finalizers") or [])
        if propagation == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        elif propagation == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        now = self.clock.iso()
        if res is NAMESPACE:
            marked = {**obj, "metadata": {**meta, "deletionTimestamp": now},
                      "status": {**obj.get("status", {}), "phase": "Terminating"}}
            self.enqueue("namespace", "", name)
            return 200, self.store.replace(res, marked)
        if res is POD and self._graceful(obj, grace):
            grace = obj["spec"].get("terminationGracePeriodSeconds", 30) if grace is None else grace
            deadline = self.clock.iso(self.clock.now() + grace)
            marked = {**obj, "metadata": {**meta, "deletionTimestamp": deadline,
                                          "deletionGracePeriodSeconds": grace, "finalizers": finalizers or None}}
            marked["metadata"] = {k: v for k, v in marked["metadata"].items() if v is not None}
            return 202, self.store.replace(res, marked)
        if finalizers:
            marked = {**obj, "metadata": {**meta, "deletionTimestamp": now, "deletionGracePeriodSeconds": 0,
                                          "finalizers": finalizers}}
            stored = self.store.replace(res, marked)
            self.enqueue("gc", "", meta["uid"])
            return 202, stored
        return 200, self.store.remove(res, ns, name)

    def _graceful(self, pod: dict, grace: int | None) -> bool:
        if grace == 0:
            return False
        # Unscheduled or finished pods are deleted at once (pod strategy CheckGracefulDelete).
        phase = (pod.get("status") or {}).get("phase")
        return bool(pod["spec"].get("nodeName")) and phase not in ("Succeeded", "Failed")

    # -- eviction ----------------------------------------------------------------------------
    def evict(self, namespace: str, name: str, body: dict | None, dry_run: bool = False, *,
              admit: bool = False) -> dict:
        pod = self.get(POD, namespace, name)
        options = (body or {}).get("deleteOptions") or {}
        if admit:
            self._validating_admission("CREATE", POD, "eviction", namespace, name, body or {})
        if pod["metadata"].get("deletionTimestamp"):
            return _success_status()
        # Pods that are not running can always be evicted (eviction.go canIgnorePDB).
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Running",) and pod["spec"].get("nodeName"):
            pdbs = [p for p in self.store.objects(PDB, namespace)
                    if match_label_selector(p["spec"].get("selector"), pod["metadata"].get("labels"))]
            if len(pdbs) > 1:
                raise ApiError(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the "
                                                     "eviction subresource does not support.")
            if pdbs:
                status = pdb_status(self, pdbs[0])
                allowed = 0 if self.faults["block_evictions"] else status["disruptionsAllowed"]
                if allowed < 1:
                    pdb_name = pdbs[0]["metadata"]["name"]
                    raise ApiError(
                        429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                        {"causes": [{"reason": "DisruptionBudget",
                                     "message": f"The disruption budget {pdb_name} needs "
                                                f"{status['desiredHealthy']} healthy pods and has "
                                                f"{status['currentHealthy']} currently"}]})
        self.delete(POD, namespace, name, options, dry_run, admit=admit)
        return _success_status()

    def _validating_admission(self, operation: str, res: Resource, subresource: str | None,
                              namespace: str | None, name: str, obj: dict) -> None:
        error = admission.refusal(self.faults["admission_deny"], operation, res, subresource, namespace, name, obj)
        if error is not None:
            raise error

    def set_faults(self, knobs: dict) -> None:
        """Validate and apply fault knobs (scenario `faults:` and POST /_kubesim/faults)."""
        if "admission_deny" in knobs:
            admission.check_rules(knobs["admission_deny"])
        if "clock_offset" in knobs:
            # Shift the simulated clock with its timers: the server's clock steps, pending delays keep their length.
            self.clock.shift(float(knobs["clock_offset"]) - float(self.faults["clock_offset"]))
        self.faults.update(knobs)

    # -- events ------------------------------------------------------------------------------
    def record_event(self, involved: dict, event_type: str, reason: str, message: str, component: str) -> None:
        """Record a core/v1 Event, aggregating repeats into a count like client-go's recorder."""
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (meta["uid"], reason, message)
        now = self.clock.iso()
        existing = self._event_index.get(key)
        if existing:
            current = self.store.get(EVENT, *existing)
            if current is not None:
                self.store.replace(EVENT, {**current, "count": current.get("count", 1) + 1, "lastTimestamp": now})
                return
        name = f"{meta['name']}.{self.rng.getrandbits(64):016x}"
        self.store.insert(EVENT, {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {"kind": involved["kind"], "namespace": meta.get("namespace"), "name": meta["name"],
                               "uid": meta["uid"], "apiVersion": involved["apiVersion"],
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "message": message, "type": event_type, "count": 1,
            "source": {"component": component}, "reportingComponent": component,
            "firstTimestamp": now, "lastTimestamp": now})
        self._event_index[key] = (namespace, name)


def _success_status() -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def _spec(obj: dict) -> str:
    return json.dumps(obj.get("spec"), sort_keys=True)


def _same(new: dict, current: dict) -> bool:
    """Equal but for TypeMeta and resourceVersion, which the store sets."""
    def strip(obj):
        return {**{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")},
                "metadata": {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}}
    return strip(new) == strip(current)


def pod_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def ready_since(pod: dict) -> float | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            return parse_rfc3339(cond["lastTransitionTime"])
    return None


def _scaled(value, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, str) and value.endswith("%"):
        raw = int(value[:-1]) * total / 100
        return int(-(-raw // 1)) if round_up else int(raw // 1)
    return int(value)


def _controllers_scale(cluster: Cluster, pods: list[dict]) -> int:
    """disruption getExpectedScale: the summed spec.replicas of the pods' controllers, each once (a ReplicaSet's
    Deployment stands for it); pods without a controller do not count. Controllers without a scale (DaemonSet,
    Job), which the real controller refuses, count their pods."""
    scales: dict[str, int] = {}
    for pod in pods:
        ref = next((r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
        owner = cluster.by_uid(ref["uid"]) if ref else None
        if owner is None:
            continue
        parent = next((r for r in owner["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
        if owner["kind"] == "ReplicaSet" and parent and parent["kind"] == "Deployment":
            owner = cluster.by_uid(parent["uid"]) or owner
        uid = owner["metadata"]["uid"]
        if "replicas" in (owner.get("spec") or {}) and owner["kind"] in ("Deployment", "ReplicaSet", "StatefulSet"):
            scales[uid] = owner["spec"]["replicas"]
        else:
            scales[uid] = scales.get(uid, 0) + 1
    return sum(scales.values())


def pdb_status(cluster: Cluster, pdb: dict) -> dict:
    """disruption controller: expected, healthy and allowed disruptions of a PodDisruptionBudget.

    pkg/controller/disruption: getExpectedPodCount takes the expected count from the pods' controllers' scale for
    maxUnavailable and percentage minAvailable, from the matching pods for an integer minAvailable;
    countHealthyPods skips pods being deleted."""
    pods = [p for p in cluster.store.objects(POD, pdb["metadata"]["namespace"])
            if match_label_selector(pdb["spec"].get("selector"), p["metadata"].get("labels"))]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    healthy = sum(1 for p in live if pod_ready(p))
    spec = pdb["spec"]
    if spec.get("maxUnavailable") is not None:
        expected = _controllers_scale(cluster, pods)
        desired = max(0, expected - _scaled(spec["maxUnavailable"], expected, True))
    elif isinstance(spec.get("minAvailable"), int):
        expected, desired = len(pods), spec["minAvailable"]
    elif spec.get("minAvailable") is not None:
        expected = _controllers_scale(cluster, pods)
        desired = _scaled(spec["minAvailable"], expected, True)
    else:
        expected = desired = len(live)
    return {"expectedPods": expected, "currentHealthy": healthy, "desiredHealthy": desired,
            "disruptionsAllowed": max(0, healthy - desired), "observedGeneration": pdb["metadata"].get("generation")}


# -- defaulting (pkg/apis/core/v1/defaults.go, pkg/apis/apps/v1/defaults.go) ---------------------
def _default_pod_spec(spec: dict) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        image = container.get("image", "")
        tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
        latest = not tagged or image.endswith(":latest")
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})


def _default_pod(pod: dict) -> None:
    _default_pod_spec(pod.setdefault("spec", {}))
    pod.setdefault("status", {}).setdefault("phase", "Pending")
    pod["status"].setdefault("qosClass", "BestEffort")


def _default_template(obj: dict) -> None:
    _default_pod_spec(obj.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {}))


def _default_deployment(obj: dict) -> None:
    _default_template(obj)
    spec = obj["spec"]
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy["type"] = "RollingUpdate"
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxSurge", "25%")
        rolling.setdefault("maxUnavailable", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def _default_statefulset(obj: dict) -> None:
    _default_template(obj)
    spec = obj["spec"]
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy["type"] = "RollingUpdate"
        strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)


def _default_daemonset(obj: dict) -> None:
    _default_template(obj)
    spec = obj["spec"]
    strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy["type"] = "RollingUpdate"
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)


def _default_job(obj: dict) -> None:
    _default_template(obj)
    spec = obj["spec"]
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec["template"]["spec"]["restartPolicy"] = spec["template"]["spec"].get("restartPolicy") or "Never"


def _default_namespace(obj: dict) -> None:
    labels = obj["metadata"].setdefault("labels", {})
    # NamespaceDefaultLabelName (1.22+): every namespace carries its own name as a label.
    labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    obj.setdefault("spec", {"finalizers": ["kubernetes"]})
    obj.setdefault("status", {"phase": "Active"})


_DEFAULTERS = {"Pod": _default_pod, "Deployment": _default_deployment, "StatefulSet": _default_statefulset,
               "DaemonSet": _default_daemonset, "Job": _default_job, "Namespace": _default_namespace,
               "ReplicaSet": _default_template}

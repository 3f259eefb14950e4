"""Helpers shared by the kubesim integration tests: the real `kubernetes` client against a running
kubesim process, polling with deadlines, and readers for what Istio puts on a pod."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field

from kubernetes import client, watch

STATUS_ANNOTATION = "sidecar.istio.io/status"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass
class Kube:
    """Typed API groups of the real kubernetes client, bound to one kubesim."""
    api: client.ApiClient
    core: client.CoreV1Api
    apps: client.AppsV1Api
    batch: client.BatchV1Api
    policy: client.PolicyV1Api
    admission: client.AdmissionregistrationV1Api

    def raw(self, obj) -> dict:
        """The JSON form of a typed object (camelCase keys), as the server sent it."""
        return self.api.sanitize_for_serialization(obj)


def kube(sim) -> Kube:
    api = sim.api_client()
    return Kube(api, client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api), client.PolicyV1Api(api),
                client.AdmissionregistrationV1Api(api))


def wait_for(predicate, timeout: float = 20, interval: float = 0.1, what: str = "condition"):
    """Poll `predicate` until it returns something truthy (returned); fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}; "
                                 f"last value: {value!r}")
        time.sleep(interval)


def api_error(fn, *args, **kwargs) -> client.ApiException:
    """Call fn, which must fail with an ApiException; return it."""
    try:
        result = fn(*args, **kwargs)
    except client.ApiException as exc:
        return exc
    raise AssertionError(f"expected an API error, got {result!r}")


def gone(fn, *args, **kwargs) -> bool:
    """True once reading the object answers 404."""
    try:
        fn(*args, **kwargs)
    except client.ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def error_body(exc: client.ApiException) -> dict:
    return json.loads(exc.body)


def rows(output: str) -> list[list[str]]:
    """kubectl's table output: one list of cells per row, header dropped."""
    return [re.split(r"\s{2,}", line.strip()) for line in output.strip().splitlines()[1:]]


def kubectl_pods(sim, namespace: str) -> dict[str, list[str]]:
    """`kubectl get pod -n NS`: name → [READY, STATUS, RESTARTS, AGE]."""
    return {r[0]: r[1:] for r in rows(sim.kubectl("get", "pod", "-n", namespace).stdout)}


def namespace(k: Kube, name: str, labels: dict | None = None):
    return k.core.create_namespace({"metadata": {"name": name, "labels": dict(labels or {})}})


def pod_manifest(name: str, labels: dict | None = None, image: str = "docker.io/library/nginx:1.27",
                 container: str = "app", **spec) -> dict:
    return {"metadata": {"name": name, "labels": dict(labels or {})},
            "spec": {"containers": [{"name": container, "image": image}], **spec}}


def create_pod(k: Kube, ns: str, name: str, labels: dict | None = None, **spec):
    return k.core.create_namespaced_pod(ns, pod_manifest(name, labels, **spec))


def deployment_manifest(name: str, replicas: int = 1, image: str = "docker.io/library/nginx:1.27",
                        strategy: dict | None = None, **spec) -> dict:
    body = {"metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": image}]}}, **spec}}
    if strategy is not None:
        body["spec"]["strategy"] = strategy
    return body


def container_names(pod) -> list[str]:
    return [c.name for c in pod.spec.containers]


def init_container_names(pod) -> list[str]:
    return [c.name for c in pod.spec.init_containers or []]


def has_proxy(pod) -> bool:
    return "istio-proxy" in container_names(pod) + init_container_names(pod)


def injection_status(pod) -> dict | None:
    """The parsed `sidecar.istio.io/status` annotation (inject.go SidecarInjectionStatus), or None."""
    text = (pod.metadata.annotations or {}).get(STATUS_ANNOTATION)
    return json.loads(text) if text else None


def injected_revision(pod) -> str | None:
    """The revision that injected the pod: the status annotation's `revision` — only if the pod really has
    istio-proxy (an annotation without the container would be a lie)."""
    status = injection_status(pod)
    if status is None:
        assert not has_proxy(pod), "istio-proxy without the sidecar.istio.io/status annotation"
        return None
    assert has_proxy(pod), f"status annotation {status} but no istio-proxy container"
    return status["revision"]


def pod_ready(pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def events_for(k: Kube, ns: str, name: str, reason: str | None = None) -> list:
    selector = f"involvedObject.name={name}" + (f",reason={reason}" if reason else "")
    return k.core.list_namespaced_event(ns, field_selector=selector).items


@dataclass
class PodWatch:
    """Follows every pod event in a namespace on a background watch (real client-go-style stream) and
    keeps the namespace's pods as of each event, so invariants can be checked on every intermediate
    state rather than on polls that might miss one."""
    k: Kube
    ns: str
    check: object = None  # callable(pods: dict[name, raw pod]) run after every event
    pods: dict = field(default_factory=dict)
    events: list = field(default_factory=list)  # (type, name, raw pod)
    error: BaseException | None = None

    def __post_init__(self):
        listing = self.k.core.list_namespaced_pod(self.ns)
        for pod in listing.items:
            self.pods[pod.metadata.name] = self.k.raw(pod)
        self._rv = listing.metadata.resource_version
        self._watch = watch.Watch()
        self._stopping = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            for event in self._watch.stream(self.k.core.list_namespaced_pod, self.ns, resource_version=self._rv,
                                            timeout_seconds=300, _preload_content=False):
                obj = event["raw_object"]
                name = obj["metadata"]["name"]
                with self._lock:
                    if event["type"] == "DELETED":
                        self.pods.pop(name, None)
                    else:
                        self.pods[name] = obj
                    self.events.append((event["type"], name, obj))
                    if self.check:
                        self.check(dict(self.pods))
            if not self._stopping:
                raise AssertionError("the pod watch ended before stop(): events may have been missed")
        except BaseException as exc:  # surfaced by stop()
            if not self._stopping:  # Watch.stop() shuts the socket down: the read then fails, by design
                self.error = exc

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self.pods)

    def stop(self):
        self._stopping = True
        self._watch.stop()
        self._thread.join(timeout=1)
        if self.error is not None:
            raise self.error


def raw_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def raw_terminating(pod: dict) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))

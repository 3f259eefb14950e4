"""The shared integration suite against the real control plane (`--cluster=real`): a stand-in for
kubesim's `testing.Sim` backed by tests/realcluster/launcher.py.

What a test uses of a Sim works the same: `kubeconfig`, `env()`, `kubectl(...)` (the built kubectl
v1.36.3), `audit_mark()` / `writes()` / `stored_writes()` (from kube-apiserver's audit log, mapped to
kubesim's entry keys), `api_client()`.  kubesim's fault API (`faults()`, `state()`) does not exist
here: a test that needs it is marked `kubesim_only` and never reaches this class.

One real cluster per scenario is started for the session (~30 s each) and shared: `reset()` puts the
scenario's namespaces back before every test -- a namespace whose labels alone changed is
relabelled; one whose pods or workloads changed is deleted (its pods force-deleted) and re-created
from the scenario; namespaces a test created are deleted.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REALCLUSTER = HERE.parent / "realcluster"
for path in (REALCLUSTER, REALCLUSTER / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import launcher  # noqa: E402
from realcluster_helpers import RealClusterProcess, require_binaries  # noqa: E402

SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease", "istio-system"}
NEVER_DELETED = {"default"}  # its labels are reset, the namespace is kept
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Pod")
_METHODS = {"create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETE"}
# Writes by clients a test runs (the collection, kubectl, the kubernetes client); the cluster's own
# components (controllers, scheduler, kwok, pilot-discovery -- the latter two with the admin
# certificate, too) are not what kubesim's audit log holds either.
_CLIENT_AGENTS = ("servicemesh.asm/", "kubectl", "OpenAPI-Generator/", "istioctl")


def _epoch(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def audit_entry(event: dict) -> dict:
    """One audit.k8s.io/v1 Event as kubesim's audit entry (the keys tests read)."""
    ref = event.get("objectRef") or {}
    uri = event.get("requestURI", "")
    path, _sep, query = uri.partition("?")
    name = ref.get("name")
    namespace = ref.get("namespace")
    if ref.get("resource") == "namespaces" and not ref.get("apiGroup"):
        namespace = name  # kubesim (like RequestInfo) scopes /api/v1/namespaces/<name> to <name>
    return {"time": _epoch(event.get("stageTimestamp") or event["requestReceivedTimestamp"]),
            "method": _METHODS.get(event["verb"], event["verb"].upper()), "path": path, "query": query,
            "user": (event.get("user") or {}).get("username"), "verb": event["verb"],
            "resource": ref.get("resource"), "subresource": ref.get("subresource"), "namespace": namespace,
            "name": name, "code": (event.get("responseStatus") or {}).get("code"),
            "dry_run": "dryRun=All" in query.split("&"),
            "impersonated_user": event.get("impersonatedUser"), "user_agent": event.get("userAgent", "")}


class RealSim:
    kind = "real"

    def __init__(self, scenario: str, directory: Path):
        require_binaries()
        self.scenario_name = scenario
        self.process = RealClusterProcess(scenario, directory)
        self.process.start()
        self.start_seconds = self.process.start_seconds
        self.kubeconfig = self.process.kubeconfig
        self.state_info = self.process.state
        self.audit_log = Path(self.state_info["audit_log"])
        self.kubectl_bin = self.state_info["binaries"]["kubectl"]
        self.objects = launcher.Scenario(scenario).objects
        self.baseline = self.snapshot()
        self.resets: list[tuple[str, float]] = []

    # -- what tests use of kubesim's Sim ----------------------------------------------------
    def env(self, **extra) -> dict:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), **extra}

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120, input: str | None = None):
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        return subprocess.run([self.kubectl_bin, "--kubeconfig", str(self.kubeconfig), *args], env=env,
                              capture_output=True, text=True, check=check, timeout=timeout, input=input)

    def get_json(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", "-o", "json", *args).stdout)

    def audit_mark(self) -> int:
        time.sleep(0.2)  # the audit backend writes an event just after the response
        return self.audit_log.stat().st_size

    def audit(self, since: int = 0) -> list[dict]:
        time.sleep(0.3)
        with open(self.audit_log, "rb") as f:
            f.seek(since)
            data = f.read()
        events = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
        return [audit_entry(e) for e in events if e.get("stage") == "ResponseComplete"
                and e.get("userAgent", "").startswith(_CLIENT_AGENTS)
                and not (e.get("user") or {}).get("username", "").startswith("system:")]

    def writes(self, since: int = 0) -> list[dict]:
        return [e for e in self.audit(since) if e["verb"] in _METHODS]

    def stored_writes(self, since: int = 0) -> list[dict]:
        return [e for e in self.writes(since) if not e["dry_run"]]

    def faults(self, **knobs):
        raise AssertionError(f"kubesim's fault knobs {sorted(knobs)} do not exist on the real cluster: "
                             "mark the test kubesim_only")

    def state(self):
        raise AssertionError("kubesim's /_kubesim/state does not exist on the real cluster: mark the test kubesim_only")

    def api_client(self, context: str | None = None):
        from kubernetes import client, config
        return config.new_client_from_config(str(self.kubeconfig), context=context,
                                             client_configuration=client.Configuration())

    def stop(self) -> None:
        """Shared by the session: the pool stops it at the end."""

    def shutdown(self) -> None:
        self.process.stop()

    # -- reset between tests ------------------------------------------------------------------
    def snapshot(self) -> dict:
        namespaces = {}
        for ns in self.get_json("namespaces")["items"]:
            name = ns["metadata"]["name"]
            if name in SYSTEM_NAMESPACES:
                continue
            namespaces[name] = {"labels": ns["metadata"].get("labels") or {},
                                "annotations": ns["metadata"].get("annotations") or {},
                                "phase": (ns.get("status") or {}).get("phase")}
        pods = self.get_json("pods", "-A")["items"]
        workloads = {}
        for kind in ("deployments", "statefulsets", "daemonsets", "poddisruptionbudgets"):
            for obj in self.get_json(kind, "-A")["items"]:
                meta = obj["metadata"]
                workloads[(kind, meta["namespace"], meta["name"])] = meta.get("generation")
        for name, info in namespaces.items():
            info["pods"] = sorted(p["metadata"]["uid"] for p in pods if p["metadata"]["namespace"] == name)
            info["workloads"] = sorted((k, n, g) for (k, ns, n), g in workloads.items() if ns == name)
        return namespaces

    def reset(self) -> None:
        started = time.monotonic()
        now = self.snapshot()
        recreate = [n for n, base in self.baseline.items() if n not in NEVER_DELETED and (
            n not in now or now[n]["pods"] != base["pods"] or now[n]["workloads"] != base["workloads"]
            or now[n]["phase"] != "Active")]
        extra = [n for n in now if n not in self.baseline]
        for name in recreate + extra:
            self.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")
        for name in recreate + extra:
            self.kubectl("delete", "pods", "--all", "-n", name, "--force", "--grace-period=0", "--wait=false",
                         "--ignore-not-found", check=False)
        self._wait(lambda: not ({n["metadata"]["name"] for n in self.get_json("namespaces")["items"]}
                                & set(recreate + extra)), "deleted namespaces gone")
        for name, base in self.baseline.items():
            if name in recreate:
                continue
            labels = now[name]["labels"]
            if labels != base["labels"]:
                patch = {"metadata": {"labels": {**{k: None for k in labels if k not in base["labels"]},
                                                 **base["labels"]}}}
                self.kubectl("patch", "namespace", name, "--type=merge", "-p", json.dumps(patch))
        if recreate:
            objs = [o for o in self.objects if (o["metadata"].get("namespace") or o["metadata"]["name"]) in recreate]
            namespaces = [o for o in objs if o["kind"] == "Namespace"]
            rest = [o for o in objs if o["kind"] != "Namespace"]
            for batch in (namespaces, rest):
                if batch:
                    self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=realcluster-launcher",
                                 "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": batch}))
            self._wait(lambda: not self.unready(recreate), "re-created workloads ready",
                       report=lambda: self.unready(recreate))
        self.baseline = self.snapshot()
        self.resets.append((",".join(recreate) or "labels", time.monotonic() - started))

    def unready(self, namespaces) -> list[str]:
        out = []
        for obj in self.objects:
            kind, meta = obj["kind"], obj["metadata"]
            if kind not in WORKLOAD_KINDS or meta["namespace"] not in namespaces:
                continue
            live = self.get_json(kind.lower(), "-n", meta["namespace"], meta["name"])
            status = live.get("status") or {}
            if kind == "Pod":
                ok = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
            elif kind == "DaemonSet":
                ok = status.get("desiredNumberScheduled", 0) > 0 and \
                    status.get("numberReady") == status.get("desiredNumberScheduled") \
                    == status.get("updatedNumberScheduled")
            else:
                ok = status.get("readyReplicas", 0) == live["spec"].get("replicas", 1) == status.get("updatedReplicas")
            if not ok:
                out.append(f"{kind}/{meta['namespace']}/{meta['name']}")
        return out

    @staticmethod
    def _wait(predicate, what, timeout=180.0, report=None):
        launcher.wait_until(predicate, what, timeout, report=report, interval=0.5)


class RealPool:
    """The session's real clusters: one per scenario (a test that starts the same scenario twice gets a second)."""

    def __init__(self, directory_factory):
        self.directory_factory = directory_factory
        self.clusters: dict[str, list[RealSim]] = {}
        self.starts: list[tuple[str, float]] = []

    def get(self, scenario: str, index: int = 0) -> RealSim:
        running = self.clusters.setdefault(scenario, [])
        fresh = len(running) <= index
        while len(running) <= index:
            sim = RealSim(scenario, self.directory_factory(f"real-{scenario}-{len(running)}"))
            self.starts.append((scenario, sim.start_seconds))
            running.append(sim)
        if not fresh:
            running[index].reset()
        return running[index]

    def shutdown(self) -> None:
        for running in self.clusters.values():
            for sim in running:
                sim.shutdown()

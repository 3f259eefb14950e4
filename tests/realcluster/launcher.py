"""Start a real control plane for a kubesim scenario, serve it until SIGINT/SIGTERM, then stop it.

    python tests/realcluster/launcher.py --scenario seed --kubeconfig-out PATH [--disable-qps-limits] [--keep]

What runs (all local processes, every listener on 127.0.0.1; binaries from build.py's cache):
- kwokctl's binary runtime: etcd, kube-apiserver (RBAC and admission on, an audit log of every
  write), kube-controller-manager, kube-scheduler and kwok-controller, with kwok's "general" pod
  Stages (read from the kwok module in the Go module cache) and the node Stages; the scenario's
  nodes are kwok nodes.
- per control-plane revision of the scenario: the manifests of `istioctl manifest generate`
  (minimal profile, injection URL on loopback) applied, and one local `pilot-discovery` serving
  injection for it; the scenario's tags via `istioctl tag set`.
- the scenario's namespaces and workloads, expanded by kubesim's own scenarios module from the
  same tests/kubesim/scenarios/*.yaml files.

The kubeconfig is written (atomically) once injection works and the scenario's workloads are
ready; next to it, PATH.realcluster.json describes the run (run directory, PKI, audit log, ports,
pids).  All state lives in one temporary directory, removed on stop unless --keep.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # tests/: kubesim
import build  # noqa: E402
import versions  # noqa: E402
from kubesim import scenarios  # noqa: E402

ISTIO_NAMESPACE = "istio-system"
POD_STAGES = ["pod-create", "pod-init-container-running", "pod-init-container-completed", "pod-ready",
              "pod-complete", "pod-delete"]
NODE_STAGES = ["node/fast/node-initialize.yaml", "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml"]
STATE_SUFFIX = ".realcluster.json"
RUN_PREFIX = "servicemesh-asm-realcluster-"

# Every write (verbs other than get/list/watch) is logged; reads are not.  Leases and Events are
# logged at Metadata (the kwok nodes' heartbeats and the controllers' events are many and small),
# every other write with its request body, so a test can count and read the writes a run made.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "verbs": ["get", "list", "watch"]},
        {"level": "Metadata", "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]},
                                            {"group": "", "resources": ["events"]},
                                            {"group": "events.k8s.io", "resources": ["events"]}]},
        {"level": "Request"},
    ],
}


class Stop(Exception):
    """Raised by the SIGINT/SIGTERM handler."""


_START = time.monotonic()


def log(msg: str) -> None:
    print(f"realcluster: [{time.monotonic() - _START:6.1f}s] {msg}", file=sys.stderr, flush=True)


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _index in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def go_module_dir(module: str, version: str) -> Path:
    """A module's directory in the Go module cache (downloaded through the proxy if missing)."""
    env = dict(os.environ, GOFLAGS="-mod=mod", GOWORK="off", GOTOOLCHAIN="local")
    out = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"], env=env, check=True,
                         cwd=HERE / "modules" / "kwok", text=True, stdout=subprocess.PIPE).stdout
    return Path(json.loads(out)["Dir"])


def kwok_stages(pod_stages: str = "general") -> list[dict]:
    """kwok's own Stages: "general" pods take init/ready/termination delays (per pod by annotation);
    "fast" pods are ready as soon as they are scheduled (kwok's default set)."""
    stage_dir = go_module_dir("sigs.k8s.io/kwok", versions.KWOK) / "kustomize" / "stage"
    if pod_stages == "fast":
        files = sorted((stage_dir / "pod" / "fast").glob("pod-*.yaml"))
    else:
        files = [stage_dir / "pod" / "general" / f"{name}.yaml" for name in POD_STAGES]
    files += [stage_dir / rel for rel in NODE_STAGES]
    docs = []
    for path in files:
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _pdeathsig() -> None:
    """In the child: get SIGTERM if the launcher dies (even by SIGKILL)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


# -- the scenario, read by kubesim's own code ----------------------------------------------------
class Scenario:
    """What the real cluster takes from a kubesim scenario, and what it cannot (`skipped`)."""

    def __init__(self, name: str):
        self.name = name
        self.spec = scenarios.load_spec(name)
        spec = self.spec
        cp = spec.get("control_plane") or {}
        self.revisions = list(cp.get("revisions") or [])
        self.tags = []
        self.skipped = []
        if spec.get("kubernetes_version"):
            self.skipped.append(f"kubernetes_version {spec['kubernetes_version']} (the API server is "
                                f"{versions.KUBERNETES})")
        if spec.get("kubelet"):
            self.skipped.append("kubelet timings (kwok's general Stages time the pods; per-pod delays come "
                                "from the workloads' kwok annotations)")
        for managed in cp.get("managed") or []:
            self.skipped.append(f"managed control plane {managed.get('name')} (ControlPlaneRevision: kubesim only)")
        for tag in cp.get("tags") or []:
            if tag.get("managed") or tag.get("deactivated"):
                self.skipped.append(f"tag {tag['name']} ({'managed' if tag.get('managed') else 'deactivated'}: "
                                    f"kubesim only)")
            else:
                self.tags.append(tag)
        for rev in self.revisions:
            if rev.get("default") and not any(t["name"] == "default" for t in self.tags):
                self.tags.append({"name": "default", "revision": rev["name"]})
            if rev.get("failure_policy", "Fail") != "Fail":
                self.skipped.append(f"failure_policy {rev['failure_policy']} of {rev['name']} (Istio's is Fail)")
        self.nodes = scenarios._nodes(spec)
        self.objects = scenarios._app_objects(spec)
        self.users = list(spec.get("users") or [])

    def describe_skips(self) -> str:
        return "; ".join(self.skipped) or "nothing"


# -- the cluster ---------------------------------------------------------------------------------
class RealCluster:
    def __init__(self, scenario: Scenario, kubeconfig_out: Path, disable_qps_limits: bool = False,
                 keep: bool = False, wait_timeout: float = 180.0, pod_stages: str = "general"):
        self.scenario = scenario
        self.pod_stages = pod_stages
        self.kubeconfig_out = kubeconfig_out
        self.disable_qps_limits = disable_qps_limits
        self.keep = keep
        self.wait_timeout = wait_timeout
        self.bins = build.paths()
        missing = [n for n, p in self.bins.items() if not p.is_file()]
        if missing:
            raise SystemExit(f"realcluster: binaries not built: {', '.join(missing)}: run `make realcluster-build`")
        reap_orphans()
        self.run_dir = Path(tempfile.mkdtemp(prefix=RUN_PREFIX))
        (self.run_dir / "launcher.pid").write_text(f"{os.getpid()}\n")
        self.kwok_workdir = self.run_dir / "kwok"
        self.name = "asm-" + self.run_dir.name.rsplit("-", 1)[-1].lower().replace("_", "")[:8]
        self.kubeconfig = self.run_dir / "admin.kubeconfig"
        self.istiods: dict[str, dict] = {}
        self.created = False

    # paths kwokctl uses
    @property
    def cluster_dir(self) -> Path:
        return self.kwok_workdir / "clusters" / self.name

    def env(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KWOK_") and k != "KUBECONFIG"}
        env.update(KWOK_WORKDIR=str(self.kwok_workdir), KUBECONFIG=str(self.kubeconfig))
        env.update(extra)
        return env

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.bins["kubectl"]), "--kubeconfig", str(self.kubeconfig), *args],
                              input=input, text=True, capture_output=True, env=self.env(), check=False)
        if check and proc.returncode:
            raise RuntimeError(f"kubectl {' '.join(args)}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def get_json(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", "-o", "json", *args).stdout)

    def apply(self, objs: list[dict], what: str) -> None:
        if not objs:
            return
        text = yaml.safe_dump_all(objs, sort_keys=False)
        self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=realcluster-launcher",
                     "-f", "-", input=text)
        log(f"applied {len(objs)} {what}")

    # -- start ------------------------------------------------------------------------------
    def start(self) -> None:
        log(f"scenario {self.scenario.name}; run directory {self.run_dir}")
        log(f"scenario features not reproduced: {self.scenario.describe_skips()}")
        self.start_kube()
        self.load_nodes()
        self.start_istio()
        self.load_workloads()
        self.write_outputs()

    def start_kube(self) -> None:
        (apiserver, etcd, etcd_peer, kwok, kcm, scheduler) = free_ports(6)
        self.ports = {"kube-apiserver": apiserver, "etcd": etcd, "etcd-peer": etcd_peer, "kwok-controller": kwok,
                      "kube-controller-manager": kcm, "kube-scheduler": scheduler}
        config = [{"apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokctlConfiguration",
                   "options": {"bindAddress": "127.0.0.1", "etcdPeerPort": etcd_peer}}] + kwok_stages(self.pod_stages)
        config_path = self.run_dir / "kwokctl.yaml"
        config_path.write_text(yaml.safe_dump_all(config, sort_keys=False))
        audit_path = self.run_dir / "audit-policy.yaml"
        audit_path.write_text(yaml.safe_dump(AUDIT_POLICY, sort_keys=False))
        extra = ["kube-apiserver=bind-address=127.0.0.1", "kube-controller-manager=bind-address=127.0.0.1",
                 "kube-scheduler=bind-address=127.0.0.1",
                 f"etcd=listen-client-urls=http://127.0.0.1:{etcd}",
                 f"etcd=advertise-client-urls=http://127.0.0.1:{etcd}",
                 f"etcd=listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                 f"etcd=initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                 f"etcd=initial-cluster=node0=http://127.0.0.1:{etcd_peer}",
                 f"kwok-controller=server-address=127.0.0.1:{kwok}"]
        tokens = self.token_file()
        if tokens:
            extra.append(f"kube-apiserver=token-auth-file={tokens}")
        cmd = [str(self.bins["kwokctl"]), "--config", str(config_path), "create", "cluster", "--name", self.name,
               "--runtime", "binary", "--kubeconfig", str(self.kubeconfig),
               "--kube-apiserver-port", str(apiserver), "--etcd-port", str(etcd), "--controller-port", str(kwok),
               "--kube-controller-manager-port", str(kcm), "--kube-scheduler-port", str(scheduler),
               "--kube-authorization=true", "--kube-admission=true", "--kube-audit-policy", str(audit_path),
               "--etcd-binary", str(self.bins["etcd"]), "--kube-apiserver-binary", str(self.bins["kube-apiserver"]),
               "--kube-controller-manager-binary", str(self.bins["kube-controller-manager"]),
               "--kube-scheduler-binary", str(self.bins["kube-scheduler"]),
               "--kwok-controller-binary", str(self.bins["kwok"]), "--wait", "120s"]
        if self.disable_qps_limits:
            cmd.append("--disable-qps-limits")
        for arg in extra:
            cmd += ["--extra-args", arg]
        self.created = True  # from here on, stop() deletes the cluster
        with open(self.run_dir / "kwokctl-create.log", "w") as out:
            proc = subprocess.run(cmd, env=self.env(), stdout=out, stderr=subprocess.STDOUT, text=True, check=False)
        if proc.returncode:
            raise RuntimeError(f"kwokctl create cluster failed (rc={proc.returncode}):\n"
                               + (self.run_dir / "kwokctl-create.log").read_text()[-4000:])
        self.server = f"https://127.0.0.1:{apiserver}"
        log(f"kube control plane up: {self.server} ({versions.KUBERNETES}, etcd {versions.ETCD}, "
            f"kwok {versions.KWOK})")

    def token_file(self) -> Path | None:
        """The scenario's token users (kubesim's `users`): the same tokens, through --token-auth-file."""
        users = [u for u in self.scenario.users if u.get("token")]
        if not users:
            return None
        path = self.run_dir / "tokens.csv"
        path.write_text("".join(f"{u['token']},{u['name']},{u['name']}\n" for u in users))
        return path

    def load_nodes(self) -> None:
        nodes = []
        for node in self.scenario.nodes:
            node = json.loads(json.dumps(node))
            node["metadata"].setdefault("annotations", {})["kwok.x-k8s.io/node"] = "fake"
            node["metadata"]["labels"]["type"] = "kwok"
            # kwok's node-initialize Stage (conditions, addresses, allocatable) runs for nodes not yet
            # Ready; the nodeInfo (kubelet version) is kept.
            node.get("status", {}).pop("conditions", None)
            nodes.append(node)
        self.kubectl("create", "-f", "-", input=yaml.safe_dump_all(nodes))
        self.wait(lambda: all(any(c["type"] == "Ready" and c["status"] == "True"
                                  for c in (n.get("status") or {}).get("conditions") or [])
                              for n in self.get_json("nodes")["items"]) and True, "nodes Ready")
        log(f"{len(nodes)} kwok nodes ready")
        users = self.scenario.users
        rbac = []
        for user in users:
            role = f"realcluster-scenario-user-{user['name']}"
            rbac.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                         "metadata": {"name": role}, "rules": user.get("rules") or []})
            rbac.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                         "metadata": {"name": role},
                         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                       "name": user["name"]}]})
        self.apply(rbac, "RBAC objects for the scenario's users")

    # -- Istio ------------------------------------------------------------------------------
    def start_istio(self) -> None:
        if not self.scenario.revisions:
            return
        self.kubectl("create", "namespace", ISTIO_NAMESPACE)
        for rev in self.scenario.revisions:
            names = ("https", "http", "grpc", "secure_grpc", "monitoring", "ctrlz")
            self.istiods[rev["name"]] = {"ports": dict(zip(names, free_ports(len(names))))}
        for rev in self.scenario.revisions:
            self.apply(self.render_revision(rev), f"objects of revision {rev['name']} (istioctl manifest generate)")
        for rev in self.scenario.revisions:
            self.start_istiod(rev)
        for rev in self.scenario.revisions:
            self.wait_istiod(rev["name"])
        for tag in self.scenario.tags:
            self.run_istioctl("tag", "set", tag["name"], "--revision", tag["revision"], "--overwrite",
                              "--skip-confirmation")
            log(f"istioctl tag set {tag['name']} --revision {tag['revision']}")
        for rev in self.scenario.revisions:
            self.check_injection(rev["name"])
            self.kubectl("rollout", "status", "-n", ISTIO_NAMESPACE, f"deployment/istiod-{rev['name']}",
                         f"--timeout={int(self.wait_timeout)}s")
        log("istiod pods (kwok) ready; injection works for " + ", ".join(self.istiods))

    @staticmethod
    def native_mode(rev: dict) -> str:
        native = rev.get("native_sidecars", False)
        return native if isinstance(native, str) else ("true" if native else "false")

    def run_istioctl(self, *args: str, kubeconfig: bool = True) -> str:
        cmd = [str(self.bins["istioctl"]), *args]
        if kubeconfig:
            cmd += ["--kubeconfig", str(self.kubeconfig)]
        env = self.env() if kubeconfig else self.env(KUBECONFIG=str(self.run_dir / "no-cluster"))
        proc = subprocess.run(cmd, env=env, text=True, capture_output=True, cwd=self.run_dir, check=False)
        if proc.returncode:
            raise RuntimeError(f"istioctl {' '.join(args)}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def render_revision(self, rev: dict) -> list[dict]:
        name = rev["name"]
        port = self.istiods[name]["ports"]["https"]
        sets = {"profile": "minimal", "values.istiodRemote.injectionURL": f"https://localhost:{port}/inject",
                "values.global.configValidation": "false",
                "values.global.hub": rev.get("hub", "gcr.io/gke-release/asm"),
                "values.global.tag": rev["version"], "values.pilot.autoscaleEnabled": "false",
                "values.pilot.replicaCount": str(rev.get("replicas", 1)),
                "values.pilot.env.ENABLE_NATIVE_SIDECARS": self.native_mode(rev)}
        args = ["manifest", "generate", "--revision", name]
        for key, value in sets.items():
            args += ["--set", f"{key}={value}"]
        text = self.run_istioctl(*args, kubeconfig=False)
        (self.run_dir / f"istio-{name}.yaml").write_text(text)
        objs = [d for d in yaml.safe_load_all(text) if d]
        # CRDs first (the second revision's manifest repeats them: applying is idempotent).
        return sorted(objs, key=lambda o: o.get("kind") != "CustomResourceDefinition")

    def start_istiod(self, rev: dict) -> None:
        name = rev["name"]
        info = self.istiods[name]
        ports = info["ports"]
        workdir = self.run_dir / f"istiod-{name}"
        workdir.mkdir()  # empty: istiod reads the injector and mesh ConfigMaps, not files
        env = self.env(POD_NAMESPACE=ISTIO_NAMESPACE, REVISION=name, ISTIOD_CUSTOM_HOST="localhost",
                       INJECTION_WEBHOOK_CONFIG_NAME=f"istio-sidecar-injector-{name}",
                       VALIDATION_WEBHOOK_CONFIG_NAME="", ENABLE_NATIVE_SIDECARS=self.native_mode(rev),
                       CLUSTER_ID="Kubernetes", POD_NAME=f"istiod-{name}-local")
        cmd = [str(self.bins["pilot-discovery"]), "discovery", "--kubeconfig", str(self.kubeconfig),
               f"--httpsAddr=127.0.0.1:{ports['https']}", f"--httpAddr=127.0.0.1:{ports['http']}",
               f"--grpcAddr=127.0.0.1:{ports['grpc']}", f"--secureGRPCAddr=127.0.0.1:{ports['secure_grpc']}",
               f"--monitoringAddr=127.0.0.1:{ports['monitoring']}", "--ctrlz_address=127.0.0.1",
               f"--ctrlz_port={ports['ctrlz']}", "--log_output_level=default:info"]
        logfile = open(workdir / "pilot-discovery.log", "w")
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=logfile, stderr=subprocess.STDOUT,
                                preexec_fn=_pdeathsig)
        logfile.close()
        info.update(proc=proc, pid=proc.pid, log=str(workdir / "pilot-discovery.log"))
        log(f"pilot-discovery for {name}: pid {proc.pid}, injection on https://localhost:{ports['https']}/inject")

    def wait_istiod(self, name: str) -> None:
        info = self.istiods[name]

        def ready() -> bool:
            if info["proc"].poll() is not None:
                raise RuntimeError(f"pilot-discovery for {name} exited rc={info['proc'].returncode}:\n"
                                   + Path(info["log"]).read_text()[-4000:])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{info['ports']['http']}/ready", timeout=2) as r:
                    if r.status != 200:
                        return False
            except OSError:
                return False
            mwc = self.get_json("mutatingwebhookconfiguration", f"istio-sidecar-injector-{name}")
            return all(w.get("clientConfig", {}).get("caBundle") for w in mwc.get("webhooks") or [])

        self.wait(ready, f"pilot-discovery {name} ready and its webhook's caBundle set")
        log(f"pilot-discovery for {name} ready")

    def check_injection(self, name: str) -> None:
        """A server-side dry-run create of a pod with the revision label: the real webhook answers."""
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"generateName": "realcluster-injection-probe-", "namespace": "default",
                            "labels": {"istio.io/rev": name}},
               "spec": {"containers": [{"name": "probe", "image": "docker.io/library/busybox:1.37"}]}}

        def injected() -> bool:
            proc = self.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(pod),
                                check=False)
            if proc.returncode:
                return False
            spec = json.loads(proc.stdout)["spec"]
            names = [c["name"] for c in spec.get("containers", []) + spec.get("initContainers", [])]
            return "istio-proxy" in names

        self.wait(injected, f"injection by revision {name}")

    # -- workloads --------------------------------------------------------------------------
    def load_workloads(self) -> None:
        objs = self.scenario.objects
        namespaces = [o for o in objs if o["kind"] == "Namespace"]
        self.apply(namespaces, "namespaces")
        self.apply([o for o in objs if o["kind"] != "Namespace"], "workloads")
        self.wait(lambda: not self.unready_workloads(), "the scenario's workloads ready", report=self.unready_workloads)
        log(f"scenario {self.scenario.name}: every workload ready")

    def unready_workloads(self) -> list[str]:
        wanted = [o for o in self.scenario.objects if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Pod")]
        # One list per kind, not one get per object: a scale scenario has hundreds of workloads.
        live = {}
        for kind in sorted(set(o["kind"] for o in wanted)):
            for item in self.get_json(kind.lower(), "--all-namespaces")["items"]:
                live[(kind, item["metadata"]["namespace"], item["metadata"]["name"])] = item
        out = []
        for obj in wanted:
            kind, meta = obj["kind"], obj["metadata"]
            item = live.get((kind, meta["namespace"], meta["name"]))
            status = (item or {}).get("status") or {}
            if item is None:
                ok = False
            elif kind == "Pod":
                ok = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
            elif kind == "DaemonSet":
                ok = status.get("desiredNumberScheduled", 0) > 0 and \
                    status.get("numberReady") == status.get("desiredNumberScheduled")
            else:
                ok = status.get("readyReplicas", 0) == item["spec"].get("replicas", 1)
            if not ok:
                out.append(f"{kind}/{meta['namespace']}/{meta['name']}")
        return out

    # -- outputs ----------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return Path(str(self.kubeconfig_out) + STATE_SUFFIX)

    def write_outputs(self) -> None:
        pids = {}
        for pidfile in (self.cluster_dir / "pids").glob("*.pid"):
            try:
                pids[pidfile.stem] = int(pidfile.read_text().strip())
            except ValueError:
                pass
        for name, info in self.istiods.items():
            pids[f"pilot-discovery-{name}"] = info["pid"]
        state = {"scenario": self.scenario.name, "run_dir": str(self.run_dir), "cluster_name": self.name,
                 "kwok_workdir": str(self.kwok_workdir), "cluster_dir": str(self.cluster_dir),
                 "pki_dir": str(self.cluster_dir / "pki"), "audit_log": str(self.cluster_dir / "logs" / "audit.log"),
                 "server": self.server, "launcher_pid": os.getpid(), "pids": pids, "ports": self.ports,
                 "istiod": {n: {"ports": i["ports"], "pid": i["pid"], "log": i["log"]}
                            for n, i in self.istiods.items()},
                 "binaries": {n: str(p) for n, p in self.bins.items()}, "skipped": self.scenario.skipped,
                 "versions": {"kubernetes": versions.KUBERNETES, "etcd": versions.ETCD, "kwok": versions.KWOK,
                              "istio": versions.ISTIO, "istio_build_version": versions.istio_build_version()}}
        self.kubeconfig_out.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.state_file, json.dumps(state, indent=2) + "\n")
        _atomic_write(self.kubeconfig_out, self.kubeconfig.read_text(), mode=0o600)
        log(f"ready: KUBECONFIG={self.kubeconfig_out} (state: {self.state_file})")

    # -- serve and stop ---------------------------------------------------------------------
    def serve(self) -> None:
        while True:
            for name, info in self.istiods.items():
                if info["proc"].poll() is not None:
                    log(f"pilot-discovery for {name} exited rc={info['proc'].returncode} (injection for it is down)")
                    info["proc"] = _Exited()
            time.sleep(0.5)

    def stop(self) -> None:
        log("stopping")
        for info in self.istiods.values():
            proc = info.get("proc")
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for info in self.istiods.values():
            proc = info.get("proc")
            if proc is not None:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.created:
            proc = subprocess.run([str(self.bins["kwokctl"]), "delete", "cluster", "--name", self.name],
                                  env=self.env(), capture_output=True, text=True, check=False)
            if proc.returncode:
                log(f"kwokctl delete cluster: rc={proc.returncode}: {proc.stderr.strip()[-500:]}")
        leftovers = reap(self.run_dir)
        if leftovers:
            log(f"killed {len(leftovers)} leftover process(es): {leftovers}")
        for path in (self.kubeconfig_out, self.state_file):
            if path.exists() and path.is_file():
                path.unlink()
        if not self.keep:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        else:
            log(f"kept {self.run_dir}")
        log("stopped")


class _Exited:
    returncode = None

    def poll(self):
        return 0

    def wait(self, timeout=None):
        return 0


def processes_under(run_dir: Path) -> dict[int, str]:
    """pid -> command line of every process (but this one) whose command line or cwd names run_dir."""
    needle = str(run_dir)
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                cwd = ""
        except OSError:
            continue
        if cmdline and (needle in cmdline or cwd.startswith(needle)):
            out[int(entry.name)] = cmdline
    return out


def reap(run_dir: Path, grace: float = 10.0, rounds: int = 5) -> list[str]:
    """Terminate (then kill) whatever still runs from run_dir; return what had to be. Scanned again after
    each round: a kwokctl that was still starting components when its launcher died may start one more
    after the first scan."""
    stopped = {}
    for _ in range(rounds):
        found = {pid: cmd for pid, cmd in processes_under(run_dir).items() if _alive(pid)}
        if not found:
            break
        stopped.update(found)
        for pid in found:
            with _suppress():
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(p) for p in found):
            time.sleep(0.2)
        for pid in found:
            if _alive(pid):
                with _suppress():
                    os.kill(pid, signal.SIGKILL)
    return [cmd.split(" ", 1)[0].rsplit("/", 1)[-1] for cmd in stopped.values()]


def reap_orphans() -> None:
    """Stop the processes of earlier runs whose launcher died without stopping them (SIGKILL, a crash):
    kwokctl starts its components in their own sessions, so they outlive the launcher.  Only runs whose
    launcher.pid is dead are touched; their directories are left (they may hold a failed run's logs)."""
    for run_dir in Path(tempfile.gettempdir()).glob(RUN_PREFIX + "*"):
        try:
            pid = int((run_dir / "launcher.pid").read_text())
        except (OSError, ValueError):
            continue
        if not _alive(pid) and processes_under(run_dir):
            log(f"stopping the processes of an orphaned run {run_dir}: {reap(run_dir)}")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], OSError)


def _atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def wait_until(predicate, what: str, timeout: float, report=None, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            extra = f": {report()}" if report else ""
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)


RealCluster.wait = lambda self, predicate, what, report=None: wait_until(predicate, what, self.wait_timeout, report)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="seed", help="a kubesim scenario name or a path to its .yaml")
    parser.add_argument("--kubeconfig-out", required=True, type=Path)
    parser.add_argument("--disable-qps-limits", action="store_true", help="kwokctl --disable-qps-limits")
    parser.add_argument("--pod-stages", choices=("general", "fast"), default="general",
                        help="kwok's pod Stages: general (delays, per-pod annotations) or fast (ready at once)")
    parser.add_argument("--keep", action="store_true", help="keep the run directory on stop")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for each start-up step")
    args = parser.parse_args(argv)

    def on_signal(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Stop(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    cluster = None
    rc = 0
    try:
        scenario = Scenario(args.scenario)
        cluster = RealCluster(scenario, args.kubeconfig_out.resolve(), args.disable_qps_limits, args.keep,
                              args.timeout, args.pod_stages)
        cluster.start()
        cluster.serve()
    except Stop as stop:
        log(f"got {stop}")
    except Exception as exc:  # noqa: BLE001 - report, stop, fail
        log(f"start-up failed: {exc}")
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if cluster is not None:
            if rc and not args.keep:
                cluster.keep = True  # keep the logs of a failed start
            cluster.stop()
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

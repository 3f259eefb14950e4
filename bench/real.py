"""Benchmarks on the real control plane (tests/realcluster): kube-apiserver, controllers, scheduler,
etcd, kwok nodes and a real istiod, all on 127.0.0.1.

    make bench BACKEND=real           # 10 and 100 namespaces x 3 Deployments x 2 replicas, three set-ups
    make bench BACKEND=real QUICK=1   # 10 namespaces, default set-up, ours / kubectl / floor

Set-ups: `default` (kwok's general pod Stages: pods ready 1-6 s after start, the controllers' default
API rate limits), `no-qps-limits` (the same with kwokctl --disable-qps-limits) and `fast-pods` (kwok's
fast Stages, pods ready as soon as they are bound, with the limits lifted too: so the client's own
cost shows).

Each contender gets a fresh cluster and is measured twice: to its own verdict (its process ends) and
to convergence, the same criterion for all: every pod of the app namespaces is 2/2 with the revision's
sidecar and no old pod is left (one list, then a watch, from the start of the contender). The floor issues
every label and every restart at once (8 client threads) and is measured by the same criterion. Each cell
is the median of --repeat runs (3 by default), the contenders taking turns.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "realcluster"))
sys.path.insert(0, str(ROOT / "tests" / "realcluster" / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import build  # noqa: E402
from realcluster_helpers import RealClusterProcess  # noqa: E402
from run import BENCH_VENV, VENV, ansible_env, measured, pod_done  # noqa: E402

REVISION = "asm-173-3"
WORKLOADS, REPLICAS = 3, 2
# fast-pods lifts the rate limits too: with them kube-controller-manager is the bottleneck and the
# client's own cost cannot show.
SETUPS = {"default": [], "no-qps-limits": ["--disable-qps-limits"],
          "fast-pods": ["--pod-stages", "fast", "--disable-qps-limits"]}


def scenario(path, namespaces):
    spec = {"nodes": {"count": 20, "kubelet_version": "v1.36.3"},
            "control_plane": {"revisions": [{"name": REVISION, "version": "1.7.3-asm.3", "replicas": 1}]},
            "generate": {"namespaces": namespaces, "workloads": WORKLOADS, "replicas": REPLICAS}}
    path.write_text("# bench/real.py: %d namespaces x %d Deployments x %d replicas\n%s" % (
        namespaces, WORKLOADS, REPLICAS, yaml.safe_dump(spec, sort_keys=False)))
    return path


def api_client(kubeconfig):
    from kubernetes import client, config
    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))


class Convergence(threading.Thread):
    """Seconds from start until every app pod is done and none is left over, or None.

    It lists the app pods once and then follows a watch, so the measurement adds one stream to the API
    server rather than a full list every half second (which cost 25 CPU-s of an 88 s run on 2 cores)."""

    def __init__(self, core, namespaces, limit=3600.0):
        super().__init__(daemon=True)
        self.core, self.expected, self.limit = core, namespaces * WORKLOADS * REPLICAS, limit
        self.started, self.seconds = time.monotonic(), None
        self.stop = threading.Event()
        self.pods = {}  # uid -> done

    def _see(self, pod):
        if pod["metadata"]["namespace"].startswith("app-"):
            self.pods[pod["metadata"]["uid"]] = pod_done(pod)

    def _converged(self):
        return len(self.pods) == self.expected and all(self.pods.values())

    def _follow(self):
        """One list, then events until the stream ends; True once converged."""
        listed = json.loads(self.core.list_pod_for_all_namespaces(label_selector="app",
                                                                  _preload_content=False).data)
        self.pods = {}
        for pod in listed["items"]:
            self._see(pod)
        version = listed["metadata"]["resourceVersion"]
        while not self.stop.is_set():
            if self._converged():
                return True
            left = self.limit - (time.monotonic() - self.started)
            if left <= 0:
                return False
            response = self.core.list_pod_for_all_namespaces(
                label_selector="app", watch=True, resource_version=version, allow_watch_bookmarks=True,
                timeout_seconds=int(min(left, 300)) + 1, _preload_content=False)
            buffer = b""
            for chunk in response.stream(65536):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    event = json.loads(line)
                    if event["type"] == "ERROR":  # 410: the version expired; list again
                        return None
                    version = event["object"]["metadata"]["resourceVersion"]
                    if event["type"] == "DELETED":
                        self.pods.pop(event["object"]["metadata"]["uid"], None)
                    elif event["type"] != "BOOKMARK":
                        self._see(event["object"])
                if self._converged():
                    response.release_conn()
                    return True
        return False

    def run(self):
        while not self.stop.is_set() and time.monotonic() - self.started < self.limit:
            try:
                outcome = self._follow()
            except Exception:  # an API hiccup: list again
                outcome = None
                self.stop.wait(0.5)
            if outcome is not None:
                if outcome:
                    self.seconds = time.monotonic() - self.started
                return


def run_ours(kubeconfig, _kubectl_dir, namespaces):
    # Every workload at once, as the kubectl script and the floor restart them (the default, 5, is the safe
    # choice for a cluster's capacity, not a benchmark's).
    cmd = [str(VENV / "ansible-playbook"), "playbooks/enable_injection.yml", "-e", "asm_kubeconfig=%s" % kubeconfig,
           "-e", "asm_namespace_selector=tier=apps", "-e", "asm_timeout=3600",
           "-e", "asm_max_concurrent=%d" % (namespaces * WORKLOADS)]
    return measured(cmd, env=ansible_env(VENV))


def run_kubectl(kubeconfig, kubectl_dir, _namespaces):
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), PATH="%s:%s" % (kubectl_dir, os.environ["PATH"]))
    return measured(["bash", str(ROOT / "bench" / "contenders" / "kubectl_seed.sh"), REVISION, "tier=apps"], env=env)


def run_kubernetes_core(kubeconfig, _kubectl_dir, _namespaces):
    cmd = [str(BENCH_VENV / "ansible-playbook"), str(ROOT / "bench" / "contenders" / "kubernetes_core.yml"),
           "-e", "kubeconfig=%s" % kubeconfig]
    return measured(cmd, env=ansible_env(BENCH_VENV), cwd=ROOT / "bench")


CONTENDERS = {"ours": run_ours, "kubectl": run_kubectl, "kubernetes.core": run_kubernetes_core}


def run_floor(kubeconfig, namespaces):
    """Every label and every restart issued at once; (seconds to issue them, seconds to convergence)."""
    from kubernetes import client, config
    api = config.new_client_from_config(config_file=str(kubeconfig))
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    names = ["app-%04d" % i for i in range(namespaces)]
    watch = Convergence(core, namespaces)
    started = time.monotonic()
    watch.start()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}

    def restart(ns):
        core.patch_namespace(ns, {"metadata": {"labels": {"istio.io/rev": REVISION, "istio-injection": None}}})
        for j in range(WORKLOADS):
            apps.patch_namespaced_deployment("svc-%02d" % j, ns, patch)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(restart, names))
    issued = time.monotonic() - started
    watch.join()
    return issued, watch.seconds


def fresh_cluster(workdir, tag, namespaces, setup):
    directory = workdir / tag
    directory.mkdir(parents=True)
    cluster = RealClusterProcess(str(scenario(directory / "scenario.yaml", namespaces)), directory,
                                 "--timeout", "900", *SETUPS[setup], timeout=1200.0)
    cluster.start()
    return cluster


# The cluster's own writers (kwok's pod and node status, controllers, scheduler, istiod): not the contender's.
OWN_AGENTS = ("kwok", "kube-controller-manager", "kube-scheduler", "pilot-discovery", "kube-apiserver")


def audit_writes(cluster, since_line):
    """The contender's write requests by verb in the audit log after line since_line."""
    counts = {}
    for line in Path(cluster.state["audit_log"]).read_text().splitlines()[since_line:]:
        entry = json.loads(line)
        agent = entry.get("userAgent") or ""
        if entry.get("stage") != "ResponseComplete" or agent.startswith(OWN_AGENTS):
            continue
        counts[entry["verb"]] = counts.get(entry["verb"], 0) + 1
    return counts


def audit_lines(cluster):
    path = Path(cluster.state["audit_log"])
    return len(path.read_text().splitlines()) if path.exists() else 0


def bench_contender(name, namespaces, setup, workdir, kubectl_dir, rerun):
    cluster = fresh_cluster(workdir, "%s-%s-%d" % (setup, name.replace(".", "_"), namespaces), namespaces, setup)
    try:
        core = api_client(cluster.kubeconfig)
        mark = audit_lines(cluster)
        if name == "floor":
            issued, seconds = run_floor(cluster.kubeconfig, namespaces)
            return {"verdict": None, "converged": _round(seconds), "issued": round(issued, 2), "ok": True,
                    "start_seconds": round(cluster.start_seconds, 1)}
        watch = Convergence(core, namespaces)
        watch.start()
        wall, rss, proc = CONTENDERS[name](cluster.kubeconfig, kubectl_dir, namespaces)
        watch.join()
        if proc.returncode:
            print(proc.stdout[-3000:], proc.stderr[-2000:], file=sys.stderr)
        sample = {"verdict": round(wall, 2), "converged": _round(watch.seconds), "ok": proc.returncode == 0,
                  "rss_mb": round(rss, 1), "writes": audit_writes(cluster, mark),
                  "start_seconds": round(cluster.start_seconds, 1)}
        if rerun:
            mark = audit_lines(cluster)
            again, _rss, proc2 = CONTENDERS[name](cluster.kubeconfig, kubectl_dir, namespaces)
            sample["rerun"] = {"wall": round(again, 2), "ok": proc2.returncode == 0,
                               "writes": sum(audit_writes(cluster, mark).values())}
        return sample
    finally:
        cluster.stop()


def _round(value):
    return None if value is None else round(value, 2)


def combine(samples):
    """One cell from its runs: the medians of the timings, every run kept under `runs`."""
    if len(samples) == 1:
        return samples[0]

    def median(values):
        # a run that never converged (None) counts as the slowest
        ordered = sorted(values, key=lambda v: float("inf") if v is None else v)
        middle = ordered[(len(ordered) - 1) // 2:len(ordered) // 2 + 1]
        return None if None in middle else round(sum(middle) / len(middle), 2)
    first = samples[0]
    cell = {"verdict": median([s["verdict"] for s in samples]), "converged": median([s["converged"] for s in samples]),
            "ok": all(s["ok"] for s in samples), "runs": samples}
    for key in ("issued", "rss_mb"):
        if key in first:
            cell[key] = median([s[key] for s in samples])
    if "writes" in first:  # the same objects are written in every run
        cell["writes"] = first["writes"]
    if "rerun" in first:
        cell["rerun"] = min((s["rerun"] for s in samples), key=lambda r: r["wall"])
    return cell


def table(results):
    lines = ["%-14s %-4s %-16s %9s %11s %13s %4s %10s %s" % (
        "SET-UP", "NS", "CONTENDER", "VERDICT s", "CONVERGED s", "RANGE s", "OK", "RERUN s/w", "WRITES")]
    for row in results["rows"]:
        for name in ("ours", "kubectl", "kubernetes.core", "floor"):
            r = row.get(name)
            if not r:
                continue
            rerun = r.get("rerun")
            runs = [x["converged"] for x in r.get("runs") or []]
            spread = "%d runs" % len(runs) if None in runs else (
                "%.1f-%.1f" % (min(runs), max(runs)) if runs else "1 run")
            lines.append("%-14s %-4d %-16s %9s %11s %13s %4s %10s %s" % (
                row["setup"], row["namespaces"], name, "-" if r["verdict"] is None else "%.1f" % r["verdict"],
                "never" if r["converged"] is None else "%.1f" % r["converged"], spread, "yes" if r["ok"] else "NO",
                "%.1f/%d" % (rerun["wall"], rerun["writes"]) if rerun else "-",
                " ".join("%s=%d" % kv for kv in sorted((r.get("writes") or {}).items()))))
        floor, ours = row.get("floor"), row.get("ours")
        if floor and ours and floor["converged"] and ours["converged"]:
            notes = ["ours/floor = %.2f" % (ours["converged"] / floor["converged"])]
            for name in ("kubectl", "kubernetes.core"):
                other = row.get(name)
                if other and other["converged"]:
                    notes.append("ours/%s = %.2f" % (name, ours["converged"] / other["converged"]))
            lines.append("%-14s %-4d %s" % ("", row["namespaces"], "; ".join(notes)))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="*")
    parser.add_argument("--setups", nargs="*", choices=list(SETUPS))
    parser.add_argument("--contenders", nargs="*", choices=list(CONTENDERS) + ["floor"])
    parser.add_argument("--repeat", type=int, help="runs per cell, their median reported (default 3; 1 with --quick)")
    parser.add_argument("--output")
    parser.add_argument("--table", metavar="RESULTS_JSON", help="print the table of earlier results and exit")
    args = parser.parse_args()
    if args.table:
        print("\n".join(table(json.loads(Path(args.table).read_text()))))
        return
    missing = [n for n, p in build.paths().items() if not p.is_file()]
    if missing:
        sys.exit("bench/real.py: binaries not built (%s): run `make realcluster-build`" % ", ".join(missing))
    sizes = args.sizes or ([10] if args.quick else [10, 100])
    setups = args.setups or (["default"] if args.quick else list(SETUPS))
    contenders = args.contenders or (["ours", "kubectl", "floor"] if args.quick else
                                     ["ours", "kubectl", "kubernetes.core", "floor"])
    repeat = args.repeat or (1 if args.quick else 3)
    output = Path(args.output or ROOT / "bench" / "results" / ("real-quick.json" if args.quick else "real.json"))
    kubectl_dir = str(build.paths()["kubectl"].parent)
    workdir = Path(tempfile.mkdtemp(prefix="asm-bench-real-"))
    results = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count(), "repeat": repeat,
               "workloads_per_namespace": WORKLOADS, "replicas": REPLICAS, "rows": []}
    for setup in setups:
        for size in sizes:
            row = {"setup": setup, "namespaces": size}
            samples = {name: [] for name in contenders}
            for attempt in range(repeat):  # contenders interleaved, so a drift of the machine hits them alike
                for name in contenders:
                    r = bench_contender(name, size, setup, workdir / str(attempt), kubectl_dir,
                                        rerun=name == "ours")
                    samples[name].append(r)
                    print("  %-14s %4d ns %-16s run %d verdict %s converged %s" % (
                        setup, size, name, attempt + 1, r["verdict"], r["converged"]), flush=True)
            row.update((name, combine(runs)) for name, runs in samples.items())
            results["rows"].append(row)
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps(results, indent=2) + "\n")  # partial results survive an interruption
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    output.write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(table(results)))
    print("results: %s" % output)


if __name__ == "__main__":
    main()

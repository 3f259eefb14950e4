"""Benchmarks: the collection against the anchors, side by side, on the same simulated clusters.

    make bench            # sizes 10, 100, 1000 namespaces x 10 Deployments x 3 replicas, fleet row
    make bench QUICK=1    # 5 namespaces, one run each, no anchor re-runs, small fleet (under 2 minutes)

Contenders, each on a fresh kubesim `scale` cluster with the same readiness delay:
- ours:            ansible-playbook playbooks/enable_injection.yml (namespace selector tier=apps)
- kubectl:         the seed procedure as a shell script (bench/contenders/kubectl_seed.sh)
- kubernetes.core: an idiomatic playbook (bench/contenders/kubernetes_core.yml), in bench/.venv
- floor:           kubesim's own time when every restart is issued at once (8 client threads, no
                   watchers): issuing plus convergence, read from its clock, plus ansible-playbook
                   start-up on an empty play
Figures: wall seconds (median, min-max), API requests by verb (kubesim audit), peak RSS of the
controller-side processes, and whether the result was verified (every pod 2/2 with asm-173-3).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from kubesim import testing  # noqa: E402

VENV = ROOT / ".venv" / "bin"
BENCH_VENV = ROOT / "bench" / ".venv" / "bin"
REVISION = "asm-173-3"
WORKLOADS, REPLICAS = 10, 3


def measured(cmd, env=None, cwd=ROOT, timeout=7200):
    """Run cmd; (seconds, peak RSS MB of the largest process in its tree, completed process)."""
    wrapper = ("import resource, subprocess, sys, json; p = subprocess.run(sys.argv[1:]); "
               "print(json.dumps([p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]), "
               "file=sys.stderr)")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", wrapper, *cmd], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    seconds = time.monotonic() - start
    rc, rss_kb = json.loads(proc.stderr.strip().splitlines()[-1])
    proc.returncode = rc
    return seconds, rss_kb / 1024.0, proc


def ansible_env(python_bin):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "KUBECONFIG")
    env.update(PATH="%s:%s" % (python_bin, env["PATH"]), ANSIBLE_NOCOLOR="1")
    return env


def by_verb(sim, mark):
    counts = {}
    for entry in sim.audit(mark):
        if entry.get("verb"):
            counts[entry["verb"]] = counts.get(entry["verb"], 0) + 1
    return counts


def pod_done(pod, revision=REVISION):
    """2/2 with the revision's sidecar and not terminating (the bench's criterion on both backends)."""
    status = (pod["metadata"].get("annotations") or {}).get("sidecar.istio.io/status", "")
    containers = (pod.get("status") or {}).get("containerStatuses") or []
    return (not pod["metadata"].get("deletionTimestamp") and revision in status and len(containers) == 2
            and all(c.get("ready") for c in containers))


def verified(sim, namespaces):
    """Every pod of the app namespaces is ready with all containers and asm-173-3's sidecar."""
    from kubernetes import client
    api = client.CoreV1Api(sim.api_client())
    token, bad, total = None, 0, 0
    while True:
        page = json.loads(api.list_pod_for_all_namespaces(limit=1000, _continue=token, label_selector="app",
                                                           _preload_content=False).data)
        for pod in page["items"]:
            if not pod["metadata"]["namespace"].startswith("app-"):
                continue
            total += 1
            bad += not pod_done(pod)
        token = page["metadata"].get("continue")
        if not token:
            break
    return bad == 0 and total == namespaces * WORKLOADS * REPLICAS


def run_ours(sim, namespaces, extra=()):
    cmd = [str(VENV / "ansible-playbook"), "playbooks/enable_injection.yml", "-e", "asm_kubeconfig=%s" % sim.kubeconfig,
           "-e", "asm_namespace_selector=tier=apps", "-e", "asm_max_concurrent=%d" % (namespaces * WORKLOADS),
           "-e", "asm_timeout=3600", "-e", "asm_progress_interval=60", *extra]
    return measured(cmd, env=ansible_env(VENV))


def run_kubectl(sim, namespaces):
    env = dict(os.environ, KUBECONFIG=str(sim.kubeconfig))
    return measured(["bash", str(ROOT / "bench" / "contenders" / "kubectl_seed.sh"), REVISION, "tier=apps"], env=env)


def run_kubernetes_core(sim, namespaces):
    cmd = [str(BENCH_VENV / "ansible-playbook"), str(ROOT / "bench" / "contenders" / "kubernetes_core.yml"),
           "-e", "kubeconfig=%s" % sim.kubeconfig]
    return measured(cmd, env=ansible_env(BENCH_VENV), cwd=ROOT / "bench")


CONTENDERS = {"ours": run_ours, "kubectl": run_kubectl, "kubernetes.core": run_kubernetes_core}


def floor(sim, namespaces):
    """Seconds kubesim's controllers need when all restarts are issued at once (its clock)."""
    from kubernetes import client
    apps = client.AppsV1Api(sim.api_client())
    core = client.CoreV1Api(sim.api_client())
    names = ["app-%04d" % i for i in range(namespaces)]
    for ns in names:
        core.patch_namespace(ns, {"metadata": {"labels": {"istio.io/rev": REVISION}}})
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    start_sim = sim.state()["sim_time"]
    patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}

    def restart(ns):
        for j in range(WORKLOADS):
            apps.patch_namespaced_deployment("svc-%02d" % j, ns, patch)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(restart, names))
    issued_sim = sim.state()["sim_time"]
    expected = namespaces * WORKLOADS * REPLICAS + 2  # + the istiod pods
    while True:
        state = sim.state()
        if (state["pods"] == expected and state["pods_ready"] == expected and state["pods_terminating"] == 0
                and state["pods_injected"] == expected - 2):
            return {"converge_seconds": round(state["sim_time"] - issued_sim, 2),
                    "issue_seconds": round(issued_sim - start_sim, 2)}
        time.sleep(0.2)


def ansible_startup():
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        handle.write("- hosts: localhost\n  gather_facts: false\n  tasks: []\n")
    seconds, _rss, _proc = measured([str(VENV / "ansible-playbook"), handle.name], env=ansible_env(VENV))
    return round(seconds, 2)


def summarise(samples):
    walls = [s["wall"] for s in samples]
    return {"median": round(statistics.median(walls), 2), "min": round(min(walls), 2), "max": round(max(walls), 2),
            "runs": len(samples), "requests": samples[0]["requests"],
            "rss_mb": round(max(s["rss_mb"] for s in samples), 1),
            "verified": all(s["verified"] for s in samples),
            "rerun": samples[0].get("rerun")}


def write(output, results):
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")


def bench_size(namespaces, repeats, contenders, workdir, rerun_anchors=True, single_run=()):
    row = {"namespaces": namespaces, "workloads": namespaces * WORKLOADS, "pods": namespaces * WORKLOADS * REPLICAS}
    params = {"namespaces": namespaces, "workloads": WORKLOADS, "replicas": REPLICAS}
    for name in contenders:
        samples = []
        # kubernetes.core at 100 namespaces runs about ten minutes: once.
        for attempt in range(1 if name in single_run else repeats):
            with testing.running("scale", workdir / ("%s-%d-%d" % (name.replace(".", "_"), namespaces, attempt)),
                                 params=params, timeout=600) as sim:
                mark = sim.audit_mark()
                seconds, rss, proc = CONTENDERS[name](sim, namespaces)
                if proc.returncode != 0:
                    print(proc.stdout[-3000:], proc.stderr[-2000:], file=sys.stderr)
                sample = {"wall": seconds, "rss_mb": rss, "requests": by_verb(sim, mark),
                          "verified": proc.returncode == 0 and verified(sim, namespaces)}
                # Idempotent re-run on the converged cluster (an anchor re-run costs as much as its run).
                if attempt == 0 and (name == "ours" or rerun_anchors):
                    mark = sim.audit_mark()
                    again, _rss, proc2 = CONTENDERS[name](sim, namespaces)
                    writes = sum(n for verb, n in by_verb(sim, mark).items()
                                 if verb in ("create", "update", "patch", "delete"))
                    sample["rerun"] = {"wall": round(again, 2), "writes": writes, "ok": proc2.returncode == 0}
                samples.append(sample)
            print("  %-16s %4d ns: %.1fs %s" % (name, namespaces, seconds, "verified" if sample["verified"] else
                                                 "NOT VERIFIED"), flush=True)
        row[name] = summarise(samples)
    with testing.running("scale", workdir / ("floor-%d" % namespaces), params=params, timeout=600) as sim:
        row["floor"] = floor(sim, namespaces)
    return row


def bench_fleet(clusters, namespaces, workdir):
    """ours with --forks N against N clusters, versus the same clusters one after another."""
    import yaml
    result = {"clusters": clusters, "namespaces_each": namespaces}
    for mode in ("parallel", "sequential"):
        sims = [testing.start("scale", workdir / ("fleet-%s-%d" % (mode, i)),
                              params={"namespaces": namespaces, "workloads": WORKLOADS, "replicas": REPLICAS})
                for i in range(clusters)]
        try:
            base = ["-e", "asm_namespace_selector=tier=apps", "-e",
                    "asm_max_concurrent=%d" % (namespaces * WORKLOADS), "-e", "asm_timeout=3600"]
            if mode == "parallel":
                inventory = {"asm_clusters": {"hosts": dict(("c%d" % i, {"asm_kubeconfig": str(s.kubeconfig)})
                                                            for i, s in enumerate(sims)),
                                              "vars": {"ansible_connection": "local"}}}
                path = workdir / "fleet.yml"
                path.write_text(yaml.safe_dump(inventory))
                seconds, _rss, proc = measured([str(VENV / "ansible-playbook"), "playbooks/enable_injection.yml", "-i",
                                                str(path), "-e", "asm_hosts=asm_clusters", "--forks", str(clusters),
                                                *base], env=ansible_env(VENV))
                ok = proc.returncode == 0
            else:
                seconds, ok = 0.0, True
                for sim in sims:
                    s, _rss, proc = measured([str(VENV / "ansible-playbook"), "playbooks/enable_injection.yml", "-e",
                                              "asm_kubeconfig=%s" % sim.kubeconfig, *base], env=ansible_env(VENV))
                    seconds += s
                    ok = ok and proc.returncode == 0
            result[mode] = {"wall": round(seconds, 2),
                            "verified": ok and all(verified(s, namespaces) for s in sims)}
        finally:
            for sim in sims:
                sim.stop()
    return result


def floor_seconds(floor_row, startup):
    """The cluster's own time: issuing the restarts counts, because kubesim's controllers do most of
    their work (new ReplicaSets, pods) while the restarts arrive; then convergence; then Ansible's start-up."""
    return floor_row["issue_seconds"] + floor_row["converge_seconds"] + startup


def table(results):
    lines = ["%-6s %-16s %10s %14s %8s %8s %9s %10s" % ("NS", "CONTENDER", "WALL s", "MIN-MAX", "REQS", "RSS MB",
                                                        "VERIFIED", "RERUN s/w")]
    for row in results["sizes"]:
        for name in ("ours", "kubectl", "kubernetes.core"):
            if name not in row:
                continue
            r = row[name]
            rerun = r.get("rerun")
            lines.append("%-6d %-16s %10.1f %14s %8d %8.0f %9s %10s" % (
                row["namespaces"], name, r["median"], "%.1f-%.1f" % (r["min"], r["max"]), sum(r["requests"].values()),
                r["rss_mb"], "yes" if r["verified"] else "NO",
                "%.1f/%d" % (rerun["wall"], rerun["writes"]) if rerun else "-"))
        floor_row = row["floor"]
        floor_wall = floor_seconds(floor_row, results["ansible_startup"])
        lines.append("%-6d %-16s %10.1f   (restarts issued %.1f + converged %.1f + start-up %.1f)" % (
            row["namespaces"], "floor", floor_wall, floor_row["issue_seconds"], floor_row["converge_seconds"],
            results["ansible_startup"]))
        if "ours" in row:
            ours = row["ours"]["median"]
            ratios = ["ours - floor = %.1fs" % (ours - floor_wall)]
            for name in ("kubectl", "kubernetes.core"):
                if name in row:
                    ratios.append("%s/ours = %.1fx" % (name, row[name]["median"] / ours))
            lines.append("       " + "; ".join(ratios))
    fleet = results.get("fleet")
    if fleet:
        lines.append("fleet %d clusters x %d ns: --forks %d %.1fs, one after another %.1fs (verified: %s)" % (
            fleet["clusters"], fleet["namespaces_each"], fleet["clusters"], fleet["parallel"]["wall"],
            fleet["sequential"]["wall"], fleet["parallel"]["verified"] and fleet["sequential"]["verified"]))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="*")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--contenders", nargs="*", default=list(CONTENDERS))
    parser.add_argument("--output", help="default: bench/results/latest.json (quick.json with --quick, so a quick "
                                         "run never replaces the recorded full results)")
    parser.add_argument("--table", metavar="RESULTS_JSON", help="print the table of earlier results and exit")
    args = parser.parse_args()
    if args.table:
        print("\n".join(table(json.loads(Path(args.table).read_text()))))
        return
    sizes = args.sizes or ([5] if args.quick else [10, 100, 1000])
    output = Path(args.output or ROOT / "bench" / "results" / ("quick.json" if args.quick else "latest.json"))
    repeats = args.repeats or (1 if args.quick else 3)
    workdir = Path(tempfile.mkdtemp(prefix="asm-bench-"))
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    results = {"machine": machine,
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "quick": args.quick,
               "workloads_per_namespace": WORKLOADS, "replicas": REPLICAS, "ansible_startup": ansible_startup(),
               "sizes": []}
    for size in sizes:
        # kubernetes.core loops a task per namespace and per Deployment: at 1,000 namespaces that is
        # 11,000 task items (hours); it runs once at 100 and not beyond.
        contenders = [c for c in args.contenders if not (c == "kubernetes.core" and size > 100)]
        results["sizes"].append(bench_size(size, repeats if size <= 100 else 1, contenders, workdir,
                                           rerun_anchors=not args.quick and size <= 10,
                                           single_run=("kubernetes.core",) if size >= 100 else ()))
        write(output, results)  # partial results survive an interrupted run
    results["fleet"] = bench_fleet(2 if args.quick else 5, 3 if args.quick else 20, workdir)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write(output, results)
    print("\n".join(table(results)))
    print("results: %s (peak RSS of this runner: %.0f MB)" % (output, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                              / 1024.0))


if __name__ == "__main__":
    main()

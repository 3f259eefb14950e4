"""Scenario seed on the real control plane: only loopback listeners, the real enable_injection.yml
injects every controller-owned pod, a re-run changes nothing, and stopping leaves no process.

The tests share one cluster (module scope) and run in file order; the last one stops it.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import yaml
from ansible_helpers import BIN, ROOT, ansible_env
from realcluster_helpers import TIMINGS, listeners

import launcher
import users

NAMESPACES = ["demo", "legacy"]
# kwokctl runs the binaries through links in its workdir (the kwok binary as kwok-controller)
COMPONENTS = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller",
              "pilot-discovery"}
_RECAP = re.compile(r"^localhost\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                    r"\s+failed=(?P<failed>\d+)", re.M)


def _name(cmdline: str) -> str:
    return cmdline.split(" ", 1)[0].rsplit("/", 1)[-1]


def enable(cluster, *extra):
    started = time.monotonic()
    proc = subprocess.run([str(BIN / "ansible-playbook"), str(ROOT / "playbooks" / "enable_injection.yml"),
                           "-e", f"asm_kubeconfig={cluster.kubeconfig}", "-e", f"asm_namespaces={','.join(NAMESPACES)}",
                           *extra], cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=600,
                          check=False)
    return proc, time.monotonic() - started


def recap(proc) -> dict:
    match = _RECAP.search(proc.stdout)
    assert match, f"no PLAY RECAP for localhost:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    return {k: int(v) for k, v in match.groupdict().items()}


def controller_owned_pods(cluster, namespace):
    pods = cluster.get_json("pods", "-n", namespace)["items"]
    return [p for p in pods if any(ref.get("controller") for ref in p["metadata"].get("ownerReferences") or [])]


def sidecar_problems(pod) -> list[str]:
    """Why a pod does not count as injected and ready (empty when it does)."""
    meta, status = pod["metadata"], pod.get("status") or {}
    name = f"{meta['namespace']}/{meta['name']}"
    problems = []
    raw = (meta.get("annotations") or {}).get("sidecar.istio.io/status")
    injected = json.loads(raw) if raw else {}
    injected = (injected.get("containers") or []) + (injected.get("initContainers") or [])  # native: init
    if "istio-proxy" not in injected:
        problems.append(f"{name}: sidecar.istio.io/status names no istio-proxy ({raw!r})")
    names = [c["name"] for c in pod["spec"].get("containers", []) + pod["spec"].get("initContainers", [])]
    if "istio-proxy" not in names:
        problems.append(f"{name}: no istio-proxy container")
    if not any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or []):
        problems.append(f"{name}: not Ready (phase {status.get('phase')})")
    for cs in status.get("containerStatuses") or []:
        if not cs.get("ready"):
            problems.append(f"{name}: container {cs['name']} not ready")
    return problems


def test_cluster_starts_and_listens_on_loopback_only(seed_cluster):
    TIMINGS["cluster start (launcher until kubeconfig)"] = seed_cluster.start_seconds
    procs = seed_cluster.processes()
    running = {_name(cmd) for cmd in procs.values()}
    assert COMPONENTS <= running, f"missing components: {COMPONENTS - running}; running: {sorted(running)}"
    rows = [(address, pid, _name(procs[pid])) for address, pid, _comm in listeners() if pid in procs]
    listening = {row[2] for row in rows}
    assert COMPONENTS <= listening, f"components without a listener: {COMPONENTS - listening}: {rows}"
    wide = [row for row in rows if not row[0].startswith("127.0.0.1:")]
    assert not wide, f"listeners not on 127.0.0.1: {wide}"
    # The versions the cluster reports are the pinned ones.
    version = json.loads(seed_cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == seed_cluster.state["versions"]["kubernetes"]


def test_enable_injection_injects_every_controller_owned_pod(seed_cluster):
    before = {ns: controller_owned_pods(seed_cluster, ns) for ns in NAMESPACES}
    assert all(before.values()) and not any(sidecar_problems(p) == [] for ps in before.values() for p in ps), \
        "the seed's pods start without sidecars"
    proc, seconds = enable(seed_cluster)
    TIMINGS["enable_injection.yml (demo, legacy)"] = seconds
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    counts = recap(proc)
    assert counts["failed"] == 0 and counts["changed"] > 0, counts
    problems, live = [], 0
    for ns in NAMESPACES:
        for pod in controller_owned_pods(seed_cluster, ns):
            if pod["metadata"].get("deletionTimestamp"):
                continue  # an old pod on its way out (kwok honours the grace period)
            live += 1
            problems += sidecar_problems(pod)
    assert live >= sum(len(ps) for ps in before.values())
    assert not problems, "\n".join(problems) + "\n" + proc.stdout[-4000:]
    # The bare pod is nobody's: left as it was.
    bare = seed_cluster.get_json("pod", "-n", "demo", "debug-shell")
    assert "sidecar.istio.io/status" not in (bare["metadata"].get("annotations") or {})
    # The audit log has every write: here, the namespaces' labelling and the restarts.
    writes = [json.loads(line) for line in Path(seed_cluster.state["audit_log"]).read_text().splitlines()]
    labelled = {e["objectRef"].get("name") for e in writes if e["verb"] in ("patch", "update")
                and e["objectRef"].get("resource") == "namespaces"}
    assert set(NAMESPACES) <= labelled, sorted(labelled)
    assert not [e for e in writes if e["verb"] in ("get", "list", "watch")]


def test_client_certificate_and_token_users(seed_cluster, tmp_path):
    """users.py's certificates authenticate, and RBAC decides; the scenario's token user works too."""
    ops = tmp_path / "ops.kubeconfig"
    users.mint_from_state(seed_cluster.state_file, "realcluster-ops", ["realcluster-testers"], ops)
    denied = seed_cluster.kubectl("get", "pods", "-n", "demo", user_kubeconfig=str(ops), check=False)
    assert denied.returncode != 0 and "Forbidden" in denied.stderr and "realcluster-ops" in denied.stderr, denied
    seed_cluster.kubectl("apply", "-f", str(ROOT / "docs" / "rbac.yaml"))
    seed_cluster.kubectl("create", "rolebinding", "realcluster-ops-reader", "-n", "demo",
                         "--clusterrole=servicemesh-asm-reader", "--user=realcluster-ops")
    allowed = seed_cluster.kubectl("get", "pods", "-n", "demo", "-o", "name", user_kubeconfig=str(ops))
    assert "pod/debug-shell" in allowed.stdout
    refused = seed_cluster.kubectl("delete", "pod", "-n", "demo", "debug-shell", user_kubeconfig=str(ops), check=False)
    assert refused.returncode != 0 and "Forbidden" in refused.stderr, refused
    # The seed's token user (kubesim's `users`), through --token-auth-file with the same token.
    token = tmp_path / "reader.kubeconfig"
    config = yaml.safe_load(ops.read_text())
    config["users"] = [{"name": "ci-reader", "user": {"token": "kubesim-reader-token"}}]
    config["contexts"][0]["context"]["user"] = "ci-reader"
    token.write_text(yaml.safe_dump(config))
    reader = seed_cluster.kubectl("get", "namespaces", "-o", "name", user_kubeconfig=str(token))
    assert "namespace/demo" in reader.stdout
    refused = seed_cluster.kubectl("label", "namespace", "demo", "x=y", user_kubeconfig=str(token), check=False)
    assert refused.returncode != 0 and 'User "ci-reader"' in refused.stderr, refused


def test_rerun_changes_nothing(seed_cluster):
    proc, seconds = enable(seed_cluster)
    TIMINGS["enable_injection.yml re-run"] = seconds
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    counts = recap(proc)
    assert counts["changed"] == 0 and counts["failed"] == 0, f"{counts}\n{proc.stdout[-4000:]}"


def test_stop_leaves_no_process(seed_cluster):
    run_dir, procs = seed_cluster.run_dir, seed_cluster.processes()
    ports = {row[0] for row in listeners() if row[1] in procs}
    started = time.monotonic()
    rc = seed_cluster.stop(signal.SIGINT)  # as Ctrl-C on `make cluster`
    TIMINGS["cluster stop"] = time.monotonic() - started
    assert rc == 0, seed_cluster.log_text()
    left = launcher.processes_under(run_dir)
    assert not left, f"left behind: {left}"
    assert not [pid for pid in procs if launcher._alive(pid)]
    still = {row[0] for row in listeners()} & ports
    assert not still, f"still listening: {still}"
    assert not run_dir.exists() and not seed_cluster.kubeconfig.exists()

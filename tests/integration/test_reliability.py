"""The fault matrix through the role: transient faults converge with no extra restarts; an
interrupted run converges on a re-run without restarting a workload twice; nothing outside the
selection is touched. Asserted on the final cluster state and the audit log."""

from __future__ import annotations

import collections
import signal
import subprocess
import time

import pytest

from ansible_helpers import BIN, ROOT, ansible_env
from test_role import CONTROLLERS, ENABLE, playbook, pods

pytestmark = pytest.mark.slow

WORKLOADS = 5  # demo: productpage, reviews, ratings (Deployments), mysql, log-agent


def restarts(sim, mark=0):
    """Accepted restart patches per workload."""
    counts = collections.Counter()
    for entry in sim.audit(mark):
        if entry["verb"] == "patch" and entry["resource"] in ("deployments", "statefulsets", "daemonsets") \
                and entry["code"] == 200:
            counts[(entry["resource"], entry["name"])] += 1
    return counts


def converged(sim):
    state = pods(sim, "demo")
    return all(p[0] == "2/2" and p[2] == "asm-173-3" for n, p in state.items() if CONTROLLERS.match(n))


def touched_namespaces(sim, mark=0):
    return set(e["namespace"] or e["name"] for e in sim.writes(mark) if e["code"] and e["code"] < 400)


def enable(sim, *extra):
    return playbook(ENABLE, "-e", "asm_kubeconfig=%s" % sim.kubeconfig, "-e", "asm_namespaces=demo", *extra)


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob api_errors")
def test_transient_500_503_429_at_20_percent_converge_without_extra_restarts(seed):
    seed.faults(api_errors={"500": 0.1, "503": 0.05, "429": 0.05}, retry_after=1)
    run = enable(seed)
    seed.faults(api_errors={})  # the checks below use kubectl, whose retries are not under test
    assert run.returncode == 0, run.stdout[-4000:]
    assert converged(seed)
    assert sum(1 for e in seed.audit() if e["code"] in (429, 500, 503)) > 0  # the faults really happened
    assert set(restarts(seed).values()) == {1} and len(restarts(seed)) == WORKLOADS
    assert touched_namespaces(seed) == {"demo"}


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob conflict_first_write")
def test_conflict_on_every_first_write_is_retried(seed):
    seed.faults(conflict_first_write=True)
    run = enable(seed)
    assert run.returncode == 0, run.stdout[-4000:]
    assert converged(seed)
    assert sum(1 for e in seed.audit() if e["code"] == 409) >= WORKLOADS + 1  # the namespace and each workload
    assert set(restarts(seed).values()) == {1}


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob watch_drop_after / watch_gone")
def test_watch_drops_and_410_on_resume(seed):
    seed.faults(watch_drop_after=1, watch_gone=True, readiness_delay=3)
    run = enable(seed)
    assert run.returncode == 0, run.stdout[-4000:]
    assert converged(seed)
    assert set(restarts(seed).values()) == {1}
    watches = [e for e in seed.audit() if e["verb"] == "watch"]
    assert len(watches) > 5  # streams were cut and resumed


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob unreachable_seconds")
def test_api_unreachable_for_a_few_seconds_mid_run(seed):
    seed.faults(readiness_delay=4)
    proc = subprocess.Popen([str(BIN / "ansible-playbook"), ENABLE, "-e", "asm_kubeconfig=%s" % seed.kubeconfig,
                             "-e", "asm_namespaces=demo"], cwd=ROOT, env=ansible_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not restarts(seed) and time.monotonic() < deadline:
        time.sleep(0.2)
    seed.faults(unreachable_seconds=3)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-4000:]
    assert converged(seed)
    assert set(restarts(seed).values()) == {1}


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob readiness_delay (the real cluster's version is "
                                 "test_availability.py's interrupted run)")
def test_interrupted_run_then_rerun_restarts_nothing_twice(seed):
    """SIGINT mid-restart (one workload at a time), then a re-run: converges, each workload restarted once."""
    seed.faults(readiness_delay=2)
    proc = subprocess.Popen([str(BIN / "ansible-playbook"), ENABLE, "-e", "asm_kubeconfig=%s" % seed.kubeconfig,
                             "-e", "asm_namespaces=demo", "-e", "asm_max_concurrent=1"], cwd=ROOT,
                            env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while len(restarts(seed)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
    first = restarts(seed)
    assert 0 < len(first) < WORKLOADS, first  # interrupted part-way
    run = enable(seed)
    assert run.returncode == 0, run.stdout[-4000:]
    assert converged(seed)
    final = restarts(seed)
    assert len(final) == WORKLOADS and set(final.values()) == {1}, final
    assert "debug-shell" in pods(seed, "demo")  # the bare pod survived both runs


@pytest.mark.kubesim_only(reason="time budget (make test < 40 min): a full restart of demo; selection over the real "
                                 "namespaces is test_namespace_inject's selector test")
def test_nothing_outside_the_selection_is_touched(seed):
    before = pods(seed, "legacy")
    run = playbook(ENABLE, "-e", "asm_kubeconfig=%s" % seed.kubeconfig,
                   "-e", "asm_namespace_selector=kubernetes.io/metadata.name", "-e", "asm_exclude=legacy")
    assert run.returncode == 0, run.stdout[-4000:]
    assert touched_namespaces(seed) <= {"demo", "default"}
    assert pods(seed, "legacy") == before
    for system in ("kube-system", "istio-system", "kube-public", "kube-node-lease"):
        assert "istio.io/rev" not in seed.kubectl("get", "ns", system, "--show-labels").stdout


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob readiness_delay")
def test_namespace_deleted_mid_run_fails_naming_it_and_finishes_the_others(seed):
    """`legacy` is deleted while its restart waits: the run fails naming the namespace, `demo` is
    still rolled out and verified, and nothing outside the selection is written."""
    seed.faults(readiness_delay=3)
    before = pods(seed, "demo")
    proc = subprocess.Popen([str(BIN / "ansible-playbook"), ENABLE, "-e", "asm_kubeconfig=%s" % seed.kubeconfig,
                             "-e", "asm_namespaces=demo,legacy"], cwd=ROOT, env=ansible_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while ("deployments", "legacy-app") not in restarts(seed) and time.monotonic() < deadline:
        time.sleep(0.1)
    seed.kubectl("delete", "namespace", "legacy", "--wait=false")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0, out[-4000:]
    assert "namespace legacy was deleted during the run" in out, out[-4000:]
    assert converged(seed)
    assert pods(seed, "demo")["debug-shell"][1] == before["debug-shell"][1]
    assert set(restarts(seed).values()) == {1}
    assert touched_namespaces(seed) <= {"demo", "legacy"}

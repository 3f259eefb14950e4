"""A start interrupted half-way (SIGTERM while kwokctl's components already run) leaves nothing."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from realcluster_helpers import LAUNCHER, ROOT, TIMINGS, require_binaries

import launcher


def test_interrupted_start_leaves_no_process(tmp_path):
    require_binaries()
    log_path = tmp_path / "launcher.log"
    kubeconfig = tmp_path / "kubeconfig"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, str(LAUNCHER), "--scenario", "seed", "--kubeconfig-out",
                                 str(kubeconfig)], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            deadline = time.monotonic() + 120
            while "kube control plane up" not in log_path.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
            run_dir = Path(re.search(r"run directory (\S+)", log_path.read_text()).group(1))
            running = launcher.processes_under(run_dir)
            assert len(running) >= 5, running  # etcd, apiserver, controller manager, scheduler, kwok
            proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            rc = proc.wait(timeout=90)
            TIMINGS["stop during start-up"] = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log_path.read_text()
    assert rc == 0 and "got SIGTERM" in text and "stopped" in text, text
    assert not launcher.processes_under(run_dir), launcher.processes_under(run_dir)
    assert not run_dir.exists() and not kubeconfig.exists()


def test_orphans_of_a_killed_launcher_are_stopped_by_the_next_start(tmp_path):
    """SIGKILL gives the launcher no chance to stop kwokctl's components (they run in their own
    sessions); the next launcher's start stops them (reap_orphans)."""
    require_binaries()
    log_path = tmp_path / "launcher.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, str(LAUNCHER), "--scenario", "seed", "--kubeconfig-out",
                                 str(tmp_path / "kubeconfig")], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            deadline = time.monotonic() + 120
            while "kube control plane up" not in log_path.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
        finally:
            proc.kill()
            proc.wait()
    run_dir = Path(re.search(r"run directory (\S+)", log_path.read_text()).group(1))
    try:
        assert launcher.processes_under(run_dir), "kwokctl's components outlive a killed launcher"
        launcher.reap_orphans()
        assert not launcher.processes_under(run_dir), launcher.processes_under(run_dir)
    finally:
        launcher.reap(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)

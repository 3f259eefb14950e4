"""Start, inspect and stop tests/realcluster/launcher.py from a test."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import build
import pytest
import launcher

ROOT = Path(__file__).resolve().parents[3]
LAUNCHER = ROOT / "tests" / "realcluster" / "launcher.py"
TIMINGS: dict[str, float] = {}  # what -> seconds, printed at the end of the session


def require_binaries() -> None:
    """Skip (not fail) without the binaries: `make integration-real` builds them first and fails loudly
    if it cannot; a bare `pytest tests/` on a machine without them just skips this tier."""
    missing = [n for n, p in build.paths().items() if not p.is_file()]
    if missing:
        pytest.skip(f"real control plane binaries not built ({', '.join(missing)}): run `make realcluster-build`")


class RealClusterProcess:
    def __init__(self, scenario: str, directory: Path, *extra: str, timeout: float = 240.0):
        self.scenario = scenario
        self.directory = Path(directory)
        self.kubeconfig = self.directory / "kubeconfig"
        self.state_file = Path(str(self.kubeconfig) + launcher.STATE_SUFFIX)
        self.extra = extra
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self.state: dict = {}
        self.start_seconds = None
        self.log_path = self.directory / "launcher.log"

    def start(self) -> None:
        require_binaries()
        started = time.monotonic()
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, str(LAUNCHER), "--scenario", self.scenario,
                                      "--kubeconfig-out", str(self.kubeconfig), *self.extra],
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = started + self.timeout
        while not (self.kubeconfig.exists() and self.state_file.exists()):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the launcher exited rc={self.proc.returncode}:\n{self.log_text()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the launcher was not ready after {self.timeout:.0f}s:\n{self.log_text()}")
            time.sleep(0.2)
        self.start_seconds = time.monotonic() - started
        self.state = json.loads(self.state_file.read_text())

    def log_text(self) -> str:
        return self.log_path.read_text()[-6000:] if self.log_path.exists() else ""

    @property
    def run_dir(self) -> Path:
        return Path(self.state["run_dir"])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 90.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.state:  # whatever the launcher failed to stop, so that no test leaves processes behind
            launcher.reap(self.run_dir)
        self.log.close()
        return self.proc.returncode

    # -- reading the cluster ----------------------------------------------------------------
    def kubectl(self, *args: str, check: bool = True, user_kubeconfig: str | None = None,
                input: str | None = None) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        proc = subprocess.run([self.state["binaries"]["kubectl"], "--kubeconfig",
                               str(user_kubeconfig or self.kubeconfig), *args],
                              capture_output=True, text=True, env=env, input=input, timeout=120, check=False)
        if check and proc.returncode:
            raise AssertionError(f"kubectl {' '.join(args)}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def get_json(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", "-o", "json", *args).stdout)

    def processes(self) -> dict[int, str]:
        return launcher.processes_under(self.run_dir)


_SS_LINE = re.compile(r"^LISTEN\s+\d+\s+\d+\s+(?P<local>\S+)\s+\S+\s+users:\((?P<users>.*)\)\s*$")
_SS_PID = re.compile(r'\("(?P<name>[^"]+)",pid=(?P<pid>\d+),fd=\d+\)')


def listeners() -> list[tuple[str, int, str]]:
    """(local address:port, pid, process name) of every listening TCP socket (`ss -ltnpH`)."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        match = _SS_LINE.match(line.strip())
        if not match:
            continue
        for user in _SS_PID.finditer(match.group("users")):
            rows.append((match.group("local"), int(user.group("pid")), user.group("name")))
    return rows

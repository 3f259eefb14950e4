"""Run kubesim as a real process for tests and benchmarks, and talk to its control surface.

    with running("seed", tmp_path) as sim:
        subprocess.run(["kubectl", "get", "pods"], env=sim.env())
        sim.faults(injector_down=True)
        writes = [e for e in sim.audit() if e["verb"] in WRITE_VERBS]
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

TESTS_DIR = Path(__file__).resolve().parent.parent
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


@dataclass
class Sim:
    process: subprocess.Popen
    kubeconfig: Path
    url: str
    token: str
    ca_file: Path

    def env(self, **extra) -> dict:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), **extra}

    def _control(self, path: str, body: dict | None = None) -> dict:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return json.loads(resp.read())

    def audit(self, since: int = 0) -> list[dict]:
        return self._control(f"/_kubesim/audit?since={since}")["items"]

    def audit_mark(self) -> int:
        return self._control("/_kubesim/audit?since=1000000000")["next"]

    def writes(self, since: int = 0) -> list[dict]:
        return [e for e in self.audit(since) if e["verb"] in WRITE_VERBS]

    def stored_writes(self, since: int = 0) -> list[dict]:
        """Writes that were not dry runs (dryRun=All requests are audited as writes but store nothing)."""
        return [e for e in self.writes(since) if not e.get("dry_run")]

    def faults(self, **knobs) -> dict:
        return self._control("/_kubesim/faults", knobs)

    def state(self) -> dict:
        return self._control("/_kubesim/state")

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(["kubectl", *args], env=self.env(), capture_output=True, text=True, check=check,
                              timeout=timeout)

    def api_client(self, context: str | None = None):
        from kubernetes import client, config
        return config.new_client_from_config(str(self.kubeconfig), context=context,
                                             client_configuration=client.Configuration())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(scenario: str, workdir: Path | None = None, params: dict | None = None, speed: float = 1.0,
          timeout: float = 300, log: Path | None = None) -> Sim:
    workdir = Path(workdir or tempfile.mkdtemp(prefix="kubesim-"))
    workdir.mkdir(parents=True, exist_ok=True)
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "kubesim", "--scenario", scenario, "--kubeconfig-out", str(kubeconfig),
           "--speed", str(speed)]
    for key, value in (params or {}).items():
        cmd += ["--param", f"{key}={value}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))}
    out = open(log or workdir / "kubesim.log", "w")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while not kubeconfig.exists():
        if process.poll() is not None:
            raise RuntimeError(f"kubesim exited with {process.returncode}: "
                               f"{(workdir / 'kubesim.log').read_text()[-2000:] if not log else log}")
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"kubesim did not serve scenario {scenario!r} within {timeout}s")
        time.sleep(0.05)
    config = yaml.safe_load(kubeconfig.read_text())
    ca_file = workdir / "ca.pem"
    ca_file.write_bytes(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]))
    admin = next(u for u in config["users"] if u["name"] == "admin")
    return Sim(process, kubeconfig, config["clusters"][0]["cluster"]["server"], admin["user"]["token"], ca_file)


@contextlib.contextmanager
def running(scenario: str, workdir: Path | None = None, **kwargs):
    sim = start(scenario, workdir, **kwargs)
    try:
        yield sim
    finally:
        sim.stop()

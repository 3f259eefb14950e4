# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the real `ansible-playbook`, `ansible` and `ansible-doc` from the checkout and read back what
the tasks registered.

The commands run with the checkout as working directory, so its ansible.cfg applies
(collections_path = ./collections, where `make setup` links servicemesh.asm to the checkout), and
with the project venv's Python as `ansible_python_interpreter` (docs/docsite/rst/playbooks.rst,
"The Python interpreter": interpreter discovery picks a broken shim on these machines). A playbook's
registered results come back through one
last task that writes them as JSON (`to_json`), so the default stdout callback, diffs and warnings
included, stays as an operator sees it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
_VENV_BIN = ROOT / ".venv" / "bin"
BIN = _VENV_BIN if (_VENV_BIN / "ansible-playbook").exists() else Path(sys.executable).parent
PYTHON = BIN / "python"
COLLECTION_LINK = ROOT / "collections" / "ansible_collections" / "servicemesh" / "asm"


def ansible_env(**extra):
    """The environment for an Ansible command: the venv first on PATH, no colours, and nothing
    inherited that could change the result (ANSIBLE_*, K8S_AUTH_*, KUBECONFIG, PYTHONPATH)."""
    env = dict((k, v) for k, v in os.environ.items()
               if not k.startswith(("ANSIBLE_", "K8S_AUTH_")) and k not in ("KUBECONFIG", "PYTHONPATH"))
    env.update(PATH=str(BIN) + os.pathsep + env.get("PATH", ""), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    env.update(extra)
    return env


def _check_collection_link():
    if not (COLLECTION_LINK / "galaxy.yml").exists():
        raise RuntimeError("%s does not resolve to the checkout: run `make setup` first" % COLLECTION_LINK)


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    results: dict = field(default_factory=dict)

    def __getitem__(self, name):
        return self.results[name]

    def explain(self):
        return "rc=%s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (self.rc, self.stdout[-6000:], self.stderr[-3000:])


_COUNTER = {"n": 0}


def run_playbook(tmp_path, tasks, extra_vars=None, check=False, diff=False, env=None, timeout=300):
    """Write a localhost playbook with `tasks`, run it with `-e @vars.json` and return a PlaybookRun
    whose results map each task's `register` name to its registered result.

    Every task that registers gets `ignore_errors: true` (unless it says otherwise), so one play can
    collect several refusals; test `result["failed"]` and `result["msg"]`."""
    _check_collection_link()
    _COUNTER["n"] += 1
    stem = tmp_path / ("playbook%d" % _COUNTER["n"])
    results_path = Path(str(stem) + ".results.json")
    registered = []
    play_tasks = []
    for task in tasks:
        task = dict(task)
        if "register" in task:
            registered.append(task["register"])
            task.setdefault("ignore_errors", True)
        play_tasks.append(task)
    content = "{{ {%s} | to_json }}" % ", ".join("'%s': (%s | default(none))" % (n, n) for n in registered)
    play_tasks.append({"name": "Save the registered results for the test",
                       "ansible.builtin.copy": {"content": content, "dest": str(results_path), "mode": "0600"},
                       "check_mode": False, "diff": False})
    playbook = [{"name": "servicemesh.asm integration test", "hosts": "localhost", "gather_facts": False,
                 "tasks": play_tasks}]
    playbook_path = Path(str(stem) + ".yml")
    playbook_path.write_text(yaml.safe_dump(playbook, sort_keys=False))
    vars_path = Path(str(stem) + ".vars.json")
    vars_path.write_text(json.dumps(dict(extra_vars or {}, ansible_python_interpreter=str(PYTHON))))
    cmd = [str(BIN / "ansible-playbook"), str(playbook_path), "-e", "@" + str(vars_path)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    proc = subprocess.run(cmd, cwd=ROOT, env=ansible_env(**(env or {})), capture_output=True, text=True,
                          timeout=timeout, check=False)
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, results)


_ADHOC_RESULT = re.compile(r"^localhost \| (?P<status>[A-Z!]+) => (?P<json>\{.*\})\s*\Z", re.S | re.M)


def run_adhoc(module, args, timeout=300):
    """`ansible localhost -m MODULE -a ARGS`: (rc, status such as SUCCESS / FAILED!, result, stdout)."""
    _check_collection_link()
    cmd = [str(BIN / "ansible"), "localhost", "-m", module, "-a", args,
           "-e", "ansible_python_interpreter=%s" % PYTHON]
    proc = subprocess.run(cmd, cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=timeout,
                          check=False)
    match = _ADHOC_RESULT.search(proc.stdout)
    if not match:
        raise AssertionError("no result in the output of %s:\n%s\n%s" % (" ".join(cmd), proc.stdout, proc.stderr))
    return proc.returncode, match.group("status"), json.loads(match.group("json")), proc.stdout


def ansible_doc(name, timeout=120):
    _check_collection_link()
    env = ansible_env(PAGER="cat")
    return subprocess.run([str(BIN / "ansible-doc"), name], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def accepted_writes(sim, mark):
    """Write requests the API server accepted and stored since the audit mark (refused ones, e.g. 403, and
    server-side dry runs are not writes)."""
    return [e for e in sim.writes(since=mark) if e["code"] < 400 and not e.get("dry_run")]


def write_summary(sim, mark):
    return [(e["method"], e["path"], e["code"]) for e in sim.writes(since=mark)]


def namespace_labels(sim, name):
    """The LABELS column of `kubectl get ns NAME --show-labels`, as a dict."""
    out = sim.kubectl("get", "ns", name, "--show-labels", "--no-headers").stdout.split()
    return dict(item.split("=", 1) for item in out[-1].split(",")) if out and out[-1] != "<none>" else {}

"""The role and playbooks end to end: the real ansible-playbook / ansible-runner against kubesim."""

from __future__ import annotations

import pytest
import json
import re
import subprocess
import textwrap
from pathlib import Path

import yaml

from ansible_helpers import BIN, PYTHON, ROOT, ansible_env

ENABLE = str(ROOT / "playbooks" / "enable_injection.yml")
DISABLE = str(ROOT / "playbooks" / "disable_injection.yml")
CONTROLLERS = re.compile(r"^(productpage|reviews|ratings|mysql|log-agent)-")


def playbook(playbook_path, *args, timeout=300):
    return subprocess.run([str(BIN / "ansible-playbook"), playbook_path, *args], cwd=ROOT, env=ansible_env(),
                          capture_output=True, text=True, timeout=timeout)


def pods(sim, namespace):
    """name → (ready 'n/m', uid, sidecar revision or None)."""
    out = json.loads(sim.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)
    result = {}
    for pod in out["items"]:
        statuses = pod["status"].get("containerStatuses", []) + [
            s for s in pod["status"].get("initContainerStatuses", []) if s["name"] == "istio-proxy"]
        total = len(pod["spec"]["containers"]) + sum(1 for c in pod["spec"].get("initContainers", [])
                                                     if c.get("restartPolicy") == "Always")
        status = pod["metadata"].get("annotations", {}).get("sidecar.istio.io/status")
        result[pod["metadata"]["name"]] = ("%d/%d" % (sum(1 for s in statuses if s["ready"]), total),
                                           pod["metadata"]["uid"],
                                           json.loads(status)["revision"] if status else None)
    return result


def recap(stdout):
    match = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", stdout)
    assert match, stdout[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups())))


@pytest.mark.kubesim_only(reason="time budget (make test < 40 min): tests/realcluster/tests/test_seed.py runs the "
                                 "same job (demo, legacy) and its re-run on the real cluster; test_real_faults runs "
                                 "it under docs/rbac.yaml's operator role")
def test_enable_seed_end_to_end_then_rerun_changes_nothing(seed, tmp_path):
    before = pods(seed, "demo")
    report_path = tmp_path / "report.json"
    run = playbook(ENABLE, "-e", "asm_kubeconfig=%s" % seed.kubeconfig, "-e", "asm_namespaces=demo,legacy",
                   "-e", "asm_report_path=%s" % report_path)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    after = pods(seed, "demo")
    controller_pods = dict((n, p) for n, p in after.items() if CONTROLLERS.match(n))
    assert len(controller_pods) == 11
    assert all(p[0] == "2/2" and p[2] == "asm-173-3" for p in controller_pods.values()), controller_pods
    assert after["debug-shell"] == before["debug-shell"]  # the bare pod: same uid, still 1/1, untouched
    assert all(p[0] == "2/2" for p in pods(seed, "legacy").values())
    assert "istio-injection" not in seed.kubectl("get", "ns", "legacy", "--show-labels").stdout
    # The seed's kubectl view of step 1 and the kubectl-style summary are printed.
    # (kubesim's istiod pods are 23h old, as on the page; the real cluster's are as old as the cluster)
    age = "23h" if seed.kind == "kubesim" else r"\d+[smh]"
    assert re.search(r"istiod-asm-173-3-\S+\s+1/1\s+Running\s+0\s+" + age + r"\s+"
                     r"app=istiod,istio\.io/rev=asm-173-3,istio=istiod,pod-template-hash=", run.stdout)
    assert re.search(r"demo\s+asm-173-3\s+11/12\s+12/12\s+5\s+0", run.stdout), run.stdout[-3000:]
    assert re.search(r"legacy\s+asm-173-3\s+2/2\s+2/2\s+1\s+0", run.stdout)
    assert "bare pod demo/debug-shell left untouched" in run.stdout
    report = json.loads(report_path.read_text())
    assert report["complete"] is True and report["revision"] == "asm-173-3" and report["version"] == "1.7.3-asm.3"
    assert sorted(w["name"] for w in report["restarted"]) == ["legacy-app", "log-agent", "mysql", "productpage",
                                                               "ratings", "reviews"]

    mark = seed.audit_mark()
    again = playbook(ENABLE, "-e", "asm_kubeconfig=%s" % seed.kubeconfig, "-e", "asm_namespaces=demo,legacy")
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap(again.stdout)["changed"] == 0
    assert seed.writes(mark) == []
    assert pods(seed, "demo") == after


def test_check_mode_shows_the_plan_and_writes_nothing(seed):
    mark = seed.audit_mark()
    run = playbook(ENABLE, "--check", "--diff", "-e", "asm_kubeconfig=%s" % seed.kubeconfig,
                   "-e", "asm_namespaces=demo")
    assert run.returncode == 0, run.stdout[-4000:]
    assert seed.stored_writes(mark) == []
    # ... but the label and restart patches went to the API server as dry runs (RBAC, admission)
    dry = sorted(e["path"].rsplit("/", 1)[-1] for e in seed.writes(mark))
    assert dry == ["demo", "log-agent", "mysql", "productpage", "ratings", "reviews"], dry
    assert '+    "istio.io/rev": "asm-173-3"' in run.stdout  # the label diff
    assert "check mode: nothing was changed" in run.stdout
    # Planned as if labelled: the five workloads would restart.
    assert len(re.findall(r"would restart demo/\w+/\S+ by rollout", run.stdout)) == 5, run.stdout[-3000:]
    assert "istio.io/rev" not in seed.kubectl("get", "ns", "demo", "--show-labels").stdout


@pytest.mark.kubesim_only(reason="time budget (make test < 40 min): three full restarts of demo; enable is "
                                 "test_enable_seed_end_to_end's")
def test_disable_then_enable_again(seed):
    kc = "asm_kubeconfig=%s" % seed.kubeconfig
    assert playbook(ENABLE, "-e", kc, "-e", "asm_namespaces=demo").returncode == 0
    run = playbook(DISABLE, "-e", kc, "-e", "asm_namespaces=demo")
    assert run.returncode == 0, run.stdout[-4000:]
    assert "istio.io/rev" not in seed.kubectl("get", "ns", "demo", "--show-labels").stdout
    state = pods(seed, "demo")
    assert all(p[2] is None and p[0] == "1/1" for p in state.values()), state
    run = playbook(ENABLE, "-e", kc, "-e", "asm_namespaces=demo")
    assert run.returncode == 0, run.stdout[-4000:]
    assert all(p[0] == "2/2" for n, p in pods(seed, "demo").items() if CONTROLLERS.match(n))


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob crash_loop (kwok pods have no containers to crash)")
def test_a_failing_namespace_fails_the_play_with_the_table(seed):
    seed.faults(crash_loop=[{"container": "legacy-app", "namespace": "legacy"}])
    run = playbook(ENABLE, "-e", "asm_kubeconfig=%s" % seed.kubeconfig, "-e", "asm_namespaces=demo,legacy",
                   "-e", "asm_timeout=12", "-e", "asm_progress_interval=5")
    assert run.returncode != 0
    out = run.stdout
    assert re.search(r"demo\s+asm-173-3\s+11/12\s+12/12\s+5\s+0", out), out[-4000:]  # still reported
    assert re.search(r"legacy\s+asm-173-3\s+\S+\s+\S+\s+1\s+[1-9]", out)
    assert re.search(r"PROBLEM legacy/legacy-app-\S+ \d/2: legacy-app CrashLoopBackOff", out)
    assert "waiting on" in out  # a progress line was printed between rounds


@pytest.mark.kubesim_only(reason="three clusters at once (3 x 830 MB, 3 starts): the parallelism under test is "
                                 "Ansible's forks")
def test_fleet_of_three_clusters_rolls_in_parallel(start_sim, tmp_path):
    sims = [start_sim("seed") for _ in range(3)]
    inventory = {"asm_clusters": {"hosts": dict(("cluster%d" % i, {"asm_kubeconfig": str(s.kubeconfig)})
                                                for i, s in enumerate(sims)),
                                  "vars": {"ansible_connection": "local", "asm_namespaces": ["demo"]}}}
    path = tmp_path / "fleet.yml"
    path.write_text(yaml.safe_dump(inventory))
    marks = [s.audit_mark() for s in sims]
    run = playbook(ENABLE, "-i", str(path), "-e", "asm_hosts=asm_clusters", "--forks", "3")
    assert run.returncode == 0, run.stdout[-4000:]
    windows = []
    for sim, mark in zip(sims, marks):
        state = pods(sim, "demo")
        assert all(p[0] == "2/2" for n, p in state.items() if CONTROLLERS.match(n))
        patches = [e["time"] for e in sim.writes(mark) if e["verb"] == "patch" and e["resource"] != "namespaces"]
        assert len(patches) == 5
        windows.append((min(patches), max(patches)))
    # In parallel: every cluster's restarts began before any other cluster's restarts had ended.
    assert max(w[0] for w in windows) < min(w[1] for w in windows) + 5


@pytest.mark.kubesim_only(reason="AWX artifacts (ansible-runner, set_stats): Ansible-side; the job is "
                                 "test_enable_seed_end_to_end's")
def test_ansible_runner_publishes_the_report_with_set_stats(seed, tmp_path):
    """AWX runs playbooks with ansible-runner; the report must reach its artifacts as set_stats."""
    private = tmp_path / "runner"
    (private / "project").mkdir(parents=True)
    (private / "env").mkdir()
    (private / "project" / "enable_injection.yml").write_text(Path(ENABLE).read_text())
    (private / "env" / "envvars").write_text(yaml.safe_dump({
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"), "ANSIBLE_NOCOLOR": "1"}))
    (private / "env" / "extravars").write_text(yaml.safe_dump({
        "asm_kubeconfig": str(seed.kubeconfig), "asm_namespaces": "demo", "asm_python": str(PYTHON)}))
    run = subprocess.run([str(BIN / "ansible-runner"), "run", str(private), "-p", "enable_injection.yml",
                          "--ident", "job1"], cwd=tmp_path, env=ansible_env(), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    events = [json.loads(p.read_text()) for p in (private / "artifacts" / "job1" / "job_events").glob("*.json")]
    stats = [e for e in events if e.get("event") == "playbook_on_stats"]
    assert len(stats) == 1
    report = stats[0]["event_data"]["artifact_data"]["asm_reports"]["localhost"]
    assert report["complete"] is True and report["revision"] == "asm-173-3"
    assert [n["name"] for n in report["namespaces"]] == ["demo"]


def test_execution_environment_matches_the_collection():
    """execution-environment.yml installs the collection's own requirements and tarball version."""
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert ee["version"] == 3
    assert ee["dependencies"]["python"] == "requirements.txt"
    collection = ee["dependencies"]["galaxy"]["collections"][0]["name"]
    assert collection.endswith("servicemesh-asm-%s.tar.gz" % galaxy["version"])
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"]["python"] == "requirements.txt"
    requirements = (ROOT / "requirements.txt").read_text()
    for package in ("ansible-core", "kubernetes", "jmespath"):
        assert package in requirements
    core = ee["dependencies"]["ansible_core"]["package_pip"]
    assert textwrap.dedent(core).split(">=")[0] == "ansible-core"
    assert re.search(r"ansible-core\s*>=\s*2\.16", requirements) and "2.16" in core


@pytest.mark.kubesim_only(reason="time budget (make test < 40 min): two full restarts; label restore is the modules' "
                                 "logic, the cluster adds nothing")
def test_disable_restores_the_labels_from_the_enable_report(seed, tmp_path):
    """Rollback: disable with asm_restore_from puts back what enable replaced (legacy's istio-injection)."""
    report = tmp_path / "enable.json"
    kc = "asm_kubeconfig=%s" % seed.kubeconfig
    assert playbook(ENABLE, "-e", kc, "-e", "asm_namespaces=demo,legacy", "-e",
                    "asm_report_path=%s" % report).returncode == 0
    run = playbook(DISABLE, "-e", kc, "-e", "asm_namespaces=demo,legacy", "-e", "asm_restore_from=%s" % report)
    assert run.returncode == 0, run.stdout[-4000:]
    labels = seed.kubectl("get", "ns", "demo", "legacy", "--show-labels").stdout
    assert "istio-injection=enabled" in labels and "istio.io/rev" not in labels
    # Back as before: legacy's label injects nothing (no default revision), so no pod keeps a sidecar.
    for namespace in ("demo", "legacy"):
        assert all(p[2] is None for p in pods(seed, namespace).values())


@pytest.mark.kubesim_only(reason="packaging (galaxy build + install); the job is test_enable_seed_end_to_end's, which "
                                 "runs on the real cluster")
def test_installed_collection_runs_its_playbook_by_fqcn(seed, tmp_path):
    """ansible-galaxy collection build + install, then `ansible-playbook servicemesh.asm.enable_injection`."""
    build = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path",
                            str(tmp_path)], cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    tarball = next(tmp_path.glob("servicemesh-asm-*.tar.gz"))
    install = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", str(tarball), "-p",
                              str(tmp_path / "installed"), "--offline"], cwd=tmp_path, env=ansible_env(),
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    run = subprocess.run([str(BIN / "ansible-playbook"), "servicemesh.asm.enable_injection", "-e",
                          "asm_kubeconfig=%s" % seed.kubeconfig, "-e", "asm_namespaces=demo"], cwd=tmp_path,
                         env=ansible_env(ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "installed")), capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "installed/ansible_collections/servicemesh/asm/roles/sidecar_injection" in run.stdout
    assert all(p[0] == "2/2" for n, p in pods(seed, "demo").items() if CONTROLLERS.match(n))

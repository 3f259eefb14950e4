"""Tokens never reach output, logs, diffs or reports; TLS verification is on by default."""

from __future__ import annotations

import pytest
import base64
import subprocess

import yaml

from ansible_helpers import BIN, ROOT, ansible_env

TOKEN = "sEcReT-t0ken-4f9a2c1e-do-not-log"
ADMIN = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]


@pytest.mark.kubesim_only(reason='a scenario file with its own token users')
def test_api_key_never_appears_anywhere(start_sim, tmp_path):
    spec = yaml.safe_load((ROOT / "tests" / "kubesim" / "scenarios" / "seed.yaml").read_text())
    spec["users"] = [{"name": "automation", "token": TOKEN, "rules": ADMIN}]
    scenario = tmp_path / "seed-secret.yaml"
    scenario.write_text(yaml.safe_dump(spec))
    sim = start_sim(str(scenario))
    ca = tmp_path / "ca.pem"
    config = yaml.safe_load(sim.kubeconfig.read_text())
    ca.write_bytes(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]))
    report = tmp_path / "report.json"
    log = tmp_path / "ansible.log"
    args = ["-e", "asm_host=%s" % sim.url, "-e", "asm_api_key=%s" % TOKEN, "-e", "asm_ca_cert=%s" % ca,
            "-e", "asm_namespaces=demo", "-e", "asm_report_path=%s" % report]
    runs = [subprocess.run([str(BIN / "ansible-playbook"), str(ROOT / "playbooks" / "enable_injection.yml"), *args,
                            *flags], cwd=ROOT, env=ansible_env(ANSIBLE_LOG_PATH=str(log)), capture_output=True,
                           text=True, timeout=300)
            for flags in (["-vvv", "--diff"], ["--check", "--diff", "-vvv"])]
    assert all(r.returncode == 0 for r in runs), runs[0].stdout[-3000:]
    assert "demo" in report.read_text()
    written = [r.stdout + r.stderr for r in runs] + [report.read_text(), log.read_text()]
    assert all(TOKEN not in text for text in written)
    assert "automation" in " ".join(e["user"] for e in sim.audit())  # the token was really used


@pytest.mark.kubesim_only(reason="uses kubesim's admin token and URL (the real cluster's admin is a client "
                                 "certificate)")
def test_tls_is_verified_by_default(start_sim):
    """Without the CA (and without validate_certs: false) the self-signed server is refused."""
    sim = start_sim("seed")
    result = subprocess.run([str(BIN / "ansible-playbook"), str(ROOT / "playbooks" / "enable_injection.yml"),
                             "-e", "asm_host=%s" % sim.url, "-e", "asm_api_key=%s" % sim.token,
                             "-e", "asm_namespaces=demo"], cwd=ROOT, env=ansible_env(), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0
    assert "TLS verification of the API server" in result.stdout and "ca_cert" in result.stdout
    assert sim.token not in result.stdout + result.stderr
    assert sim.writes() == []

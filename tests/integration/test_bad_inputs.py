"""Bad role variables, as an AWX survey or a careless -e sends them: each run fails before any write
with a message naming the variable and what would be valid; survey strings for numbers and lists are
taken as such. One seed cluster serves every case, since none may change it."""

from __future__ import annotations

import json
import re

import pytest

from kubesim import testing
from test_role import ENABLE, DISABLE, playbook

pytestmark = pytest.mark.kubesim_only(reason='refused before any write: input validation, the cluster plays no part')


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    sim = testing.start("seed", tmp_path_factory.mktemp("bad-inputs"))
    yield sim
    sim.stop()


def run_with(sim, variables, playbook_path=ENABLE, *extra):
    variables = dict({"asm_kubeconfig": str(sim.kubeconfig)}, **variables)
    return playbook(playbook_path, "-e", json.dumps(variables), *extra)


def refused(sim, variables, playbook_path=ENABLE):
    mark = sim.audit_mark()
    run = run_with(sim, variables, playbook_path)
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert sim.writes(mark) == [], sim.writes(mark)
    return " ".join(out.split())  # messages are wrapped by the callback


NAMESPACES = {"asm_namespaces": ["demo"]}
CASES = {
    # wrong types, as surveys send them
    "timeout_word": ({"asm_timeout": "ten minutes"}, "argument 'asm_timeout' is of type"),
    "concurrency_word": ({"asm_max_concurrent": "all"}, "argument 'asm_max_concurrent' is of type"),
    "validate_certs_word": ({"asm_validate_certs": "maybe"}, "argument 'asm_validate_certs' is of type"),
    "namespaces_dict": ({"asm_namespaces": {"demo": True}}, "argument 'asm_namespaces' is of type"),
    "namespaces_textarea": ({"asm_namespaces": "demo\nlegacy"}, "namespaces contains invalid namespace names"),
    # out of range
    "timeout_zero": ({"asm_timeout": 0}, "asm_timeout must be between 1 and 86400 seconds, got 0."),
    "timeout_negative": ({"asm_timeout": "-5"}, "asm_timeout must be between 1 and 86400 seconds, got -5."),
    "timeout_huge": ({"asm_timeout": 10 ** 9}, "asm_timeout must be between 1 and 86400 seconds, got 1000000000."),
    "concurrency_zero": ({"asm_max_concurrent": 0}, "asm_max_concurrent must be between 1 and 10000, got 0."),
    "concurrency_huge": ({"asm_max_concurrent": 10 ** 6}, "asm_max_concurrent must be between 1 and 10000"),
    "progress_zero": ({"asm_progress_interval": 0}, "asm_progress_interval must be between 1 and 86400 seconds"),
    # choices
    "state": ({"asm_state": "enabled"}, "value of asm_state must be one of: present, absent, got: enabled"),
    "restart": ({"asm_restart": "recreate"}, "value of asm_restart must be one of: rollout, delete_pods, none, got: "
                                             "recreate"),
    "prefer": ({"asm_prefer": "latest"}, "value of asm_prefer must be one of: , newest, default, got: latest"),
    "skip_jmespath": ({"asm_skip_workloads": "metadata.labels.["},
                      "asm_skip_workloads 'metadata.labels.[' is not a valid JMESPath expression"),
    # names, revisions, connection
    "namespace_name": ({"asm_namespaces": ["Demo_1"]}, "namespaces contains invalid namespace names: 'Demo_1'."),
    "revision_unknown": ({"asm_revision": "asm-999-9"}, "Revision 'asm-999-9' is not known to the cluster"),
    "context": ({"asm_context": "nosuch"}, "the context must be one of the contexts listed in the kubeconfig"),
    "kubeconfig_missing": ({"asm_kubeconfig": "/nonexistent/kubeconfig"},
                           "kubeconfig file /nonexistent/kubeconfig does not exist"),
    "ca_cert_missing": ({"asm_ca_cert": "/nonexistent/ca.pem"},
                        "ca_cert file /nonexistent/ca.pem does not exist: give the path of a readable PEM file."),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_role_variable_is_refused_before_any_write(cluster, case):
    variables, message = CASES[case]
    out = refused(cluster, dict(NAMESPACES, **variables))
    assert message in out, out[-3000:]


def test_restore_from_a_missing_report_is_refused_before_any_write(cluster):
    out = refused(cluster, dict(NAMESPACES, asm_state="absent", asm_restore_from="/nonexistent/report.json"), DISABLE)
    assert "asm_restore_from: no such file /nonexistent/report.json; give the JSON report (asm_report_path)" in out


def test_survey_strings_for_numbers_lists_and_booleans_are_taken_as_such(cluster):
    """AWX text fields send strings: "demo,legacy" is the list, "3" the number, "true" the boolean."""
    mark = cluster.audit_mark()
    run = run_with(cluster, {"asm_namespaces": "demo,legacy", "asm_max_concurrent": "3", "asm_timeout": "600",
                             "asm_validate_certs": "true"}, ENABLE, "--check")
    assert run.returncode == 0, run.stdout[-3000:]
    rows = re.findall(r'^\s*"(\S+)\s+asm-173-3\s+\d+/\d+\s', run.stdout, re.M)  # the summary table
    assert rows == ["demo", "legacy"], run.stdout[-3000:]
    assert cluster.stored_writes(mark) == []  # check mode: dry runs only

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""asm_namespace_inject through the real `ansible-playbook` against kubesim's seed: labelling like the
seed's `kubectl label namespace demo istio-injection- istio.io/rev=asm-173-3 --overwrite`,
idempotence, check mode and diff, state absent, selection, and every refusal with its message and
without a single write (proved from kubesim's audit log)."""

from __future__ import annotations

import pytest
import re

from ansible_helpers import (
    accepted_writes, ansible_doc, namespace_labels, run_playbook, write_summary)

INFO = "servicemesh.asm.asm_revision_info"
INJECT = "servicemesh.asm.asm_namespace_inject"
REV = "asm-173-3"
SYSTEM = "system namespace (name it in namespaces to include it)"


def inject(register, **args):
    return {"name": register, INJECT: dict({"kubeconfig": "{{ kubeconfig }}"}, **args), "register": register}


def flat(text):
    """Output with Ansible's line wrapping undone."""
    return " ".join(text.split())


def test_seed_labels_demo_like_kubectl_and_changes_only_once(start_sim, seed, tmp_path):
    tasks = [
        {"name": "discover", INFO: {"kubeconfig": "{{ kubeconfig }}"}, "register": "asm"},
        inject("label", revision="{{ asm.revision }}", namespaces=["demo", "legacy"]),
    ]
    mark = seed.audit_mark()
    first = run_playbook(tmp_path, tasks, extra_vars={"kubeconfig": str(seed.kubeconfig)})
    assert first.rc == 0, first.explain()
    label = first["label"]
    assert label.get("failed") is not True, label
    assert (label["changed"], label["revision"], label["state"], label["created"], label["not_selected"]) == (
        True, REV, "present", [], [])
    assert [(n["name"], n["previous_labels"], n["labels"], n["changed"]) for n in label["namespaces"]] == [
        ("demo", {}, {"istio.io/rev": REV}, True),
        ("legacy", {"istio-injection": "enabled"}, {"istio.io/rev": REV}, True)]
    assert label["namespaces"][0]["injection"] == {
        "revision": REV, "reason": "webhook istio-sidecar-injector-asm-173-3/rev.namespace.sidecar-injector.istio.io "
                                   "(revision asm-173-3)"}
    # one patch per namespace, nothing else written
    assert write_summary(seed, mark) == [("PATCH", "/api/v1/namespaces/demo", 200),
                                         ("PATCH", "/api/v1/namespaces/legacy", 200)]

    shown = seed.kubectl("get", "ns", "demo", "--show-labels").stdout
    assert "istio.io/rev=asm-173-3" in shown and "istio-injection" not in shown
    ours = {"demo": namespace_labels(seed, "demo"), "legacy": namespace_labels(seed, "legacy")}
    assert ours == {"demo": {"istio.io/rev": REV, "kubernetes.io/metadata.name": "demo"},
                    "legacy": {"istio.io/rev": REV, "kubernetes.io/metadata.name": "legacy"}}
    # exactly what the seed's kubectl command makes of the same namespaces in a fresh cluster (on the real
    # one: the same cluster reset to the scenario; a second real cluster costs half a minute)
    if seed.kind == "real":
        seed.reset()
        other = seed
    else:
        other = start_sim("seed")
    for name in ("demo", "legacy"):
        other.kubectl("label", "namespace", name, "istio-injection-", "istio.io/rev=%s" % REV, "--overwrite")
    assert {"demo": namespace_labels(other, "demo"), "legacy": namespace_labels(other, "legacy")} == ours

    mark = seed.audit_mark()
    second = run_playbook(tmp_path, tasks, extra_vars={"kubeconfig": str(seed.kubeconfig)})
    assert second.rc == 0, second.explain()
    assert second["label"]["changed"] is False
    assert [(n["name"], n["previous_labels"], n["changed"]) for n in second["label"]["namespaces"]] == [
        ("demo", {"istio.io/rev": REV}, False), ("legacy", {"istio.io/rev": REV}, False)]
    assert seed.writes(since=mark) == []
    assert re.search(r"TASK \[label\] \*+\nok: \[localhost\]\n", second.stdout), second.stdout


def test_check_mode_writes_nothing_and_diff_shows_before_and_after(seed, tmp_path):
    mark = seed.audit_mark()
    run = run_playbook(tmp_path, [
        inject("label", revision=REV, namespaces=["demo", "legacy"]),
        inject("create", revision=REV, namespaces=["fresh"], create=True),
        inject("disable", state="absent", namespaces=["legacy"]),
    ], extra_vars={"kubeconfig": str(seed.kubeconfig)}, check=True, diff=True)
    assert run.rc == 0, run.explain()
    assert seed.stored_writes(since=mark) == []
    # what it would write went to the API server as dry runs (review finding 15), each accepted
    assert [(e["method"], e["path"], e["code"]) for e in seed.writes(since=mark)] == [
        ("PATCH", "/api/v1/namespaces/demo", 200), ("PATCH", "/api/v1/namespaces/legacy", 200),
        ("POST", "/api/v1/namespaces", 201), ("PATCH", "/api/v1/namespaces/legacy", 200)]
    assert (run["label"]["changed"], run["create"]["changed"], run["disable"]["changed"]) == (True, True, True)
    assert run["create"]["created"] == ["fresh"]
    assert run["disable"]["namespaces"][0]["previous_labels"] == {"istio-injection": "enabled"}
    assert namespace_labels(seed, "legacy") == {"istio-injection": "enabled", "kubernetes.io/metadata.name": "legacy"}
    assert namespace_labels(seed, "demo") == {"kubernetes.io/metadata.name": "demo"}
    assert seed.kubectl("get", "ns", "fresh", check=False).returncode != 0

    out = run.stdout
    assert ("--- before: namespace/demo labels\n"
            "+++ after: namespace/demo labels\n"
            "@@ -1 +1,3 @@\n"
            "-{}\n"
            "+{\n"
            '+    "istio.io/rev": "asm-173-3"\n'
            "+}\n") in out
    assert ("--- before: namespace/legacy labels\n"
            "+++ after: namespace/legacy labels\n"
            "@@ -1,3 +1,3 @@\n"
            " {\n"
            '-    "istio-injection": "enabled"\n'
            '+    "istio.io/rev": "asm-173-3"\n'
            " }\n") in out
    assert "--- before: namespace/fresh labels" in out
    assert out.count("--- before: namespace/legacy labels") == 2  # labelled, then (separately) disabled
    assert ("--- before: namespace/legacy labels\n"
            "+++ after: namespace/legacy labels\n"
            "@@ -1,3 +1 @@\n"
            "-{\n"
            '-    "istio-injection": "enabled"\n'
            "-}\n"
            "+{}\n") in out


def test_state_absent_removes_the_labels_and_returns_the_previous_ones(seed, tmp_path):
    mark = seed.audit_mark()
    run = run_playbook(tmp_path, [
        inject("label", revision=REV, namespaces=["demo"]),
        inject("disable", state="absent", namespaces=["demo", "legacy"]),
        inject("disable_again", state="absent", namespaces=["demo", "legacy"]),
    ], extra_vars={"kubeconfig": str(seed.kubeconfig)})
    assert run.rc == 0, run.explain()
    disable = run["disable"]
    assert (disable["changed"], disable["state"], disable["revision"]) == (True, "absent", None)
    assert [(n["name"], n["previous_labels"], n["labels"], n["changed"]) for n in disable["namespaces"]] == [
        ("demo", {"istio.io/rev": REV}, {}, True), ("legacy", {"istio-injection": "enabled"}, {}, True)]
    assert "injection" not in disable["namespaces"][0]
    assert run["disable_again"]["changed"] is False
    assert namespace_labels(seed, "demo") == {"kubernetes.io/metadata.name": "demo"}
    assert namespace_labels(seed, "legacy") == {"kubernetes.io/metadata.name": "legacy"}
    assert write_summary(seed, mark) == [("PATCH", "/api/v1/namespaces/demo", 200),
                                         ("PATCH", "/api/v1/namespaces/demo", 200),
                                         ("PATCH", "/api/v1/namespaces/legacy", 200)]


def test_selector_skips_system_namespaces_and_honours_exclude(seed, tmp_path):
    mark = seed.audit_mark()
    run = run_playbook(tmp_path, [
        inject("named_system", revision=REV, namespaces=["istio-system"], namespace_selector="istio-injection=enabled",
               exclude=["legacy"]),
        inject("every_namespace", revision=REV, namespace_selector="kubernetes.io/metadata.name", exclude=["default"]),
        inject("only_system", revision=REV,
               namespace_selector="kubernetes.io/metadata.name in (kube-system,kube-public)"),
    ], extra_vars={"kubeconfig": str(seed.kubeconfig)})
    assert run.rc == 0, run.explain()
    every = run["every_namespace"]
    assert every.get("failed") is not True, every
    assert [n["name"] for n in every["namespaces"]] == ["demo", "legacy"]
    assert every["not_selected"] == [
        {"name": "default", "reason": "excluded"}, {"name": "istio-system", "reason": SYSTEM},
        {"name": "kube-node-lease", "reason": SYSTEM}, {"name": "kube-public", "reason": SYSTEM},
        {"name": "kube-system", "reason": SYSTEM}]
    # named explicitly, a system namespace is selected; exclude wins over the selector's match
    named = run["named_system"]
    assert [n["name"] for n in named["namespaces"]] == ["istio-system"]
    assert named["not_selected"] == [{"name": "legacy", "reason": "excluded"}]
    assert run["only_system"]["failed"] is True
    assert run["only_system"]["msg"] == (
        "No namespaces selected after exclusions: kube-public (%s); kube-system (%s). Matched by namespace_selector "
        "'kubernetes.io/metadata.name in (kube-system,kube-public)': kube-public, kube-system." % (SYSTEM, SYSTEM))
    assert write_summary(seed, mark) == [("PATCH", "/api/v1/namespaces/istio-system", 200),
                                         ("PATCH", "/api/v1/namespaces/demo", 200),
                                         ("PATCH", "/api/v1/namespaces/legacy", 200)]
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert "istio.io/rev" not in namespace_labels(seed, name), name


def test_create_true_creates_the_namespace_labelled(seed, tmp_path):
    mark = seed.audit_mark()
    run = run_playbook(tmp_path, [
        inject("create", revision=REV, namespaces=["fresh", "demo"], create=True),
        inject("again", revision=REV, namespaces=["fresh", "demo"], create=True),
    ], extra_vars={"kubeconfig": str(seed.kubeconfig)})
    assert run.rc == 0, run.explain()
    assert (run["create"]["changed"], run["create"]["created"]) == (True, ["fresh"])
    assert [(n["name"], n["changed"]) for n in run["create"]["namespaces"]] == [("demo", True), ("fresh", True)]
    assert (run["again"]["changed"], run["again"]["created"]) == (False, [])
    assert namespace_labels(seed, "fresh") == {"istio.io/rev": REV, "kubernetes.io/metadata.name": "fresh"}
    assert write_summary(seed, mark) == [("PATCH", "/api/v1/namespaces/demo", 200),
                                         ("POST", "/api/v1/namespaces", 201)]


def test_warnings_for_both_labels_and_ambient(seed, tmp_path):
    seed.kubectl("label", "namespace", "legacy", "istio.io/rev=%s" % REV)
    seed.kubectl("label", "namespace", "demo", "istio.io/dataplane-mode=ambient")
    mark = seed.audit_mark()
    run = run_playbook(tmp_path, [inject("label", revision=REV, namespaces=["demo", "legacy"])],
                       extra_vars={"kubeconfig": str(seed.kubeconfig)})
    assert run.rc == 0, run.explain()
    demo, legacy = run["label"]["namespaces"]
    assert (demo["skipped"], demo["changed"], demo["reason"]) == (
        True, False, "ambient namespace (istio.io/dataplane-mode=ambient): no sidecars")
    assert (legacy["changed"], legacy["previous_labels"], legacy["labels"]) == (
        True, {"istio-injection": "enabled", "istio.io/rev": REV}, {"istio.io/rev": REV})
    out = flat(run.stdout + run.stderr)  # ansible-core 2.19 prints warnings on stderr
    assert "[WARNING]: Namespace demo is in ambient mode (istio.io/dataplane-mode=ambient); skipped." in out
    assert ("[WARNING]: Namespace legacy carried both istio-injection=enabled and istio.io/rev=asm-173-3: "
            "istio-injection wins, so istio.io/rev was ignored.") in out
    assert write_summary(seed, mark) == [("PATCH", "/api/v1/namespaces/legacy", 200)]
    assert namespace_labels(seed, "legacy") == {"istio.io/rev": REV, "kubernetes.io/metadata.name": "legacy"}
    assert "istio.io/rev" not in namespace_labels(seed, "demo")


@pytest.mark.kubesim_only(reason="names kubesim's kubeconfig contexts (kubesim-ci-reader)")
def test_bad_inputs_fail_with_their_message_and_write_nothing(seed, tmp_path):
    mark = seed.audit_mark()
    run = run_playbook(tmp_path, [
        inject("invalid_name", revision=REV, namespaces=["Demo_1", "ok"]),
        inject("invalid_exclude", revision=REV, namespaces=["demo"], exclude=["bad.name"]),
        inject("missing", revision=REV, namespaces=["nope", "demo"]),
        inject("nothing_given", revision=REV),
        inject("all_excluded", revision=REV, namespaces=["demo"], exclude=["demo"]),
        inject("no_match", revision=REV, namespace_selector="team=nobody"),
        inject("malformed_selector", revision=REV, namespace_selector="a in (b"),
        inject("unknown_revision", revision="asm-999", namespaces=["demo"]),
        inject("no_revision", namespaces=["demo"]),
        inject("istio_skips_it", revision=REV, namespaces=["demo", "kube-system"]),
        {"name": "bad_kubeconfig", "register": "bad_kubeconfig",
         INJECT: {"kubeconfig": "{{ kubeconfig }}.missing", "revision": REV, "namespaces": ["demo"]}},
        inject("wrong_context", revision=REV, namespaces=["demo"], context="nosuch"),
        inject("forbidden", revision=REV, namespaces=["demo"], context="kubesim-ci-reader"),
        dict(inject("forbidden_env", revision=REV, namespaces=["demo"]),
             environment={"K8S_AUTH_CONTEXT": "kubesim-ci-reader"}),
    ], extra_vars={"kubeconfig": str(seed.kubeconfig)})
    assert run.rc == 0, run.explain()
    for name, result in run.results.items():
        assert result["failed"] is True, (name, result)
        assert result["changed"] is False, name
    msg = dict((name, result["msg"]) for name, result in run.results.items())
    rfc1123 = ("A namespace name is an RFC 1123 label: at most 63 lower-case letters, digits or '-', starting and "
               "ending with a letter or digit.")
    assert msg["invalid_name"] == "namespaces contains invalid namespace names: 'Demo_1'. " + rfc1123
    assert msg["invalid_exclude"] == "exclude contains invalid namespace names: 'bad.name'. " + rfc1123
    assert msg["missing"] == ("Namespaces that do not exist: nope. Create them first, fix the names, or set create: "
                              "true.")
    assert msg["nothing_given"] == (
        "No namespaces selected: give namespaces (a list of names) and/or namespace_selector (a label selector such as "
        "'env=prod' or 'team in (a,b)').")
    assert msg["all_excluded"] == "No namespaces selected after exclusions: demo (excluded)."
    assert msg["no_match"] == ("No namespaces selected after exclusions: nothing matched. Matched by "
                               "namespace_selector 'team=nobody': no namespace.")
    assert msg["malformed_selector"].startswith("namespace_selector 'a in (b' is not a valid label selector (")
    assert msg["malformed_selector"].endswith("Valid forms: 'key=value', 'key!=value', 'key in (a,b)', "
                                              "'key notin (a)', 'key', '!key', comma-separated.")
    assert msg["unknown_revision"] == (
        "Revision 'asm-999' is unknown to the cluster: no active injector webhook serves it, so pods in the labelled "
        "namespaces would silently come up without a sidecar. Known revisions and tags: asm-173-3. Set force: true to "
        "label anyway.")
    assert msg["no_revision"] == "state is present but all of the following are missing: revision"
    assert msg["istio_skips_it"] == (
        "After labelling, no injector webhook would inject revision asm-173-3 into: kube-system: Istio never injects "
        "into kube-system. Nothing was changed. Fix the revision or the labels, or set force: true.")
    assert msg["bad_kubeconfig"] == (
        "kubeconfig file %s.missing does not exist: give the path of a readable kubeconfig (or a kubeconfig as a "
        "dict), or leave kubeconfig unset to use the in-cluster service account, $KUBECONFIG or ~/.kube/config."
        % seed.kubeconfig)
    assert msg["wrong_context"].startswith("Could not load Kubernetes credentials: ")
    assert "nosuch" in msg["wrong_context"]
    assert "(the context must be one of the contexts listed in the kubeconfig)" in msg["wrong_context"]
    for name in ("forbidden", "forbidden_env"):
        assert msg[name].startswith("Forbidden (403): the credentials in use may not patch namespaces 'demo' (cluster "
                                    "scope). The API server said: "), name
        assert 'User "ci-reader" cannot patch resource "namespaces"' in msg[name]
        assert msg[name].endswith("Grant that permission to the user or service account (RBAC), or run with "
                                  "credentials that have it.")
        assert run[name]["status"] == 403
    # the only write requests are the two refused patches; the cluster is untouched
    assert write_summary(seed, mark) == [("PATCH", "/api/v1/namespaces/demo", 403)] * 2
    assert accepted_writes(seed, mark) == []
    assert namespace_labels(seed, "demo") == {"kubernetes.io/metadata.name": "demo"}
    assert namespace_labels(seed, "legacy") == {"istio-injection": "enabled", "kubernetes.io/metadata.name": "legacy"}
    assert seed.kubectl("get", "ns", "nope", check=False).returncode != 0


def test_unreachable_api_server_fails_fast_with_a_clear_message(tmp_path):
    token = "integration-test-token-0123456789"  # long enough that no_log masking cannot hit the message
    run = run_playbook(tmp_path, [
        {"name": "unreachable", "register": "unreachable",
         INJECT: {"host": "https://127.0.0.1:1", "api_key": token, "revision": REV, "namespaces": ["demo"]}},
    ])
    assert run.rc == 0, run.explain()
    result = run["unreachable"]
    assert result["failed"] is True
    assert result["msg"].startswith("Cannot reach the Kubernetes API server at https://127.0.0.1:1 while trying to "
                                    "get namespace 'demo': ")
    assert "Connection refused" in result["msg"]
    assert result["msg"].endswith("Check host, kubeconfig and context, and that the cluster is reachable from where "
                                  "the module runs.")
    assert token not in run.stdout
    # A refused connection is retried twice (3 attempts), not with the full backoff meant for 5xx.
    assert (result["api_requests"], result["api_retries"]) == (3, 2)


def test_ansible_doc_renders():
    proc = ansible_doc(INJECT)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for section in ("EXAMPLES:", "RETURN VALUES:", "OPTIONS (", "ATTRIBUTES:"):
        assert section in text, section
    for option in ("namespace_selector", "exclude", "state", "create", "force", "kubeconfig", "proxy_headers"):
        assert option in text, option
    assert "servicemesh.asm.asm_namespace_inject:" in text
    assert "previous_labels" in text and "not_selected" in text


@pytest.mark.kubesim_only(reason="needs kubesim's fault knob admission_deny (the real cluster's "
                                 "ValidatingAdmissionPolicy refusal is test_real_faults.py)")
def test_check_mode_shows_admission_and_rbac_refusals_and_stores_nothing(seed, tmp_path):
    """--check sends the patches with dryRun=All, so a policy engine's or RBAC's refusal fails the check run
    with the server's message naming the namespace (review finding 15); nothing is stored."""
    seed.faults(admission_deny=[{"verbs": ["patch"], "resource": "namespaces", "name": "legacy",
                                 "policy": "ns-owner", "message": 'you must provide labels: {"owner"}'}])
    mark = seed.audit_mark()
    run = run_playbook(tmp_path, [
        inject("label", revision=REV, namespaces=["demo", "legacy"]),
        dict(inject("reader", revision=REV, namespaces=["demo"]),
             **{INJECT: {"kubeconfig": "{{ kubeconfig }}", "context": "kubesim-ci-reader", "revision": REV,
                         "namespaces": ["demo"]}}),
    ], extra_vars={"kubeconfig": str(seed.kubeconfig)}, check=True)
    assert run["label"]["failed"] is True
    assert flat(run["label"]["msg"]) == (
        "Refused by an admission policy (403) while trying to patch namespaces 'legacy' (cluster scope, dry run). The "
        "API server "
        'said: admission webhook "validation.gatekeeper.sh" denied the request: [ns-owner] you must provide labels: '
        '{"owner"}. Change the request to satisfy the policy, or ask its owners for an exception.')
    assert run["reader"]["failed"] is True
    assert flat(run["reader"]["msg"]).startswith(
        "Forbidden (403): the credentials in use may not patch namespaces 'demo' (cluster scope, dry run). The API "
        "server said: "
        'namespaces "demo" is forbidden: User "ci-reader" cannot patch resource "namespaces"')
    assert seed.stored_writes(since=mark) == []
    assert all(e["dry_run"] for e in seed.writes(since=mark))
    assert namespace_labels(seed, "legacy") == {"istio-injection": "enabled", "kubernetes.io/metadata.name": "legacy"}


@pytest.mark.kubesim_only(reason="a scenario file with its own token users (the real cluster's RBAC is "
                                 "test_real_faults.py)")
def test_a_namespace_admin_labels_its_named_namespace_without_listing_namespaces(start_sim, tmp_path):
    """Its RoleBinding allows get and patch on namespace demo only (review finding 16): named namespaces are read
    by name; the cluster-scoped injector webhooks it cannot read are reported as not verified."""
    import yaml
    from pathlib import Path
    spec = yaml.safe_load((Path(__file__).parents[1] / "kubesim/scenarios/seed.yaml").read_text())
    spec["users"] = [{"name": "demo-admin", "token": "tok-demo-admin", "rules": [
        {"verbs": ["get", "patch"], "apiGroups": [""], "resources": ["namespaces"], "namespaces": ["demo"]}]}]
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(spec))
    sim = start_sim(str(tmp_path / "scenario.yaml"))
    mark = sim.audit_mark()
    task = {"name": "label", INJECT: {"kubeconfig": str(sim.kubeconfig), "context": "kubesim-demo-admin",
                                      "revision": REV, "namespaces": ["demo"]}, "register": "label"}
    run = run_playbook(tmp_path, [task])
    label = run["label"]
    assert label.get("failed") is not True, label
    assert label["changed"] is True
    assert "Could not read the injector webhooks (403 on list mutatingwebhookconfigurations)" in run.explain()
    assert namespace_labels(sim, "demo")["istio.io/rev"] == REV
    assert not [e for e in sim.audit(mark) if e["resource"] == "namespaces" and e["verb"] == "list"]
    assert [(e["verb"], e["name"], e["code"]) for e in sim.audit(mark)
            if e["resource"] == "namespaces" and e["user"] == "demo-admin"] == [
        ("get", "demo", 200), ("patch", "demo", 200)]

"""docs/rbac.yaml is exactly what the collection needs: the role runs under those rules (kubesim
enforces them like RBAC) and every granted permission is used by the run, none missing, none spare."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import yaml

from ansible_helpers import BIN, ROOT, ansible_env

GROUPS = {"namespaces": "", "pods": "", "configmaps": "", "services": "", "events": "", "replicasets": "apps",
          "deployments": "apps", "statefulsets": "apps", "daemonsets": "apps",
          "mutatingwebhookconfigurations": "admissionregistration.k8s.io",
          "controlplanerevisions": "mesh.cloud.google.com", "proxyconfigs": "networking.istio.io"}

pytestmark = pytest.mark.kubesim_only(reason="scenario files with token users and their rules; the real cluster's RBAC "
                                             "with docs/rbac.yaml is test_real_faults.py")


def roles():
    items = yaml.safe_load((ROOT / "docs" / "rbac.yaml").read_text())["items"]
    return dict((role["metadata"]["name"], role["rules"]) for role in items)


def granted(rules):
    return set((group, resource, verb) for rule in rules for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"])


def used(sim, user, mark):
    out = set()
    for entry in sim.audit(mark):
        if entry["user"] != user or entry["verb"] is None:
            continue
        assert entry["code"] != 403, entry  # nothing was refused
        resource = entry["resource"] + ("/" + entry["subresource"] if entry["subresource"] else "")
        out.add((GROUPS[entry["resource"]], resource, entry["verb"]))
    return out


def scenario_with_users(tmp_path, name, seed_users):
    spec = yaml.safe_load((ROOT / "tests" / "kubesim" / "scenarios" / ("%s.yaml" % name)).read_text())
    spec["users"] = seed_users
    path = tmp_path / ("%s-rbac.yaml" % name)
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def add_ondelete_statefulset(sim):
    """An OnDelete StatefulSet beside mysql (RollingUpdate) makes the run use evictions too."""
    from kubernetes import client
    client.AppsV1Api(sim.api_client()).create_namespaced_stateful_set("demo", {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "cache"},
        "spec": {"replicas": 1, "serviceName": "cache", "updateStrategy": {"type": "OnDelete"},
                 "selector": {"matchLabels": {"app": "cache"}},
                 "template": {"metadata": {"labels": {"app": "cache"}},
                              "spec": {"containers": [{"name": "cache", "image": "docker.io/library/redis:7"}]}}}})


def live_pods(sim, namespace="demo"):
    """name → uid of the pods not being deleted."""
    items = json.loads(sim.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
    return dict((p["metadata"]["name"], p["metadata"]["uid"]) for p in items
                if not p["metadata"].get("deletionTimestamp"))


def run(playbook, sim, context, *extra):
    return subprocess.run([str(BIN / "ansible-playbook"), str(ROOT / "playbooks" / playbook),
                           "-e", "asm_kubeconfig=%s" % sim.kubeconfig, "-e", "asm_context=%s" % context, *extra],
                          cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=300)


def test_operator_role_is_exactly_what_enable_and_disable_use(start_sim, tmp_path):
    rules = roles()
    users = [{"name": "operator", "token": "operator-token", "rules": rules["servicemesh-asm-operator"]}]
    sim = start_sim(scenario_with_users(tmp_path, "seed", users))
    add_ondelete_statefulset(sim)
    # Rollouts longer than the FailedCreate check's 2 s make the run list events too.
    sim.faults(readiness_delay=3)
    mark = sim.audit_mark()
    enable = run("enable_injection.yml", sim, "kubesim-operator", "-e", "asm_namespaces=demo")
    assert enable.returncode == 0, enable.stdout[-4000:]
    disable = run("disable_injection.yml", sim, "kubesim-operator", "-e", "asm_namespaces=demo")
    assert disable.returncode == 0, disable.stdout[-4000:]
    needed = used(sim, "operator", mark)
    grants = granted(rules["servicemesh-asm-operator"])
    # controlplanerevisions exist only with managed ASM; the seed has none, the list is still made.
    assert needed <= grants, "used but not granted: %s" % sorted(needed - grants)
    assert grants <= needed, "granted but never used: %s" % sorted(grants - needed)


def test_reader_role_suffices_for_verification_and_check_mode_names_what_it_may_not_do(start_sim, tmp_path):
    """Check mode sends its writes as server-side dry runs, which RBAC judges like real ones: with read-only
    credentials it fails naming the refused patch (a real run with them would fail the same way) and
    stores nothing. Verification (asm_restart=none) needs reading only."""
    rules = roles()
    users = [{"name": "reader", "token": "reader-token", "rules": rules["servicemesh-asm-reader"]},
             {"name": "operator", "token": "operator-token", "rules": rules["servicemesh-asm-operator"]}]
    sim = start_sim(scenario_with_users(tmp_path, "seed", users))
    mark = sim.audit_mark()
    check = run("enable_injection.yml", sim, "kubesim-reader", "--check", "-e", "asm_namespaces=demo")
    assert check.returncode != 0
    out = " ".join(check.stdout.split()).replace('\\"', '"')
    assert "Forbidden (403): the credentials in use may not patch namespace" in out, out[-3000:]
    assert sim.stored_writes(mark) == []
    assert run("enable_injection.yml", sim, "kubesim-operator", "-e", "asm_namespaces=demo").returncode == 0
    mark = sim.audit_mark()
    verify = run("enable_injection.yml", sim, "kubesim-reader", "-e", "asm_namespaces=demo", "-e", "asm_restart=none")
    assert verify.returncode == 0, verify.stdout[-4000:]
    needed = used(sim, "reader", mark)
    grants = granted(rules["servicemesh-asm-reader"])
    assert needed <= grants, "used but not granted: %s" % sorted(needed - grants)
    assert all(verb in ("get", "list", "watch") for _g, _r, verb in grants)


def test_a_missing_permission_fails_with_a_message_naming_it(start_sim, tmp_path):
    rules = [r for r in roles()["servicemesh-asm-operator"] if "pods/eviction" not in r["resources"]]
    rules = [dict(r, verbs=[v for v in r["verbs"] if not (v == "patch" and "deployments" in r["resources"])])
             for r in rules]
    sim = start_sim(scenario_with_users(tmp_path, "seed", [{"name": "limited", "token": "t", "rules": rules}]))
    result = run("enable_injection.yml", sim, "kubesim-limited", "-e", "asm_namespaces=demo")
    assert result.returncode != 0
    assert "Forbidden (403): the credentials in use may not patch daemonsets" in result.stdout, result.stdout[-3000:]
    assert "cannot patch resource" in result.stdout


def operator_grants():
    return sorted(granted(roles()["servicemesh-asm-operator"]))


def without(rules, permission):
    out = []
    for rule in rules:
        for g in rule["apiGroups"]:
            for r in rule["resources"]:
                verbs = [v for v in rule["verbs"] if (g, r, v) != permission]
                if verbs:
                    out.append({"apiGroups": [g], "resources": [r], "verbs": verbs})
    return out


# Permissions whose absence only costs a diagnosis: the run still succeeds, saying so where it matters.
OPTIONAL = {("", "events", "list"): "",  # FailedCreate events only shorten a stall's wait
            ("", "namespaces", "get"): "",  # named namespaces are then found in one list
            ("", "services", "list"): "Not allowed to list services in namespace istio-system",  # tag Services
            ("mesh.cloud.google.com", "controlplanerevisions", "list"):
                "Not allowed to list controlplanerevisions (mesh.cloud.google.com) in namespace istio-system",
            # ProxyConfigs unreadable: proxy images are not judged stale (nothing restarted for them).
            ("networking.istio.io", "proxyconfigs", "list"):
                "Proxy images not checked for staleness where ProxyConfigs (networking.istio.io) in namespace "
                "istio-system cannot be read"}


@pytest.mark.slow
@pytest.mark.parametrize("permission", operator_grants(), ids=lambda p: "%s-%s" % (p[2], p[1].replace("/", "-")))
def test_each_operator_permission_removed_in_turn(start_sim, tmp_path, permission):
    """A token lacking one permission of docs/rbac.yaml: the run fails naming the verb and resource
    (or, for a diagnosis-only permission, succeeds); no pod is lost; nothing outside `demo` is written."""
    rules = without(roles()["servicemesh-asm-operator"], permission)
    sim = start_sim(scenario_with_users(tmp_path, "seed", [{"name": "limited", "token": "t", "rules": rules}]))
    add_ondelete_statefulset(sim)
    sim.faults(readiness_delay=3)
    before = live_pods(sim)
    mark = sim.audit_mark()
    result = run("enable_injection.yml", sim, "kubesim-limited", "-e", "asm_namespaces=demo")
    _group, resource, verb = permission
    if permission in OPTIONAL:
        assert result.returncode == 0, result.stdout[-4000:]
        # The run really asked and was refused, and carried on.
        refused = [e for e in sim.audit(mark) if e["code"] == 403]
        assert refused and all((e["resource"], e["verb"]) == (resource, verb) for e in refused), refused
        assert OPTIONAL[permission] in " ".join((result.stdout + result.stderr).split())
    else:
        assert result.returncode != 0, result.stdout[-4000:]
        # Our message says what was attempted; the API server's, quoted in it, the verb and resource.
        out = " ".join(result.stdout.split()).replace('\\"', '"')
        assert 'Forbidden (403): the credentials in use may not ' in out, out[-4000:]
        assert 'cannot %s resource "%s"' % (verb, resource) in out, out[-4000:]
    if verb == "watch":  # a refused watch is found before the first restart
        restarts = [e for e in sim.writes(mark) if e["resource"] in ("deployments", "statefulsets", "daemonsets")]
        assert restarts == [], restarts
    # No pod lost: once the controllers settle, as many pods as before, the bare one the same.
    deadline = time.monotonic() + 30
    while len(live_pods(sim)) != len(before) and time.monotonic() < deadline:
        time.sleep(0.5)
    after = live_pods(sim)
    assert len(after) == len(before) and after["debug-shell"] == before["debug-shell"], (before, after)
    writes = [e for e in sim.writes(mark) if e["code"] and e["code"] < 400]
    assert set(e["namespace"] or e["name"] for e in writes) <= {"demo"}, writes

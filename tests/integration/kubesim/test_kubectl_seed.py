"""The seed page's commands, unmodified, with the real kubectl against the `seed` scenario."""

import re
import time

import pytest


def rows(output: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in output.strip().splitlines()[1:]]


def test_step1_istiod_revision_label(seed):
    out = seed.kubectl("-n", "istio-system", "get", "pods", "-l", "app=istiod", "--show-labels").stdout
    header = out.splitlines()[0].split()
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS"]
    pods = rows(out)
    assert len(pods) == 2
    for name, ready, status, _restarts, age, labels in pods:
        assert re.fullmatch(r"istiod-asm-173-3-[a-z0-9]{10}-[a-z0-9]{5}", name)
        assert (ready, status) == ("1/1", "Running")
        assert age == "23h"
        assert re.fullmatch(r"app=istiod,istio\.io/rev=asm-173-3,istio=istiod,pod-template-hash=[a-z0-9]{10}",
                            labels)


def test_steps_2_to_4_label_restart_and_2_of_2(seed):
    before = {r[0]: r[1] for r in rows(seed.kubectl("get", "pod", "-n", "demo").stdout)}
    assert before and set(before.values()) == {"1/1"}

    out = seed.kubectl("label", "namespace", "demo", "istio-injection-", "istio.io/rev=asm-173-3", "--overwrite")
    assert "namespace/demo labeled" in out.stdout
    labels = seed.kubectl("get", "ns", "demo", "-o", "jsonpath={.metadata.labels}").stdout
    assert '"istio.io/rev":"asm-173-3"' in labels and "istio-injection" not in labels

    out = seed.kubectl("rollout", "restart", "deployment", "-n", "demo").stdout
    assert sorted(re.findall(r"deployment.apps/(\S+) restarted", out)) == ["productpage", "ratings", "reviews"]

    # The scenario's readiness delay is 1 s: all Deployment pods are 2/2 within a few seconds.
    deadline = time.monotonic() + 20
    while True:
        now = rows(seed.kubectl("get", "pod", "-n", "demo").stdout)
        deploy_pods = [r for r in now if re.match(r"(productpage|reviews|ratings)-", r[0])]
        if (len(deploy_pods) == 6 and all(r[1:3] == ["2/2", "Running"] for r in deploy_pods)):
            break
        assert time.monotonic() < deadline, f"Deployment pods not all 2/2 Running: {now}"
        time.sleep(0.5)
    # Not restarted by `rollout restart deployment`: the StatefulSet, DaemonSet and bare pod stay 1/1.
    others = {r[0]: r[1] for r in now if not re.match(r"(productpage|reviews|ratings)-", r[0])}
    assert others and set(others.values()) == {"1/1"}
    assert "debug-shell" in others


def test_rollout_status_and_delete_pods_for_non_deployments(seed):
    seed.kubectl("label", "namespace", "demo", "istio-injection-", "istio.io/rev=asm-173-3", "--overwrite")
    seed.kubectl("rollout", "restart", "deployment", "-n", "demo")
    out = seed.kubectl("rollout", "status", "deployment", "-n", "demo", "--timeout=60s").stdout
    assert out.count("successfully rolled out") == 3
    # The page's alternative for pods without a Deployment: delete them; controllers re-create them.
    seed.kubectl("delete", "pod", "-n", "demo", "-l", "app in (mysql,log-agent)", "--wait=false")
    deadline = time.monotonic() + 30
    while True:
        now = {r[0]: r[1:3] for r in rows(seed.kubectl("get", "pod", "-n", "demo").stdout)}
        ctrl = {n: v for n, v in now.items() if n.startswith(("mysql-", "log-agent-"))}
        if len(ctrl) == 5 and all(v == ["2/2", "Running"] for v in ctrl.values()):
            break
        assert time.monotonic() < deadline, now
        time.sleep(0.5)


@pytest.mark.parametrize("minor", ["1.27", "1.30", "1.33"])
def test_seed_commands_with_other_kubectl_minors(seed, minor):
    import shutil
    import subprocess
    binary = shutil.which(f"kubectl.{minor}") or f"/usr/lib/google-cloud-sdk/bin/kubectl.{minor}"
    if not shutil.which(binary):
        pytest.skip(f"kubectl.{minor} not installed")
    run = lambda *a: subprocess.run([binary, *a], env=seed.env(), capture_output=True, text=True,  # noqa: E731
                                    check=True).stdout
    assert "istio.io/rev=asm-173-3" in run("-n", "istio-system", "get", "pods", "-l", "app=istiod", "--show-labels")
    assert "labeled" in run("label", "namespace", "demo", "istio-injection-", "istio.io/rev=asm-173-3", "--overwrite")
    assert "restarted" in run("rollout", "restart", "deployment", "-n", "demo")
    assert "READY" in run("get", "pod", "-n", "demo")

"""The seed page's four kubectl commands, unmodified, against the cluster (issue 14 item 5), printing what
the page shows: the istiod pods with their revision label, `namespace/demo labeled`, the Deployments
restarted, and `kubectl get pod` with READY 2/2.  On the real cluster the kubectl is the one built
from v1.36.3 (~/.cache/servicemesh-asm/realcluster/kubectl-v1.36.3); on kubesim the one on PATH.
The transcript is printed in the session's summary ("seed page commands")."""

from __future__ import annotations

import re
import time

REV = "asm-173-3"
DEPLOYMENTS = re.compile(r"^(productpage|reviews|ratings)-")
TRANSCRIPT: list[str] = []


def rows(output):
    return [re.split(r"\s{2,}", line.strip()) for line in output.strip().splitlines()[1:]]


def run(sim, *argv):
    proc = sim.kubectl(*argv)
    TRANSCRIPT.append("[%s] $ kubectl %s" % (sim.kind, " ".join(argv)))
    TRANSCRIPT.extend(proc.stdout.rstrip().splitlines())
    return proc.stdout


def test_the_seed_pages_four_commands_show_what_the_page_shows(seed):
    # 1. the revision label of istiod
    out = run(seed, "-n", "istio-system", "get", "pods", "-l", "app=istiod", "--show-labels")
    assert out.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS"]
    istiods = rows(out)
    assert len(istiods) == 2, out
    for name, ready, status, _restarts, _age, labels in istiods:
        assert re.fullmatch(r"istiod-asm-173-3-[a-z0-9]{8,10}-[a-z0-9]{5}", name), name
        assert (ready, status) == ("1/1", "Running")
        # The page's four labels; the real istiod Deployment of Istio 1.31's manifests adds Helm's and
        # Istio's own (app.kubernetes.io/*, operator.istio.io/component, sidecar.istio.io/inject, ...).
        labels = dict(item.split("=", 1) for item in labels.split(","))
        assert {k: labels.get(k) for k in ("app", "istio.io/rev", "istio")} == {
            "app": "istiod", "istio.io/rev": REV, "istio": "istiod"}, labels
        assert re.fullmatch(r"[a-z0-9]{8,10}", labels.get("pod-template-hash", "")), labels
    # 2. label the namespace
    out = run(seed, "label", "namespace", "demo", "istio-injection-", "istio.io/rev=%s" % REV, "--overwrite")
    assert "namespace/demo labeled" in out, out
    # 3. restart the Deployments
    out = run(seed, "rollout", "restart", "deployment", "-n", "demo")
    assert sorted(re.findall(r"deployment.apps/(\S+) restarted", out)) == ["productpage", "ratings", "reviews"]
    # 4. every Deployment pod READY 2/2 (old pods terminate within their grace period)
    deadline = time.monotonic() + 90
    while True:
        now = rows(seed.kubectl("get", "pod", "-n", "demo").stdout)
        deploy = [r for r in now if DEPLOYMENTS.match(r[0])]
        if len(deploy) == 6 and all(r[1:3] == ["2/2", "Running"] for r in deploy):
            break
        assert time.monotonic() < deadline, "Deployment pods not all 2/2 Running: %s" % now
        time.sleep(1)
    out = run(seed, "get", "pod", "-n", "demo")
    deploy = [r for r in rows(out) if DEPLOYMENTS.match(r[0])]
    assert len(deploy) == 6 and all(r[1:3] == ["2/2", "Running"] for r in deploy), out
    # The others were not restarted by `rollout restart deployment`: still 1/1 without a sidecar.
    others = [r for r in rows(out) if not DEPLOYMENTS.match(r[0])]
    assert others and set(r[1] for r in others) == {"1/1"}, out

#!/usr/bin/env bash
# make demo: the seed procedure, automated, against the simulated cluster.
# Starts kubesim (scenario seed), shows the kubectl view before, runs
# playbooks/enable_injection.yml, shows the kubectl view after, stops kubesim.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
workdir=.kubesim/demo
mkdir -p "$workdir"
kubeconfig="$PWD/$workdir/kubeconfig"
rm -f "$kubeconfig"

PYTHONPATH="$PWD/tests" python -m kubesim --scenario seed --kubeconfig-out "$kubeconfig" >"$workdir/kubesim.log" 2>&1 &
sim_pid=$!
trap 'kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
  [ -f "$kubeconfig" ] && break
  kill -0 "$sim_pid" 2>/dev/null || { cat "$workdir/kubesim.log" >&2; exit 1; }
  sleep 0.1
done
[ -f "$kubeconfig" ] || { echo "kubesim did not start" >&2; exit 1; }
export KUBECONFIG="$kubeconfig"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step "Before: the control plane (kubectl -n istio-system get pods -l app=istiod --show-labels)"
kubectl -n istio-system get pods -l app=istiod --show-labels
step "Before: kubectl get ns demo legacy --show-labels"
kubectl get ns demo legacy --show-labels
step "Before: kubectl get pod -n demo (no sidecars: 1/1)"
kubectl get pod -n demo

step "ansible-playbook playbooks/enable_injection.yml -e asm_kubeconfig=$workdir/kubeconfig -e asm_namespaces=demo,legacy"
start=$(date +%s)
ansible-playbook playbooks/enable_injection.yml -e "asm_kubeconfig=$kubeconfig" -e asm_namespaces=demo,legacy
echo "playbook took $(( $(date +%s) - start ))s"

step "After: kubectl get ns demo legacy --show-labels"
kubectl get ns demo legacy --show-labels
step "After: kubectl get pod -n demo (every controller-owned pod 2/2; the bare pod debug-shell untouched)"
kubectl get pod -n demo
step "After: kubectl get pod -n legacy"
kubectl get pod -n legacy

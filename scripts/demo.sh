#!/usr/bin/env bash
# make demo: the seed procedure, automated. Starts a cluster with the seed scenario -- kubesim, or
# with CLUSTER=real the real control plane of tests/realcluster (kube-apiserver, controllers, etcd,
# kwok nodes, real istiod) --, shows the kubectl view before, runs playbooks/enable_injection.yml,
# shows the kubectl view after, stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
cluster="${CLUSTER:-sim}"
case "$cluster" in
  sim) workdir=.kubesim/demo; start_seconds=20 ;;
  real) workdir=.realcluster/demo; start_seconds=300 ;;
  *) echo "demo: CLUSTER must be sim or real, not '$cluster'" >&2; exit 2 ;;
esac
mkdir -p "$workdir"
kubeconfig="$PWD/$workdir/kubeconfig"
rm -f "$kubeconfig"

# Both write the kubeconfig only once the cluster serves the scenario (the real one: once istiod injects).
if [ "$cluster" = real ]; then
  python tests/realcluster/launcher.py --scenario seed --kubeconfig-out "$kubeconfig" >"$workdir/cluster.log" 2>&1 &
else
  PYTHONPATH="$PWD/tests" python -m kubesim --scenario seed --kubeconfig-out "$kubeconfig" >"$workdir/cluster.log" 2>&1 &
fi
cluster_pid=$!
# SIGTERM: the real cluster's launcher stops every process it started.
trap 'kill "$cluster_pid" 2>/dev/null || true; wait "$cluster_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 $((start_seconds * 10))); do
  [ -f "$kubeconfig" ] && break
  kill -0 "$cluster_pid" 2>/dev/null || { cat "$workdir/cluster.log" >&2; exit 1; }
  sleep 0.1
done
[ -f "$kubeconfig" ] || { cat "$workdir/cluster.log" >&2; echo "the $cluster cluster did not start in ${start_seconds}s" >&2; exit 1; }
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

#!/usr/bin/env bash
# The seed page's procedure as a script: label each namespace, restart its Deployments, wait for
# the rollouts, then check `kubectl get pods` until every pod shows READY 2/2.
# Usage: kubectl_seed.sh <revision> <namespace label selector>
set -euo pipefail
revision=$1 selector=$2
namespaces=$(kubectl get namespaces -l "$selector" -o jsonpath='{.items[*].metadata.name}')
for ns in $namespaces; do
  kubectl label namespace "$ns" istio-injection- "istio.io/rev=$revision" --overwrite >/dev/null
done
for ns in $namespaces; do
  kubectl rollout restart deployment -n "$ns" >/dev/null
done
for ns in $namespaces; do
  kubectl rollout status deployment -n "$ns" --timeout=900s >/dev/null
done
for _ in $(seq 1 900); do
  not_ready=$(kubectl get pods -A --no-headers | awk -v ns="$namespaces" '
    BEGIN { n = split(ns, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
    ($1 in want) && ($3 != "2/2" || $4 != "Running") { c++ } END { print c + 0 }')
  [ "$not_ready" = 0 ] && exit 0
  sleep 1
done
echo "pods not 2/2 after 900s" >&2
exit 1

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: asm_rollout_verify
short_description: Re-create pods that need an Istio / ASM sidecar and verify every pod is READY n/n
version_added: 1.0.0
description:
  - Steps 3 and 4 of the "inject sidecar proxies" procedure, which by hand are
    C(kubectl rollout restart deployment -n NAMESPACE) (or deleting pods) and checking that
    C(kubectl get pod -n NAMESPACE) shows C(2/2) for every pod.
  - B(Plan.) Classifies every pod of the selected namespaces. A pod is as expected when it has C(istio-proxy)
    (a container, or a native-sidecar init container whose C(restartPolicy) is C(Always)) injected by the expected
    revision (from its C(sidecar.istio.io/status) annotation), running the proxy image the revision's injector
    injects now. It needs a restart when the sidecar is missing, comes from another revision or is stale. Opted-out
    pods, hostNetwork pods, finished Job pods and ambient namespaces legitimately have no sidecar. Pods are mapped
    to their workload (Pod, ReplicaSet, Deployment; StatefulSet; DaemonSet; Job).
  - B(Restart.) Only workloads that need it restart, so a re-run on a converged cluster restarts nothing, and a
    workload that is already rolling is waited for, not restarted again. O(restart=rollout) patches
    C(kubectl.kubernetes.io/restartedAt) into the pod template like C(kubectl rollout restart); StatefulSets and
    DaemonSets whose update strategy is C(OnDelete) get their pods evicted one at a time instead. O(restart=delete_pods)
    evicts the pods one at a time through the Eviction API, so PodDisruptionBudgets are respected (a blocked
    eviction is retried until O(timeout)). Paused Deployments, Job pods and workloads matched by
    O(skip_workloads) are reported, not touched. Bare pods (no controller) are never deleted unless
    O(delete_bare_pods=true). At most O(max_concurrent) workloads roll at the same time.
  - A workload whose pods are all as expected but whose own rollout has not finished is not verified on the pods
    it is about to replace. One under way is waited for (reason C(rollout under way)). A stuck one (a Deployment
    whose new pods cannot be created, or past its progress deadline, for instance a restart an admission policy
    refused before) is restarted afresh (reason C(rollout stuck)), unless O(restart=none). The stuck ReplicaSet
    would retry only on its controller's backoff, a new one creates its pods at once.
  - Nothing restarts when the namespace's labels would not make the injector inject the expected revision
    (restarting would not help), or when the expected revision has no ready control plane.
  - B(Verify.) Waits, with watches rather than polling, until every restarted workload has rolled out (the checks
    of C(kubectl rollout status), including C(updatedReplicas)) and every expected pod has the right sidecar with all
    containers ready (the READY C(2/2) of the procedure, generalised to n/n), or until O(timeout).
  - On failure, the module fails with a message naming each bad pod and why (not injected and the likely cause,
    wrong revision, stale proxy, C(ImagePullBackOff) or C(CrashLoopBackOff) of the proxy, not ready, pending) with
    a hint, and still returns the full report.
  - In check mode only the plan is made; nothing is written and nothing is waited for.
author:
  - servicemesh.asm maintainers (@servicemesh)
options:
  revision:
    description:
      - The revision (or revision tag) every pod's sidecar must come from.
      - When unset, each namespace is expected to get what its labels and the cluster's injector webhooks give new
        pods (and no sidecar at all when they give none), which is what O(restart) after a
        M(servicemesh.asm.asm_namespace_inject) O(servicemesh.asm.asm_namespace_inject#module:state=absent) wants.
    type: str
  restart:
    description:
      - How pods get re-created. V(rollout) restarts Deployments, StatefulSets and DaemonSets like
        C(kubectl rollout restart) (evicting the pods of OnDelete workloads); V(delete_pods) evicts the pods of
        controller-owned workloads one at a time; V(none) only verifies.
      - Evictions go through the Eviction API (PodDisruptionBudgets apply) with the pod's uid as a precondition,
        and the next pod of a workload is evicted only once every live pod of it is ready and none is missing.
        That is judged from the pods themselves, so a later call or a re-run after an interruption never takes
        a second pod down while the previous replacement is still coming up.
      - A restart the API server refuses (an admission policy, a quota, RBAC) fails that workload only; the
        others are restarted and verified and the report names the refusal.
    type: str
    choices: [rollout, delete_pods, none]
    default: rollout
  force_restart:
    description:
      - Restart every Deployment, StatefulSet and DaemonSet of the namespaces, even those whose pods are as
        expected.
    type: bool
    default: false
  delete_bare_pods:
    description:
      - Delete bare pods (pods without a controller) that need a sidecar. They are B(not) re-created; their data and
        spec are gone. Off by default, when they are only reported.
    type: bool
    default: false
  skip_workloads:
    description:
      - A JMESPath expression evaluated on each Deployment, StatefulSet and DaemonSet object; those for which it is
        true are not restarted and their pods are not verified (they are reported).
      - 'Example: C(metadata.labels."mesh.example.com/exempt" == ''true'').'
    type: str
  max_concurrent:
    description:
      - Most workloads rolling at the same time. Restarting everything at once causes reconnect storms and, with a
        fail-closed injector webhook, mass pod creation failures.
    type: int
    default: 5
  timeout:
    description:
      - Seconds to wait in all for restarts and verification. It bounds every API request too, retries
        included.
    type: int
    default: 600
  return_after:
    description:
      - Return after this many seconds with RV(complete=false) and RV(progress) when restarts or pods are still in
        progress, instead of waiting until O(timeout), so that a caller can show progress and call again (the role
        C(servicemesh.asm.sidecar_injection) does, after C(asm_progress_interval) seconds). Settled failures still
        fail.
      - Unlike a short O(timeout) it bounds only the wait. Listing the selection and issuing the first restarts are
        bounded by O(timeout), so a large selection that takes longer to list still gets its restarts started.
        Restarts not yet started are left to the next call, which waits for those under way instead of restarting
        them again.
      - Unset, or not below O(timeout), the call waits until O(timeout).
    type: int
    version_added: 1.0.0
  fail_on_timeout:
    description:
      - With V(false), reaching O(timeout) while restarts or pods are still in progress returns RV(complete=false)
        and RV(progress) instead of failing, so that a caller can report progress and call again. A new call
        waits for rollouts in progress and does not restart them again. Settled failures still fail.
    type: bool
    default: true
  progress_file:
    description:
      - A file the module rewrites every few seconds with RV(progress) while it restarts and waits, so that
        whoever runs it asynchronously can show what it waits for (the role C(servicemesh.asm.sidecar_injection)
        prints it every C(asm_progress_interval) seconds).
      - The file is replaced atomically; its directory must exist. Unset, no file is written.
    type: path
  heartbeat_file:
    description:
      - A file whoever runs the module asynchronously touches while it follows the run (the role does, every
        C(asm_progress_interval) seconds). When it has not been touched for O(heartbeat_timeout) seconds, or is
        gone, the caller is taken to have stopped (Ctrl-C, a cancelled job) and no further restart is started.
      - The module creates the file when it starts, if it does not exist; its directory must exist.
      - Unset, the module runs to its end.
    type: path
  heartbeat_timeout:
    description:
      - Seconds without a touch of O(heartbeat_file) after which the run stops starting restarts.
    type: int
    default: 60
  wait:
    description:
      - Wait for pods that are still starting before verifying. With V(false) the state is judged as it is when the
        restarts have been issued.
    type: bool
    default: true
  detect_stale_proxies:
    description:
      - Treat a sidecar whose image differs from the one the revision's injector injects now (after an in-place
        upgrade, or a managed ASM data-plane update) as needing a restart.
    type: bool
    default: true
  proxy_image_check:
    description:
      - How the image the injector injects now is found, for O(detect_stale_proxies).
      - V(formula) applies Istio's own rules (C(ProxyImage()) in C(pkg/kube/inject)) to the injector's values, the
        mesh C(defaultConfig), ProxyConfig resources and the pod's C(sidecar.istio.io/proxyImage),
        C(sidecar.istio.io/proxyImageType) and C(proxy.istio.io/config) annotations. Where it cannot know (for
        example a customised injection template), the proxy is not called stale and a warning says so.
      - V(dry_run) asks the injector itself, once per controller, with a server-side dry-run create of a pod from
        the controller's template (C(dryRun=All), so nothing is stored; Istio's webhook declares
        C(sideEffects=None)). It needs C(get) on ReplicaSets, StatefulSets and DaemonSets and C(create) on pods,
        which C(docs/rbac.yaml)'s operator role does not grant; where the dry run is refused it falls back to
        V(formula) with a warning.
      - V(off) is the same as O(detect_stale_proxies=false).
    type: str
    choices: [formula, dry_run, "off"]
    default: formula
  planned_labels:
    description:
      - Injection labels (C(istio-injection), C(istio.io/rev)) to assume for some namespaces instead of the ones they
        carry, as a dictionary namespace to labels. Meant for check mode, where the labelling step wrote nothing;
        pass its RV(servicemesh.asm.asm_namespace_inject#module:namespaces[].labels) so the plan shows what would
        happen after it.
    type: dict
  planned_tags:
    description:
      - Revision tags to assume pointing at other revisions, as a dictionary tag to revision. Meant for check mode,
        where moving the tag (M(servicemesh.asm.asm_revision_tag)) wrote nothing, so the plan shows which workloads
        would restart once it has moved. Only tags that exist are re-pointed; the tag's own selectors stay as they
        are, as a move keeps them.
    type: dict
extends_documentation_fragment:
  - servicemesh.asm.selection
  - servicemesh.asm.auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: >-
      Nothing is stored. The restart patches and the first eviction of each workload are sent as server-side
      dry runs (C(dryRun=All)), so RBAC and admission refusals fail the check run, naming them; that needs the
      same permissions as a real run.
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - jmespath (only for O(skip_workloads))
seealso:
  - module: servicemesh.asm.asm_revision_info
  - module: servicemesh.asm.asm_namespace_inject
"""

EXAMPLES = r"""
- name: Re-create what needs the asm-173-3 sidecar in demo and prove every pod is 2/2
  servicemesh.asm.asm_rollout_verify:
    revision: asm-173-3
    namespaces: [demo]
  register: rollout

- name: Show what was restarted
  ansible.builtin.debug:
    msg: "{{ rollout.restarted | map(attribute='name') | list }}"

- name: Only verify, never restart
  servicemesh.asm.asm_rollout_verify:
    revision: asm-173-3
    namespace_selector: team=payments
    restart: none

- name: Evict pods (respecting PodDisruptionBudgets), two workloads at a time, skipping exempt ones
  servicemesh.asm.asm_rollout_verify:
    revision: asm-1162-2
    namespaces: [shop]
    restart: delete_pods
    max_concurrent: 2
    skip_workloads: metadata.labels."mesh.example.com/exempt" == 'true'

- name: What would be restarted
  servicemesh.asm.asm_rollout_verify:
    revision: asm-173-3
    namespaces: [demo]
  check_mode: true
"""

RETURN = r"""
complete:
  description: Whether everything restarted rolled out and every verified pod is as expected (false in check mode).
  returned: always
  type: bool
revision:
  description: The expected revision (a tag resolved to its revision), or null when each namespace's labels decide.
  returned: always
  type: str
  sample: asm-173-3
restarted:
  description: Workloads restarted (or, in check mode, that would be), one entry each.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod (a deleted bare pod) or another controller kind.
      type: str
    namespace:
      description: Namespace.
      type: str
    name:
      description: Workload name.
      type: str
    method:
      description: C(rollout) (restartedAt patch), C(evict) (pods evicted one at a time) or C(delete) (bare pod).
      type: str
    pods:
      description: Pods that needed it.
      type: int
    reasons:
      description: Why, with a pod count per reason.
      type: dict
      sample: {no sidecar: 3}
    state:
      description: C(done), C(failed), C(timeout), or C(planned) in check mode (C(failed) when a dry run was
        refused).
      type: str
    message:
      description: The last status seen (rollout progress, the blocking PodDisruptionBudget, the failure).
      type: str
    seconds:
      description: Time from restart to rolled out.
      type: float
waited_for:
  description: Workloads that were already rolling and were waited for, not restarted again (same fields as
    RV(restarted)).
  returned: always
  type: list
  elements: dict
skipped_workloads:
  description: Workloads whose pods need a sidecar but were not restarted, with the reason (paused, Job, skip_workloads,
    namespace not labelled, restart none, pods below a rollingUpdate partition).
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: Workload kind.
      type: str
    namespace:
      description: Namespace.
      type: str
    name:
      description: Workload name.
      type: str
    pods:
      description: Names of its pods that need a sidecar.
      type: list
      elements: str
    reasons:
      description: Why they need one, with a pod count per reason.
      type: dict
    reason:
      description: Why the workload was not restarted.
      type: str
      sample: "paused: run `kubectl rollout resume deployment/reviews -n demo` first"
bare_pods:
  description: Pods without a controller that need a sidecar; left untouched unless O(delete_bare_pods=true).
  returned: always
  type: list
  elements: dict
  sample: [{namespace: demo, name: debug-shell, reason: no sidecar, deleted: false, will_delete: false}]
  contains:
    namespace:
      description: Namespace.
      type: str
    name:
      description: Pod name.
      type: str
    reason:
      description: Why it needs a sidecar.
      type: str
    deleted:
      description: Whether it was deleted.
      type: bool
    will_delete:
      description: Whether O(delete_bare_pods=true) asked for its deletion.
      type: bool
namespaces:
  description: Per namespace counts after the run.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Namespace.
      type: str
    expected_revision:
      description: The revision its pods must come from, null for none.
      type: str
    pods:
      description: Pods (not terminating).
      type: int
    injected:
      description: Pods with the expected revision's sidecar.
      type: int
    ready:
      description: Pods with every container ready.
      type: int
    exempt:
      description: Pods legitimately without a sidecar.
      type: int
    restarted:
      description: Workloads restarted.
      type: int
    problems:
      description: Pods in RV(failed_pods).
      type: int
failed_pods:
  description: Pods not as expected at the end, with the reason and a hint.
  returned: always
  type: list
  elements: dict
  sample: [{namespace: demo, name: reviews-6c88c486f4-cm5zx, ready: 1/2, workload: Deployment/reviews,
            reason: "istio-proxy ImagePullBackOff: Back-off pulling image ...", hint: "check the proxy image ...",
            in_progress: false}]
  contains:
    namespace:
      description: Namespace.
      type: str
    name:
      description: Pod name.
      type: str
    ready:
      description: Ready containers / containers, as kubectl's READY column counts them (native sidecars included).
      type: str
      sample: 1/2
    workload:
      description: Its workload as C(Kind/name), null for a bare pod.
      type: str
      sample: Deployment/reviews
    reason:
      description: What is wrong.
      type: str
    hint:
      description: What to check or do about it.
      type: str
    in_progress:
      description: Whether the pod was still coming up (or its restart unfinished) rather than settled wrong.
      type: bool
failed_workloads:
  description:
    - Restarts that failed or timed out (same fields as RV(restarted)).
    - Also workloads with fewer pods than they want at the end (method C(verify), message C(N of M pods
      exist)), since a pod that was never re-created shows in no pod list.
  returned: always
  type: list
  elements: dict
unverified_pods:
  description: Pods that need a sidecar but belong to skipped workloads or are bare, so were not verified.
  returned: always
  type: list
  elements: dict
  contains:
    namespace:
      description: Namespace.
      type: str
    name:
      description: Pod name.
      type: str
    ready:
      description: Ready containers / containers.
      type: str
    workload:
      description: Its workload as C(Kind/name), null for a bare pod.
      type: str
    reason:
      description: Why it needs a sidecar, or why its workload's pods are held back.
      type: str
restart:
  description: The O(restart) method used.
  returned: always
  type: str
  sample: rollout
check_mode:
  description: Whether this was a check-mode run (nothing stored).
  returned: always
  type: bool
status:
  description: The HTTP status of the API error that failed the module, when one did.
  returned: failure
  type: int
  sample: 403
progress:
  description: One line saying how far the namespaces are and what is still awaited.
  returned: always
  type: str
  sample: "demo: 11/12 pods ready, 10/11 with asm-173-3; waiting on Deployment/reviews (2 of 3 new replicas updated)"
elapsed_seconds:
  description: Wall time of the run.
  returned: always
  type: float
watch_relists:
  description: How often a watch had to list again after 410 Gone.
  returned: always
  type: int
api_requests:
  description: Kubernetes API requests made (watches count once per stream).
  returned: always
  type: int
api_retries:
  description: Requests retried after a transient failure.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.servicemesh.asm.plugins.module_utils import module as runner
from ansible_collections.servicemesh.asm.plugins.module_utils.client import AUTH_ARG_SPEC
from ansible_collections.servicemesh.asm.plugins.module_utils.rollout import RESTART_CHOICES, run


def main():
    argument_spec = dict(
        revision=dict(type="str"),
        namespaces=dict(type="list", elements="str", default=[]),
        namespace_selector=dict(type="str"),
        exclude=dict(type="list", elements="str", default=[]),
        restart=dict(type="str", choices=list(RESTART_CHOICES), default="rollout"),
        force_restart=dict(type="bool", default=False),
        delete_bare_pods=dict(type="bool", default=False),
        skip_workloads=dict(type="str"),
        max_concurrent=dict(type="int", default=5),
        timeout=dict(type="int", default=600),
        wait=dict(type="bool", default=True),
        return_after=dict(type="int"),
        fail_on_timeout=dict(type="bool", default=True),
        detect_stale_proxies=dict(type="bool", default=True),
        proxy_image_check=dict(type="str", choices=["formula", "dry_run", "off"], default="formula"),
        planned_labels=dict(type="dict"),
        planned_tags=dict(type="dict"),
        progress_file=dict(type="path"),
        heartbeat_file=dict(type="path"),
        heartbeat_timeout=dict(type="int", default=60),
        istio_namespace=dict(type="str", default="istio-system"),
        **AUTH_ARG_SPEC
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    runner.run(module, run)


if __name__ == "__main__":
    main()

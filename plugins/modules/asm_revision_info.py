#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: asm_revision_info
short_description: Find the Istio / Anthos Service Mesh control-plane revisions and choose one
version_added: 1.0.0
description:
  - Step 1 of the "inject sidecar proxies" procedure, which by hand is
    C(kubectl -n istio-system get pods -l app=istiod --show-labels).
  - Finds every control-plane revision from the istiod pods (label C(app=istiod), revision from C(istio.io/rev)),
    the injector MutatingWebhookConfigurations (revisions, revision tags, the default revision, deactivated
    webhooks) and managed ASM's ControlPlaneRevisions, so in-cluster, canary and managed control planes are
    all found.
  - Reports per revision its istiod pods ready/total, its version (from the istiod image tag, never from the
    revision name), the proxy image its injector injects now, its tags, whether it is the default and which
    namespaces are labelled for it, like C(istioctl tag list).
  - Lists the revision tags as C(istioctl tag list) does, from the tag webhooks and the tag Services (Istio 1.28
    and later write both) in O(istio_namespace), and warns about a tag only a Service backs (it injects
    nothing) or whose webhook and Service point at different revisions (injection follows the webhook).
    Without C(list) on services there, tags are read from the webhooks alone, with a warning.
  - Chooses the revision to use, in O(revision), and fails with the list of candidates when the choice is
    ambiguous.
  - Read-only; never reports a change.
author:
  - servicemesh.asm maintainers (@servicemesh)
options:
  istio_namespace:
    description:
      - Namespace of the control plane.
    type: str
    default: istio-system
  revision:
    description:
      - The revision to use, or a revision tag (resolved to the revision it points at).
      - Fails when it is unknown (listing the known revisions and tags), or when it has no ready control plane
        unless O(allow_unready=true).
      - When unset, the only ready revision is chosen; with several, O(prefer) decides or the module fails.
    type: str
  prefer:
    description:
      - How to choose among several ready revisions when O(revision) is unset.
      - V(newest) takes the highest istiod version (from the image tag, for example C(1.16.2-asm.2)).
      - V(default) takes the revision the C(default) tag (or an unrevisioned install) points at.
    type: str
    choices: [newest, default]
  allow_unready:
    description:
      - Accept an explicitly requested O(revision) whose istiod has no ready pod.
    type: bool
    default: false
  require_revision:
    description:
      - Fail when no revision can be chosen. Set to V(false) to only gather facts; RV(revision) is then null and
        RV(revision_reason) says why.
    type: bool
    default: true
  count_proxies:
    description:
      - Also count, per revision, the running pods whose sidecar it injected (from their C(sidecar.istio.io/status)
        annotation), in RV(revisions[].proxies) and RV(proxies). A revision that no namespace uses can still serve
        pods that were not restarted yet; only one with neither is safe to uninstall.
      - Lists every pod in the cluster, so it needs C(list) on pods at cluster scope.
    type: bool
    default: false
extends_documentation_fragment:
  - servicemesh.asm.auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: servicemesh.asm.asm_namespace_inject
  - module: servicemesh.asm.asm_rollout_verify
  - name: Istio revision tags
    description: How tags map stable names to revisions.
    link: https://istio.io/latest/docs/setup/upgrade/canary/#stable-revision-labels
"""

EXAMPLES = r"""
- name: Find the control plane revision (fails if there are several and none is chosen)
  servicemesh.asm.asm_revision_info:
    kubeconfig: ~/.kube/config
  register: asm

- name: Use it
  ansible.builtin.debug:
    msg: "Label namespaces with istio.io/rev={{ asm.revision }}"

- name: During a canary upgrade, take the newest ready revision
  servicemesh.asm.asm_revision_info:
    prefer: newest
  register: asm

- name: Resolve a revision tag
  servicemesh.asm.asm_revision_info:
    revision: prod-stable
  register: asm

- name: Only list what is there
  servicemesh.asm.asm_revision_info:
    require_revision: false
  register: asm

- name: Revisions that nothing uses any more (no namespace, no running proxy)
  servicemesh.asm.asm_revision_info:
    require_revision: false
    count_proxies: true
  register: asm

- name: Show them
  ansible.builtin.debug:
    msg: "{{ asm.revisions | rejectattr('namespaces') | selectattr('proxies', 'equalto', 0) | map(attribute='name') }}"
"""

RETURN = r"""
revision:
  description: The chosen revision (never a tag), or null when none could be chosen and O(require_revision=false).
  returned: always
  type: str
  sample: asm-173-3
revision_reason:
  description: Why that revision was chosen, or why none was.
  returned: always
  type: str
  sample: the only ready revision
revisions:
  description: Every revision found, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Revision name, the value for the C(istio.io/rev) label.
      type: str
      sample: asm-173-3
    version:
      description: Control-plane version from the istiod image tag; null for managed ASM.
      type: str
      sample: 1.7.3-asm.3
    ready:
      description: Whether the control plane can serve injection (a ready istiod pod, or a provisioned managed
        revision).
      type: bool
    managed:
      description: Whether this is a managed (Google-hosted) control plane.
      type: bool
    channel:
      description: Release channel of a managed revision.
      type: str
      sample: RAPID
    istiod:
      description: The revision's istiod pods.
      type: dict
      contains:
        ready:
          description: Ready pods.
          type: int
        total:
          description: All pods.
          type: int
        pods:
          description: Pod names.
          type: list
          elements: str
    tags:
      description: Revision tags pointing at this revision.
      type: list
      elements: str
      sample: [default]
    default:
      description: Whether this revision serves C(istio-injection=enabled) and the C(default) tag.
      type: bool
    provisioned:
      description: Whether the managed revision's C(ControlPlaneRevision) reports C(ProvisioningFinished).
      type: bool
      returned: for managed revisions that have a C(ControlPlaneRevision) object
    webhooks:
      description: Its injector webhooks.
      type: list
      elements: dict
      contains:
        configuration:
          description: Name of the MutatingWebhookConfiguration.
          type: str
          sample: istio-sidecar-injector-asm-173-3
        name:
          description: Name of the webhook within it.
          type: str
          sample: rev.namespace.sidecar-injector.istio.io
        tag:
          description: The revision tag it serves, null for the revision's own configuration.
          type: str
        failure_policy:
          description: Its C(failurePolicy), V(Fail) or V(Ignore).
          type: str
        deactivated:
          description: Whether its selectors never match (C(istioctl tag) deactivation).
          type: bool
    namespaces:
      description: Namespaces whose labels point at this revision (directly, through a tag, or through
        C(istio-injection=enabled) for the default).
      type: list
      elements: str
    proxy_image:
      description: The proxy image the revision's injector injects now (from its C(istio-sidecar-injector) ConfigMap).
      type: str
      sample: gcr.io/gke-release/asm/proxyv2:1.7.3-asm.3
    native_sidecars:
      description: The injector's C(ENABLE_NATIVE_SIDECARS) setting (true, false, auto) when set.
      type: str
    proxies:
      description: Running pods whose sidecar this revision injected.
      type: int
      returned: when O(count_proxies=true)
proxies:
  description: Running injected pods per revision, including revisions that have no control plane any more (their
    pods need a restart).
  returned: when O(count_proxies=true)
  type: dict
  sample: {asm-173-3: 12, asm-1162-2: 40}
tags:
  description:
    - Revision tag to revision, for the tags that inject (those with an injector webhook). The same as
      C(istioctl tag list) unless a tag exists only as a Service, see RV(revision_tags).
    - O(revision) and the namespaces' C(istio.io/rev) labels are resolved through it.
  returned: always
  type: dict
  sample: {default: asm-173-3}
revision_tags:
  description: The rows of C(istioctl tag list), one per tag and revision, sorted by revision then tag.
  returned: always
  type: list
  elements: dict
  contains:
    tag:
      description: The tag.
      type: str
      sample: prod-stable
    revision:
      description: The revision it points at.
      type: str
      sample: asm-1162-2
    namespaces:
      description: Namespaces labelled C(istio.io/rev=<tag>).
      type: list
      elements: str
    webhook:
      description: Its injector MutatingWebhookConfiguration, or null when it has none (then it injects nothing).
      type: str
      sample: istio-revision-tag-prod-stable
    service:
      description: Its Service in O(istio_namespace), or null (Istio before 1.28 writes none).
      type: str
      sample: istiod-revision-tag-prod-stable
default_revision:
  description: The default revision, if there is one.
  returned: always
  type: str
istiod_pods:
  description: The rows of C(kubectl -n istio-system get pods -l app=istiod --show-labels).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Pod name.
      type: str
    ready:
      description: Ready containers / containers.
      type: str
      sample: 1/1
    status:
      description: Phase or waiting reason.
      type: str
      sample: Running
    restarts:
      description: Container restarts.
      type: int
    age:
      description: Age like kubectl prints it.
      type: str
      sample: 23h
    labels:
      description: Pod labels.
      type: dict
    labels_text:
      description: Labels as kubectl's LABELS column shows them.
      type: str
      sample: app=istiod,istio.io/rev=asm-173-3,istio=istiod,pod-template-hash=5788d57586
istio_namespace:
  description: The namespace searched.
  returned: always
  type: str
status:
  description: The HTTP status of the API error that failed the module, when one did.
  returned: failure
  type: int
  sample: 403
api_requests:
  description: Number of Kubernetes API requests made.
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
from ansible_collections.servicemesh.asm.plugins.module_utils.revisions import PREFER_CHOICES, run


def main():
    argument_spec = dict(
        istio_namespace=dict(type="str", default="istio-system"),
        revision=dict(type="str"),
        prefer=dict(type="str", choices=list(PREFER_CHOICES)),
        allow_unready=dict(type="bool", default=False),
        require_revision=dict(type="bool", default=True),
        count_proxies=dict(type="bool", default=False),
        **AUTH_ARG_SPEC
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    runner.run(module, run)


if __name__ == "__main__":
    main()

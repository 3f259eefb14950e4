#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: asm_namespace_inject
short_description: Label namespaces for Istio / Anthos Service Mesh sidecar injection by revision
version_added: 1.0.0
description:
  - Step 2 of the "inject sidecar proxies" procedure, which by hand is
    C(kubectl label namespace NAMESPACE istio-injection- istio.io/rev=REVISION --overwrite).
  - With O(state=present) sets C(istio.io/rev=<revision>) and removes C(istio-injection) in one patch per
    namespace; C(istio-injection) must go because it takes precedence over C(istio.io/rev).
  - With O(state=absent) removes both labels, which disables injection for pods created from then on.
  - Idempotent, with check mode (no write at all) and diff mode (labels before and after per namespace).
  - Before labelling, evaluates the cluster's injector webhooks like C(istioctl x check-inject) and refuses
    when no webhook would inject the revision into a namespace (an unknown revision or the wrong managed ASM
    channel makes pods come up silently without a sidecar), unless O(force=true).
  - Existing pods keep their old sidecar (or none) until they are re-created; see
    M(servicemesh.asm.asm_rollout_verify).
author:
  - servicemesh.asm maintainers (@servicemesh)
options:
  revision:
    description:
      - The value for C(istio.io/rev), a revision (for example C(asm-173-3)) or a revision tag.
      - Required with O(state=present). M(servicemesh.asm.asm_revision_info) finds it.
    type: str
  state:
    description:
      - V(present) labels for injection by O(revision); V(absent) removes the injection labels; V(restore) puts back
        the injection labels of O(previous_labels) (a rollback).
    type: str
    choices: [present, absent, restore]
    default: present
  previous_labels:
    description:
      - With O(state=restore), each selected namespace's injection labels to restore, as a dictionary namespace to
        labels, for example the RV(namespaces[].previous_labels) of the run being rolled back. V({}) for a namespace
        removes both labels.
    type: dict
  create:
    description:
      - Create named namespaces that do not exist, with the injection labels.
    type: bool
    default: false
  force:
    description:
      - Label even when no injector webhook would inject O(revision) into the namespace (the revision is unknown,
        deactivated, or shadowed). Pods would then come up without a sidecar.
    type: bool
    default: false
extends_documentation_fragment:
  - servicemesh.asm.selection
  - servicemesh.asm.auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - Namespaces labelled C(istio.io/dataplane-mode=ambient) use ambient mode and are skipped with a warning.
  - RV(namespaces[].previous_labels) holds each namespace's injection labels before the change, enough to restore them.
seealso:
  - module: servicemesh.asm.asm_revision_info
  - module: servicemesh.asm.asm_rollout_verify
"""

EXAMPLES = r"""
- name: Label the application namespaces for the control plane's revision
  servicemesh.asm.asm_namespace_inject:
    revision: "{{ asm.revision }}"
    namespaces: [demo, shop]

- name: Every namespace of a team, except one
  servicemesh.asm.asm_namespace_inject:
    revision: asm-1162-2
    namespace_selector: team=payments
    exclude: [payments-sandbox]

- name: See what would change
  servicemesh.asm.asm_namespace_inject:
    revision: asm-1162-2
    namespaces: [demo]
  check_mode: true
  diff: true

- name: Disable injection again
  servicemesh.asm.asm_namespace_inject:
    state: absent
    namespaces: [demo]

- name: Roll a labelling back to what it was
  servicemesh.asm.asm_namespace_inject:
    state: restore
    namespaces: "{{ labelled.namespaces | map(attribute='name') }}"
    previous_labels: "{{ dict(labelled.namespaces | map(attribute='name')
                              | zip(labelled.namespaces | map(attribute='previous_labels'))) }}"
"""

RETURN = r"""
namespaces:
  description: One entry per selected namespace, in selection order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Namespace name.
      type: str
      sample: demo
    previous_labels:
      description: Its C(istio-injection) / C(istio.io/rev) labels before the change.
      type: dict
      sample: {istio-injection: enabled}
    labels:
      description: Its injection labels after the change.
      type: dict
      sample: {istio.io/rev: asm-173-3}
    changed:
      description: Whether its labels changed (or would, in check mode).
      type: bool
    skipped:
      description: Whether it was left alone (ambient mode).
      type: bool
    reason:
      description: Why it was skipped.
      type: str
      returned: when skipped
    injection:
      description: Which injector webhook will inject new pods after the change, like C(istioctl x check-inject).
      type: dict
      returned: with O(state=present), except for skipped (ambient) namespaces and when the injector webhooks could
        not be read (a warning says so)
      contains:
        revision:
          description: The revision whose injector would inject new pods, null for none.
          type: str
          sample: asm-173-3
        reason:
          description: Why, naming the webhook and the labels that decide.
          type: str
not_selected:
  description: Namespaces matched or named but not selected, with the reason (excluded, system, terminating).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Namespace name.
      type: str
    reason:
      description: Why it was not selected.
      type: str
      sample: excluded
created:
  description: Namespaces created because of O(create=true).
  returned: always
  type: list
  elements: str
revision:
  description: The revision labelled (null for O(state=absent) and O(state=restore)).
  returned: always
  type: str
state:
  description: The requested state.
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
from ansible_collections.servicemesh.asm.plugins.module_utils.namespaces import run


def main():
    argument_spec = dict(
        revision=dict(type="str"),
        namespaces=dict(type="list", elements="str", default=[]),
        namespace_selector=dict(type="str"),
        exclude=dict(type="list", elements="str", default=[]),
        state=dict(type="str", choices=["present", "absent", "restore"], default="present"),
        previous_labels=dict(type="dict"),
        create=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        istio_namespace=dict(type="str", default="istio-system"),
        **AUTH_ARG_SPEC
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[("state", "present", ("revision",)),
                                        ("state", "restore", ("previous_labels",))])
    runner.run(module, run)


if __name__ == "__main__":
    main()

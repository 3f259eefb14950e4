#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: asm_revision_tag
short_description: Create, move or remove an Istio / Anthos Service Mesh revision tag
version_added: 1.0.0
description:
  - A revision tag is a stable name, such as C(prod-stable), that namespaces use in their C(istio.io/rev) label
    instead of a revision. Moving the tag to another revision moves the injection of every namespace that uses it,
    without relabelling the namespaces. Their pods get the new revision's proxy when they are re-created.
  - With O(state=present), creates or moves the tag's MutatingWebhookConfiguration C(istio-revision-tag-<tag>).
    It is built from the target revision's own injector webhook configuration, the same way
    C(istioctl tag set <tag> --revision <revision>) builds it. The C(default) tag gets the extra webhooks for
    C(istio-injection=enabled) and C(sidecar.istio.io/inject=true), and the unrevisioned injector is
    deactivated, as istioctl does.
  - Since Istio 1.28 istioctl also writes a Service C(istiod-revision-tag-<tag>) in O(istio_namespace) that records
    the tag. See O(service) for when this module writes one.
  - With O(state=absent), removes the tag's webhook configuration and Service. It refuses while namespaces or pods
    still use the tag, unless O(force=true).
  - Refuses an unknown revision (and lists the known ones), a revision that is itself a tag, a tag named like an
    existing revision, and a target revision without a ready istiod (unless O(allow_unready=true)).
  - In check mode the writes are sent as server-side dry runs, so nothing is stored. The diff shows the webhook
    selectors before and after.
  - For the C(default) tag the default revision's ValidatingWebhookConfiguration C(istiod-default-validator) is
    pointed at the revision too, as C(istioctl tag set default) does, and O(state=absent) removes it.
author:
  - servicemesh.asm maintainers (@servicemesh)
options:
  tag:
    description:
      - The revision tag, for example V(prod-stable) or V(default).
      - Lowercase letters, digits and C(-), at most 43 characters.
    type: str
    required: true
  revision:
    description:
      - The revision the tag points at, for example V(asm-1162-2). Required with O(state=present).
      - It must have its own injector MutatingWebhookConfiguration, labelled C(istio.io/rev) without C(istio.io/tag).
    type: str
  state:
    description:
      - V(present) creates the tag or moves it to O(revision). A tag that already points there is left alone.
      - V(absent) removes the tag.
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - With O(state=absent), remove the tag even while namespaces (label C(istio.io/rev=<tag>), or for C(default)
        C(istio-injection=enabled)) or pods (label C(istio.io/rev=<tag>)) still use it. Their new pods then get no
        sidecar.
    type: bool
    default: false
  allow_unready:
    description:
      - Point the tag at a revision whose istiod has no ready pod.
    type: bool
    default: false
  service:
    description:
      - Whether the tag also gets the Service C(istiod-revision-tag-<tag>).
      - V(auto) follows what the cluster's Istio does. It writes the Service when the tag already has one, when other
        tag Services exist in O(istio_namespace), or when the target revision's istiod version is 1.28 or newer.
      - V(always) and V(never) decide it explicitly. An existing tag Service is always kept pointing at the same
        revision as the webhook.
    type: str
    choices: [auto, always, never]
    default: auto
  istio_namespace:
    description:
      - Namespace of the control plane.
    type: str
    default: istio-system
extends_documentation_fragment:
  - servicemesh.asm.auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
seealso:
  - module: servicemesh.asm.asm_revision_info
  - module: servicemesh.asm.asm_namespace_inject
  - module: servicemesh.asm.asm_rollout_verify
  - name: Istio canary upgrades with revision tags
    description: How tags map stable names to revisions.
    link: https://istio.io/latest/docs/setup/upgrade/canary/#stable-revision-labels
"""

EXAMPLES = r"""
- name: Point the prod-stable tag at the new revision (creates it if needed)
  servicemesh.asm.asm_revision_tag:
    tag: prod-stable
    revision: asm-1162-2
  register: moved

- name: Restart the namespaces that use it, so their pods get the new proxy
  servicemesh.asm.asm_rollout_verify:
    namespaces: "{{ moved.namespaces }}"
    revision: asm-1162-2
  when: moved.changed

- name: Preview a move (nothing is stored; --diff shows the selectors)
  servicemesh.asm.asm_revision_tag:
    tag: prod-stable
    revision: asm-173-3
  check_mode: true

- name: Remove a tag nobody uses any more
  servicemesh.asm.asm_revision_tag:
    tag: canary
    state: absent
"""

RETURN = r"""
tag:
  description: The tag.
  returned: always
  type: str
  sample: prod-stable
state:
  description: The requested state.
  returned: always
  type: str
revision:
  description: The revision the tag points at after the task; null with O(state=absent).
  returned: always
  type: str
  sample: asm-1162-2
previous_revision:
  description: The revision the tag pointed at before the task; null if it did not exist.
  returned: always
  type: str
  sample: asm-173-3
webhook:
  description: The name of the tag's MutatingWebhookConfiguration.
  returned: always
  type: str
  sample: istio-revision-tag-prod-stable
service:
  description: The name of the tag's Service, or null when it has none.
  returned: always
  type: str
  sample: istiod-revision-tag-prod-stable
validator:
  description: The C(istiod-default-validator) ValidatingWebhookConfiguration written for the C(default) tag.
  returned: with O(tag=default) and O(state=present), where the API server serves validating webhooks
  type: str
  sample: istiod-default-validator
namespaces:
  description: Namespaces that use the tag (label C(istio.io/rev=<tag>); for C(default) also
    C(istio-injection=enabled)). After a move, these are the namespaces to restart.
  returned: always
  type: list
  elements: str
  sample: [shop, legacy]
pods:
  description: Pods that select the tag with their own C(istio.io/rev) label, as namespace/name (checked with
    O(state=absent)).
  returned: always
  type: list
  elements: str
actions:
  description: What was written (or would be, in check mode), one line per object.
  returned: always
  type: list
  elements: str
  sample: [moved mutatingwebhookconfiguration istio-revision-tag-prod-stable from asm-173-3 to asm-1162-2]
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
from ansible_collections.servicemesh.asm.plugins.module_utils.revision_tag import SERVICE_CHOICES, run


def main():
    argument_spec = dict(
        tag=dict(type="str", required=True),
        revision=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        force=dict(type="bool", default=False),
        allow_unready=dict(type="bool", default=False),
        service=dict(type="str", choices=list(SERVICE_CHOICES), default="auto"),
        istio_namespace=dict(type="str", default="istio-system"),
        **AUTH_ARG_SPEC
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[("state", "present", ("revision",))])
    runner.run(module, run)


if __name__ == "__main__":
    main()

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Namespace selection options shared by asm_namespace_inject and asm_rollout_verify.

One selection rule for both (module_utils/namespaces.py: selection_params, select): the
namespaces named, plus those the label selector matches less the system ones, less the
excluded ones.
"""

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  namespaces:
    description:
      - Namespaces to act on, by name. Named namespaces are always included, system namespaces too.
      - A named namespace that does not exist fails the module (M(servicemesh.asm.asm_namespace_inject) can create it
        instead, with its C(create) option).
      - At least one of O(namespaces) and O(namespace_selector) is required.
    type: list
    elements: str
    default: []
  namespace_selector:
    description:
      - A label selector choosing namespaces as well, for example C(env=prod) or C(team!=sandbox).
      - Namespaces it matches are skipped when they are system namespaces (C(kube-system), C(kube-public),
        C(kube-node-lease), the O(istio_namespace), GKE/Anthos-managed ones such as C(gke-*), C(gmp-*), C(anthos-*),
        C(config-management-system)); name them in O(namespaces) to include them.
    type: str
  exclude:
    description:
      - Namespaces never to touch, even when named or matched.
    type: list
    elements: str
    default: []
  istio_namespace:
    description:
      - Namespace of the control plane; it counts as a system namespace, so O(namespace_selector) never selects it.
    type: str
    default: istio-system
"""

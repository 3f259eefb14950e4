"""Pure pieces of kubesim's controllers, checked against kubernetes' own rules."""

import pytest

from kubesim.cluster import _scaled
from kubesim.controllers import _SAFE, template_hash

TEMPLATE = {"metadata": {"labels": {"app": "reviews"}}, "spec": {"containers": [{"name": "r", "image": "x:1"}]}}


def test_template_hash_is_safe_encoded_and_ignores_pod_template_hash_label():
    """controller.ComputeHash → rand.SafeEncodeString: only consonants and digits, no vowels."""
    h = template_hash(TEMPLATE)
    assert h and set(h) <= set(_SAFE)
    labelled = {**TEMPLATE, "metadata": {"labels": {"app": "reviews", "pod-template-hash": h}}}
    assert template_hash(labelled) == h


def test_restarted_at_annotation_changes_the_hash():
    """`kubectl rollout restart` works because the annotation changes the template hash → new ReplicaSet."""
    restarted = {**TEMPLATE, "metadata": {**TEMPLATE["metadata"],
                                          "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-25T15:00:00Z"}}}
    assert template_hash(restarted) != template_hash(TEMPLATE)


@pytest.mark.parametrize("value,total,round_up,expected", [
    # deployment_util.ResolveFenceposts: maxSurge rounds up, maxUnavailable rounds down.
    ("25%", 3, True, 1), ("25%", 3, False, 0), ("25%", 4, True, 1), ("25%", 4, False, 1),
    ("25%", 10, True, 3), ("25%", 10, False, 2), ("100%", 7, False, 7), (2, 10, True, 2), ("0%", 5, True, 0),
])
def test_intstr_scaling(value, total, round_up, expected):
    assert _scaled(value, total, round_up) == expected

"""Label/field selector semantics (k8s.io/apimachinery/pkg/labels/selector.go, meta/v1 helpers.go)."""

import pytest

from kubesim.selectors import (SelectorError, match_fields, match_label_selector, matches, parse_field_selector,
                               parse_label_selector)

LABELS = {"app": "reviews", "version": "v2", "istio.io/rev": "asm-173-3"}


@pytest.mark.parametrize("text,expected", [
    ("app=reviews", True), ("app==reviews", True), ("app!=reviews", False), ("app!=ratings", True),
    ("app in (reviews,ratings)", True), ("app notin (reviews)", False), ("version", True), ("!version", False),
    ("missing", False), ("!missing", True), ("missing!=x", True),  # != and notin match absent keys
    ("app=reviews,version=v2", True), ("app=reviews,version=v1", False),
    ("istio.io/rev in (asm-173-3, asm-1162-2)", True), ("", True),
])
def test_string_selectors(text, expected):
    assert matches(parse_label_selector(text), LABELS) is expected


@pytest.mark.parametrize("bad", ["app=(x", "in (a)", "!app in (a)", "a b"])
def test_unparsable_selectors_raise(bad):
    with pytest.raises(SelectorError):
        parse_label_selector(bad)


def test_label_selector_object_and_nil_semantics():
    assert match_label_selector({}, LABELS)  # empty selector matches everything
    assert not match_label_selector(None, LABELS)  # nil matches nothing (Deployments, PDBs) ...
    assert match_label_selector(None, LABELS, nil_matches=True)  # ... but everything for webhooks
    selector = {"matchLabels": {"app": "reviews"},
                "matchExpressions": [{"key": "istio-injection", "operator": "DoesNotExist"},
                                     {"key": "version", "operator": "In", "values": ["v1", "v2"]}]}
    assert match_label_selector(selector, LABELS)
    assert not match_label_selector(selector, {**LABELS, "istio-injection": "enabled"})
    with pytest.raises(SelectorError):
        match_label_selector({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, {})


def test_field_selectors():
    pod = {"metadata": {"name": "p", "namespace": "demo"}, "status": {"phase": "Running"}}
    assert match_fields(parse_field_selector("metadata.name=p,status.phase!=Pending"), pod)
    assert not match_fields(parse_field_selector("status.phase=Pending"), pod)
    assert match_fields(parse_field_selector("spec.nodeName="), pod)  # absent field compares as ""

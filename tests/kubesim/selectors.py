"""Label and field selectors, as the API server evaluates them.

String form: k8s.io/apimachinery/pkg/labels/selector.go (Parse): `a=b`, `a==b`, `a!=b`,
`a in (x,y)`, `a notin (x,y)`, `a`, `!a`, comma = AND.
Object form (metav1.LabelSelector, used by webhooks, Deployments, PDBs):
k8s.io/apimachinery/pkg/apis/meta/v1/helpers.go LabelSelectorAsSelector — matchLabels AND
matchExpressions (In, NotIn, Exists, DoesNotExist); an empty selector matches everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"
_SET_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_CMP_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*$")


class SelectorError(ValueError):
    """An unparsable selector: the API server answers 400 BadRequest."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: tuple[str, ...] = ()

    def matches(self, labels: dict) -> bool:
        present = self.key in labels
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            # NotIn matches objects without the key (selector.go: Requirement.Matches).
            return not present or labels[self.key] not in self.values
        raise SelectorError(f"unknown operator {self.operator!r}")


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in (s.strip() for s in parts) if p]


def parse_label_selector(text: str | None) -> list[Requirement]:
    if not text:
        return []
    requirements = []
    for term in _split_top_level(text):
        cmp_match = _CMP_RE.match(term)
        if cmp_match:
            key, op, value = cmp_match.groups()
            requirements.append(Requirement(key, "NotIn" if op == "!=" else "In", (value,)))
            continue
        set_match = _SET_RE.match(term)
        if not set_match:
            raise SelectorError(f"unable to parse requirement: {term!r}")
        negated, key, op, values = set_match.groups()
        if op:
            if negated:
                raise SelectorError(f"unable to parse requirement: {term!r}")
            vals = tuple(v.strip() for v in values.split(",") if v.strip())
            requirements.append(Requirement(key, "In" if op == "in" else "NotIn", vals))
        else:
            requirements.append(Requirement(key, "DoesNotExist" if negated else "Exists"))
    return requirements


def matches(requirements: list[Requirement], labels: dict | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in requirements)


def label_selector_requirements(selector: dict | None) -> list[Requirement] | None:
    """metav1.LabelSelector → requirements; None means "matches nothing" (a nil selector)."""
    if selector is None:
        return None
    reqs = [Requirement(k, "In", (v,)) for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator")
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise SelectorError(f"{op!r} is not a valid label selector operator")
        reqs.append(Requirement(expr["key"], op, tuple(expr.get("values") or ())))
    return reqs


def match_label_selector(selector: dict | None, labels: dict | None, nil_matches: bool = False) -> bool:
    """Match a metav1.LabelSelector object. An empty selector ({}) matches everything;
    a nil one matches everything only where the API says so (webhook selectors), else nothing."""
    reqs = label_selector_requirements(selector)
    if reqs is None:
        return nil_matches
    return matches(reqs, labels)


def _get_field(obj: dict, path: str):
    value = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def parse_field_selector(text: str | None) -> list[tuple[str, str, str]]:
    """`metadata.name=x,status.phase!=Running` → [(field, op, value)]; only = == != exist."""
    if not text:
        return []
    out = []
    for term in _split_top_level(text):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*([^,]*)\s*$", term)
        if not m:
            raise SelectorError(f"invalid field selector: {term!r}")
        field, op, value = m.groups()
        out.append((field, "!=" if op == "!=" else "=", value))
    return out


def match_fields(terms: list[tuple[str, str, str]], obj: dict) -> bool:
    for field, op, value in terms:
        actual = _get_field(obj, field)
        actual = "" if actual is None else str(actual)
        if (actual == value) != (op == "="):
            return False
    return True

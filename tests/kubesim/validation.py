"""Object validation the API server applies (apimachinery/pkg/util/validation)."""

from __future__ import annotations

import re

from .resources import Resource
from .store import ApiError

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
             "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
             "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                 "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                 "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
# Names that must be DNS labels (pods and namespaces are subdomain/label per their strategies).
_LABEL_NAMED = {"Namespace", "Service"}


def name_errors(res: Resource, name: str) -> list[str]:
    if res.kind in _LABEL_NAMED:
        if len(name) > 63:
            return [f'metadata.name: Invalid value: "{name}": must be no more than 63 characters']
        if not _DNS1123_LABEL.match(name):
            return [f'metadata.name: Invalid value: "{name}": {LABEL_MSG}']
        return []
    if len(name) > 253:
        return [f'metadata.name: Invalid value: "{name}": must be no more than 253 characters']
    if not _DNS1123_SUBDOMAIN.match(name):
        return [f'metadata.name: Invalid value: "{name}": {SUBDOMAIN_MSG}']
    return []


def label_errors(labels: dict | None) -> list[str]:
    errors = []
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
            errors.append(f'metadata.labels: Invalid value: "{key}": prefix part {SUBDOMAIN_MSG}')
        if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
            errors.append(f'metadata.labels: Invalid value: "{key}": name part must consist of alphanumeric '
                          "characters, '-', '_' or '.', and must start and end with an alphanumeric character")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            errors.append(f'metadata.labels: Invalid value: "{value}": a valid label must be an empty string or '
                          "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                          "alphanumeric character")
    return errors


def invalid(res: Resource, name: str, errors: list[str]) -> ApiError:
    """422 Invalid, shaped like apimachinery's NewInvalid."""
    causes = []
    for err in errors:
        field, _, message = err.partition(": ")
        causes.append({"reason": "FieldValueInvalid", "message": message, "field": field})
    return ApiError(422, "Invalid", f'{res.kind} "{name}" is invalid: ' + ", ".join(errors),
                    {"name": name, "group": res.group, "kind": res.kind, "causes": causes})


def validate(res: Resource, obj: dict) -> None:
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    errors = name_errors(res, name) + label_errors(meta.get("labels"))
    if errors:
        raise invalid(res, name, errors)

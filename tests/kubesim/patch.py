"""PATCH bodies, as the API server applies them.

* application/json-patch+json: RFC 6902 (JSON Pointer, RFC 6901). As in
  k8s.io/apiserver/pkg/endpoints/handlers/patch.go, an undecodable patch is 400 BadRequest and
  an operation that cannot be applied (missing path, failed `test`) is 422.
* application/merge-patch+json: RFC 7396 (which obsoletes RFC 7386).
* application/strategic-merge-patch+json: k8s.io/apimachinery/pkg/util/strategicpatch/patch.go
  (mergeMap, mergeSlice, mergePatchIntoOriginal, normalizeElementOrder), with the
  `patchStrategy`/`patchMergeKey` struct tags of k8s.io/api core/v1, apps/v1, batch/v1,
  policy/v1, admissionregistration/v1 types.go and apimachinery meta/v1 ObjectMeta.
  Custom resources have no struct tags, so the server refuses this type with 415.
"""

from __future__ import annotations

import copy
import json

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class PatchError(ValueError):
    """A patch the server rejects; `code` is the HTTP status (400, 415 or 422)."""

    def __init__(self, message: str, code: int = 400):
        super().__init__(message)
        self.message = message
        self.code = code


# ---------------------------------------------------------------- RFC 6902 JSON patch
def _pointer(path: object) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"invalid JSON pointer: {path!r}", 400)
    tokens = []
    for raw in path.split("/")[1:]:
        if "~" in raw.replace("~0", "").replace("~1", ""):
            raise PatchError(f"invalid escape in JSON pointer: {path!r}", 400)
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tokens


def _missing(path: str) -> PatchError:
    return PatchError(f'doc is missing path: "{path}": missing value', 422)


def _locate(doc: object, path: str, *, insert: bool = False) -> tuple[dict | list, str | int]:
    """The container `path` (not the root) points into, and the existing (or new) key/index."""
    *parents, last = _pointer(path)
    node = doc
    for token in parents:
        node, key = _slot(node, token, path)
        node = node[key]
    return _slot(node, last, path, insert=insert)


def _slot(node: object, token: str, path: str, *, insert: bool = False) -> tuple[dict | list, str | int]:
    if isinstance(node, dict):
        if token not in node and not insert:
            raise _missing(path)
        return node, token
    if not isinstance(node, list) or not (
        (token.isdigit() and str(int(token)) == token) or (insert and token == "-")
    ):
        raise _missing(path)
    index = len(node) if token == "-" else int(token)
    if index > len(node) or (index == len(node) and not insert):
        raise PatchError(f'unable to access invalid index {index} of "{path}"', 422)
    return node, index


def _get(doc: object, path: str) -> object:
    if path == "":
        return doc
    node, key = _locate(doc, path)
    return node[key]


def _add(doc: object, path: str, value: object) -> object:
    if path == "":
        return value
    node, key = _locate(doc, path, insert=True)
    if isinstance(node, list):
        node.insert(key, value)
    else:
        node[key] = value
    return doc


def _remove(doc: object, path: str) -> object:
    """Take the value at `path` out of `doc` and return it."""
    if path == "":
        raise PatchError("unable to remove the whole document", 422)
    node, key = _locate(doc, path)
    return node.pop(key)


def _json_equal(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_json_equal, a, b))
    # Python's 1 == True must not make `test` pass: JSON numbers and booleans differ.
    if type(a) in (int, float) and type(b) in (int, float):
        return a == b
    return type(a) is type(b) and a == b


def _checked_op(op: object) -> tuple[str, str]:
    if not isinstance(op, dict) or not isinstance(op.get("op"), str):
        raise PatchError(f"invalid JSON patch operation: {op!r}", 400)
    name, path = op["op"], op.get("path")
    if name not in ("add", "remove", "replace", "move", "copy", "test"):
        raise PatchError(f"unexpected kind of JSON patch operation: {name!r}", 400)
    _pointer(path)
    if name in ("move", "copy"):
        _pointer(op.get("from"))
    if name in ("add", "replace", "test") and "value" not in op:
        raise PatchError(f"{name} operation on {path!r} is missing a value", 400)
    return name, path


def json_patch(doc: dict, ops: list) -> dict:
    """Apply RFC 6902 operations to a copy of `doc`; all or nothing."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations", 400)
    checked = [_checked_op(op) for op in ops]
    result = copy.deepcopy(doc)
    for op, (name, path) in zip(ops, checked):
        if name == "test":
            try:
                equal = _json_equal(_get(result, path), op["value"])
            except PatchError:
                equal = False
            if not equal:
                raise PatchError(f"testing value {path} failed: test failed", 422)
        elif name == "remove":
            _remove(result, path)
        elif name == "replace":
            if path:
                _remove(result, path)
            result = _add(result, path, copy.deepcopy(op["value"]))
        elif name == "move":
            if path.startswith(op["from"] + "/"):
                raise PatchError(f"cannot move {op['from']} into its own child {path}", 422)
            result = _add(result, path, _remove(result, op["from"]))
        else:
            value = op["value"] if name == "add" else _get(result, op["from"])
            result = _add(result, path, copy.deepcopy(value))
    return result


# ---------------------------------------------------------------- RFC 7396 merge patch
def merge_patch(doc: dict, patch: dict) -> dict:
    """Apply an RFC 7396 merge patch to a copy of `doc`."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    return _merge_into(copy.deepcopy(doc) if isinstance(doc, dict) else {}, patch)


def _merge_into(target: dict, patch: dict) -> dict:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = _merge_into(current if isinstance(current, dict) else {}, value)
        else:
            target[key] = copy.deepcopy(value)
    return target


# ---------------------------------------------------------------- strategic merge patch
STRATEGIC_KINDS = frozenset({
    "Pod", "Namespace", "Node", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job",
    "CronJob", "ConfigMap", "Event", "PodDisruptionBudget", "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration", "Service", "ServiceAccount", "Secret",
})

# patchStrategy:"merge" lists of objects, by JSON field name -> patchMergeKey. One name means one
# thing across the supported kinds, except the entries of _MERGE_KEYS_IN.
_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "hostAliases": "ip", "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name", "schedulingGates": "name", "resourceClaimStatuses": "name",
    "allocatedResourcesStatus": "name", "podIPs": "ip", "hostIPs": "ip", "conditions": "type",
    "addresses": "type", "ownerReferences": "uid", "secrets": "name", "webhooks": "name",
    "matchConditions": "name",
}
# (field holding the object, field) -> patchMergeKey, for names whose meaning depends on the owner.
_MERGE_KEYS_IN = {
    (c, "ports"): "containerPort" for c in ("containers", "initContainers", "ephemeralContainers")
}
_MERGE_KEYS_IN["spec", "ports"] = "port"  # ServiceSpec; no other supported kind has spec.ports
# patchStrategy:"merge" lists of primitives (set union). Namespace spec.finalizers has no tag.
_PRIMITIVE_MERGE_IN = {("metadata", "finalizers"), ("spec", "podCIDRs")}
# patchStrategy:"replace" on an object field.
_REPLACE_MAPS = {("PodDisruptionBudget", "spec", "selector")}

_DROP = object()


def supports_strategic_merge(kind: str) -> bool:
    return kind in STRATEGIC_KINDS


def _unsupported_media(kind: str) -> PatchError:
    accepted = [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH]
    if not supports_strategic_merge(kind):
        accepted.remove(STRATEGIC_MERGE_PATCH)
    message = "the body of the request was in an unknown format - accepted media types include: "
    return PatchError(message + ", ".join(accepted), 415)


def strategic_merge_patch(doc: dict, patch: dict, kind: str) -> dict:
    """Apply a strategic merge patch to a copy of `doc`, an object of built-in `kind`."""
    if not supports_strategic_merge(kind):
        raise _unsupported_media(kind)
    if not isinstance(patch, dict):
        raise PatchError("invalid JSON document", 400)
    return _smp_map(copy.deepcopy(doc) if isinstance(doc, dict) else {}, patch, kind, "")


def _merge_key(owner: str, field: str) -> str | None:
    """patchMergeKey of a merging list; "" for a merging list of primitives; None: replace."""
    if (owner, field) in _PRIMITIVE_MERGE_IN:
        return ""
    return _MERGE_KEYS_IN.get((owner, field), _MERGE_KEYS.get(field))


def _clean(value: object) -> object:
    """A patch value taken as-is: nulls and directives dropped (removeDirectives and
    discardNullValuesFromPatch); _DROP when the value is itself a directive map."""
    if isinstance(value, dict):
        if "$patch" in value:
            return _DROP
        cleaned = {k: _clean(v) for k, v in value.items() if v is not None and not k.startswith("$")}
        return {k: v for k, v in cleaned.items() if v is not _DROP}
    if isinstance(value, list):
        return [v for v in map(_clean, value) if v is not _DROP]
    return value


def _ident(item: object, merge_key: str) -> object:
    """What identifies a list entry: its merge key, or its value in a list of primitives."""
    return item.get(merge_key) if merge_key and isinstance(item, dict) else item


def _smp_map(original: dict, patch: dict, kind: str, owner: str) -> dict:
    """Merge `patch` into `original` (owned, mutated); `owner` is the field holding both."""
    if "$patch" in patch:
        if patch["$patch"] == "replace":
            return _clean({k: v for k, v in patch.items() if k != "$patch"})
        if patch["$patch"] == "delete":
            return {}
        raise PatchError(f"unknown patch type: {patch['$patch']} in map: {patch}", 400)
    if "$retainKeys" in patch:
        retain = patch["$retainKeys"]
        if not isinstance(retain, list) or any(
            v is not None and not k.startswith("$") and k not in retain for k, v in patch.items()
        ):
            raise PatchError("invalid patch format of retainKeys", 400)
        for key in [k for k in original if k not in retain]:
            del original[key]

    orders, deletions = {}, {}
    for key, value in patch.items():
        for prefix, found in (("$setElementOrder", orders), ("$deleteFromPrimitiveList", deletions)):
            if key.startswith(prefix):
                if not key.startswith(prefix + "/") or key == prefix + "/":
                    what = "primitive list" if found is deletions else "setElementOrder list"
                    raise PatchError(f"invalid patch format of {what}", 400)
                found[key[len(prefix) + 1:]] = value
    # Order is restored against the live list as it was before the patch. (Go's slices alias
    # there: after a delete+add in one list the order it gets depends on slice capacities.)
    live = {f: copy.copy(original.get(f)) for f in orders}

    for key, value in patch.items():
        if key.startswith("$"):
            continue
        current = original.get(key)
        if value is None:
            original.pop(key, None)
        elif isinstance(current, dict) and isinstance(value, dict):
            replace = (kind, owner, key) in _REPLACE_MAPS
            original[key] = _clean(value) if replace else _smp_map(current, value, kind, key)
        elif isinstance(current, list) and isinstance(value, list):
            original[key] = _smp_list(current, value, kind, owner, key)
        else:
            value = _clean(value)
            if value is _DROP:
                original.pop(key, None)
            else:
                original[key] = value

    for field, values in deletions.items():
        if isinstance(original.get(field), list) and isinstance(values, list):
            original[field] = [v for v in original[field] if v not in values]
    for field, order in orders.items():
        merge_key, sent = _merge_key(owner, field), patch.get(field)
        if not isinstance(order, list):
            raise PatchError("invalid patch format of setElementOrder list", 400)
        if merge_key is None:
            continue
        # validatePatchWithSetOrderList: the entries sent must be a subsequence of the order.
        sent = sent if isinstance(sent, list) else []
        sent = [e for e in sent if not (isinstance(e, dict) and "$patch" in e)]
        remaining = (_ident(o, merge_key) for o in order)
        if not all(any(_ident(e, merge_key) == o for o in remaining) for e in sent):
            raise PatchError(f"the order in patch list {field} doesn't match the $setElementOrder list", 400)
        if isinstance(original.get(field), list):
            original[field] = _ordered(original[field], order, live[field] or [], merge_key)
    return original


def _smp_list(original: list, patch: list, kind: str, owner: str, field: str) -> list:
    merge_key = _merge_key(owner, field)
    if merge_key is None:
        return _clean(patch)
    if not original and not patch:
        return original
    if merge_key == "":
        merged = []
        for item in original + copy.deepcopy(patch):
            if item not in merged:
                merged.append(item)
        return _ordered(merged, patch, original, merge_key)

    if not all(isinstance(item, dict) for item in original + patch):
        raise PatchError(f"list {field} must contain only objects", 400)
    for element in patch:
        if element.get("$patch", "delete") == "delete" and merge_key not in element:
            raise PatchError(f"map: {element} does not contain declared merge key: {merge_key}", 400)
    items, plain, replace = list(original), [], False
    for element in patch:
        directive = element.get("$patch")
        if "$patch" not in element:
            plain.append(element)
        elif directive == "delete":
            items = [i for i in items if merge_key not in i or i[merge_key] != element[merge_key]]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch", 400)
        else:
            raise PatchError(f"unknown patch type: {directive} in map: {element}", 400)
    if replace:
        return _clean(plain)

    live = list(items)
    for element in plain:
        at = next((n for n, i in enumerate(items) if i.get(merge_key, _DROP) == element[merge_key]), None)
        if at is None:
            items.append(_clean(element))
        else:
            items[at] = _smp_map(items[at], element, kind, field)
    return _ordered(items, plain, live, merge_key)


def _ordered(merged: list, wanted: list, live: list, merge_key: str) -> list:
    """normalizeElementOrder: items named in `wanted` follow its order, the others keep their
    live order, and a live-only item goes before a wanted one only if it was before it live.
    So, without $setElementOrder, new entries land in front of the remaining live ones."""
    def rank(items: list, item: object) -> int | None:
        value = _ident(item, merge_key)
        return next((n for n, v in enumerate(items) if _ident(v, merge_key) == value), None)

    right = sorted((m for m in merged if rank(wanted, m) is not None), key=lambda m: rank(wanted, m))
    left = [m for m in merged if rank(wanted, m) is None]
    left.sort(key=lambda m: len(live) if rank(live, m) is None else rank(live, m))
    out = []
    while left and right:
        li, ri = rank(live, left[0]), rank(live, right[0])
        out.append((left if li is not None and ri is not None and li < ri else right).pop(0))
    return out + left + right


# ---------------------------------------------------------------- dispatch
def apply_patch(doc: dict, body: bytes | str | dict | list, content_type: str, kind: str) -> dict:
    """Apply a PATCH request body of the given Content-Type to a copy of `doc`."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == APPLY_PATCH:
        raise PatchError(f"server-side apply ({APPLY_PATCH}) is not supported by kubesim", 415)
    if media not in (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH) or (
        media == STRATEGIC_MERGE_PATCH and not supports_strategic_merge(kind)
    ):
        raise _unsupported_media(kind)
    if isinstance(body, (bytes, bytearray, str)):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise PatchError(f"error decoding patch: {exc}", 400) from None
    if media == JSON_PATCH:
        return json_patch(doc, body)
    if not isinstance(body, dict):
        raise PatchError("the patch body must be a JSON object", 400)
    if media == MERGE_PATCH:
        return merge_patch(doc, body)
    return strategic_merge_patch(doc, body, kind)

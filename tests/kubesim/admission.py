"""Validating admission refusals, as a policy engine answers them (fault knob `admission_deny`).

Each rule names what it refuses; the answer is shaped like the real engine's, as the API server relays it:
- `gatekeeper` / `webhook`: apiserver `pkg/admission/plugin/webhook/errors/statuserror.go` ToStatusErr
  (`admission webhook "<name>" denied the request: <message>`, with the webhook's own code; Gatekeeper denies through
  controller-runtime `pkg/webhook/admission/response.go` Denied: 403 Forbidden, message `[<constraint>] <message>`
  as in Gatekeeper's docs).
- `vap`: apiserver `pkg/admission/plugin/policy/validating/dispatcher.go`: admission.NewForbidden's message
  (`<resource> "<name>" is forbidden: ValidatingAdmissionPolicy '<p>' with binding '<b>' denied request: <msg>`),
  reason Invalid (422) unless the validation sets one, the message repeated as a cause.
Admission sees a PATCH as an UPDATE and an eviction as a CREATE of pods/eviction; it runs on dry runs too
(the API server calls webhooks with sideEffects None on dryRun=All), and on the controllers' own writes (the
ReplicaSet controller's pod creates: a refusal is its FailedCreate event). Validation sees the object after
mutating admission, so `annotations` can match what Istio's injector added (a CEL expression such as
`object.metadata.annotations['istio.io/rev'] != 'x'` in a real policy).
"""

from __future__ import annotations

from .selectors import SelectorError, matches, parse_label_selector
from .store import ApiError

RULE_KEYS = {"engine", "verbs", "resource", "api_group", "namespace", "name", "label_selector", "annotations",
             "code", "message", "policy", "binding", "webhook"}
ENGINES = {"gatekeeper": ("validation.gatekeeper.sh", 403), "webhook": ("kubesim-policy.example.com", 403),
           "vap": (None, 422)}
OPERATIONS = {"create": "CREATE", "update": "UPDATE", "patch": "UPDATE", "delete": "DELETE"}
_REASONS = {400: "BadRequest", 403: "Forbidden", 422: "Invalid", 401: "Unauthorized", 413: "RequestEntityTooLarge"}


def check_rules(rules) -> None:
    """Refuse malformed rules when they are set, not when a request trips over them."""
    if not isinstance(rules, list):
        raise ValueError("admission_deny must be a list of rules")
    for rule in rules:
        if not isinstance(rule, dict) or set(rule) - RULE_KEYS:
            raise ValueError(f"admission_deny rule {rule!r}: keys must be among {sorted(RULE_KEYS)}")
        if rule.get("engine", "gatekeeper") not in ENGINES:
            raise ValueError(f"admission_deny rule {rule!r}: engine must be one of {sorted(ENGINES)}")
        for verb in rule.get("verbs") or []:
            if verb != "*" and verb.lower() not in OPERATIONS:
                raise ValueError(f"admission_deny rule {rule!r}: verbs must be among {sorted(OPERATIONS)} or '*'")
        annotations = rule.get("annotations")
        if annotations is not None and not (isinstance(annotations, dict)
                                            and all(isinstance(v, str) for v in annotations.values())):
            raise ValueError(f"admission_deny rule {rule!r}: annotations must map annotation keys to string values")
        try:
            parse_label_selector(rule.get("label_selector"))
        except SelectorError as exc:
            raise ValueError(f"admission_deny rule {rule!r}: {exc}") from None


def _matches(rule: dict, operation: str, res, resource: str, namespace: str | None, name: str, obj: dict) -> bool:
    verbs = rule.get("verbs") or ["*"]
    if "*" not in verbs and operation not in {OPERATIONS[v.lower()] for v in verbs}:
        return False
    if rule.get("resource", "*") not in ("*", resource):
        return False
    if rule.get("api_group", "*") not in ("*", res.group):
        return False
    meta = obj.get("metadata") or {}
    # A Namespace is matched by its own name as the namespace too (RequestInfo scopes it so).
    scope = namespace or (name if res.kind == "Namespace" else None)
    if rule.get("namespace") is not None and rule["namespace"] != scope:
        return False
    if rule.get("name") is not None and rule["name"] != name:
        return False
    if any((meta.get("annotations") or {}).get(k) != v for k, v in (rule.get("annotations") or {}).items()):
        return False
    if rule.get("label_selector") is not None:
        return matches(parse_label_selector(rule["label_selector"]), meta.get("labels"))
    return True


def refusal(rules, operation: str, res, subresource: str | None, namespace: str | None, name: str,
            obj: dict) -> ApiError | None:
    """The error of the first rule that refuses this request, or None."""
    resource = f"{res.plural}/{subresource}" if subresource else res.plural
    for rule in rules or []:
        if _matches(rule, operation, res, resource, namespace, name, obj):
            return _error(rule, res, name)
    return None


def _error(rule: dict, res, name: str) -> ApiError:
    engine = rule.get("engine", "gatekeeper")
    webhook, default_code = ENGINES[engine]
    code = int(rule.get("code") or default_code)
    reason = _REASONS.get(code, "BadRequest")
    message = rule.get("message") or "denied by kubesim admission rule"
    if engine == "vap":
        policy, binding = rule.get("policy") or "kubesim-policy", rule.get("binding")
        denied = (f"ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: {message}" if binding
                  else f"ValidatingAdmissionPolicy '{policy}' denied request: {message}")
        subject = f"{res.plural}.{res.group}" if res.group else res.plural
        return ApiError(code, reason, f'{subject} "{name}" is forbidden: {denied}',
                        {"name": name, "group": res.group, "kind": res.plural, "causes": [{"message": denied}]})
    if engine == "gatekeeper":
        message = f"[{rule.get('policy') or 'kubesim-deny'}] {message}"
    return ApiError(code, reason, f'admission webhook "{rule.get("webhook") or webhook}" denied the request: {message}')

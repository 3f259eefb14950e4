# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The istio-proxy image a revision's injector would give a pod now, as Istio decides it.

Sources (istio/istio, read at 86c9f01, 1.31-dev; behaviour unchanged since 1.13 unless noted):
- pkg/kube/inject/inject.go ProxyImage, proxyImageURL, imageURL, updateImageTypeIfPresent,
  KnownImageTypes; TestProxyImage in inject_test.go.
- manifests/charts/istio-control/istio-discovery/files/injection-template.yaml: the istio-proxy
  `image:` lines (a sidecar.istio.io/proxyImage annotation or a values.global.proxy.image with a
  "/" is used verbatim; else .ProxyImage; before 1.13 `hub/proxy.image:tag`).
- pilot/pkg/model/proxy_config.go EffectiveProxyConfig (which ProxyConfig wins), config.go
  sortConfigByCreationTime; pkg/kube/inject/webhook.go (GetProxyConfigOrDefault per pod).
- templates/istiod-injector-configmap.yaml: `values` (JSON) and `config` (YAML: defaultTemplates,
  templates, aliases); the mesh config is ConfigMap istio[-<rev>] key `mesh`.

Where the answer cannot be known (ProxyConfigs unreadable, a template this module does not
recognise, unparsable inputs) the expectation is None with a reason: such a proxy is never called
stale, and one warning per reason says so.
"""

from __future__ import annotations

import json

from ansible.module_utils.common.warnings import warn

from ansible_collections.servicemesh.asm.plugins.module_utils.client import KubeError, api_path

try:
    from ansible.module_utils.common.yaml import HAS_YAML, yaml_load
except ImportError:  # pragma: no cover - ansible-core always has it
    HAS_YAML = False

PROXY = "istio-proxy"
PROXY_IMAGE_ANNOTATION = "sidecar.istio.io/proxyImage"
IMAGE_TYPE_ANNOTATION = "sidecar.istio.io/proxyImageType"
PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"
TEMPLATES_ANNOTATION = "inject.istio.io/templates"
STATUS_ANNOTATION = "sidecar.istio.io/status"
KNOWN_IMAGE_TYPES = ("distroless", "debug")  # inject.go KnownImageTypes
PROXYCONFIG_API = ("networking.istio.io/v1beta1", "proxyconfigs")

# The istio-proxy image expressions of the upstream injection templates (1.9 → 1.31), with
# whitespace, `{{-`/`-}}`, quotes and `| quote` normalised away.
_ANN_OR_VALUES = "{{ annotation .ObjectMeta `sidecar.istio.io/proxyImage` .Values.global.proxy.image }}"
_TEMPLATE_LINES = {
    "{{ if contains \"/\" (annotation .ObjectMeta `sidecar.istio.io/proxyImage` .Values.global.proxy.image) }}":
        ("if", "ann_or_values"),
    "{{ if contains \"/\" .Values.global.proxy.image }}": ("if", "values"),
    "image: " + _ANN_OR_VALUES: ("image", "ann_or_values"),
    "image: {{ .Values.global.proxy.image }}": ("image", "values"),
    "image: {{ .ProxyImage }}": ("image", "proxy_image"),
    "image: {{ .Values.global.hub }}/{{ .Values.global.proxy.image }}:{{ .Values.global.tag }}": ("image", "hub_tag"),
    "{{ else }}": ("else", None),
    "{{ end }}": ("end", None),
}


def proxy_container(spec):
    """(the istio-proxy container or None, whether it is a native sidecar): a container, or an init
    container with restartPolicy Always (native sidecars, Istio >= 1.19)."""
    proxy = next((c for c in spec.get("containers") or [] if c.get("name") == PROXY), None)
    if proxy is not None:
        return proxy, False
    proxy = next((c for c in spec.get("initContainers") or []
                  if c.get("name") == PROXY and c.get("restartPolicy") == "Always"), None)
    return proxy, proxy is not None


def _go_text(value):
    """fmt.Sprint of a JSON value (values.global.tag may be a number: 1.12, 11)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if value is None:
        return "<nil>"
    return str(value)


def update_image_type(tag, image_type):
    """inject.go updateImageTypeIfPresent: replace a known -distroless/-debug suffix; `default` drops it."""
    if not image_type:
        return tag
    for known in KNOWN_IMAGE_TYPES:
        if tag.endswith("-" + known):
            tag = tag[:-len(known) - 1]
            break
    return tag if image_type == "default" else "%s-%s" % (tag, image_type)


def proxy_image(values, image_type="", annotations=None):
    """inject.go ProxyImage(values, proxyConfig.Image, annotations): hub/proxy.image:tag[-type]."""
    glob = (values or {}).get("global") or {}
    name = (glob.get("proxy") or {}).get("image") or "proxyv2"
    tag = _go_text(glob["tag"]) if glob.get("tag") is not None else ""
    if not image_type:
        image_type = glob.get("variant") or ""
    annotations = annotations or {}
    if IMAGE_TYPE_ANNOTATION in annotations:  # present, even empty, it wins
        image_type = annotations[IMAGE_TYPE_ANNOTATION]
    return "%s/%s:%s" % (glob.get("hub") or "", name, update_image_type(tag, image_type))


def template_rule(text):
    """The istio-proxy image rule of one injection template: None when the template sets no
    istio-proxy image, a (condition, then, else) tuple for a recognised one, or "unknown"."""
    rules = []
    lines = (text or "").splitlines()
    for i, line in enumerate(lines):
        if line.strip() != "- name: istio-proxy":
            continue
        tokens = []
        for follow in lines[i + 1:]:
            norm = " ".join(follow.replace("{{-", "{{").replace("-}}", "}}").replace("| quote", "").split())
            norm = norm.replace("image: \"", "image: ").rstrip("\"")
            if not (norm.startswith("{{") or norm.startswith("image:")) or (
                    norm.startswith("{{") and "image" not in norm and norm not in ("{{ else }}", "{{ end }}")):
                break
            if norm not in _TEMPLATE_LINES:
                return "unknown"
            tokens.append(_TEMPLATE_LINES[norm])
        if not tokens:
            return "unknown"  # the image comes from somewhere this module does not read
        if len(tokens) == 1 and tokens[0][0] == "image":
            rules.append((None, tokens[0][1], None))
        elif [t[0] for t in tokens] == ["if", "image", "else", "image", "end"]:
            rules.append((tokens[0][1], tokens[1][1], tokens[3][1]))
        else:
            return "unknown"
    if not rules:
        return None
    return rules[0] if all(r == rules[0] for r in rules) else "unknown"


def _selector(spec):
    """(kind, labels): proxy_config.go treats a nil selector as namespace-wide and a selector with
    matchLabels as a workload one; an empty non-nil selector matches nothing."""
    if spec.get("selector") is None:
        return "namespace", None
    labels = (spec.get("selector") or {}).get("matchLabels") or {}
    return ("workload", labels) if labels else ("none", None)


def _image_type_of(obj):
    return ((obj or {}).get("image") or {}).get("imageType") or ""


class RevisionImages(object):
    """What one revision's injector gives a pod; expected(record) → (image or None, why unknown)."""

    def __init__(self, revision, values, config=None, mesh=None, proxyconfigs=None, root_namespace="istio-system",
                 unknown=None, unknown_namespaces=None):
        self.revision, self.values, self.unknown = revision, values or {}, unknown
        self.mesh_type = _image_type_of((mesh or {}).get("defaultConfig"))
        self.root = (mesh or {}).get("rootNamespace") or root_namespace
        self.unknown_namespaces = unknown_namespaces or {}
        self.by_namespace = {}
        ordered = sorted(proxyconfigs or [], key=lambda o: (o["metadata"].get("creationTimestamp") or "",
                                                            o["metadata"].get("name", ""),
                                                            o["metadata"].get("namespace", "")))
        for obj in ordered:  # sortConfigByCreationTime: the first match wins
            self.by_namespace.setdefault(obj["metadata"].get("namespace"), []).append(obj.get("spec") or {})
        self.default_templates, self.templates, self.aliases = ["sidecar"], None, {}
        if config is not None and self.unknown is None:
            self._read_config(config)
        self.warned, self._cache = set(), {}

    def _read_config(self, config):
        if not HAS_YAML:
            self.unknown = "PyYAML is missing, so the injector's templates cannot be read"
            return
        try:
            parsed = yaml_load(config) or {}
        except Exception as exc:  # a YAML error of any kind
            self.unknown = "the injector's config is not valid YAML (%s)" % str(exc).splitlines()[0]
            return
        if not isinstance(parsed, dict):
            self.unknown = "the injector's config is not a mapping"
            return
        self.default_templates = list(parsed.get("defaultTemplates") or ["sidecar"])
        self.aliases = parsed.get("aliases") or {}
        templates = parsed.get("templates")
        if templates is None and parsed.get("template"):
            templates = {"sidecar": parsed["template"]}  # pre-1.9 single template
        if templates is not None:
            self.templates = dict((name, template_rule(text)) for name, text in templates.items())
        # No templates at all (a hand-written ConfigMap): assume the upstream template.

    def _template_names(self, annotations):
        """webhook.go selectTemplates + resolveAliases."""
        names = [n.strip() for n in annotations[TEMPLATES_ANNOTATION].split(",")] \
            if TEMPLATES_ANNOTATION in annotations else self.default_templates
        out = []
        for name in names:
            out.extend(self.aliases.get(name) or [name])
        return out

    def image_type(self, namespace, labels, annotations):
        """EffectiveProxyConfig's image.imageType, highest precedence first: the first workload
        ProxyConfig whose selector matches, the proxy.istio.io/config annotation, the first
        namespace-wide ProxyConfig (not in the root namespace), the first in the root namespace,
        mesh defaultConfig. An empty imageType at one level leaves the next one in force."""
        local = self.by_namespace.get(namespace) or []
        candidates = []
        for spec in local:
            kind, selector = _selector(spec)
            if kind == "workload" and all(labels.get(k) == v for k, v in selector.items()):
                candidates.append(_image_type_of(spec))
                break
        if PROXY_CONFIG_ANNOTATION in annotations:
            try:
                parsed = yaml_load(annotations[PROXY_CONFIG_ANNOTATION]) if HAS_YAML else None
            except Exception:
                parsed = None
            if not isinstance(parsed, dict):
                return None, "its %s annotation cannot be parsed" % PROXY_CONFIG_ANNOTATION
            candidates.append(_image_type_of(parsed))
        for ns in ([namespace] if namespace != self.root else []) + [self.root]:
            spec = next((s for s in self.by_namespace.get(ns) or [] if _selector(s)[0] == "namespace"), None)
            if spec is not None:
                candidates.append(_image_type_of(spec))
        candidates.append(self.mesh_type)
        return next((c for c in candidates if c), ""), None

    def expected(self, record):
        """(image, None) or (None, reason) for a compact pod record (pods.compact)."""
        if self.unknown:
            return None, self.unknown
        namespace = record["namespace"]
        for ns in (namespace, self.root):
            if ns in self.unknown_namespaces:
                return None, self.unknown_namespaces[ns]
        annotations = record.get("inject_annotations") or {}
        rule = ("ann_or_values", "ann_or_values", "proxy_image")  # upstream template
        if self.templates is not None:
            rule = None
            for name in self._template_names(annotations):
                if name not in self.templates:
                    return None, "injection template %r is not in the injector's config" % name
                if self.templates[name] == "unknown":
                    return None, "injection template %r sets the istio-proxy image in a way this module does " \
                                 "not recognise" % name
                rule = self.templates[name] or rule  # later templates override earlier ones
            if rule is None:
                return None, "no injection template of the pod sets the istio-proxy image"
        glob = self.values.get("global") or {}
        values_image = _go_text((glob.get("proxy") or {}).get("image"))
        picked = {"values": values_image, "ann_or_values": annotations.get(PROXY_IMAGE_ANNOTATION, values_image)}
        condition, then, otherwise = rule
        if condition is None or "/" in picked[condition]:
            branch = then
        else:
            branch = otherwise
        if branch in picked:
            return picked[branch], None
        if not glob.get("hub") or glob.get("tag") in (None, ""):
            return None, "the injector's values have no hub/tag"
        if branch == "hub_tag":
            return "%s/%s:%s" % (glob["hub"], (glob.get("proxy") or {}).get("image") or "proxyv2",
                                 _go_text(glob["tag"])), None
        image_type, why = self.image_type(namespace, record.get("labels") or {}, annotations)
        if why:
            return None, why
        return proxy_image(self.values, image_type, annotations), None

    def for_pod(self, record):
        """expected(), cached per namespace and (shared) labels/annotations, warning once per reason
        when the image cannot be known."""
        labels, inputs = record.get("labels"), record.get("inject_annotations")
        key = (record["namespace"], id(labels), id(inputs))
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = (self.expected(record), labels, inputs)  # keeps the ids alive
        image, why = hit[0]
        if why and why not in self.warned:
            self.warned.add(why)
            warn("The proxy image of pod %s/%s (revision %s) was not checked for staleness: %s. Such pods are not "
                 "restarted for their image; set detect_stale_proxies: false to silence this."
                 % (record["namespace"], record["name"], self.revision, why))
        return image


def _parse_json(text):
    try:
        return json.loads(text or "{}"), None
    except ValueError as exc:
        return None, str(exc)


def _list_proxyconfigs(client, root, namespaces):
    """(objects, {namespace: reason}) — cluster-wide, or per namespace when that is forbidden.
    A namespace whose ProxyConfigs cannot be read makes its pods' image unknown."""
    try:
        return client.list(api_path(PROXYCONFIG_API[0], PROXYCONFIG_API[1]),
                           action="list proxyconfigs.networking.istio.io (cluster scope)"), {}
    except KubeError as exc:
        if exc.status == 404:
            return [], {}  # no ProxyConfig CRD: none can apply
        if exc.status != 403:
            why = "its ProxyConfigs could not be listed (%s)" % exc
            return [], dict((ns, why) for ns in [root] + list(namespaces))
    objects, unknown = [], {}
    for ns in [root] + [n for n in namespaces if n != root]:
        try:
            objects += client.list(api_path(PROXYCONFIG_API[0], PROXYCONFIG_API[1], ns),
                                   action="list proxyconfigs.networking.istio.io in namespace %s" % ns)
        except KubeError as exc:
            if exc.status == 404:
                continue
            unknown[ns] = ("ProxyConfigs (networking.istio.io) in namespace %s cannot be read (HTTP %s): grant list "
                           "on proxyconfigs.networking.istio.io" % (ns, exc.status))
    return objects, unknown


def expected_proxy_images(client, inventory, revisions, istio_namespace, namespaces):
    """{revision: RevisionImages} for every revision whose injector ConfigMap is readable.

    Reads the injector and mesh ConfigMaps from the inventory (revisions.fetch_inventory) and lists
    ProxyConfig resources once (only when some revision is judged)."""
    configmaps = dict((cm["metadata"]["name"], cm) for cm in inventory.get("configmaps") or [])
    meshes = dict((cm["metadata"]["name"], cm) for cm in inventory.get("meshconfigs") or [])
    out, proxyconfigs, unknown_namespaces = {}, None, {}
    for rev in revisions:
        name = rev["name"]
        suffix = "" if name == "default" else "-" + name
        cm = configmaps.get("istio-sidecar-injector" + suffix)
        if cm is None:
            continue  # no injector ConfigMap (managed ASM): nothing to compare with, as before
        data = cm.get("data") or {}
        values, error = _parse_json(data.get("values"))
        unknown = "the injector's values are not valid JSON (%s)" % error if error else None
        mesh_cm = meshes.get("istio" + suffix)
        mesh = {}
        if mesh_cm is not None and not unknown:
            try:
                mesh = (yaml_load((mesh_cm.get("data") or {}).get("mesh") or "") if HAS_YAML else None) or {}
            except Exception:
                mesh = None
            if not isinstance(mesh, dict):
                unknown, mesh = "the mesh config (ConfigMap istio%s, key mesh) cannot be parsed" % suffix, {}
        if proxyconfigs is None:
            root = mesh.get("rootNamespace") or istio_namespace
            proxyconfigs, unknown_namespaces = _list_proxyconfigs(client, root, namespaces)
        out[name] = RevisionImages(name, values, data.get("config"), mesh, proxyconfigs, istio_namespace, unknown,
                                   unknown_namespaces)
    reasons = sorted(set(unknown_namespaces.values()))
    for why in reasons:
        warn("Proxy images not checked for staleness where %s; those proxies are not restarted for their image."
             % why)
    return out


# -- the exact answer: ask the injector ---------------------------------------------------------
def dry_run_proxy_image(client, namespace, template, name):
    """Create a pod from a workload's pod template as a server-side dry run (dryRun=All; Istio's
    webhook declares sideEffects: None, so the API server calls it) and read what the injector did.

    Returns {"injected": bool, "image": str or None, "native": bool, "revision": str or None}.
    Needs `create pods` in the namespace. Raises KubeError like any request."""
    meta = (template or {}).get("metadata") or {}
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"generateName": "%s-asm-dry-run-" % name[:40], "namespace": namespace,
                        "labels": dict(meta.get("labels") or {}), "annotations": dict(meta.get("annotations") or {})},
           "spec": (template or {}).get("spec") or {}}
    created = client.request("POST", api_path("v1", "pods", namespace), query={"dryRun": "All"}, body=pod,
                             action="create pods (server-side dry run) in namespace %s" % namespace)
    proxy, native = proxy_container(created.get("spec") or {})
    status, _error = _parse_json(((created.get("metadata") or {}).get("annotations") or {}).get(STATUS_ANNOTATION))
    return {"injected": proxy is not None, "image": proxy.get("image") if proxy else None, "native": native,
            "revision": (status or {}).get("revision") if proxy else None}


# Controllers whose pod template a dry-run pod is built from (the pod's own controller: a ReplicaSet's
# template is the pod's, a StatefulSet's or DaemonSet's is what a restart would create).
TEMPLATE_OWNERS = {"ReplicaSet": ("apps/v1", "replicasets"), "StatefulSet": ("apps/v1", "statefulsets"),
                   "DaemonSet": ("apps/v1", "daemonsets")}


class DryRunImages(object):
    """The injector's own answer per pod: a server-side dry-run create of a pod from its controller's
    template (one GET and one dry-run POST per controller, cached). Where that is refused or cannot be
    asked (no controller, RBAC, another webhook without sideEffects None), the formula answers."""

    def __init__(self, client, revision, formula=None):
        self.client, self.revision, self.formula = client, revision, formula
        self._answers = {}
        self.warned = set()

    def for_pod(self, record):
        owner = record.get("owner")
        api = TEMPLATE_OWNERS.get(owner["kind"]) if owner else None
        if api is None:
            return self._fallback(record, "the pod has no controller with a pod template")
        key = (record["namespace"], owner["kind"], owner["name"])
        if key not in self._answers:
            self._answers[key] = self._ask(record["namespace"], owner["name"], api)
        image, why = self._answers[key]
        return image if why is None else self._fallback(record, why)

    def _ask(self, namespace, name, api):
        try:
            owner = self.client.request("GET", api_path(api[0], api[1], namespace, name),
                                        action="get %s %r in namespace %s" % (api[1], name, namespace))
            answer = dry_run_proxy_image(self.client, namespace, (owner.get("spec") or {}).get("template"), name)
        except KubeError as exc:
            return None, "the injector could not be asked (%s)" % exc
        if not answer["injected"] or answer["revision"] != self.revision:
            return None, "the dry-run pod was injected by %s, not %s" % (answer["revision"] or "nobody", self.revision)
        return answer["image"], None

    def _fallback(self, record, why):
        if why not in self.warned:
            self.warned.add(why)
            warn("proxy_image_check=dry_run: for pod %s/%s %s; the proxy image is judged by Istio's rules instead."
                 % (record["namespace"], record["name"], why))
        return self.formula.for_pod(record) if self.formula is not None else None


def proxy_image_rules(client, inventory, revisions, istio_namespace, namespaces, check="formula"):
    """{revision: what decides a pod's expected proxy image} for proxy_image_check `check`:
    `formula` (Istio's rules, expected_proxy_images), `dry_run` (the injector itself, the rules as
    fallback) or `off` (no staleness check)."""
    if check == "off":
        return {}
    formula = expected_proxy_images(client, inventory, revisions, istio_namespace, namespaces)
    if check != "dry_run":
        return formula
    return dict((r["name"], DryRunImages(client, r["name"], formula.get(r["name"]))) for r in revisions)

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes API access shared by the servicemesh.asm modules.

Authentication is resolved exactly like kubernetes.core (same option names, same K8S_AUTH_*
environment fallbacks, the kubernetes client's own kubeconfig / in-cluster loaders). Requests go
through the kubernetes client's configured urllib3 pool (its TLS, proxy and auth settings) and
return raw JSON: model deserialisation of large lists is orders of magnitude slower. Transient
failures (429, 5xx, dropped connections) are retried with backoff honouring Retry-After.
"""

from __future__ import annotations

import json
import os
import threading
import time
from urllib.parse import quote, urlencode

from ansible_collections.servicemesh.asm.plugins.module_utils.errors import AsmError

try:
    import urllib3
    from urllib3._collections import HTTPHeaderDict  # in 1.26 and 2.x; add() keeps repeated headers apart
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.config import incluster_config as k8s_incluster
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # the modules report it with missing_required_lib
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc

USER_AGENT = "servicemesh.asm/1.0.0"  # galaxy.yml's version (a unit test keeps them equal)
RETRY_STATUSES = (429, 500, 502, 503, 504)
# The API server's metadata-only list, asked for as client-go's metadata client does (k8s.io/client-go/metadata),
# with a full list as the fallback for a server that cannot convert.
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
MAX_ATTEMPTS = 8  # 5xx/429 at a 20% rate fail 8 times in a row once in 390,000 requests
# A connection that cannot be established (refused, unknown host, connect timeout) most often means a
# wrong host or port: give up after 3 attempts (~1.5 s of backoff) instead of the full backoff; dropped
# and reset connections still get MAX_ATTEMPTS.
CONNECT_ATTEMPTS = 3
MAX_RETRY_AFTER = 30.0

# Option → environment fallback, as kubernetes.core documents them (k8s_auth_options).
AUTH_ENV = {
    "kubeconfig": "K8S_AUTH_KUBECONFIG",
    "context": "K8S_AUTH_CONTEXT",
    "host": "K8S_AUTH_HOST",
    "api_key": "K8S_AUTH_API_KEY",
    "username": "K8S_AUTH_USERNAME",
    "password": "K8S_AUTH_PASSWORD",
    "validate_certs": "K8S_AUTH_VERIFY_SSL",
    "ca_cert": "K8S_AUTH_SSL_CA_CERT",
    "client_cert": "K8S_AUTH_CERT_FILE",
    "client_key": "K8S_AUTH_KEY_FILE",
    "proxy": "K8S_AUTH_PROXY",
    "no_proxy": "K8S_AUTH_NO_PROXY",
    "persist_config": "K8S_AUTH_PERSIST_CONFIG",
    "impersonate_user": "K8S_AUTH_IMPERSONATE_USER",
    "impersonate_groups": "K8S_AUTH_IMPERSONATE_GROUPS",
}
PROXY_HEADERS_ENV = {
    "proxy_basic_auth": "K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH",
    "basic_auth": "K8S_AUTH_PROXY_HEADERS_BASIC_AUTH",
    "user_agent": "K8S_AUTH_PROXY_HEADERS_USER_AGENT",
}

AUTH_ARG_SPEC = {
    "kubeconfig": {"type": "raw"},
    "context": {"type": "str"},
    "host": {"type": "str"},
    "api_key": {"type": "str", "no_log": True},
    "username": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"]},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"]},
    "client_cert": {"type": "path", "aliases": ["cert_file"]},
    "client_key": {"type": "path", "aliases": ["key_file"], "no_log": False},
    "proxy": {"type": "str"},
    "no_proxy": {"type": "str"},
    "proxy_headers": {"type": "dict", "options": {
        "proxy_basic_auth": {"type": "str", "no_log": True},
        "basic_auth": {"type": "str", "no_log": True},
        "user_agent": {"type": "str"},
    }},
    "persist_config": {"type": "bool"},
    "impersonate_user": {"type": "str"},
    "impersonate_groups": {"type": "list", "elements": "str"},
}

# Like kubernetes.core (k8s/client.py _create_auth_spec): a boolean variable is true unless it says
# false, so an unrecognised K8S_AUTH_VERIFY_SSL value never turns TLS verification off.
_FALSE = ("0", "false", "no", "off", "n", "f")


class KubeError(AsmError):
    """A failed API call, with a message that names what was attempted and what to do."""

    def __init__(self, message, status=None, reason=None, body=None):
        super().__init__(message, status=status)
        self.reason = reason
        self.body = body or {}


class WatchExpired(KubeError):
    """The watch's resourceVersion is too old (410 Gone): list again, then watch from there."""


def auth_from_params(params, environ=None):
    """Module params with kubernetes.core's K8S_AUTH_* fallbacks for the unset ones."""
    environ = os.environ if environ is None else environ
    auth = {}
    for option, env in AUTH_ENV.items():
        value = params.get(option)
        if value is None and environ.get(env) not in (None, ""):
            value = environ[env]
            if option in ("validate_certs", "persist_config"):
                value = value.strip().lower() not in _FALSE
            elif option == "impersonate_groups":
                value = [g.strip() for g in value.split(",") if g.strip()]
        auth[option] = value
    headers = dict(params.get("proxy_headers") or {})
    for option, env in PROXY_HEADERS_ENV.items():
        if headers.get(option) is None and environ.get(env):
            headers[option] = environ[env]
    auth["proxy_headers"] = {k: v for k, v in headers.items() if v is not None} or None
    return auth


def api_path(api_version, plural, namespace=None, name=None, subresource=None):
    """/api/v1/namespaces/demo/pods/x/eviction from its parts."""
    base = "/api/" + api_version if "/" not in api_version else "/apis/" + api_version
    parts = [base]
    if namespace:
        parts.append("namespaces/" + quote(namespace, safe=""))
    parts.append(plural)
    if name:
        parts.append(quote(name, safe=""))
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


def retry_delay(attempt, retry_after=None):
    """Seconds to wait before retry `attempt` (1-based): Retry-After if the server sent one,
    else exponential backoff 0.5, 1, 2, 4, 8 s."""
    if retry_after not in (None, ""):
        try:
            return min(max(float(retry_after), 0.0), MAX_RETRY_AFTER)
        except ValueError:
            pass
    return min(0.5 * (2 ** (attempt - 1)), 8.0)


def describe_failure(status, body, action, host):
    """A message naming what was refused and what to do about it."""
    server_msg = ((body or {}).get("message") or "").rstrip()
    if server_msg and server_msg[-1] not in ".!?":
        server_msg += "."
    said = " The API server said: " + server_msg if server_msg else ""
    if status == 401:
        return ("Unauthorized (401) while trying to %s: the API server at %s rejected the credentials (token, "
                "client certificate or username/password from the kubeconfig, api_key or the environment). Check that "
                "they are valid and not expired.%s" % (action, host, said))
    if status in (400, 403, 422) and ("denied the request" in server_msg or "denied request" in server_msg):
        # apiserver webhook ToStatusErr / ValidatingAdmissionPolicy wording: a policy, not RBAC, refused it
        return ("Refused by an admission policy (%s) while trying to %s.%s Change the request to satisfy the policy, "
                "or ask its owners for an exception." % (status, action, said))
    if status == 403:
        return ("Forbidden (403): the credentials in use may not %s.%s Grant that permission to the user or "
                "service account (RBAC), or run with credentials that have it." % (action, said))
    if status == 404:
        return "Not found (404) while trying to %s.%s" % (action, said)
    if status == 409:
        return "Conflict (409) while trying to %s.%s" % (action, said)
    if status == 422:
        return "Invalid (422): the API server rejected the request to %s.%s" % (action, said)
    if status == 429:
        return "Too many requests (429) while trying to %s, still refused after %d attempts.%s" % (
            action, MAX_ATTEMPTS, said)
    if status and status >= 500:
        return "The API server failed (%s) while trying to %s, after %d attempts.%s" % (
            status, action, MAX_ATTEMPTS, said)
    return "Request to %s failed with HTTP %s.%s" % (action, status, said)


def credential_sources(auth):
    """Where credentials are taken from, in order, as kubernetes.core chooses (k8s/client.py
    _create_configuration): "options" when host comes with api_key, username/password or client_cert;
    "kubeconfig" when kubeconfig or context is given; otherwise "in-cluster" (a pod's service account)
    and, when that is not available, "default-kubeconfig" ($KUBECONFIG, then ~/.kube/config).
    So inside a pod the service account wins over $KUBECONFIG unless kubeconfig or context is set."""
    direct = auth.get("host") and (auth.get("api_key") or (auth.get("username") and auth.get("password"))
                                   or auth.get("client_cert"))
    if direct:
        return ("options",)
    if auth.get("kubeconfig") or auth.get("context"):
        return ("kubeconfig",)
    return ("in-cluster", "default-kubeconfig")


def _load_configuration(auth, environ=None, incluster_files=None):
    """A kubernetes client Configuration, from explicit options, a kubeconfig or in-cluster.
    environ and incluster_files (token, CA) default to the process's and the service account's."""
    environ = os.environ if environ is None else environ
    configuration = k8s_client.Configuration()
    kubeconfig, context = auth.get("kubeconfig"), auth.get("context")
    persist = bool(auth.get("persist_config"))
    try:
        for source in credential_sources(auth):
            if source == "options":
                break
            if source == "in-cluster":
                token, ca = incluster_files or (k8s_incluster.SERVICE_TOKEN_FILENAME,
                                                k8s_incluster.SERVICE_CERT_FILENAME)
                try:
                    k8s_incluster.InClusterConfigLoader(token_filename=token, cert_filename=ca,
                                                        environ=environ).load_and_set(configuration)
                    break
                except k8s_config.ConfigException:
                    continue  # not in a pod (or no service account token): the default kubeconfig
            if isinstance(kubeconfig, dict):
                k8s_config.load_kube_config_from_dict(kubeconfig, context=context,
                                                      client_configuration=configuration, persist_config=persist)
            elif kubeconfig:
                path = os.path.expanduser(str(kubeconfig))
                if not os.path.exists(path):
                    raise KubeError("kubeconfig file %s does not exist: give the path of a readable kubeconfig (or "
                                    "a kubeconfig as a dict), or leave kubeconfig unset to use the in-cluster "
                                    "service account, $KUBECONFIG or ~/.kube/config." % path)
                k8s_config.load_kube_config(config_file=path, context=context, client_configuration=configuration,
                                            persist_config=persist)
            else:
                # The kubernetes client reads $KUBECONFIG once, at import; read it now, from environ.
                k8s_config.load_kube_config(config_file=environ.get("KUBECONFIG") or "~/.kube/config",
                                            context=context, client_configuration=configuration,
                                            persist_config=persist)
            break
    except KubeError:
        raise
    except Exception as exc:  # ConfigException, YAML errors, missing default file
        text = str(exc)
        if context and "context" in text.lower():
            text += " (the context must be one of the contexts listed in the kubeconfig)"
        raise KubeError("Could not load Kubernetes credentials: %s. Set kubeconfig (a path or a dict) and "
                        "optionally context, or host with api_key / client_cert, or run inside a pod with a "
                        "service account." % text) from None
    if auth.get("host"):
        configuration.host = auth["host"]
    if auth.get("api_key"):
        token = "Bearer " + auth["api_key"]
        configuration.api_key = {"authorization": token, "BearerToken": token}
        configuration.api_key_prefix = {}
    if auth.get("username"):
        configuration.username = auth["username"]
    if auth.get("password"):
        configuration.password = auth["password"]
    if auth.get("validate_certs") is not None:
        configuration.verify_ssl = bool(auth["validate_certs"])
    for option, attribute in (("ca_cert", "ssl_ca_cert"), ("client_cert", "cert_file"), ("client_key", "key_file"),
                              ("proxy", "proxy"), ("no_proxy", "no_proxy")):
        if auth.get(option):
            setattr(configuration, attribute, auth[option])
    for option in ("ca_cert", "client_cert", "client_key"):
        if auth.get(option) and not os.path.exists(auth[option]):
            raise KubeError("%s file %s does not exist: give the path of a readable PEM file." % (option, auth[option]))
    if auth.get("proxy_headers"):
        headers = auth["proxy_headers"]
        configuration.proxy_headers = urllib3.util.make_headers(
            proxy_basic_auth=headers.get("proxy_basic_auth"), basic_auth=headers.get("basic_auth"),
            user_agent=headers.get("user_agent"))
    if not configuration.host or configuration.host == "http://localhost":
        raise KubeError("No Kubernetes API server configured: set host, or a kubeconfig whose current context "
                        "(or the context option) names a cluster.")
    # Our own loop retries with backoff; urllib3's silent immediate retries would hide the cause.
    configuration.retries = False
    return configuration


class DeadlinePassed(KubeError):
    """The call's deadline (the module's timeout) passed before a request succeeded."""


class KubeClient(object):
    """Raw-JSON access to one API server; counts the requests it makes.

    deadline: a time.monotonic() value (set by the caller, e.g. from the module's timeout) past which
    no request is sent; backoffs and read timeouts are cut to the time left."""

    def __init__(self, configuration, sleep=time.sleep, clock=time.monotonic):
        self.configuration = configuration
        self.host = configuration.host.rstrip("/")
        self.api_client = k8s_client.ApiClient(configuration)
        self.pool = self.api_client.rest_client.pool_manager
        self.extra_headers = {}
        # Each group is its own Impersonate-Group header: the API server reads every header value as one
        # group, never splitting on commas (apiserver endpoints/filters/impersonation).
        self.impersonate_groups = []
        self.sleep = sleep
        self.clock = clock
        self.deadline = None
        self.request_count = 0
        self.retries = 0
        self._count_lock = threading.Lock()  # watches and restart waves use the client from threads

    @classmethod
    def from_params(cls, params, environ=None):
        auth = auth_from_params(params, environ)
        client = cls(_load_configuration(auth, environ))
        if auth.get("impersonate_user"):
            client.extra_headers["Impersonate-User"] = auth["impersonate_user"]
        if auth.get("impersonate_groups"):
            client.impersonate_groups = list(auth["impersonate_groups"])
            if len(client.impersonate_groups) > 1 and int(urllib3.__version__.split(".")[0]) < 2:
                raise KubeError("impersonate_groups with more than one group needs urllib3 2 or newer: urllib3 %s "
                                "would send the groups %s as one group. Upgrade urllib3 on the host running the "
                                "module, or impersonate one group." % (
                                    urllib3.__version__, ", ".join(client.impersonate_groups)))
        return client

    def remaining(self):
        """Seconds left before the deadline (None without one)."""
        return None if self.deadline is None else self.deadline - self.clock()

    def _check_deadline(self, action, attempt, last_error):
        left = self.remaining()
        if left is not None and left <= 0:
            tried = " after %d attempt%s" % (attempt, "" if attempt == 1 else "s") if attempt else ""
            raise DeadlinePassed("The module's timeout passed while trying to %s%s%s. Raise timeout, or check the "
                                 "API server's health." % (action, tried, "; the last attempt failed: %s" % last_error
                                                           if last_error else ""),
                                 getattr(last_error, "status", None), getattr(last_error, "reason", None),
                                 getattr(last_error, "body", None))
        return left

    def _backoff(self, seconds):
        left = self.remaining()
        self.sleep(seconds if left is None else max(0.0, min(seconds, left)))

    def _headers(self, content_type=None, accept="application/json"):
        headers = {"Accept": accept, "User-Agent": USER_AGENT}
        headers.update(self.extra_headers)
        # auth_settings() runs the refresh hook (exec plugins, expiring tokens); its key names
        # differ between client versions ("authorization" / "BearerToken"), its header does not.
        for setting in self.configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting.get("key", "authorization").title()] = setting["value"]
        if "Authorization" not in headers and self.configuration.username and self.configuration.password:
            headers["Authorization"] = self.configuration.get_basic_auth_token()
        if content_type:
            headers["Content-Type"] = content_type
        headers = HTTPHeaderDict(headers)
        for group in self.impersonate_groups:
            headers.add("Impersonate-Group", group)
        return headers

    def _url(self, path, query):
        query = {k: v for k, v in (query or {}).items() if v not in (None, "")}
        return self.host + path + ("?" + urlencode(query) if query else "")

    def open(self, method, path, query=None, body=None, content_type=None, action=None, retry_429=True,
             timeout=30.0, stream=False, accept="application/json"):
        """Perform a request with retries; returns the urllib3 response (2xx only)."""
        action = action or "%s %s" % (method, path)
        data = None if body is None else json.dumps(body).encode("utf-8")
        if data is not None and content_type is None:
            content_type = "application/json"
        attempt, last_error = 0, None
        while True:
            left = self._check_deadline(action, attempt, last_error)
            attempt += 1
            with self._count_lock:
                self.request_count += 1
            read, connect = (timeout, 10.0) if left is None else (min(timeout, left), min(10.0, left))
            try:
                # urllib3 2's request() keeps repeated headers (HTTPHeaderDict); from_params refuses
                # several impersonate_groups on urllib3 1, whose request() merges them.
                response = self.pool.request(
                    method, self._url(path, query), body=data, headers=self._headers(content_type, accept),
                    preload_content=not stream, timeout=urllib3.Timeout(connect=connect, read=read))
            except urllib3.exceptions.SSLError as exc:
                raise KubeError("TLS verification of the API server %s failed: %s. Provide the cluster's CA with "
                                "ca_cert (or in the kubeconfig); validate_certs: false turns verification off and "
                                "is not recommended." % (self.host, _root_cause(exc))) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                # NewConnectionError (refused, unknown host) is a ConnectTimeoutError too.
                refused = isinstance(exc, (urllib3.exceptions.ConnectTimeoutError, ConnectionRefusedError))
                if attempt < (CONNECT_ATTEMPTS if refused else MAX_ATTEMPTS):
                    with self._count_lock:
                        self.retries += 1
                    last_error = KubeError(_root_cause(exc))
                    self._backoff(retry_delay(attempt))
                    continue
                raise KubeError("Cannot reach the Kubernetes API server at %s while trying to %s: %s. Check host, "
                                "kubeconfig and context, and that the cluster is reachable from where the module "
                                "runs." % (self.host, action, _root_cause(exc))) from None
            if 200 <= response.status < 300:
                return response
            # A streamed response's body is read here, once: .data would not hold it afterwards.
            body_json = _json_or_empty(response.read() if stream else response.data)
            status = response.status
            retryable = status in RETRY_STATUSES and (retry_429 or status != 429)
            # Our patches carry no resourceVersion precondition, so re-sending one after a 409 is
            # safe; the API server retries such conflicts itself, but a proxy or an aggregated
            # server may not.
            retryable = retryable or (status == 409 and method == "PATCH" and body_json.get("reason") == "Conflict")
            if retryable and attempt < MAX_ATTEMPTS:
                with self._count_lock:
                    self.retries += 1
                last_error = KubeError(("HTTP %s %s" % (status, body_json.get("message") or "")).rstrip(), status,
                                       body_json.get("reason"), body_json)
                self._backoff(retry_delay(attempt, response.headers.get("Retry-After")))
                continue
            error_class = WatchExpired if status == 410 else KubeError
            raise error_class(describe_failure(status, body_json, action, self.host), status,
                              body_json.get("reason"), body_json)

    def request(self, method, path, query=None, body=None, content_type=None, action=None, retry_429=True,
                accept="application/json"):
        response = self.open(method, path, query, body, content_type, action, retry_429, accept=accept)
        return _json_or_empty(response.data)

    def get(self, path, action=None, missing_ok=False):
        try:
            return self.request("GET", path, action=action)
        except KubeError as exc:
            if missing_ok and exc.status == 404:
                return None
            raise

    def list(self, path, label_selector=None, field_selector=None, limit=500, transform=None, action=None,
             metadata_only=False):
        """All items, each passed through `transform` page by page (so only compact records are kept).
        metadata_only: the items' metadata alone (PartialObjectMetadataList), for large lists that need no more."""
        return self.list_with_version(path, label_selector, field_selector, limit, transform, action, metadata_only)[0]

    def list_with_version(self, path, label_selector=None, field_selector=None, limit=500, transform=None,
                          action=None, metadata_only=False):
        """(items, the list's resourceVersion), to watch from. An expired continue token (410)
        restarts the list."""
        for _attempt in range(3):
            items, token = [], None
            try:
                while True:
                    page = self.request("GET", path, {"labelSelector": label_selector, "fieldSelector": field_selector,
                                                      "limit": limit or None, "continue": token}, action=action,
                                        accept=METADATA_LIST if metadata_only else "application/json")
                    for item in page.get("items") or []:
                        items.append(transform(item) if transform else item)
                    token = (page.get("metadata") or {}).get("continue")
                    if not token:
                        return items, (page.get("metadata") or {}).get("resourceVersion")
            except WatchExpired:
                continue
        raise KubeError("Could not list %s consistently: the continue token kept expiring." % path, 410)

    def watch(self, path, resource_version, label_selector=None, field_selector=None, timeout_seconds=30,
              action=None, on_open=None):
        """Yield watch events ({type, object}) until the server closes the stream. A too-old
        resourceVersion raises WatchExpired; the caller lists again and resumes from there.
        on_open() is called once the server has accepted the watch."""
        left = self.remaining()
        if left is not None:  # the server ends the stream by the deadline; open() refuses once it has passed
            timeout_seconds = min(timeout_seconds, max(1, int(left)))
        query = {"watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
                 "timeoutSeconds": int(max(1, timeout_seconds)), "labelSelector": label_selector,
                 "fieldSelector": field_selector}
        response = self.open("GET", path, query, action=action or "watch %s" % path, stream=True,
                             timeout=timeout_seconds + 15)
        if on_open is not None:
            on_open()
        buffer = b""
        try:
            for chunk in response.stream(65536, decode_content=True):
                lines = (buffer + chunk).split(b"\n")
                buffer = lines.pop()  # the unfinished event, if any
                for line in lines:
                    if line.strip():
                        yield _watch_event(line)
            if buffer.strip():
                yield _watch_event(buffer)
        except (urllib3.exceptions.HTTPError, OSError):
            return  # a dropped stream ends like a timeout: the caller resumes
        finally:
            response.release_conn()


def _watch_event(line):
    event = json.loads(line)
    if event.get("type") == "ERROR":
        status = event.get("object") or {}
        error_class = WatchExpired if status.get("code") == 410 else KubeError
        raise error_class("watch failed: %s" % status.get("message"), status.get("code"), status.get("reason"), status)
    return event


def _json_or_empty(data):
    try:
        value = json.loads(data or b"{}")
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}


def _root_cause(exc):
    reason = getattr(exc, "reason", None)
    return str(reason or exc)

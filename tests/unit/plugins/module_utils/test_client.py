# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Auth resolution (kubernetes.core's options and K8S_AUTH_* fallbacks), paths, retries and failure
messages of the client layer, without a network: requests go to a fake urllib3 pool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import urllib3
import yaml

from ansible_collections.servicemesh.asm.plugins.module_utils import client as kube
from ansible_collections.servicemesh.asm.plugins.module_utils.client import (
    KubeClient, KubeError, api_path, auth_from_params, describe_failure, retry_delay)

HOST = "https://k8s.example.com:6443"


def no_params():
    return dict((option, None) for option in kube.AUTH_ARG_SPEC)


# -- auth_from_params --------------------------------------------------------------------------------------


def test_auth_nothing_given():
    auth = auth_from_params(no_params(), environ={})
    assert set(auth) == set(kube.AUTH_ARG_SPEC)
    assert all(value is None for value in auth.values())


def test_auth_environment_fallbacks():
    environ = {
        "K8S_AUTH_KUBECONFIG": "/etc/kube/config", "K8S_AUTH_CONTEXT": "prod", "K8S_AUTH_HOST": HOST,
        "K8S_AUTH_API_KEY": "t0ken", "K8S_AUTH_USERNAME": "u", "K8S_AUTH_PASSWORD": "p",
        "K8S_AUTH_VERIFY_SSL": "no", "K8S_AUTH_SSL_CA_CERT": "/ca.pem", "K8S_AUTH_CERT_FILE": "/c.pem",
        "K8S_AUTH_KEY_FILE": "/k.pem", "K8S_AUTH_PROXY": "http://proxy:3128", "K8S_AUTH_NO_PROXY": "10.0.0.0/8",
        "K8S_AUTH_PERSIST_CONFIG": "true", "K8S_AUTH_IMPERSONATE_USER": "alice",
        "K8S_AUTH_IMPERSONATE_GROUPS": "devs, ops,,admins ",
    }
    auth = auth_from_params(no_params(), environ=environ)
    assert auth == {
        "kubeconfig": "/etc/kube/config", "context": "prod", "host": HOST, "api_key": "t0ken", "username": "u",
        "password": "p", "validate_certs": False, "ca_cert": "/ca.pem", "client_cert": "/c.pem",
        "client_key": "/k.pem", "proxy": "http://proxy:3128", "no_proxy": "10.0.0.0/8", "persist_config": True,
        "impersonate_user": "alice", "impersonate_groups": ["devs", "ops", "admins"], "proxy_headers": None,
    }


@pytest.mark.parametrize("text,expected", [
    ("true", True), ("True", True), ("1", True), ("yes", True), ("on", True), (" TRUE ", True),
    ("false", False), ("False", False), ("0", False), ("no", False), ("off", False), ("n", False),
    # like kubernetes.core: anything that does not say false is true, so a typo never disables TLS checks
    ("enabled", True), ("verify", True),
])
def test_auth_environment_booleans(text, expected):
    auth = auth_from_params(no_params(), environ={"K8S_AUTH_VERIFY_SSL": text, "K8S_AUTH_PERSIST_CONFIG": text})
    assert auth["validate_certs"] is expected
    assert auth["persist_config"] is expected


def test_auth_params_beat_environment_and_empty_environment_is_unset():
    params = dict(no_params(), context="mine", validate_certs=True, impersonate_groups=["g"])
    environ = {"K8S_AUTH_CONTEXT": "theirs", "K8S_AUTH_VERIFY_SSL": "false", "K8S_AUTH_IMPERSONATE_GROUPS": "x,y",
               "K8S_AUTH_HOST": ""}
    auth = auth_from_params(params, environ=environ)
    assert (auth["context"], auth["validate_certs"], auth["impersonate_groups"], auth["host"]) == (
        "mine", True, ["g"], None)
    # validate_certs: false given explicitly is a value, not "unset"
    auth = auth_from_params(dict(no_params(), validate_certs=False), environ={"K8S_AUTH_VERIFY_SSL": "true"})
    assert auth["validate_certs"] is False


def test_auth_proxy_headers_merge_params_and_environment():
    environ = {"K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH": "pu:pp", "K8S_AUTH_PROXY_HEADERS_BASIC_AUTH": "bu:bp",
               "K8S_AUTH_PROXY_HEADERS_USER_AGENT": "env-agent"}
    params = dict(no_params(), proxy_headers={"proxy_basic_auth": None, "basic_auth": None, "user_agent": "mine"})
    assert auth_from_params(params, environ=environ)["proxy_headers"] == {
        "proxy_basic_auth": "pu:pp", "basic_auth": "bu:bp", "user_agent": "mine"}
    assert auth_from_params(no_params(), environ={"K8S_AUTH_PROXY_HEADERS_USER_AGENT": "a"})["proxy_headers"] == {
        "user_agent": "a"}
    params = dict(no_params(), proxy_headers={"proxy_basic_auth": None, "basic_auth": None, "user_agent": None})
    assert auth_from_params(params, environ={})["proxy_headers"] is None


# -- api_path ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args,path", [
    (("v1", "namespaces"), "/api/v1/namespaces"),
    (("v1", "namespaces", None, "demo"), "/api/v1/namespaces/demo"),
    (("v1", "pods", "demo"), "/api/v1/namespaces/demo/pods"),
    (("v1", "pods", "demo", "reviews-1", "eviction"), "/api/v1/namespaces/demo/pods/reviews-1/eviction"),
    (("apps/v1", "deployments", "demo", "reviews"), "/apis/apps/v1/namespaces/demo/deployments/reviews"),
    (("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations"),
     "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"),
    (("mesh.cloud.google.com/v1beta1", "controlplanerevisions", "istio-system"),
     "/apis/mesh.cloud.google.com/v1beta1/namespaces/istio-system/controlplanerevisions"),
    (("v1", "configmaps", "a b", "x/y"), "/api/v1/namespaces/a%20b/configmaps/x%2Fy"),  # quoted, never a new segment
])
def test_api_path(args, path):
    assert api_path(*args) == path


# -- retry_delay --------------------------------------------------------------------------------------------


def test_retry_delay_backoff_and_cap():
    assert [retry_delay(attempt) for attempt in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@pytest.mark.parametrize("header,delay", [
    ("3", 3.0), ("0", 0.0), ("1.5", 1.5), ("-4", 0.0), ("3600", kube.MAX_RETRY_AFTER),
    ("", 1.0), (None, 1.0), ("Wed, 21 Oct 2026 07:28:00 GMT", 1.0),  # unparsable: backoff for attempt 2
])
def test_retry_delay_honours_retry_after(header, delay):
    assert retry_delay(2, header) == delay


# -- describe_failure ----------------------------------------------------------------------------------------


def test_describe_401():
    message = describe_failure(401, {"message": "Unauthorized"}, "list namespaces (cluster scope)", HOST)
    assert message == (
        "Unauthorized (401) while trying to list namespaces (cluster scope): the API server at "
        "https://k8s.example.com:6443 rejected the credentials (token, client certificate or username/password from "
        "the kubeconfig, api_key or the environment). Check that they are valid and not expired. The API server "
        "said: Unauthorized.")


def test_describe_403_names_verb_and_resource():
    body = {"message": 'namespaces "demo" is forbidden: User "ci-reader" cannot patch resource "namespaces" in API '
                       'group "" in the namespace "demo"'}
    message = describe_failure(403, body, "patch namespaces 'demo' (cluster scope)", HOST)
    assert message == (
        "Forbidden (403): the credentials in use may not patch namespaces 'demo' (cluster scope). The API server said: "
        "namespaces \"demo\" is forbidden: User \"ci-reader\" cannot patch resource \"namespaces\" in API group \"\" "
        "in the namespace \"demo\". Grant that permission to the user or service account (RBAC), or run with "
        "credentials that have it.")


def test_describe_404_429_500_and_others():
    assert describe_failure(404, {"message": 'namespaces "x" not found'}, "get namespaces 'x'", HOST) == (
        "Not found (404) while trying to get namespaces 'x'. The API server said: namespaces \"x\" not found.")
    assert describe_failure(429, {}, "list pods", HOST) == (
        "Too many requests (429) while trying to list pods, still refused after 8 attempts.")
    assert describe_failure(500, {"message": "etcdserver: request timed out!"}, "list pods", HOST) == (
        "The API server failed (500) while trying to list pods, after 8 attempts. The API server said: etcdserver: "
        "request timed out!")
    assert describe_failure(503, None, "list pods", HOST).startswith("The API server failed (503)")
    assert describe_failure(409, {}, "patch x", HOST) == "Conflict (409) while trying to patch x."
    assert describe_failure(422, {}, "create x", HOST) == (
        "Invalid (422): the API server rejected the request to create x.")
    assert describe_failure(418, {}, "get x", HOST) == "Request to get x failed with HTTP 418."


# -- configuration loading ------------------------------------------------------------------------------------


def kubeconfig_dict(server=HOST, token="s3cret"):
    return {"apiVersion": "v1", "kind": "Config", "current-context": "main",
            "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
            "users": [{"name": "admin", "user": {"token": token}}, {"name": "reader", "user": {"token": "r"}}],
            "contexts": [{"name": "main", "context": {"cluster": "c", "user": "admin"}},
                         {"name": "ro", "context": {"cluster": "c", "user": "reader"}}]}


def test_from_params_kubeconfig_dict_context_and_impersonation():
    params = dict(no_params(), kubeconfig=kubeconfig_dict(), context="ro", impersonate_user="alice",
                  impersonate_groups=["devs", "ops"])
    client = KubeClient.from_params(params, environ={})
    assert client.host == HOST
    headers = client._headers()
    assert headers["Authorization"] == "Bearer r"
    assert headers["Impersonate-User"] == "alice"
    # one header per group: the API server takes each value as one group (impersonation.go)
    assert headers.getlist("Impersonate-Group") == ["devs", "ops"]
    assert [(k, v) for k, v in headers.items() if k == "Impersonate-Group"] == [
        ("Impersonate-Group", "devs"), ("Impersonate-Group", "ops")]
    assert headers["User-Agent"] == kube.USER_AGENT
    assert client.configuration.retries is False  # our loop retries, not urllib3's


def test_from_params_host_and_api_key_without_kubeconfig():
    client = KubeClient.from_params(dict(no_params(), host=HOST + "/", api_key="abc", validate_certs=False),
                                    environ={})
    assert client.host == HOST
    assert client._headers()["Authorization"] == "Bearer abc"
    assert client.configuration.verify_ssl is False


def test_from_params_missing_kubeconfig_file(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(KubeError) as err:
        KubeClient.from_params(dict(no_params(), kubeconfig=missing), environ={})
    assert str(err.value).startswith("kubeconfig file %s does not exist: give the path of a readable kubeconfig" %
                                     missing)


# -- credential precedence: kubernetes.core k8s/client.py _create_configuration -----------------------------


@pytest.mark.parametrize("options,expected", [
    ({}, ("in-cluster", "default-kubeconfig")),
    ({"context": "ro"}, ("kubeconfig",)),
    ({"kubeconfig": "/etc/kube/config"}, ("kubeconfig",)),
    ({"host": HOST}, ("in-cluster", "default-kubeconfig")),  # a host alone only overrides the server
    ({"host": HOST, "api_key": "t"}, ("options",)),
    ({"host": HOST, "username": "u", "password": "p"}, ("options",)),
    ({"host": HOST, "username": "u"}, ("in-cluster", "default-kubeconfig")),
    ({"host": HOST, "client_cert": "/c.pem"}, ("options",)),
    ({"kubeconfig": "/etc/kube/config", "host": HOST, "api_key": "t"}, ("options",)),
])
def test_credential_sources_follow_kubernetes_core(options, expected):
    assert kube.credential_sources(dict(auth_from_params(no_params(), environ={}), **options)) == expected


def in_cluster(tmp_path, token="sa-token"):
    """A pod's service account files and environment, as the kubelet mounts and sets them."""
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(token)
    (sa / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    return (str(sa / "token"), str(sa / "ca.crt"))


def kubeconfig_file(tmp_path, server="https://from-kubeconfig:6443"):
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(kubeconfig_dict(server=server)))
    return str(path)


POD_ENV = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def load(tmp_path, files, environ, **options):
    auth = auth_from_params(dict(no_params(), **options), environ=environ)
    return kube._load_configuration(auth, environ, incluster_files=files)


def bearer(conf):
    return KubeClient(conf)._headers()["Authorization"]


def test_in_a_pod_the_service_account_wins_over_KUBECONFIG(tmp_path):
    conf = load(tmp_path, in_cluster(tmp_path), dict(POD_ENV, KUBECONFIG=kubeconfig_file(tmp_path)))
    assert conf.host == "https://10.96.0.1:443"
    assert bearer(conf).lower() == "bearer sa-token"  # the client's in-cluster loader writes "bearer"


def test_in_a_pod_kubeconfig_or_context_wins_over_the_service_account(tmp_path):
    files, path = in_cluster(tmp_path), kubeconfig_file(tmp_path)
    assert load(tmp_path, files, dict(POD_ENV), kubeconfig=path).host == "https://from-kubeconfig:6443"
    conf = load(tmp_path, files, dict(POD_ENV, KUBECONFIG=path), context="ro")
    assert (conf.host, bearer(conf)) == ("https://from-kubeconfig:6443", "Bearer r")
    assert load(tmp_path, files, dict(POD_ENV, K8S_AUTH_KUBECONFIG=path)).host == "https://from-kubeconfig:6443"


def test_without_a_service_account_KUBECONFIG_is_used_even_with_KUBERNETES_SERVICE_HOST(tmp_path):
    """KUBERNETES_SERVICE_HOST alone (a CI runner pod without a mounted token) falls back, like kubernetes.core."""
    missing = (str(tmp_path / "no-token"), str(tmp_path / "no-ca"))
    conf = load(tmp_path, missing, dict(POD_ENV, KUBECONFIG=kubeconfig_file(tmp_path)))
    assert (conf.host, bearer(conf)) == ("https://from-kubeconfig:6443", "Bearer s3cret")


def test_explicit_host_and_token_need_neither(tmp_path):
    conf = load(tmp_path, in_cluster(tmp_path), dict(POD_ENV, KUBECONFIG=kubeconfig_file(tmp_path)),
                host=HOST, api_key="abc")
    assert (conf.host, bearer(conf)) == (HOST, "Bearer abc")


def test_from_params_unknown_context(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(kubeconfig_dict()))
    with pytest.raises(KubeError) as err:
        KubeClient.from_params(dict(no_params(), kubeconfig=str(path), context="nosuch"), environ={})
    message = str(err.value)
    assert message.startswith("Could not load Kubernetes credentials: ")
    assert "nosuch" in message
    assert "(the context must be one of the contexts listed in the kubeconfig)" in message


@pytest.mark.parametrize("option", ["ca_cert", "client_cert", "client_key"])
def test_from_params_missing_pem_file(tmp_path, option):
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(KubeError) as err:
        KubeClient.from_params(dict(no_params(), kubeconfig=kubeconfig_dict(), **{option: missing}), environ={})
    assert str(err.value) == "%s file %s does not exist: give the path of a readable PEM file." % (option, missing)


# -- the request loop: retries, errors, pagination -------------------------------------------------------------


class FakeResponse(object):
    def __init__(self, status, body=None, headers=None):
        self.status = status
        self.data = json.dumps(body if body is not None else {}).encode()
        self.headers = headers or {}


class FakePool(object):
    """Answers requests from a script: each entry is a FakeResponse or an exception to raise."""

    def __init__(self, script):
        self.script = list(script)
        self.urls = []
        self.timeouts = []
        self.accepts = []

    def request(self, method, url, body=None, headers=None, preload_content=True, timeout=None):
        self.urls.append((method, url))
        self.accepts.append(headers.get("Accept"))
        self.timeouts.append(timeout)
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(script):
    sleeps = []
    client = KubeClient.from_params(dict(no_params(), host=HOST, api_key="abc"), environ={})
    client.sleep = sleeps.append
    client.pool = FakePool(script)
    return client, sleeps


def refused():
    return urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: [Errno 111] "
                                                       "Connection refused")


def test_retries_429_honouring_retry_after_then_succeeds():
    client, sleeps = make_client([FakeResponse(429, {"message": "slow down"}, {"Retry-After": "2"}),
                                  FakeResponse(503, {}, {}), FakeResponse(200, {"kind": "Namespace"})])
    assert client.request("GET", "/api/v1/namespaces/demo") == {"kind": "Namespace"}
    assert sleeps == [2.0, 1.0]
    assert (client.request_count, client.retries) == (3, 2)


def test_gives_up_on_500_after_max_attempts():
    client, sleeps = make_client([FakeResponse(500, {"message": "boom"})] * kube.MAX_ATTEMPTS)
    with pytest.raises(KubeError) as err:
        client.request("GET", "/api/v1/pods", action="list pods (all namespaces)")
    assert err.value.status == 500
    assert str(err.value) == ("The API server failed (500) while trying to list pods (all namespaces), after 8 "
                              "attempts. The API server said: boom.")
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_no_retry_on_403_and_the_error_carries_the_status():
    body = {"kind": "Status", "reason": "Forbidden", "message": "nope"}
    client, sleeps = make_client([FakeResponse(403, body)])
    with pytest.raises(KubeError) as err:
        client.request("PATCH", "/api/v1/namespaces/demo", body={}, action="patch namespaces 'demo'")
    assert (err.value.status, err.value.reason, sleeps, client.request_count) == (403, "Forbidden", [], 1)
    assert str(err.value).startswith("Forbidden (403): the credentials in use may not patch namespaces 'demo'.")


def test_refused_connection_gives_up_quickly_with_a_clear_message():
    client, sleeps = make_client([refused()] * kube.MAX_ATTEMPTS)
    with pytest.raises(KubeError) as err:
        client.request("GET", "/api/v1/namespaces", action="list namespaces (cluster scope)")
    assert sleeps == [0.5, 1.0]  # CONNECT_ATTEMPTS: a wrong host or port does not make the user wait 15 s
    message = str(err.value)
    assert message.startswith("Cannot reach the Kubernetes API server at https://k8s.example.com:6443 while trying "
                              "to list namespaces (cluster scope): ")
    assert "Connection refused" in message
    assert message.endswith("Check host, kubeconfig and context, and that the cluster is reachable from where the "
                            "module runs.")


def test_dropped_connections_get_the_full_backoff():
    dropped = urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    client, sleeps = make_client([dropped] * 3 + [FakeResponse(200, {"items": []})])
    assert client.request("GET", "/api/v1/namespaces") == {"items": []}
    assert sleeps == [0.5, 1.0, 2.0]
    client, sleeps = make_client([dropped] * kube.MAX_ATTEMPTS)
    with pytest.raises(KubeError):
        client.request("GET", "/api/v1/namespaces")
    assert len(sleeps) == kube.MAX_ATTEMPTS - 1


def test_tls_failure_is_not_retried():
    client, sleeps = make_client([urllib3.exceptions.SSLError("certificate verify failed")])
    with pytest.raises(KubeError) as err:
        client.request("GET", "/version")
    assert sleeps == []
    assert str(err.value).startswith("TLS verification of the API server https://k8s.example.com:6443 failed: "
                                     "certificate verify failed. Provide the cluster's CA with ca_cert")


def test_list_follows_continue_tokens_and_restarts_on_410():
    page = {"metadata": {"continue": "t1"}, "items": [{"n": 1}, {"n": 2}]}
    expired = {"kind": "Status", "code": 410, "reason": "Expired", "message": "continue token too old"}
    script = [FakeResponse(200, page), FakeResponse(410, expired),            # first try: expires mid-way
              FakeResponse(200, page), FakeResponse(200, {"metadata": {"resourceVersion": "42"}, "items": [{"n": 3}]})]
    client, sleeps = make_client(script)
    items, version = client.list_with_version("/api/v1/pods", label_selector="app=x", limit=2,
                                              transform=lambda item: item["n"])
    assert (items, version) == ([1, 2, 3], "42")
    urls = [url for method, url in client.pool.urls]
    assert urls[0] == HOST + "/api/v1/pods?labelSelector=app%3Dx&limit=2"
    assert urls[1] == HOST + "/api/v1/pods?labelSelector=app%3Dx&limit=2&continue=t1"
    assert urls[3].endswith("&continue=t1")
    assert client.pool.accepts == ["application/json"] * 4


def test_a_metadata_only_list_asks_for_partial_object_metadata_and_accepts_a_full_list():
    client, _sleeps = make_client([FakeResponse(200, {"metadata": {}, "items": [{"metadata": {"name": "a"}}]})])
    items = client.list("/api/v1/pods", field_selector="status.phase!=Failed", metadata_only=True)
    assert items == [{"metadata": {"name": "a"}}]
    assert client.pool.accepts == [
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"]
    assert client.pool.urls[0][1] == HOST + "/api/v1/pods?fieldSelector=status.phase%21%3DFailed&limit=500"


# -- the call's deadline (review finding 12) --------------------------------------------------------------------


class Clock(object):
    """time.monotonic that only moves when the client sleeps."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def deadline_client(script, seconds):
    client, _pool = make_client(script)
    clock = Clock()
    client.clock, client.sleep = clock, clock.sleep
    client.deadline = clock() + seconds
    return client, clock


def test_deadline_cuts_the_backoff_and_says_it_passed():
    client, clock = deadline_client([FakeResponse(503, {"message": "etcd leader changed"}),
                                     FakeResponse(503, {}), FakeResponse(503, {}), FakeResponse(200, {})], 3)
    with pytest.raises(kube.DeadlinePassed) as err:
        client.request("GET", "/api/v1/pods", action="list pods")
    # backoffs 0.5 and 1 s, then 2 s cut to the 1.5 s left; no fourth request
    assert clock.now == 103.0 and len(client.pool.urls) == 3 and client.request_count == 3
    assert str(err.value) == ("The module's timeout passed while trying to list pods after 3 attempts; the last "
                              "attempt failed: HTTP 503. Raise timeout, or check the API server's health.")
    assert err.value.status == 503


def test_deadline_cuts_read_and_connect_timeouts_to_the_time_left():
    client, clock = deadline_client([urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"),
                                     FakeResponse(200, {"kind": "PodList"})], 4)
    assert client.request("GET", "/api/v1/pods") == {"kind": "PodList"}
    first, second = client.pool.timeouts
    assert (first.connect_timeout, first.read_timeout) == (4, 4)
    assert (second.connect_timeout, second.read_timeout) == (3.5, 3.5)  # after the 0.5 s backoff


def test_no_request_once_the_deadline_has_passed():
    client, clock = deadline_client([FakeResponse(200, {})], 0)
    with pytest.raises(kube.DeadlinePassed, match="timeout passed while trying to GET /api/v1/pods. Raise"):
        client.request("GET", "/api/v1/pods")
    assert client.request_count == 0 and client.pool.urls == []


def test_retry_after_longer_than_the_time_left_is_cut():
    client, clock = deadline_client([FakeResponse(429, {"message": "slow down"}, {"Retry-After": "20"}),
                                     FakeResponse(200, {})], 5)
    with pytest.raises(kube.DeadlinePassed, match="429 slow down"):
        client.request("GET", "/api/v1/pods")
    assert clock.now == 105.0


def test_without_a_deadline_timeouts_and_backoff_are_unchanged():
    client, sleeps = make_client([FakeResponse(503, {}), FakeResponse(200, {})])
    client.request("GET", "/api/v1/pods")
    assert sleeps == [0.5] and client.pool.timeouts[0].read_timeout == 30.0


class StreamResponse(FakeResponse):
    def stream(self, amount, decode_content=True):
        yield b'{"type": "ADDED", "object": {"kind": "Pod"}}\n'

    def release_conn(self):
        pass


def test_watch_asks_the_server_to_end_the_stream_by_the_deadline():
    client, clock = deadline_client([StreamResponse(200, {})], 12.7)
    assert [e["type"] for e in client.watch("/api/v1/pods", "5", timeout_seconds=50)] == ["ADDED"]
    assert "timeoutSeconds=12" in client.pool.urls[0][1]
    assert client.pool.timeouts[0].read_timeout == pytest.approx(12.7)


def test_admission_refusals_are_not_described_as_rbac():
    gatekeeper = {"message": 'admission webhook "validation.gatekeeper.sh" denied the request: [owner] no'}
    assert describe_failure(403, gatekeeper, "patch namespaces 'demo'", HOST) == (
        "Refused by an admission policy (403) while trying to patch namespaces 'demo'. The API server said: admission "
        'webhook "validation.gatekeeper.sh" denied the request: [owner] no. Change the request to satisfy the policy, '
        "or ask its owners for an exception.")
    vap = {"message": "namespaces \"demo\" is forbidden: ValidatingAdmissionPolicy 'p' denied request: x"}
    assert describe_failure(422, vap, "patch x", HOST).startswith("Refused by an admission policy (422)")
    assert describe_failure(403, {"message": "namespaces is forbidden"}, "list x", HOST).startswith("Forbidden (403)")


def test_several_impersonate_groups_need_urllib3_2(monkeypatch):
    """urllib3 1's request() merges repeated headers: the groups would arrive as one. Refused, naming why."""
    from ansible_collections.servicemesh.asm.plugins.module_utils import client as clientlib
    params = dict(no_params(), host=HOST, api_key="abc", impersonate_groups=["devs", "ops"])
    assert KubeClient.from_params(params, environ={}).impersonate_groups == ["devs", "ops"]
    monkeypatch.setattr(clientlib.urllib3, "__version__", "1.26.20")
    with pytest.raises(KubeError) as err:
        KubeClient.from_params(params, environ={})
    assert "needs urllib3 2 or newer: urllib3 1.26.20 would send the groups devs, ops as one group" in str(err.value)
    assert KubeClient.from_params(dict(params, impersonate_groups=["devs"]), environ={}).impersonate_groups == ["devs"]


def test_user_agent_names_the_collection_version():
    galaxy = Path(__file__).resolve().parents[4] / "galaxy.yml"
    if not galaxy.exists():
        pytest.skip("galaxy.yml is not in the tarball: the checkout's run of this test covers it")
    assert kube.USER_AGENT == "servicemesh.asm/%s" % yaml.safe_load(galaxy.read_text())["version"]

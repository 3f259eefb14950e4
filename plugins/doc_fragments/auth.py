# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection and authentication options shared by every servicemesh.asm module.

Names, aliases and K8S_AUTH_* environment variables are those of kubernetes.core, so a playbook
can switch between the two collections without touching its connection settings.
"""

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig itself as a dictionary.
      - Credentials are chosen in kubernetes.core's order. O(host) with O(api_key), O(username) and O(password),
        or O(client_cert) needs no kubeconfig. Otherwise this kubeconfig is used, or C($KUBECONFIG) then
        C(~/.kube/config) when only O(context) is set. With neither, a module running inside a pod uses the pod's
        service account, and elsewhere C($KUBECONFIG), then C(~/.kube/config).
      - Inside a pod the service account therefore wins over C($KUBECONFIG) unless this option or O(context) is set.
      - Falls back to the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: raw
  context:
    description:
      - The kubeconfig context to use instead of its current context.
      - Falls back to E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the Kubernetes API server. Overrides the kubeconfig's server.
      - Falls back to E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Bearer token to authenticate with. Never logged.
      - Falls back to E(K8S_AUTH_API_KEY).
    type: str
  username:
    description:
      - Username for HTTP basic authentication (only for clusters that still accept it).
      - Falls back to E(K8S_AUTH_USERNAME).
    type: str
  password:
    description:
      - Password for HTTP basic authentication. Never logged.
      - Falls back to E(K8S_AUTH_PASSWORD).
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Verification is on unless the kubeconfig or this
        option turns it off; turning it off is not recommended.
      - Falls back to E(K8S_AUTH_VERIFY_SSL).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to the CA certificate (full chain) that signed the API server's certificate.
      - Falls back to E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate to authenticate with.
      - Falls back to E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the key of O(client_cert).
      - Falls back to E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  proxy:
    description:
      - URL of an HTTP proxy to reach the API server through. C(HTTP_PROXY) and similar variables are not used.
      - Falls back to E(K8S_AUTH_PROXY).
    type: str
  no_proxy:
    description:
      - Comma-separated hosts, domains or CIDRs to reach without the proxy.
      - Falls back to E(K8S_AUTH_NO_PROXY).
    type: str
  proxy_headers:
    description:
      - Headers to send to the proxy.
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - C(username:password) for the proxy. Falls back to E(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH).
        type: str
      basic_auth:
        description:
          - C(username:password) for a basic authentication header. Falls back to
            E(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH).
        type: str
      user_agent:
        description:
          - User agent to send to the proxy. Falls back to E(K8S_AUTH_PROXY_HEADERS_USER_AGENT).
        type: str
  persist_config:
    description:
      - Whether to write refreshed tokens (OIDC, exec plugins) back to the kubeconfig file.
      - Falls back to E(K8S_AUTH_PERSIST_CONFIG).
    type: bool
  impersonate_user:
    description:
      - User to impersonate for every request (the C(Impersonate-User) header).
      - Falls back to E(K8S_AUTH_IMPERSONATE_USER).
    type: str
  impersonate_groups:
    description:
      - Groups to impersonate for every request.
      - Falls back to E(K8S_AUTH_IMPERSONATE_GROUPS) (comma-separated).
    type: list
    elements: str
requirements:
  - kubernetes >= 24.2.0 (the Python client)
notes:
  - The module must run under a Python that has the C(kubernetes) package. For C(localhost) set
    C(ansible_python_interpreter) to C({{ ansible_playbook_python }}) when the controller's Python has it.
  - Transient API failures (HTTP 429 and 5xx, dropped connections) are retried with exponential backoff,
    honouring C(Retry-After).
"""

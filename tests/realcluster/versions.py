"""The upstream versions the real control plane is built from: the single place to bump them.

After changing one, run `python tests/realcluster/update_modules.py` (it rewrites the consumer
modules' go.mod/go.sum under tests/realcluster/modules/) and commit the result; `make
realcluster-build` then rebuilds whatever no longer matches the cache.
"""

from __future__ import annotations

KUBERNETES = "v1.36.3"  # k8s.io/kubernetes; the staging modules are v0.<minor>.<patch>
ETCD = "v3.6.16"  # go.etcd.io/etcd/server/v3
KWOK = "v0.8.0"  # sigs.k8s.io/kwok
ISTIO = "v0.0.0-20260827124520-eed52ebb66ad"  # istio.io/istio (master; its VERSION file says 1.31)
ISTIO_RELEASE = "1.31"  # the minor its VERSION file names, used in the stamped version string


def staging_version(kubernetes: str = KUBERNETES) -> str:
    """v1.36.3 -> v0.36.3: the version the k8s.io/* staging modules are published at."""
    major, minor, patch = kubernetes.lstrip("v").split(".")
    assert major == "1", kubernetes
    return f"v0.{minor}.{patch}"


def istio_commit(istio: str = ISTIO) -> str:
    """The 12-hex commit at the end of the pseudo-version."""
    return istio.rsplit("-", 1)[-1]


def istio_build_version(istio: str = ISTIO) -> str:
    """What istioctl/pilot-discovery report: Istio's own dev builds say `<minor>-alpha.<commit>`."""
    return f"{ISTIO_RELEASE}-alpha.{istio_commit(istio)}"

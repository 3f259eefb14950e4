"""Build the real control plane's binaries from the consumer modules in tests/realcluster/modules.

Binaries go to a machine-level cache keyed by component and version, outside the checkout:

    ${SERVICEMESH_ASM_REALCLUSTER_CACHE:-${XDG_CACHE_HOME:-~/.cache}/servicemesh-asm/realcluster}/<binary>-<version>/<binary>

A binary whose `--version` (or `version`) output already names the pinned version is not rebuilt,
so a machine that is kept stays warm; one progress line is printed per binary either way.  Only the
Go module proxy is used (the go.sum files are committed; -mod=readonly refuses anything else).

    python tests/realcluster/build.py [--only NAME ...] [--print-paths]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import versions  # noqa: E402

MODULES = HERE / "modules"


def cache_root() -> Path:
    explicit = os.environ.get("SERVICEMESH_ASM_REALCLUSTER_CACHE")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "servicemesh-asm" / "realcluster"


def _kube_ldflags() -> list[str]:
    v = versions.KUBERNETES
    major, minor = v.lstrip("v").split(".")[:2]
    out = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        out += [f"-X {pkg}.gitVersion={v}", f"-X {pkg}.gitMajor={major}", f"-X {pkg}.gitMinor={minor}",
                f"-X {pkg}.gitTreeState=clean"]
    return out


def _istio_ldflags() -> list[str]:
    pkg = "istio.io/istio/pkg/version"
    build_version = versions.istio_build_version()
    return [f"-X {pkg}.buildVersion={build_version}", f"-X {pkg}.buildGitRevision={versions.istio_commit()}",
            f"-X {pkg}.buildStatus=Clean", f"-X {pkg}.buildTag={build_version}"]


def _kwok_ldflags() -> list[str]:
    return [f"-X sigs.k8s.io/kwok/pkg/consts.Version={versions.KWOK}",
            f"-X sigs.k8s.io/kwok/pkg/consts.KubeVersion={versions.KUBERNETES.lstrip('v')}"]


@dataclass(frozen=True)
class Binary:
    name: str
    module: str  # directory under modules/
    package: str
    version: str  # the cache key
    expect: str  # a substring the version output must contain
    version_args: tuple[str, ...] = ("--version",)
    ldflags: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default=())

    @property
    def path(self) -> Path:
        return cache_root() / f"{self.name}-{self.version}" / self.name


KUBE_TAGS = ("selinux", "notest")
BINARIES = [
    Binary("etcd", "etcd", "go.etcd.io/etcd/server/v3", versions.ETCD,
           f"etcd Version: {versions.ETCD.lstrip('v')}"),
    Binary("kube-apiserver", "kubernetes", "k8s.io/kubernetes/cmd/kube-apiserver", versions.KUBERNETES,
           f"Kubernetes {versions.KUBERNETES}", ldflags=tuple(_kube_ldflags()), tags=KUBE_TAGS),
    Binary("kube-controller-manager", "kubernetes", "k8s.io/kubernetes/cmd/kube-controller-manager",
           versions.KUBERNETES, f"Kubernetes {versions.KUBERNETES}", ldflags=tuple(_kube_ldflags()), tags=KUBE_TAGS),
    Binary("kube-scheduler", "kubernetes", "k8s.io/kubernetes/cmd/kube-scheduler", versions.KUBERNETES,
           f"Kubernetes {versions.KUBERNETES}", ldflags=tuple(_kube_ldflags()), tags=KUBE_TAGS),
    Binary("kubectl", "kubernetes", "k8s.io/kubernetes/cmd/kubectl", versions.KUBERNETES,
           f"Client Version: {versions.KUBERNETES}", version_args=("version", "--client"),
           ldflags=tuple(_kube_ldflags()), tags=KUBE_TAGS),
    Binary("kwok", "kwok", "sigs.k8s.io/kwok/cmd/kwok", versions.KWOK, versions.KWOK.lstrip("v"),
           ldflags=tuple(_kwok_ldflags())),
    Binary("kwokctl", "kwok", "sigs.k8s.io/kwok/cmd/kwokctl", versions.KWOK, versions.KWOK.lstrip("v"),
           ldflags=tuple(_kwok_ldflags())),
    Binary("pilot-discovery", "istio", "istio.io/istio/pilot/cmd/pilot-discovery", versions.ISTIO,
           versions.istio_build_version(), version_args=("version", "-s"), ldflags=tuple(_istio_ldflags())),
    Binary("istioctl", "istio", "istio.io/istio/istioctl/cmd/istioctl", versions.ISTIO,
           versions.istio_build_version(), version_args=("version", "--remote=false", "-s"),
           ldflags=tuple(_istio_ldflags())),
]
BY_NAME = {b.name: b for b in BINARIES}


def paths() -> dict[str, Path]:
    """name -> cached binary path (whether built or not)."""
    return {b.name: b.path for b in BINARIES}


def version_output(path: Path, args: tuple[str, ...]) -> str | None:
    if not path.is_file() or not os.access(path, os.X_OK):
        return None
    try:
        proc = subprocess.run([str(path), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=60, env=dict(os.environ, KUBECONFIG="/dev/null"), check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout


def is_current(binary: Binary) -> bool:
    out = version_output(binary.path, binary.version_args)
    return out is not None and binary.expect in out


@contextlib.contextmanager
def locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(binary: Binary) -> float:
    target = binary.path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    cmd = ["go", "build", "-o", str(tmp), "-trimpath"]
    if binary.tags:
        cmd += ["-tags", ",".join(binary.tags)]
    # -s -w (no symbol table, no DWARF) as Kubernetes' and Istio's release builds do: it shortens the
    # link of these 100-MB binaries; stack traces still work.
    cmd += ["-ldflags", " ".join(("-s", "-w", *binary.ldflags))]
    cmd.append(binary.package)
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=readonly -buildvcs=false", GOWORK="off",
               GOTOOLCHAIN="local", GOPROXY=os.environ.get("GOPROXY") or "https://proxy.golang.org")
    start = time.monotonic()
    try:
        subprocess.run(cmd, cwd=MODULES / binary.module, env=env, check=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return time.monotonic() - start


def ensure(names: list[str] | None = None, out=sys.stdout) -> dict[str, Path]:
    wanted = [BY_NAME[n] for n in names] if names else BINARIES
    total = time.monotonic()
    with locked(cache_root() / ".lock"):
        for binary in wanted:
            if is_current(binary):
                print(f"realcluster-build: {binary.name} {binary.version}: cached ({binary.path})", file=out,
                      flush=True)
                continue
            print(f"realcluster-build: {binary.name} {binary.version}: building ...", file=out, flush=True)
            seconds = build(binary)
            if not is_current(binary):
                got = (version_output(binary.path, binary.version_args) or "").strip()
                raise SystemExit(f"realcluster-build: {binary.name}: built, but its version output does not "
                                 f"contain {binary.expect!r}: {got[:300]!r}")
            print(f"realcluster-build: {binary.name} {binary.version}: built in {seconds:.1f} s ({binary.path})",
                  file=out, flush=True)
    print(f"realcluster-build: {len(wanted)} binaries ready in {time.monotonic() - total:.1f} s", file=out, flush=True)
    return {b.name: b.path for b in wanted}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(BY_NAME), help="build only these binaries")
    parser.add_argument("--print-paths", action="store_true", help="print name=path lines and exit (no build)")
    args = parser.parse_args(argv)
    if args.print_paths:
        for name, path in paths().items():
            print(f"{name}={path}")
        return 0
    ensure(args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

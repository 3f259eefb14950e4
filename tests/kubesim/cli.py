"""`python -m kubesim --scenario seed --kubeconfig-out PATH`: serve a scenario over HTTPS.

The kubeconfig is written (atomically) only once the server accepts connections; SIGINT/SIGTERM
stop it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import os
import secrets
import signal
import ssl
import sys
import time
from pathlib import Path

import trustme
import yaml
from aiohttp import web

from .cluster import POD
from .scenarios import build_cluster, load_spec, users
from .server import Server, User


def kubeconfig(server_url: str, ca_pem: bytes, admin_token: str, extra_users: list[dict]) -> dict:
    ca = base64.b64encode(ca_pem).decode()
    contexts = [{"name": "kubesim", "context": {"cluster": "kubesim", "user": "admin", "namespace": "default"}}]
    user_entries = [{"name": "admin", "user": {"token": admin_token}}]
    for u in extra_users:
        if not u.get("token"):  # an identity only reachable by impersonation
            continue
        contexts.append({"name": f"kubesim-{u['name']}", "context": {"cluster": "kubesim", "user": u["name"]}})
        user_entries.append({"name": u["name"], "user": {"token": u["token"]}})
    return {"apiVersion": "v1", "kind": "Config", "current-context": "kubesim", "preferences": {},
            "clusters": [{"name": "kubesim", "cluster": {"server": server_url, "certificate-authority-data": ca}}],
            "contexts": contexts, "users": user_entries}


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


async def serve(args: argparse.Namespace) -> None:
    params = dict(p.split("=", 1) for p in args.param)
    spec = load_spec(args.scenario, params)
    started = time.monotonic()
    cluster = build_cluster(spec, seed=args.seed, speed=args.speed)
    load_seconds = time.monotonic() - started

    admin_token = secrets.token_urlsafe(24)
    token_users = {admin_token: User("admin")}
    declared = users(spec)
    group_rules = {g["name"]: list(g.get("rules") or []) for g in spec.get("groups") or []}
    for u in declared:
        # Token-less users exist for impersonation only; they get a key no bearer token can equal.
        token_users[u.get("token") or f"\0impersonation-only:{u['name']}"] = User(
            u["name"], list(u.get("rules") or []), tuple(u.get("groups") or ()))
    server = Server(cluster, token_users, groups=group_rules)

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ssl_ctx)

    runner = web.AppRunner(server.app(), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, ssl_context=ssl_ctx, backlog=512)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    url = f"https://{args.host}:{port}"
    # The store holds millions of long-lived dicts (30,000 pods and their history at 1,000 namespaces):
    # a full cyclic collection walks them all and, triggered by allocation, took a third of the CPU.
    # Freeze what the scenario loaded, and collect younger generations less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    controllers = asyncio.create_task(cluster.run())

    if args.kubeconfig_out:
        config = kubeconfig(url, ca.cert_pem.bytes(), admin_token, declared)
        write_atomic(Path(args.kubeconfig_out), yaml.safe_dump(config, sort_keys=False))
    print(f"kubesim: scenario {args.scenario!r} serving at {url} (loaded in {load_seconds:.1f}s, "
          f"{cluster.store.count(POD)} pods); "
          f"kubeconfig: {args.kubeconfig_out or '-'}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    controllers.cancel()
    await runner.cleanup()
    print("kubesim: stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubesim", description=__doc__)
    parser.add_argument("--scenario", default="seed", help="scenario name under tests/kubesim/scenarios or a path")
    parser.add_argument("--kubeconfig-out", help="write a kubeconfig for this server here once it serves")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second")
    parser.add_argument("--seed", type=int, default=1, help="random seed (names, fault rates)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="scenario generator parameter, e.g. namespaces=100 (scale scenario)")
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

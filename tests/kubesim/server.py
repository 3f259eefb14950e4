"""The Kubernetes REST API over aiohttp: discovery, CRUD, watch, tables, auth, faults, audit.

Sources: kubernetes/community api-conventions.md (Status, resourceVersion, 409/410, watch,
limit/continue); apiserver endpoints/handlers (create 201, delete 200/202, watch framing);
apidiscovery.k8s.io/v2 aggregated discovery (what kubectl 1.32 asks for first).
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import email.utils
import json
import logging
import time
from dataclasses import dataclass, field

from aiohttp import web

from . import tables
from .cluster import POD, Cluster
from .resources import BY_PLURAL, RESOURCES, SUBRESOURCE_KIND, SUBRESOURCE_VERBS, Resource, groups
from .selectors import SelectorError, match_fields, matches, parse_field_selector, parse_label_selector
from .store import ApiError, not_found

CRD_GROUPS = {"mesh.cloud.google.com"}  # served from CRDs: list items keep apiVersion/kind
_WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
# Registries with ReturnDeletedObject (pods, services) or their own Delete answering the object (namespaces).
_RETURNS_DELETED_OBJECT = {"pods", "services", "namespaces"}


@dataclass
class User:
    name: str
    rules: list | None = None  # None: cluster-admin
    groups: tuple = ()

    def allows(self, verb: str, group: str, resource: str, namespace: str | None, name: str | None = None) -> bool:
        if self.rules is None:
            return True
        for rule in self.rules:
            if (_any(rule.get("verbs"), verb) and _any(rule.get("apiGroups", ["*"]), group)
                    and _any(rule.get("resources"), resource)
                    and (not rule.get("namespaces") or _any(rule["namespaces"], namespace or ""))
                    and (not rule.get("resourceNames") or (name is not None and name in rule["resourceNames"]))):
                return True
        return False


def _any(allowed, value) -> bool:
    return "*" in (allowed or []) or value in (allowed or [])


@dataclass
class Request:
    """A parsed resource request (k8s.io/apiserver/pkg/endpoints/request.RequestInfo)."""
    verb: str
    resource: Resource
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


@dataclass
class Server:
    cluster: Cluster
    users: dict = field(default_factory=dict)  # token → User
    audit: list = field(default_factory=list)
    groups: dict = field(default_factory=dict)  # group name → RBAC-style rules (scenario `groups`)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 ** 2)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        app.on_response_prepare.append(self._date_header)
        return app

    async def _date_header(self, request: web.Request, response: web.StreamResponse) -> None:
        # The server's own clock (clock_offset skews it from the host), as clients read it for skew checks.
        response.headers["Date"] = email.utils.formatdate(self.cluster.clock.now(), usegmt=True)

    # -- middleware: reachability, latency, auth, injected API errors, audit -----------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        if request.path.startswith("/_kubesim/"):
            return await handler(request)
        if time.monotonic() < self.cluster.unreachable_until:
            request.transport.close()  # the client sees a reset connection, like a dead server
            raise asyncio.CancelledError
        entry = {"time": time.time(), "sim_time": self.cluster.clock.now(), "method": request.method,
                 "path": request.path, "query": request.query_string, "user": None, "verb": None,
                 "resource": None, "subresource": None, "namespace": None, "name": None, "code": None,
                 "dry_run": request.query.get("dryRun") == "All", "impersonated_user": None}
        self.audit.append(entry)
        try:
            response = await self._guarded(request, handler, entry)
        except ApiError as exc:
            response = self._error(exc)
        except Exception as exc:  # a kubesim bug: answer like apiserver's panic recovery, and say so
            logging.exception("kubesim: internal error on %s %s", request.method, request.path_qs)
            response = self._error(ApiError(500, "InternalError", f"Internal error occurred: {exc!r}"))
        entry["code"] = response.status
        latency = self.cluster.faults.get("latency_ms") or 0
        if latency:
            await asyncio.sleep(latency / 1000)
        return response

    async def _guarded(self, request: web.Request, handler, entry: dict):
        user = self._authenticate(request)
        entry["user"] = user.name
        if "Impersonate-User" in request.headers or "Impersonate-Group" in request.headers:
            user = self._impersonate(request, user)
            entry["impersonated_user"] = {"username": user.name, "groups": list(user.groups)}
        info = self._request_info(request)
        if info is not None:
            # RequestInfo: /api/v1/namespaces/<name> is a request in namespace <name> (authz, audit objectRef).
            scope = info.namespace or (info.name if (info.resource.group, info.resource.plural) == ("", "namespaces")
                                       else None)
            entry.update(verb=info.verb, resource=info.resource.plural, subresource=info.subresource,
                         namespace=scope, name=info.name)
            res_name = f"{info.resource.plural}/{info.subresource}" if info.subresource else info.resource.plural
            if not user.allows(info.verb, info.resource.group, res_name, scope, info.name):
                raise _forbidden(user.name, info, res_name, scope)
            self._inject_faults(info, request)
        request["info"] = info
        return await handler(request)

    def _authenticate(self, request: web.Request) -> User:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        user = self.users.get(token) if token else None
        if user is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return self._identity(user.name, list(user.groups), user)

    def _identity(self, username: str, groups: list, declared: User | None = None) -> User:
        """Effective RBAC: the user's own rules plus its groups' (system:masters or the admin: everything)."""
        if declared is None:
            declared = next((u for u in self.users.values() if u.name == username), None)
        if "system:masters" in groups or (declared is not None and declared.rules is None):
            return User(username, None, tuple(groups))
        rules = list(declared.rules if declared else [])
        for group in groups:
            rules += self.groups.get(group) or []
        return User(username, rules, tuple(groups))

    def _impersonate(self, request: web.Request, requester: User) -> User:
        """apiserver endpoints/filters/impersonation: each Impersonate-Group header value is one group (Go's
        Header values, never split on commas); every requested identity needs `impersonate` on users / groups /
        serviceaccounts, by name; the impersonated user then gets its own RBAC."""
        username = request.headers.get("Impersonate-User", "")
        groups = request.headers.getall("Impersonate-Group", [])
        if not username:
            if groups:
                raise ApiError(400, "BadRequest", f"requested {[{'Kind': 'Group', 'Name': g} for g in groups]} "
                                                  "without impersonating a user")
            return requester
        sa = username.split(":")
        if len(sa) == 4 and sa[:2] == ["system", "serviceaccount"]:
            wanted = [("serviceaccounts", sa[2], sa[3])]
            if not groups:
                groups = ["system:serviceaccounts", f"system:serviceaccounts:{sa[2]}"]
        else:
            wanted = [("users", None, username)]
        wanted += [("groups", None, g) for g in request.headers.getall("Impersonate-Group", [])]
        for resource, namespace, name in wanted:
            if not requester.allows("impersonate", "", resource, namespace, name):
                scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
                raise ApiError(403, "Forbidden", f'{resource} "{name}" is forbidden: User "{requester.name}" cannot '
                                                 f'impersonate resource "{resource}" in API group "" {scope}',
                               {"name": name, "kind": resource})
        if "system:authenticated" not in groups and "system:unauthenticated" not in groups:
            groups = [*groups, "system:authenticated"]
        return self._identity(username, groups)

    def _inject_faults(self, info: Request, request: web.Request) -> None:
        faults, rng = self.cluster.faults, self.cluster.rng
        for code, rate in (faults.get("api_errors") or {}).items():
            if rate and rng.random() < float(rate):
                code = int(code)
                reason = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
                          504: "Timeout"}.get(code, "InternalError")
                retry = faults.get("retry_after") if code in (429, 503) else None
                raise ApiError(code, reason, f"kubesim injected fault: {reason}",
                               {"retryAfterSeconds": retry} if retry else None, retry_after=retry)
        if info.verb in ("update", "patch") and info.name:
            if faults.get("conflict_rate") and rng.random() < faults["conflict_rate"]:
                raise _conflict(info)
            if faults.get("conflict_first_write"):
                seen = self.cluster.__dict__.setdefault("_conflicted", set())
                key = (info.resource.plural, info.namespace, info.name)
                if key not in seen:
                    seen.add(key)
                    raise _conflict(info)

    @staticmethod
    def _error(exc: ApiError) -> web.Response:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return web.json_response(exc.status(), status=exc.code, headers=headers)

    # -- routing -----------------------------------------------------------------------------
    def _request_info(self, request: web.Request) -> Request | None:
        parts = [p for p in request.path.split("/") if p]
        if parts[:1] == ["api"] and len(parts) >= 3:
            group, rest = "", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, rest = parts[1], parts[3:]
        else:
            return None
        watch_prefix = rest[:1] == ["watch"]
        if watch_prefix:
            rest = rest[1:]
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and (group, rest[2]) in BY_PLURAL:
            namespace, rest = rest[1], rest[2:]
        if not rest or (group, rest[0]) not in BY_PLURAL:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resource = BY_PLURAL[(group, rest[0])]
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        if subresource and subresource not in resource.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        method = request.method
        if method == "GET":
            is_watch = watch_prefix or request.query.get("watch") in ("true", "1")
            verb = "watch" if is_watch else ("get" if name else "list")
        else:
            verb = {"POST": "create", "PUT": "update", "PATCH": "patch",
                    "DELETE": "delete" if name else "deletecollection"}.get(method, method.lower())
        return Request(verb, resource, namespace, name, subresource)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path.startswith("/_kubesim/"):
            return await self._control(request, path)
        info: Request | None = request.get("info")
        if info is None:
            return self._discovery(request, path)
        if info.verb == "watch":
            return await self._watch(request, info)
        body = await request.read() if request.can_read_body else b""
        dry_run = request.query.get("dryRun") == "All"
        return self._serve(request, info, body, dry_run)

    def _serve(self, request: web.Request, info: Request, body: bytes, dry_run: bool) -> web.Response:
        c, res = self.cluster, info.resource
        if info.verb == "list":
            return self._list(request, info)
        if info.verb == "get":
            obj = c.get(res, info.namespace, info.name)
            if info.subresource == "scale":
                return web.json_response(_scale(obj))
            return self._object(request, res, obj)
        if info.verb == "create" and info.subresource == "eviction":
            return web.json_response(c.evict(info.namespace, info.name, _json(body), dry_run, admit=True), status=201)
        if info.verb == "create":
            if info.name:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                                                        "resource")
            return self._object(request, res, c.create(res, _json(body), info.namespace, dry_run, admit=True), 201)
        if info.subresource == "scale":
            return self._scale_write(info, body, request, dry_run)
        if info.verb == "update":
            return self._object(request, res, c.update(res, info.namespace, info.name, _json(body),
                                                       info.subresource, dry_run, admit=True))
        if info.verb == "patch":
            content_type = request.headers.get("Content-Type", "application/json")
            return self._object(request, res, c.patch(res, info.namespace, info.name, body, content_type,
                                                      info.subresource, dry_run, admit=True))
        if info.verb == "delete":
            options = {**(_json(body) if body else {}), **_delete_query(request)}
            code, obj = c.delete(res, info.namespace, info.name, options, dry_run, admit=True)
            # handlers/delete.go answers 200 (202 only for orphanDependents=false); an object deleted at once is
            # answered with a Status unless its registry sets ReturnDeletedObject (store.go finalizeDelete).
            if code == 200 and res.plural not in _RETURNS_DELETED_OBJECT:
                meta = obj["metadata"]
                return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                          "details": {"name": meta["name"], **({"group": res.group} if res.group
                                                                              else {}),
                                                      "kind": res.plural, "uid": meta["uid"]}})
            return self._object(request, res, obj, 202 if code == 202 and options.get("orphanDependents") is False
                                else 200)
        if info.verb == "deletecollection":
            items, _ = self._select(request, info)
            options = {**(_json(body) if body else {}), **_delete_query(request)}
            deleted = [c.delete(res, info.namespace if res.namespaced else None, o["metadata"]["name"], options,
                                dry_run, admit=True)[1] for o in items]
            return web.json_response({"kind": res.list_kind, "apiVersion": res.api_version,
                                      "metadata": {"resourceVersion": str(c.store.rv)}, "items": deleted})
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _scale_write(self, info: Request, body: bytes, request: web.Request, dry_run: bool) -> web.Response:
        c, res = self.cluster, info.resource
        obj = c.get(res, info.namespace, info.name)
        if info.verb == "patch":
            from . import patch
            scale = patch.apply_patch(_scale(obj), body, request.headers.get("Content-Type", ""), "Scale")
        else:
            scale = _json(body)
        replicas = int((scale.get("spec") or {}).get("replicas", 0))
        updated = c.update(res, info.namespace, info.name, {**obj, "spec": {**obj["spec"], "replicas": replicas}},
                           "scale", dry_run, admit=True)
        return web.json_response(_scale(updated))

    # -- reads -------------------------------------------------------------------------------
    def _select(self, request: web.Request, info: Request, start: tuple | None = None,
                limit: int = 0) -> tuple[list[dict], int | None]:
        """Matching objects in etcd key order after `start`, at most `limit` (0: all), and how
        many keys in scope remain after the last one returned (None when the page is not full)."""
        try:
            labels = parse_label_selector(request.query.get("labelSelector"))
            fields = parse_field_selector(request.query.get("fieldSelector"))
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {exc}") from None
        allowed = {"metadata.name", "metadata.namespace"} | set(info.resource.field_selectors)
        for name, _, _ in fields:
            if name not in allowed:
                raise ApiError(400, "BadRequest", f'field label not supported: {name}')
        store, res, namespace = self.cluster.store, info.resource, info.namespace
        keys = store.keys(res)
        lo = bisect.bisect_right(keys, start) if start else bisect.bisect_left(keys, (namespace or "", ""))
        hi = bisect.bisect_left(keys, (namespace, "\U0010ffff")) if namespace else len(keys)
        out = []
        for index in range(lo, hi):
            obj = store.get(res, *keys[index])
            if matches(labels, obj["metadata"].get("labels")) and (not fields or match_fields(fields, obj)):
                out.append(obj)
                if limit and len(out) == limit:
                    return out, hi - index - 1
        return out, None

    def _predicate(self, request: web.Request, info: Request):
        labels = parse_label_selector(request.query.get("labelSelector"))
        fields = parse_field_selector(request.query.get("fieldSelector"))
        name = info.name
        return lambda o: ((name is None or o["metadata"]["name"] == name)
                          and matches(labels, o["metadata"].get("labels"))
                          and (not fields or match_fields(fields, o)))

    def _as_of(self, request: web.Request, info: Request, items: list[dict], past: dict, start: tuple) -> list[dict]:
        """The selected items after `start` as they were before the writes in `past` (Store.changed_since): a
        continued list reads the snapshot of its first page (etcd at the continue token's revision)."""
        keep = self._predicate(request, info)
        by_key = {k: o for o in items if (k := (o["metadata"].get("namespace", ""), o["metadata"]["name"])) not in past}
        for key, obj in past.items():
            if obj is not None and key > start and (not info.namespace or key[0] == info.namespace) and keep(obj):
                by_key[key] = obj
        return [by_key[k] for k in sorted(by_key)]

    def _list(self, request: web.Request, info: Request) -> web.Response:
        store, res, query = self.cluster.store, info.resource, request.query
        limit = int(query.get("limit") or 0)
        start, list_rv = None, store.rv
        if query.get("continue"):
            try:
                token = json.loads(base64.urlsafe_b64decode(query["continue"] + "==="))
                start, list_rv = tuple(token["start"].split("\x00")[0].split("/", 1)), int(token["rv"])
            except (ValueError, KeyError, TypeError):
                raise ApiError(400, "BadRequest", "continue key is not valid: incorrect encoded start "
                                                  "resourceVersion (version meta.k8s.io/v1)") from None
            if store.too_old(res, list_rv):
                raise ApiError(410, "Expired", "The provided continue parameter is too old to display a consistent "
                                               "list result. You can start a new list without the continue "
                                               "parameter.")
        past = store.changed_since(res, list_rv) if start is not None else None
        if past:  # written since the first page: serve the snapshot at list_rv
            items = self._as_of(request, info, self._select(request, info, start)[0], past, start)
            remaining = len(items) - limit if limit and len(items) > limit else None
            items = items[:limit] if limit else items
        else:
            items, remaining = self._select(request, info, start, limit)
        meta = {"resourceVersion": str(list_rv)}
        if remaining:
            last = items[-1]["metadata"]
            key = f"{last.get('namespace', '')}/{last['name']}\x00"
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"v": "meta.k8s.io/v1", "rv": list_rv, "start": key}).encode()).decode().rstrip("=")
            if not query.get("labelSelector") and not query.get("fieldSelector"):
                meta["remainingItemCount"] = remaining
        accept = request.headers.get("Accept", "")
        if "as=Table" in accept:
            return _json_response(tables.to_table(res.kind, items, _now_dt(self.cluster), _include(request), meta),
                                  "application/json;as=Table;v=v1;g=meta.k8s.io")
        if "as=PartialObjectMetadataList" in accept:
            return _json_response({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                                   "metadata": meta, "items": [_partial(o) for o in items]},
                                  "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io")
        if res.group not in CRD_GROUPS:  # typed lists carry no TypeMeta on their items
            items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items]
        return _json_response({"kind": res.list_kind, "apiVersion": res.api_version, "metadata": meta,
                               "items": items})

    def _object(self, request: web.Request, res: Resource, obj: dict, status: int = 200) -> web.Response:
        accept = request.headers.get("Accept", "")
        if "as=Table" in accept and request.method == "GET":
            return _json_response(tables.to_table(res.kind, [obj], _now_dt(self.cluster), _include(request)),
                                  "application/json;as=Table;v=v1;g=meta.k8s.io")
        if "as=PartialObjectMetadata" in accept and request.method == "GET":
            return _json_response(_partial(obj), "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io")
        return _json_response(obj, status=status)

    async def _watch(self, request: web.Request, info: Request) -> web.StreamResponse:
        store, res, query = self.cluster.store, info.resource, request.query
        try:
            predicate = self._predicate(request, info)
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {exc}") from None
        rv_param = query.get("resourceVersion")
        faults = self.cluster.faults
        response = web.StreamResponse(headers={"Content-Type": "application/json",
                                               "Transfer-Encoding": "chunked"})
        await response.prepare(request)
        table = "as=Table" in request.headers.get("Accept", "")

        async def send(kind: str, obj: dict) -> None:
            if table and kind not in ("ERROR", "BOOKMARK"):
                obj = tables.to_table(res.kind, [obj], _now_dt(self.cluster), _include(request))
            await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

        since = None
        if rv_param not in (None, "", "0"):
            since = int(rv_param)
            if faults.get("watch_gone") or store.too_old(res, since):
                # A too-old resourceVersion answers 200 and one ERROR event with 410 (cacher.go).
                await send("ERROR", ApiError(410, "Expired", f"too old resource version: {since} "
                                                             f"({store.rv})").status())
                return response
        watcher = store.watch(res, info.namespace, predicate, since)
        try:
            if since is None:  # "Get State and Start at Most Recent": synthetic ADDED for what exists
                for obj in self._select(request, info)[0] if info.name is None else [
                        o for o in [store.get(res, info.namespace, info.name)] if o]:
                    await send("ADDED", obj)
                if query.get("sendInitialEvents") == "true":
                    await send("BOOKMARK", _bookmark(res, store.rv, initial_end=True))
            timeout = float(query.get("timeoutSeconds") or 1800)
            if faults.get("watch_drop_after"):
                timeout = min(timeout, float(faults["watch_drop_after"]))
            deadline = time.monotonic() + timeout
            bookmarks = query.get("allowWatchBookmarks") == "true"
            last_rv = since or store.rv
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    kind, obj, rv = await asyncio.wait_for(watcher.queue.get(), min(remaining, 5.0))
                except asyncio.TimeoutError:
                    if bookmarks:
                        await send("BOOKMARK", _bookmark(res, max(last_rv, store.rv)))
                    continue
                last_rv = rv
                await send(kind, obj)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            store.unwatch(watcher)
        return response

    # -- discovery ---------------------------------------------------------------------------
    def _discovery(self, request: web.Request, path: str) -> web.Response:
        accept = request.headers.get("Accept", "")
        if path == "/version":
            v = self.cluster.version.lstrip("v").split(".")
            return web.json_response({"major": v[0], "minor": v[1], "gitVersion": self.cluster.version,
                                      "gitCommit": "kubesim", "gitTreeState": "clean",
                                      "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.6",
                                      "compiler": "gc", "platform": "linux/amd64"})
        if path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok")
        by_group = groups()
        version = _aggregated_version(accept)
        if path in ("/api", "/apis") and version:
            # kubectl ≤ 1.29 asks for v2beta1, later ones for v2 first; same shape.
            wanted = [g for g in by_group if (g == "") == (path == "/api")]
            return _json_response({"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
                                   "metadata": {}, "items": [_group_discovery(g, by_group[g]) for g in wanted]},
                                  f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList")
        if path == "/api":
            return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}]})
        if path == "/apis":
            return web.json_response({"kind": "APIGroupList", "apiVersion": "v1",
                                      "groups": [_api_group(g, rs) for g, rs in by_group.items() if g]})
        parts = [p for p in path.split("/") if p]
        if parts == ["api", "v1"]:
            return web.json_response(_resource_list("", "v1", by_group[""]))
        if len(parts) == 2 and parts[0] == "apis" and parts[1] in by_group:
            return web.json_response({"kind": "APIGroup", "apiVersion": "v1", **_api_group(parts[1],
                                                                                           by_group[parts[1]])})
        if len(parts) == 3 and parts[0] == "apis" and parts[1] in by_group:
            rs = [r for r in by_group[parts[1]] if r.version == parts[2]]
            if rs:
                return web.json_response(_resource_list(parts[1], parts[2], rs))
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    # -- control surface for tests (not Kubernetes API) --------------------------------------
    async def _control(self, request: web.Request, path: str) -> web.Response:
        c = self.cluster
        if path == "/_kubesim/audit":
            since = int(request.query.get("since", 0))
            return web.json_response({"items": self.audit[since:], "next": len(self.audit)})
        if path == "/_kubesim/faults":
            if request.method == "POST":
                body = await request.json()
                unknown = sorted(set(body) - set(c.faults) - {"compact"})
                if unknown:
                    return web.json_response({"error": f"unknown fault knobs: {unknown}; valid: "
                                                       f"{sorted(c.faults)}"}, status=400)
                if body.pop("compact", False):
                    c.store.compact()
                try:
                    c.set_faults(body)
                except ValueError as exc:
                    return web.json_response({"error": str(exc)}, status=400)
                if body.get("unreachable_seconds"):
                    c.unreachable_until = time.monotonic() + float(body["unreachable_seconds"])
            return web.json_response(c.faults)
        if path == "/_kubesim/state":
            pods = c.store.objects(POD)
            return web.json_response({
                "sim_time": c.clock.now(), "last_activity": c.last_activity, "resource_version": c.store.rv,
                "queue": len(c.queue), "pending_timers": len(c.clock._timers), "watchers": c.store.watcher_count(),
                "objects": {r.plural: c.store.count(r) for r in RESOURCES},
                "pods_ready": sum(1 for p in pods if _ready(p)), "pods": len(pods),
                "pods_terminating": sum(1 for p in pods if p["metadata"].get("deletionTimestamp")),
                "pods_injected": sum(1 for p in pods
                                     if "sidecar.istio.io/status" in (p["metadata"].get("annotations") or {}))})
        return web.json_response({"error": "unknown control path"}, status=404)


# -- helpers ---------------------------------------------------------------------------------
def _ready(pod: dict) -> bool:
    from .cluster import pod_ready
    return pod_ready(pod)


def _json(body: bytes) -> dict:
    try:
        value = json.loads(body or b"{}")
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"the body of the request was in an unknown format: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "BadRequest", "the body of the request must be a JSON object")
    return value


def _json_response(body: dict, content_type: str = "application/json", status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), status=status,
                        headers={"Content-Type": content_type})


def _delete_query(request: web.Request) -> dict:
    q, out = request.query, {}
    if "gracePeriodSeconds" in q:
        out["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
    if "propagationPolicy" in q:
        out["propagationPolicy"] = q["propagationPolicy"]
    return out


def _include(request: web.Request) -> str:
    return request.query.get("includeObject", "Metadata")


def _now_dt(cluster: Cluster):
    import datetime
    return datetime.datetime.fromtimestamp(cluster.clock.now(), datetime.timezone.utc)


def _partial(obj: dict) -> dict:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def _bookmark(res: Resource, rv: int, initial_end: bool = False) -> dict:
    meta = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": res.kind, "apiVersion": res.api_version, "metadata": meta}


def _scale(obj: dict) -> dict:
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: obj["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                          "creationTimestamp") if k in obj["metadata"]},
            "spec": {"replicas": obj["spec"].get("replicas", 1)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0)}}


def _forbidden(user: str, info: Request, res_name: str, namespace: str | None) -> ApiError:
    """responsewriters.Forbidden: NewForbidden(group/resource, name, forbiddenMessage(attributes))."""
    group = info.resource.group
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    subject = f'{info.resource.plural}{"." + group if group else ""}'
    named = f' "{info.name}"' if info.name else ""
    return ApiError(403, "Forbidden", f'{subject}{named} is forbidden: User "{user}" cannot {info.verb} resource '
                                      f'"{res_name}" in API group "{group}" {scope}',
                    {"name": info.name, "group": group, "kind": info.resource.plural})


def _conflict(info: Request) -> ApiError:
    from .store import conflict
    return conflict(info.resource, info.name)


def _aggregated_version(accept: str) -> str | None:
    """The first aggregated-discovery version the client accepts, in its order of preference."""
    for media in accept.split(","):
        params = dict(p.strip().split("=", 1) for p in media.split(";")[1:] if "=" in p)
        if params.get("as") == "APIGroupDiscoveryList" and params.get("v") in ("v2", "v2beta1"):
            return params["v"]
    return None


def _verbs(res: Resource) -> list[str]:
    return sorted(res.verbs)


def _resource_list(group: str, version: str, resources: list[Resource]) -> dict:
    out = []
    for r in resources:
        out.append({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
                    "verbs": _verbs(r), **({"shortNames": list(r.short_names)} if r.short_names else {}),
                    **({"categories": list(r.categories)} if r.categories else {})})
        for sub in r.subresources:
            g, v, kind = SUBRESOURCE_KIND.get(sub, (r.group, r.version, r.kind))
            entry = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced, "kind": kind,
                     "verbs": list(SUBRESOURCE_VERBS[sub])}
            if sub in SUBRESOURCE_KIND:
                entry.update(group=g, version=v)
            out.append(entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version,
            "resources": out}


def _api_group(group: str, resources: list[Resource]) -> dict:
    versions = sorted({r.version for r in resources}, reverse=True)
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def _group_discovery(group: str, resources: list[Resource]) -> dict:
    versions = []
    for version in sorted({r.version for r in resources}, reverse=True):
        entries = []
        for r in (r for r in resources if r.version == version):
            entry = {"resource": r.plural, "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                     "scope": "Namespaced" if r.namespaced else "Cluster", "singularResource": r.singular,
                     "verbs": _verbs(r)}
            if r.short_names:
                entry["shortNames"] = list(r.short_names)
            if r.categories:
                entry["categories"] = list(r.categories)
            subs = []
            for sub in r.subresources:
                g, v, kind = SUBRESOURCE_KIND.get(sub, (r.group, r.version, r.kind))
                subs.append({"subresource": sub, "responseKind": {"group": g, "version": v, "kind": kind},
                             "verbs": list(SUBRESOURCE_VERBS[sub])})
            if subs:
                entry["subresources"] = subs
            entries.append(entry)
        versions.append({"version": version, "resources": entries, "freshness": "Current"})
    return {"metadata": {"name": group, "creationTimestamp": None}, "versions": versions}


def not_found_for(res: Resource, name: str) -> ApiError:
    return not_found(res, name)

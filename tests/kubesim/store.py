"""In-memory object store with etcd-like resourceVersions, watch history and compaction.

Stored objects are never mutated in place: every write stores a new dict, so readers, watch
history and list pages can hold references safely.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Callable

from .resources import Resource

Key = tuple[str, str]  # (namespace or "", name)
HISTORY_WINDOW = 200_000  # events kept per resource for watch resumption before 410 Gone


class ApiError(Exception):
    """An error answered as a metav1.Status (api-conventions.md, "Response Status Kind")."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None,
                 retry_after: int | None = None):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details, self.retry_after = details, retry_after

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        details = {k: v for k, v in (self.details or {}).items() if v}  # StatusDetails fields are omitempty
        if details:
            body["details"] = details
        return body


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{res.plural}{_group_suffix(res)} "{name}" not found',
                    {"name": name, "group": res.group, "kind": res.plural})


def conflict(res: Resource, name: str) -> ApiError:
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {res.plural}{_group_suffix(res)} "{name}": '
                    "the object has been modified; please apply your changes to the latest version "
                    "and try again", {"name": name, "group": res.group, "kind": res.plural})


def _group_suffix(res: Resource) -> str:
    return f".{res.group}" if res.group else ""


@dataclass
class Event:
    rv: int
    type: str  # ADDED / MODIFIED / DELETED
    obj: dict
    old: dict | None


@dataclass(eq=False)
class Watcher:
    resource: Resource
    namespace: str | None
    predicate: Callable[[dict], bool]
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)

    def offer(self, event: Event) -> None:
        if self.namespace and event.obj["metadata"].get("namespace") != self.namespace:
            return
        now_matches = self.predicate(event.obj)
        was_matching = event.old is not None and self.predicate(event.old)
        # The watch cache turns selector transitions into ADDED/DELETED (storage/cacher).
        if event.type == "MODIFIED":
            kind = ("MODIFIED" if was_matching else "ADDED") if now_matches else (
                "DELETED" if was_matching else None)
        else:
            kind = event.type if now_matches else None
        obj = event.obj
        if kind == "DELETED" and event.type == "MODIFIED":
            # Leaving the selector: the previous (matching) object at the event's resourceVersion
            # (cacher.go cacheWatcher.convertToWatchEvent).
            obj = {**event.old, "metadata": {**event.old["metadata"], "resourceVersion": str(event.rv)}}
        if kind:
            self.queue.put_nowait((kind, obj, event.rv))


class Store:
    def __init__(self, now: Callable[[], str]):
        self._now = now
        self._rv = itertools.count(1)
        self.rv = 0
        self._objects: dict[Resource, dict[Key, dict]] = collections.defaultdict(dict)
        # namespace → {key: object}: controllers read one namespace at a time (istio-system's istiod
        # pods on every pod admission), which must not cost a scan of every pod in the cluster.
        self._by_namespace: dict[Resource, dict[str, dict[Key, dict]]] = collections.defaultdict(dict)
        self._sorted: dict[Resource, list[Key] | None] = {}
        self._history: dict[Resource, collections.deque] = collections.defaultdict(
            lambda: collections.deque(maxlen=HISTORY_WINDOW))
        self._compacted: dict[Resource, int] = collections.defaultdict(int)
        self._compacted_all = 0  # etcd compaction is global: every resource's older revisions are gone
        self._watchers: dict[Resource, set[Watcher]] = collections.defaultdict(set)
        self._listeners: list[Callable[[Resource, Event], None]] = []
        self.recording = True  # off while a scenario loads: no history, no watchers yet
        # owner uid → dependents, for garbage collection (ownerReferences).
        self.dependents: dict[str, set[tuple[Resource, Key]]] = collections.defaultdict(set)

    # -- reads -------------------------------------------------------------------------------
    def get(self, res: Resource, namespace: str | None, name: str) -> dict | None:
        return self._objects[res].get((namespace or "", name))

    def keys(self, res: Resource) -> list[Key]:
        """Keys in etcd order (/registry/<res>/<ns>/<name>), cached until a create/delete."""
        cached = self._sorted.get(res)
        if cached is None:
            cached = self._sorted[res] = sorted(self._objects[res])
        return cached

    def objects(self, res: Resource, namespace: str | None = None) -> list[dict]:
        if namespace is None:
            return list(self._objects[res].values())
        return list(self._by_namespace[res].get(namespace, {}).values())

    def count(self, res: Resource) -> int:
        return len(self._objects[res])

    # -- writes ------------------------------------------------------------------------------
    def _next_rv(self) -> int:
        self.rv = next(self._rv)
        return self.rv

    def insert(self, res: Resource, obj: dict) -> dict:
        meta = obj["metadata"]
        key = (meta.get("namespace", "") if res.namespaced else "", meta["name"])
        rv = self._next_rv()
        meta = {**meta, "uid": meta.get("uid") or str(uuid.uuid4()), "resourceVersion": str(rv),
                "creationTimestamp": meta.get("creationTimestamp") or self._now()}
        if res.has_generation:
            meta["generation"] = 1
        stored = {**obj, "apiVersion": res.api_version, "kind": res.kind, "metadata": meta}
        self._objects[res][key] = stored
        self._by_namespace[res].setdefault(key[0], {})[key] = stored
        self._sorted[res] = None
        self._index_owners(res, key, None, stored)
        self._emit(res, Event(rv, "ADDED", stored, None))
        return stored

    def replace(self, res: Resource, new: dict) -> dict:
        meta = new["metadata"]
        key = (meta.get("namespace", "") if res.namespaced else "", meta["name"])
        old = self._objects[res][key]
        rv = self._next_rv()
        stored = {**new, "apiVersion": res.api_version, "kind": res.kind,
                  "metadata": {**meta, "resourceVersion": str(rv)}}
        self._objects[res][key] = stored
        self._by_namespace[res][key[0]][key] = stored
        self._index_owners(res, key, old, stored)
        self._emit(res, Event(rv, "MODIFIED", stored, old))
        return stored

    def remove(self, res: Resource, namespace: str | None, name: str) -> dict:
        key = (namespace or "", name)
        old = self._objects[res].pop(key)
        in_namespace = self._by_namespace[res][key[0]]
        del in_namespace[key]
        if not in_namespace:
            del self._by_namespace[res][key[0]]
        self._sorted[res] = None
        rv = self._next_rv()
        # A DELETED event carries the object at its deletion resourceVersion.
        final = {**old, "metadata": {**old["metadata"], "resourceVersion": str(rv)}}
        self._index_owners(res, key, old, None)
        self._emit(res, Event(rv, "DELETED", final, old))
        return final

    def _index_owners(self, res: Resource, key: Key, old: dict | None, new: dict | None) -> None:
        old_uids = {r["uid"] for r in (old or {}).get("metadata", {}).get("ownerReferences") or []}
        new_uids = {r["uid"] for r in (new or {}).get("metadata", {}).get("ownerReferences") or []}
        for uid in old_uids - new_uids:
            self.dependents[uid].discard((res, key))
            if not self.dependents[uid]:
                del self.dependents[uid]
        for uid in new_uids - old_uids:
            self.dependents[uid].add((res, key))

    # -- events ------------------------------------------------------------------------------
    def _emit(self, res: Resource, event: Event) -> None:
        if self.recording:
            history = self._history[res]
            if len(history) == history.maxlen:
                self._compacted[res] = history[0].rv
            history.append(event)
        for watcher in list(self._watchers[res]):
            watcher.offer(event)
        for listener in self._listeners:
            listener(res, event)

    def add_listener(self, listener: Callable[[Resource, Event], None]) -> None:
        self._listeners.append(listener)

    def compact(self) -> None:
        """Forget all history, as etcd compaction does: older resourceVersions get 410 Gone."""
        for res, history in self._history.items():
            history.clear()
            self._compacted[res] = self.rv
        self._compacted_all = self.rv

    def too_old(self, res: Resource, rv: int) -> bool:
        return rv < max(self._compacted[res], self._compacted_all)

    def changed_since(self, res: Resource, rv: int) -> dict[Key, dict | None]:
        """Objects written after `rv`, as they were at `rv` (None: absent then), from the history: what an etcd
        read at revision `rv` sees for them (the caller checked too_old)."""
        past: dict[Key, dict | None] = {}
        for event in reversed(self._history[res]):  # newest first: the earliest event after rv is kept
            if event.rv <= rv:
                break
            meta = event.obj["metadata"]
            past[(meta.get("namespace", "") if res.namespaced else "", meta["name"])] = event.old
        return past

    def watch(self, res: Resource, namespace: str | None, predicate: Callable[[dict], bool],
              since_rv: int | None) -> Watcher:
        """Register a watcher; replay history after since_rv (the caller checked too_old)."""
        watcher = Watcher(res, namespace, predicate)
        if since_rv is not None:
            for event in self._history[res]:
                if event.rv > since_rv:
                    watcher.offer(event)
        self._watchers[res].add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers[watcher.resource].discard(watcher)

    def watcher_count(self) -> int:
        return sum(len(w) for w in self._watchers.values())

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collections of compact records kept current by watches, like a client-go informer.

Each collection is listed once (raw JSON, paginated) and then followed by a background watch
from the list's resourceVersion: a stream that ends is resumed from the last resourceVersion
seen, a 410 Gone relists. API cost is one list plus a watch per collection, however long the wait.
"""

from __future__ import annotations

import threading
import time

from ansible_collections.servicemesh.asm.plugins.module_utils.client import KubeError, WatchExpired

WATCH_SECONDS = 50  # per stream; the server may end it earlier, we then resume
BROKEN = "broken"  # the status of an error that is not the API server's: relisting cannot recover it
BROKEN_LIMIT = 3  # unexpected watch errors in a row before giving up
FATAL_STATUSES = (401, 403, 404, BROKEN)  # refused for these stays refused: the wait must end, naming it


class Collection(object):
    """One resource in one scope (a namespace, or the cluster filtered to some namespaces)."""

    def __init__(self, client, path, transform, namespaces=None, changed=None, description=None):
        self.client = client
        self.path = path
        self.transform = transform
        self.namespaces = set(namespaces) if namespaces is not None else None
        self.changed = changed or threading.Event()
        self.description = description or path
        self.items = {}
        self._by_namespace = {}  # namespace -> {name: record}: per-namespace reads stay O(pods there)
        self.resource_version = None
        self.error = None
        self.relists = 0
        self.broken = 0  # unexpected errors in a row
        self._stop = threading.Event()
        self._answered = threading.Event()  # the first watch was accepted or refused
        self._thread = None
        self._lock = threading.Lock()

    def _keep(self, obj):
        return self.namespaces is None or obj["metadata"].get("namespace") in self.namespaces

    def _entry(self, obj):
        if not self._keep(obj):
            return None
        return (obj["metadata"].get("namespace"), obj["metadata"]["name"]), self.transform(obj)

    def load(self):
        # Records are made page by page: raw pods never pile up in memory.
        entries, version = self.client.list_with_version(self.path, transform=self._entry,
                                                         action="list " + self.description)
        items = dict(e for e in entries if e is not None)
        by_namespace = {}
        for (namespace, name), record in items.items():
            by_namespace.setdefault(namespace, {})[name] = record
        with self._lock:
            self.items, self._by_namespace, self.resource_version = items, by_namespace, version
        self.changed.set()

    def values(self, namespace=None):
        with self._lock:
            if namespace is None:
                return list(self.items.values())
            return list(self._by_namespace.get(namespace, {}).values())

    def get(self, namespace, name):
        with self._lock:
            return self.items.get((namespace, name))

    def _store(self, namespace, name, record):
        with self._lock:
            if record is None:
                self.items.pop((namespace, name), None)
                self._by_namespace.get(namespace, {}).pop(name, None)
            else:
                self.items[(namespace, name)] = record
                self._by_namespace.setdefault(namespace, {})[name] = record

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="watch " + self.description)
            self._thread.daemon = True
            self._thread.start()

    def stop(self):
        self._stop.set()

    def _follow(self):
        while not self._stop.is_set():
            try:
                for event in self.client.watch(self.path, self.resource_version, timeout_seconds=WATCH_SECONDS,
                                               action="watch " + self.description, on_open=self._answered.set):
                    if self._stop.is_set():
                        return
                    self._apply(event)
                self.error = None
                self.broken = 0
            except WatchExpired:
                self.relists += 1
                self._relist()
            except KubeError as exc:
                self._failed(exc)
            except Exception as exc:  # pylint: disable=broad-except
                # A garbled event or a record that cannot be made: the thread must not die silently
                # (the wait would go on blind). Relist to recover; if that keeps failing, it is fatal.
                self.broken += 1
                self._failed(KubeError("The watch of %s broke: %s: %s" % (self.description, type(exc).__name__, exc),
                                       status=None if self.broken < BROKEN_LIMIT else BROKEN))
                self.relists += 1
                self._relist()

    def _failed(self, exc):
        self.error = exc
        self._answered.set()
        self.changed.set()
        self._stop.wait(1.0)

    def wait_answered(self, timeout):
        """Until the server has accepted or refused the first watch (or `timeout` seconds)."""
        self._answered.wait(timeout)

    def _relist(self):
        try:
            self.load()
        except KubeError as exc:
            self._failed(exc)
        except Exception as exc:  # pylint: disable=broad-except
            self._failed(KubeError("Listing %s failed: %s: %s" % (self.description, type(exc).__name__, exc),
                                   status=BROKEN))

    @property
    def fatal_error(self):
        """The last watch or relist error if retrying cannot help (credentials refused, resource gone)."""
        error = self.error
        return error if error is not None and error.status in FATAL_STATUSES else None

    def _apply(self, event):
        obj = event.get("object") or {}
        meta = obj.get("metadata") or {}
        if meta.get("resourceVersion"):
            self.resource_version = meta["resourceVersion"]
        if event.get("type") == "BOOKMARK" or not self._keep(obj):
            return
        record = None if event["type"] == "DELETED" else self.transform(obj)
        self._store(meta.get("namespace"), meta.get("name"), record)
        self.changed.set()


class Union(object):
    """Several per-namespace collections seen as one."""

    def __init__(self, parts):
        self.parts = parts
        self.changed = parts[0].changed
        self.by_namespace = dict((p.path.split("/namespaces/")[1].split("/")[0], p) for p in parts)

    def load(self):
        for part in self.parts:
            part.load()

    def start(self):
        for part in self.parts:
            part.start()

    def stop(self):
        for part in self.parts:
            part.stop()

    @property
    def fatal_error(self):
        return next((p.fatal_error for p in self.parts if p.fatal_error is not None), None)

    def wait_answered(self, timeout):
        deadline = time.monotonic() + timeout
        for part in self.parts:
            part.wait_answered(max(0.0, deadline - time.monotonic()))

    @property
    def items(self):
        merged = {}
        for part in self.parts:
            merged.update(part.items)
        return merged

    @property
    def relists(self):
        return sum(p.relists for p in self.parts)

    def values(self, namespace=None):
        if namespace is not None:
            part = self.by_namespace.get(namespace)
            return part.values() if part else []
        return [v for p in self.parts for v in p.values()]

    def get(self, namespace, name):
        part = self.by_namespace.get(namespace)
        return part.get(namespace, name) if part else None

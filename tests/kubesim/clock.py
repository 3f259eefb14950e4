"""Simulated time: follows the wall clock (optionally faster) and can jump ahead while settling."""

from __future__ import annotations

import datetime
import functools
import heapq
import itertools
import time
from typing import Callable


@functools.lru_cache(maxsize=4096)
def _rfc3339_second(second: int) -> str:
    return datetime.datetime.fromtimestamp(second, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339(ts: float) -> str:
    return _rfc3339_second(int(ts))


def parse_rfc3339(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Clock:
    def __init__(self, speed: float = 1.0, start: float | None = None):
        self.speed = speed
        self._start = time.time() if start is None else start
        self._mono0 = time.monotonic()
        self._offset = 0.0
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._mono0) * self.speed + self._offset

    def iso(self, ts: float | None = None) -> str:
        return rfc3339(self.now() if ts is None else ts)

    def advance(self, seconds: float) -> None:
        self._offset += max(0.0, seconds)

    def shift(self, seconds: float) -> None:
        """Step the clock either way (a server clock offset); timers move along, keeping their delays."""
        self._offset += seconds
        self._timers = [(due + seconds, seq, fn) for due, seq, fn in self._timers]
        heapq.heapify(self._timers)

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (self.now() + max(0.0, delay), next(self._seq), fn))

    def next_due(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def pop_due(self) -> list[Callable[[], None]]:
        now, due = self.now(), []
        while self._timers and self._timers[0][0] <= now:
            due.append(heapq.heappop(self._timers)[2])
        return due

    def wall_seconds_until(self, sim_ts: float) -> float:
        return max(0.0, (sim_ts - self.now()) / self.speed)

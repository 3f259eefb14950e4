"""Per-pod timing read from kwok's stage annotations, so one scenario file drives kubesim and kwok alike.

kwok v0.8.0 `kustomize/stage/pod/general/`:
- `pod-ready.yaml`: delay `durationFrom .metadata.annotations["pod-ready.stage.kwok.x-k8s.io/delay"]`
  (default 1000 ms), `jitterDurationFrom ...["pod-ready.stage.kwok.x-k8s.io/jitter-delay"]` (default 5000 ms).
- `pod-delete.yaml`: delay from `...["pod-delete.stage.kwok.x-k8s.io/delay"]` (default 1000 ms), jitter from
  `.metadata.deletionTimestamp`, so the grace period's end bounds it.
`pkg/utils/lifecycle/value_duration_from.go` reads a value as an RFC 3339 time (meaning "until then") or a Go
duration; anything else falls back to the stage default. `lifecycle.go` `Stage.Delay`: jitter is an upper
bound, not an addition: jitter <= delay gives the jitter, else delay + rand[0, jitter - delay). So `delay` alone
means "between delay and 5 s" (the default jitter), and above 5 s it is cut to 5 s: kwok's trap, reproduced.
kubesim keeps its kubelet defaults when no annotation is set (kwok's 1-6 s would slow every test).
"""

from __future__ import annotations

import random
import re

from .clock import parse_rfc3339

READY_DELAY = "pod-ready.stage.kwok.x-k8s.io/delay"
READY_JITTER = "pod-ready.stage.kwok.x-k8s.io/jitter-delay"
DELETE_DELAY = "pod-delete.stage.kwok.x-k8s.io/delay"
READY_DEFAULTS = (1.0, 5.0)  # pod-ready.yaml durationMilliseconds, jitterDurationMilliseconds

# time.ParseDuration's units
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_duration(text: str) -> float | None:
    """Seconds of a Go duration ("12s", "1m30s", "1.5h", "0"), or None if Go would not parse it."""
    text = text.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(body):
        match = _PART.match(body, pos)
        if not match:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * total if body else None


def duration_from(annotations: dict, key: str, now: float) -> float | None:
    value = annotations.get(key)
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_rfc3339(value) - now
    except ValueError:
        return go_duration(value)


def stage_delay(delay: float, jitter: float | None, rng: random.Random) -> float:
    if jitter is None:
        return delay
    if jitter <= delay:
        return jitter
    return delay + rng.uniform(0, jitter - delay)


def ready_delay(pod: dict, now: float, rng: random.Random) -> float | None:
    """The pod's readiness delay if its annotations set one (either key), else None."""
    annotations = pod["metadata"].get("annotations") or {}
    delay = duration_from(annotations, READY_DELAY, now)
    jitter = duration_from(annotations, READY_JITTER, now)
    if delay is None and jitter is None:
        return None
    delay = READY_DEFAULTS[0] if delay is None else delay
    return max(0.0, stage_delay(delay, READY_DEFAULTS[1] if jitter is None else jitter, rng))


def delete_delay(pod: dict, now: float, deadline: float, rng: random.Random) -> float | None:
    """Seconds from now until a deleted pod's containers have exited, if its annotation sets a delay."""
    delay = duration_from(pod["metadata"].get("annotations") or {}, DELETE_DELAY, now)
    if delay is None:
        return None
    return max(0.0, stage_delay(delay, deadline - now, rng))

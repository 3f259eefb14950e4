"""Fixtures for the real-control-plane tier: the launcher as a subprocess, as `make cluster` runs it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/realcluster: launcher, build, users
sys.path.insert(0, str(HERE.parents[1] / "integration"))  # ansible_helpers (read-only use)

from realcluster_helpers import TIMINGS, RealClusterProcess  # noqa: E402


@pytest.fixture(scope="module")
def seed_cluster(tmp_path_factory):
    """A real control plane for scenario seed, shared by one module's tests, stopped at its end."""
    cluster = RealClusterProcess("seed", tmp_path_factory.mktemp("realcluster-seed"))
    cluster.start()
    yield cluster
    cluster.stop()


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.section("real control plane timings")
        for what, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{what}: {seconds:.1f} s")

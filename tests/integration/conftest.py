"""Fixtures for integration tests: a fresh kubesim process per test (a seed start takes ~0.5 s)."""

import pytest

from kubesim import testing


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a long fault-matrix case (make test runs it; QUICK=1 skips it)")


@pytest.fixture
def start_sim(tmp_path):
    """start_sim("canary", params={...}) → a running Sim, stopped after the test."""
    sims = []

    def _start(scenario="seed", **kwargs):
        sim = testing.start(scenario, tmp_path / f"sim{len(sims)}", **kwargs)
        sims.append(sim)
        return sim

    yield _start
    for sim in sims:
        sim.stop()


@pytest.fixture
def seed(start_sim):
    return start_sim("seed")

"""Fixtures for integration tests, against one of two clusters (`--cluster`):

- `kubesim` (the default): a fresh kubesim process per test (a seed start takes ~0.5 s).
- `real`: the real control plane of tests/realcluster (kube-apiserver, controller-manager, scheduler,
  etcd, kwok nodes, a real istiod per revision), one per scenario for the whole session, its
  namespaces reset before each test (realsim.py).  `make integration-real` runs it.

Markers: `kubesim_only(reason)` -- the test needs kubesim (its fault knobs, a custom scenario, or it
is a duplicate not worth the real cluster's time; the reason says which) and is skipped on the real
cluster; `real_only(reason)` -- a fault only the real cluster produces for real, skipped on kubesim.
Tests that use no cluster at all, and kubesim's own tests (tests/integration/kubesim), run on
kubesim only.
"""

import pytest

from kubesim import testing

CLUSTER_FIXTURES = {"seed", "start_sim", "cluster", "real_cluster"}


def pytest_addoption(parser):
    parser.addoption("--cluster", choices=("kubesim", "real"), default="kubesim",
                     help="run the integration suite against kubesim (default) or the real control plane "
                          "(tests/realcluster)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a long fault-matrix case (make test runs it; QUICK=1 skips it)")
    config.addinivalue_line("markers", "kubesim_only(reason): needs kubesim; skipped with --cluster=real")
    config.addinivalue_line("markers", "real_only(reason): a fault the real cluster produces; skipped on kubesim")


def _reason(marker):
    return marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")


def pytest_collection_modifyitems(config, items):
    real = config.getoption("--cluster") == "real"
    for item in items:
        if real:
            marker = item.get_closest_marker("kubesim_only")
            if marker:
                item.add_marker(pytest.mark.skip(reason="kubesim only: " + _reason(marker)))
            elif "kubesim" in item.path.parent.name:
                item.add_marker(pytest.mark.skip(reason="kubesim only: kubesim's own tests"))
            elif not CLUSTER_FIXTURES & set(item.fixturenames):
                item.add_marker(pytest.mark.skip(reason="kubesim only: uses no cluster (runs once, with kubesim)"))
        else:
            marker = item.get_closest_marker("real_only")
            if marker:
                item.add_marker(pytest.mark.skip(reason="real cluster only: " + _reason(marker)))


@pytest.fixture(scope="session")
def cluster_kind(request):
    return request.config.getoption("--cluster")


@pytest.fixture(scope="session")
def real_pool(request, tmp_path_factory):
    from realsim import RealPool

    pool = RealPool(lambda name: tmp_path_factory.mktemp(name))
    yield pool
    pool.shutdown()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and (pool.starts or any(s.resets for r in pool.clusters.values() for s in r)):
        reporter.section("real control plane (shared suite)")
        for scenario, seconds in pool.starts:
            reporter.write_line(f"start {scenario}: {seconds:.1f} s")
        for scenario, running in pool.clusters.items():
            for sim in running:
                total = sum(s for _what, s in sim.resets)
                reporter.write_line(f"{scenario}: {len(sim.resets)} resets, {total:.1f} s in all")


@pytest.fixture
def start_sim(request, tmp_path, cluster_kind):
    """start_sim("canary", params={...}) → a running Sim, stopped after the test.

    On the real cluster: the session's cluster for that scenario, reset (kubesim-only arguments such as
    params, speed or a scenario file are refused: mark such a test kubesim_only)."""
    sims = []
    used: dict[str, int] = {}

    def _start(scenario="seed", **kwargs):
        if cluster_kind == "real":
            if kwargs or "/" in str(scenario):
                raise AssertionError(f"start_sim({scenario!r}, {kwargs}) is kubesim only: mark the test kubesim_only")
            pool = request.getfixturevalue("real_pool")
            index = used.get(scenario, 0)
            used[scenario] = index + 1
            return pool.get(scenario, index)
        sim = testing.start(scenario, tmp_path / f"sim{len(sims)}", **kwargs)
        sim.kind = "kubesim"
        sims.append(sim)
        return sim

    yield _start
    for sim in sims:
        sim.stop()


@pytest.fixture
def seed(start_sim):
    return start_sim("seed")


def pytest_terminal_summary(terminalreporter):
    import sys

    page = sys.modules.get("test_seed_page")
    if page is not None and page.TRANSCRIPT:
        terminalreporter.section("seed page commands")
        for line in page.TRANSCRIPT:
            terminalreporter.write_line(line)

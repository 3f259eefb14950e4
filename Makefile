# servicemesh.asm — developer and CI entry points.  `make help` lists the targets.
#
# Everything runs from the project venv (.venv, created by `make setup`); its bin/ is put first on
# PATH for every recipe, so ansible-lint, ansible-test and the integration tests find the same
# ansible-core, kubernetes and jmespath.

SHELL := /bin/bash
.DEFAULT_GOAL := help
# Targets run one after the other, in the order they are listed, even under `make -j`.
.NOTPARALLEL:

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
VBIN := $(CURDIR)/$(VENV)/bin
export PATH := $(VBIN):$(PATH)

# The venv is (re)installed only when the requirements files change: the stamp's name carries a
# hash of their contents.
REQUIREMENTS := requirements.txt requirements-dev.txt
REQ_HASH := $(shell cat $(REQUIREMENTS) | sha256sum | cut -c1-16)
REQ_STAMP := $(VENV)/.stamp-requirements-$(REQ_HASH)

# The checkout resolves as servicemesh.asm through ansible.cfg's collections_path = ./collections.
COLLECTION_LINK := collections/ansible_collections/servicemesh/asm

# ansible-test bootstraps each of its venvs with get-pip.py from a host this machine cannot reach,
# unless ~/.ansible/test/cache/get_pip_<pip version>.py exists: setup puts our stand-in there (see
# the script's docstring).  The pip version is the one the installed ansible-test pins.
GET_PIP_STANDIN := tests/sanity/get_pip_standin.py
GET_PIP_CACHE_DIR := $(HOME)/.ansible/test/cache

# ansible-test runs only from an .../ansible_collections/servicemesh/asm directory: the sanity
# target copies the checkout (the files git would track) there.  The copy lives outside the
# checkout: inside it, ansible-test would find this repository's .git, list the files with git and
# see nothing of the (git-ignored) copy.  One directory per checkout, keyed by its path.
SANITY_ROOT ?= $(or $(TMPDIR),/tmp)/servicemesh-asm-sanity-$(shell printf %s '$(CURDIR)' | sha256sum | cut -c1-8)
SANITY_DIR := $(SANITY_ROOT)/ansible_collections/servicemesh/asm
# tests/kubesim (the simulated API server) and its own tests (tests/unit/kubesim,
# tests/integration/kubesim) are test tooling, not collection content, and are left out of the
# sanity copy.  ansible-test holds every Python file to the rules for code shipped to Ansible users
# (its pylint config forbids even the `_` throwaway name; its pep8 differs from ruff's), which buys
# nothing for a test server that only runs under the project venv's Python 3.11 -- and tried on the
# kubesim files it reported exactly such issues.  ruff (make lint) and their own tests cover them.
# The same holds for the subprocess-driven integration harness (tests/integration, tests/real, bench).
SANITY_EXCLUDES := --exclude tests/kubesim --exclude tests/unit/kubesim --exclude tests/integration --exclude tests/real --exclude bench

# pytest: tests/ makes `kubesim` importable, collections/ makes `ansible_collections.servicemesh.asm`
# importable (the same layout ansible-test units uses).
PYTEST_ENV := PYTHONPATH=$(CURDIR)/tests:$(CURDIR)/collections
PYTEST_OPTS := -q

SCENARIO ?= seed
KUBECONFIG_OUT ?= .kubesim/kubeconfig
SIM_ARGS ?=

.PHONY: help setup lint unit integration sanity test sim demo bench test-real clean distclean \
	realcluster-build cluster integration-real

help:
	@echo 'make setup        venv + dev requirements, collection link, ansible-test get-pip stand-in'
	@echo 'make demo         set-up + the main job (enable_injection.yml) against the simulated cluster'
	@echo 'make test         everything CI runs: lint, unit, integration (kubesim), integration-real (real control plane), sanity'
	@echo 'make lint         ruff + ansible-lint (production profile)'
	@echo 'make unit         pytest tests/unit'
	@echo 'make integration  pytest tests/integration (against kubesim; QUICK=1 skips the slow fault matrix)'
	@echo 'make sanity       ansible-test sanity --python 3.11 on a copy in $(SANITY_ROOT)'
	@echo 'make sim          kubesim in the foreground (SCENARIO=$(SCENARIO) KUBECONFIG_OUT=$(KUBECONFIG_OUT))'
	@echo 'make bench        benchmarks against kubectl and kubernetes.core (QUICK=1: under 2 minutes)'
	@echo 'make test-real    integration suite against a real cluster (KUBECONFIG=<path>; skipped without)'
	@echo 'make realcluster-build  build (or reuse) the real control plane binaries (Go module proxy, ~10 min cold)'
	@echo 'make cluster CLUSTER=real  a real control plane serving SCENARIO=$(SCENARIO) until Ctrl-C (KUBECONFIG_OUT=...)'
	@echo 'make integration-real  pytest tests/realcluster/tests, then tests/integration --cluster=real (the real control plane)'
	@echo 'make clean        remove caches and generated files (keeps .venv); distclean also removes .venv'

# ---------------------------------------------------------------------------------------------
# setup: idempotent; a no-op run takes well under a second.

setup: $(REQ_STAMP)
	@if [ "$$(readlink $(COLLECTION_LINK) 2>/dev/null)" != "../../.." ]; then \
		if [ -e $(COLLECTION_LINK) ] && [ ! -L $(COLLECTION_LINK) ]; then \
			echo "make setup: $(COLLECTION_LINK) exists and is not the link to this checkout; remove it" >&2; \
			exit 1; \
		fi; \
		mkdir -p $(dir $(COLLECTION_LINK)) && ln -sfn ../../.. $(COLLECTION_LINK) && \
		echo "make setup: linked $(COLLECTION_LINK) -> ../../.."; \
	fi
	@pip_version=$$(grep -ho "pip='[0-9.]*'" $(VENV)/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py 2>/dev/null | head -n1 | tr -dc '0-9.'); \
	target="$(GET_PIP_CACHE_DIR)/get_pip_$$(echo "$${pip_version:-24.2}" | tr . _).py"; \
	if ! cmp -s $(GET_PIP_STANDIN) "$$target"; then \
		mkdir -p "$(GET_PIP_CACHE_DIR)" && cp $(GET_PIP_STANDIN) "$$target" && \
		echo "make setup: installed the ansible-test get-pip stand-in as $$target"; \
	fi

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(REQ_STAMP): $(VENV)/bin/python
	rm -f $(VENV)/.stamp-requirements-*
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# ---------------------------------------------------------------------------------------------
# checks

lint: setup
	ruff check .
	ansible-lint

# pytest exits 5 when it collects no tests; a suite that does not exist yet (or is still empty)
# is reported and passes, any other failure fails.
define run_pytest
	@if [ ! -d $(1) ]; then echo "make: $(1) does not exist yet: no tests to run"; exit 0; fi; \
	set +e; $(PYTEST_ENV) pytest $(PYTEST_OPTS) $(2) $(if $(QUICK),-m "not slow",) $(1); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make: no tests collected in $(1) yet"; rc=0; fi; \
	exit $$rc
endef

unit: setup
	$(call run_pytest,tests/unit)

integration: setup
	$(call run_pytest,tests/integration)

sanity: setup
	@python tests/sanity/copy_tree.py . $(SANITY_DIR) $(SANITY_EXCLUDES)
	cd $(SANITY_DIR) && ansible-test sanity --python 3.11

# integration-real builds the real control plane's binaries once per machine (~10 min cold; a kept
# machine reuses them from ~/.cache/servicemesh-asm/realcluster) and runs its tier.
test: setup lint unit integration integration-real sanity

# ---------------------------------------------------------------------------------------------
# the simulated cluster

sim: setup
	@mkdir -p "$(dir $(KUBECONFIG_OUT))"
	PYTHONPATH=$(CURDIR)/tests exec python -m kubesim --scenario $(SCENARIO) --kubeconfig-out $(KUBECONFIG_OUT) $(SIM_ARGS)

# ---------------------------------------------------------------------------------------------
# not built yet

demo: setup
	scripts/demo.sh

# The anchors run in their own venv (bench/.venv: the `ansible` package for kubernetes.core).
BENCH_STAMP := bench/.venv/.stamp-$(shell cat bench/requirements.txt | sha256sum | cut -c1-16)
$(BENCH_STAMP):
	$(PYTHON) -m venv bench/.venv
	bench/.venv/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	rm -f bench/.venv/.stamp-* && touch $@

bench: setup $(BENCH_STAMP)
	$(PYTEST_ENV) python bench/run.py $(if $(QUICK),--quick,)

# Against a real cluster with Istio/ASM; the tests skip themselves without KUBECONFIG.
test-real: setup
	$(PYTEST_ENV) KUBECONFIG=$(KUBECONFIG) pytest $(PYTEST_OPTS) -rs tests/real

# ---------------------------------------------------------------------------------------------

clean:
	rm -rf .cache .kubesim collections tests/output .pytest_cache .ruff_cache .ansible $(SANITY_ROOT)
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)

# ---------------------------------------------------------------------------------------------
# The real control plane (tests/realcluster, issue 14): etcd, kube-apiserver, kube-controller-
# manager, kube-scheduler and kwok nodes (kwokctl's binary runtime) and a real istiod per revision,
# as local processes on 127.0.0.1, built from the Go module proxy into a machine-level cache
# (~/.cache/servicemesh-asm/realcluster; a cached binary whose --version matches is not rebuilt).
# `make cluster CLUSTER=real SCENARIO=seed KUBECONFIG_OUT=...` serves a kubesim scenario on it until
# Ctrl-C; CLUSTER=sim (the default) is `make sim`.

CLUSTER ?= sim
REAL_KUBECONFIG_OUT := $(if $(filter command line environment,$(origin KUBECONFIG_OUT)),$(KUBECONFIG_OUT),.cache/realcluster/kubeconfig)
REALCLUSTER_ARGS ?=

realcluster-build:
	@$(PYTHON) tests/realcluster/build.py

cluster:
ifeq ($(CLUSTER),real)
	@$(MAKE) --no-print-directory setup realcluster-build
	@mkdir -p "$(dir $(REAL_KUBECONFIG_OUT))"
	exec python tests/realcluster/launcher.py --scenario $(SCENARIO) --kubeconfig-out $(REAL_KUBECONFIG_OUT) $(REALCLUSTER_ARGS)
else ifeq ($(CLUSTER),sim)
	@$(MAKE) --no-print-directory sim
else
	@echo "make cluster: CLUSTER must be sim or real, not '$(CLUSTER)'" >&2; exit 2
endif

# Then the shared integration suite against the real control plane (tests/integration --cluster=real: one
# cluster per scenario for the session; kubesim-only tests are skipped with their reason, -rs lists them).
integration-real: setup realcluster-build
	$(call run_pytest,tests/realcluster/tests)
	$(call run_pytest,tests/integration,--cluster=real -rs)

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

# The built collection: what Galaxy, Automation Hub and `ansible-galaxy collection install` get
# (galaxy.yml's build_ignore says what is left out, and why).
VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)
BUILD_DIR := build
TARBALL := $(BUILD_DIR)/servicemesh-asm-$(VERSION).tar.gz

# ansible-test runs only from an .../ansible_collections/servicemesh/asm directory: the sanity
# target unpacks the built tarball there, so it tests exactly what ships, nothing excluded.  The
# directory lives outside the checkout: inside it, ansible-test would find this repository's .git,
# list the files with git and see nothing of the (git-ignored) copy.  One per checkout, keyed by
# its path.
SANITY_ROOT ?= $(or $(TMPDIR),/tmp)/servicemesh-asm-sanity-$(shell printf %s '$(CURDIR)' | sha256sum | cut -c1-8)
SANITY_DIR := $(SANITY_ROOT)/ansible_collections/servicemesh/asm

# pytest: tests/ makes `kubesim` importable, collections/ makes `ansible_collections.servicemesh.asm`
# importable (the same layout ansible-test units uses).
PYTEST_ENV := PYTHONPATH=$(CURDIR)/tests:$(CURDIR)/collections
PYTEST_OPTS := -q

SCENARIO ?= seed
KUBECONFIG_OUT ?= .kubesim/kubeconfig
SIM_ARGS ?=

.PHONY: help setup lint unit integration sanity build importer units docs test sim demo bench test-real clean distclean \
	realcluster-build cluster integration-real

help:
	@echo 'make setup        venv + dev requirements, collection link, ansible-test get-pip stand-in'
	@echo 'make demo         set-up + the main job (enable_injection.yml) against the simulated cluster (CLUSTER=real: the real control plane)'
	@echo 'make test         everything CI runs: lint, unit, integration (kubesim), integration-real (real control plane), importer, sanity, units, docs'
	@echo 'make lint         ruff + ansible-lint (production profile)'
	@echo 'make unit         pytest tests/unit'
	@echo 'make integration  pytest tests/integration (against kubesim; QUICK=1 skips the slow fault matrix)'
	@echo 'make build        the collection tarball ($(TARBALL))'
	@echo 'make importer     galaxy-importer (Automation Hub settings, offline) on the tarball; warnings fail'
	@echo 'make sanity       ansible-test sanity --python 3.11 on the unpacked tarball in $(SANITY_ROOT)'
	@echo 'make units        ansible-test units --python 3.11 --local on the unpacked tarball'
	@echo 'make docs         HTML docs site (antsibull-docs, Sphinx -W) in $(BUILD_DIR)/docs/html, checked'
	@echo 'make sim          kubesim in the foreground (SCENARIO=$(SCENARIO) KUBECONFIG_OUT=$(KUBECONFIG_OUT))'
	@echo 'make bench        benchmarks against kubectl and kubernetes.core (QUICK=1: under 2 minutes; BACKEND=real: on the real control plane)'
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

# Two workers, one test file each (its fixtures stay together): the tests mostly wait on simulated
# clusters, so on 2 cores this halves the wall time (23 -> 11 min). XDIST= runs them in one process.
XDIST ?= -n 2 --dist loadfile
integration: setup
	$(call run_pytest,tests/integration,$(XDIST) --durations=15)

# The tarball, built afresh each time (the build takes about a second).
build: setup
	@rm -f $(BUILD_DIR)/servicemesh-asm-*.tar.gz
	ansible-galaxy collection build --output-path $(BUILD_DIR) --force

# galaxy-importer with Automation Hub's settings; any warning fails (tests/publish/run_importer.sh).
importer: build
	tests/publish/run_importer.sh $(TARBALL)

UNPACK_TARBALL := rm -rf $(SANITY_DIR) && mkdir -p $(SANITY_DIR) && tar -xzf $(TARBALL) -C $(SANITY_DIR)

sanity: build
	@$(UNPACK_TARBALL)
	cd $(SANITY_DIR) && ansible-test sanity --python 3.11

# The HTML docs site (antsibull-docs + Sphinx, offline, warnings fail) in build/docs/html, then a
# check that every module page has its options, examples and return values (about 20 s in all).
docs: setup
	tests/publish/build_docs.sh $(BUILD_DIR)/docs
	python tests/publish/check_docs.py $(BUILD_DIR)/docs/html

# The shipped unit tests (tests/unit/plugins) the way a collection's CI runs them, from the
# unpacked tarball; --local: in the project venv (pytest, pytest-xdist), offline.
units: build
	@$(UNPACK_TARBALL)
	cd $(SANITY_DIR) && ansible-test units --python 3.11 --local

# lint unit integration importer sanity units docs, then integration-real. The real control plane's
# binaries (built once per machine, reused from ~/.cache/servicemesh-asm/realcluster) build in the
# background meanwhile: scripts/test.sh.
test: setup
	PYTHON=$(PYTHON) MAKE="$(MAKE)" scripts/test.sh

# ---------------------------------------------------------------------------------------------
# the simulated cluster

sim: setup
	@mkdir -p "$(dir $(KUBECONFIG_OUT))"
	PYTHONPATH=$(CURDIR)/tests exec python -m kubesim --scenario $(SCENARIO) --kubeconfig-out $(KUBECONFIG_OUT) $(SIM_ARGS)

# ---------------------------------------------------------------------------------------------
# not built yet

# CLUSTER=real: the same demo on the real control plane (its binaries are built once per machine).
demo: setup $(if $(filter real,$(CLUSTER)),realcluster-build)
	CLUSTER=$(or $(CLUSTER),sim) scripts/demo.sh

# The anchors run in their own venv (bench/.venv: the `ansible` package for kubernetes.core).
BENCH_STAMP := bench/.venv/.stamp-$(shell cat bench/requirements.txt | sha256sum | cut -c1-16)
$(BENCH_STAMP):
	$(PYTHON) -m venv bench/.venv
	bench/.venv/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	rm -f bench/.venv/.stamp-* && touch $@

# BACKEND=real: the same contenders on the real control plane (bench/real.py; binaries built once per machine).
bench: setup $(BENCH_STAMP) $(if $(filter real,$(BACKEND)),realcluster-build)
	$(PYTEST_ENV) python bench/$(if $(filter real,$(BACKEND)),real,run).py $(if $(QUICK),--quick,)

# Against a real cluster with Istio/ASM; the tests skip themselves without KUBECONFIG.
test-real: setup
	$(PYTEST_ENV) KUBECONFIG=$(KUBECONFIG) pytest $(PYTEST_OPTS) -rs tests/real

# ---------------------------------------------------------------------------------------------

clean:
	rm -rf .cache .kubesim collections build tests/output .pytest_cache .ruff_cache .ansible $(SANITY_ROOT)
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
# Two workers here too: the real clusters' pods spend most of the time in kwok's delays and grace
# periods. The shared suite spreads single tests (--dist load; each worker starts its own cluster per
# scenario), the tier keeps each file on one worker (test_seed.py's tests run in order on one cluster).
integration-real: setup realcluster-build
	$(call run_pytest,tests/realcluster/tests,$(XDIST))
	$(call run_pytest,tests/integration,--cluster=real -rs --durations=15 $(if $(XDIST),-n 2 --dist load,))

# twin — run `make help` for the targets.
PYTHON  ?= python3
TWIN    ?= $(PYTHON) -m twin
POLICY  ?= topologies/zero-trust-6zone.yml
RUNTIME ?= auto
APT_PACKAGES = nftables iproute2 conntrack tcpdump iputils-ping procps util-linux debootstrap openssh-server chromium

.DEFAULT_GOAL := help
.PHONY: help setup deps test test-unit test-integration lint bench vendor-corpus twin-up twin-test twin-down

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: deps ## install everything: Debian tools, the Python package with dev tools, the node image
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@if timeout 20 docker version >/dev/null 2>&1; then $(TWIN) images build; else echo "no Docker daemon answered within 20 s: node image not built (the netns runtime needs none)"; fi

deps: ## Debian packages the twin needs (nftables, iproute2, conntrack, …)
	@if [ "$$(id -u)" != 0 ]; then echo "make setup needs root (apt-get, namespaces)"; exit 1; fi
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null

test: lint ## lint, then every test: unit, golden, errors, integration (real namespaces, real packets)
	$(PYTHON) -m pytest

test-unit: ## only the offline tests
	$(PYTHON) -m pytest -m "not integration"

test-integration: ## only the tests that deploy real twins
	$(PYTHON) -m pytest -m integration

lint: ## ruff (lint + format check) and mypy --strict
	$(PYTHON) -m ruff check twin traffic tests bench
	$(PYTHON) -m ruff format --check twin traffic tests bench
	$(PYTHON) -m mypy

bench: ## benchmarks, printed as figures
	$(PYTHON) bench/run.py

vendor-corpus: ## import every public vendor config in tests/data/vendor-corpus; per-file figures
	$(PYTHON) -m tests.vendor_corpus

twin-up: ## bring the twin of POLICY up (default: the six-zone reference; RUNTIME=auto|netns|docker|containerlab)
	$(TWIN) up $(POLICY) --runtime $(RUNTIME)

twin-test: ## probe every flow of the twin of POLICY, judge it against policy and intent
	mkdir -p out
	$(TWIN) test $(POLICY) --junit out/junit.xml --json out/results.json

twin-down: ## remove the twin of POLICY (exit 0 when it is not up)
	$(TWIN) down $(POLICY)

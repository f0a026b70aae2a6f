# nodelatency.monitor: one-command set-up, tests and demo.
# Every target installs what it needs first and skips what is already there.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        ?= .venv
PY          := $(VENV)/bin/python
BIN         := $(VENV)/bin
COLL_LINK   := .collections/ansible_collections/nodelatency/monitor
NODES       ?= 3
FIREWALL    ?= iptables-nft
MODE        ?= encap
DELAY       ?=
KIND        ?= netns
KEEP        ?=
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help setup test sanity lint unit compat compat-sanity integration molecule run lab-up lab-down bench build clean

help:
	@echo "make run       bring up a lab, turn the feature on and off, show latency and rules"
	@echo "make test      install everything, then sanity, lint, unit, integration, molecule"
	@echo "make run KIND=machines   the same on booted Debian machines, over SSH with sudo"
	@echo "make lab-up NODES=3 FIREWALL=iptables-nft MODE=encap DELAY='n1-n2=20ms' KIND=netns|machines"
	@echo "make lab-down  remove every lab namespace, link, file and process"
	@echo "make bench     benchmarks against iptables module, ping, fping, ansible ping"

# --- set-up ---------------------------------------------------------------

.cache/system.stamp: bindep.txt scripts/setup-system.sh
	@mkdir -p .cache
	@scripts/setup-system.sh
	@touch $@

$(VENV)/.installed: test-requirements.txt roles/nlm/files/requirements-node.txt
	@mkdir -p .cache
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "setup: installing Python packages into $(VENV)"
	@$(PY) -m pip install -q --disable-pip-version-check -r test-requirements.txt > .cache/pip.log 2>&1 \
		|| { cat .cache/pip.log; exit 1; }
	@touch $@

$(COLL_LINK):
	@mkdir -p $(dir $(COLL_LINK))
	@ln -sfn $(CURDIR) $(COLL_LINK)

setup: .cache/system.stamp $(VENV)/.installed $(COLL_LINK)

# --- tests ----------------------------------------------------------------

test: setup
	@scripts/test-layers.sh

sanity lint unit compat compat-sanity integration molecule: setup
	@scripts/test-layers.sh $@

# --- lab and demo ---------------------------------------------------------

lab-up: setup
	@$(PY) lab/nlmlab.py up --nodes $(NODES) --firewall $(FIREWALL) --mode $(MODE) --delay "$(DELAY)" --kind $(KIND)

lab-down: setup
	@$(PY) lab/nlmlab.py down

run: setup
	@KEEP="$(KEEP)" KIND="$(KIND)" scripts/run-demo.sh

bench: setup
	@$(PY) -m benchmarks $(BENCH_ARGS)

build: setup
	@$(BIN)/ansible-galaxy collection build --force --output-path .cache/build .

clean:
	rm -rf .cache .collections tests/output

# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-test browser bench bench-police soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test browser

# Debian's Chromium for the browser tests (Playwright's own browser download is not used), and a
# Chinese font: without one the guest pages are measured and photographed with empty boxes for text.
browser:
	@{ command -v chromium && fc-list :lang=zh | grep -q .; } >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium and a Chinese font for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; }

run: install
	VH_PUBLIC_BASE_URL=$${VH_PUBLIC_BASE_URL:-http://$(HOST):$(PORT)} $(BIN)/python -m service serve --demo --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# QR generation (segno vs qrcode), then registrations/s through HTTP (full path vs a bare insert).
# Debian's wrk is the load generator; py-spy (PyPI) profiles with BENCH_ARGS=--profile.
bench: $(VENV)/.installed-test
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing Debian's wrk for the benchmark"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }
	@test -x $(BIN)/py-spy || $(BIN)/pip install --quiet py-spy
	$(BIN)/python -m bench.qr
	$(BIN)/python -m bench.registrations $(BENCH_ARGS)

# The police view at 1,000,000 stays: occupancy query (<= 20 ms), fan-out to 1,000 streams (p99 <= 250 ms),
# registrations/s with 50 streams open (>= 0.9 of none), each against a baseline of the same run; ~4 minutes.
# BENCH_POLICE_ARGS="--profile" adds py-spy profiles; "--stays 100000 --streams 200" for a quick run.
bench-police: $(VENV)/.installed-test
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing Debian's wrk for the benchmark"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }
	@test -x $(BIN)/py-spy || $(BIN)/pip install --quiet py-spy
	$(BIN)/python -m bench.police $(BENCH_POLICE_ARGS)

# Ten minutes of mixed traffic against one service process: throughput, p50/p99, errors (must be 0),
# the service's memory over time, exact counts at the end. SOAK_ARGS="--duration 60" for a short run.
soak: $(VENV)/.installed-test
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) var test-artifacts

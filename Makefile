# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-test browser redis balancer image image-check bench bench-police bench-statistics bench-scale bench-import bench-landlord soak clean

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
# poppler-utils rasterises the printed posters' PDFs, which the poster tests decode.
browser:
	@{ command -v chromium && command -v pdftoppm && fc-list :lang=zh | grep -q .; } >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium, a Chinese font and poppler-utils for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-wqy-microhei poppler-utils >/dev/null; }

# Redis on 127.0.0.1:6379 for the shared rate-limit tests (tests/test_web_protection.py): Debian's
# redis-server, started without persistence when nothing answers there.
redis:
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  command -v redis-server >/dev/null 2>&1 || { echo "installing Debian's redis-server for the rate-limit tests"; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }; \
	  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || \
	    redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >/dev/null; }

# Debian's HAProxy, in front of three instances in tests/test_cluster.py (deploy/haproxy.cfg).
balancer:
	@command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || { \
	  echo "installing Debian's haproxy for the many-instances test"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq haproxy >/dev/null; }

run: install
	VH_PUBLIC_BASE_URL=$${VH_PUBLIC_BASE_URL:-http://$(HOST):$(PORT)} $(BIN)/python -m service serve --demo --host $(HOST) --port $(PORT)

test: install-test redis balancer
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# QR generation (segno vs qrcode), then registrations/s through HTTP: the full path against two bare
# inserts (the real tables, and copies without triggers) and the full path with the statistics rollups off
# (their CPU share), best of 3 rounds, every server with VH_WORKERS processes. Debian's wrk is the load generator; py-spy (PyPI) profiles with BENCH_ARGS=--profile.
bench: $(VENV)/.installed-test
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing Debian's wrk for the benchmark"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }
	@test -x $(BIN)/py-spy || $(BIN)/pip install --quiet py-spy
	$(BIN)/python -m bench.qr
	$(BIN)/python -m bench.registrations $(BENCH_ARGS)

# The police view at 1,000,000 stays (10% overdue): occupancy query (<= 10 ms), fan-out to 1,000 streams (p99 <= 250 ms),
# registrations/s with 50 streams open (>= 0.9 of none), each against a baseline of the same run; ~4 minutes.
# BENCH_POLICE_ARGS="--profile" adds py-spy profiles; "--stays 100000 --streams 200" for a quick run.
bench-police: $(VENV)/.installed-test
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing Debian's wrk for the benchmark"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }
	@test -x $(BIN)/py-spy || $(BIN)/pip install --quiet py-spy
	$(BIN)/python -m bench.police $(BENCH_POLICE_ARGS)

# 10,000 dwellings imported from one CSV file through HTTP (target: under 10 s) against a plain COPY of the
# same rows in the same run. BENCH_IMPORT_ARGS="--rows 1000 --rounds 1" for a quick run.
bench-import: $(VENV)/.installed-test
	$(BIN)/python -m bench.imports $(BENCH_IMPORT_ARGS)

# The landlord console's list for 500 dwellings (300 occupied) against an authenticated one-query call.
bench-landlord: $(VENV)/.installed-test
	$(BIN)/python -m bench.landlord $(BENCH_LANDLORD_ARGS)

# Ten minutes of mixed traffic against one service process: throughput, p50/p99, errors (must be 0),
# the service's memory over time, exact counts at the end. SOAK_ARGS="--duration 60" for a short run.
soak: $(VENV)/.installed-test
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) var test-artifacts

# A year of daily statistics for a county with 1,000,000 stays, from the rollups, against a count from scratch.
bench-statistics: $(VENV)/.installed-test
	$(BIN)/python -m bench.statistics $(BENCH_STATISTICS_ARGS)

# Growth from 1,000,000 to 10,000,000 stays over three years of months (issue 15): occupancy, search by
# document number, a registration, a statistics year (p50/p99, large/small, target <= 1.3x for the first
# three), and a month purged row by row against by partition (time, WAL bytes). Needs about 15 GB free (it
# checks and refuses); hours on a small machine. BENCH_SCALE_ARGS="--small 20000 --large 200000" for a quick run.
bench-scale: $(VENV)/.installed-test
	$(BIN)/python -m bench.scale $(BENCH_SCALE_ARGS)

# The production image (Dockerfile) with Docker, else Podman; see deploy/image.sh and README "Production".
image:
	bash deploy/image.sh build

# Builds the image and smoke-tests it against DATABASE_URL's server: start, /readyz, a registration, stop.
image-check: $(VENV)/.installed-test
	bash deploy/image.sh check

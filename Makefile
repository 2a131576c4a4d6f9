# Tresor. On a fresh Debian 12 (as root, or as a user with sudo):
#   make run    install build dependencies, build, create ./var on first run, serve
#   make test   install build dependencies, build, run every test (unit + integration)
SHELL := /bin/bash
BUILD_DIR := build
VAR_DIR := var
TRESOR := ./$(BUILD_DIR)/app/tresor
PACKAGES := build-essential cmake pkg-config libdcmtk-dev dcmtk libssl-dev libsqlite3-dev \
	nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev libsodium-dev \
	libgtest-dev libgmock-dev python3 python3-pydicom openssl zlib1g-dev \
	libboost-dev libboost-system-dev libjpeg62-turbo-dev libpng-dev

.PHONY: all deps npm-deps build run test bench clean

all: build

# Installs only when something is missing (apt-get via sudo unless root).
deps:
	@missing=""; \
	for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $$sudo apt-get update && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

# The real web clients used by the integration tests, pinned by the lock file.
npm-deps:
	@command -v npm >/dev/null || { echo "npm missing: install Node.js 20 (nodejs + npm)"; exit 1; }
	cd tests/integration/web && npm ci --no-audit --no-fund

build:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD_DIR) -j$$(nproc)

run:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory build
	@if [ ! -f $(VAR_DIR)/tresor.toml ]; then $(TRESOR) init --var $(VAR_DIR); fi
	$(TRESOR) serve --var $(VAR_DIR)

test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory npm-deps
	@$(MAKE) --no-print-directory build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j2

# The DIMSE benchmark against storescp and Orthanc (docs/benchmarks.md); takes several minutes.
bench:
	@$(MAKE) --no-print-directory deps
	@dpkg-query -W -f='$${Status}' orthanc 2>/dev/null | grep -q 'install ok installed' || \
	  { if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends orthanc; }
	@$(MAKE) --no-print-directory build
	/usr/bin/python3 bench/dimse_bench.py --build $(BUILD_DIR)

# Removes build output only; the instance directory ./var holds data and is kept.
clean:
	rm -rf $(BUILD_DIR)

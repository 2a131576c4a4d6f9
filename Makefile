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

.PHONY: all deps npm-deps web build run test bench bench-web clean

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

# The OHIF viewer bundle (npm pack, sha512-pinned) into web/ohif/dist; never committed.
web:
	@command -v npm >/dev/null || { echo "npm missing: install Node.js 20 (nodejs + npm)"; exit 1; }
	/usr/bin/python3 web/ohif/install.py

build:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD_DIR) -j$$(nproc)

run:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory web
	@if [ ! -f $(VAR_DIR)/tresor.toml ]; then $(TRESOR) init --var $(VAR_DIR) --web-root web; fi
	$(TRESOR) serve --var $(VAR_DIR)

test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory npm-deps
	@$(MAKE) --no-print-directory web
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

# The DICOMweb benchmark against Orthanc's DICOMweb plugin (docs/benchmarks.md); about 10 minutes.
bench-web:
	@$(MAKE) --no-print-directory deps
	@missing=""; for p in orthanc orthanc-dicomweb curl; do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; fi
	@$(MAKE) --no-print-directory build
	/usr/bin/python3 bench/dicomweb_bench.py --build $(BUILD_DIR)

# Removes build output only; the instance directory ./var holds data and is kept.
clean:
	rm -rf $(BUILD_DIR)

# ---- fuzz: libFuzzer targets and the sanitizer build (docs/robustness.md) ----
#   make fuzz            build the fuzz targets (clang-16), replay every saved input
#                        (tests/fuzz/corpus, tests/fuzz/regressions), then fuzz each
#                        target for FUZZ_SECONDS; a crash fails and leaves the input
#                        in $(FUZZ_BUILD_DIR)/artifacts/<target>/
#   make fuzz-regress    only build and replay the saved inputs
#   make test-sanitize   the whole test suite built with ASan + UBSan (g++)
FUZZ_BUILD_DIR := build-fuzz
SANITIZE_BUILD_DIR := build-asan
FUZZ_CXX := clang++-16
# Debian 12's default clang (14) cannot compile std::expected; clang-16 can.
FUZZ_PACKAGES := clang-16 libclang-rt-16-dev llvm-16
FUZZ_TARGETS := fuzz_multipart fuzz_accept fuzz_qido fuzz_jwt fuzz_dicom_inspect fuzz_dimse_command fuzz_dimse_pdu
FUZZ_SECONDS ?= 60
PYDICOM_FILES := /usr/lib/python3/dist-packages/pydicom/data/test_files
FUZZ_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-16/bin/llvm-symbolizer
SANITIZE_ENV := ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:check_initialization_order=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: fuzz-deps fuzz-build fuzz-regress fuzz test-sanitize

fuzz-deps:
	@missing=""; \
	for p in $(FUZZ_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $$sudo apt-get update && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

fuzz-build:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory fuzz-deps
	cmake -S . -B $(FUZZ_BUILD_DIR) -DCMAKE_CXX_COMPILER=$(FUZZ_CXX) -DTRESOR_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(FUZZ_BUILD_DIR) --target fuzz_all -j2

fuzz-regress: fuzz-build
	$(FUZZ_ENV) ctest --test-dir $(FUZZ_BUILD_DIR) -L fuzz-regression --output-on-failure -j2

fuzz: fuzz-regress
	python3 tests/fuzz/make_seeds.py --pydicom $(PYDICOM_FILES) $(FUZZ_BUILD_DIR)/seeds
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD_DIR)/corpus/$$t $(FUZZ_BUILD_DIR)/artifacts/$$t; \
	  echo "== $$t: $(FUZZ_SECONDS) s"; \
	  $(FUZZ_ENV) ./$(FUZZ_BUILD_DIR)/tests/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -rss_limit_mb=2560 -max_len=300000 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD_DIR)/artifacts/$$t/ \
	    $(FUZZ_BUILD_DIR)/corpus/$$t $(FUZZ_BUILD_DIR)/seeds/$$t \
	    > $(FUZZ_BUILD_DIR)/artifacts/$$t/log 2>&1 \
	    || { tail -60 $(FUZZ_BUILD_DIR)/artifacts/$$t/log; echo "$$t found a crash: see $(FUZZ_BUILD_DIR)/artifacts/$$t/"; exit 1; }; \
	  grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^Done' $(FUZZ_BUILD_DIR)/artifacts/$$t/log || true; \
	done
	@echo "fuzzing done; new corpus entries in $(FUZZ_BUILD_DIR)/corpus/<target>"

test-sanitize:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory npm-deps
	cmake -S . -B $(SANITIZE_BUILD_DIR) -DTRESOR_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(SANITIZE_BUILD_DIR) -j2
	$(SANITIZE_ENV) ctest --test-dir $(SANITIZE_BUILD_DIR) --output-on-failure -j2

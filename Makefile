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
	libboost-dev libboost-system-dev libjpeg62-turbo-dev libpng-dev libopenjp2-7-dev chromium \
	libzip-dev dicom3tools rsyslog rsyslog-gnutls libxml2-utils

.PHONY: all deps npm-deps web build run test bench bench-web bench-load clean

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

# The load benchmark (issue 5): 64 DIMSE associations + 64 HTTPS clients against Tresor, then
# Orthanc, 3 minutes each (docs/benchmarks.md); LOAD_ARGS=--quick for a 30 s smoke run.
bench-load:
	@$(MAKE) --no-print-directory deps
	@missing=""; for p in orthanc orthanc-dicomweb; do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; fi
	@$(MAKE) --no-print-directory build
	/usr/bin/python3 bench/load_bench.py --build $(BUILD_DIR) $(LOAD_ARGS)

# Removes build output only; the instance directory ./var holds data and is kept.
clean:
	rm -rf $(BUILD_DIR)

# ---- fuzz: libFuzzer targets and the sanitizer build (docs/robustness.md) ----
# One clang-16 build in $(HARDEN_BUILD_DIR) serves both: every module, the app and the
# unit tests with ASan + UBSan (+ libFuzzer coverage on the modules), and the fuzz targets.
#   make test-hardening  CI's second step: builds it, runs every unit and integration test
#                        and replays every saved fuzz input under the sanitizers, then
#                        fuzzes each target for HARDEN_FUZZ_SECONDS (default 20)
#   make test-sanitize   only the unit + integration tests of that build
#   make fuzz-regress    only the fuzz targets, and the replay of every saved input
#                        (tests/fuzz/corpus, tests/fuzz/regressions)
#   make fuzz            fuzz-regress, then fuzz each target for FUZZ_SECONDS (default 60)
#                        with the pydicom test files as extra seeds; a crash fails and
#                        leaves the input in $(HARDEN_BUILD_DIR)/artifacts/<target>/
#   make fuzz-campaign   CI's fuzzing (HARDEN_FUZZ_SECONDS per target, from scratch)
#                        repeated FUZZ_ROUNDS times with random seeds
HARDEN_BUILD_DIR := build-hardening
FUZZ_BUILD_DIR := $(HARDEN_BUILD_DIR)
FUZZ_CXX := clang++-16
# Debian 12's default clang (14) cannot compile std::expected; clang-16 can.
FUZZ_PACKAGES := clang-16 libclang-rt-16-dev llvm-16
FUZZ_TARGETS := fuzz_multipart fuzz_accept fuzz_qido fuzz_jwt fuzz_dicom_inspect fuzz_j2k fuzz_dimse_command fuzz_dimse_pdu fuzz_admin_api
FUZZ_SECONDS ?= 60
HARDEN_FUZZ_SECONDS ?= 20
# CI fuzzes from a fixed seed. That fixes the first mutations only: coverage feedback
# (allocation order, timing, the socket target) makes runs diverge after that, so a
# CI run can still reach what runs here did not (it did: docs/robustness.md). What
# guards against that is fuzz-campaign: many short runs from scratch, as CI does them.
HARDEN_FUZZ_SEED ?= 1
FUZZ_EXTRA ?=
PYDICOM_FILES := /usr/lib/python3/dist-packages/pydicom/data/test_files
SANITIZER_LOGS := $(CURDIR)/$(HARDEN_BUILD_DIR)/sanitizer-logs
# -O1 and line tables only: the usual ASan optimisation level, and much less to compile
# and link than -O2 -g; stacks are still symbolized with file:line.
HARDEN_CONFIGURE := cmake -S . -B $(HARDEN_BUILD_DIR) -DCMAKE_CXX_COMPILER=$(FUZZ_CXX) -DTRESOR_FUZZ=ON \
	-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only"
SANITIZER_COMMON_ENV := ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-16/bin/llvm-symbolizer \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan-suppressions:print_suppressions=0
FUZZ_ENV := $(SANITIZER_COMMON_ENV) \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Tests: reports go to files, because a `tresor serve` started by an integration test
# that fails its leak check at exit (or aborts) would not fail the test by itself; any
# error report in $(SANITIZER_LOGS) fails the run (warnings such as fuzz_dimse_command's
# refused 4 GiB allocations do not).
SANITIZE_ENV := $(SANITIZER_COMMON_ENV) \
	ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:check_initialization_order=1:log_path=$(SANITIZER_LOGS)/asan \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SANITIZER_LOGS)/ubsan \
	TRESOR_ITEST_TIMEOUT_SCALE=3

.PHONY: fuzz-deps hardening-build fuzz-build fuzz-regress fuzz fuzz-run fuzz-campaign test-sanitize test-hardening

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

# Everything: modules, app, unit tests, fuzz targets (bench tools are left out).
hardening-build:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory fuzz-deps
	$(HARDEN_CONFIGURE)
	cmake --build $(HARDEN_BUILD_DIR) -j2

fuzz-build:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory fuzz-deps
	$(HARDEN_CONFIGURE)
	cmake --build $(HARDEN_BUILD_DIR) --target fuzz_all -j2

fuzz-regress: fuzz-build
	$(FUZZ_ENV) ctest --test-dir $(HARDEN_BUILD_DIR) -L fuzz-regression --output-on-failure -j2

# Fuzzes each target for FUZZ_SECONDS from the seeds (make_seeds.py, with the pydicom
# files) plus what earlier runs found in $(HARDEN_BUILD_DIR)/corpus; needs the build.
fuzz-run:
	/usr/bin/python3 tests/fuzz/make_seeds.py --pydicom $(PYDICOM_FILES) $(HARDEN_BUILD_DIR)/seeds >/dev/null
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(HARDEN_BUILD_DIR)/corpus/$$t $(HARDEN_BUILD_DIR)/artifacts/$$t; \
	  echo "== $$t: $(FUZZ_SECONDS) s"; \
	  $(FUZZ_ENV) ./$(HARDEN_BUILD_DIR)/tests/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) $(FUZZ_EXTRA) -timeout=10 \
	    -rss_limit_mb=2560 -max_len=300000 -print_final_stats=1 \
	    -artifact_prefix=$(HARDEN_BUILD_DIR)/artifacts/$$t/ \
	    $(HARDEN_BUILD_DIR)/corpus/$$t $(HARDEN_BUILD_DIR)/seeds/$$t \
	    > $(HARDEN_BUILD_DIR)/artifacts/$$t/log 2>&1 \
	    || { tail -60 $(HARDEN_BUILD_DIR)/artifacts/$$t/log; echo "$$t found a crash: see $(HARDEN_BUILD_DIR)/artifacts/$$t/"; exit 1; }; \
	  grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^Done' $(HARDEN_BUILD_DIR)/artifacts/$$t/log || true; \
	done
	@echo "fuzzing done; new corpus entries in $(HARDEN_BUILD_DIR)/corpus/<target>"

fuzz: fuzz-regress
	@$(MAKE) --no-print-directory fuzz-run

# CI's fuzzing repeated FUZZ_ROUNDS times with random seeds, each run from an empty
# corpus; findings are kept under $(HARDEN_BUILD_DIR)/campaign/<target>/.
FUZZ_ROUNDS ?= 10
fuzz-campaign: fuzz-build
	/usr/bin/python3 tests/fuzz/make_seeds.py --pydicom $(PYDICOM_FILES) $(HARDEN_BUILD_DIR)/seeds >/dev/null
	tests/fuzz/campaign.sh $(HARDEN_BUILD_DIR) $(HARDEN_FUZZ_SECONDS) $(FUZZ_ROUNDS) $(FUZZ_TARGETS)

# $(1): extra ctest arguments (e.g. -LE fuzz-regression); a sanitizer report fails the run.
define run_sanitized_ctest
	@rm -rf $(SANITIZER_LOGS); mkdir -p $(SANITIZER_LOGS)
	@rc=0; $(SANITIZE_ENV) ctest --test-dir $(HARDEN_BUILD_DIR) --output-on-failure -j2 $(1) || rc=$$?; \
	reports=$$(grep -lE 'ERROR: [A-Za-z]+Sanitizer|runtime error:|^SUMMARY: ' $(SANITIZER_LOGS)/* 2>/dev/null); \
	if [ -n "$$reports" ]; then \
	  for f in $$reports; do echo "==== $$f"; head -150 "$$f"; done; \
	  echo "sanitizer reports: see $(SANITIZER_LOGS)"; exit 1; \
	fi; exit $$rc
endef

# npm ci only when `make test` has not installed the web clients already (CI runs both).
test-sanitize:
	@[ -d tests/integration/web/node_modules ] || $(MAKE) --no-print-directory npm-deps
	@$(MAKE) --no-print-directory hardening-build
	$(call run_sanitized_ctest,-LE fuzz-regression)

test-hardening:
	@[ -d tests/integration/web/node_modules ] || $(MAKE) --no-print-directory npm-deps
	@$(MAKE) --no-print-directory web
	@$(MAKE) --no-print-directory hardening-build
	$(call run_sanitized_ctest,)
	@$(MAKE) --no-print-directory fuzz-run FUZZ_SECONDS=$(HARDEN_FUZZ_SECONDS) FUZZ_EXTRA=-seed=$(HARDEN_FUZZ_SEED)

# Convenience entry points: `make demo`, `make test`, `make bench`.
# Each installs missing Debian packages first (when run as root), then
# configures and builds with CMake into build/.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DEBS = cmake make gcc pkg-config python3 python3-venv llvm-19-dev libprotobuf-c-dev protobuf-c-compiler \
       libcjson-dev check gcc-aarch64-linux-gnu gcc-riscv64-linux-gnu qemu-user \
       libc6-dev-arm64-cross libc6-dev-riscv64-cross gcc-arm-none-eabi qemu-system-arm \
       gcc-riscv64-unknown-elf qemu-system-misc

.PHONY: all deps build demo test test-asan acceptance bench clean

all: build

deps:
	@sh tools/install-deps.sh $(DEBS)

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	@$(MAKE) --no-print-directory -C examples/digits KILN=$(CURDIR)/$(BUILD)/bin/kiln OUT=$(CURDIR)/$(BUILD)/digits run

# Every tier: unit, IR, end-to-end, cross (qemu), conformance and the real
# models (PyTorch exports; the first run installs torch into build/venv, a
# few GB).  CTEST_ARGS narrows it, e.g. CTEST_ARGS='-LE models'.  The
# acceptance tier (an open issue's done-when checks, tests/CMakeLists.txt)
# runs with `make acceptance`.
CTEST_ARGS ?=
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE acceptance $(CTEST_ARGS)

# The sanitizer tier: unit, IR and error tests built with ASan+UBSan (any
# report fails the test: UBSan does not recover) in $(BUILD)-asan.  Too slow
# for `make test` on two cores; CI runs it.
ASAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
test-asan: deps
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS="$(ASAN_FLAGS)" \
		-DCMAKE_EXE_LINKER_FLAGS="$(ASAN_FLAGS)"
	cmake --build $(BUILD)-asan -j $(JOBS)
	@# the Python oracles of the normal build serve here too
	if [ -e $(BUILD)/venv ] && [ ! -e $(BUILD)-asan/venv ]; then ln -s "$$(readlink -f $(BUILD)/venv)" $(BUILD)-asan/venv; fi
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS) -R '^unit\.|^ir\.|^e2e\.errors$$' $(CTEST_ARGS)

acceptance: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L acceptance $(CTEST_ARGS)

bench: build
	sh bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD)

#!/usr/bin/env bash
# Install what is missing, build, and run every test:
#   1. the regular build: unit and integration tests
#   2. an ASan+UBSan build of the whole suite
#   3. a TSan build of the concurrent integration tests
#   4. each libFuzzer target for a bounded time (PV_FUZZ_SECONDS, default 30)
# Prints ctest's summary per stage and a final "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test || exit 1
jobs=$(nproc)
fuzz_seconds=${PV_FUZZ_SECONDS:-30}
passed=0 failed=0 tests_passed=0 tests_failed=0
stage() { # NAME BUILDDIR CTEST-ARGS... ; configure args come from $cfg
	local name=$1 dir=$2
	shift 2
	echo "=== $name"
	if ! cmake -S . -B "$dir" "${cfg[@]}" >"$dir.configure.log" 2>&1 ||
		! cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1; then
		echo "build failed; see $dir.build.log:"
		tail -n 40 "$dir.configure.log" "$dir.build.log"
		failed=$((failed + 1))
		return
	fi
	local out rc summary
	out=$(cd "$dir" && ctest --output-on-failure "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	# "100% tests passed, 0 tests failed out of 12"
	summary=$(printf '%s\n' "$out" | grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' | tail -n 1)
	if [ -n "$summary" ]; then
		local f t
		f=$(printf '%s' "$summary" | sed -E 's/.*passed, ([0-9]+) tests failed out of ([0-9]+).*/\1/')
		t=$(printf '%s' "$summary" | sed -E 's/.*out of ([0-9]+).*/\1/')
		tests_passed=$((tests_passed + t - f))
		tests_failed=$((tests_failed + f))
	fi
	if [ "$rc" -eq 0 ] && [ -n "$summary" ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
}
# Every stage configures with BUILD_TESTING=ON: scripts/run.sh shares build/
# and configures it with the tests off, so a run.sh before test.sh would
# otherwise leave ctest nothing to run.
mkdir -p build
cfg=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON)
stage "regular build: unit and integration tests" build -j2

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitizer/lsan.supp
cfg=(-DCMAKE_BUILD_TYPE=Debug -DBUILD_TESTING=ON -DPV_SANITIZE=ON)
stage "ASan+UBSan build: unit and integration tests" build-asan -j2

export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/sanitizer/tsan.supp"
cfg=(-DCMAKE_BUILD_TYPE=Debug -DBUILD_TESTING=ON -DPV_TSAN=ON -DCMAKE_C_COMPILER=clang)
stage "TSan build: concurrent tests" build-tsan -L concurrent

cfg=(-DCMAKE_BUILD_TYPE=Debug -DBUILD_TESTING=ON -DPV_FUZZ=ON -DPV_FUZZ_SECONDS="$fuzz_seconds" -DCMAKE_C_COMPILER=clang)
stage "libFuzzer targets, ${fuzz_seconds}s each" build-fuzz -L fuzz -j2

echo "=== $passed stages passed, $failed stages failed"
echo "tests: $tests_passed passed, $tests_failed failed"
[ "$failed" -eq 0 ] && [ "$tests_failed" -eq 0 ]

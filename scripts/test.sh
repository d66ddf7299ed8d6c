#!/usr/bin/env bash
# Install what is missing, build, and run every test:
#   1. the regular build: unit and integration tests
#   2. an ASan+UBSan build of the whole suite
#   3. a TSan build of the concurrent integration tests
#   4. each libFuzzer target for a bounded time (PV_FUZZ_SECONDS, default 30)
# Prints ctest's summary per stage, then the totals: stages, ctest tests
# (scripts and unit binaries), and the integration scripts' assertions (each
# script's t_end appends its counts to $PV_TEST_COUNTS). The final line is
# "N passed, N failed[, N skipped]" over assertions: a script that failed
# without reaching t_end (a timeout, a crash of the script) counts as one
# failure, and skips (t_skip, ctest's "Not Run") are never counted as passes.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
scripts/deps.sh test || exit 1
jobs=$(nproc)
fuzz_seconds=${PV_FUZZ_SECONDS:-30}
passed=0 failed=0 tests_passed=0 tests_failed=0 tests_skipped=0
asserts_passed=0 asserts_failed=0 asserts_skipped=0
stage() { # NAME BUILDDIR CTEST-ARGS... ; configure args come from $cfg
	local name=$1 dir=$2
	shift 2
	echo "=== $name"
	if ! cmake -S . -B "$dir" "${cfg[@]}" >"$dir.configure.log" 2>&1 ||
		! cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1; then
		echo "build failed; see $dir.build.log:"
		tail -n 40 "$dir.configure.log" "$dir.build.log"
		failed=$((failed + 1))
		asserts_failed=$((asserts_failed + 1)) # nothing of the stage ran
		return
	fi
	local out rc summary counts=$PWD/$dir/assertion-counts.txt junit=$PWD/$dir/junit.xml
	: >"$counts"
	out=$(cd "$dir" && PV_TEST_COUNTS=$counts ctest --output-on-failure \
		--output-junit "$junit" --test-output-size-passed 4000000 "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	# each script's "NAME PASSED FAILED SKIPPED" (t_end), and each cmocka
	# binary's test cases from its summary in ctest's JUnit report; a failed
	# ctest test that recorded no failure (it never reached t_end, crashed
	# before cmocka's summary) is one failure more
	python3 - "$junit" >>"$counts" <<'PY'
import re, sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    sys.exit(0)
for tc in root.iter("testcase"):
    name = tc.get("name", "")
    if not name.startswith("unit."):
        continue
    text = "".join(e.text or "" for e in tc.iter("system-out"))
    ok = re.search(r"\[  PASSED  \] (\d+) test", text)
    bad = re.search(r"\[  FAILED  \] (\d+) test", text)
    print(name, ok.group(1) if ok else 0, bad.group(1) if bad else 0, 0)
PY
	local name p f s lost=0 notrun
	while read -r name p f s; do
		asserts_passed=$((asserts_passed + p))
		asserts_failed=$((asserts_failed + f))
		asserts_skipped=$((asserts_skipped + s))
	done <"$counts"
	while read -r name; do
		[ -n "$name" ] || continue
		awk -v n="$name" -v s="${name#integration.}" '($1 == n || $1 == s) && $3 > 0 { found = 1 } END { exit !found }' "$counts" ||
			lost=$((lost + 1))
	done < <(printf '%s\n' "$out" | sed -n -E 's/^[[:space:]]*[0-9]+ - ([^ ]+) \((Failed|Not Run|Timeout|SEGFAULT|Child aborted|Exception|Subprocess aborted)\).*/\1/p')
	asserts_failed=$((asserts_failed + lost))
	# ctest's skipped tests (SKIP_RETURN_CODE, disabled) pass in its summary
	notrun=$(printf '%s\n' "$out" | grep -cE '^[[:space:]]*[0-9]+ - [^ ]+ \((Skipped|Disabled)\)$' || true)
	tests_skipped=$((tests_skipped + notrun))
	tests_passed=$((tests_passed - notrun))
	asserts_skipped=$((asserts_skipped + notrun))
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
skipped=
[ "$tests_skipped" -eq 0 ] || skipped=", $tests_skipped skipped"
echo "tests: $tests_passed passed, $tests_failed failed$skipped"
echo "assertions: $asserts_passed passed, $asserts_failed failed, $asserts_skipped skipped"
final="$asserts_passed passed, $asserts_failed failed"
[ "$asserts_skipped" -eq 0 ] || final="$final, $asserts_skipped skipped"
echo "$final"
[ "$failed" -eq 0 ] && [ "$tests_failed" -eq 0 ] && [ "$asserts_failed" -eq 0 ]

#!/bin/bash
# Runs the test suites and ends with one line "N passed, N failed".
#   unit         every cmocka binary in $BUILD/tests (one count per test case)
#   integration  every tests/integration/*.sh (one count per check)
#   lint         clang-format and cppcheck (one count each)
# SUITES selects (default: all three); SANITIZED=1 skips lint (asan runs).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SUITES=${SUITES:-unit integration lint}
[ "${SANITIZED:-0}" = 1 ] && SUITES=${SUITES/lint/}
export DEVTRUST_BIN="$PWD/$BUILD/devtrust"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
LOGDIR="$PWD/$BUILD/test-logs"
rm -rf "$LOGDIR" && mkdir -p "$LOGDIR"
passed=0
failed=0
failures=()

count_cmocka() { # $1 name, $2 log, $3 exit code
	local p f
	p=$(grep -aoE '\[  PASSED  \] [0-9]+ test' "$2" | grep -aoE '[0-9]+' | tail -1)
	f=$(grep -aoE '\[  FAILED  \] [0-9]+ test' "$2" | grep -aoE '[0-9]+' | tail -1)
	p=${p:-0}
	f=${f:-0}
	if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi # crashed or sanitizer report
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" -gt 0 ] && failures+=("$1 (see $2)")
}

run_unit() {
	local t name log rc
	for t in "$BUILD"/tests/*_test; do
		[ -x "$t" ] || continue
		name=$(basename "$t")
		log="$LOGDIR/$name.log"
		CMOCKA_MESSAGE_OUTPUT=stdout timeout 600 "$t" >"$log" 2>&1
		rc=$?
		count_cmocka "unit/$name" "$log" "$rc"
		echo "unit  $name: $(grep -acE '\[       OK \]' "$log") ok, rc=$rc"
	done
}

run_integration() {
	local s name log rc p f
	for s in tests/integration/*_test.sh; do
		[ -f "$s" ] || continue
		name=$(basename "$s" .sh)
		log="$LOGDIR/$name.log"
		timeout 1200 bash "$s" >"$log" 2>&1
		rc=$?
		p=$(grep -ac '^PASS ' "$log")
		f=$(grep -ac '^FAIL ' "$log")
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
		passed=$((passed + p))
		failed=$((failed + f))
		[ "$f" -gt 0 ] && failures+=("integration/$name: $(grep -a '^FAIL ' "$log" | head -3 | tr '\n' ';') (see $log)")
		echo "integ $name: $p passed, $f failed"
	done
}

run_lint() {
	local files log
	files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src include tests bench -name '*.[ch]')
	log="$LOGDIR/clang-format.log"
	if clang-format --dry-run -Werror $files >"$log" 2>&1; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failures+=("lint/clang-format (see $log)")
	fi
	log="$LOGDIR/cppcheck.log"
	if cppcheck -q --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --std=c11 -D__GNUC__ -Iinclude -Isrc \
		--suppress=missingIncludeSystem \
		--suppress=unknownMacro:src/ca/asn1.c src >"$log" 2>&1; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failures+=("lint/cppcheck (see $log)")
	fi
	echo "lint  clang-format, cppcheck done"
}

for s in $SUITES; do
	"run_$s"
done
for f in "${failures[@]+"${failures[@]}"}"; do
	echo "FAILED: $f"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

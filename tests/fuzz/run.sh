#!/bin/sh
# tests/fuzz/run.sh BUILDDIR SRCDIR SECONDS NAME... - run each libFuzzer
# harness BUILDDIR/NAME for SECONDS on its seed corpus SRCDIR/corpus/NAME
# (read only) and what it found before, BUILDDIR/work/NAME; one TAP
# result per harness, on stdout and in BUILDDIR/fuzz.tap.  A crash, a
# leak, a timeout or running out of memory fails the harness: the input
# that did it is BUILDDIR/crashes/NAME-*, libFuzzer's output
# BUILDDIR/NAME.log.  Exit status 1 when any failed.
set -u
build=$1 src=$2 secs=$3
shift 3

tap="$build/fuzz.tap"
: > "$tap"
out() {
	printf '%s\n' "$1"
	printf '%s\n' "$1" >> "$tap"
}

out "1..$#"
n=0
failed=0
for name in "$@"; do
	n=$((n + 1))
	work="$build/work/$name"
	log="$build/$name.log"
	mkdir -p "$work" "$build/crashes"
	dict=
	[ -f "$src/$name.dict" ] && dict="-dict=$src/$name.dict"
	# -timeout: one input taking seconds is a finding (a decoder that
	# loops); -rss_limit_mb: so is one that eats memory.
	"$build/$name" -max_total_time="$secs" -timeout=10 \
	    -rss_limit_mb=1024 -max_len=8192 -print_final_stats=1 \
	    -artifact_prefix="$build/crashes/$name-" $dict \
	    "$work" "$src/corpus/$name" > "$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	if [ "$rc" -eq 0 ]; then
		out "ok $n - $name: ${runs:-?} inputs in $secs s"
		continue
	fi
	failed=$((failed + 1))
	out "not ok $n - $name: libFuzzer exited with $rc"
	repro=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
	out "# reproducer: ${repro:-none written, see $log}"
	[ -n "$repro" ] && out "# run it again: $build/$name $repro"
	grep -E -A8 '^==[0-9]+==(ERROR|WARNING)|runtime error:|^SUMMARY' \
	    "$log" | head -24 | sed 's/^/#   /' | while IFS= read -r l; do
		out "$l"
	done
done
[ "$failed" -eq 0 ]

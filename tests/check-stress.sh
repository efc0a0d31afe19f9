#!/bin/sh
# tests/check-stress.sh - `make check-stress`: the whole suite under load.
# Starts stress-ng (CHECK_STRESS_CPUS CPU workers, default 4) in the
# background, runs `make -j4 check` CHECK_STRESS_RUNS times in a row
# (default 5) in the build folder, stops stress-ng however the runs end,
# and fails when any run failed, naming it and its failed tests.  Each
# run's output is kept in check-stress-N.log.  See doc/testing.md.
set -u

runs=${CHECK_STRESS_RUNS:-5}
cpus=${CHECK_STRESS_CPUS:-4}
make=${MAKE:-make}

if ! command -v stress-ng >/dev/null 2>&1; then
	echo "check-stress: stress-ng is not installed: sh contrib/deps.sh" \
	    "installs it (Debian's stress-ng)" >&2
	exit 1
fi

# Build everything the tests need first, on a quiet machine.
$make -j4 check TESTS= >check-stress-build.log 2>&1 || {
	tail -20 check-stress-build.log
	echo "check-stress: the build failed (check-stress-build.log)" >&2
	exit 1
}

# stress-ng and each run are started in a process group of their own
# (set -m), so that a signal to this script ends each of them whole
# (stress-ng's workers; make, the tests and their agentd) at once.
stress=
check=
stop() {
	if [ -n "$check" ]; then
		kill -TERM -- "-$check" 2>/dev/null
		wait "$check" 2>/dev/null
		check=
	fi
	if [ -n "$stress" ]; then
		kill -TERM -- "-$stress" 2>/dev/null
		wait "$stress" 2>/dev/null
		stress=
	fi
}
trap stop EXIT
trap 'echo "check-stress: interrupted" >&2; exit 1' INT TERM HUP
set -m
# --timeout only in case this script is killed outright (no trap runs).
# Its output (a warning that it was stopped early) goes to a log.
stress-ng --cpu "$cpus" --timeout "$((runs * 4))h" --quiet \
    >check-stress-stress-ng.log 2>&1 &
stress=$!
set +m
echo "check-stress: stress-ng --cpu $cpus (pid $stress);" \
    "$runs runs of $make -j4 check"

failed=
i=0
while [ "$i" -lt "$runs" ]; do
	i=$((i + 1))
	t0=$(date +%s)
	set -m
	$make -j4 check >"check-stress-$i.log" 2>&1 &
	check=$!
	set +m
	# A signal interrupts the wait: its trap ends the run.
	wait "$check"
	rc=$?
	check=
	if [ "$rc" -eq 0 ]; then
		result=passed
	else
		result=FAILED
		failed="$failed $i"
	fi
	t1=$(date +%s)
	# automake's summary: "# PASS:  N" and the like.
	counts=$(sed -n 's/^# \(TOTAL\|PASS\|SKIP\|FAIL\|ERROR\): *\([0-9]*\)$/\1 \2/p' \
	    "check-stress-$i.log" | tr '\n' ' ')
	tap=$(cat tests/*/*.trs 2>/dev/null |
	    grep -cE '^:test-result: (PASS|XFAIL)')
	bad=$(cat tests/*/*.trs 2>/dev/null |
	    grep -cE '^:test-result: (FAIL|XPASS|ERROR)')
	echo "check-stress: run $i of $runs $result in $((t1 - t0)) s;" \
	    "scripts: ${counts:-none}; TAP results: $tap passed, $bad failed;" \
	    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
	if [ "$result" = FAILED ]; then
		grep -E '^(FAIL|ERROR|XPASS):' "check-stress-$i.log" |
		    sed 's/^/check-stress:   /'
		for log in tests/*/*.log; do
			grep -qE '^(not ok|Bail out)' "$log" 2>/dev/null || continue
			grep -E '^(not ok|Bail out)' "$log" | head -5 |
			    sed "s|^|check-stress:   $log: |"
		done
	fi
done
stop

if [ -n "$failed" ]; then
	echo "check-stress: FAILED: run(s)$failed of $runs (logs:" \
	    "check-stress-N.log)"
	exit 1
fi
echo "check-stress: all $runs runs passed"

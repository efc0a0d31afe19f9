# tests/lib.sh - sourced by the system tests: TAP output, a temporary
# folder, and a real agentd started on real sockets inside it.
#
# Every test is bounded: a watchdog kills it after AGENTD_TEST_LIMIT
# seconds (default 120), and every wait below has its own deadline.
# Tests wait for the condition they check, never for a guessed delay; a
# deadline only bounds a wait that fails.  Every deadline (the watchdog's
# too) is multiplied by AGENTD_TEST_SLOW (default 4), so that a loaded
# machine (make check-stress: make -j4 check beside stress-ng) gets more
# time and a quiet one loses none: a wait ends when its condition holds.

set -u

T_SLOW=${AGENTD_TEST_SLOW:-4}
# slow SECONDS: a deadline of SECONDS on a quiet machine, scaled.
slow() { echo $(( $1 * T_SLOW )); }

AGENTD="$top_builddir/runtime/agentd"
AGENTCTL="$top_builddir/runtime/agentctl"
WORKER="$top_builddir/runtime/agentd-worker"
TPLUGINS="${AGENTD_TEST_PLUGINS:-$top_builddir/tests/plugins/.libs}"
BPLUGINS="${AGENTD_BUNDLED_PLUGINS:-$top_builddir/plugins/.libs}"
export AGENTD_WORKER="$WORKER"

T_N=0
T_FAILED=0
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/agentd-test.XXXXXX")
AGENTD_PID=
export AGENTD_RUN_DIR="$T_DIR/run"

T_REPORTS='ERROR: (Address|Leak)Sanitizer|runtime error:|ERROR SUMMARY: [1-9]'
t_cleanup() {
	t_rc=$?
	# A sanitizer report from agentd or a worker (they share agentd's
	# stderr) fails the test, even when every assertion passed.
	# So does valgrind's, under AGENTD_TEST_WRAP.
	if grep -Eq "$T_REPORTS" "$T_DIR/agentd.log" 2>/dev/null; then
		echo "not ok - sanitizer report in the agentd log"
		grep -E -A12 "$T_REPORTS" \
		    "$T_DIR/agentd.log" | sed 's/^/# /' | head -60
		t_rc=1
	fi
	# A failed test shows the end of agentd's log in its own: CI keeps
	# only the test logs.
	if [ "$t_rc" -ne 0 ] && [ -s "$T_DIR/agentd.log" ]; then
		diag "last lines of agentd.log:"
		tail -n 25 "$T_DIR/agentd.log" | sed 's/^/#   /'
	fi
	if [ -n "$AGENTD_PID" ] && kill -0 "$AGENTD_PID" 2>/dev/null; then
		kill -KILL "$AGENTD_PID" 2>/dev/null
		wait "$AGENTD_PID" 2>/dev/null
	fi
	[ -n "${T_WATCHDOG:-}" ] && kill "$T_WATCHDOG" 2>/dev/null
	# Workers leave with their supervisor (PR_SET_PDEATHSIG); make sure.
	pkill -KILL -f "agentd-worker.*$T_DIR" 2>/dev/null
	# To look at a failure afterwards: AGENTD_TEST_KEEP_LOG=FILE.
	[ -n "${AGENTD_TEST_KEEP_LOG:-}" ] &&
	    cp "$T_DIR/agentd.log" "$AGENTD_TEST_KEEP_LOG" 2>/dev/null
	rm -rf "$T_DIR"
	exit $t_rc
}
trap t_cleanup EXIT
trap 'exit 1' INT TERM

( sleep "$(slow "${AGENTD_TEST_LIMIT:-120}")" >/dev/null; \
  echo "Bail out! time limit"; \
  kill -TERM $$ ) 2>/dev/null &
T_WATCHDOG=$!

mkdir -p "$T_DIR/conf" "$T_DIR/plugins"

# As root, agentd runs workers as agentd { plugin_user }, agentd-plugin by
# default (doc/security.md): the suite creates that system user if this
# machine has none, so that CI runs the path production runs.  Tests run
# in parallel: another may be creating it at the same moment.
# t_user NAME: make a system user NAME (with its group) unless there is
# one.  Tests run in parallel: another may be making it at this moment.
t_user() {
	t_try=0
	while ! getent passwd "$1" >/dev/null; do
		useradd --system --user-group --no-create-home \
		    --home-dir /nonexistent --shell /usr/sbin/nologin "$1" \
		    2>/dev/null && break
		t_try=$((t_try + 1))
		[ "$t_try" -ge 50 ] && { echo "Bail out! cannot create $1"; exit 1; }
		sleep 0.1
	done
}
T_PLUGIN_USER=agentd-plugin
[ "$(id -u)" -eq 0 ] && t_user "$T_PLUGIN_USER"

plan() { echo "1..$1"; }

diag() { printf '# %s\n' "$*"; }

# ok STATUS NAME: pass when STATUS is 0.
ok() {
	T_N=$((T_N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $T_N - $2"
	else
		echo "not ok $T_N - $2"
		T_FAILED=$((T_FAILED + 1))
	fi
}

# try_start [CONFDIR]: a real start of agentd on the test's state and run
# folders (and CONFDIR, default the test's), which must exit by itself
# within 10 s, else it is killed and rc is 124.  Sets rc and err (its
# stderr).
try_start() {
	"$AGENTD" --confdir "${1:-$T_DIR/conf}" --state-dir "$T_DIR/state" \
	    --run-dir "$T_DIR/run" --foreground 2>"$T_DIR/start.err" &
	s_pid=$!
	if wait_for 10 sh -c "! kill -0 $s_pid 2>/dev/null"; then
		wait "$s_pid"
		rc=$?
	else
		kill -KILL "$s_pid" 2>/dev/null
		wait "$s_pid"
		rc=124
	fi
	err=$(cat "$T_DIR/start.err")
}

# known_bug STATUS NAME WHY: like ok, but a failure is a known, open bug
# (TAP "# TODO": reported, not counted as a failure).  For a bug written
# down in an issue and not fixed yet; never for a test that is merely
# inconvenient.  A pass is a plain pass.
known_bug() {
	T_N=$((T_N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $T_N - $2"
	else
		echo "not ok $T_N - $2 # TODO known bug: $3"
	fi
}

# like TEXT PATTERN NAME: pass when TEXT matches the grep -E PATTERN.
like() {
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		ok 0 "$3"
	else
		ok 1 "$3"
		diag "  got: $1"
		diag "  expected to match: $2"
	fi
}

# one_line TEXT NAME: the text is exactly one line.
one_line() {
	n=$(printf '%s\n' "$1" | grep -c .)
	if [ "$n" -eq 1 ]; then ok 0 "$2"; else ok 1 "$2"; diag "  got $n lines: $1"; fi
}

done_testing() {
	[ "$T_FAILED" -eq 0 ]
	exit $?
}

# conf FILE: write stdin to the test's configuration directory.
conf() { cat > "$T_DIR/conf/$1"; }

# wait_for SECONDS CMD...: retry CMD until it succeeds or time runs out
# (SECONDS scaled by AGENTD_TEST_SLOW).
wait_for() {
	w_limit=$(slow "$1")
	shift
	w_end=$(( $(date +%s) + w_limit ))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$w_end" ] && return 1
		sleep 0.05
	done
	return 0
}

actl() { "$AGENTCTL" --run-dir "$T_DIR/run" "$@"; }

# Ready instances of agent $1, read from `agentctl status --json`.
ready_count() {
	actl --json status 2>/dev/null |
	    jq -r --arg n "$1" '.agents[] | select(.name == $n) | .ready' \
	    2>/dev/null
}

agent_ready() { [ "$(ready_count "$1")" = "${2:-1}" ]; }

# No worker of this test is left (not through `sh -c`: pgrep -f would
# find that shell's own command line).
workers_gone() { ! pgrep -f "agentd-worker.*$T_DIR" >/dev/null; }

# jq_true FILTER [JQ-OPTION]...: standard input holds a JSON text and
# FILTER's last result for it is true.  `jq -e` alone exits 0 when its input
# is empty (jq 1.6), so a failed agentctl piped into it would pass.
jq_true() {
	j_filter=$1
	shift
	jq -e -n "$@" "first(inputs) | ($j_filter)" >/dev/null
}

# status_has JQ-FILTER: `agentctl --json status` answers and the filter is
# true of it.
status_has() { actl --json status 2>/dev/null | jq_true "$1"; }

# agent_field NAME FILTER: FILTER (jq) applied to agent NAME's status map.
agent_field() {
	actl --json status | jq -r --arg a "$1" \
	    ".agents[] | select(.name == \$a) | $2"
}

# start_agentd [ARGS]: run agentd in the foreground on the test folder.
# AGENTD_TEST_WRAP: a command agentd runs under, such as
# "valgrind --error-exitcode=1 --leak-check=full" (doc/testing.md).
start_agentd() {
	${AGENTD_TEST_WRAP:-} "$AGENTD" --confdir "$T_DIR/conf" \
	    --state-dir "$T_DIR/state" --run-dir "$T_DIR/run" --foreground "$@" \
	    2>>"$T_DIR/agentd.log" &
	AGENTD_PID=$!
	wait_for 10 actl status
}

# stop_agentd: SIGTERM, and the exit status of agentd.
stop_agentd() {
	kill -TERM "$AGENTD_PID"
	s_end=$(( $(date +%s) + $(slow 15) ))
	while kill -0 "$AGENTD_PID" 2>/dev/null; do
		[ "$(date +%s)" -ge "$s_end" ] && kill -KILL "$AGENTD_PID"
		sleep 0.05
	done
	wait "$AGENTD_PID"
	s_rv=$?
	AGENTD_PID=
	return $s_rv
}

# plugin_dir NAME: a folder of the test's that plugins may write in (give
# it to paths { write = { } }); as root the plugin user reaches it too.
plugin_dir() {
	mkdir -p "$T_DIR/$1"
	chmod 0711 "$T_DIR"
	chmod 0777 "$T_DIR/$1"
	echo "$T_DIR/$1"
}

# A copy of a built plugin in the test folder (mode 0644).
plugin_copy() {
	cp "$1" "$T_DIR/plugins/$(basename "$1")"
	chmod 0644 "$T_DIR/plugins/$(basename "$1")"
	echo "$T_DIR/plugins/$(basename "$1")"
}

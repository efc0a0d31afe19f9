# tests/install/tap.sh - sourced by the installed-tree checks: TAP output,
# a temporary folder, cleanup.  Each result is also appended to
# $AGENTD_TAP_OUT when it is set, so .ci/run can count them.
set -u

I_N=0
I_FAILED=0
I_DIR=$(mktemp -d "${TMPDIR:-/tmp}/agentd-inst.XXXXXX")
I_PID=

i_out() {
	printf '%s\n' "$1"
	[ -n "${AGENTD_TAP_OUT:-}" ] && printf '%s\n' "$1" >> "$AGENTD_TAP_OUT"
	return 0
}

ok() {
	I_N=$((I_N + 1))
	if [ "$1" -eq 0 ]; then
		i_out "ok $I_N - $2"
	else
		i_out "not ok $I_N - $2"
		I_FAILED=$((I_FAILED + 1))
	fi
}

skip() { I_N=$((I_N + 1)); i_out "ok $I_N - # SKIP $1"; }

diag() { printf '# %s\n' "$*"; }

i_cleanup() {
	if [ -n "$I_PID" ] && kill -0 "$I_PID" 2>/dev/null; then
		kill -KILL "$I_PID" 2>/dev/null
		wait "$I_PID" 2>/dev/null
	fi
	rm -rf "$I_DIR"
}
trap i_cleanup EXIT
trap 'exit 1' INT TERM

# wait_for SECONDS CMD...
wait_for() {
	w_end=$(( $(date +%s) + $1 ))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$w_end" ] && return 1
		sleep 0.1
	done
}

# jq_true FILTER [JQ-OPTION]...: standard input holds a JSON text and
# FILTER's last result for it is true.  `jq -e` alone exits 0 when its input
# is empty (jq 1.6), so a failed agentctl piped into it would pass.
jq_true() {
	j_filter=$1
	shift
	jq -e -n "$@" "first(inputs) | ($j_filter)" >/dev/null
}

# stop PID: SIGTERM, at most 20 s, and its exit status.
stop() {
	kill -TERM "$1"
	s_end=$(( $(date +%s) + 20 ))
	while kill -0 "$1" 2>/dev/null; do
		[ "$(date +%s)" -ge "$s_end" ] && kill -KILL "$1"
		sleep 0.1
	done
	wait "$1"
}

done_testing() {
	[ "$I_FAILED" -eq 0 ]
	exit $?
}

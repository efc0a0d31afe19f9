#!/bin/sh
# Every agentctl operation ends by its own deadline (its timeout plus
# 2 s, and the watchdog's 0.5 s) whatever agentd does: gone between the
# dial and the request (the path that once waited 9 minutes), stopped with
# SIGSTOP before or during a request, killed during a call, its socket
# file left with nobody listening.  Each ends with exit status 3 and one
# line saying what happened; `agentctl tail` ends when agentd does.  Each
# agentctl runs under timeout(1), so a regression fails instead of
# hanging the suite.
. "$top_srcdir/tests/lib.sh"

plan 29

TYPED=$(plugin_copy "$TPLUGINS/typed.so")
conf typed.conf <<EOF
agent "typed" {
	plugin = "$TYPED"
	request_timeout = 30s
	settings {
		limit = 3
	}
}
EOF

now_ms() { date +%s%3N; }

# timed LIMIT CMD...: run CMD, killed after LIMIT seconds (scaled); sets
# rc, err (stderr) and ms (how long it took).
timed() {
	t_lim=$(slow "$1")
	shift
	t_s=$(now_ms)
	timeout -s KILL "$t_lim" "$@" >"$T_DIR/timed.out" 2>"$T_DIR/timed.err"
	rc=$?
	ms=$(( $(now_ms) - t_s ))
	err=$(cat "$T_DIR/timed.err")
}

# within MS WHAT: the last timed command exited 3 within MS ms (plus what
# a loaded machine adds: 500 ms per AGENTD_TEST_SLOW).
within() {
	w_max=$(( $1 + 500 * T_SLOW ))
	[ "$rc" -eq 3 ] && [ "$ms" -le "$w_max" ]
	ok $? "$2: exit 3 within ${w_max} ms (exit $rc after $ms ms)"
}

# bg NAME CMD...: run CMD in the background, timed as above, its results
# in $T_DIR/NAME.{rc,ms,err}.
bg() {
	b_name=$1
	shift
	(
		b_s=$(now_ms)
		timeout -s KILL "$(slow 60)" "$@" >"$T_DIR/$b_name.out" \
		    2>"$T_DIR/$b_name.err"
		b_rc=$?
		echo $(( $(now_ms) - b_s )) >"$T_DIR/$b_name.ms"
		echo "$b_rc" >"$T_DIR/$b_name.rc"
	) &
}
# bg_result NAME: wait for it (bounded by its timeout), set rc, ms, err.
bg_result() {
	wait_for 70 test -s "$T_DIR/$1.rc"
	rc=$(cat "$T_DIR/$1.rc" 2>/dev/null || echo 999)
	ms=$(cat "$T_DIR/$1.ms" 2>/dev/null || echo 999999)
	err=$(cat "$T_DIR/$1.err" 2>/dev/null)
}

inflight() { [ "$(agent_field typed .inflight)" = "$1" ]; }

# ---- agentd gone between the dial and the request ----------------------
# A peer that completes nng's handshake and hangs up at once, then removes
# its socket: agentctl's dial succeeds and the request has nowhere to go.
# Before the send had a deadline, this waited for ever.
mkdir -p "$T_DIR/fake"
bad=0
slowest=0
for i in 1 2 3 4 5; do
	"$top_builddir/tests/tools/sphangup" "$T_DIR/fake/control.sock" 1 &
	f_pid=$!
	wait_for 10 test -S "$T_DIR/fake/control.sock"
	timed 30 "$AGENTCTL" --run-dir "$T_DIR/fake" call --timeout 1s echo '{}'
	[ "$ms" -gt "$slowest" ] && slowest=$ms
	if [ "$rc" -ne 3 ] || [ "$ms" -gt $(( 3500 + 500 * T_SLOW )) ] ||
	    ! printf '%s\n' "$err" | grep -Eq 'went away before the request could be sent|closed the connection before answering' ||
	    [ "$(printf '%s\n' "$err" | grep -c .)" -ne 1 ]; then
		bad=$((bad + 1))
		diag "round $i: exit $rc after $ms ms: $err"
	fi
	kill "$f_pid" 2>/dev/null
	wait "$f_pid" 2>/dev/null
done
[ "$bad" -eq 0 ]
ok $? "agentd gone after the dial: call --timeout 1s ends with exit 3 and one line within 3.5 s, 5 times (slowest $slowest ms)"

start_agentd
ok $? "agentd starts"
wait_for 10 agent_ready typed
ok $? "typed is ready"

# ---- stopped with SIGSTOP ------------------------------------------------
kill -STOP "$AGENTD_PID"
timed 30 "$AGENTCTL" --run-dir "$T_DIR/run" call --timeout 1s typed '{}'
within 3500 "stopped agentd: call --timeout 1s"
one_line "$err" "stopped agentd, call: one line"
like "$err" 'stopped \(SIGSTOP\)' "stopped agentd, call: it says agentd may be stopped"

# status has the default timeout, 30 s: nng's handshake gives up first.
timed 60 "$AGENTCTL" --run-dir "$T_DIR/run" status
within 32500 "stopped agentd: status"
one_line "$err" "stopped agentd, status: one line"
like "$err" '^agentctl: cannot reach agentd at .*control\.sock: .*stopped \(SIGSTOP\)' \
    "stopped agentd, status: says it cannot connect, and why that may be"

kill -CONT "$AGENTD_PID"
wait_for 20 actl status
ok $? "after SIGCONT agentd answers again (its listener survived the abandoned connections)"

# Stopped while a request is in flight: no answer, by the deadline.
bg inflight "$AGENTCTL" --run-dir "$T_DIR/run" call --timeout 2s typed '{"sleep_ms":1500}'
wait_for 10 inflight 1
ok $? "a call is in flight"
kill -STOP "$AGENTD_PID"
bg_result inflight
kill -CONT "$AGENTD_PID"
within 4500 "agentd stopped during a call --timeout 2s"
one_line "$err" "stopped during a call: one line"
like "$err" 'no answer from agentd within 4\.0s: is it stopped \(SIGSTOP\)' \
    "stopped during a call: says no answer came by the deadline"
wait_for 20 inflight 0
ok $? "agentd goes on after SIGCONT"

# ---- killed during a call ------------------------------------------------
bg killed "$AGENTCTL" --run-dir "$T_DIR/run" call --timeout 20s typed '{"sleep_ms":10000}'
wait_for 10 inflight 1
ok $? "a long call is in flight"
kill -KILL "$AGENTD_PID"
wait "$AGENTD_PID" 2>/dev/null
AGENTD_PID=
bg_result killed
within 3000 "agentd killed during a call"
one_line "$err" "killed during a call: one line"
like "$err" 'closed the connection before answering' \
    "killed during a call: says agentd closed the connection"

# ---- its socket file left, nobody listening ------------------------------
# A worker agentd was spawning holds its listening socket until its exec.
wait_for 10 sh -c "! grep -q ' $T_DIR/run/control.sock\$' /proc/net/unix"
[ -S "$T_DIR/run/control.sock" ]
ok $? "the killed agentd left its control socket file"
timed 30 "$AGENTCTL" --run-dir "$T_DIR/run" status
within 1000 "socket file with nobody listening: status"
like "$err" 'Connection refused: nothing listens on it: agentd is not running' \
    "nobody listening: says agentd is not running or restarting"

# ---- tail ends with agentd -----------------------------------------------
start_agentd
ok $? "agentd starts again"
bg tail "$AGENTCTL" --run-dir "$T_DIR/run" tail
# tail is connected once an event published now reaches it.
published() {
	actl publish tail.probe '{"n":1}' >/dev/null &&
	    grep -q '"topic":"tail.probe"' "$T_DIR/tail.out"
}
wait_for 20 published
ok $? "tail prints an event"
stop_agentd
ok $? "agentd stops"
bg_result tail
within 2000 "agentd stopped under tail"
one_line "$err" "tail: one line"
like "$err" 'agentd closed the connection .*tail ends' "tail: says agentd went away"

# ---- nothing lingers -----------------------------------------------------
! pgrep -f "agentctl --run-dir $T_DIR" >/dev/null
ok $? "no agentctl of this test is left"
done_testing

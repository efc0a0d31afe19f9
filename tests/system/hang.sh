#!/bin/sh
# The main loop never waits forever, and says where it is when it waits.
#   - the shape of a hang once found: plugin callbacks overrunning
#     hung_after while a flood of control requests runs; agentd marks each
#     such instance hung, SIGTERMs and SIGKILLs it, frees it and starts a
#     replacement; through it all the loop keeps turning (a replacement
#     becomes ready), and SIGTERM to agentd stops it within its stop
#     timeout, with no worker left.  HANG_ROUNDS=N runs it N times;
#   - a loop stuck for real (a reload describing a plugin that blocks
#     while it loads) is logged with its step, again while it stays
#     stuck, no WATCHDOG=1 goes to systemd meanwhile, and once it moves
#     on it says so and WATCHDOG=1 comes again.
# Each round takes some 15 s; the watchdog part 10 s.
: "${AGENTD_TEST_LIMIT:=300}"
export AGENTD_TEST_LIMIT
. "$top_srcdir/tests/lib.sh"

ROUNDS=${HANG_ROUNDS:-2}
plan $((ROUNDS * 6 + 9))

MIS=$(plugin_copy "$TPLUGINS/misbehave.so")
ECHO=$(plugin_copy "$BPLUGINS/echo.so")
conf agents.conf <<EOC
agent "stuck" {
	plugin = "$MIS"
	instances { min = 2  max = 2 }
	health { heartbeat = 100ms  hung_after = 1s  stop_grace = 300ms
	         drain_timeout = 2s }
	restart { backoff_initial = 0ms  intensity = 100000  period = 1s }
	settings { hang_on = 3 }
}
agent "echo" {
	plugin = "$ECHO"
}
EOC

# flood WHAT...: agentctl WHAT in a loop until $T_DIR/calm exists.
flood() {
	# (bounded: an agentctl that dialled an agentd just stopped would
	# wait for its request's deadline)
	while [ ! -e "$T_DIR/calm" ]; do
		timeout 5 "$AGENTCTL" --run-dir "$T_DIR/run" "$@" \
		    >/dev/null 2>&1
	done
}
hung_count() { grep -c 'is hung: one plugin callback' "$T_DIR/agentd.log"; }
hung_past() { [ "$(hung_count)" -ge "$1" ]; }
restarts_past() {
	[ "$(agent_field stuck '.restarts')" -ge "$1" ] 2>/dev/null &&
	    agent_ready stuck 2
}
exited_within() {
	e_end=$(( $(date +%s) + $1 ))
	while kill -0 "$AGENTD_PID" 2>/dev/null; do
		[ "$(date +%s)" -ge "$e_end" ] && return 1
		sleep 0.05
	done
	return 0
}

round=1
while [ "$round" -le "$ROUNDS" ]; do
	rm -f "$T_DIR/calm"
	: > "$T_DIR/agentd.log"
	start_agentd
	ok $? "round $round: agentd starts"
	pids=
	for i in 1 2 3 4 5 6; do flood call stuck '{}' & pids="$pids $!"; done
	for i in 1 2; do flood status & pids="$pids $!"; done
	flood call echo '{}' & pids="$pids $!"
	wait_for 60 hung_past 4
	ok $? "round $round: instances hung under the flood ($(hung_count))"
	r=$(agent_field stuck '.restarts')
	wait_for 30 restarts_past $((r + 1))
	ok $? "round $round: the loop goes on: replacements ready ($(agent_field stuck '.restarts') restarts)"
	kill -TERM "$AGENTD_PID"
	# The unit's TimeoutStopSec is 60 s; this drain is 2 s.
	exited_within 60
	stopped=$?
	if [ "$stopped" -ne 0 ]; then
		diag "agentd did not stop: its threads"
		gdb -p "$AGENTD_PID" -batch -ex 'thread apply all bt' 2>&1 |
		    grep -E '^(Thread|#)' | head -120 | sed 's/^/#   /'
	fi
	ok $stopped "round $round: SIGTERM during the flood stops agentd"
	touch "$T_DIR/calm"
	wait $pids
	wait "$AGENTD_PID" 2>/dev/null
	AGENTD_PID=
	wait_for 10 workers_gone
	ok $? "round $round: no worker is left"
	! grep -q 'main loop stuck' "$T_DIR/agentd.log"
	ok $? "round $round: the main loop was never stuck"
	round=$((round + 1))
done

# -- a loop stuck for real, and systemd's watchdog ----------------------
rm -f "$T_DIR/conf/agents.conf"
conf echo.conf <<EOC
agent "echo" {
	plugin = "$ECHO"
}
EOC
: > "$T_DIR/agentd.log"
"$top_builddir/tests/tools/sdlisten" "$T_DIR/notify.sock" 100 \
    > "$T_DIR/notify.out" 2>&1 &
LISTENER=$!
wait_for 5 test -S "$T_DIR/notify.sock"
# WatchdogSec=2s: WATCHDOG=1 every second, stuck after one missed.
export NOTIFY_SOCKET="$T_DIR/notify.sock" WATCHDOG_USEC=2000000
# Describing runs as the plugin user (doc/security.md): it must be able
# to see whether the hold file is there.
chmod 0711 "$T_DIR"
export MISBEHAVE_HOLD_LOAD="$T_DIR/hold"
start_agentd
unset NOTIFY_SOCKET WATCHDOG_USEC
wait_for 15 grep -q '^READY=1' "$T_DIR/notify.out"
ok $? "agentd is ready under a systemd watchdog of 2 s"
watchdogs() { grep -c '^WATCHDOG=1$' "$T_DIR/notify.out"; }
stuck_lines() { grep -c 'main loop stuck for' "$T_DIR/agentd.log"; }
stuck_past() { [ "$(stuck_lines)" -ge "$1" ]; }
watchdogs_past() { [ "$(watchdogs)" -gt "$1" ]; }

touch "$T_DIR/hold"
conf slow.conf <<EOC
agent "slow" {
	plugin = "$MIS"
}
EOC
kill -HUP "$AGENTD_PID"
wait_for 15 stuck_past 1
ok $? "a loop stuck in a reload is logged"
c1=$(watchdogs)
like "$(grep 'main loop stuck for' "$T_DIR/agentd.log" | head -n1)" \
    'stuck for [0-9]+ ms .*at: reading the configuration: describing plugin .*misbehave\.so' \
    "the line says where the loop is"
wait_for 15 stuck_past 2
ok $? "and again while it stays stuck"
c2=$(watchdogs)
[ "$c1" -eq "$c2" ]
ok $? "no WATCHDOG=1 while the loop is stuck ($c1, then $c2)"
rm -f "$T_DIR/hold"
wait_for 15 grep -q 'main loop moving again after [0-9]* ms stuck at: reading the configuration' "$T_DIR/agentd.log"
ok $? "once it moves on, the log says so"
wait_for 10 watchdogs_past "$c2"
ok $? "and WATCHDOG=1 comes again"
wait_for 15 agent_ready slow
ok $? "the reload it was stuck in finished: slow is ready"
stop_agentd
ok $? "agentd stops cleanly"
unset MISBEHAVE_HOLD_LOAD
kill "$LISTENER" 2>/dev/null
done_testing

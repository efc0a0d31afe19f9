#!/bin/sh
# systemd's notification protocol, against a stand-in for systemd's socket:
# READY=1 only once every agent has its minimum of ready instances, STATUS=
# lines that say what start-up waits for, WATCHDOG=1 at half the interval
# systemd asked for (and only when it is meant for agentd), STOPPING=1 at
# SIGTERM, and workers that never see the variables.
. "$top_srcdir/tests/lib.sh"

plan 14

ECHO=$(plugin_copy "$BPLUGINS/echo.so")
SLOW=$(plugin_copy "$TPLUGINS/misbehave.so")
conf agents.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
}
agent "slow" {
	plugin = "$SLOW"
	instances { min = 2  max = 2 }
	settings { init_sleep_ms = 2000 }
}
EOF

"$top_builddir/tests/tools/sdlisten" "$T_DIR/notify.sock" "$(slow 60)" \
    > "$T_DIR/notify.out" 2>&1 &
LISTENER=$!
wait_for 5 test -S "$T_DIR/notify.sock"

export NOTIFY_SOCKET="$T_DIR/notify.sock" WATCHDOG_USEC=400000
start_agentd
ok $? "agentd starts with NOTIFY_SOCKET set"
unset NOTIFY_SOCKET WATCHDOG_USEC

wait_for 5 grep -q '^STATUS=waiting for agent slow' "$T_DIR/notify.out"
ok $? "STATUS= says start-up waits for agent slow"
! grep -q '^READY=1' "$T_DIR/notify.out" && [ "$(ready_count slow)" != 2 ]
ok $? "no READY=1 while the slow agent's instances are in init"

wait_for 15 grep -q '^READY=1' "$T_DIR/notify.out"
ok $? "READY=1 once every agent is up"
[ "$(ready_count slow)" = 2 ] && [ "$(ready_count echo)" = 1 ]
ok $? "at READY=1 every agent has its minimum of ready instances"
grep -q '^STATUS=2 agents, 3 instances ready$' "$T_DIR/notify.out"
ok $? "STATUS= reports 2 agents, 3 instances ready"

# Ten intervals between WATCHDOG=1 lines as they arrive: at 200 ms about
# 2 s, and no less than 1.5 s (one per turn of the main loop, 100 ms,
# would be 1 s).  A loaded machine makes them later, never sooner.
watchdogs() { [ "$(grep -c '^WATCHDOG=1$' "$T_DIR/notify.out")" -ge "$1" ]; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }
before=$(grep -c '^WATCHDOG=1$' "$T_DIR/notify.out")
wait_for 5 watchdogs $((before + 1)) && t0=$(ms) &&
    wait_for 10 watchdogs $((before + 11)) && t1=$(ms) &&
    [ $((t1 - t0)) -ge 1500 ]
ok $? "WATCHDOG=1 every half of WATCHDOG_USEC (10 in $((${t1:-0} - ${t0:-0})) ms at 200 ms)"

wpid=$(actl status | sed -n 's/.*echo-1 *pid \([0-9]*\).*/\1/p')
[ -n "$wpid" ] && ! tr '\0' '\n' < "/proc/$wpid/environ" |
    grep -Eq '^(NOTIFY_SOCKET|WATCHDOG_USEC)='
ok $? "workers do not inherit NOTIFY_SOCKET or WATCHDOG_USEC"

stop_agentd
ok $? "SIGTERM: agentd exits 0"
grep -q '^STOPPING=1' "$T_DIR/notify.out"
ok $? "STOPPING=1 is sent at SIGTERM"

# A watchdog meant for another process (WATCHDOG_PID) is not agentd's.
: > "$T_DIR/notify.out"
export NOTIFY_SOCKET="$T_DIR/notify.sock" WATCHDOG_USEC=200000 WATCHDOG_PID=1
start_agentd
unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID
wait_for 15 grep -q '^READY=1' "$T_DIR/notify.out"
ok $? "READY=1 again after a restart"
sleep 0.5
! grep -q '^WATCHDOG=1' "$T_DIR/notify.out"
ok $? "no WATCHDOG=1 when WATCHDOG_PID names another process"
stop_agentd

# A failed agent (restart { intensity = 0 }: its first crash fails it)
# does not hold start-up: the others serve, and STATUS= says so.
conf broken.conf <<EOF
agent "broken" {
	plugin = "$SLOW"
	restart { intensity = 0 }
	settings { init_crash = true }
}
EOF
: > "$T_DIR/notify.out"
export NOTIFY_SOCKET="$T_DIR/notify.sock"
start_agentd
unset NOTIFY_SOCKET
wait_for 15 grep -q '^READY=1' "$T_DIR/notify.out" &&
    status_has '.agents[] | select(.name=="broken") | .state == "failed"'
ok $? "READY=1 with a failed agent, once the others are up"
grep -q '^STATUS=3 agents, 3 instances ready; some agents failed' "$T_DIR/notify.out"
ok $? "STATUS= says some agents failed"
stop_agentd
kill "$LISTENER" 2>/dev/null
done_testing

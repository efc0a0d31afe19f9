#!/bin/sh
# A worker is spawned, loads its plugin and dials agentd under SCHED_IDLE,
# and comes back to SCHED_OTHER, every thread of it, before the plugin's
# init runs, at start and after a reload; nice values are not touched.  A
# worker that would not be allowed back (no CAP_SYS_NICE, RLIMIT_NICE 0)
# is not put in the background at all; one allowed back by RLIMIT_NICE
# alone (systemd's LimitNICE=+0) is.
. "$top_srcdir/tests/lib.sh"

plan 13

ECHO=$(plugin_copy "$BPLUGINS/echo.so")
conf echo.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
	instances { min = 2  max = 2 }
	health { probation = 0 }
}
EOF

# Scheduling policy (0 SCHED_OTHER, 5 SCHED_IDLE) and nice value of every
# thread of PIDS..., one line each, counted: "30 0/0" when all 30 threads
# run under SCHED_OTHER at nice 0 (fields 41 and 19 of /proc's stat).
threads() {
	for p in "$@"; do
		cat /proc/"$p"/task/*/stat 2>/dev/null |
		    awk '{print $41 "/" $19}'
	done | sort | uniq -c | awk '{print $1, $2}'
}
workers() { pgrep -f "agentd-worker.*$T_DIR"; }
# Every thread of every worker, and of agentd, under SCHED_OTHER at
# agentd's nice; $got says what was found.
all_foreground() {
	n=$(awk '{print $19}' /proc/"$AGENTD_PID"/stat)
	got=$(threads $(workers))
	[ "$(printf '%s\n' "$got" | wc -l)" = 1 ] && [ "${got#* }" = "0/$n" ] &&
	    [ "$(threads "$AGENTD_PID" | awk '{print $2}')" = "0/$n" ]
}
flat() { printf '%s' "$1" | tr '\n' '|'; }
started_low() { grep -c 'started under SCHED_IDLE, back to SCHED_OTHER' "$T_DIR/agentd.log"; }
# Workers whose command line has --background: spawned so by agentd.
spawned_low() {
	for w in $(workers); do
		tr '\0' ' ' </proc/"$w"/cmdline; echo
	done | grep -c -- '--background'
}

# May a worker started from here come back to nice 0 (priority.h)?  It
# gives up every capability before it loads its plugin (security.md), so
# CAP_SYS_NICE does not count: RLIMIT_NICE of 20 or more alone does.
may_return() {
	lim=$(awk '/^Max nice priority/ {print $4}' /proc/self/limits)
	[ "$lim" = unlimited ] || [ "${lim:-0}" -ge 20 ]
}
if may_return; then per_worker=1; else per_worker=0; fi

start_agentd --log-level debug
wait_for 10 agent_ready echo 2
ok $? "two instances ready"
[ "$(awk '{print $41 "/" $19}' /proc/"$AGENTD_PID"/stat)" = "0/$(awk '{print $19}' /proc/$$/stat)" ]
ok $? "agentd runs under SCHED_OTHER at the nice it was started with"
all_foreground
ok $? "every thread of both workers and of agentd under SCHED_OTHER at agentd's nice (got: $(flat "$got"))"
[ "$(started_low)" = $((2 * per_worker)) ]
ok $? "both started under SCHED_IDLE and came back for init, where allowed ($(started_low) of $((2 * per_worker)))"
[ "$(spawned_low)" = $((2 * per_worker)) ]
ok $? "agentd spawned them in the background already ($(spawned_low) with --background)"

cp "$ECHO" "$ECHO.new" && printf 'x' >>"$ECHO.new" && mv "$ECHO.new" "$ECHO"
like "$(actl reload 2>&1)" "^echo: upgraded" "a reload upgrades echo"
wait_for 10 sh -c "[ \$(pgrep -f 'agentd-worker.*$T_DIR' | wc -l) = 2 ]"
all_foreground
ok $? "the new generation's workers too (got: $(flat "$got"))"
[ "$(started_low)" = $((4 * per_worker)) ]
ok $? "and they started under SCHED_IDLE, where allowed ($(started_low) of $((4 * per_worker)))"
stop_agentd
ok $? "agentd stops"

# limited LIMIT LOWERED NAME: agentd without CAP_SYS_NICE and with
# RLIMIT_NICE at LIMIT; its workers end under SCHED_OTHER at its nice,
# LOWERED of them having started under SCHED_IDLE; then it stops.
limited() {
	: >"$T_DIR/agentd.log"
	setpriv --bounding-set=-sys_nice --inh-caps=-sys_nice \
	    prlimit --nice="$1" -- "$AGENTD" --confdir "$T_DIR/conf" \
	    --state-dir "$T_DIR/state" --run-dir "$T_DIR/run" --foreground \
	    --log-level debug 2>>"$T_DIR/agentd.log" &
	AGENTD_PID=$!
	wait_for 10 agent_ready echo 2
	all_foreground && [ "$(started_low)" = "$2" ] &&
	    [ "$(spawned_low)" = "$2" ]
	ok $? "$3 (got: $(flat "$got"), $(started_low) lowered, $(spawned_low) spawned low)"
	stop_agentd
	ok $? "agentd stops"
}

# Without CAP_SYS_NICE and with RLIMIT_NICE 0 the way back is closed.
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null ||
    ! command -v prlimit >/dev/null ||
    ! setpriv --bounding-set=-sys_nice --inh-caps=-sys_nice \
        prlimit --nice=0 -- true 2>/dev/null; then
	for i in 1 2 3 4; do
		ok 0 "# SKIP needs root allowed to drop a capability, setpriv and prlimit"
	done
	done_testing
fi
limited 0 0 "no way back: the workers never went to the background"

# RLIMIT_NICE 20 alone (LimitNICE=+0) opens it again: raising that limit
# needs CAP_SYS_RESOURCE, which some containers do not give root.
if ! prlimit --nice=20 -- true 2>/dev/null; then
	for i in 1 2; do ok 0 "# SKIP cannot raise RLIMIT_NICE here"; done
	done_testing
fi
limited 20 2 "RLIMIT_NICE 20: in the background, and back"

done_testing

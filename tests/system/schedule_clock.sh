#!/bin/sh
# Schedules when the wall clock jumps (doc/configuration.md, `missed`):
# an hour forward makes one missed run (missed = run) or one skip, never
# a storm of the runs the hour held, and the next due is the first after
# the new time; an hour back is noticed and every next due is computed
# again, so the schedule goes on rather than waiting the hour out.  The
# clock is agentd's alone: tests/tools/wallclock.so, preloaded, moves its
# CLOCK_REALTIME by what a file says.
. "$top_srcdir/tests/lib.sh"

plan 13

BUS=$(plugin_copy "$TPLUGINS/bus.so")
SHIM="$top_builddir/tests/tools/.libs/wallclock.so"
CLOCK="$T_DIR/wallclock"
echo 0 >"$CLOCK"

conf a.conf <<EOF
agent "runner" {
	plugin = "$BUS"
	schedule "beat" {
		every = 2s
		missed = run
	}
}
agent "skipper" {
	plugin = "$BUS"
	schedule "beat" {
		every = 2s
	}
}
EOF

# agentctl reads the same moved clock: a request's deadline is wall
# time, and a real jump moves every process's clock alike.
actl() {
	env LD_PRELOAD="$SHIM" AGENTD_TEST_WALLCLOCK="$CLOCK" \
	    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
	    "$AGENTCTL" --run-dir "$T_DIR/run" "$@"
}
received() { actl --json call "$1" '{"events":true}' | jq -r .received; }
at_least() { [ "$(received "$1")" -ge "$2" ]; }
sched() { agent_field "$1" ".schedules[0].$2"; }
now_ms() { date +%s%3N; }

AGENTD_TEST_WRAP="env LD_PRELOAD=$SHIM AGENTD_TEST_WALLCLOCK=$CLOCK ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 ${AGENTD_TEST_WRAP:-}"
start_agentd
ok $? "agentd starts with a wall clock of its own"
wait_for 10 agent_ready runner 1 && wait_for 10 agent_ready skipper 1
wait_for 10 at_least runner 1
ok $? "the schedule runs"

# ---- an hour forward
before=$(received runner)
echo 3600000 >"$CLOCK"
wait_for 10 status_has '.agents[] | select(.name == "runner")
    | .schedules[0].missed_runs == 1'
ok $? "an hour forward: one missed run (missed = run)"
next=$(sched runner next_due_ms)
[ "$next" -gt $(($(now_ms) + 3600000 - 1000)) ] &&
    [ "$next" -le $(($(now_ms) + 3600000 + 2000)) ]
ok $? "its next due is the first after the new time ($next)"
wait_for 10 status_has '.agents[] | select(.name == "skipper")
    | .schedules[0].skipped == 1 and .schedules[0].missed_runs == 0'
ok $? "missed = skip: one skip, no run for it"
runs=$(sched runner runs)
wait_for 10 status_has '.agents[] | select(.name == "runner")
    | .schedules[0].runs > '"$runs"
ok $? "then it runs on time again"
n=$(($(received runner) - before))
[ "$n" -ge 2 ] && [ "$n" -le 4 ]
ok $? "no storm: $n runs since the jump, not the 1800 the hour held"
[ "$(sched runner missed_runs)" = 1 ]
ok $? "and still one missed run"

# ---- back to the real time: an hour back
echo 0 >"$CLOCK"
wait_for 10 grep -q 'agent runner: the wall clock went back' "$T_DIR/agentd.log"
ok $? "an hour back is noticed, and logged"
actl --json audit --kind agent.schedule --agent runner | grep -q 'the wall clock went back'
ok $? "and audited"
next=$(sched runner next_due_ms)
[ "$next" -le $(($(now_ms) + 2000 + 500)) ]
ok $? "the next due is computed again from the new time"
r=$(received runner)
wait_for 10 at_least runner $((r + 2))
ok $? "the schedule goes on: it does not wait the hour out"

stop_agentd
ok $? "agentd stops cleanly"
done_testing

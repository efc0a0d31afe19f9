#!/bin/sh
# Graceful stop: `agentctl stop AGENT`, a request that outlives
# drain_timeout, and SIGTERM to agentd all drain: no new work, what is in
# flight finishes (up to drain_timeout), the plugin's fini runs, the
# process exits.  agentd stops agents in order: a callee only after every
# agent that may call it (calls = { }) has stopped, and exits 0.
. "$top_srcdir/tests/lib.sh"

plan 25

BUS=$(plugin_copy "$TPLUGINS/bus.so")
MIS=$(plugin_copy "$TPLUGINS/misbehave.so")
conf agents.conf <<EOF
agent "front" {
	plugin = "$BUS"
	calls = { "back" }
}
agent "back" {
	plugin = "$MIS"
	settings { sleep_ms = 5000 }
}
agent "slow" {
	plugin = "$MIS"
	health { drain_timeout = 500ms  stop_grace = 300ms }
	settings { sleep_ms = 20000 }
}
EOF

pid_of() { agent_field "$1" '.instances[0].pid // empty'; }
state_of() { agent_field "$1" .state; }
# The time (ms since the epoch) of the first log line matching $1.
log_ms() {
	line=$(grep -m1 -- "$1" "$T_DIR/agentd.log") || return 1
	ts=$(printf '%s' "$line" | cut -d' ' -f1)
	date -d "$ts" +%s%3N
}

start_agentd
wait_for 10 status_has '[.agents[] | .ready == 1] | all'
ok $? "every agent is ready"

# -- agentctl stop with a request in flight ------------------------------------
bpid=$(pid_of back)
actl call back '{}' > "$T_DIR/inflight.out" 2>&1 &
caller=$!
wait_for 5 status_has '.agents[] | select(.name == "back") | .inflight == 1'
ok $? "a 5 s request is in flight on back (pid $bpid)"
out=$(actl stop back)
ok $? "agentctl stop back: $out"
status_has '.agents[] | select(.name == "back") | .draining == 1 and .instances[0].state == "draining"'
ok $? "its instance drains while the request runs"
out=$(actl call back '{}' 2>&1)
[ $? -eq 1 ] && printf '%s' "$out" | grep -q 'agent "back" is stopped: `agentctl start back` starts it'
ok $? "a new request is refused with what to do: $out"
wait "$caller"
ok $? "the request in flight finished"
grep -q '"n": 1' "$T_DIR/inflight.out"
ok $? "with its reply: $(tr -d '\n' < "$T_DIR/inflight.out")"
wait_for 5 sh -c "! kill -0 $bpid 2>/dev/null"
ok $? "then the worker exited"
grep -q "back/back-1: misbehave fini: 1 requests" "$T_DIR/agentd.log"
ok $? "after the plugin's fini ran"
! grep -q "instance back-1 (pid $bpid) .*exited\|killed by signal" "$T_DIR/agentd.log"
ok $? "its exit is expected: no warning, no restart"
# agentd frees an exited instance at its next tick, after reaping it.
wait_for 5 status_has '.agents[] | select(.name == "back") | .state == "stopped" and .restarts == 0 and (.instances | length) == 0'
ok $? "agentctl status says stopped, no instance, no restart"
actl --json audit --agent back --kind agent.stop | grep -q 'stopped by agentctl'
ok $? "the stop is audited"
sleep 0.5
[ "$(state_of back)" = stopped ]
ok $? "and it stays stopped"

out=$(actl start slow 2>&1)
[ $? -eq 1 ] && printf '%s' "$out" | grep -q 'is not stopped'
ok $? "agentctl start of a running agent says it is not stopped: $out"
out=$(actl start back)
ok $? "agentctl start back: $out"
wait_for 10 agent_ready back
ok $? "back is ready again"
actl call back '{}' | grep -q '"n": 1'
ok $? "and a fresh instance answers"

# -- a request longer than drain_timeout ----------------------------------------
spid=$(pid_of slow)
actl call slow '{}' > "$T_DIR/slow.out" 2>&1 &
caller=$!
wait_for 5 status_has '.agents[] | select(.name == "slow") | .inflight == 1'
actl stop slow >/dev/null
wait "$caller"
rc=$?
[ $rc -eq 1 ] && grep -q EUNAVAIL "$T_DIR/slow.out"
ok $? "a request outliving drain_timeout is answered unavailable: $(tr -d '\n' < "$T_DIR/slow.out")"
grep -q "agent slow: instance slow-1 (pid $spid) still running [0-9]* ms after SIGTERM: killing it" "$T_DIR/agentd.log"
ok $? "its instance got SIGTERM at drain_timeout, SIGKILL after stop_grace"

# -- SIGTERM to agentd: in order ----------------------------------------------
actl call front '{"call":"back","body":{}}' > "$T_DIR/front.out" 2>&1 &
caller=$!
wait_for 5 status_has '.agents[] | select(.name == "back") | .inflight == 1'
kill -TERM "$AGENTD_PID"
wait_for 10 grep -q 'signal 15: stopping' "$T_DIR/agentd.log"
out=$(actl call back '{}' 2>&1)
[ $? -eq 1 ] && printf '%s' "$out" | grep -q 'agentd is stopping'
ok $? "while agentd stops, new requests are refused: $out"
wait "$caller"
grep -q '"status": "ok"' "$T_DIR/front.out" && grep -q '"n": 2' "$T_DIR/front.out"
ok $? "the request in flight through front to back finished: $(tr -d '\n ' < "$T_DIR/front.out")"
stop_agentd
ok $? "agentd exited 0"
f=$(log_ms "agent front: draining instance front-1 (1 in flight)")
b=$(log_ms "agent back: draining instance back-2 (0 in flight)")
# front holds its request until back answers: drained together, back
# would have been drained holding that request (1 in flight), however
# long the machine took between the two lines.
[ -n "$f" ] && [ -n "$b" ] && [ "$b" -ge "$f" ]
ok $? "back (the callee) was drained only once front (its caller) had stopped: front with its request in flight, back $((${b:-0} - ${f:-0})) ms later with none"
grep -q "back/back-2: misbehave fini: 2 requests" "$T_DIR/agentd.log"
ok $? "back's fini ran"
workers_gone
ok $? "no worker is left"

done_testing

#!/bin/sh
# Health: hung instances are found and replaced, each way they can hang.
#   - stuck in a request (one callback runs past hung_after): SIGTERM is
#     ignored, so SIGKILL after stop_grace; the request it held is run
#     again by the replacement;
#   - frozen (SIGSTOP): heartbeats stop;
#   - holding a request it never answers while otherwise healthy: the
#     caller hears "timeout" at the deadline, and hung_after later the
#     instance is replaced;
#   - an init slower than init_timeout is stopped and counted as a failed
#     start; a slow init within it gets no request until it is ready.
. "$top_srcdir/tests/lib.sh"

plan 24

ECHO=$(plugin_copy "$BPLUGINS/echo.so")
MIS=$(plugin_copy "$TPLUGINS/misbehave.so")
# hung_after is 3 s, not 1: on a loaded machine heartbeats (and agentd
# reading them) can be late by more than a second, and a healthy
# instance must not be taken for a hung one.
conf agents.conf <<EOF
agent "stuck" {
	plugin = "$MIS"
	health { heartbeat = 100ms  hung_after = 3s  stop_grace = 500ms }
	restart { backoff_initial = 0ms }
	settings { hang_on = 2 }
}
agent "frozen" {
	plugin = "$ECHO"
	health { heartbeat = 100ms  hung_after = 3s  stop_grace = 500ms }
	restart { backoff_initial = 0ms }
}
agent "deaf" {
	plugin = "$MIS"
	request_timeout = 1s
	health { heartbeat = 100ms  hung_after = 3s  stop_grace = 500ms }
	restart { backoff_initial = 0ms }
	settings { ignore_on = 1 }
}
agent "sleepy" {
	plugin = "$MIS"
	health { init_timeout = 500ms }
	restart { backoff_initial = 100ms  intensity = 2  period = 1m }
	settings { init_sleep_ms = 3000 }
}
agent "slowstart" {
	plugin = "$MIS"
	health { init_timeout = 1m }
	settings { init_sleep_ms = 5000 }
}
EOF

pid_of() {
	agent_field "$1" '.instances[] | select(.state == "ready") | .pid' |
	    head -n1
}
audit_has() { actl --json audit --agent "$1" --kind "$2" | grep -q -- "$3"; }

start_agentd
# slowstart is still in its init: a request now waits until it is ready.
status_has '.agents[] | select(.name == "slowstart") | .starting == 1 and .ready == 0'
ok $? "slowstart is starting while its init runs"
actl call slowstart '{}' > "$T_DIR/slow.out" 2>&1 &
slow_caller=$!

wait_for 10 status_has '[.agents[] | select(.name != "sleepy") | .ready == 1] | all'
ok $? "every agent but sleepy is ready"
wait "$slow_caller"
ok $? "the request sent during slowstart's init was answered"
like "$(cat "$T_DIR/slow.out")" '"n": 1' "as its first request, after init: $(cat "$T_DIR/slow.out")"

# -- stuck in a request ------------------------------------------------------
old=$(pid_of stuck)
actl call stuck '{}' >/dev/null
ok $? "stuck answers its first request (pid $old)"
out=$(actl call stuck '{}' 2>&1)
ok $? "the request it hangs in is answered all the same: $out"
new=$(pid_of stuck)
[ -n "$new" ] && [ "$new" != "$old" ] && ! kill -0 "$old" 2>/dev/null
ok $? "by a replacement (pid $new, was $old, which is gone)"
ms=$(actl --json audit --agent stuck --kind instance.hung --limit 1 |
    jq -r .summary | sed -n 's/.*one plugin callback has run for \([0-9]*\) ms.*/\1/p')
[ -n "$ms" ] && [ "$ms" -gt 3000 ]
ok $? "the audit trail says it hung in a callback, past hung_after (3 s): $ms ms"
n=$(actl --json audit --agent stuck --kind instance.hung | grep -c .)
[ "$n" = 1 ]
ok $? "one instance.hung record"
grep -q "agent stuck: instance stuck-1 (pid $old) still running [0-9]* ms after SIGTERM: killing it" "$T_DIR/agentd.log"
ok $? "SIGTERM was not enough: the log says it was killed"
status_has '.agents[] | select(.name == "stuck") | .restarts == 1'
ok $? "the hang counts as a restart"

# -- frozen ------------------------------------------------------------------
old=$(pid_of frozen)
[ -n "$old" ] && kill -STOP "$old" && wait_for 8 sh -c "! kill -0 $old 2>/dev/null"
ok $? "a frozen instance (SIGSTOP, pid $old) is killed"
wait_for 5 agent_ready frozen
new=$(pid_of frozen)
[ -n "$new" ] && [ "$new" != "$old" ]
ok $? "and replaced (pid $new, was $old)"
audit_has frozen instance.hung 'no heartbeat for [0-9]* ms'
ok $? "the audit trail says its heartbeats stopped"
actl call frozen '{"back":1}' | grep -q '"back": 1'
ok $? "the replacement answers"
wait_for 3 status_has '.agents[] | select(.name == "frozen") | .instances[0].handled == 1'
ok $? "its heartbeat reports the request its worker handled"

# -- a request held, never answered ------------------------------------------
old=$(pid_of deaf)
[ -n "$old" ]
ok $? "deaf is ready (pid $old)"
out=$(actl call deaf '{}' 2>&1)
[ $? -eq 1 ] && printf '%s' "$out" | grep -q ETIMEOUT
ok $? "the caller of a request never answered hears timeout: $out"
wait_for 8 sh -c "! kill -0 $old 2>/dev/null"
ok $? "the instance holding it past deadline + hung_after is stopped"
audit_has deaf instance.hung 'held a request 3000 ms past its deadline'
ok $? "the audit trail says it held a request past its deadline"
wait_for 5 agent_ready deaf
new=$(pid_of deaf)
out=$(actl call deaf '{}' 2>&1)
[ $? -eq 1 ] && printf '%s' "$out" | grep -q ETIMEOUT && [ "$new" != "$old" ]
ok $? "the replacement (pid $new) is a fresh instance: it ignores its first request too"

# -- init too slow -----------------------------------------------------------
wait_for 15 status_has '.agents[] | select(.name == "sleepy") | .state == "failed"'
ok $? "an init slower than init_timeout is a failed start, to the intensity limit"
audit_has sleepy instance.hung 'init did not finish within 500 ms'
ok $? "the audit trail says init did not finish in time"
grep -q 'agent sleepy: instance sleepy-1 did not become ready within health { init_timeout = 500 ms }' "$T_DIR/agentd.log"
ok $? "and the log names the setting"

done_testing

#!/bin/sh
# Many instances on a small machine: one agent of the echo plugin with
# instances { min = 200 } starts 200 worker processes, every one of them
# becomes ready within a bounded time, each with a pid of its own; they
# serve requests (calls in parallel are answered by more than one of
# them, and only by them); status reports agentd's own resident memory;
# SIGTERM stops all 200 cleanly: exit status 0, no worker left, no socket
# left, and no error in the log.  The times to ready and to stop are
# measured and shown.
. "$top_srcdir/tests/lib.sh"

plan 16

N=200
ECHO=$(plugin_copy "$BPLUGINS/echo.so")
conf many.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
	instances { min = $N  max = $N }
}
EOF

ms() { echo $(( $(date +%s%N) / 1000000 )); }

t0=$(ms)
start_agentd
ok $? "agentd starts with $N instances configured"
# Until all are ready, or the agent has failed (then waiting is useless).
wait_for 60 status_has ".agents[0] | .ready == $N or .state == \"failed\""
status_has ".agents[0] | .ready == $N"
ok $? "all $N instances are ready within $(slow 60) s"
diag "$(actl --json status | jq -r '.agents[0] |
    "ready \(.ready) starting \(.starting) restarts \(.restarts) state \(.state)"'
    ) $(( $(ms) - t0 )) ms after agentd started"

st=$(actl --json status)
printf '%s' "$st" | jq_true '.agents[0] |
    .ready == $n and .starting == 0 and .restarts == 0 and
    (.instances | length == $n and all(.state == "ready"))' --argjson n $N
ok $? "status lists $N instances, all ready, none restarted"
pids=$(printf '%s' "$st" | jq -r '.agents[0].instances[].pid' | sort -n)
[ "$(printf '%s\n' "$pids" | sort -u | grep -c '^[0-9][0-9]*$')" -eq $N ]
ok $? "$N distinct pids"
live=$(pgrep -f "agentd-worker.*$T_DIR" | sort -n)
[ "$live" = "$pids" ]
ok $? "they are exactly the agentd-worker processes running"
printf '%s' "$st" | jq_true '.rss_kb > 0'
ok $? "status reports agentd's resident memory"
diag "agentd rss $(printf '%s' "$st" | jq .rss_kb) KiB; workers $(printf '%s' \
    "$st" | jq '[.agents[0].instances[].rss_kb] | add') KiB in all"
[ "$(find "$T_DIR/run" -type s -name 'echo-*.sock' ! -name '*-ev.sock' | wc -l)" -eq $N ] &&
    [ "$(find "$T_DIR/run" -type s -name 'echo-*-ev.sock' | wc -l)" -eq $N ]
ok $? "a request and an event socket for each instance in the run folder"

# 50 calls at once, every reply kept.
one_call() {
	c_out=$(actl --json call --timeout "$(slow 10)s" echo "{\"c\":$1}" 2>&1)
	echo "$? $(printf '%s' "$c_out" | tr '\n' ' ')" > "$T_DIR/calls.$1"
}
t0=$(ms)
c=0
while [ $c -lt 50 ]; do
	c=$((c + 1))
	one_call $c &
	cpids="${cpids:-} $!"
done
# Bounded: each call gives up after a (scaled) 10 s.
wait $cpids
diag "50 calls at once answered in $(( $(ms) - t0 )) ms"
cat "$T_DIR"/calls.* > "$T_DIR/calls"
[ "$(wc -l < "$T_DIR/calls")" -eq 50 ]
ok $? "50 calls made"
[ "$(grep -c '^0 {"echo":{"c":[0-9]*},"instance":"echo-[0-9]*","pid":[0-9]*}$' \
    "$T_DIR/calls")" -eq 50 ]
ok $? "every call succeeded with its own body echoed"
grep -v '^0 ' "$T_DIR/calls" | head -5 | while read -r l; do diag "  $l"; done
answered=$(sed -n 's/.*"pid":\([0-9]*\)}$/\1/p' "$T_DIR/calls" | sort -un)
n_answered=$(printf '%s\n' "$answered" | grep -c .)
[ "$n_answered" -gt 1 ]
ok $? "more than one instance answered ($n_answered)"
printf '%s\n' "$pids" | sort > "$T_DIR/pids"
[ "$n_answered" -ge 1 ] &&
    [ -z "$(printf '%s\n' "$answered" | sort | comm -23 - "$T_DIR/pids")" ]
ok $? "every answer came from one of the $N instances"
status_has '.agents[0] | .requests == 50 and .replies.ok == 50 and .errors == 0'
ok $? "status counts 50 requests, 50 replies ok, no error"

t0=$(ms)
stop_agentd
ok $? "SIGTERM stops agentd with exit status 0"
diag "$N instances stopped in $(( $(ms) - t0 )) ms"
workers_gone
ok $? "no worker is left"
left=$(find "$T_DIR/run" -type s)
[ -z "$left" ]
ok $? "no socket is left in the run folder"
if [ -n "$left" ]; then diag "  left: $(printf '%s' "$left" | head -5 | tr '\n' ' ')"; fi
n_err=$(grep -c ' error: ' "$T_DIR/agentd.log")
[ "$n_err" -eq 0 ]
ok $? "the log has no error"
grep ' error: ' "$T_DIR/agentd.log" | head -5 | while read -r l; do diag "  $l"; done
grep ' warn: ' "$T_DIR/agentd.log" | head -5 | while read -r l; do diag "  warning: $l"; done

done_testing

#!/bin/sh
# kill -9 under steady load: six callers make 20 calls each, one after
# the other, to an agent of two slow instances (100 ms a request); while
# they run, an instance holding a request is killed with SIGKILL, then
# the other original one.  No request is lost: each call exits 0 with a
# reply (the request the dead instance held is re-dispatched to another
# instance), agentd counts exactly 120 requests and 120 good replies, each
# killed instance is replaced by a new one that serves, the restarts are
# counted, and the audit trail records each exit.
. "$top_srcdir/tests/lib.sh"

plan 26

CALLERS=6
CALLS=20
TOTAL=$((CALLERS * CALLS))
MIS=$(plugin_copy "$TPLUGINS/misbehave.so")
conf load.conf <<EOF
agent "load" {
	plugin = "$MIS"
	instances { min = 2  max = 2 }
	restart { backoff_initial = 50ms }
	settings { sleep_ms = 100 }
}
EOF

# The status of agent "load" as compact JSON.
lstatus() { actl --json status | jq -c '.agents[] | select(.name == "load")'; }

ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Lines of the result files: "CALLER CALL EXIT-STATUS MS REPLY".
done_calls() { cat "$T_DIR"/calls.* 2>/dev/null | wc -l; }
at_least() { [ "$(done_calls)" -ge "$1" ]; }

# call_loop C: CALLS calls in sequence, each result on a line of calls.C.
call_loop() {
	c_i=0
	while [ $c_i -lt $CALLS ]; do
		c_i=$((c_i + 1))
		c_t=$(ms)
		c_out=$(actl --json call --timeout 20s load "{\"c\":$1,\"i\":$c_i}" 2>&1)
		c_rv=$?
		echo "$1 $c_i $c_rv $(( $(ms) - c_t ))" \
		    "$(printf '%s' "$c_out" | tr '\n' ' ')" >> "$T_DIR/calls.$1"
	done
	ms > "$T_DIR/done.$1"
}
all_done() { [ "$(ls "$T_DIR"/done.* 2>/dev/null | wc -l)" -eq $CALLERS ]; }

# The pid of a ready instance holding a request, among those given.
busy_pid() {
	lstatus | jq -r --argjson among "[$1]" '.instances[] |
	    select(.state == "ready" and .inflight > 0 and
	           (.pid | IN($among[]))) | .pid' | head -1
}

# Both instances ready, neither of them one of the pids given.
replaced() {
	lstatus | jq_true '.ready == 2 and
	    ([.instances[] | select(.state == "ready") | .pid] |
	     (unique | length) == 2 and all(IN($gone[]) | not))' \
	    --argjson gone "[$1]"
}

# kill_busy AMONG NAME: SIGKILL one of the pids AMONG (comma separated)
# while it holds a request.  Sets VICTIM.  A busy machine can take longer
# between a status and the kill than the instance takes to answer, so the
# candidate is stopped (SIGSTOP) first, and killed only if it still holds
# a request once agentd has answered two more calls (any reply it had
# sent before it stopped has been counted by then); otherwise it goes on
# (SIGCONT) and another moment is tried.
kill_busy() {
	VICTIM=
	k_end=$(( $(date +%s) + $(slow 10) ))
	while [ "$(date +%s)" -lt "$k_end" ]; do
		k_pid=$(busy_pid "$1")
		if [ -z "$k_pid" ]; then
			sleep 0.01
			continue
		fi
		kill -STOP "$k_pid" || continue
		wait_for 3 at_least $(( $(done_calls) + 2 ))
		if [ -n "$(busy_pid "$k_pid")" ]; then
			VICTIM=$k_pid
			break
		fi
		kill -CONT "$k_pid"
	done
	[ -n "$VICTIM" ] && kill -KILL "$VICTIM"
	ok $? "$2: SIGKILL instance pid ${VICTIM:-?} while it holds a request"
}

start_agentd
ok $? "agentd starts"
wait_for 10 agent_ready load 2
ok $? "two instances are ready"
orig=$(lstatus | jq -r '[.instances[].pid] | join(",")')
diag "instances: pids $orig"

t0=$(ms)
c=0
while [ $c -lt $CALLERS ]; do
	c=$((c + 1))
	call_loop $c &
	cpids="${cpids:-} $!"
done

wait_for 30 at_least $((TOTAL / 4))
ok $? "a quarter of the calls are answered ($(done_calls))"
kill_busy "$orig" "first kill"
first=$VICTIM
wait_for 10 sh -c "! kill -0 $first 2>/dev/null"
ok $? "the killed worker is gone"
wait_for 10 replaced "$first"
ok $? "a new instance replaces it: two ready, neither the killed one"
all_done
ok $((1 - $?)) "the callers are still calling ($(done_calls) answered)"

wait_for 30 at_least $((TOTAL / 2))
ok $? "half the calls are answered ($(done_calls))"
kill_busy "$orig" "second kill, the other original instance"
second=$VICTIM
[ -n "$second" ] && [ "$second" != "$first" ]
ok $? "it is not the one killed before"
wait_for 10 replaced "$first,$second"
ok $? "it is replaced too: two ready, neither original"
new=$(lstatus | jq -r '[.instances[].pid] | join(",")')
diag "instances now: pids $new"

wait_for 60 all_done
ok $? "every caller finished"
diag "$TOTAL calls in $(( $(cat "$T_DIR"/done.* | sort -n | tail -1) - t0 )) ms"
cat "$T_DIR"/calls.* > "$T_DIR/calls"
[ "$(wc -l < "$T_DIR/calls")" -eq $TOTAL ]
ok $? "$TOTAL calls made"
[ "$(sort -u -k1,2 "$T_DIR/calls" | wc -l)" -eq $TOTAL ]
ok $? "each of them once"
diag "slowest calls (caller call status ms reply):"
sort -k4,4n "$T_DIR/calls" | tail -3 | while read -r l; do diag "  $l"; done
[ "$(grep -c '^[0-9]* [0-9]* 0 [0-9]* ' "$T_DIR/calls")" -eq $TOTAL ]
ok $? "every call exited 0"
grep -v '^[0-9]* [0-9]* 0 [0-9]* ' "$T_DIR/calls" | head -5 |
    while read -r l; do diag "  $l"; done
[ "$(grep -Ec '^[0-9]+ [0-9]+ 0 [0-9]+ \{"n":[0-9]+,"pid":[0-9]+\}$' "$T_DIR/calls")" -eq $TOTAL ]
ok $? "every call got a reply from an instance"
sed -n 's/.*"pid":\([0-9]*\)}$/\1/p' "$T_DIR/calls" | sort -u > "$T_DIR/answered"
printf '%s\n' "$new" | tr ',' '\n' | sort > "$T_DIR/new"
[ "$(comm -12 "$T_DIR/answered" "$T_DIR/new" | wc -l)" -eq 2 ]
ok $? "both replacement instances served calls"

st=$(lstatus)
diag "status: $(printf '%s' "$st" | jq -c '{requests, replies, errors,
    redispatched, restarts, inflight, queued, state}')"
printf '%s' "$st" | jq_true '.requests == $n and
    .replies == {"ok": $n} and .errors == 0' --argjson n $TOTAL
ok $? "agentd counts $TOTAL requests, $TOTAL replies ok, no error"
printf '%s' "$st" | jq_true '.inflight == 0 and .queued == 0'
ok $? "nothing is left in flight or queued"
# Each killed instance held a request when it was killed (kill_busy):
# what it held was sent again to another one (the log says so once a
# request).
printf '%s' "$st" | jq_true '.redispatched >= 2'
ok $? "the requests the killed instances held were re-dispatched"
for id in $(actl --json audit --agent load --kind instance.exit --limit 0 |
    jq -r .instance); do
	diag "$id killed: $(grep -c "re-dispatching a request $id held" \
	    "$T_DIR/agentd.log") request(s) re-dispatched"
done
n=$(grep -c 'agent load: re-dispatching a request' "$T_DIR/agentd.log")
printf '%s' "$st" | jq_true '.redispatched == $n' --argjson n "$n"
ok $? "the log tells of each re-dispatch ($n)"
printf '%s' "$st" | jq_true '.restarts == 2 and .state == "running"'
ok $? "two restarts counted, the agent running"
exits=$(actl --json audit --agent load --kind instance.exit --limit 0)
printf '%s\n' "$exits" | jq -s -e --arg a "pid $first killed by signal 9" \
    --arg b "pid $second killed by signal 9" \
    'length == 2 and (map(.summary) | sort) == ([$a, $b] | sort)' >/dev/null
ok $? "the audit trail has an instance.exit record for each kill"

! grep -q ' error: ' "$T_DIR/agentd.log"
ok $? "the log has no error"
grep ' error: ' "$T_DIR/agentd.log" | head -5 | while read -r l; do diag "  $l"; done
stop_agentd
ok $? "agentd stops cleanly"
workers_gone
ok $? "no worker is left"
wait $cpids
done_testing

#!/bin/sh
# Workers that die with messages in flight both ways (issue 19, finding
# 2): the lastwords plugin keeps audit records, proposals, calls to its
# own agent and events under way on all four of its connections and
# _exit()s in the middle of them, over and over; at the end of each round
# agentd is stopped with SIGTERM while they flood.  agentd must go on
# reaping and restarting them, and stop by itself.  Before the fix, nng
# 1.5.2's reaper could stall for good (doc/architecture.md, "What must
# never wait"): a connection closed from agentd's side, by agentd or by
# nng after a send to the dead worker failed, while the worker's last
# message was being read; from then on the main loop waited in nng_close
# ("main loop stuck ... at: collect_exited"), reaped and restarted
# nothing, and never acted on SIGTERM.
. "$top_srcdir/tests/lib.sh"

# These workers die while agentd sends to them, and nng 1.5.2 then loses
# the message it was handing to the closing pipe (doc/architecture.md,
# "What nng 1.5.2 loses when a worker dies mid-send").  That leak, and
# only at its two allocation sites, is not reported here; elsewhere it is.
LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$top_srcdir/tests/supp/nng-lost-send.lsan"
export LSAN_OPTIONS
case ${AGENTD_TEST_WRAP:-} in
valgrind*)
	AGENTD_TEST_WRAP="$AGENTD_TEST_WRAP --suppressions=$top_srcdir/tests/supp/nng-lost-send.valgrind" ;;
esac

ROUNDS=4
# Restarts each round waits for: each is a worker that died mid-flood.
PER_ROUND=12

plan $((ROUNDS * 4 + 2))

LW=$(plugin_copy "$TPLUGINS/lastwords.so")
conf lastwords.conf <<EOF
policy { rule "lastwords" { type = { "low" } risk = low } }
agent "last" {
	plugin = "$LW"
	instances { min = 3 }
	calls = { "last" }
	publish = { "lastwords" }
	subscribe = { "lastwords" }
	restart { backoff_initial = 10ms  backoff_max = 20ms
		  intensity = 1000  period = 1s }
	settings { outstanding = 32  exit_after_ms = 150 }
}
EOF

restarts() { agent_field last .restarts 2>/dev/null; }
# The loop's watchdog logged a stuck loop (after 10 s of it) since line
# $T_FROM of agentd's log (where this round began).
stuck() { tail -n "+$T_FROM" "$T_DIR/agentd.log" | grep -q "main loop stuck"; }
# The loop has restarted $1 workers, or it is stuck: no use waiting on.
restarted_or_stuck() {
	stuck && return 0
	r=$(restarts)
	[ -n "$r" ] && [ "$r" -ge "$1" ]
}
gone() { ! kill -0 "$AGENTD_PID" 2>/dev/null; }
gone_or_stuck() { gone || stuck; }

round=1
while [ "$round" -le "$ROUNDS" ]; do
	T_FROM=$(($(wc -l <"$T_DIR/agentd.log" 2>/dev/null || echo 0) + 1))
	start_agentd
	ok $? "round $round: agentd starts"
	wait_for 60 restarted_or_stuck "$PER_ROUND"
	r=$(restarts)
	! stuck && [ -n "$r" ] && [ "$r" -ge "$PER_ROUND" ]
	ok $? "round $round: workers dying mid-flood are reaped and restarted ($r restarts, the loop not stuck)"
	kill -TERM "$AGENTD_PID"
	# Bounded by the instances' drain and stop_grace (5 s each); a loop
	# stuck in nng_close never ends, and says so after 10 s.
	wait_for 30 gone_or_stuck
	gone
	ok $? "round $round: SIGTERM with the workers flooding: agentd ends by itself"
	if gone; then
		wait "$AGENTD_PID"
		rv=$?
	else
		kill -KILL "$AGENTD_PID"
		wait "$AGENTD_PID"
		rv=killed
	fi
	AGENTD_PID=
	[ "$rv" = 0 ]
	ok $? "round $round: with status 0 (got $rv)"
	round=$((round + 1))
done

wait_for 10 workers_gone
ok $? "no worker is left"
T_FROM=1
! stuck
ok $? "the main loop never got stuck"
n=$(grep -c "still open" "$T_DIR/agentd.log")
diag "connections outlived their worker past the bound $n time(s)"

done_testing

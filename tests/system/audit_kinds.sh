#!/bin/sh
# The kinds agentd writes (agent., instance., call., state., event.,
# audit., agentd., policy., approval.) are agentd's: a plugin's record of
# one is refused with EDENIED and not written, whether it goes through
# host->audit (the worker refuses it) or is written onto the worker's
# connection to calls.sock past the worker's checks (agentd refuses it: it
# never trusts the worker).
. "$top_srcdir/tests/lib.sh"

plan 9

BUS=$(plugin_copy "$TPLUGINS/bus.so")
SNOOP=$(plugin_copy "$TPLUGINS/snoop.so")
conf agents.conf <<EOF2
agent "front" { plugin = "$BUS" }
agent "snoop" { plugin = "$SNOOP" settings { run_dir = "$T_DIR/run" } }
EOF2

start_agentd
ok $? "agentd starts"
wait_for 10 agent_ready front && wait_for 10 agent_ready snoop
ok $? "both agents are ready"

out=$(actl --json call front '{"audit":{"kind":"agent.reload","summary":"forged reload"}}')
like "$out" '"status":"EDENIED"' "host->audit of agent.reload: EDENIED"
out=$(actl --json call front '{"audit":{"kind":"Instance.exit","summary":"forged exit"}}')
like "$out" '"status":"EDENIED"' "host->audit of Instance.exit (any case): EDENIED"
out=$(actl --json call snoop '{"op":"audit","kind":"agent.reload"}')
like "$out" '"status":"sent"' "agent.reload written onto calls.sock past the worker"
out=$(actl --json call snoop '{"op":"audit","kind":"agentd.stop"}')
like "$out" '"status":"sent"' "agentd.stop written onto calls.sock past the worker"

# The same way, a kind of the plugin's own is written: once it is in the
# trail, agentd has handled the two before it (one connection, in order).
out=$(actl --json call snoop '{"op":"audit","kind":"snoop.looked"}')
like "$out" '"status":"sent"' "a kind of the plugin's own is sent the same way"
looked() { actl --json audit | grep -q snoop.looked; }
wait_for 10 looked
n=$(actl --json audit | grep -c 'forged\|written by snoop')
[ "$n" -eq 1 ]
ok $? "the trail holds the plugin's own record only ($n): agentd refused agent.reload and agentd.stop"
stop_agentd
ok $? "agentd stops cleanly"

done_testing

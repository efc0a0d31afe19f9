#!/bin/sh
# The kinds agentd writes (agent., instance., call., state., event.,
# audit., agentd., policy., approval.) are agentd's: a plugin's record of
# one is refused with EDENIED and not written, whether it goes through
# host->audit (the worker refuses it) or speaks the protocol to
# calls.sock itself (agentd refuses it: it never trusts the worker).
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
like "$out" '"status":"EDENIED"' "agent.reload sent to calls.sock past the worker: EDENIED"
out=$(actl --json call snoop '{"op":"audit","kind":"agentd.stop"}')
like "$out" '"status":"EDENIED"' "agentd.stop sent to calls.sock past the worker: EDENIED"

out=$(actl --json call snoop '{"op":"audit","kind":"snoop.looked"}')
like "$out" '"status":"ok"' "a kind of the plugin's own is written"
n=$(actl --json audit | grep -c 'forged\|written by snoop')
[ "$n" -eq 1 ]
ok $? "the trail holds the plugin's own record only ($n)"
stop_agentd
ok $? "agentd stops cleanly"

done_testing

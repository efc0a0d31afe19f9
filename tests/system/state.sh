#!/bin/sh
# Per-agent state through the host table: put, get, delete, scan and an
# all-or-nothing batch, each agent in its own namespace; what a plugin was
# told is written survives kill -9 of its worker and a restart of agentd.
. "$top_srcdir/tests/lib.sh"

plan 27

BUS=$(plugin_copy "$TPLUGINS/bus.so")
SNOOP=$(plugin_copy "$TPLUGINS/snoop.so")
conf state.conf <<EOF
agent "pricing" { plugin = "$BUS" restart { backoff_initial = 50ms } }
agent "price" { plugin = "$BUS" }
agent "snoop" { plugin = "$SNOOP" settings { run_dir = "$T_DIR/run" } }
EOF

st() { actl --json call "$1" "$2"; }

start_agentd
ok $? "agentd starts"
wait_for 10 agent_ready pricing 1 && wait_for 10 agent_ready price 1
ok $? "pricing and price are ready"

out=$(st pricing '{"state":"put","key":"sku-1","val":{"price":10.5}}')
like "$out" '"status":"ok"' "put answers ok once written"
out=$(st pricing '{"state":"get","key":"sku-1"}')
like "$out" '"status":"ok","value":\{"price":10.5\}' "get reads the value back"
out=$(st price '{"state":"get","key":"sku-1"}')
like "$out" '"status":"ENOENT"' "another agent does not see it, even with a name that prefixes it"
st price '{"state":"put","key":"sku-1","val":"other"}' >/dev/null
out=$(st pricing '{"state":"get","key":"sku-1"}')
like "$out" '"value":\{"price":10.5\}' "and its own key of the same name does not change pricing's"

st pricing '{"state":"batch","ops":[["sku-2",2],["sku-3",3],["sku-1",null]]}' >/dev/null
out=$(st pricing '{"state":"scan","key":"sku-"}')
like "$out" '"status":"ok","value":\["sku-2","sku-3"\]' "a batch puts and deletes together; scan lists the keys by prefix"
out=$(st pricing '{"state":"batch","ops":[["sku-4",4],["",1]]}')
like "$out" '"status":"EINVAL"' "a batch with one bad key is refused"
out=$(st pricing '{"state":"get","key":"sku-4"}')
like "$out" '"status":"ENOENT"' "...and none of it was written"
out=$(st pricing '{"state":"del","key":"nothing"}')
like "$out" '"status":"ENOENT"' "deleting a missing key: ENOENT"

# The operator's view: agentctl state, on the same namespaces.
like "$(actl state get pricing sku-2)" '^2$' "agentctl state get shows what the plugin wrote"
actl state put pricing limits '{"max":12.5}' && [ "$(actl state ls pricing lim)" = limits ]
ok $? "agentctl state put writes, state ls lists by prefix"
out=$(st pricing '{"state":"get","key":"limits"}')
like "$out" '"value":\{"max":12.5\}' "...and the plugin reads the operator's value"
actl state del pricing limits && ! actl state get pricing limits 2>/dev/null
ok $? "agentctl state del removes it"
err=$(actl state get nosuch x 2>&1)
like "$err" 'no agent named "nosuch"' "an unknown agent is named in the error"

# A plugin speaking the protocol itself, naming another agent's state.
wait_for 10 agent_ready snoop 1
out=$(actl --json call snoop '{"agent":"snoop","op":"put","key":"mine"}')
like "$out" '"status":"sent"' "a raw request can be written on the worker's own connection"
wait_for 5 sh -c "[ \"\$($AGENTCTL --run-dir $T_DIR/run state get snoop mine)\" = '\"stolen\"' ]"
ok $? "the raw protocol works for the plugin's own state"
actl --json call snoop '{"agent":"pricing","op":"get","key":"sku-2"}' >/dev/null
wait_for 5 sh -c "$AGENTCTL --run-dir $T_DIR/run audit --agent snoop --kind state.denied | grep -q 'state.get on another agent'"
ok $? "reading another agent's key is denied"
actl --json call snoop '{"agent":"pricing","op":"put","key":"sku-2"}' >/dev/null
# Audited at most once a second: the counter says it was denied too.
wait_for 5 status_has '.agents[] | select(.name=="snoop") | .state_denied == 2'
ok $? "writing another agent's key is denied"
[ "$(actl state get pricing sku-2)" != '"stolen"' ] &&
    [ "$(actl state get snoop mine)" = '"stolen"' ]
ok $? "the other agent's key is untouched; the plugin's own write landed"
actl audit --agent snoop --kind state.denied | grep -q "state.get on another agent's state denied" &&
    status_has '.agents[] | select(.name=="snoop") | .state_denied == 2'
ok $? "the denial is audited and counted"

# Acknowledged writes survive kill -9 of the worker, then of agentd.
st pricing '{"state":"put","key":"ack","val":"written"}' >/dev/null
wpid=$(actl --json status | jq '.agents[] | select(.name=="pricing") | .instances[0].pid')
kill -KILL "$wpid"
wait_for 10 status_has '.agents[] | select(.name=="pricing") | .restarts == 1 and .ready == 1'
out=$(st pricing '{"state":"get","key":"ack"}')
like "$out" '"value":"written"' "the new instance reads what the killed one wrote"
kill -KILL "$AGENTD_PID"
wait "$AGENTD_PID" 2>/dev/null
AGENTD_PID=
wait_for 10 workers_gone
start_agentd
ok $? "agentd starts again after kill -9, on the same state"
wait_for 10 agent_ready pricing 1
out=$(st pricing '{"state":"scan","key":""}')
like "$out" '"value":\["ack","sku-2","sku-3"\]' "every acknowledged write is there"
# A process killed inside a read transaction leaves its reader slot in
# the lock file; agentd clears such slots (mdb_reader_check).
"$top_builddir/tests/tools/lmdb_reader" "$T_DIR/state/db" > "$T_DIR/reader.out" &
reader=$!
wait_for 5 grep -q reading "$T_DIR/reader.out"
mdb_stat -r "$T_DIR/state/db" | grep -q "^ *$reader "
ok $? "a reader process holds a slot in the reader table"
kill -KILL "$reader"
wait "$reader" 2>/dev/null
wait_for 5 sh -c "! mdb_stat -r '$T_DIR/state/db' | grep -q '^ *$reader '"
ok $? "once it is killed, agentd clears its stale slot"
stop_agentd
ok $? "agentd stops"
done_testing

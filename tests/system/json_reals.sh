#!/bin/sh
# Doubles come out as the shortest text that reads back to the same double
# (runtime/common/json_out.h): 4.17, not 4.1699999999999999, in every JSON
# agentctl prints (call, tail, audit --json, state get) and in the HTTP
# API's answers.  One document mixes reals that need 3 digits with one
# that needs 16 and an integer past 2^53, which stays exact.
. "$top_srcdir/tests/lib.sh"

plan 9

ECHO=$(plugin_copy "$BPLUGINS/echo.so")
BUS=$(plugin_copy "$TPLUGINS/bus.so")
conf agentd.conf <<EOF
agentd {
	http { listen = "127.0.0.1:0" }
}
EOF
conf agents.conf <<EOF
agent "echo" { plugin = "$ECHO" }
agent "bus" { plugin = "$BUS" }
EOF

DOC='[4.17,0.1,1e-300,0.3333333333333333,9007199254740993,2.5]'
# The same as an extended regular expression.
RE=$(printf '%s' "$DOC" | sed 's/[].[]/\\&/g')
NOISE='4\.16999|0\.10000000000000001|1\.0000000000000001e-300'
# seen TEXT: keep it for the last check, and print it.
seen() { printf '%s\n' "$1" >> "$T_DIR/all.out"; printf '%s' "$1"; }

start_agentd
ok $? "agentd starts"
wait_for 10 agent_ready echo && wait_for 10 agent_ready bus
ok $? "echo and bus are ready"

like "$(seen "$(actl --json call echo "{\"p\":$DOC}")")" "\"p\":$RE" \
    "call --json: every real shortest, the integer exact"
out=$(actl call echo '{"price":4.17}')
like "$out" '"price": 4\.17$' "call, indented: \"price\": 4.17"

actl tail --count 1 prices > "$T_DIR/tail.out" 2>&1 &
tpid=$!
wait_for 10 sh -c "'$AGENTCTL' --run-dir '$T_DIR/run' publish prices.new '{\"p\":$DOC}' >/dev/null; [ -s '$T_DIR/tail.out' ]"
wait_for 10 sh -c "! kill -0 $tpid 2>/dev/null"
like "$(seen "$(cat "$T_DIR/tail.out")")" "\"body\":\\{\"p\":$RE\\}" "tail: the event's reals shortest"

actl call bus "{\"audit\":{\"kind\":\"prices.set\",\"summary\":\"s\",\"detail\":{\"p\":$DOC}}}" >/dev/null
like "$(seen "$(actl --json audit --kind prices.set)")" "\"p\":$RE" \
    "audit --json: the detail's reals shortest"

actl state put bus price "{\"p\":$DOC}" >/dev/null
like "$(seen "$(actl --json state get bus price)")" "$RE" "state get: the value's reals shortest"

if command -v curl >/dev/null; then
	TOKEN=$(actl token create reals --role operator)
	body=$(curl -s -X POST -H "Authorization: Bearer $TOKEN" \
	    -d "{\"p\":$DOC}" "http://$(cat "$T_DIR/run/http.addr")/v1/agents/echo/call")
	like "$(seen "$body")" "\"p\":$RE" "the HTTP API's answer: the reals shortest"
else
	ok 0 "# SKIP no curl"
fi
if grep -Eq "$NOISE" "$T_DIR/all.out"; then
	ok 1 "no output shows binary noise"
else
	ok 0 "no output shows binary noise"
fi
done_testing

#!/bin/sh
# Capabilities and discovery (ABI 1.5): agents get capabilities from their
# plugin's descriptor and their .conf's capabilities = { } (sorted, each
# once); status, agentctl agents [--capability] and GET /v1/agents show
# them; a plugin asking host->find_agents hears the agents that have one,
# sorted; a reload that adds one is seen by the next find_agents; a bad
# capability in a .conf (FILE:LINE) or in a descriptor (the entry) is
# refused with one line, and what runs is unchanged.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/reload_lib.sh"

command -v curl >/dev/null || { echo "1..0 # SKIP no curl"; exit 0; }
plan 36

FIND=$(plugin_copy "$TPLUGINS/finder.so")
BAD=$(plugin_copy "$TPLUGINS/finder_bad.so")
ECHO=$(plugin_copy "$BPLUGINS/echo.so")

conf agentd.conf <<EOF
agentd {
	http { listen = "127.0.0.1:0" }
}
EOF
conf e.conf <<EOF
agent "e" {
	plugin = "$ECHO"
	capabilities = { "quote" }
}
EOF
conf f.conf <<EOF
agent "f" {
	plugin = "$FIND"
	capabilities = { "search", "quote" }
}
EOF
write_g() {
	conf g.conf <<EOF
agent "g" {
	plugin = "$FIND"
	$1
}
EOF
}
write_g ""

start_agentd
wait_for 10 agent_ready e && wait_for 10 agent_ready f &&
    wait_for 10 agent_ready g
ok $? "e (echo), f and g (finder) are ready"

# ---- status ------------------------------------------------------------------
caps() { agent_field "$1" '.capabilities | join(",")'; }
[ "$(caps f)" = "finder,quote,search" ]
ok $? "status: f has its plugin's and its .conf's, sorted, each once ($(caps f))"
[ "$(caps e)" = "echo,quote" ]
ok $? "status: e has echo's (echo) and quote ($(caps e))"
[ "$(caps g)" = "finder,search" ]
ok $? "status: g has its plugin's alone ($(caps g))"
out=$(actl status)
like "$out" "^  capabilities: finder, quote, search$" \
    "agentctl status prints an agent's capabilities under it"

# ---- agentctl agents ---------------------------------------------------------
norm() { printf '%s\n' "$1" | tr -s ' '; }
out=$(actl agents)
ok $? "agentctl agents answers"
[ "$(norm "$out")" = "$(printf 'e echo,quote\nf finder,quote,search\ng finder,search')" ]
ok $? "one line per agent, by name: name and capabilities ($(flat "$out"))"
out=$(actl agents --capability quote)
[ "$(norm "$out")" = "$(printf 'e echo,quote\nf finder,quote,search')" ]
ok $? "--capability quote: e and f only ($(flat "$out"))"
out=$(actl --json agents --capability search)
names=$(printf '%s\n' "$out" | jq -sc '[.[].name]')
[ "$names" = '["f","g"]' ]
ok $? "--json: one object per agent ($names)"
printf '%s\n' "$out" | head -1 | jq_true '.name == "f" and .state == "running"
    and .capabilities == ["finder","quote","search"] and .version == "1.0.0"'
ok $? "... with name, version, state and capabilities"
out=$(actl agents --capability nobody)
[ $? -eq 0 ] && [ -z "$out" ]
ok $? "a capability nobody has: nothing, exit 0"
err=$(actl agents --capability 'Not OK' 2>&1 >/dev/null)
rc=$?
[ $rc -eq 1 ]
ok $? "a capability that is not one: exit 1 (got $rc)"
one_line "$err" "... one line"
like "$err" "capability.*\\[a-z0-9_.-\\]" "... saying what a capability is"

# ---- the HTTP API --------------------------------------------------------------
wait_for 10 test -s "$T_DIR/run/http.addr"
URL="http://$(cat "$T_DIR/run/http.addr")"
VIEW=$(actl token create viewer1 --role viewer)
hget() {
	curl -s -o "$T_DIR/body" -w '%{http_code}' \
	    -H "Authorization: Bearer $VIEW" "$URL$1"
}
code=$(hget '/v1/agents?capability=quote')
[ "$code" = 200 ]
ok $? "GET /v1/agents?capability=quote as a viewer: 200 (got $code)"
jq_true '[.agents[].name] == ["e","f"]
    and .agents[1].capabilities == ["finder","quote","search"]' <"$T_DIR/body"
ok $? "... e and f, with their capabilities ($(cat "$T_DIR/body"))"
code=$(hget '/v1/agents')
jq_true '[.agents[].name] == ["e","f","g"]' <"$T_DIR/body"
ok $? "GET /v1/agents: every agent ($code)"
code=$(hget '/v1/agents?capability=Not%20OK')
[ "$code" = 400 ]
ok $? "a bad capability: 400 (got $code)"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/agents")
[ "$code" = 401 ]
ok $? "no token: 401 (got $code)"
code=$(hget '/v1/status')
jq_true '.agents[] | select(.name == "f") | .capabilities
    == ["finder","quote","search"]' <"$T_DIR/body"
ok $? "GET /v1/status shows them too"

# ---- host->find_agents -----------------------------------------------------------
found() { actl --json call "$1" "\"$2\"" 2>&1 | jq -c .agents; }
r=$(found f quote)
[ "$r" = '["e","f"]' ]
ok $? "f's find_agents(quote): e and f, sorted ($r)"
r=$(found g finder)
[ "$r" = '["f","g"]' ]
ok $? "g's find_agents(finder): the plugin's own capability ($r)"
r=$(found f nobody)
[ "$r" = '[]' ]
ok $? "find_agents(nobody): an empty list ($r)"
err=$(actl call f '"Not OK"' 2>&1)
like "$err" "EINVAL|invalid" "find_agents of a bad capability: EINVAL ($err)"

# ---- a reload that adds a capability -----------------------------------------------
write_g 'capabilities = { "quote" }'
out=$(actl reload 2>&1)
ok $? "reload with quote added to g: $(flat "$out")"
wait_for 10 status_has '.agents[] | select(.name == "g")
    | .capabilities == ["finder","quote","search"]'
ok $? "status: g has quote once its new generation serves"
r=$(found f quote)
[ "$r" = '["e","f","g"]' ]
ok $? "the next find_agents(quote) names g too ($r)"

# ---- bad input changes nothing ---------------------------------------------------
conf x.conf <<EOF
agent "x" {
	plugin = "$FIND"

	capabilities = { "ok", "Not OK" }
}
EOF
out=$(actl reload 2>&1)
rc=$?
[ $rc -eq 1 ]
ok $? "a .conf with a bad capability: reload exits 1 (got $rc)"
like "$out" "x\\.conf:4: agent \"x\": capabilities: \"Not OK\" is not a capability" \
    "... the line names FILE:LINE, the agent and the entry"
"$AGENTD" --confdir "$T_DIR/conf" --state-dir "$T_DIR/state" \
    --run-dir "$T_DIR/run" --check-config >/dev/null 2>"$T_DIR/check.err"
err=$(cat "$T_DIR/check.err")
one_line "$err" "--check-config says it in one line: $err"
conf x.conf <<EOF
agent "x" {
	plugin = "$BAD"
}
EOF
out=$(actl reload 2>&1)
rc=$?
[ $rc -eq 1 ]
ok $? "a plugin whose descriptor has a bad capability: reload exits 1 (got $rc)"
like "$out" "finder_bad\\.so: descriptor \\.capabilities\\[1\\] \"Not OK\" is not a capability" \
    "... the line names the plugin and the entry"
rm -f "$T_DIR/conf/x.conf"
out=$(actl agents)
[ "$(printf '%s\n' "$out" | cut -d' ' -f1 | tr '\n' ' ')" = "e f g " ]
ok $? "the running agents are as they were ($(flat "$out"))"
r=$(found f quote)
[ "$r" = '["e","f","g"]' ]
ok $? "and find_agents answers as before ($r)"

# What one find_agents costs, asked 1000 times one after another.
r=$(actl --json call f '{"capability": "quote", "times": 1000}')
printf '%s' "$r" | jq_true '.agents == ["e","f","g"] and .times == 1000'
ok $? "1000 find_agents in a row, each answered"
diag "find_agents: $(printf '%s' "$r" | jq '.us / .times | floor') us each, one after another"

stop_agentd
ok $? "agentd stops cleanly"
done_testing

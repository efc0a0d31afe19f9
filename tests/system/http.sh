#!/bin/sh
# The HTTP API end to end, driven by curl against a real agentd: tokens
# and roles (401, 403, audited), every endpoint of doc/http.md with the
# answers agentctl would get, writes audited with the token's name,
# /metrics in Prometheus's format, and agentd's errors as HTTP statuses.
. "$top_srcdir/tests/lib.sh"



command -v curl >/dev/null || { echo "1..0 # SKIP no curl"; exit 0; }
plan 96

ECHO=$(plugin_copy "$BPLUGINS/echo.so")
PROP=$(plugin_copy "$TPLUGINS/proposer.so")
BUS=$(plugin_copy "$TPLUGINS/bus.so")
conf agentd.conf <<EOF
agentd {
	http { listen = "127.0.0.1:0" }
}
policy {
	deadline = 1h
	rule "small" { type = { "price" } amount_below = 50 risk = low }
}
EOF
conf agents.conf <<EOF
agent "echo" { plugin = "$ECHO" instances { max = 3 } }
agent "pricing" { plugin = "$PROP" }
agent "watcher" { plugin = "$BUS" subscribe = { "shop" } }
EOF

start_agentd
ok $? "agentd starts with http { listen = \"127.0.0.1:0\" }"
wait_for 10 test -s "$T_DIR/run/http.addr"
ok $? "it writes the address it bound to run/http.addr"
URL="http://$(cat "$T_DIR/run/http.addr")"
like "$URL" '^http://127\.0\.0\.1:[1-9][0-9]*$' "a loopback address and a port"
wait_for 10 agent_ready echo && wait_for 10 agent_ready pricing &&
    wait_for 10 agent_ready watcher
ok $? "its agents are ready"

# hc [CURL-ARGS]: the status code, the body in $T_DIR/body.
hc() {
	curl -s -o "$T_DIR/body" -w '%{http_code}' "$@"
}
body() { cat "$T_DIR/body"; }
bj() { jq -r "$1" "$T_DIR/body"; }
# as TOKEN METHOD PATH [CURL-ARGS]: hc with the token.
as() {
	a_tok=$1 a_m=$2 a_p=$3
	shift 3
	hc -X "$a_m" -H "Authorization: Bearer $a_tok" "$@" "$URL$a_p"
}

# ---- who asks -----------------------------------------------------------
code=$(hc "$URL/v1/status")
[ "$code" = 401 ]
ok $? "no token: 401 (got $code)"
like "$(bj .message)" 'Authorization: Bearer' "the answer says how to send one"
code=$(hc -H "Authorization: Bearer agentd_0000000000000000000000000000000000000000000000000000000000000000" "$URL/v1/status")
[ "$code" = 401 ]
ok $? "an unknown token: 401 (got $code)"
code=$(hc -H "Authorization: Basic dXNlcjpwYXNz" "$URL/v1/status")
[ "$code" = 401 ]
ok $? "another scheme: 401 (got $code)"
wait_for 10 sh -c "'$AGENTCTL' --run-dir '$T_DIR/run' --json audit --kind http.unauthorized | grep -q 'no token'"
ok $? "refusals are audited (http.unauthorized)"

VIEW=$(actl token create viewer1 --role viewer)
ok $? "agentctl token create makes a viewer token"
like "$VIEW" '^agentd_[0-9a-f]{64}$' "the token: agentd_ and 64 hex digits"
OPER=$(actl token create oper1 --role operator)
ADMIN=$(actl token create admin1 --role admin)
[ -n "$OPER" ] && [ -n "$ADMIN" ]
ok $? "and operator and admin tokens"
actl token create viewer1 --role viewer >/dev/null 2>"$T_DIR/err"
[ $? -ne 0 ]
ok $? "a second token of one name is refused"
like "$(cat "$T_DIR/err")" 'token revoke viewer1' "saying what to do"
actl token create x --role boss >/dev/null 2>"$T_DIR/err"
like "$(cat "$T_DIR/err")" 'viewer, an operator or an admin' "an unknown role is refused, naming the roles"
out=$(actl token list)
like "$out" 'viewer1 +viewer' "token list names the tokens and roles"
case "$out" in *agentd_*) false ;; *) true ;; esac
ok $? "but never the tokens themselves"

code=$(as "$VIEW" GET /v1/status)
[ "$code" = 200 ] && [ "$(bj '.agents | map(.name) | join(",")')" = "echo,pricing,watcher" ]
ok $? "a viewer reads /v1/status: every agent (got $code)"
[ "$(bj .version)" = "$(actl --json status | jq -r .version)" ]
ok $? "the same map agentctl status prints"
code=$(as "$VIEW" POST /v1/agents/echo/call -d '{"a":1}')
[ "$code" = 403 ]
ok $? "a viewer's call: 403 (got $code)"
like "$(bj .message)" 'needs the role operator.*viewer1.*viewer' "saying which role it needs and which it has"
code=$(as "$OPER" POST /v1/agents/echo/restart)
[ "$code" = 403 ]
ok $? "an operator's restart: 403 (got $code)"
wait_for 10 sh -c "'$AGENTCTL' --run-dir '$T_DIR/run' --json audit --kind http.forbidden | grep -q 'echo/call'"
ok $? "refused roles are audited (http.forbidden)"

# ---- calls ----------------------------------------------------------------
code=$(as "$OPER" POST /v1/agents/echo/call -d '{"hello":"world"}')
[ "$code" = 200 ] && [ "$(bj .echo.hello)" = world ]
ok $? "an operator calls echo: its reply as JSON (got $code)"
code=$(as "$OPER" POST /v1/agents/nobody/call -d '{}')
[ "$code" = 404 ] && [ "$(bj .error)" = ENOENT ]
ok $? "a call to no agent: 404 ENOENT (got $code)"
like "$(bj .message)" 'no agent named "nobody"' "with agentctl's message"
code=$(as "$OPER" POST /v1/agents/echo/call -d '{"a":')
[ "$code" = 400 ] && [ "$(bj .error)" = EINVAL ]
ok $? "a body that is not JSON: 400 (got $code)"
like "$(bj .message)" 'line 1 column' "saying where"
code=$(as "$OPER" POST /v1/agents/echo/call -H 'Content-Type: application/json' -d "$(python3 -c 'print("["*10000 + "]"*10000)')")
[ "$code" = 400 ]
ok $? "JSON nested 10 000 deep: 400 (got $code)"
code=$(as "$OPER" POST /v1/agents/echo/call -d "$(python3 -c 'print("["*40 + "]"*40)')")
[ "$code" = 400 ] && like "$(bj .message)" 'deeper than 32' "JSON deeper than msgpack may nest: 400, saying so"

# ---- events ---------------------------------------------------------------
code=$(as "$OPER" POST /v1/events -d '{"topic":"shop.order","body":{"id":7}}')
[ "$code" = 200 ] && [ "$(bj .delivered)" = 1 ]
ok $? "an operator publishes: delivered to the subscriber (got $code, $(body))"
wait_for 10 sh -c "'$AGENTCTL' --run-dir '$T_DIR/run' --json call watcher '{\"events\":true}' | grep -q shop.order"
ok $? "the subscribing plugin got the event"
code=$(as "$OPER" POST /v1/events -d '{"topic":"bad topic!","body":1}')
[ "$code" = 400 ]
ok $? "a bad topic: 400 (got $code)"
code=$(as "$OPER" POST /v1/events -d '{"body":1}')
[ "$code" = 400 ] && like "$(bj .message)" 'topic' "an event without a topic: 400, saying what an event is"

# ---- state ----------------------------------------------------------------
code=$(as "$OPER" PUT /v1/agents/echo/state/cart/42 -d '{"items":[1,2]}')
[ "$code" = 200 ]
ok $? "an operator writes state (a key with a slash) (got $code)"
code=$(as "$VIEW" GET /v1/agents/echo/state/cart/42)
[ "$code" = 200 ] && [ "$(bj '.items[1]')" = 2 ]
ok $? "a viewer reads it back as JSON (got $code)"
[ "$(actl --json state get echo cart/42 | jq -c .)" = '{"items":[1,2]}' ]
ok $? "agentctl reads the same value"
code=$(as "$VIEW" GET "/v1/agents/echo/state?prefix=cart/")
[ "$code" = 200 ] && [ "$(bj '.entries[0].key')" = cart/42 ]
ok $? "a scan by prefix lists it (got $code)"
code=$(as "$VIEW" PUT /v1/agents/echo/state/x -d 1)
[ "$code" = 403 ]
ok $? "a viewer's state write: 403 (got $code)"
code=$(as "$OPER" DELETE /v1/agents/echo/state/cart/42)
[ "$code" = 200 ]
ok $? "an operator deletes it (got $code)"
out=$(actl audit --agent echo --kind state.operator --limit 5)
like "$out" 'state.put "cart/42" by http \(oper1\)' "the write is audited with the token's name"
like "$out" 'state.del "cart/42" by http \(oper1\)' "and so is the delete"
like "$(actl audit --kind event.operator --limit 5)" 'event "shop.order" published by http \(oper1\), delivered to 1' \
    "and the event it published"
code=$(as "$VIEW" GET /v1/agents/echo/state/cart/42)
[ "$code" = 404 ]
ok $? "then it is 404 (got $code)"
code=$(as "$VIEW" GET /v1/agents/nobody/state/k)
[ "$code" = 404 ]
ok $? "state of no agent: 404 (got $code)"

# ---- the audit trail ------------------------------------------------------
code=$(as "$VIEW" GET "/v1/audit?kind=token.create&oldest_first=true&limit=2")
[ "$code" = 200 ] && [ "$(bj '.records | length')" = 2 ] &&
    [ "$(bj '.records[0].detail.name')" = viewer1 ]
ok $? "audit with filters: records with their details as JSON (got $code)"
grep -q 'agentd_[0-9a-f]\{64\}' "$T_DIR/agentd.log"
[ $? -ne 0 ]
ok $? "no token in agentd's log"
actl --json audit --limit 0 | grep -q 'agentd_[0-9a-f]\{64\}'
[ $? -ne 0 ]
ok $? "nor in the audit trail"
code=$(as "$VIEW" GET "/v1/audit?limit=x")
[ "$code" = 400 ] && like "$(bj .message)" 'limit=x: not an integer' "a bad query argument: 400, naming it"
code=$(as "$VIEW" GET /v1/audit/verify)
[ "$code" = 200 ] && [ "$(bj .ok)" = true ]
ok $? "audit/verify: the chain holds (got $code)"
code=$(as "$VIEW" GET /v1/audit/key)
[ "$code" = 200 ]
ok $? "audit/key answers (got $code)"

# ---- the admin's operations -----------------------------------------------
code=$(as "$ADMIN" POST /v1/agents/echo/scale -d '{"count":2}')
[ "$code" = 200 ]
ok $? "an admin scales echo to 2 (got $code)"
wait_for 20 agent_ready echo 2
ok $? "and it runs 2 instances"
actl audit --agent echo --limit 10 | grep -q 'pinned by http (admin1)'
ok $? "the audit trail names the token: http (admin1)"
code=$(as "$ADMIN" POST /v1/agents/echo/scale -d '{"count":9}')
[ "$code" = 400 ]
ok $? "a count over max: 400 (got $code)"
like "$(bj .message)" 'max' "saying why"
code=$(as "$ADMIN" POST /v1/agents/echo/stop)
[ "$code" = 200 ] && wait_for 20 sh -c "[ \"\$('$AGENTCTL' --run-dir '$T_DIR/run' --json status | jq -r '.agents[0].state')\" = stopped ]"
ok $? "an admin stops echo (got $code)"
code=$(as "$OPER" POST /v1/agents/echo/call -d '{}')
[ "$code" = 503 ] && [ "$(bj .error)" = EUNAVAIL ]
ok $? "a call to a stopped agent: 503 EUNAVAIL (got $code)"
code=$(as "$ADMIN" POST /v1/agents/echo/start)
[ "$code" = 200 ] && wait_for 20 agent_ready echo 2
ok $? "an admin starts it again (got $code)"
code=$(as "$ADMIN" POST /v1/agents/echo/start)
[ "$code" = 400 ]
ok $? "start of a running agent: 400 (got $code)"
code=$(as "$ADMIN" POST /v1/agents/echo/restart)
[ "$code" = 200 ]
ok $? "an admin restarts echo (got $code)"
code=$(as "$VIEW" GET /v1/agents/echo/versions)
[ "$code" = 200 ] && [ "$(bj '.versions | length')" -ge 1 ]
ok $? "versions lists its plugin builds (got $code)"
code=$(as "$ADMIN" POST /v1/reload)
[ "$code" = 200 ] && [ "$(bj '.agents | length')" -ge 3 ]
ok $? "an admin reloads: one line per agent (got $code)"
code=$(as "$ADMIN" POST /v1/agents/echo/promote)
[ "$code" = 200 ] && [ "$(bj '.agents[0].outcome')" = refused ]
ok $? "promote without a canary: its outcome is refused, as agentctl's (got $code, $(bj '.agents[0].line'))"

# ---- the policy gate ------------------------------------------------------
code=$(as "$VIEW" GET "/v1/policy/test?agent=pricing&type=price.set&amount=10&confidence=0.9")
[ "$code" = 200 ] && [ "$(bj .rule)" = small ] && [ "$(bj .risk)" = low ]
ok $? "policy/test names the rule and the risk (got $code)"
id=$(actl --json call pricing '{"propose": {"type":"refund","title":"Refund 120","amount":120,"confidence":0.5,"params":{"order":1}}, "count": 1}' | jq -r '.ids[0]')
code=$(as "$VIEW" GET /v1/approvals)
[ "$code" = 200 ] && [ "$(bj '.approvals[0].id')" = "$id" ]
ok $? "approvals lists the pending decision (got $code)"
code=$(as "$VIEW" GET "/v1/decisions/$id")
[ "$code" = 200 ] && [ "$(bj .state)" = pending ]
ok $? "decisions/ID shows it (got $code)"
code=$(as "$VIEW" POST "/v1/decisions/$id/approve" -d '{}')
[ "$code" = 403 ]
ok $? "a viewer cannot approve: 403 (got $code)"
code=$(as "$OPER" POST "/v1/decisions/$id/reject" -d '{}')
[ "$code" = 400 ]
ok $? "a reject without a reason: 400 (got $code)"
code=$(as "$OPER" POST "/v1/decisions/$id/approve" -d '{"note":"fine"}')
[ "$code" = 200 ] && [ "$(bj .state)" = approved ] && [ "$(bj .by)" = "http (oper1)" ]
ok $? "an operator approves: decided by http (oper1) (got $code, $(bj .by))"
code=$(as "$OPER" POST "/v1/decisions/$id/approve" -d '{}')
[ "$code" = 409 ] && [ "$(bj .error)" = EEXIST ]
ok $? "approving twice: 409 EEXIST (got $code)"
code=$(as "$VIEW" GET "/v1/decisions?agent=pricing&limit=5")
[ "$code" = 200 ] && [ "$(bj '.decisions[0].id')" = "$id" ]
ok $? "decisions lists it, newest first (got $code)"
code=$(as "$VIEW" GET /v1/decisions/999999)
[ "$code" = 404 ]
ok $? "no such decision: 404 (got $code)"

# ---- tokens over HTTP -----------------------------------------------------
code=$(as "$OPER" GET /v1/tokens)
[ "$code" = 403 ]
ok $? "an operator cannot list tokens: 403 (got $code)"
code=$(as "$ADMIN" POST /v1/tokens -d '{"name":"script","role":"viewer"}')
NEW=$(bj .token)
[ "$code" = 200 ] && like "$NEW" '^agentd_' "an admin creates a token over HTTP (got $code)"
code=$(as "$NEW" GET /v1/status)
[ "$code" = 200 ]
ok $? "the new token works (got $code)"
code=$(as "$ADMIN" GET /v1/tokens)
[ "$code" = 200 ] && [ "$(bj '.tokens | map(.name) | index("script") != null')" = true ] &&
    ! grep -q agentd_ "$T_DIR/body"
ok $? "token list over HTTP, without the tokens (got $code)"
code=$(as "$ADMIN" DELETE /v1/tokens/script)
[ "$code" = 200 ]
ok $? "an admin revokes it (got $code)"
code=$(as "$NEW" GET /v1/status)
[ "$code" = 401 ]
ok $? "a revoked token: 401 at once (got $code)"
actl token revoke nosuch 2>"$T_DIR/err"
[ $? -ne 0 ] && like "$(cat "$T_DIR/err")" 'token list' "revoking no token is refused, saying where to look"

# ---- the path and the method ----------------------------------------------
code=$(as "$VIEW" GET /v1/nothing)
[ "$code" = 404 ]
ok $? "an unknown path: 404 (got $code)"
code=$(as "$VIEW" DELETE /v1/status)
[ "$code" = 405 ]
ok $? "a method the path does not take: 405 (got $code)"
code=$(curl -s -o "$T_DIR/body" -w '%{http_code}' --path-as-is -H "Authorization: Bearer $VIEW" "$URL/v1/agents/../status")
[ "$code" = 400 ]
ok $? "a path with ..: 400 (got $code)"
code=$(curl -s -o "$T_DIR/body" -w '%{http_code}' --path-as-is -H "Authorization: Bearer $VIEW" "$URL/v1/agents/echo/state/%2e%2e/x")
[ "$code" = 400 ]
ok $? "a percent-encoded ..: 400 (got $code)"
code=$(curl -s -o "$T_DIR/body" -w '%{http_code}' --path-as-is -H "Authorization: Bearer $VIEW" "$URL/v1/agents/echo/state/a%00b")
[ "$code" = 404 ] || [ "$code" = 400 ]
ok $? "a percent-encoded NUL: refused (got $code)"

# ---- sizes ----------------------------------------------------------------
head -c 1100000 /dev/zero | tr '\0' 'a' | sed 's/.*/"&"/' >"$T_DIR/big.json"
code=$(as "$OPER" POST /v1/agents/echo/call --data-binary "@$T_DIR/big.json")
[ "$code" = 413 ]
ok $? "a body over max_message_size: 413 (got $code)"
# A Content-Length of 100 MB and a short body: refused from the header,
# without waiting for the rest.
out=$(python3 - "$(cat "$T_DIR/run/http.addr")" "$OPER" <<'EOF'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(("POST /v1/agents/echo/call HTTP/1.1\r\nHost: x\r\n"
           "Authorization: Bearer %s\r\nContent-Length: 100000000\r\n\r\n{}"
           % sys.argv[2]).encode())
print(s.recv(200).decode(errors="replace").split("\r\n")[0])
EOF
)
like "$out" '^HTTP/1\.[01] 413' "Content-Length of 100 MB with a short body: 413 at once"

# ---- /metrics and /healthz ------------------------------------------------
code=$(hc "$URL/metrics")
[ "$code" = 401 ]
ok $? "/metrics needs a token unless metrics_public (got $code)"
code=$(as "$VIEW" GET /metrics)
[ "$code" = 200 ] && grep -q '^agentd_requests_total{agent="echo"} [1-9]' "$T_DIR/body"
ok $? "/metrics counts echo's requests (got $code)"
grep -q '^agentd_service_seconds_bucket{agent="echo",le="+Inf"}' "$T_DIR/body" &&
    grep -q '^agentd_build_info{version=' "$T_DIR/body" &&
    grep -q '^agentd_decisions_total{agent="pricing",outcome="approved"} 1' "$T_DIR/body"
ok $? "with histograms, build info and the gate's decisions"
grep -q '^agentd_agent_failed{agent="echo"} 0$' "$T_DIR/body" &&
    ! grep -q '^agentd_decisions_next_deadline_seconds{agent="echo"}' "$T_DIR/body"
ok $? "echo is not failed and, with nothing pending, has no deadline line"
# A HIGH decision left pending (deadline = 1h): its seconds to go.
actl call pricing '{"propose": {"type":"refund","title":"Refund 130","amount":130,"confidence":0.5,"params":{"order":2}}, "count": 1}' >/dev/null
as "$VIEW" GET /metrics >/dev/null
left=$(awk '$1 == "agentd_decisions_next_deadline_seconds{agent=\"pricing\"}" { print $2 }' "$T_DIR/body")
awk -v l="$left" 'BEGIN { exit !(l != "" && l > 3500 && l <= 3600) }'
ok $? "a pending decision's deadline in agentd_decisions_next_deadline_seconds (got $left)"
if command -v promtool >/dev/null; then
	promtool check metrics <"$T_DIR/body" >"$T_DIR/promtool.out" 2>&1
	ok $? "promtool check metrics passes: $(head -3 "$T_DIR/promtool.out")"
else
	ok 0 "# SKIP promtool is not installed (apt-get install prometheus)"
fi
code=$(as "$VIEW" GET /healthz)
[ "$code" = 200 ]
ok $? "/healthz answers (got $code)"

stop_agentd
ok $? "agentd stops cleanly"
[ ! -e "$T_DIR/run/http.addr" ]
ok $? "and removes run/http.addr"

done_testing

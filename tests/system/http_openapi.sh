#!/bin/sh
# doc/openapi.yaml against a real agentd: every route of http_route.c's
# table is in it and every operation in it is a route; every operation
# is asked at least once with a request that succeeds, and some with one
# that fails; every answer (status, Content-Type, body) matches what the
# document says of that operation and status, and what was sent matches
# its parameters and request body (tests/tools/openapi_check.py, a
# validator of the schema subset the document uses, on Python's standard
# library).  doc/openapi.yaml is JSON, which is YAML: no YAML parser is
# needed to read it.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/reload_lib.sh"

command -v curl >/dev/null || { echo "1..0 # SKIP no curl"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP no python3"; exit 0; }
plan 98

SPEC="$top_srcdir/doc/openapi.yaml"
CHECK="python3 $top_srcdir/tests/tools/openapi_check.py"
ROUTES="$T_DIR/routes"
SEEN="$T_DIR/seen"
: >"$SEEN"

# ---- the document and the route table ------------------------------------
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$SPEC"
ok $? "doc/openapi.yaml is JSON"
if python3 -c 'import yaml' 2>/dev/null; then
	python3 - "$SPEC" <<'EOF'
import json, sys, yaml
sys.exit(yaml.safe_load(open(sys.argv[1])) != json.load(open(sys.argv[1])))
EOF
	ok $? "and YAML reads it as the same document"
else
	ok 0 "# SKIP no python3-yaml to read it as YAML"
fi
"$top_builddir/tests/tools/http_routes" >"$ROUTES"
[ "$(wc -l <"$ROUTES")" -ge 28 ]
ok $? "http_routes lists the route table ($(wc -l <"$ROUTES") routes)"
out=$($CHECK routes "$SPEC" "$ROUTES")
ok $? "every route is in openapi.yaml, with its path and query arguments, and every operation is a route${out:+: $(echo "$out" | head -3 | tr '\n' '|')}"
# The check itself: a route the document lacks fails it.
{ cat "$ROUTES"; echo "GET /v1/undocumented -"; } >"$T_DIR/routes.more"
out=$($CHECK routes "$SPEC" "$T_DIR/routes.more")
[ $? -ne 0 ] && like "$out" '/v1/undocumented' "a route without documentation fails the check, named"
sed 's/^GET \/v1\/audit .*/GET \/v1\/audit agent:s,kind:i/' "$ROUTES" >"$T_DIR/routes.types"
out=$($CHECK routes "$SPEC" "$T_DIR/routes.types")
[ $? -ne 0 ] && like "$out" 'query arguments' "so does a query argument of another type"

# ---- agentd ---------------------------------------------------------------
ECHO=$(plugin_copy "$BPLUGINS/echo.so")
PROP=$(plugin_copy "$TPLUGINS/proposer.so")
BUS=$(plugin_copy "$TPLUGINS/bus.so")
PLUG="$T_DIR/plugins/v.so"
install_plugin "$TPLUGINS/vers1.so"
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
agent "v" {
	plugin = "$PLUG"
	instances { min = 1  max = 1 }
	health { probation = 0 }
}
EOF
start_agentd
wait_for 10 test -s "$T_DIR/run/http.addr" &&
    wait_for 10 agent_ready echo && wait_for 10 agent_ready pricing &&
    wait_for 10 agent_ready watcher && wait_for 10 agent_ready v
ok $? "agentd serves HTTP and its agents are ready"
URL="http://$(cat "$T_DIR/run/http.addr")"
VIEW=$(actl token create viewer1 --role viewer) &&
    OPER=$(actl token create oper1 --role operator) &&
    ADMIN=$(actl token create admin1 --role admin)
ok $? "a viewer, an operator and an admin token"

# api STATUS OPID TOKEN METHOD PATH [BODY]: METHOD PATH (and query) with
# the token ("-": none) and the body, if any; passes when agentd answers
# STATUS and the answer, and what was sent, are what openapi.yaml says of
# OPID.  The answer is in $T_DIR/body; an answer that checks is noted in
# $SEEN for the coverage at the end.
api() {
	a_want=$1 a_op=$2 a_tok=$3 a_m=$4 a_p=$5
	set -- -s -o "$T_DIR/body" -w '%{http_code} %{content_type}' \
	    -X "$a_m"
	[ "$a_tok" != - ] && set -- "$@" -H "Authorization: Bearer $a_tok"
	a_sent=
	if [ -n "${API_BODY+x}" ]; then
		printf '%s' "$API_BODY" >"$T_DIR/sent"
		set -- "$@" --data-binary "@$T_DIR/sent"
		a_sent="$T_DIR/sent"
	fi
	a_out=$(curl "$@" "$URL$a_p")
	a_code=${a_out%% *} a_ctype=${a_out#* }
	a_err=$($CHECK check "$SPEC" "$ROUTES" "$a_op" "$a_m" "$a_p" \
	    "$a_code" "$a_ctype" "$T_DIR/body" $a_sent 2>&1)
	a_rc=$?
	[ "$a_code" = "$a_want" ] && [ $a_rc -eq 0 ]
	a_rc=$?
	[ $a_rc -eq 0 ] && echo "$a_op $a_code" >>"$SEEN"
	ok $a_rc "$a_m $a_p: $a_want, as openapi.yaml's $a_op says (got $a_code)"
	[ -n "$a_err" ] && printf '%s\n' "$a_err" | head -8 | sed 's/^/#   /'
	[ "$a_code" = "$a_want" ] || sed 's/^/#   body: /' "$T_DIR/body" | head -3
	unset API_BODY
	return $a_rc
}
# with BODY api ...: api with a request body.
with() {
	API_BODY=$1
	shift
	"$@"
}
bj() { jq -r "$1" "$T_DIR/body"; }

# ---- reads ---------------------------------------------------------------
api 200 getHealth "$VIEW" GET /healthz
api 200 getMetrics "$VIEW" GET /metrics
api 200 whoami "$OPER" GET /v1/whoami
[ "$(bj '.name + " " + .role')" = "oper1 operator" ]
ok $? "whoami names the token and its role"
api 200 getStatus "$VIEW" GET /v1/status
[ "$(bj '.agents | map(.name) | join(",")')" = "echo,pricing,watcher,v" ]
ok $? "status names the four agents"

# The validator itself, on that answer: what it must refuse, it refuses.
cp "$T_DIR/body" "$T_DIR/status.json"
python3 - "$SPEC" "$T_DIR/spec.bad" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["components"]["schemas"]["Instance"]["properties"]["pid"]["type"] = "string"
json.dump(doc, open(sys.argv[2], "w"))
EOF
out=$($CHECK check "$T_DIR/spec.bad" "$ROUTES" getStatus GET /v1/status 200 \
    application/json "$T_DIR/status.json")
[ $? -ne 0 ] && like "$out" 'instances\[0\]\.pid: [0-9]+ is not of type string' \
    "checked against a schema that says pid is a string, the answer fails, naming where"
jq -c '.agents[0].name = null' "$T_DIR/status.json" >"$T_DIR/forged"
out=$($CHECK check "$SPEC" "$ROUTES" getStatus GET /v1/status 200 \
    application/json "$T_DIR/forged")
[ $? -ne 0 ] && like "$out" 'agents\[0\]\.name: null' "a null where the schema has no nullable fails"
echo '{"error": "nope"}' >"$T_DIR/forged"
out=$($CHECK check "$SPEC" "$ROUTES" getState GET /v1/agents/a/state/k 404 \
    application/json "$T_DIR/forged")
[ $? -ne 0 ] && like "$out" "no 'message'" "an error without its message fails"
out=$($CHECK check "$SPEC" "$ROUTES" getStatus GET /v1/status 418 \
    application/json "$T_DIR/status.json")
[ $? -ne 0 ] && like "$out" 'status 418 is not one of' "so does a status the operation does not list"
out=$($CHECK check "$SPEC" "$ROUTES" getMetrics GET /metrics 200 \
    application/json "$T_DIR/status.json")
[ $? -ne 0 ] && like "$out" 'text/plain' "and a media type it does not answer"

api 200 listAgents "$VIEW" GET "/v1/agents?capability=echo"
[ "$(bj '[.agents[].name] | join(",")')" = "echo" ]
ok $? "the agents with capability echo: echo"
api 400 listAgents "$VIEW" GET "/v1/agents?capability=NOT%20ONE"

# ---- calls, events, state --------------------------------------------------
with '{"hello":"world"}' api 200 callAgent "$OPER" POST \
    "/v1/agents/echo/call?timeout_ms=5000"
with '{}' api 404 callAgent "$OPER" POST /v1/agents/nobody/call
with '{"a":' api 400 callAgent "$OPER" POST /v1/agents/echo/call
head -c 1100000 /dev/zero | tr '\0' 'a' | sed 's/.*/"&"/' >"$T_DIR/big.json"
with "$(cat "$T_DIR/big.json")" api 413 callAgent "$OPER" POST \
    /v1/agents/echo/call
with '{"topic":"shop.order","body":{"id":7}}' api 200 publishEvent "$OPER" \
    POST /v1/events
[ "$(bj .delivered)" = 1 ]
ok $? "the event was delivered to its subscriber"
with '{"body":1}' api 400 publishEvent "$OPER" POST /v1/events
with '{"items":[1,2],"note":null}' api 200 putState "$OPER" PUT \
    /v1/agents/echo/state/cart/42
with 'null' api 200 putState "$OPER" PUT /v1/agents/echo/state/cart/nothing
api 200 getState "$VIEW" GET /v1/agents/echo/state/cart/42
[ "$(bj '.items[1]')" = 2 ]
ok $? "the value reads back"
api 200 getState "$VIEW" GET /v1/agents/echo/state/cart/nothing
[ "$(cat "$T_DIR/body")" = null ]
ok $? "a null value reads back as null"
api 200 scanState "$VIEW" GET "/v1/agents/echo/state?prefix=cart/"
[ "$(bj '.entries | length')" = 2 ]
ok $? "the scan lists both keys"
api 200 deleteState "$OPER" DELETE /v1/agents/echo/state/cart/42
api 404 getState "$VIEW" GET /v1/agents/echo/state/cart/42

# ---- the audit trail ---------------------------------------------------------
api 200 getAudit "$VIEW" GET \
    "/v1/audit?agent=echo&kind=agent.start&since_ms=0&until_ms=99999999999999&limit=5&min_seq=0&oldest_first=true"
api 200 getAudit "$VIEW" GET "/v1/audit?kind=token.create&limit=1"
[ "$(bj '.records[0].detail | type')" = object ]
ok $? "a record's detail is its JSON"
api 400 getAudit "$VIEW" GET "/v1/audit?limit=x"
api 200 verifyAudit "$VIEW" GET /v1/audit/verify
api 200 getAuditKeys "$VIEW" GET /v1/audit/key

# ---- running agents ------------------------------------------------------
with '{"count":2}' api 200 scaleAgent "$ADMIN" POST /v1/agents/echo/scale
wait_for 20 agent_ready echo 2
ok $? "echo runs 2 instances"
with '{"count":9}' api 400 scaleAgent "$ADMIN" POST /v1/agents/echo/scale
api 200 stopAgent "$ADMIN" POST /v1/agents/echo/stop
wait_for 20 sh -c "[ \"\$('$AGENTCTL' --run-dir '$T_DIR/run' --json status | jq -r '.agents[0].state')\" = stopped ]"
ok $? "echo stops"
api 200 getStatus "$VIEW" GET /v1/status
[ "$(bj '.agents[0].scaling')" = pinned ]
ok $? "the status of a stopped, pinned agent"
api 200 startAgent "$ADMIN" POST /v1/agents/echo/start
wait_for 20 agent_ready echo 2
ok $? "echo starts again"
api 400 startAgent "$ADMIN" POST /v1/agents/echo/start
api 200 restartAgent "$ADMIN" POST /v1/agents/echo/restart
api 404 restartAgent "$ADMIN" POST /v1/agents/nobody/restart
api 200 getVersions "$VIEW" GET /v1/agents/v/versions
api 200 getSettings "$VIEW" GET /v1/agents/echo/settings
api 404 getSettings "$VIEW" GET /v1/agents/nobody/settings
api 200 reload "$ADMIN" POST /v1/reload
[ "$(bj '[.agents[].outcome] | unique | join(",")')" = unchanged ]
ok $? "a reload with nothing changed: every agent unchanged"
install_plugin "$TPLUGINS/vers2.so"
with '{"agent":"v","percent":50}' api 200 reload "$ADMIN" POST /v1/reload
[ "$(bj '.agents[0].outcome')" = canary ]
ok $? "a canary of v: its outcome is canary ($(bj '.agents[0].line'))"
api 200 getStatus "$VIEW" GET /v1/status
[ "$(bj '.agents[3].generations | map(.role) | sort | join(",")')" = canary,current ]
ok $? "the status shows both of v's generations"
api 200 promoteAgent "$ADMIN" POST /v1/agents/v/promote
[ "$(bj '.agents[0].outcome')" = upgraded ] && [ "$(bj '.agents[0].to')" = 2.0 ]
ok $? "promote: v upgraded to 2.0 ($(bj '.agents[0].line'))"
install_plugin "$TPLUGINS/vers3.so"
with '{"agent":"v","percent":20}' api 200 reload "$ADMIN" POST /v1/reload
api 200 rollbackAgent "$ADMIN" POST /v1/agents/v/rollback
[ "$(bj '.agents[0].outcome')" = "rolled back" ]
ok $? "rollback abandons the canary ($(bj '.agents[0].line'))"
api 200 getVersions "$VIEW" GET /v1/agents/v/versions
[ "$(bj '.versions | length')" = 3 ]
ok $? "versions lists v's three builds"
with '{"agent":"v","percent":150}' api 400 reload "$ADMIN" POST /v1/reload
api 404 promoteAgent "$ADMIN" POST /v1/agents/nobody/promote

# ---- the policy gate -----------------------------------------------------
api 200 testPolicy "$VIEW" GET \
    "/v1/policy/test?agent=pricing&type=price.set&amount=10&confidence=0.9"
[ "$(bj .rule)" = small ]
ok $? "policy/test names the rule"
ids=$(actl --json call pricing '{"propose": {"type":"refund","title":"Refund 120","amount":120,"confidence":0.5,"params":{"order":1}}, "count": 3}' | jq -r '.ids | join(" ")')
set -- $ids
[ $# -eq 3 ]
ok $? "pricing proposes three decisions ($ids)"
api 200 getApprovals "$VIEW" GET "/v1/approvals?agent=pricing&limit=10"
[ "$(bj '.approvals | length')" = 3 ]
ok $? "approvals lists the three"
api 200 getDecision "$VIEW" GET "/v1/decisions/$1"
api 404 getDecision "$VIEW" GET /v1/decisions/999999
with '{"note":"fine"}' api 200 approveDecision "$OPER" POST \
    "/v1/decisions/$1/approve"
api 409 approveDecision "$OPER" POST "/v1/decisions/$1/approve"
with '{}' api 400 rejectDecision "$OPER" POST "/v1/decisions/$2/reject"
with '{"reason":"margin too thin"}' api 200 rejectDecision "$OPER" POST \
    "/v1/decisions/$2/reject"
with '{"params":{"order":2},"note":"another order"}' api 200 \
    modifyDecision "$OPER" POST "/v1/decisions/$3/modify"
[ "$(bj '.proposed_params.order')" = 1 ] && [ "$(bj '.params.order')" = 2 ]
ok $? "a modified decision keeps its proposed parameters"
api 200 getDecisions "$VIEW" GET \
    "/v1/decisions?agent=pricing&since_ms=0&outcome=approved&limit=5"
[ "$(bj '.decisions | length')" = 1 ]
ok $? "one of them approved"

# ---- tokens --------------------------------------------------------------
with '{"name":"script","role":"viewer"}' api 200 createToken "$ADMIN" POST \
    /v1/tokens
with '{"name":"script","role":"viewer"}' api 409 createToken "$ADMIN" POST \
    /v1/tokens
api 200 listTokens "$ADMIN" GET /v1/tokens
api 200 revokeToken "$ADMIN" DELETE /v1/tokens/script
api 404 revokeToken "$ADMIN" DELETE /v1/tokens/script

# ---- who asks: every operation --------------------------------------------
out=$($CHECK sweep "$SPEC" "$URL" "$VIEW" "$OPER")
ok $? "every operation without a token is 401, and with a role below its x-agentd-role 403, as openapi.yaml says${out:+: $(echo "$out" | head -3 | tr '\n' '|')}"

# ---- coverage --------------------------------------------------------------
out=$($CHECK coverage "$SPEC" "$SEEN")
ok $? "every operation of openapi.yaml answered 200 and matched it${out:+: $(echo "$out" | tr '\n' '|')}"

stop_agentd
ok $? "agentd stops cleanly"

done_testing

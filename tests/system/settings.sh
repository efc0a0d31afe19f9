#!/bin/sh
# The settings operation: an agent's settings as it runs them, through
# control.sock (agentctl settings) and the HTTP API (GET
# /v1/agents/NAME/settings, role viewer), with the value of every setting
# whose name looks secret masked, and never sent.
. "$top_srcdir/tests/lib.sh"

command -v curl >/dev/null || { echo "1..0 # SKIP no curl"; exit 0; }
plan 16

SECRETS=$(plugin_copy "$TPLUGINS/secrets.so")
conf agentd.conf <<EOF2
agentd {
	http { listen = "127.0.0.1:0" }
}
agent "vault" {
	plugin = "$SECRETS"
	settings {
		api_token = "tok-s3cr3t-4711"
		DB_Password = "hunter2-0815"
		signing_key_id = 98765
		region = "us-east"
		verbose = true
	}
}
EOF2
start_agentd
ok $? "agentd starts"
wait_for 10 agent_ready vault
ok $? "vault is ready"
wait_for 10 test -s "$T_DIR/run/http.addr"
URL="http://$(cat "$T_DIR/run/http.addr")"
VIEW=$(actl token create viewer1 --role viewer)

# no_secret TEXT: none of the secret values is in TEXT.
no_secret() {
	case $1 in
	*s3cr3t* | *hunter2* | *98765*) return 1 ;;
	esac
	return 0
}
# val JSON NAME FIELD
val() { echo "$1" | jq -c --arg n "$2" ".settings[] | select(.name == \$n) | .$3"; }

out=$(actl --json settings vault)
ok $? "agentctl settings answers"
[ "$(echo "$out" | jq -r '[.settings[].name] | join(",")')" = \
    "api_token,DB_Password,signing_key_id,region,retries,ratio,verbose" ]
ok $? "every setting, in the plugin's schema order, defaults included"
[ "$(val "$out" api_token value)" = '"********"' ] &&
    [ "$(val "$out" DB_Password value)" = '"********"' ] &&
    [ "$(val "$out" signing_key_id value)" = '"********"' ]
ok $? "token, password (any case) and key: masked, whatever the type"
[ "$(val "$out" api_token masked)" = true ] && [ "$(val "$out" region masked)" = false ]
ok $? "each says whether it is masked"
[ "$(val "$out" region value)" = '"us-east"' ] && [ "$(val "$out" retries value)" = 3 ] &&
    [ "$(val "$out" ratio value)" = 0.25 ] && [ "$(val "$out" verbose value)" = true ] &&
    [ "$(val "$out" retries type)" = '"int"' ]
ok $? "the others with their values and types (written and defaults)"
no_secret "$out"
ok $? "no secret value in agentctl's answer"
txt=$(actl settings vault)
like "$txt" 'region +string +us-east' "agentctl settings prints a table"
no_secret "$txt"
ok $? "...without the secrets"

code=$(curl -s -o "$T_DIR/body" -w '%{http_code}' -H "Authorization: Bearer $VIEW" \
    "$URL/v1/agents/vault/settings")
[ "$code" = 200 ]
ok $? "GET /v1/agents/vault/settings as a viewer: 200 (got $code)"
[ "$(jq -c . "$T_DIR/body")" = "$(echo "$out" | jq -c .)" ]
ok $? "the same answer as agentctl's"
no_secret "$(cat "$T_DIR/body")"
ok $? "no secret value over HTTP"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/agents/vault/settings")
[ "$code" = 401 ]
ok $? "without a token: 401 (got $code)"
code=$(curl -s -o "$T_DIR/body" -w '%{http_code}' -H "Authorization: Bearer $VIEW" \
    "$URL/v1/agents/nosuch/settings")
[ "$code" = 404 ]
ok $? "an agent that does not exist: 404 (got $code)"

stop_agentd
ok $? "agentd stops"
done_testing

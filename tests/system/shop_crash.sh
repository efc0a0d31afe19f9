#!/bin/sh
# kill -9 of any one agent of the product pipeline while the run is in it
# (scout, vetting, ceo, llm, publisher, flow; pricing calls nothing
# outside, so no request of it can be held)
# (doc/shop.md): the run resumes and the product is on the shop exactly
# once, the shop's fake counting creations by SKU.  Each case holds one
# request at a fake (/_fake/hold) so that the agent is killed with that
# request in flight, never by a guessed delay.  The publisher's case
# holds the shop's answer after the product was created: the worst
# moment, between the shop's write and the publisher's own.
. "$top_srcdir/tests/lib.sh"
AGENTD_TEST_LIMIT=300
. "$top_srcdir/tests/shop_lib.sh"

plan 26

shop_start
ok $? "agentd runs the shop's example configuration"

# a good product of the catalog's (LAMP-1's numbers) under a new SKU
add_product() {
	curl -sf "$SUPPLIER/v1/products/LAMP-1" |
	    jq -c --arg s "$1" '. + {sku: $s, title: ("crash lamp " + $s), tags: [$s]}' |
	    curl -sf -X POST -H 'Content-Type: application/json' -d @- "$SUPPLIER/_fake/product" >/dev/null
}
# hold BASE METHOD PATH WHEN / release BASE / held BASE
hold() {
	curl -sf -X POST -H 'Content-Type: application/json' \
	    -d "{\"method\":\"$2\",\"path\":\"$3\",\"when\":\"$4\"}" "$1/_fake/hold" >/dev/null
}
release() { curl -sf -X POST -d '{}' "$1/_fake/release" >/dev/null; }
holding() { [ "$(curl -sf "$1/_fake/held" | jq -r .waiting)" -ge 1 ]; }
pid_of() { agent_field "$1" '.instances[] | select(.state == "ready") | .pid' | head -n 1; }
other_ready() { p=$(pid_of "$1"); [ -n "$p" ] && [ "$p" != "$2" ]; }

# crash CASE AGENT FAKE METHOD PATH WHEN: a run whose AGENT is killed while
# FAKE holds METHOD PATH (before or after doing it).
crash() {
	c_sku=$1 c_agent=$2 c_fake=$3
	add_product "$c_sku"
	hold "$c_fake" "$4" "$5" "$6"
	c_run=$(run_start "$c_sku")
	wait_for 30 holding "$c_fake"
	ok $? "$c_agent: the run holds at $4 $5 ($6)"
	c_pid=$(pid_of "$c_agent")
	kill -9 "$c_pid"
	wait_for 30 other_ready "$c_agent" "$c_pid"
	ok $? "$c_agent: killed (pid $c_pid) and replaced"
	release "$c_fake"
	wait_for 60 run_is "$c_run" done
	ok $? "$c_agent: the run resumes and ends done ($(run_field "$c_run" .state) $(run_field "$c_run" .error))"
	[ "$(created "$c_sku")" = 1 ]
	ok $? "$c_agent: $c_sku is on the shop exactly once (created $(created "$c_sku"))"
}

crash CRASH-1 scout "$SUPPLIER" GET /v1/products before
crash CRASH-2 vetting "$SUPPLIER" GET /v1/suppliers before
crash CRASH-3 ceo "$LLM" POST /s/shop before
# the llm agent the ceo waits on
crash CRASH-6 llm "$LLM" POST /s/shop before
crash CRASH-4 publisher "$SHOP" POST /admin/api/2024-01/products.json after
# the flow agent itself, while the publisher waits on the shop's answer
crash CRASH-5 flow "$SHOP" POST /admin/api/2024-01/products.json after

actl audit verify >/dev/null
ok $? "agentctl audit verify passes afterwards"

#!/bin/sh
# The boutique's concierge (doc/shop.md, doc/concierge.md): a customer's
# multi-turn conversation through the llm agent, the catalog as its
# tools, the context kept across turns and forgotten after its TTL; and
# the A/B canary: a second version of the concierge (another style) takes
# half of the conversations, conversions are counted per generation in
# status and /metrics, and promote ends it.
. "$top_srcdir/tests/lib.sh"
AGENTD_TEST_LIMIT=240
. "$top_srcdir/tests/shop_lib.sh"

plan 15

shop_start
ok $? "agentd runs the shop's example configuration"
# A conversation forgotten after 3 s instead of an hour, for the test.
sed -i 's/conversation_ttl_ms = [0-9]*/conversation_ttl_ms = 3000/' "$T_DIR/conf/llm.conf"
grep -q 'conversation_ttl_ms = 3000' "$T_DIR/conf/llm.conf" && actl reload >/dev/null
ok $? "the llm agent reloaded with a TTL of 3 s"

actl --json call publisher '{"sku":"LAMP-1","title":"Desk lamp","description":"A brass desk lamp","price":22.81,"stock":60}' >/dev/null
in_catalog() { actl --json call catalog '{"op":"get","sku":"LAMP-1"}' | jq -e -n 'input | .sku == "LAMP-1"'; }
wait_for 10 in_catalog
ok $? "the catalog has LAMP-1 once it is published"

say() { actl --json call concierge "{\"session\":\"$1\",\"message\":\"$2\"}"; }

# ---- context across turns, and forgotten after the TTL
t1=$(say s-1 "Hello, I am looking for a desk lamp")
echo "$t1" | jq -e -n 'input | .tools | index("search_products") != null' >/dev/null
ok $? "the first turn searched the catalog"
like "$(echo "$t1" | jq -r .text)" 'LAMP-1|Desk lamp' "and its answer names the lamp"
t2=$(say s-1 "What did I ask for?")
like "$(echo "$t2" | jq -r .text)" '\[turns 2\]' "the second turn is answered with the first in its context"
gone() { ! actl state get llm conv/concierge/s-1 >/dev/null 2>&1; }
wait_for 20 gone
ok $? "the conversation's context expires after its TTL"
t3=$(say s-1 "Hello again")
like "$(echo "$t3" | jq -r .text)" '\[turns 1\]' "the next turn starts over"

# ---- A/B: a second style as a canary, conversions per generation
conv_of() {
	actl --json status | jq -r --arg r "$1" '.agents[] | select(.name == "concierge")
	    | .generations[] | select(.role == $r) | .counters.conversions // 0'
}
sed -i 's/style = "[a-z]*"/style = "upsell"/' "$T_DIR/conf/concierge.conf"
grep -q 'style = "upsell"' "$T_DIR/conf/concierge.conf" &&
    actl reload --canary concierge 50 >/dev/null
ok $? "the upsell style starts as a canary taking 50%"
i=0
while [ "$i" -lt 6 ]; do
	i=$((i + 1))
	say "buyer-$i" "I want to buy a desk lamp, checkout please" > "$T_DIR/buy.$i" || break
done
orders=$(cat "$T_DIR"/buy.* | jq -s 'map(select(.order != null)) | length')
[ "$orders" = 6 ]
ok $? "six customers bought a lamp through the concierge ($orders orders)"
[ "$(shop_state '.orders | length')" -ge 6 ]
ok $? "the orders reached the shop"
c=$(conv_of canary) p=$(conv_of current)
[ "$c" = 3 ] && [ "$p" = 3 ]
ok $? "conversions per generation in status: canary $c, current $p"
curl -sf -H "Authorization: Bearer $OPER" "$URL/metrics" > "$T_DIR/metrics"
[ "$(grep -c '^agentd_plugin_counted_total{agent="concierge".*name="conversions"' "$T_DIR/metrics")" -ge 2 ]
ok $? "and in /metrics, one series per generation"
actl promote concierge >/dev/null
ok $? "agentctl promote concierge ends the canary"
promoted() { [ "$(agentd_role_count)" = 0 ]; }
agentd_role_count() {
	actl --json status | jq -r '[.agents[] | select(.name == "concierge") | .generations[] | select(.role == "canary")] | length'
}
wait_for 20 promoted && [ "$(conv_of current)" = 3 ]
ok $? "the upsell generation serves all, with its conversions"

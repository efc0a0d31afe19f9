#!/bin/sh
# The bundled pricing agent with the sample configuration's own
# conf.d/pricing.conf (its rules and sample product) in a real agentd:
# the sample product's HIGH price.set waits for a person and is applied
# once, after an approval over HTTP; a small change (LOW) is applied at
# once; a modified decision applies the modified price; a held margin is
# HIGH whatever the change, and a rejected one changes nothing.
. "$top_srcdir/tests/lib.sh"

command -v curl >/dev/null || { echo "1..0 # SKIP no curl"; exit 0; }
plan 24

cp "$top_srcdir/conf.d/pricing.conf" "$T_DIR/conf/"
conf agentd.conf <<EOF2
agentd {
	http { listen = "127.0.0.1:0" }
}
EOF2
start_agentd --plugin-dir "$BPLUGINS"
ok $? "agentd starts with conf.d/pricing.conf"
wait_for 10 agent_ready pricing
ok $? "pricing is ready"
wait_for 10 test -s "$T_DIR/run/http.addr"
URL="http://$(cat "$T_DIR/run/http.addr")"
OPER=$(actl token create oper1 --role operator)

# pending_of SKU: the id of the pending decision about SKU.
pending_of() {
	actl --json approvals --agent pricing |
	    jq -rs --arg s "$1" 'map(if type == "array" then .[] else . end)
	        | map(select(.params.sku == $s)) | .[0].id // empty'
}
has_pending() { [ -n "$(pending_of "$1")" ]; }
# price SKU FILTER: the applied price record of SKU, filtered.
price() { actl --json call pricing "{\"get\":\"$1\"}" | jq -r "$2"; }
applied_is() { [ "$(price "$1" .applied 2>/dev/null)" = "$2" ]; }
audits() {
	actl --json audit --kind price.set --limit 100 |
	    jq -s --arg s "$1" 'map(if type == "array" then .[] else . end)
	        | map(select(.summary | contains("of " + $s + " "))) | length'
}

actl tail > "$T_DIR/events" 2>&1 &
TAIL=$!

# ---- the sample product: HIGH, pending, approved over HTTP, applied once
wait_for 10 has_pending DEMO-MUG
ok $? "the sample product's proposal is pending right after the start"
id=$(pending_of DEMO-MUG)
d=$(actl --json approvals show "$id")
[ "$(echo "$d" | jq -r .risk)" = high ] &&
    [ "$(echo "$d" | jq -r .rule)" = price-large-change ] &&
    [ "$(echo "$d" | jq -r .type)" = price.set ]
ok $? "high by the shipped rule price-large-change, type price.set"
like "$(echo "$d" | jq -r .title)" 'DEMO-MUG to 14\.61 \(now 12\.00\)' \
    "its title: the SKU, the price and the current one"
[ "$(echo "$d" | jq -r .amount)" = 2.61 ] &&
    [ "$(echo "$d" | jq -r .params.price)" = 14.61 ]
ok $? "amount 2.61 (the change), params.price 14.61"
! actl call pricing '{"get":"DEMO-MUG"}' >/dev/null 2>&1
ok $? "pending: no price applied"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $OPER" -d '{"note":"fine"}' \
    "$URL/v1/decisions/$id/approve")
[ "$code" = 200 ]
ok $? "approved over HTTP (got $code)"
wait_for 10 applied_is DEMO-MUG 1
ok $? "the plugin applies it"
[ "$(price DEMO-MUG .price)" = 14.61 ] && [ "$(price DEMO-MUG .by)" = "http (oper1)" ]
ok $? "at 14.61, approved by the token's name"
wait_for 10 grep -q '"price.changed".*DEMO-MUG' "$T_DIR/events"
ok $? "price.changed is published"
like "$(actl audit --kind price.set)" 'price of DEMO-MUG set to 14\.61 \(was 12\.00\), decision [0-9]+ approved by http \(oper1\)' \
    "and audited"

# ---- LOW: a change under 1.00 runs at once
out=$(actl --json call pricing '{"sku":"PEN-4","cost":1,"shipping":0.5,"current_price":2.2}')
[ "$(echo "$out" | jq -r .price)" = 2.69 ]
ok $? "a small change: 2.69 from 2.20"
wait_for 10 applied_is PEN-4 1
ok $? "low by price-small-change: applied without a person"
[ "$(price PEN-4 .by)" = policy ]
ok $? "by the policy"

# ---- modified: the modified price is the one applied
out=$(actl --json call pricing '{"sku":"CUP-2","cost":2,"shipping":1,"current_price":9}')
mid=$(echo "$out" | jq -r .decision)
[ "$(actl --json approvals show "$mid" | jq -r .state)" = pending ]
ok $? "a large change waits"
actl modify "$mid" '{"sku":"CUP-2","price":8.99,"amount":0.01}' --note "keep it under 9" >/dev/null
ok $? "agentctl modify: 8.99, a change of 0.01"
wait_for 10 applied_is CUP-2 1
ok $? "classified again as low, approved: applied"
[ "$(price CUP-2 .price)" = 8.99 ]
ok $? "with the modified price, 8.99 (not the proposed 4.92)"

# ---- low margin: HIGH however small; rejected: nothing applied
out=$(actl --json call pricing '{"sku":"TEA-9","cost":5,"shipping":2,"current_price":7.5,"max_price":7.9}')
tid=$(echo "$out" | jq -r .decision)
[ "$(echo "$out" | jq -r .type)" = price.set.low_margin ] &&
    [ "$(actl --json approvals show "$tid" | jq -r .rule)" = price-low-margin ]
ok $? "held under its margin: price.set.low_margin, high by price-low-margin (a change of 0.40)"
actl reject "$tid" --reason "margin too thin" >/dev/null
wait_for 10 sh -c "[ \"\$('$AGENTCTL' --run-dir '$T_DIR/run' --json approvals show $tid | jq .delivered_ms)\" -gt 0 ]"
! actl call pricing '{"get":"TEA-9"}' >/dev/null 2>&1
ok $? "rejected and delivered: no price"

# Once each, at the end too: the approvals came once and were taken once.
[ "$(audits DEMO-MUG)" = 1 ] && [ "$(audits CUP-2)" = 1 ] &&
    applied_is DEMO-MUG 1 && applied_is CUP-2 1
ok $? "each approved decision applied and audited exactly once"

# doc/pricing.md's table of settings is what the plugin declares.
want=$("$top_builddir/runtime/agentd-worker" --describe "$BPLUGINS/pricing.so" |
    jq -r '.settings[] | "\(.name) \(.default)"')
got=$(sed -n '/^## Settings$/,/^## /p' "$top_srcdir/doc/pricing.md" |
    sed -n 's/^| `\([a-z_]*\)` | \([^ |]*\) |.*/\1 \2/p' | sed 's/ ""$/ /')
[ -n "$want" ] && [ "$want" = "$got" ]
ok $? "doc/pricing.md lists the settings --describe prints, with their defaults"
[ "$want" = "$got" ] || { diag "describe: $want"; diag "doc: $got"; }

kill "$TAIL" 2>/dev/null
wait "$TAIL" 2>/dev/null
stop_agentd
ok $? "agentd stops"
done_testing

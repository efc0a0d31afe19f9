#!/bin/sh
# The shop's product pipeline (doc/shop.md) end to end: the shipped example
# configuration in a real agentd, the workflow pipeline.flow run by the
# flow agent over scout, vetting, pricing, ceo and publisher, against the
# fake supplier catalog, shop and language model.  The plan's four
# scenarios: (1) a good product is found and published; (2) the CEO
# rejects a low margin and nothing is published; (3) an expensive product
# is escalated, waits for a person, is approved and published; (4) a
# supplier fails vetting, the pipeline stops and the CEO is alerted.  Then
# the audit trail is whole and says why each product was taken or refused.
. "$top_srcdir/tests/lib.sh"
AGENTD_TEST_LIMIT=240
. "$top_srcdir/tests/shop_lib.sh"

plan 27

shop_start
ok $? "agentd runs the shop's example configuration"
actl tail > "$T_DIR/events" 2>&1 &
TAIL=$!

# ---- (1) a good product: found, vetted, priced, approved, published
r1=$(run_start "desk lamp")
[ -n "$r1" ]
ok $? "a pipeline run starts for \"desk lamp\" ($r1)"
wait_for 30 run_is "$r1" done
ok $? "it ends done"
[ "$(run_field "$r1" .outputs.scout.best.sku)" = LAMP-1 ]
ok $? "the scout's best is LAMP-1"
[ "$(run_field "$r1" .outputs.ceo.decision)" = approve ]
ok $? "the CEO approves it"
[ "$(created LAMP-1)" = 1 ]
ok $? "LAMP-1 was created on the shop once"
price=$(run_field "$r1" .outputs.pricing.price)
shop_price=$(shop_state '[.products[].variants[] | select(.sku == "LAMP-1") | .price][0]')
[ -n "$price" ] && [ "$(printf '%.2f' "$price")" = "$shop_price" ]
ok $? "at the price pricing quoted ($price, the shop has $shop_price)"
wait_for 10 grep -q '"product.published".*LAMP-1' "$T_DIR/events"
ok $? "product.published is an event"

# ---- (2) a low margin: the CEO rejects it, nothing is published
r2=$(run_start "ceramic mug")
wait_for 30 run_is "$r2" done
ok $? "the \"ceramic mug\" run ends"
[ "$(run_field "$r2" .outputs.ceo.decision)" = reject ]
ok $? "the CEO rejects MUG-9"
like "$(run_field "$r2" '.outputs.ceo.reasons | join("; ")')" 'margin' \
    "because of its margin"
[ "$(created MUG-9)" = 0 ] &&
    [ "$(run_field "$r2" '[.steps[] | select(.step == "publish")] | length')" = 0 ]
ok $? "nothing is published, the publisher is never called"

# ---- (3) escalated: a HIGH decision waits for a person, approved, published
r3=$(run_start "espresso machine")
wait_for 30 run_phase_is "$r3" approval
ok $? "the \"espresso machine\" run waits on an approval"
[ "$(run_field "$r3" .outputs.ceo.decision)" = escalate ]
ok $? "the CEO escalated ESP-3"
wait_for 10 has_pending product.publish ESP-3
id=$(pending_decision product.publish ESP-3)
d=$(actl --json approvals show "$id")
[ "$(echo "$d" | jq -r .risk)" = high ] &&
    [ "$(echo "$d" | jq -r .rule)" = publish-escalated ]
ok $? "its decision is high by the shipped rule publish-escalated"
[ "$(created ESP-3)" = 0 ]
ok $? "nothing is published while it waits"
actl approve "$id" --note "a flagship product" >/dev/null
ok $? "a person approves it with agentctl"
wait_for 30 run_is "$r3" done
ok $? "the run goes on to its end"
[ "$(created ESP-3)" = 1 ]
ok $? "ESP-3 is published once"

# ---- (4) a supplier fails vetting: the pipeline stops, the CEO is alerted
r4=$(run_start "phone case")
wait_for 30 run_is "$r4" done
ok $? "the \"phone case\" run ends"
[ "$(run_field "$r4" .outputs.vetting.passed)" = false ] &&
    [ "$(run_field "$r4" '[.steps[] | select(.step == "pricing" or .step == "ceo")] | length')" = 0 ]
ok $? "vetting failed CASE-7 and the run went no further"
like "$(run_field "$r4" '.outputs.vetting.reasons | join("; ")')" 'rating' \
    "the reasons name the supplier's rating"
wait_for 10 grep -q '"supplier.failed".*CASE-7' "$T_DIR/events" &&
    wait_for 10 grep -q '"ceo.alert".*CASE-7' "$T_DIR/events"
ok $? "supplier.failed and then ceo.alert are events"
[ "$(created CASE-7)" = 0 ]
ok $? "CASE-7 is not published"

# ---- afterwards: the trail is whole and tells why
actl audit verify >/dev/null
ok $? "agentctl audit verify passes"
dec=$(actl --json audit --agent ceo --kind decision --limit 100)
for want in "LAMP-1 approve" "MUG-9 reject" "ESP-3 escalate" "CASE-7 reject"; do
	sku=${want% *} what=${want#* }
	echo "$dec" | jq -e -s --arg s "$sku" --arg w "$what" \
	    'map(select((.summary | contains($s)) and (.summary | startswith($w)))) | length >= 1' >/dev/null ||
	    { diag "no ceo decision \"$what\" about $sku"; false; } || break
done
ok $? "agentctl audit --agent ceo --kind decision has each product's decision"
echo "$dec" | jq -e -s 'map(select(.summary | contains("LAMP-1")))[0]
    | (.detail.rationale // "") | test("LAMP-1")' >/dev/null
ok $? "with the llm's rationale recorded in the decision"
kill "$TAIL" 2>/dev/null

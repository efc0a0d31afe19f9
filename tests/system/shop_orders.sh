#!/bin/sh
# The shop's orders and stock (doc/shop.md): the shop's signed order
# webhook becomes shop.order.created; fulfilment places the supplier
# order once (a large one waits for a person); inventory counts the stock
# down and publishes stock.low under its threshold, and promotions
# proposes (medium: it runs and notifies).  A webhook with a bad
# signature changes nothing.
. "$top_srcdir/tests/lib.sh"
AGENTD_TEST_LIMIT=240
. "$top_srcdir/tests/shop_lib.sh"

plan 22

shop_start
ok $? "agentd runs the shop's example configuration"
actl tail > "$T_DIR/events" 2>&1 &
TAIL=$!

# The products on the shop, through the publisher as the pipeline would.
actl --json call publisher '{"sku":"LAMP-1","title":"Desk lamp","description":"A lamp","price":22.81,"stock":60}' > "$T_DIR/pub" &&
    [ "$(jq -r .created "$T_DIR/pub")" = true ]
ok $? "LAMP-1 is published with 60 in stock"
stock_of() { actl --json call inventory "{\"op\":\"get\",\"sku\":\"$1\"}" | jq -r .stock; }
stock_is() { [ "$(stock_of "$1")" = "$2" ]; }
wait_for 10 stock_is LAMP-1 60
ok $? "inventory tracks it from product.published"

order() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$1" "$SHOP/_fake/order"
}
# placed_once KEY: the supplier placed exactly one order under KEY.
placed_once() { [ "$(supplier_orders ".placed_by_key[\"$1\"] // 0")" = 1 ]; }
supplier_orders() { curl -sf "$SUPPLIER/_fake/orders" | jq -r "$1"; }

# ---- a forged webhook changes nothing
o=$(order '{"email":"mallory@example.com","bad_signature":true,"line_items":[{"sku":"LAMP-1","quantity":5}]}')
[ "$(echo "$o" | jq -r .webhook_status)" = 401 ]
ok $? "a webhook with a bad signature is refused (401)"
bad_id=$(echo "$o" | jq -r .order.id)
good=$(order '{"email":"ann@example.com","line_items":[{"sku":"LAMP-1","quantity":2}]}')
[ "$(echo "$good" | jq -r .webhook_status)" = 202 ] ||
    [ "$(echo "$good" | jq -r .webhook_status)" = 200 ]
ok $? "a signed one is taken"
good_id=$(echo "$good" | jq -r .order.id)
wait_for 20 placed_once "$good_id/LAMP-1"
ok $? "fulfilment placed its supplier order, keyed $good_id/LAMP-1"
[ "$(supplier_orders "[.orders[] | select(.reference | tostring | contains(\"$bad_id\"))] | length")" = 0 ] &&
    ! grep -q "\"id\":$bad_id" "$T_DIR/events"
ok $? "the forged order reached neither the bus nor the supplier"
wait_for 10 stock_is LAMP-1 58
ok $? "inventory counted the signed order only (60 - 2)"
wait_for 10 grep -q '"order.fulfilled"' "$T_DIR/events"
ok $? "order.fulfilled is an event"
like "$(actl audit --agent fulfilment --kind fulfilment.placed)" "$good_id" \
    "the placement is audited"

# ---- the same order delivered again (a new delivery id) is placed once
body=$(curl -sf "$SHOP/_fake/state" | jq -c --argjson id "$good_id" '.orders[] | select(.id == $id)')
secret=$(cat "$SHOP_DIR/etc/shop/webhook.secret")
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" -binary | base64)
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
    -H "X-Shopify-Hmac-Sha256: $sig" -H "X-Shopify-Webhook-Id: again-$good_id" \
    -H 'X-Shopify-Topic: orders/create' -H 'Content-Type: application/json' \
    --data-binary "$body" "$URL/hooks/shop/orders")
[ "$code" = 202 ] || [ "$code" = 200 ]
ok $? "the same order, sent again by the shop, is taken ($code)"
# a later order's effects mark that the redelivery was handled
later=$(order '{"email":"bob@example.com","line_items":[{"sku":"LAMP-1","quantity":1}]}')
later_id=$(echo "$later" | jq -r .order.id)
wait_for 20 placed_once "$later_id/LAMP-1"
[ "$(supplier_orders ".placed_by_key[\"$good_id/LAMP-1\"]")" = 1 ] &&
    [ "$(supplier_orders "[.orders[] | select(.reference | tostring | contains(\"$good_id\"))] | length")" = 1 ]
ok $? "and placed with the supplier once"
wait_for 10 stock_is LAMP-1 57
ok $? "and counted once (58 - 1 for the later order)"

# ---- a large order waits for a person
big=$(order '{"email":"corp@example.com","line_items":[{"sku":"LAMP-1","quantity":50}]}')
big_id=$(echo "$big" | jq -r .order.id)
fulfilment_pending() { actl --json approvals --agent fulfilment | grep -q .; }
wait_for 20 fulfilment_pending
id=$(actl --json approvals --agent fulfilment | jq -rs 'map(if type == "array" then .[] else . end) | .[0].id // empty')
[ -n "$id" ] && [ "$(actl --json approvals show "$id" | jq -r .risk)" = high ]
ok $? "an order costing 600 with the supplier is a high decision"
[ "$(supplier_orders ".placed_by_key[\"$big_id/LAMP-1\"] // 0")" = 0 ]
ok $? "nothing is ordered while it waits"
actl approve "$id" >/dev/null
wait_for 20 placed_once "$big_id/LAMP-1"
ok $? "approved, it is placed"

# ---- stock under the threshold: stock.low, and promotions pauses the
# promotion that runs for it
wait_for 10 stock_is LAMP-1 7
ok $? "inventory is down to 7 (57 - 50)"
idea=$(actl --json call promotions '{"op":"ideas","sku":"LAMP-1","stock":7}')
[ "$(echo "$idea" | jq -r .proposed)" = true ]
ok $? "promotions asked the model for an idea for LAMP-1 and proposed it"
started() { grep -q '"promotion.started".*LAMP-1' "$T_DIR/events"; }
wait_for 20 started
ok $? "medium, it starts at once: promotion.started"
order '{"email":"dan@example.com","line_items":[{"sku":"LAMP-1","quantity":3}]}' > /dev/null
wait_for 20 grep -q '"stock.low".*LAMP-1' "$T_DIR/events"
ok $? "4 left, under the threshold of 5: stock.low"
props() {
	actl --json audit --agent promotions --kind decision.proposed --limit 100 |
	    jq -s 'map(select(.detail.type == "promotion.pause" and .detail.params.sku == "LAMP-1"))'
}
promo_proposed() { [ "$(props | jq length)" -ge 1 ]; }
wait_for 20 promo_proposed
ok $? "promotions proposes promotion.pause for LAMP-1"
[ "$(props | jq -r '.[0].detail.risk')" = medium ]
ok $? "medium: it runs, and people are notified"
kill "$TAIL" 2>/dev/null

#!/bin/sh
# The shop's catalog and orders, three agents alone, in a real agentd with the
# shipped conf.d/examples/shop files (publisher, catalog, fulfilment; only
# their ports and token path changed) against tests/tools/fakeshop.py and
# fakesupplier.py on loopback: a product is created on the shop once
# however often it is asked, reaches the catalog by its event, and keeps
# the price price.changed gives it; a checkout becomes a shop order whose
# signed webhook agentd verifies and publishes, and fulfilment orders the
# stock from the supplier once (under 500: at once, by the shipped rule;
# 600: only after a person approves); a webhook with a bad signature is
# refused and orders nothing.
. "$top_srcdir/tests/lib.sh"

for c in python3 curl jq; do
	command -v $c >/dev/null || { echo "1..0 # SKIP no $c"; exit 0; }
done
plan 21

TOOLS="$top_srcdir/tests/tools"
SRV_PIDS=
trap 'r=$?; for p in $SRV_PIDS; do kill "$p" 2>/dev/null; done; (exit $r); t_cleanup' EXIT
serve() {
	n=$1
	shift
	python3 "$@" --port-file "$T_DIR/$n.port" --log "$T_DIR/$n.log" \
	    --limit "$(slow 90)" >/dev/null 2>>"$T_DIR/$n.err" &
	SRV_PIDS="$SRV_PIDS $!"
	wait_for 10 test -s "$T_DIR/$n.port" || {
		echo "Bail out! $n did not start: $(cat "$T_DIR/$n.err")"
		exit 1
	}
}

SHARED=$(plugin_dir shared)
printf 'shpat_e2e_SECRET\n' > "$SHARED/admin.token"
chmod 0644 "$SHARED/admin.token"
printf 'whsec_e2e_SECRET\n' > "$T_DIR/conf/shop.secret"
chmod 0600 "$T_DIR/conf/shop.secret"
serve sup "$TOOLS/fakesupplier.py"
SUP_PORT=$(cat "$T_DIR/sup.port")
# The shop listens first (its own port, no guessed free one that another
# process may take meanwhile); it reads agentd's webhook URL from a file
# written once agentd says where it listens.
serve shop "$TOOLS/fakeshop.py" \
    --token-file "$SHARED/admin.token" --webhook-url-file "$T_DIR/hook.url" \
    --webhook-secret-file "$T_DIR/conf/shop.secret"
SHOP_PORT=$(cat "$T_DIR/shop.port")

conf agentd.conf <<EOF2
agentd {
	http {
		listen = "127.0.0.1:0"
		webhook "shop-orders" {
			path = "/hooks/shop/orders"
			topic = "shop.order.created"
			secret_file = "shop.secret"
			signature_header = "X-Shopify-Hmac-Sha256"
			id_header = "X-Shopify-Webhook-Id"
		}
	}
}
EOF2
for a in publisher catalog fulfilment; do
	sed -e "s|127.0.0.1:8472|127.0.0.1:$SHOP_PORT|" \
	    -e "s|127.0.0.1:8471|127.0.0.1:$SUP_PORT|" \
	    -e "s|/etc/agentd/shop/token|$SHARED/admin.token|" \
	    -e "s|\"/etc/agentd/shop\"|\"$SHARED\"|" \
	    "$top_srcdir/conf.d/examples/shop/$a.conf" > "$T_DIR/conf/$a.conf"
done
start_agentd --plugin-dir "$BPLUGINS"
ok $? "agentd starts with the example publisher, catalog and fulfilment"
wait_for 10 agent_ready publisher && wait_for 10 agent_ready catalog &&
    wait_for 10 agent_ready fulfilment
ok $? "the three are ready"
wait_for 10 test -s "$T_DIR/run/http.addr"
printf 'http://%s/hooks/shop/orders\n' "$(cat "$T_DIR/run/http.addr")" \
    > "$T_DIR/hook.url.tmp" && mv "$T_DIR/hook.url.tmp" "$T_DIR/hook.url"
SHOP="http://127.0.0.1:$SHOP_PORT"
SUP="http://127.0.0.1:$SUP_PORT"
state() { curl -s "$SHOP/_fake/state" | jq -r "$1"; }
call() { actl --json call "$@"; }

# ---- publisher: once per SKU
LAMP='{"sku":"LAMP-1","title":"Brass desk lamp","description":"Brass.","price":22.80,"stock":120,"idempotency_key":"r1/publish"}'
out=$(call publisher "$LAMP")
like "$out" '"created":true' "publisher creates LAMP-1 on the shop"
like "$(call publisher "$LAMP")" '"created":false' "asked again: created false"
[ "$(state '.creations["LAMP-1"]')" = 1 ]
ok $? "the shop holds one LAMP-1 (creations 1)"
IID=$(printf '%s' "$out" | jq -r .inventory_item_id)
[ "$(state ".inventory[\"$IID\"]")" = 120 ]
ok $? "its inventory level is the stock (120)"
out=$(call publisher '{"sku":"ESP-3","title":"Dual boiler espresso machine","description":"PID.","price":449,"stock":25}')
like "$out" '"created":true' "and ESP-3"
grep -q SECRET "$T_DIR/agentd.log"
ok $((1 - $?)) "the token is in no log line"

# ---- catalog: from product.published; price.changed reaches both
wait_for 10 sh -c "'$AGENTCTL' --run-dir '$T_DIR/run' --json call catalog '{\"op\":\"search\",\"query\":\"desk lamp\"}' | grep -q LAMP-1"
ok $? "the catalog finds it by product.published"
actl publish price.changed '{"sku":"LAMP-1","price":24.5,"previous_price":22.8,"decision":"9","by":"test"}' >/dev/null
wait_for 10 sh -c "curl -s '$SHOP/_fake/state' | jq -e -n 'input | .variant_prices[\"LAMP-1\"] == \"24.50\"'"
ok $? "price.changed: publisher PUTs 24.50 on the shop"
wait_for 10 sh -c "'$AGENTCTL' --run-dir '$T_DIR/run' --json call catalog '{\"op\":\"get\",\"sku\":\"LAMP-1\"}' | grep -q '\"price\":24.5'"
ok $? "and the catalog has it"

# ---- checkout → shop order → webhook → fulfilment → supplier, once
call catalog '{"op":"cart.add","cart":"c-1","sku":"LAMP-1","quantity":2}' >/dev/null
out=$(call catalog '{"op":"checkout","cart":"c-1","email":"a@example.com"}')
OID=$(printf '%s' "$out" | jq -r .order_id)
like "$out" '"total":49' "checkout: the shop's order, 2 x 24.50"
wait_for 15 sh -c "curl -s '$SUP/_fake/orders' | jq -e -n 'input | .placed_by_key[\"$OID/LAMP-1\"] == 1'"
ok $? "its webhook reached fulfilment, which ordered from the supplier (key ORDERID/SKU)"
[ "$(state '.webhooks[0].status')" = 200 ]
ok $? "agentd accepted the signed webhook (200)"
wait_for 10 sh -c "'$AGENTCTL' --run-dir '$T_DIR/run' --json call fulfilment '{\"op\":\"get\",\"order\":\"$OID\"}' | grep -q '\"status\":\"placed\"'"
ok $? "30.00 of cost is under 500: placed at once (the shipped rule)"
actl --json audit --kind fulfilment.placed | grep -q "order $OID"
ok $? "audited fulfilment.placed"

# ---- 600 of cost: waits for a person
out=$(curl -s -H 'Content-Type: application/json' --data-binary \
    '{"line_items":[{"sku":"ESP-3","quantity":3}],"email":"b@example.com"}' "$SHOP/_fake/order")
OID2=$(printf '%s' "$out" | jq -r .order.id)
pending() {
	actl --json approvals --agent fulfilment |
	    jq -rs 'map(if type == "array" then .[] else . end) | .[0].id // empty'
}
wait_for 15 sh -c "[ -n \"\$('$AGENTCTL' --run-dir '$T_DIR/run' --json approvals --agent fulfilment | jq -rs 'map(if type == \"array\" then .[] else . end) | .[0].id // empty')\" ]"
ok $? "an order costing 600 waits for a person"
[ "$(curl -s "$SUP/_fake/orders" | jq '.orders | length')" = 1 ]
ok $? "nothing is ordered meanwhile"
actl approve "$(pending)" --note "ok" >/dev/null
wait_for 15 sh -c "curl -s '$SUP/_fake/orders' | jq -e -n 'input | .placed_by_key[\"$OID2/ESP-3\"] == 1'"
ok $? "approved: ordered"

# ---- a bad signature: 401, nothing ordered
out=$(curl -s -H 'Content-Type: application/json' --data-binary \
    '{"line_items":[{"sku":"LAMP-1","quantity":1}],"email":"c@example.com","bad_signature":true}' "$SHOP/_fake/order")
[ "$(printf '%s' "$out" | jq .webhook_status)" = 401 ]
ok $? "a webhook with a wrong signature is refused (401)"
sleep 1
[ "$(curl -s "$SUP/_fake/orders" | jq '.orders | length')" = 2 ]
ok $? "and orders nothing"

done_testing

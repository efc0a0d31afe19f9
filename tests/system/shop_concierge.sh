#!/bin/sh
# A customer buys through the concierge, in a real agentd: concierge ->
# llm -> tests/tools/fakellm.py (scenario shop) for the model's tool
# calls -> catalog (search, cart, checkout) -> tests/tools/fakeshop.py,
# whose signed orders/create webhook reaches agentd and inventory, which
# counts the sale down to stock.low.  Needs the catalog plugin and
# fakeshop.py (issue 26's other parts): skipped without them.
. "$top_srcdir/tests/lib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 missing"; exit 0; }
[ -f "$BPLUGINS/catalog.so" ] && [ -f "$top_srcdir/tests/tools/fakeshop.py" ] ||
    { echo "1..0 # SKIP the catalog plugin or fakeshop.py is not in this tree"; exit 0; }

plan 9

LLM=$(plugin_copy "$BPLUGINS/llm.so")
CAT=$(plugin_copy "$BPLUGINS/catalog.so")
CONC=$(plugin_copy "$BPLUGINS/concierge.so")
INV=$(plugin_copy "$BPLUGINS/inventory.so")
BUS=$(plugin_copy "$TPLUGINS/bus.so")
CFG=$(plugin_dir cfg)
SRV_PIDS=
trap 'for p in $SRV_PIDS; do kill "$p" 2>/dev/null; done; t_cleanup' EXIT

# The shop reads agentd's webhook URL from a file written once agentd
# listens (on a port of its own: none is guessed free beforehand).
printf 'shpat_test_token\n' > "$CFG/token"
printf 'whsec_test\n' > "$CFG/webhook.secret"
chmod 0644 "$CFG/token" "$CFG/webhook.secret"
python3 "$top_srcdir/tests/tools/fakellm.py" --port-file "$T_DIR/llm.port" \
    --log "$T_DIR/llm.log" --limit "$(slow 60)" >/dev/null 2>>"$T_DIR/llm.err" &
SRV_PIDS="$SRV_PIDS $!"
python3 "$top_srcdir/tests/tools/fakeshop.py" --port-file "$T_DIR/shop.port" \
    --log "$T_DIR/shop.log" --token-file "$CFG/token" \
    --webhook-url-file "$T_DIR/hook.url" \
    --webhook-secret-file "$CFG/webhook.secret" --limit "$(slow 60)" \
    >/dev/null 2>>"$T_DIR/shop.err" &
SRV_PIDS="$SRV_PIDS $!"
wait_for 10 test -s "$T_DIR/llm.port" && wait_for 10 test -s "$T_DIR/shop.port" ||
    { echo "Bail out! the fakes did not start"; exit 1; }
SHOP="http://127.0.0.1:$(cat "$T_DIR/shop.port")/admin/api/2024-01"

cat > "$CFG/llm.json" <<EOF2
{"providers": [{"name": "primary", "kind": "openai",
  "base_url": "http://127.0.0.1:$(cat "$T_DIR/llm.port")/s/shop/v1", "model": "shop-gpt"}],
 "routes": {"default": ["primary"]}}
EOF2
chmod 0644 "$CFG/llm.json"
conf agentd.conf <<EOF2
agentd {
	http {
		listen = "127.0.0.1:0"
		webhook "shop-orders" {
			path = "/hooks/shop/orders"
			topic = "shop.order.created"
			secret_file = "$CFG/webhook.secret"
			signature_header = "X-Shopify-Hmac-Sha256"
			id_header = "X-Shopify-Webhook-Id"
		}
	}
}
EOF2
conf shop.conf <<EOF2
agent "llm" {
	plugin = "$LLM"
	instances { concurrency = 16 }
	http { allow = { "127.0.0.1" } }
	paths { read = { "$CFG" } }
	settings { config = "$CFG/llm.json" conversation_messages = 40 }
}
agent "catalog" {
	plugin = "$CAT"
	instances { concurrency = 8 }
	subscribe = { "product.published", "price.changed" }
	http { allow = { "127.0.0.1" } }
	paths { read = { "$CFG" } }
	settings { shop_url = "$SHOP" token_file = "$CFG/token" }
}
agent "concierge" {
	plugin = "$CONC"
	instances { concurrency = 8 }
	request_timeout = 60s
	calls = { "llm", "catalog" }
	settings { style = "upsell" }
}
agent "inventory" {
	plugin = "$INV"
	subscribe = { "product.published", "shop.order.created" }
	publish = { "stock.low", "stock.slow" }
	http { allow = { "127.0.0.1" } }
	paths { read = { "$CFG" } }
	settings { shop_url = "$SHOP" token_file = "$CFG/token" check_every_ms = 0 }
}
agent "publisher" {
	plugin = "$BUS"
	publish = { "product.published" }
	subscribe = { "stock" }
}
EOF2

start_agentd
for a in llm catalog concierge inventory publisher; do
	wait_for 10 agent_ready "$a" || break
done
ok $? "agentd starts llm, catalog, concierge, inventory and a publisher"
wait_for 10 test -s "$T_DIR/run/http.addr" &&
    printf 'http://%s/hooks/shop/orders\n' "$(cat "$T_DIR/run/http.addr")" \
    > "$T_DIR/hook.url.tmp" && mv "$T_DIR/hook.url.tmp" "$T_DIR/hook.url"

# The product on the shop, 5 in stock, published as the publisher does.
item=$(curl -s -H 'X-Shopify-Access-Token: shpat_test_token' \
    -H 'Content-Type: application/json' \
    -d '{"product":{"title":"Desk lamp","handle":"lamp-1","status":"active","variants":[{"sku":"LAMP-1","price":"22.80","inventory_management":"shopify"}]}}' \
    "$SHOP/products.json" | jq -r '.product.variants[0].inventory_item_id')
curl -s -H 'X-Shopify-Access-Token: shpat_test_token' -H 'Content-Type: application/json' \
    -d "{\"location_id\":1,\"inventory_item_id\":$item,\"available\":5}" \
    "$SHOP/inventory_levels/set.json" >/dev/null
actl call publisher "{\"publish\":\"product.published\",\"body\":{\"sku\":\"LAMP-1\",\"title\":\"Desk lamp\",\"price\":22.8,\"product_id\":1,\"inventory_item_id\":$item,\"stock\":5}}" >/dev/null
in_catalog() { actl --json call catalog '{"op":"search","query":"lamp"}' | jq_true '.products[0].sku == "LAMP-1"'; }
wait_for 10 in_catalog && wait_for 10 sh -c "$AGENTCTL --run-dir $T_DIR/run call inventory '{\"op\":\"get\",\"sku\":\"LAMP-1\"}'"
ok $? "product.published: the catalog and inventory know LAMP-1"

out=$(actl --json call concierge '{"session":"s-1","message":"do you have a desk lamp?"}' 2>&1)
printf '%s' "$out" | jq_true '.text == "I found Desk lamp (LAMP-1) at 22.8. [turns 1]" and .tools == ["search_products"] and .order == null'
ok $? "a customer asks: the model searches the catalog and answers ($out)"
out=$(actl --json call concierge '{"session":"s-1","message":"great, I will buy it","email":"ann@example.com"}' 2>&1)
printf '%s' "$out" | jq_true '.tools == ["add_to_cart","checkout"] and .order != null and .conversion == true and (.text | test("is placed.*\\[turns 2\\]"))'
ok $? "...then buys it: the conversation kept the product, cart and checkout ($out)"
order=$(printf '%s' "$out" | jq -r '.order')
curl -s "http://127.0.0.1:$(cat "$T_DIR/shop.port")/_fake/state" |
    jq_true '(.orders | length) == 1 and (.orders[0].id | tostring) == $o and .orders[0].email == "ann@example.com" and .orders[0].line_items[0].sku == "LAMP-1"' --arg o "$order"
ok $? "the shop has the order, for the customer's email"
actl --json call concierge '{"op":"status"}' | jq_true '.conversions == 1 and .style == "upsell"'
ok $? "the concierge counts one conversion for its style"

sold() { actl --json call inventory '{"op":"get","sku":"LAMP-1"}' | jq_true '.stock == 4 and .low == true'; }
wait_for 10 sold
ok $? "the shop's signed order webhook reached inventory: 5 - 1 = 4, under 5"
actl --json call publisher '{"events":true}' | jq_true '.last_topic == "stock.low" and .last.stock == 4'
ok $? "...stock.low published"

stop_agentd
ok $? "agentd stops cleanly"
done_testing

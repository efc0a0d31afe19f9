#!/bin/sh
# The fake outside world of the shop's tests (tests/tools/fakesupplier.py,
# fakeshop.py, catalog.json) answers every route of
# doc/shop-contracts.md as written there: the catalog's scenarios, 401
# without the key or token, supplier orders placed once per
# Idempotency-Key, Shopify's handle suffix on a duplicate (counted in
# creations), inventory and orders, and order webhooks signed with
# HMAC-SHA256 in base64 that the test recomputes with openssl.
. "$top_srcdir/tests/lib.sh"

for c in python3 curl jq openssl; do
	command -v $c >/dev/null || { echo "1..0 # SKIP no $c"; exit 0; }
done
plan 58

TOOLS="$top_srcdir/tests/tools"
SRV_PIDS=
trap 'r=$?; for p in $SRV_PIDS; do kill "$p" 2>/dev/null; done; (exit $r); t_cleanup' EXIT

# serve NAME SCRIPT ARGS...: start a fake, wait for its port file.
serve() {
	n=$1
	s=$2
	shift 2
	python3 "$s" --port-file "$T_DIR/$n.port" --log "$T_DIR/$n.log" \
	    --limit "$(slow 60)" "$@" >/dev/null 2>>"$T_DIR/$n.err" &
	SRV_PIDS="$SRV_PIDS $!"
	wait_for 10 test -s "$T_DIR/$n.port" || {
		echo "Bail out! $n did not start: $(cat "$T_DIR/$n.err")"
		exit 1
	}
}

# The webhook's receiver, playing agentd: keeps each delivery's headers
# and body (hooks/N.headers, hooks/N.body) and answers 200.
mkdir "$T_DIR/hooks"
cat > "$T_DIR/receiver.py" <<'EOF2'
import http.server, json, os, sys, threading
d, portfile = sys.argv[1], sys.argv[2]
n = [0]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        n[0] += 1
        with open(os.path.join(d, "%d.body" % n[0]), "wb") as f:
            f.write(body)
        with open(os.path.join(d, "%d.headers" % n[0]), "w") as f:
            json.dump(dict(self.headers.items()), f)
        out = b'{"delivered": 1}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(portfile + ".tmp", "w").write("%d\n" % s.server_address[1])
os.rename(portfile + ".tmp", portfile)
threading.Timer(float(sys.argv[3]), lambda: os._exit(0)).start()
s.serve_forever()
EOF2
python3 "$T_DIR/receiver.py" "$T_DIR/hooks" "$T_DIR/recv.port" "$(slow 60)" \
    2>>"$T_DIR/recv.err" &
SRV_PIDS="$SRV_PIDS $!"
wait_for 10 test -s "$T_DIR/recv.port" || { echo "Bail out! no receiver"; exit 1; }
HOOK="http://127.0.0.1:$(cat "$T_DIR/recv.port")/hooks/shop/orders"

KEY="sup-key-4b1d-SECRET"
TOKEN="shpat_test_91c2-SECRET"
SECRET="whsec-5e8f-SECRET"
printf '%s\n' "$TOKEN" > "$T_DIR/token"
printf '%s\n' "$SECRET" > "$T_DIR/secret"
serve sup "$TOOLS/fakesupplier.py" --api-key "$KEY"
serve shop "$TOOLS/fakeshop.py" --token-file "$T_DIR/token" \
    --webhook-url "$HOOK" --webhook-secret-file "$T_DIR/secret"
SUP="http://127.0.0.1:$(cat "$T_DIR/sup.port")"
SHOP="http://127.0.0.1:$(cat "$T_DIR/shop.port")"
ADMIN="$SHOP/admin/api/2024-01"

# code URL [CURL ARGS]: the HTTP status only; body: the body only.
# (OUT=FILE keeps the body there.)
code() { u=$1; shift; curl -s -o "${OUT:-/dev/null}" -w '%{http_code}' "$@" "$u"; }
sup() { u=$1; shift; curl -s -H "Authorization: Bearer $KEY" "$@" "$SUP$u"; }
supc() { u=$1; shift; code "$SUP$u" -H "Authorization: Bearer $KEY" "$@"; }
shop() { u=$1; shift; curl -s -H "X-Shopify-Access-Token: $TOKEN" "$@" "$ADMIN$u"; }
shopc() { u=$1; shift; code "$ADMIN$u" -H "X-Shopify-Access-Token: $TOKEN" "$@"; }
json() { curl -s -H 'Content-Type: application/json' "$@"; }

# ---- the supplier
is() { [ "$1" = "$2" ] && ok 0 "$3" || { ok 1 "$3"; diag "  got: $1, expected: $2"; }; }
is "$(code "$SUP/v1/products?q=lamp")" 401 "supplier: no key, 401"
is "$(code "$SUP/v1/products?q=lamp" -H 'Authorization: Bearer nope')" 401 \
    "supplier: a wrong key, 401"
for q in "desk+lamp:LAMP-1" "ceramic+mug:MUG-9" "espresso+machine:ESP-3" \
    "phone+case:CASE-7" "scented+candle:CANDLE-2"; do
	got=$(sup "/v1/products?q=${q%%:*}&limit=10" | jq -r '[.products[].sku] | join(",")')
	is "$got" "${q#*:}" "supplier: \"${q%%:*}\" finds ${q#*:} only"
done
is "$(sup '/v1/products?q=kitchen&limit=1' | jq '.products | length')" 1 \
    "supplier: limit is kept"
is "$(sup '/v1/products?q=DESK%20Lamp' | jq -r '.products[0].sku')" LAMP-1 \
    "supplier: the query's case does not matter"
P=$(sup /v1/products/LAMP-1)
is "$(printf '%s' "$P" | jq -r '[.cost, .shipping, .market_price, .supplier_id] | join(" ")')" \
    "12 3 34 S-GOOD" "supplier: LAMP-1 costs 12 + 3, market 34, from S-GOOD"
is "$(printf '%s' "$P" | jq -r 'has("price_history") and has("orders_30d") and has("views_30d") and has("reviews") and has("rating") and has("ship_days") and has("stock") and has("tags") and has("description")')" \
    true "supplier: a product has every field of the contract"
is "$(supc /v1/products/NOPE-1)" 404 "supplier: an unknown SKU, 404"
is "$(sup /v1/products/NOPE-1 | jq -r .error)" "no such product" \
    "supplier: with the contract's error"
is "$(sup /v1/suppliers/S-SHADY | jq -r '[.rating, .ship_days, .disputes_90d > 0] | join(" ")')" \
    "2.9 35 true" "supplier: S-SHADY rates 2.9, ships in 35 days, has disputes"
is "$(supc /v1/suppliers/S-NONE)" 404 "supplier: an unknown supplier, 404"

ORDER='{"sku":"LAMP-1","quantity":2,"reference":"450789469","ship_to":{"name":"A"}}'
is "$(OUT="$T_DIR/o1" supc /v1/orders -H 'Idempotency-Key: 450789469/LAMP-1' --data-binary "$ORDER")" \
    201 "supplier: an order is placed (201)"
is "$(jq -r '[.order_id, .status, .sku, .quantity, .unit_cost, .total_cost, .reference] | join(" ")' "$T_DIR/o1")" \
    "PO-1 placed LAMP-1 2 15 30 450789469" \
    "supplier: the answer has the order id, landed cost and reference"
is "$(OUT="$T_DIR/o2" supc /v1/orders -H 'Idempotency-Key: 450789469/LAMP-1' --data-binary "$ORDER")" \
    200 "supplier: the same Idempotency-Key again is 200"
is "$(jq -c . "$T_DIR/o2")" "$(jq -c . "$T_DIR/o1")" "supplier: with the same answer"
is "$(supc /v1/orders -H 'Idempotency-Key: k-unknown' --data-binary '{"sku":"NOPE-1","quantity":1}')" \
    422 "supplier: an unknown SKU is 422"
F=$(curl -s "$SUP/_fake/orders")
is "$(printf '%s' "$F" | jq -r '[(.orders | length), .placed_by_key["450789469/LAMP-1"]] | join(" ")')" \
    "1 2" "supplier: /_fake/orders: placed once, asked twice"
is "$(sup /v1/products/LAMP-1 | jq .stock)" 118 "supplier: the order took its quantity off the stock"
is "$(json -s "$SUP/_fake/product" --data-binary '{"sku":"LAMP-1","cost":14.5,"stock":3}' -o /dev/null -w '%{http_code}')" \
    200 "supplier: /_fake/product changes a product"
is "$(sup /v1/products/LAMP-1 | jq -r '[.cost, .stock] | join(" ")')" "14.5 3" \
    "supplier: the change is served"
R=$(curl -s "$SUP/_fake/requests")
is "$(printf '%s' "$R" | jq -r '[.[] | select(.path == "/v1/orders")][0] | .headers["Idempotency-Key"] + " " + (.body | fromjson | .sku)')" \
    "450789469/LAMP-1 LAMP-1" "supplier: /_fake/requests keeps headers and bodies"
grep -q "SECRET" "$T_DIR/sup.log"
is $? 1 "supplier: its log never holds the key"
like "$(head -n 1 "$T_DIR/sup.log")" '^[0-9]{13} GET /v1/products' \
    "supplier: one log line per request: WALL_MS METHOD PATH"

# ---- the shop
is "$(code "$ADMIN/products.json")" 401 "shop: no token, 401"
is "$(code "$ADMIN/locations.json" -H 'X-Shopify-Access-Token: nope')" 401 \
    "shop: a wrong token, 401"
is "$(shop '/products.json?handle=lamp-1' | jq -c .products)" "[]" \
    "shop: no product with the handle: an empty list"
NEW='{"product":{"title":"Brass desk lamp","body_html":"<p>brass</p>","vendor":"Boutique","product_type":"Lamp","handle":"lamp-1","status":"active","tags":"lamp","variants":[{"sku":"LAMP-1","price":"22.80","inventory_management":"shopify"}]}}'
is "$(OUT="$T_DIR/p1" shopc /products.json -H 'Content-Type: application/json' --data-binary "$NEW")" \
    201 "shop: a product is created (201)"
PID=$(jq .product.id "$T_DIR/p1")
VID=$(jq '.product.variants[0].id' "$T_DIR/p1")
IID=$(jq '.product.variants[0].inventory_item_id' "$T_DIR/p1")
is "$(jq -r '[.product.handle, .product.variants[0].sku, .product.variants[0].price, (.product.variants[0].product_id == .product.id)] | join(" ")' "$T_DIR/p1")" \
    "lamp-1 LAMP-1 22.80 true" "shop: with its handle, SKU, price and ids"
is "$(shop '/products.json?handle=lamp-1' | jq '.products[0].id')" "$PID" \
    "shop: found by its handle"
OUT="$T_DIR/p2" shopc /products.json --data-binary "$NEW" >/dev/null
is "$(jq -r .product.handle "$T_DIR/p2")" "lamp-1-1" \
    "shop: the same handle again gets -1 appended, as Shopify does"
OUT="$T_DIR/p3" shopc /products.json --data-binary "$NEW" >/dev/null
is "$(jq -r .product.handle "$T_DIR/p3")" "lamp-1-2" "shop: and then -2"
is "$(curl -s "$SHOP/_fake/state" | jq '.creations["LAMP-1"]')" 3 \
    "shop: creations counts the duplicates"
is "$(shopc /products.json --data-binary '{"product":{}}')" 422 \
    "shop: a product without a title is 422"
is "$(shop "/products/$PID.json" | jq -r .product.title)" "Brass desk lamp" \
    "shop: GET /products/ID.json"
is "$(shopc /products/1.json)" 404 "shop: an unknown product id, 404"
is "$(shopc "/variants/$VID.json" -X PUT --data-binary "{\"variant\":{\"id\":$VID,\"price\":\"24.50\"}}")" \
    200 "shop: PUT /variants/ID.json"
is "$(curl -s "$SHOP/_fake/state" | jq -r '.variant_prices["LAMP-1"]')" "24.50" \
    "shop: the variant's price is kept in variant_prices"
is "$(shop /locations.json | jq -c '.locations[0] | [.id, .active]')" "[1,true]" \
    "shop: one active location, id 1"
is "$(shop /inventory_levels/set.json --data-binary "{\"location_id\":1,\"inventory_item_id\":$IID,\"available\":10}" | jq .inventory_level.available)" \
    10 "shop: the inventory level is set"
is "$(shopc /inventory_levels/set.json --data-binary '{"location_id":1,"inventory_item_id":1,"available":1}')" \
    422 "shop: an unknown inventory item is 422"

# An order through the Admin API: inventory down, then the webhook.
is "$(OUT="$T_DIR/ord" shopc /orders.json --data-binary '{"order":{"email":"a@example.com","line_items":[{"sku":"LAMP-1","quantity":2}]}}')" \
    201 "shop: POST /orders.json is 201"
is "$(jq -r '.order | [.name, .currency, .total_price, .line_items[0].sku, .line_items[0].quantity] | join(" ")' "$T_DIR/ord")" \
    "#1001 EUR 49.00 LAMP-1 2" "shop: the order totals its lines at the variant's price"
OID=$(jq .order.id "$T_DIR/ord")
is "$(shop "/inventory_levels.json?inventory_item_ids=$IID,1" | jq -c '[.inventory_levels[] | [.inventory_item_id, .available]]')" \
    "[[$IID,8]]" "shop: the order took 2 off the inventory"
wait_for 10 test -s "$T_DIR/hooks/1.body"
ok $? "shop: the orders/create webhook is sent after the order"
is "$(jq .id "$T_DIR/hooks/1.body")" "$OID" "shop: its body is the ORDER"
H="$T_DIR/hooks/1.headers"
is "$(jq -r '[.["X-Shopify-Topic"], .["X-Shopify-Shop-Domain"], (.["X-Shopify-Webhook-Id"] | test("^[0-9a-f-]{36}$"))] | join(" ")' "$H")" \
    "orders/create demo-boutique.myshopify.com true" \
    "shop: with topic, shop domain and a uuid delivery id"
want=$(openssl dgst -sha256 -hmac "$SECRET" -binary < "$T_DIR/hooks/1.body" | base64)
is "$(jq -r '.["X-Shopify-Hmac-Sha256"]' "$H")" "$want" \
    "shop: X-Shopify-Hmac-Sha256 is the base64 HMAC-SHA256 of the raw body"

# An order as a customer's checkout, then one with a bad signature.
F=$(json -s "$SHOP/_fake/order" --data-binary '{"line_items":[{"sku":"LAMP-1","quantity":1}],"email":"b@example.com"}')
is "$(printf '%s' "$F" | jq -r '[.order.name, .webhook_status] | join(" ")')" "#1002 200" \
    "shop: /_fake/order creates the order and answers the webhook's status"
want=$(openssl dgst -sha256 -hmac "$SECRET" -binary < "$T_DIR/hooks/2.body" | base64)
is "$(jq -r '.["X-Shopify-Hmac-Sha256"]' "$T_DIR/hooks/2.headers")" "$want" \
    "shop: its signature is right"
json -s "$SHOP/_fake/order" --data-binary '{"line_items":[{"sku":"LAMP-1","quantity":1}],"email":"c@example.com","bad_signature":true}' >/dev/null
want=$(openssl dgst -sha256 -hmac "$SECRET" -binary < "$T_DIR/hooks/3.body" | base64)
sig3=$(jq -r '.["X-Shopify-Hmac-Sha256"]' "$T_DIR/hooks/3.headers")
[ -n "$sig3" ] && [ "$sig3" != "$want" ]
ok $? "shop: bad_signature sends a wrong signature"
S=$(curl -s "$SHOP/_fake/state")
is "$(printf '%s' "$S" | jq -r '[(.orders | length), (.webhooks | length), .webhooks[0].topic, .webhooks[0].status, .inventory["'"$IID"'"]] | join(" ")')" \
    "3 3 orders/create 200 6" "shop: /_fake/state holds the orders, webhooks and inventory"
is "$(shop '/orders.json?status=any' | jq '.orders | length')" 3 \
    "shop: GET /orders.json?status=any lists them"
is "$(shopc /orders.json --data-binary '{"order":{"line_items":[{"sku":"NOPE","quantity":1}]}}')" \
    422 "shop: an order of an unknown SKU is 422"
grep -q "SECRET" "$T_DIR/shop.log"
is $? 1 "shop: its log never holds the token"

done_testing

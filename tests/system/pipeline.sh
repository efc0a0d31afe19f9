#!/bin/sh
# The product pipeline's agents (scout, vetting, pricing's quote, ceo) in
# a real agentd, against a small supplier catalog served here on loopback
# (with the contract's numbers, doc/shop-contracts.md) and the llm agent
# on tests/tools/fakellm.py: the sandboxed workers reach the catalog with
# the API key, the contract's scenarios are decided as its table says,
# vetting's supplier.failed reaches the ceo, the audit trail holds
# vetting.* and decision records, the key is in no log, and a catalog
# that went away is a clear EUNAVAIL naming the URL.
. "$top_srcdir/tests/lib.sh"

plan 14

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 missing"; exit 0; }

SCOUT=$(plugin_copy "$BPLUGINS/scout.so")
VETTING=$(plugin_copy "$BPLUGINS/vetting.so")
PRICING=$(plugin_copy "$BPLUGINS/pricing.so")
CEO=$(plugin_copy "$BPLUGINS/ceo.so")
LLM=$(plugin_copy "$BPLUGINS/llm.so")
CFG=$(plugin_dir cfg)
KEY="sup-7c1d-SECRET"
SRV_PIDS=
trap 'for p in $SRV_PIDS; do kill "$p" 2>/dev/null; done; t_cleanup' EXIT

# The catalog: GET /v1/products?q=&limit=, /v1/suppliers/ID, Bearer KEY.
cat > "$T_DIR/catalog.py" <<'EOF'
import http.server, json, sys, urllib.parse
key, portfile = sys.argv[1], sys.argv[2]
def p(sku, title, sup, cost, ship, stock, orders, views, rating, reviews,
      market, first):
    return {"sku": sku, "title": title, "tags": title.lower().split(),
            "supplier_id": sup, "cost": cost, "shipping": ship,
            "ship_days": 5, "stock": stock, "orders_30d": orders,
            "views_30d": views, "rating": rating, "reviews": reviews,
            "market_price": market,
            "price_history": [{"date": "2026-10-01", "cost": first},
                              {"date": "2026-11-01", "cost": cost}]}
PRODUCTS = [
    p("LAMP-1", "Brass desk lamp", "S-GOOD", 12, 3, 80, 120, 2400, 4.6, 310, 34, 11.5),
    p("MUG-9", "Ceramic mug", "S-GOOD", 6, 3, 150, 90, 2000, 4.4, 150, 9.5, 6),
    p("ESP-3", "Espresso machine", "S-GOOD", 180, 20, 25, 60, 1500, 4.5, 90, 329, 175),
    p("CASE-7", "Phone case", "S-SHADY", 1.2, 1, 500, 300, 5000, 3.1, 40, 9, 1.2),
]
SUPPLIERS = {
    "S-GOOD": {"id": "S-GOOD", "name": "Good Goods", "rating": 4.8,
               "on_time_rate": 0.97, "ship_days": 5, "years_active": 9,
               "disputes_90d": 0},
    "S-SHADY": {"id": "S-SHADY", "name": "Shady Deals", "rating": 2.9,
                "on_time_rate": 0.6, "ship_days": 35, "years_active": 1,
                "disputes_90d": 7},
}
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def send(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def do_GET(self):
        if self.headers.get("Authorization") != "Bearer " + key:
            return self.send(401, {"error": "unauthorized"})
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path == "/v1/products":
            words = q.get("q", [""])[0].lower().split()
            n = int(q.get("limit", ["10"])[0])
            found = [x for x in PRODUCTS
                     if all(w in x["title"].lower() for w in words)]
            return self.send(200, {"products": found[:n]})
        if u.path.startswith("/v1/suppliers/"):
            s = SUPPLIERS.get(u.path[len("/v1/suppliers/"):])
            return self.send(200, s) if s else self.send(404, {"error": "no"})
        self.send(404, {"error": "no such path"})
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(portfile + ".tmp", "w").write(str(s.server_address[1]))
import os; os.rename(portfile + ".tmp", portfile)
s.serve_forever()
EOF
python3 "$T_DIR/catalog.py" "$KEY" "$T_DIR/catalog.port" 2>>"$T_DIR/catalog.err" &
CATALOG_PID=$!
SRV_PIDS="$SRV_PIDS $CATALOG_PID"
python3 "$top_srcdir/tests/tools/fakellm.py" --port-file "$T_DIR/llm.port" \
    --log "$T_DIR/llm.log" --limit "$(slow 60)" >/dev/null 2>>"$T_DIR/llm.err" &
SRV_PIDS="$SRV_PIDS $!"
wait_for 10 test -s "$T_DIR/catalog.port" && wait_for 10 test -s "$T_DIR/llm.port" ||
    { echo "Bail out! the catalog or fakellm did not start"; exit 1; }
CP=$(cat "$T_DIR/catalog.port")
LP=$(cat "$T_DIR/llm.port")

printf '%s\n' "$KEY" > "$CFG/supplier.key"
cat > "$CFG/llm.json" <<EOF
{"providers": [{"name": "fake", "kind": "openai",
  "base_url": "http://127.0.0.1:$LP/s/ok/v1", "model": "m"}],
 "routes": {"default": ["fake"]}}
EOF
chmod 0644 "$CFG"/*
conf pipeline.conf <<EOF
agent "scout" {
	plugin = "$SCOUT"
	publish = { "product.found" }
	http { allow = { "127.0.0.1" } }
	paths { read = { "$CFG" } }
	settings {
		catalog_url = "http://127.0.0.1:$CP/v1"
		api_key_file = "$CFG/supplier.key"
	}
}
agent "vetting" {
	plugin = "$VETTING"
	publish = { "supplier.failed" }
	http { allow = { "127.0.0.1" } }
	paths { read = { "$CFG" } }
	settings {
		supplier_url = "http://127.0.0.1:$CP/v1"
		api_key_file = "$CFG/supplier.key"
	}
}
agent "pricing" {
	plugin = "$PRICING"
	publish = { "price.changed" }
}
agent "ceo" {
	plugin = "$CEO"
	instances { concurrency = 8 }
	calls = { "llm" }
	subscribe = { "supplier.failed", "stock.low" }
	publish = { "ceo.alert" }
}
agent "llm" {
	plugin = "$LLM"
	instances { concurrency = 16 }
	http { allow = { "127.0.0.1" } }
	paths { read = { "$CFG" } }
	settings { config = "$CFG/llm.json" }
}
EOF

call() { actl --json call "$1" "$2" 2>&1; }

start_agentd
wait_for 10 agent_ready scout && wait_for 10 agent_ready vetting &&
    wait_for 10 agent_ready pricing && wait_for 10 agent_ready ceo &&
    wait_for 10 agent_ready llm
ok $? "agentd starts scout, vetting, pricing, ceo and llm"

# 1. scout: the catalog reached with the key; LAMP-1 scored 0.812.
out=$(call scout '{"query":"desk lamp","limit":5}')
printf '%s' "$out" | jq_true '.found == 1 and .best.sku == "LAMP-1" and .best.score == 0.812 and .best.market_price == 34 and (.best.price_history | length) == 2'
rc=$?
ok $rc "scout: desk lamp finds LAMP-1, scored 0.812, the whole product"
[ $rc -eq 0 ] || diag "$out"
LAMP=$(printf '%s' "$out" | jq -c .best)

# 2. vetting: LAMP-1 passes, CASE-7 fails with its sentences.
out=$(call vetting "{\"product\":$LAMP}")
printf '%s' "$out" | jq_true '.passed == true and .supplier_id == "S-GOOD" and .supplier.name == "Good Goods"'
ok $? "vetting: LAMP-1 (S-GOOD) passes"
VET=$out
CASE=$(call scout '{"query":"phone case"}' | jq -c .best)
out=$(call vetting "{\"product\":$CASE}")
printf '%s' "$out" | jq_true '.passed == false and .reasons == ["rating 2.9 is under 4.0", "ship_days 35 is over 14", "disputes_90d 7 is over 2"]'
ok $? "vetting: CASE-7 (S-SHADY) fails: rating, ship_days, disputes as sentences"

# 3. pricing's quote and the ceo's decisions, as the contract's table.
Q=$(call pricing '{"quote":true,"sku":"LAMP-1","cost":12,"shipping":3,"max_price":34}')
printf '%s' "$Q" | jq_true '.price == 22.81 and .margin == 0.3002 and .low_margin == false and .held == false'
ok $? "pricing quote: LAMP-1 22.81 at 0.3002"
out=$(call ceo "{\"op\":\"evaluate\",\"product\":$LAMP,\"vetting\":$VET,\"quote\":$Q}")
printf '%s' "$out" | jq_true '.decision == "approve" and .risk == "low" and .price == 22.81 and (.rationale | test("echo: Product LAMP-1.*decision: approve"))'
rc=$?
ok $rc "ceo: LAMP-1 approved, the rationale written by the llm agent"
[ $rc -eq 0 ] || diag "$out"
MUG=$(call scout '{"query":"ceramic mug"}' | jq -c .best)
MQ=$(call pricing '{"quote":true,"sku":"MUG-9","cost":6,"shipping":3,"max_price":9.5}')
MV=$(call vetting "{\"product\":$MUG}")
call ceo "{\"op\":\"evaluate\",\"product\":$MUG,\"vetting\":$MV,\"quote\":$MQ}" |
    jq_true '.decision == "reject" and (.reasons[0] | test("margin -0.8% is under the minimum 15.0%"))'
ok $? "ceo: MUG-9 (held at 9.50) rejected for its margin"
ESP=$(call scout '{"query":"espresso machine"}' | jq -c .best)
EQ=$(call pricing '{"quote":true,"sku":"ESP-3","cost":180,"shipping":20,"max_price":329}')
EV=$(call vetting "{\"product\":$ESP}")
call ceo "{\"op\":\"evaluate\",\"product\":$ESP,\"vetting\":$EV,\"quote\":$EQ}" |
    jq_true '.decision == "escalate" and .risk == "high" and .price == 298.51'
ok $? "ceo: ESP-3 at 298.51 escalated"

# 4. vetting's supplier.failed reached the ceo: a reject kept and audited.
wait_for 10 sh -c "$AGENTCTL --run-dir $T_DIR/run --json call ceo '{\"op\":\"decisions\"}' | jq -e -n 'input | .decisions[] | select(.sku == \"CASE-7\" and .decision == \"reject\")'"
ok $? "supplier.failed for CASE-7 is a reject in the ceo's decisions"
call ceo '{"op":"decisions"}' | jq_true '[.decisions[].sku] | sort == ["CASE-7", "ESP-3", "LAMP-1", "MUG-9"]'
ok $? "the decisions: one per SKU"
audit=$(actl audit --agent ceo 2>&1)
printf '%s\n' "$audit" | grep -q 'approve LAMP-1 at 22.81: ' &&
    printf '%s\n' "$audit" | grep -q 'reject CASE-7: rating 2.9 is under 4.0'
rc=$?
ok $rc "the audit trail holds the decision records"
[ $rc -eq 0 ] || printf '%s\n' "$audit" | sed 's/^/# /' | head -20
actl audit --agent vetting 2>&1 | grep -q 'CASE-7 fails vetting: supplier S-SHADY'
ok $? "and vetting.failed"

# 5. The key in no log line; the catalog gone is EUNAVAIL with its URL.
! grep -rqF "$KEY" "$T_DIR/agentd.log"
ok $? "the API key is in no log line"
kill "$CATALOG_PID"
wait "$CATALOG_PID" 2>/dev/null
out=$(call scout '{"query":"desk lamp"}')
printf '%s' "$out" | grep -q "EUNAVAIL" &&
    printf '%s' "$out" | grep -qF "GET http://127.0.0.1:$CP/v1/products?q=desk+lamp&limit=10: no answer"
rc=$?
ok $rc "the catalog gone: EUNAVAIL naming the URL"
[ $rc -eq 0 ] || diag "$out"

done_testing

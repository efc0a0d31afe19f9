#!/bin/sh
# The shop's stock, promotions and concierge in a real agentd, the model
# played by tests/tools/fakellm.py's scenario shop: the llm agent's tool
# round trips over the OpenAI, Ollama and Gemini APIs (a call, its result
# sent back, the conversation kept: [turns N]); inventory's stock.slow
# making promotions ask the model for a promotion, proposed through the
# gate (medium by the shipped rule), started; stock.low pausing it; the
# concierge answering a customer through llm with its tools, the catalog
# absent (its error told to the model, which tells the customer); an
# A/B canary of the concierge with style upsell answering half the turns.
. "$top_srcdir/tests/lib.sh"

plan 19

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 missing"; exit 0; }

LLM=$(plugin_copy "$BPLUGINS/llm.so")
INV=$(plugin_copy "$BPLUGINS/inventory.so")
PROMO=$(plugin_copy "$BPLUGINS/promotions.so")
CONC=$(plugin_copy "$BPLUGINS/concierge.so")
BUS=$(plugin_copy "$TPLUGINS/bus.so")
CFG=$(plugin_dir cfg)
SRV_PID=
trap '[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null; t_cleanup' EXIT

python3 "$top_srcdir/tests/tools/fakellm.py" --port-file "$T_DIR/llm.port" \
    --log "$T_DIR/llm.log" --limit "$(slow 60)" >/dev/null 2>>"$T_DIR/llm.err" &
SRV_PID=$!
wait_for 10 test -s "$T_DIR/llm.port" || { echo "Bail out! fakellm did not start"; exit 1; }
U="http://127.0.0.1:$(cat "$T_DIR/llm.port")/s/shop"

cat > "$CFG/llm.json" <<EOF2
{"providers": [
  {"name": "primary", "kind": "openai", "base_url": "$U/v1", "model": "shop-gpt"},
  {"name": "local", "kind": "ollama", "base_url": "$U", "model": "shop-llama"},
  {"name": "gem", "kind": "gemini", "base_url": "$U/v1beta", "model": "shop-gem"}],
 "routes": {"default": ["primary", "local"], "ideas": ["primary"],
  "ollama": ["local"], "gemini": ["gem"]}}
EOF2
chmod 0644 "$CFG/llm.json"
conf shop.conf <<EOF2
agent "llm" {
	plugin = "$LLM"
	instances { concurrency = 64 }
	http { allow = { "127.0.0.1" } timeout = 10s }
	paths { read = { "$CFG" } }
	settings { config = "$CFG/llm.json" conversation_messages = 40 }
}
agent "inventory" {
	plugin = "$INV"
	subscribe = { "product.published", "shop.order.created" }
	publish = { "stock.low", "stock.slow" }
	settings {
		slow_after_ms = 1500
		slow_min_stock = 10
		check_every_ms = 1000
	}
}
agent "promotions" {
	plugin = "$PROMO"
	instances { concurrency = 8 }
	calls = { "llm" }
	subscribe = { "stock.slow", "stock.low" }
	publish = { "promotion.started" }
	policy {
		rule "promotions-notify" {
			type = { "promotion" }
			risk = medium
		}
	}
}
agent "concierge" {
	plugin = "$CONC"
	instances { concurrency = 8 }
	calls = { "llm", "catalog" }
	settings { style = "plain" }
}
agent "watcher" {
	plugin = "$BUS"
	subscribe = { "stock", "promotion" }
}
EOF2

ask() { actl --json call "${AGENT:-llm}" "$1" 2>&1; }
TOOLS='[{"type":"function","function":{"name":"search_products","parameters":{"type":"object"}}},{"type":"function","function":{"name":"add_to_cart","parameters":{"type":"object"}}}]'
RESULT='{\"products\":[{\"sku\":\"CANDLE-2\",\"title\":\"Scented candle\",\"price\":9.5}]}'

start_agentd
wait_for 10 agent_ready llm && wait_for 10 agent_ready inventory &&
    wait_for 10 agent_ready promotions && wait_for 10 agent_ready concierge &&
    wait_for 10 agent_ready watcher
ok $? "agentd starts llm, inventory, promotions, concierge and a watcher"

# 1. Tool round trips, each API: the call, its result, the answer.
for api in default ollama gemini; do
	out=$(ask "{\"route\":\"$api\",\"conversation\":\"c-$api\",\"tools\":$TOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"any candle?\"}]}")
	id=$(printf '%s' "$out" | jq -r '.tool_calls[0].id' 2>/dev/null)
	printf '%s' "$out" | jq_true '.tool_calls[0].name == "search_products" and (.tool_calls[0].arguments | fromjson | .query) == "candle"'
	r1=$?
	out=$(ask "{\"route\":\"$api\",\"conversation\":\"c-$api\",\"tools\":$TOOLS,\"messages\":[{\"role\":\"tool\",\"tool_call_id\":\"$id\",\"content\":\"$RESULT\"}]}")
	printf '%s' "$out" | jq_true '.text == "I found Scented candle (CANDLE-2) at 9.5. [turns 1]" and .tool_calls == []'
	[ $r1 -eq 0 ] && [ $? -eq 0 ]
	ok $? "route $api: a tool call, its result sent back alone, the model's answer from it ($out)"
done
out=$(ask "{\"route\":\"gemini\",\"conversation\":\"c-gemini\",\"tools\":$TOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"thanks\"}]}")
printf '%s' "$out" | jq_true '.text == "Hello! What are you looking for? [turns 2]"'
ok $? "the conversation kept the call and its result: the next turn is the second"
out=$(ask "{\"tools\":$TOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"tool\",\"tool_call_id\":\"nope\",\"content\":\"r\"}]}")
like "$out" 'tool_call_id "nope" answers no tool call.*EINVAL' "a result answering no call is refused, naming its id"

# 2. Slow stock: a promotion asked of the model, proposed, started.
actl call inventory '{"op":"set","sku":"CANDLE-2","stock":40}' >/dev/null
ok $? "inventory: CANDLE-2 set to 40"
started() { AGENT=watcher ask '{"events":true}' | jq_true '.last_topic == "promotion.started"'; }
wait_for 20 started
ok $? "no sale: stock.slow, then promotion.started"
out=$(AGENT=watcher ask '{"events":true}')
printf '%s' "$out" | jq_true '.last.sku == "CANDLE-2" and .last.discount == 0.15 and .last.title == "Spring deal on CANDLE-2" and .last.state == "active"'
ok $? "...with the model's idea: 15% off ($out)"
actl --json call promotions '{"op":"list"}' | jq_true '.promotions[0].state == "active" and .promotions[0].by == "policy"'
ok $? "promotions lists it active, approved by the policy (medium)"
actl audit --agent promotions --kind promotion.started | grep -q 'promotion of CANDLE-2 started: 15% off'
ok $? "...audited as promotion.started"
grep -q ' POST /s/shop/v1/chat/completions' "$T_DIR/llm.log"
ok $? "the idea came from the fake model's OpenAI API (route ideas)"

# 3. Low stock: the promotion is paused.
actl call inventory '{"op":"set","sku":"CANDLE-2","stock":2}' >/dev/null
paused() { actl --json call promotions '{"op":"list"}' | jq_true '.promotions[0].state == "paused"'; }
wait_for 10 paused
ok $? "stock under the threshold: stock.low, the promotion paused"
actl audit --agent promotions --kind promotion.paused | grep -q 'CANDLE-2 paused'
ok $? "...audited as promotion.paused"

# 4. The concierge, through the model, the catalog absent.
out=$(AGENT=concierge ask '{"session":"s-1","message":"hello"}')
printf '%s' "$out" | jq_true '.text == "Hello! What are you looking for? [turns 1]" and .tools == [] and .order == null and .style == "plain"'
ok $? "concierge: a first turn ($out)"
out=$(AGENT=concierge ask '{"session":"s-1","message":"any candle?"}')
printf '%s' "$out" | jq_true '.tools == ["search_products"] and .rounds == 1 and (.text | test("did not work: catalog: ENOENT.*\\[turns 2\\]"))'
ok $? "its tool call goes to the catalog, whose absence the model hears and tells ($out)"

# 5. A/B: the upsell style as a canary generation takes half the turns.
sed -i 's/style = "plain"/style = "upsell"/' "$T_DIR/conf/shop.conf"
like "$(actl reload --canary concierge 50 2>&1)" 'concierge: canary .* takes 50% of requests' \
    "a canary of the concierge with style upsell"
: > "$T_DIR/styles"
for i in $(seq 1 20); do
	AGENT=concierge ask "{\"session\":\"ab-$i\",\"message\":\"hello\"}" |
	    jq -r '.style' >> "$T_DIR/styles"
done
[ "$(grep -c '^plain$' "$T_DIR/styles")" -ge 5 ] && [ "$(grep -c '^upsell$' "$T_DIR/styles")" -ge 5 ]
ok $? "turns are answered by both styles, each reply saying which ($(sort "$T_DIR/styles" | uniq -c | tr '\n' ' '))"

stop_agentd
ok $? "agentd stops cleanly"
done_testing

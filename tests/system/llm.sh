#!/bin/sh
# plugins/llm against tests/tools/fakellm.py on loopback, which speaks
# the OpenAI-compatible, Ollama and Gemini APIs: each API answered,
# fallback from a failing provider (500, connection refused, broken
# JSON) to the next (the reply says which answered; audited; counted),
# the breaker opening after 2 failures and skipping its provider until
# the cool-down's probe, Retry-After waited, a 60 s stall timed out
# while the instance answers others, the allow-list, certificates with
# and without ca_file, tool calls, a conversation continued then
# expired, budgets of a plugin calling llm, and the API key in no log
# line, status, audit record, reply or state.
. "$top_srcdir/tests/lib.sh"

plan 32

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 missing"; exit 0; }
command -v openssl >/dev/null || { echo "1..0 # SKIP openssl missing"; exit 0; }

LLM=$(plugin_copy "$BPLUGINS/llm.so")
BUS=$(plugin_copy "$TPLUGINS/bus.so")
CFG=$(plugin_dir cfg)
FAKE="$top_srcdir/tests/tools/fakellm.py"
KEY="sk-test-7f3a9c51-SECRET"
SRV_PIDS=
trap 'for p in $SRV_PIDS; do kill "$p" 2>/dev/null; done; t_cleanup' EXIT

serve() {
	n=$1
	shift
	python3 "$FAKE" --port-file "$T_DIR/$n.port" --log "$T_DIR/$n.log" \
	    --api-key "$KEY" --limit "$(slow 60)" "$@" >/dev/null 2>>"$T_DIR/$n.err" &
	SRV_PIDS="$SRV_PIDS $!"
	wait_for 10 test -s "$T_DIR/$n.port" || { echo "Bail out! $n did not start"; exit 1; }
}
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$T_DIR/key.pem" \
    -out "$CFG/cert.pem" 2>/dev/null
serve plain
serve tls --cert "$CFG/cert.pem" --key "$T_DIR/key.pem"
P=$(cat "$T_DIR/plain.port")
S=$(cat "$T_DIR/tls.port")
# A port nothing listens on: bound, then closed.
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
U="http://127.0.0.1:$P/s"

printf '%s\n' "$KEY" > "$CFG/key"
cat > "$CFG/llm.json" <<EOF2
{"providers": [
  {"name": "oa", "kind": "openai", "base_url": "$U/ok/v1", "model": "gpt-test", "api_key_file": "$CFG/key"},
  {"name": "ol", "kind": "ollama", "base_url": "$U/ok", "model": "llama-test", "api_key_file": "$CFG/key"},
  {"name": "gm", "kind": "gemini", "base_url": "$U/ok/v1beta", "model": "gemini-test", "api_key_file": "$CFG/key"},
  {"name": "down", "kind": "openai", "base_url": "$U/fail/v1", "model": "m", "api_key_file": "$CFG/key", "attempts": 2},
  {"name": "refused", "kind": "openai", "base_url": "http://127.0.0.1:$DEAD/v1", "model": "m", "attempts": 1},
  {"name": "flaky", "kind": "openai", "base_url": "$U/switch-a/v1", "model": "m", "api_key_file": "$CFG/key", "attempts": 1},
  {"name": "slow", "kind": "openai", "base_url": "$U/stall-60/v1", "model": "m", "api_key_file": "$CFG/key", "timeout_ms": 1000, "attempts": 1},
  {"name": "limited", "kind": "openai", "base_url": "$U/ratelimit-2-k1/v1", "model": "m", "api_key_file": "$CFG/key", "attempts": 2},
  {"name": "bad", "kind": "ollama", "base_url": "$U/bad", "model": "m", "api_key_file": "$CFG/key"},
  {"name": "tls", "kind": "openai", "base_url": "https://127.0.0.1:$S/s/ok/v1", "model": "m", "api_key_file": "$CFG/key", "attempts": 1},
  {"name": "outside", "kind": "openai", "base_url": "https://api.example.invalid/v1", "model": "m"},
  {"name": "tools", "kind": "gemini", "base_url": "$U/tools/v1beta", "model": "g", "api_key_file": "$CFG/key"}
 ],
 "routes": {"default": ["oa"], "ollama": ["ol"], "gemini": ["gm"],
  "fallback": ["down", "oa"], "refused": ["refused", "gm"],
  "breaker": ["flaky", "ol"], "slow": ["slow"], "retry": ["limited"],
  "bad": ["bad", "oa"], "tls": ["tls"], "outside": ["outside"],
  "tools": ["tools"]},
 "budgets": {"promo": {"tokens_per_day": 10}, "burst": {"requests_per_minute": 1}}}
EOF2
chmod 0644 "$CFG"/*
TTL=$(( $(slow 1) * 1000 ))
conf llm.conf <<EOF2
agent "llm" {
	plugin = "$LLM"
	instances { concurrency = 64 }
	health { heartbeat = 500ms hung_after = 2s }
	http { allow = { "127.0.0.1" } timeout = 10s }
	paths { read = { "$CFG" } }
	settings {
		config = "$CFG/llm.json"
		breaker_failures = 2
		breaker_cooldown_ms = 1000
		conversation_ttl_ms = $TTL
		conversation_messages = 4
	}
}
agent "llmca" {
	plugin = "$LLM"
	http { allow = { "127.0.0.1" } ca_file = "$CFG/cert.pem" }
	paths { read = { "$CFG" } }
	settings { config = "$CFG/llm.json" }
}
agent "promo" { plugin = "$BUS" calls = { "llm" } }
agent "burst" { plugin = "$BUS" calls = { "llm" } }
EOF2

ask() { actl --json call "${AGENT:-llm}" "$1" 2>&1; }
say() { ask "{\"route\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"$2\"}]}"; }
stats() { actl --json call llm '{"stats":true}'; }
stat_is() { stats | jq_true "$1"; }
seen() { grep -c " /s/$1/" "$T_DIR/plain.log"; }
REPLIES="$T_DIR/replies"

start_agentd
wait_for 10 agent_ready llm 1 && wait_for 10 agent_ready llmca 1 &&
    wait_for 10 agent_ready promo 1 && wait_for 10 agent_ready burst 1
ok $? "agentd starts llm, llmca and two callers"

# 1. Each API.
out=$(say default hello); echo "$out" >> "$REPLIES"
printf '%s' "$out" | jq_true '.text == "[1] echo: hello" and .provider == "oa" and .model == "gpt-test" and .usage.prompt_tokens == 1 and .usage.completion_tokens == 3 and .finish_reason == "stop" and .fallbacks == 0 and .latency_ms >= 0'
ok $? "OpenAI-compatible: text, provider, model, usage, finish reason, latency"
out=$(say ollama hi); echo "$out" >> "$REPLIES"
printf '%s' "$out" | jq_true '.text == "[1] echo: hi" and .provider == "ol" and .model == "llama-test" and .usage.completion_tokens == 3'
ok $? "Ollama /api/chat"
out=$(ask '{"route":"gemini","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi there"}],"max_tokens":50,"temperature":0.2}'); echo "$out" >> "$REPLIES"
printf '%s' "$out" | jq_true '.text == "[2] echo: hi there" and .provider == "gm" and .model == "gemini-test" and .usage.prompt_tokens == 2'
ok $? "Gemini generateContent, the system message as systemInstruction"
[ "$(grep -c 'key=no' "$T_DIR/plain.log")" -eq 0 ] && [ "$(grep -c 'key=yes' "$T_DIR/plain.log")" -eq 3 ]
ok $? "each request carried the API key"

# 2. Fallback.
out=$(say fallback again); echo "$out" >> "$REPLIES"
printf '%s' "$out" | jq_true '.provider == "oa" and .fallbacks == 1 and .text == "[1] echo: again"'
ok $? "500 twice (its two attempts), then the next provider answers; the reply says which"
[ "$(seen fail)" -eq 2 ]
ok $? "...the failing provider was asked twice"
wait_for 10 sh -c "$AGENTCTL --run-dir $T_DIR/run audit --agent llm --kind llm.fallback | grep -q 'provider down failed (HTTP 500), falling back to oa'"
ok $? "...the fallback is audited"
out=$(say refused there); echo "$out" >> "$REPLIES"
printf '%s' "$out" | jq_true '.provider == "gm" and .fallbacks == 1'
ok $? "connection refused: the next provider answers"
out=$(say bad json); echo "$out" >> "$REPLIES"
printf '%s' "$out" | jq_true '.provider == "oa" and .fallbacks == 1'
ok $? "malformed JSON from a provider: the next one answers"
stat_is '.providers.down.failures["5xx"] == 1 and .providers.down.fallbacks == 1 and .providers.refused.failures.connect == 1 and .providers.bad.failures.bad_response == 1 and .providers.oa.answered == 3'
ok $? "stats count failures by class, fallbacks and answers per provider"
counters() {
	actl --json status | jq -e -n 'input | [.agents[] | select(.name == "llm") | .generations[].counters] | add
	    | .llm_failed_5xx >= 1 and .llm_failed_connect >= 1
	      and .llm_failed_bad_response >= 1 and .llm_fallbacks >= 3
	      and .llm_answered >= 3 and .llm_requests >= 6 and .llm_prompt_tokens > 0'
}
wait_for 10 counters
ok $? "and agentd's counters of the generation (status, /metrics) sum them"

# 3. The breaker: two failures open it, it is skipped, the probe closes it.
curl -s "http://127.0.0.1:$P/down/a"
say breaker one | jq_true '.provider == "ol"' && say breaker two | jq_true '.provider == "ol"'
ok $? "a provider down: its fallback answers twice"
wait_for 10 sh -c "$AGENTCTL --run-dir $T_DIR/run audit --agent llm --kind llm.breaker | grep -q 'provider flaky: breaker open'"
ok $? "...the breaker opened after 2 failures, audited"
say breaker three | jq_true '.provider == "ol"' && [ "$(seen switch-a)" -eq 2 ] &&
    stat_is '.providers.flaky.breaker == "open" and .providers.flaky.skipped == 1'
ok $? "while open, the provider is skipped: no request reaches it"
curl -s "http://127.0.0.1:$P/up/a"
wait_for 10 sh -c "$AGENTCTL --run-dir $T_DIR/run --json call llm '{\"route\":\"breaker\",\"messages\":[{\"role\":\"user\",\"content\":\"p\"}]}' | grep -q '\"provider\":\"flaky\"'"
ok $? "after the cool-down one probe goes to it, and it answers"
stat_is '.providers.flaky.breaker == "closed" and .providers.flaky.breaker_opened == 1'
ok $? "...which closes the breaker"

# 4. Retry-After waited.
say retry later | jq_true '.provider == "limited"'
ok $? "429 with Retry-After, then an answer from the same provider"
t1=$(grep ' /s/ratelimit-2-k1/' "$T_DIR/plain.log" | sed -n 1p | cut -d' ' -f1)
t2=$(grep ' /s/ratelimit-2-k1/' "$T_DIR/plain.log" | sed -n 2p | cut -d' ' -f1)
[ -n "$t2" ] && [ $((t2 - t1)) -ge 1900 ]
ok $? "...its second attempt came $((t2 - t1)) ms after the first (Retry-After: 2)"

# 5. A 60 s stall times out at 1 s, and the instance answers meanwhile.
( say slow wait > "$T_DIR/slow.out" ) &
SLOW=$!
wait_for 10 sh -c "grep -q ' /s/stall-60/' $T_DIR/plain.log"
say default meanwhile | jq_true '.text == "[1] echo: meanwhile"' && kill -0 $SLOW 2>/dev/null
ok $? "while a provider stalls, the same instance answers another request"
wait $SLOW
like "$(cat "$T_DIR/slow.out")" 'ETIMEOUT' "the stalled provider times out: the error says ETIMEOUT"

# 6. Certificates and the allow-list.
like "$(say tls x)" 'tls: EIO' "a self-signed server is refused without ca_file"
out=$(AGENT=llmca say tls x)
printf '%s' "$out" | jq_true '.provider == "tls"'
ok $? "...and answers with ca_file naming its CA"
like "$(say outside x)" 'outside: EDENIED' "a provider outside http { allow } is refused before any connection"

# 7. Tool calls.
out=$(say tools find); echo "$out" >> "$REPLIES"
printf '%s' "$out" | jq_true '.tool_calls[0].name == "lookup" and (.tool_calls[0].arguments | fromjson | .sku) == "A-1" and .finish_reason == "tool_calls"'
ok $? "a tool call comes back with its name, arguments and finish reason"

# 8. A conversation continues, then expires.
turn() { ask "{\"conversation\":\"c-42\",\"messages\":[{\"role\":\"user\",\"content\":\"$1\"}]}"; }
turn first | jq_true '.text == "[1] echo: first"' &&
    turn second | jq_true '.text == "[3] echo: second"'
ok $? "a conversation continues: the second turn is sent the first and its answer"
actl state ls llm conv/ | grep -Eq '^conv/agentctl/c-42	[0-9]+s$'
ok $? "...kept in state under the caller's name, with its time left"
turn third | jq_true '.text == "[4] echo: third"' && turn fourth | jq_true '.text == "[4] echo: fourth"'
ok $? "...windowed to the last 4 messages"
wait_for 20 sh -c "! $AGENTCTL --run-dir $T_DIR/run state get llm conv/agentctl/c-42"
turn again | jq_true '.text == "[1] echo: again"'
ok $? "once its TTL passed, the conversation starts over"

# 9. A plugin calls llm; budgets.
b='{"call":"llm","body":{"messages":[{"role":"user","content":"promo idea"}]}}'
out=$(AGENT=promo ask "$b"); echo "$out" >> "$REPLIES"
printf '%s' "$out" | jq_true '.status == "ok" and .reply.text == "[1] echo: promo idea" and .reply.provider == "oa"'
ok $? "a plugin calls a model through llm"
AGENT=promo ask "$b" | jq_true '.status == "ok"' &&
    AGENT=promo ask "$b" | jq_true '.status == "EBUSY"' &&
    AGENT=burst ask "$b" | jq_true '.status == "ok"' &&
    AGENT=burst ask "$b" | jq_true '.status == "EBUSY"' &&
    stat_is '.callers.promo.denied == 1 and .callers.promo.tokens_today == 12 and .callers.burst.denied == 1'
ok $? "budgets: tokens per day and requests per minute spent: EBUSY, counted per caller"

# 10. The key shows nowhere.
stats >> "$REPLIES"
actl --json audit >> "$REPLIES" 2>&1
actl --json status >> "$REPLIES" 2>&1
actl state ls llm >> "$REPLIES" 2>&1
! grep -q "$KEY" "$REPLIES" "$T_DIR/agentd.log" && grep -q 'provider oa: openai' "$T_DIR/agentd.log"
ok $? "the API key is in no reply, status, audit record, state key or log line"

done_testing

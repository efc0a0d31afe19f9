#!/bin/sh
# The ai-engine example (doc/examples.md) end to end: the shipped
# configuration (conf.d/examples/ai-engine, made runnable here by its
# mkconf.sh) in a real agentd, its workflow copy.flow run by the flow
# agent over pricing, prompt and llm, the model played by
# tests/tools/fakellm.py speaking Ollama's /api/chat.  The model refuses
# its first request (429), so the llm step fails once and is called again
# after its 2 s delay; the tokens the model reported are in /metrics; a
# changed definition is a new version that new runs use, rollback makes
# the first one serve again; a dry run shows the data flow (the messages
# the model would get) and asks the model nothing.
. "$top_srcdir/tests/lib.sh"
AGENTD_TEST_LIMIT=180

command -v curl >/dev/null || { echo "1..0 # SKIP no curl"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP no python3"; exit 0; }

plan 27

FAKE_PID=
trap '[ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null; t_cleanup' EXIT
python3 "$top_srcdir/tests/tools/fakellm.py" --port-file "$T_DIR/fakellm.port" \
    --log "$T_DIR/fakellm.log" --limit "$(slow 180)" 2>>"$T_DIR/fakellm.err" &
FAKE_PID=$!
wait_for 10 test -s "$T_DIR/fakellm.port" ||
    { echo "Bail out! fakellm.py did not start"; cat "$T_DIR/fakellm.err"; exit 1; }
# ratelimit-1-engine: 429 for the first request, answers after (echoing
# the last message: "[N] echo: TEXT", usage from word counts)
SCEN=ratelimit-1-engine
MODEL="http://127.0.0.1:$(cat "$T_DIR/fakellm.port")/s/$SCEN"

EX=$T_DIR/engine
sh "$top_srcdir/contrib/examples/ai-engine/mkconf.sh" \
    "$top_srcdir/conf.d/examples/ai-engine" "$EX" 127.0.0.1:0 "$MODEL"
chmod 0711 "$T_DIR"
cp "$EX"/conf/*.conf "$T_DIR/conf/"
start_agentd --plugin-dir "$BPLUGINS"
for a in flow pricing prompt llm; do
	wait_for 20 agent_ready "$a" || { diag "agent $a is not ready"; false; } || break
done
ok $? "agentd runs the example's configuration (flow, pricing, prompt, llm)"
wait_for 10 test -s "$T_DIR/run/http.addr"
URL="http://$(cat "$T_DIR/run/http.addr")"
VIEW=$(actl token create engine-test --role viewer)

# The model's requests, as fakellm logged them ("WALL_MS POST PATH ...").
asked() { grep -c " POST /s/$SCEN/api/chat " "$T_DIR/fakellm.log"; }
# start INPUT-JSON [DRY]: a run of copy; prints its id.
start() {
	actl --json call flow "$(jq -cn --argjson i "$1" --argjson d "${2:-false}" \
	    '{op: "start", workflow: "copy", input: $i, dry_run: $d}')" | jq -r .run
}
field() { actl --json call flow "{\"op\":\"status\",\"run\":\"$1\"}" | jq -r "$2"; }
run_is() { [ "$(field "$1" .state)" = "$2" ]; }
version() {
	actl --json call flow '{"op":"definitions"}' |
	    jq -r '.definitions[] | select(.name == "copy") | .'"$1"
}
LAMP='{"sku": "LAMP-1", "title": "Desk lamp", "cost": 9, "shipping": 3}'

# ---- 1. a run: quote, prompt, the model refusing once, retried, done
v1=$(version version)
r1=$(start "$LAMP")
[ -n "$r1" ] && [ "$r1" != null ]
ok $? "a run of copy starts ($r1, version $v1)"
wait_for 30 run_is "$r1" done
ok $? "it ends done"
[ "$(field "$r1" '[.steps[] | "\(.step):\(.state)"] | join(" ")')" = \
    "quote:done prompt:done write:done" ]
ok $? "each step did its part: quote, prompt, write"
price=$(field "$r1" .outputs.quote.price)
want="[2] echo: Write the copy for Desk lamp (LAMP-1) at $price EUR."
[ "$(field "$r1" .outputs.copy.text)" = "$want" ]
ok $? "the model got the prompt filled with the product and pricing's price ($price)"
[ "$(field "$r1" '.steps[] | select(.step == "write") | .attempts')" = 2 ]
ok $? "the llm step took two attempts"
[ "$(asked)" -eq 2 ] &&
    gap=$(grep " POST /s/$SCEN/api/chat " "$T_DIR/fakellm.log" |
        awk 'NR == 1 { a = $1 } NR == 2 { print $1 - a }') &&
    [ "$gap" -ge 2000 ]
ok $? "the model was asked twice, the second time after the step's 2 s delay (${gap:-?} ms)"
wait_for 10 sh -c "$AGENTCTL --run-dir $T_DIR/run audit --agent flow --kind flow.step.retry | grep -q '$r1 of copy: write EUNAVAIL'"
ok $? "the retry is audited (flow.step.retry), with the llm agent's EUNAVAIL"

# ---- 2. the tokens the model reported, in /metrics
ptok=$(field "$r1" .outputs.copy.usage.prompt_tokens)
ctok=$(field "$r1" .outputs.copy.usage.completion_tokens)
metric() {
	curl -sf -H "Authorization: Bearer $VIEW" "$URL/metrics" |
	    sed -n "s/^agentd_plugin_counted_total{agent=\"llm\",generation=\"[0-9]*\",name=\"$1\"} //p"
}
tokens_are() { [ "$(metric llm_prompt_tokens)" = "$1" ] && [ "$(metric llm_completion_tokens)" = "$2" ]; }
[ "$ptok" -gt 0 ] && [ "$ctok" -gt 0 ] && wait_for 10 tokens_are "$ptok" "$ctok"
ok $? "/metrics counts the llm agent's tokens: $ptok prompt, $ctok completion, as the run's usage says"
[ "$(metric llm_failed_429)" = 1 ] && [ "$(metric llm_answered)" = 1 ]
ok $? "and the refused request and the answered one"

# ---- 3. a new version of the definition
sed -i 's/Write the copy for/Write a tagline for/' "$EX/etc/workflows/copy.flow"
actl --json call flow '{"op":"reload"}' >/dev/null
v2=$(version version)
[ -n "$v2" ] && [ "$v2" != "$v1" ]
ok $? "the changed definition is a new version ($v2)"
r2=$(start "$LAMP")
wait_for 30 run_is "$r2" done
ok $? "a run of the new version ends done"
[ "$(field "$r2" .version)" = "$v2" ] &&
    like "$(field "$r2" .outputs.copy.text)" '^\[2\] echo: Write a tagline for Desk lamp' \
        "it used the new version's prompt"
[ "$(field "$r1" .version)" = "$v1" ]
ok $? "the first run keeps its version"

# ---- 4. revert: rollback to the first version
out=$(actl --json call flow "{\"op\":\"rollback\",\"workflow\":\"copy\",\"version\":\"$v1\"}")
printf '%s' "$out" | jq_true '[.definitions[] | select(.name == "copy")][0] | .version == "'"$v1"'" and .rolled_back == true'
ok $? "rollback to $v1: it serves new runs, rolled_back"
r3=$(start "$LAMP")
wait_for 30 run_is "$r3" done
ok $? "a run after the rollback ends done"
[ "$(field "$r3" .version)" = "$v1" ] &&
    [ "$(field "$r3" .outputs.copy.text)" = "$want" ]
ok $? "it used the first version, with its prompt"
actl --json call flow '{"op":"reload"}' |
    jq_true '[.definitions[] | select(.name == "copy")][0] | .version == "'"$v1"'" and .rolled_back == true'
ok $? "a reload of the file (still the new version) keeps the first one serving"

# ---- 5. a dry run: the data flow, the model not asked
before=$(asked)
r4=$(start "$LAMP" true)
wait_for 30 run_is "$r4" done
ok $? "a dry run ends done"
[ "$(field "$r4" '.steps[] | select(.step == "write") | .state')" = dry ] &&
    [ "$(field "$r4" '[.steps[] | select(.step != "write") | .state] | unique | join(",")')" = done ]
ok $? "quote and prompt were called, write (the effect) is recorded dry"
[ "$(field "$r4" '.steps[] | select(.step == "write") | .input.messages[1].content')" = \
    "Write the copy for Desk lamp (LAMP-1) at $price EUR." ]
ok $? "its record shows the messages the model would have got"
[ "$(field "$r4" .outputs.copy.text)" = "(dry run: the model was not asked)" ] &&
    [ "$(field "$r4" '.outputs.copy.messages | length')" = 2 ]
ok $? "and the placeholder as the step's output, for the steps after it"
after=$(asked)
[ "$after" -eq "$before" ]
ok $? "the model was not asked (it had $before requests before the dry run, $after after)"
wait_for 10 sh -c "$AGENTCTL --run-dir $T_DIR/run audit --agent flow --kind flow.step.dry | grep -q '$r4.*write'"
ok $? "the effect not called is audited (flow.step.dry)"

# ---- 6. a bad template in a new version: the run fails with prompt's one line
sed -i 's/at {price} EUR/at {price EUR/' "$EX/etc/workflows/copy.flow"
actl --json call flow '{"op":"rollback","workflow":"copy"}' >/dev/null
r5=$(start "$LAMP")
wait_for 30 run_is "$r5" failed
like "$(field "$r5" .error)" '^EINVAL: .*\(step "prompt", attempt 1 of 1\)' \
    "a template with a lone brace fails its run at the prompt step, not retried"
like "$(field "$r5" .error)" '^EINVAL: prompt: "user", byte [0-9]*: a lone "\{": ' \
    "...and the run's error is prompt's line, naming the template and the byte"
wait_for 10 grep -q 'prompt: "user", byte [0-9]*: a lone "{".*(caller flow)' "$T_DIR/agentd.log"
ok $? "agentd's log has prompt's line naming the template and the byte"
done_testing

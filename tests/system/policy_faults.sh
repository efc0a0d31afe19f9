#!/bin/sh
# The policy gate across crashes: decisions are durable once proposed
# (one by one, or a batch of propose_async's), an outcome reaches the
# plugin's effect exactly once (the plugin de-duplicates by id) whether
# agentd or the proposing instance dies, and a deadline that passed while
# agentd was down expires at its start.
. "$top_srcdir/tests/lib.sh"

plan 22

PROP=$(plugin_copy "$TPLUGINS/proposer.so")
conf agentd.conf <<EOF
policy {
	deadline = 1h
	deadline_min = 1s
	rule "quick" {
		type = { "quick" }
		risk = high
		deadline = 3s
	}
	rule "small" {
		type = { "small" }
		risk = low
	}
}
EOF
conf agents.conf <<EOF
agent "pricing" { plugin = "$PROP" }
agent "fragile" {
	plugin = "$PROP"
	settings { crash_on_decision = true }
}
agent "doomed" {
	plugin = "$PROP"
	restart { policy = temporary }
	settings { crash_on_decision = true }
}
EOF

propose() {
	actl --json call "$1" "{\"propose\": $2, \"count\": ${3:-1}}"
}
effect() { actl --json call "$1" '{"effects":true}' | jq -r "$2"; }
# The pending decisions as "ID DEADLINE" lines, in id order.
pending_list() {
	actl --json approvals |
	    jq -r -s 'map(if type == "array" then .[] else . end) | .[] |
	        "\(.id) \(.deadline_ms)"'
}
applied_is() {
	[ "$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json call "$1" \
	    '{"effects":true}' | jq -r .applied)" = "$2" ]
}

# kill -9 agentd, and wait until its workers are gone too.
crash_agentd() {
	kill -KILL "$AGENTD_PID"
	wait "$AGENTD_PID" 2>/dev/null
	AGENTD_PID=
	wait_for 20 workers_gone
}

start_agentd
ok $? "agentd starts"
wait_for 10 agent_ready pricing 1 && wait_for 10 agent_ready fragile 1
ok $? "its agents are ready"

# ---- 100 pending, one approved, then kill -9
out=$(propose pricing '{"type":"refund","title":"refund","amount":20,"confidence":0.5}' 100)
[ "$(echo "$out" | jq '.ids | length')" = 100 ]
ok $? "100 high proposals are pending"
pending_list > "$T_DIR/before"
[ "$(wc -l < "$T_DIR/before")" = 100 ]
ok $? "agentctl approvals lists all 100"
first=$(head -1 "$T_DIR/before" | cut -d' ' -f1)
actl approve "$first" >/dev/null
ok $? "one of them is approved"
crash_agentd
start_agentd
ok $? "agentd starts again after kill -9"
wait_for 10 agent_ready pricing 1
pending_list > "$T_DIR/after"
grep -v "^$first " "$T_DIR/before" | cmp -s - "$T_DIR/after"
ok $? "the other 99 are pending, with their original deadlines"
wait_for 10 applied_is pricing 1
ok $? "the approved one reached the plugin's effect"
# Nothing else is on its way: once delivered, it stays applied once.
wait_for 10 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json approvals show $first | jq .delivered_ms)\" -gt 0 ]"
[ "$(effect pricing .applied)" = 1 ]
ok $? "exactly once, though it may have been sent twice ($(effect pricing .repeats) repeat(s))"

# ---- a deadline that passes while agentd is down
out=$(propose pricing '{"type":"quick.deal","title":"quick","amount":1,"confidence":0.5}')
quick=$(echo "$out" | jq -r '.ids[0]')
deadline=$(actl --json approvals show "$quick" | jq .deadline_ms)
crash_agentd
# Down until the deadline has passed (a condition on the clock).
wait_for 20 sh -c "[ \$(( \$(date +%s%3N) )) -gt $deadline ]"
start_agentd
ok $? "agentd starts after the deadline passed"
wait_for 10 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json approvals show $quick | jq -r .state)\" = expired ]"
ok $? "the decision expired at the start"
wait_for 10 agent_ready pricing 1
wait_for 10 sh -c "AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json call pricing '{\"effects\":true}' | grep -q '\"outcome\":\"expired\"'"
ok $? "and the plugin was told"

# ---- the proposing instance dies before it took its outcome
wait_for 10 agent_ready fragile 1
propose fragile '{"type":"small.thing","title":"small","amount":1,"confidence":0.9}' >/dev/null
wait_for 20 applied_is fragile 1
ok $? "the replacement of the instance that died on its outcome applied it"
like "$(actl --json audit --agent fragile --kind decision.delivered --limit 1)" '"instance":"fragile-2"' \
    "the audit trail says the replacement took it"

# ---- a batch answered, then kill -9 before its outcomes are all taken
before=$(effect pricing .applied)
out=$(actl --json call pricing '{"propose": {"type":"small.batch","title":"small","amount":1,"confidence":0.9}, "count": 40, "async": true}')
[ "$(echo "$out" | jq -r .status)" = ok ] &&
    [ "$(echo "$out" | jq '.ids | length')" = 40 ]
ok $? "40 low proposals of one batch are answered with their ids"
crash_agentd
start_agentd
wait_for 10 agent_ready pricing 1
kept=0
for id in $(echo "$out" | jq -r '.ids[]'); do
	[ "$(actl --json approvals show "$id" | jq -r .state)" = approved ] &&
	    kept=$((kept + 1))
done
[ "$kept" = 40 ]
ok $? "after kill -9 every one of them is there, approved ($kept)"
wait_for 20 applied_is pricing $((before + 40))
ok $? "and each reached the plugin's effect once ($(effect pricing .repeats) repeat(s) in all)"

# ---- a low decision committed, not delivered, then kill -9 of agentd
# doomed's one instance dies on its outcome before taking it and is not
# replaced (temporary): the decision stays approved and undelivered (it
# has no entry in decisions_open, only its record) until agentd, killed,
# starts again and delivers it to the new instance.
wait_for 10 agent_ready doomed 1
out=$(propose doomed '{"type":"small.doomed","title":"small","amount":1,"confidence":0.9}')
doomed=$(echo "$out" | jq -r '.ids[0]')
wait_for 20 agent_ready doomed 0
show_doomed() { actl --json approvals show "$doomed" | jq -r "$1"; }
[ "$(show_doomed .state)" = approved ] && [ "$(show_doomed .delivered_ms)" = 0 ]
ok $? "a low decision whose instance died before taking it is approved, not delivered"
crash_agentd
start_agentd
ok $? "agentd starts again after kill -9"
wait_for 20 applied_is doomed 1
ok $? "the new instance applied the undelivered low decision"
wait_for 10 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json approvals show $doomed | jq .delivered_ms)\" -gt 0 ]"
ok $? "and its delivery is recorded"
[ "$(effect doomed .applied)" = 1 ] && [ "$(effect doomed .repeats)" = 0 ] &&
    [ "$(actl --json audit --agent doomed --kind decision.delivered --limit 0 | jq -n '[inputs | if type == "array" then .[] else . end] | length')" = 1 ]
ok $? "exactly once: applied once, no repeat, one decision.delivered record"

stop_agentd

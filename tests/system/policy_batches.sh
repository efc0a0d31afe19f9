#!/bin/sh
# Proposals in batches and approvals in pages.  What a plugin proposes
# with propose_async in one callback reaches agentd as one policy.propose
# message: each proposal is answered on its own (a refused one does not
# refuse the others), a low one is one audit record, and the outcomes an
# instance took are one decision.delivered record per batch, with the
# trail still verifying.  agentctl approvals lists 100 at a time, oldest
# first, says how many more wait, and pages with --after.
. "$top_srcdir/tests/lib.sh"

plan 24

PROP=$(plugin_copy "$TPLUGINS/proposer.so")
conf agentd.conf <<EOF
policy {
	rule "small" { type = { "small" }  risk = low }
}
EOF
conf agents.conf <<EOF
agent "pricing" { plugin = "$PROP" }
agent "tight" {
	plugin = "$PROP"
	policy { max_pending = 3 }
}
EOF

# propose AGENT JSON-PROPOSAL COUNT: COUNT propose_async calls in one
# callback; the plugin's answer.
propose() {
	actl --json call "$1" \
	    "{\"propose\": $2, \"count\": $3, \"async\": true}"
}
applied_is() {
	[ "$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json call "$1" \
	    '{"effects":true}' | jq -r .applied)" = "$2" ]
}
# audit_count KIND: how many records of KIND the trail holds.
audit_count() {
	actl --json audit --kind "$1" --limit 0 |
	    jq -s 'map(if type == "array" then .[] else . end) | length'
}
# ids: the ids one JSON decision per line holds, one per line.
ids() { jq -r '.id'; }

start_agentd
ok $? "agentd starts"
wait_for 10 agent_ready pricing 1 && wait_for 10 agent_ready tight 1
ok $? "its agents are ready"

# ---- a batch of low proposals
out=$(propose pricing '{"type":"small.cut","title":"cut","amount":1,"confidence":0.9,"params":{"sku":"a"}}' 50)
[ "$(echo "$out" | jq -r .status)" = ok ] &&
    [ "$(echo "$out" | jq '.ids | length')" = 50 ]
ok $? "50 propose_async calls in one callback: each answered with its id"
[ "$(echo "$out" | jq -r '.ids | unique | length')" = 50 ]
ok $? "... 50 different ids"
[ "$(echo "$out" | jq -r '[.ids[] | tonumber] | . == sort')" = true ]
ok $? "... numbered in the order proposed"
wait_for 10 applied_is pricing 50
ok $? "every outcome reached the plugin, approved"
[ "$(audit_count decision.proposed)" = 50 ]
ok $? "one decision.proposed record per low decision"
like "$(actl --json audit --kind decision.proposed --limit 1)" \
    '"outcome":"approved".*"by":"policy"' \
    "which says the policy approved it"
[ "$(audit_count decision.approved)" = 0 ]
ok $? "no decision.approved record of its own"
last=$(echo "$out" | jq -r '.ids[49]')
wait_for 10 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json approvals show $last | jq .delivered_ms)\" -gt 0 ]"
ok $? "the last one is delivered"
n=$(audit_count decision.delivered)
[ "$n" -ge 1 ] && [ "$n" -lt 50 ]
ok $? "the deliveries took fewer records than decisions ($n for 50)"
taken=$(actl --json audit --kind decision.delivered --limit 0 |
    jq -s -r 'map(if type == "array" then .[] else . end) |
        map(.detail.ids) | add | length')
[ "$taken" = 50 ]
ok $? "and name every one of them ($taken)"
like "$(actl audit --kind decision.delivered --limit 1)" "taken by pricing-1" \
    "a delivery record says which instance took the outcomes"
actl audit verify >/dev/null
ok $? "the audit trail verifies"

# ---- one refusal in a batch does not refuse the others
out=$(propose tight '{"type":"refund","title":"refund","amount":5,"confidence":0.5}' 5)
[ "$(echo "$out" | jq '.ids | length')" = 3 ] &&
    [ "$(echo "$out" | jq -r .errors)" = 2 ] &&
    [ "$(echo "$out" | jq -r .status)" = EBUSY ]
ok $? "5 high proposals in a batch to an agent of max_pending 3: 3 pending, 2 EBUSY"
[ "$(actl --json approvals --agent tight | wc -l)" = 3 ]
ok $? "the 3 are pending"

# ---- approvals in pages: 250 pending
out=$(propose pricing '{"type":"refund","title":"a refund","amount":5,"confidence":0.5}' 250)
[ "$(echo "$out" | jq '.ids | length')" = 250 ]
ok $? "250 high proposals are pending"
# Oldest first is in the order agentd committed them: its two batches
# (128 and 122) are on their way together, and either may commit first.
order=$(echo "$out" | jq -c '.ids | map(tonumber) | sort')
actl --json approvals --agent pricing >"$T_DIR/p1" 2>"$T_DIR/p1.err"
[ "$(wc -l < "$T_DIR/p1")" = 100 ] &&
    [ "$(ids < "$T_DIR/p1" | head -1)" = "$(echo "$order" | jq -r '.[0]')" ]
ok $? "agentctl approvals lists the oldest 100"
like "$(cat "$T_DIR/p1.err")" "150 more pending: agentctl --json approvals --agent pricing --after $(ids < "$T_DIR/p1" | tail -1)" \
    "and says how many more wait, and how to see them"
actl --json approvals --agent pricing --after "$(ids < "$T_DIR/p1" | tail -1)" >"$T_DIR/p2" 2>/dev/null
[ "$(wc -l < "$T_DIR/p2")" = 100 ] &&
    [ "$(ids < "$T_DIR/p2" | head -1)" = "$(echo "$order" | jq -r '.[100]')" ]
ok $? "--after the last: the next 100"
actl --json approvals --agent pricing --limit 30 --after "$(ids < "$T_DIR/p2" | tail -1)" >"$T_DIR/p3" 2>"$T_DIR/p3.err"
[ "$(wc -l < "$T_DIR/p3")" = 30 ] &&
    [ "$(ids < "$T_DIR/p3" | head -1)" = "$(echo "$order" | jq -r '.[200]')" ]
ok $? "--limit 30: 30 of them"
like "$(cat "$T_DIR/p3.err")" "20 more pending: .* --limit 30 --after" \
    "the next page keeps the limit"
[ "$(actl --json approvals --limit 0 | wc -l)" = 253 ]
ok $? "--limit 0 lists every pending decision (253)"
like "$(actl approvals --agent pricing | tail -1)" '^150 more pending: agentctl approvals --agent pricing --after [0-9]+$' \
    "the table ends with the line saying how many more wait"

stop_agentd

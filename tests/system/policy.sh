#!/bin/sh
# The policy gate end to end: rules classify what a plugin proposes; LOW
# runs at once, MEDIUM runs and is published on approvals.notify, HIGH
# waits for agentctl approve / reject / modify or its deadline; every
# outcome reaches the plugin as decision.<id>, and every step is in the
# audit trail.  Bad proposals and bad answers are refused with one line.
. "$top_srcdir/tests/lib.sh"

plan 60

PROP=$(plugin_copy "$TPLUGINS/proposer.so")
BUS=$(plugin_copy "$TPLUGINS/bus.so")
conf agentd.conf <<EOF
policy {
	deadline = 1h
	deadline_min = 1s
	rule "small-price" {
		type = { "price" }
		amount_below = 50
		confidence_at_least = 0.8
		risk = low
	}
	rule "promotions" {
		type = { "promo" }
		risk = medium
	}
	rule "quick" {
		type = { "quick" }
		risk = high
		deadline = 2s
	}
	rule "quick-yes" {
		type = { "autoyes" }
		risk = high
		deadline = 2s
		at_deadline = approve
	}
}
EOF
conf agents.conf <<EOF
agent "pricing" { plugin = "$PROP" }
agent "tight" {
	plugin = "$PROP"
	policy { max_pending = 3 }
}
agent "watcher" {
	plugin = "$BUS"
	subscribe = { "approvals" }
}
EOF

# propose AGENT JSON-PROPOSAL [COUNT]: the plugin's answer.
propose() {
	actl --json call "$1" "{\"propose\": $2, \"count\": ${3:-1}}"
}
first_id() { jq -r '.ids[0]'; }
effects() { actl --json call "$1" '{"effects":true}'; }
effect() { effects "$1" | jq -r "$2"; }
# decision ID FILTER: a field of agentctl's view of one decision.
decision() { actl --json approvals show "$1" | jq -r "$2"; }
# pending AGENT: how many approvals agentctl lists for AGENT.
pending() {
	actl --json approvals --agent "$1" |
	    jq -s 'map(if type == "array" then .[] else . end) | length'
}

start_agentd
ok $? "agentd starts with a policy section"
wait_for 10 agent_ready pricing 1 && wait_for 10 agent_ready watcher 1 &&
    wait_for 10 agent_ready tight 1
ok $? "its agents are ready"

# ---- policy test: which rule, without proposing
out=$(actl policy test pricing price.change 10 0.9)
like "$out" 'small-price.*low' "policy test names the matching rule and its risk"
out=$(actl --json policy test pricing price.change 10 0.5)
[ "$(echo "$out" | jq -r .rule)" = default ] &&
    [ "$(echo "$out" | jq -r .risk)" = high ]
ok $? "a proposal no rule matches is high: the gate fails closed"
actl policy test pricing price.change x 0.5 >/dev/null 2>&1
ok $([ $? = 2 ] && echo 0 || echo 1) "policy test with a bad amount is a usage error"

# ---- LOW: runs at once
out=$(propose pricing '{"type":"price.change","title":"cut","amount":10,"confidence":0.9,"params":{"sku":"a1","price":9}}')
low=$(echo "$out" | first_id)
like "$out" '"status":"ok"' "a low proposal is accepted with an id"
wait_for 10 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json call pricing '{\"effects\":true}' | jq .applied)\" = 1 ]"
ok $? "the plugin got decision.$low approved and applied it"
out=$(effects pricing)
[ "$(echo "$out" | jq -r .last.id)" = "$low" ] &&
    [ "$(echo "$out" | jq -r .last.by)" = policy ] &&
    [ "$(echo "$out" | jq -r .last.params.price)" = 9 ]
ok $? "the event carries its id, who decided (policy) and the parameters"
[ "$(decision "$low" .state)" = approved ] &&
    [ "$(decision "$low" .rule)" = small-price ]
ok $? "approvals show: approved by rule small-price"
wait_for 10 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json approvals show $low | jq .delivered_ms)\" -gt 0 ]"
ok $? "and delivered"

# ---- MEDIUM: runs, and is published on approvals.notify
out=$(propose pricing '{"type":"promo.launch","title":"winter sale","amount":100,"confidence":0.5}')
med=$(echo "$out" | first_id)
wait_for 10 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json call pricing '{\"effects\":true}' | jq .applied)\" = 2 ]"
ok $? "a medium proposal runs at once"
wait_for 10 sh -c "AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json call watcher '{\"events\":true}' | grep -q 'winter sale'"
ok $? "and a subscriber of approvals got it on approvals.notify"
like "$(actl --json call watcher '{"events":true}')" '"last_topic":"approvals.notify"' \
    "the topic is approvals.notify"

# ---- HIGH: waits for a person
out=$(propose pricing '{"type":"price.change","title":"double it","amount":500,"confidence":0.9,"params":{"sku":"b2","price":40}}')
high=$(echo "$out" | first_id)
like "$out" '"status":"ok"' "a high proposal is accepted"
[ "$(pending pricing)" = 1 ]
ok $? "agentctl approvals lists it"
[ "$(actl --json approvals --agent pricing | jq -s -r 'map(if type == "array" then .[] else . end) | .[0].left_ms > 3000000')" = true ]
ok $? "with the time left to its deadline (1h)"
like "$(actl approvals)" "$high" "the human listing shows its id"
[ "$(effect pricing .applied)" = 2 ]
ok $? "nothing ran while it waits"
out=$(actl approve "$high" --note "fine by me")
ok $? "agentctl approve: $out"
wait_for 10 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json call pricing '{\"effects\":true}' | jq .applied)\" = 3 ]"
ok $? "the plugin ran it once approved"
out=$(effects pricing)
like "$(echo "$out" | jq -c .last)" '"outcome":"approved".*"by":"agentctl \(root\)","note":"fine by me"' \
    "the event says who approved it and the note"
out=$(actl approve "$high" 2>&1)
rv=$?
[ $rv = 1 ] && echo "$out" | grep -q "already approved by agentctl (root)"
ok $? "approving twice: one line saying who answered and when ($out)"
[ "$(effect pricing .applied)" = 3 ]
ok $? "and nothing changed"

# ---- reject
out=$(propose pricing '{"type":"refund","title":"refund order 7","amount":80,"confidence":0.7}')
rej=$(echo "$out" | first_id)
actl reject "$rej" >/dev/null 2>&1
ok $([ $? = 2 ] && echo 0 || echo 1) "reject without --reason is a usage error"
[ "$(decision "$rej" .state)" = pending ]
ok $? "and the decision is still pending"
actl reject "$rej" --reason "not this customer" >/dev/null
ok $? "agentctl reject with a reason"
wait_for 10 sh -c "AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json call pricing '{\"effects\":true}' | grep -q rejected"
ok $? "the plugin got decision.$rej rejected"
[ "$(effect pricing .applied)" = 3 ] &&
    [ "$(effect pricing .last.note)" = "not this customer" ]
ok $? "it did not act, and it has the reason"

# ---- modify: classified again
out=$(propose pricing '{"type":"price.change","title":"raise","amount":200,"confidence":0.9,"params":{"sku":"c3","price":99}}')
mod=$(echo "$out" | first_id)
actl modify "$mod" '{"sku":"c3","price":12' >/dev/null 2>&1
ok $([ $? = 2 ] && echo 0 || echo 1) "modify with invalid JSON is a usage error"
out=$(actl modify "$mod" '{"sku":"c3","price":12,"amount":12}' --note "smaller")
ok $? "modify to an amount the rules take as low: $out"
wait_for 10 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json call pricing '{\"effects\":true}' | jq .applied)\" = 4 ]"
ok $? "the modified decision ran"
[ "$(effect pricing .last.params.price)" = 12 ]
ok $? "with the modified parameters"
[ "$(decision "$mod" .proposed_params.price)" = 99 ] &&
    [ "$(decision "$mod" .risk)" = low ]
ok $? "the record keeps the parameters first proposed, and the new risk"
out=$(propose pricing '{"type":"price.change","title":"still big","amount":300,"confidence":0.9}')
mod2=$(echo "$out" | first_id)
before=$(decision "$mod2" .deadline_ms)
actl modify "$mod2" '{"price":1000}' >/dev/null
[ "$(decision "$mod2" .state)" = pending ] &&
    [ "$(decision "$mod2" .deadline_ms)" -ge "$before" ]
ok $? "a modify that stays high stays pending, with a new deadline"
audit_mod=$(actl --json audit --kind decision.modified --limit 1)
echo "$audit_mod" | grep -q params_before && echo "$audit_mod" | grep -q params_after
ok $? "the audit record of a modify holds the parameters before and after"

# ---- deadlines
out=$(propose pricing '{"type":"quick.deal","title":"now or never","amount":5,"confidence":0.5}')
exp=$(echo "$out" | first_id)
wait_for 10 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json approvals show $exp | jq -r .state)\" = expired ]"
ok $? "a pending decision expires at its deadline"
wait_for 10 sh -c "AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json call pricing '{\"effects\":true}' | grep -q expired"
ok $? "the plugin got decision.$exp expired"
out=$(actl approve "$exp" 2>&1)
[ $? = 1 ] && echo "$out" | grep -q "already expired"
ok $? "approving an expired decision is refused: $out"
out=$(propose pricing '{"type":"autoyes.deal","title":"fine unless stopped","amount":5,"confidence":0.5}')
yes=$(echo "$out" | first_id)
wait_for 10 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json approvals show $yes | jq -r .state)\" = approved ]"
ok $? "at_deadline = approve approves it at the deadline"
[ "$(decision "$yes" .by)" = "policy (deadline)" ]
ok $? "by the policy"

# ---- bad proposals, each refused with its reason
bad() {
	out=$(propose pricing "$1")
	echo "$out" | grep -q "\"status\":\"${3:-EINVAL}\""
	ok $? "$2 is refused: ${3:-EINVAL}"
}
bad '{"title":"no type","amount":1,"confidence":0.5}' "a proposal without a type"
bad '{"type":"price","title":"nan","nan":true,"confidence":0.5}' "an amount that is NaN"
bad '{"type":"price","title":"neg","amount":-1,"confidence":0.5}' "a negative amount"
bad '{"type":"price","title":"sure","amount":1,"confidence":1.5}' "a confidence over 1"
bad '{"type":"price","title":"list","amount":1,"confidence":0.5,"params":[1,2]}' "parameters that are not a map"
long=$(head -c 300 /dev/zero | tr '\0' t)
bad "{\"type\":\"price\",\"title\":\"$long\",\"amount\":1,\"confidence\":0.5}" "a title of 300 bytes" ETOOBIG
grep -q "propose refused" "$T_DIR/agentd.log"
ok $? "the reason is in the log"

# ---- answers to what is not there
out=$(actl approve 999999 2>&1)
[ $? = 1 ] && echo "$out" | grep -q "no decision 999999"
ok $? "approving an unknown id: $out"

# ---- the pending limit
out=$(propose tight '{"type":"refund","title":"r","amount":1,"confidence":0.5}' 4)
[ "$(echo "$out" | jq -r .status)" = EBUSY ] &&
    [ "$(echo "$out" | jq '.ids | length')" = 3 ]
ok $? "over max_pending (3) the next proposal is EBUSY"

# ---- the record of it all
[ "$(actl --json audit --agent pricing --kind decision.proposed --limit 0 | jq -s 'map(if type == "array" then .[] else . end) | length')" -ge 8 ]
ok $? "every proposal is a decision.proposed audit record"
like "$(actl --json audit --kind decision.proposed --limit 0)" '"rule":"small-price"' \
    "with the rule that matched"
like "$(actl --json audit --kind decision.proposed --limit 0)" \
    'decision 1 proposed: price\.change \\"cut\\" amount 10: low by rule small-price, approved by the policy"' \
    "its summary says what was proposed, its amount and how it was classified"
like "$(actl --json audit --kind decision.rejected --limit 1)" 'not this customer' \
    "a rejection is audited with its reason"
out=$(actl --json decisions --agent pricing --outcome rejected)
like "$out" "refund order 7" "agentctl decisions --outcome rejected finds it"
out=$(agent_field pricing .decisions)
[ "$(echo "$out" | jq .proposed.low)" -ge 1 ] &&
    [ "$(echo "$out" | jq .outcomes.rejected)" = 1 ] &&
    [ "$(echo "$out" | jq .pending)" = 1 ]
ok $? "status counts decisions by risk and outcome, and the pending one"
actl audit verify >/dev/null
ok $? "the audit trail verifies"

# ---- rules change with a reload, without new instances
sed -i 's/type = { "promo" }/type = { "promo", "refund" }/' "$T_DIR/conf/agentd.conf"
sed -i 's/policy { max_pending = 3 }/policy { max_pending = 3 default_risk = low }/' "$T_DIR/conf/agents.conf"
before=$(agent_field tight '.instances[0].id')
actl reload >/dev/null
[ "$(actl --json policy test pricing refund 10 0.5 | jq -r .risk)" = medium ]
ok $? "a reload applies agentd's new rules"
[ "$(actl --json policy test tight other.thing 10 0.5 | jq -r .risk)" = low ]
ok $? "and an agent's new policy { }"
[ "$(agent_field tight '.instances[0].id')" = "$before" ]
ok $? "an agent whose policy alone changed keeps its instances"

stop_agentd
ok $? "SIGTERM stops agentd with exit status 0"

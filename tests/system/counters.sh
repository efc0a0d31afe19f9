#!/bin/sh
# The A/B flow (issue 26): agent v runs ab 1.0; a canary of ab 2.0
# takes 50% of its requests; each request counts with host->count()
# ("visits", and "conversions" for a "buy"), and the reply says which
# version answered.  Status (agentctl, JSON and text), the HTTP status and
# /metrics show per generation exactly what the replies say each version
# counted; bad names and the limit of names get their errors; promote ends
# the canary and the promoted generation keeps its counts; counts made in
# fini arrive; an envelope a plugin writes past the host counts only for
# its own generation, and a malformed one stops it; a restart of agentd
# starts the counters at 0.  promtool, if
# installed, checks the /metrics page (why the metric is
# agentd_plugin_counted_total: a name holding "_counter" fails its lint).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/reload_lib.sh"

command -v curl >/dev/null || { echo "1..0 # SKIP no curl"; exit 0; }
plan 36

PLUG="$T_DIR/plugins/v.so"

install_plugin "$TPLUGINS/ab1.so"
conf agentd.conf <<EOF
agentd {
	http { listen = "127.0.0.1:0" }
}
EOF
conf v.conf <<EOF
agent "v" {
	plugin = "$PLUG"
	instances { min = 2  max = 2 }
	health { probation = 0 }
}
EOF

start_agentd
wait_for 10 agent_ready v 2
ok $? "v is ready with 2 instances of ab 1.0"
wait_for 10 status_has '.agents[] | select(.name == "v") | .generations
    | length == 1 and .[0].counters == {"conversions": 0, "visits": 0}'
ok $? "counters counted by 0 in init show at 0 at once"

gen_of() {
	agent_field v ".generations[] | select(.version == \"$1\") | $2"
}

# ---- a canary at 50% ---------------------------------------------------------
install_plugin "$TPLUGINS/ab2.so"
out=$(actl reload --canary v 50 2>&1)
ok $? "agentctl reload --canary v 50: $(flat "$out")"
wait_for 10 status_has '.agents[] | select(.name == "v") | .generations
    | any(.role == "canary" and .version == "2.0" and .instances >= 1)'
ok $? "status: 2.0 is the canary"
G1=$(gen_of 1.0 .generation)
G2=$(gen_of 2.0 .generation)

# 40 requests; every third one buys.  The reply says who answered.
: >"$T_DIR/replies"
k=0
fails=0
while [ $k -lt 40 ]; do
	k=$((k + 1))
	if [ $((k % 3)) -eq 0 ]; then what=buy; else what=look; fi
	r=$(actl --json call v "\"$what\"") || fails=$((fails + 1))
	echo "$what $(printf '%s' "$r" | jq -r '.version + " " + .count')" \
	    >>"$T_DIR/replies"
done
[ $fails -eq 0 ]
ok $? "40 calls answered ($fails failed)"
[ "$(grep -c ' OK$' "$T_DIR/replies")" -eq 40 ]
ok $? "every count in them succeeded"
V1=$(grep -c ' 1\.0 ' "$T_DIR/replies")
V2=$(grep -c ' 2\.0 ' "$T_DIR/replies")
B1=$(grep -c '^buy 1\.0 ' "$T_DIR/replies")
B2=$(grep -c '^buy 2\.0 ' "$T_DIR/replies")
diag "1.0 answered $V1 ($B1 buys), 2.0 answered $V2 ($B2 buys)"
[ "$V1" -eq 20 ] && [ "$V2" -eq 20 ]
ok $? "the split is 50/50: 20 and 20"

# Counters arrive with the reply that made them: no wait needed.
st=$(actl --json status)
c1=$(printf '%s' "$st" | jq -c --argjson g "$G1" \
    '.agents[] | select(.name == "v") | .generations[]
     | select(.generation == $g) | .counters')
c2=$(printf '%s' "$st" | jq -c --argjson g "$G2" \
    '.agents[] | select(.name == "v") | .generations[]
     | select(.generation == $g) | .counters')
[ "$c1" = "{\"conversions\":$B1,\"visits\":$V1}" ]
ok $? "status: generation $G1 (1.0) counted what 1.0 answered: $c1"
[ "$c2" = "{\"conversions\":$B2,\"visits\":$V2}" ]
ok $? "status: generation $G2 (2.0, the canary) too: $c2"
sum=$(printf '%s' "$st" | jq '[.agents[] | select(.name == "v")
    | .generations[].counters.conversions] | add')
[ "$sum" -eq $((B1 + B2)) ] && [ $((B1 + B2)) -eq 13 ]
ok $? "conversions add up to the 13 buys ($sum)"

out=$(actl status)
like "$out" "gen $G2 +canary +2\\.0 +share +50%  requests $V2  errors 0  conversions $B2  visits $V2" \
    "agentctl status shows the canary's line with its counters"
like "$out" "gen $G1 +current +1\\.0 +share +50%  requests $V1  errors 0  conversions $B1  visits $V1" \
    "and the current generation's"

# ---- the HTTP API and /metrics ---------------------------------------------------
wait_for 10 test -s "$T_DIR/run/http.addr"
URL="http://$(cat "$T_DIR/run/http.addr")"
VIEW=$(actl token create viewer1 --role viewer)
hget() { curl -s -H "Authorization: Bearer $VIEW" "$URL$1"; }
h=$(hget /v1/status | jq -c '[.agents[] | select(.name == "v")
    | .generations[] | {generation, counters}] | sort_by(.generation)')
a=$(printf '%s' "$st" | jq -c '[.agents[] | select(.name == "v")
    | .generations[] | {generation, counters}] | sort_by(.generation)')
[ -n "$h" ] && [ "$h" = "$a" ]
ok $? "GET /v1/status: the same counters per generation ($h)"

hget /metrics >"$T_DIR/metrics"
grep -q '^# TYPE agentd_plugin_counted_total counter$' "$T_DIR/metrics"
ok $? "/metrics: agentd_plugin_counted_total is a counter"
grep -q '^# HELP agentd_plugin_counted_total ' "$T_DIR/metrics"
ok $? "with its HELP line"
grep -qx "agentd_plugin_counted_total{agent=\"v\",generation=\"$G1\",name=\"conversions\"} $B1" "$T_DIR/metrics" &&
grep -qx "agentd_plugin_counted_total{agent=\"v\",generation=\"$G2\",name=\"conversions\"} $B2" "$T_DIR/metrics" &&
grep -qx "agentd_plugin_counted_total{agent=\"v\",generation=\"$G1\",name=\"visits\"} $V1" "$T_DIR/metrics" &&
grep -qx "agentd_plugin_counted_total{agent=\"v\",generation=\"$G2\",name=\"visits\"} $V2" "$T_DIR/metrics"
ok $? "one line per agent, generation and name, with the status's values"
if command -v promtool >/dev/null; then
	promtool check metrics <"$T_DIR/metrics" >"$T_DIR/promtool.out" 2>&1
	ok $? "promtool check metrics passes: $(head -3 "$T_DIR/promtool.out")"
else
	ok 0 "# SKIP no promtool"
fi

# ---- what host->count() refuses ------------------------------------------------
r=$(actl --json call v '{"count": "Bad-Name"}')
[ "$(printf '%s' "$r" | jq -r .count)" = EINVAL ]
ok $? "a name with capitals and a dash: EINVAL ($r)"
r=$(actl --json call v '{"count": "abcdefghijklmnopqrstuvwxyz0123456"}')
[ "$(printf '%s' "$r" | jq -r .count)" = EINVAL ]
ok $? "a name of 33 characters: EINVAL"
r=$(actl --json call v '{"count": "refunds", "by": -1}')
[ "$(printf '%s' "$r" | jq -r .count)" = EINVAL ]
ok $? "a negative delta: EINVAL"
r=$(actl --json call v '{"count": "refunds", "by": 5}')
[ "$(printf '%s' "$r" | jq -r .count)" = OK ]
ok $? "a good one counts"
RV=$(printf '%s' "$r" | jq -r .version)
wait_for 5 status_has ".agents[] | select(.name == \"v\") | .generations[]
    | select(.version == \"$RV\") | .counters.refunds == 5"
ok $? "and shows for the generation that answered ($RV)"
[ "$(agent_field v '[.generations[].counters | has("Bad-Name")] | any')" = false ]
ok $? "the refused name shows nowhere"

# ---- promote ---------------------------------------------------------------------
out=$(actl promote v 2>&1)
ok $? "agentctl promote v: $(flat "$out")"
wait_for 10 only_current
ok $? "the canary's generation serves alone"
[ "$(agent_field v '.generation')" = "$G2" ] &&
    [ "$(gen_of 2.0 '.counters.conversions')" -eq "$B2" ]
ok $? "generation $G2 is current, its conversions still $B2"
for k in 1 2 3 4; do actl call v '"buy"' >/dev/null; done
wait_for 5 status_has ".agents[] | select(.name == \"v\") | .generations[]
    | select(.generation == $G2) | .counters.conversions == $((B2 + 4))"
ok $? "new requests count on generation $G2: $((B2 + 4)) conversions"
# The old instances' fini counted "stopped": sent as they stopped.
if [ -n "$(gen_of 1.0 .generation)" ]; then
	wait_for 10 status_has ".agents[] | select(.name == \"v\")
	    | .generations[] | select(.generation == $G1)
	    | .counters.stopped == 2"
	ok $? "the 2 instances of generation $G1 counted in their fini"
else
	ok 1 "generation $G1 is no longer shown after promote"
fi

# ---- the limit of names, then a restart ------------------------------------------
# The instance that answers has 2 names in use, or 3 if it counted the
# refunds: the 31st or the 30th new one is the 33rd.
r=$(actl --json call v '{"names": 40}')
printf '%s' "$r" | jq_true '.count == "ETOOBIG" and (.at == 30 or .at == 29)'
ok $? "names past 32 for an instance: ETOOBIG at the 33rd ($r)"

# ---- what a plugin writes past host->count() --------------------------------------
# A counters envelope written straight onto the worker's own connection
# claims agent "other", instance "other-1": agentd goes by the
# connection, so it counts for this instance's generation, and only it.
before=$(gen_of 2.0 .counters.visits)
r=$(actl --json call v '{"forge": "other"}')
[ "$(printf '%s' "$r" | jq -r .count)" = OK ]
ok $? "a plugin writes a counters envelope onto its own connection ($r)"
wait_for 5 status_has ".agents[] | select(.name == \"v\") | .generations[]
    | select(.generation == $G2) | .counters.visits == $((before + 1000))"
ok $? "it counts for the writer's generation $G2, whatever it claims"
[ "$(gen_of 1.0 .counters.visits)" = "$V1" ] &&
    [ "$(actl --json status | jq -c '[.agents[].name]')" = '["v"]' ]
ok $? "and for nothing else: generation $G1 still $V1 visits, no agent other"
restarts=$(agent_field v .restarts)
# The writer's own reply follows the envelope; whether it still reaches
# the caller or the request runs again elsewhere (answered EEXIST there),
# the call is answered.
r=$(actl --json call v '{"forge": "bad"}')
printf '%s' "$r" | jq_true '.count == "OK" or .count == "EEXIST"'
ok $? "a bad name in a written envelope: the call is still answered ($r)"
grep -q 'it sent a malformed message' "$T_DIR/agentd.log" &&
    wait_for 10 status_has ".agents[] | select(.name == \"v\")
        | .restarts == $((restarts + 1)) and .ready == 2"
ok $? "agentd stopped it as hung (logged) and replaced it"
[ "$(agent_field v '[.generations[].counters | has("Bad-Name")] | any')" = false ]
ok $? "nothing of that envelope was counted"

stop_agentd
start_agentd
wait_for 10 agent_ready v 2
wait_for 10 status_has '.agents[] | select(.name == "v") | .generations
    | length == 1 and .[0].counters == {"conversions": 0, "visits": 0}'
ok $? "after a restart of agentd the counters start again at 0"
stop_agentd
done_testing

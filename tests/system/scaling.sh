#!/bin/sh
# Scaling: a load step from idle grows an agent toward max within
# upscale_delay plus one sampling interval (1 s); when the load stops it
# shrinks to min after downscale_delay; a steady load near the target
# changes nothing; `agentctl scale` pins a count until `scale auto`; every
# decision is audited with its reason; callers never see an error.
. "$top_srcdir/tests/lib.sh"

plan 22

MIS=$(plugin_copy "$TPLUGINS/misbehave.so")
conf agents.conf <<EOF
agent "elastic" {
	plugin = "$MIS"
	instances { min = 1  max = 4  target_inflight = 1
		    upscale_delay = 1s  downscale_delay = 2s }
	settings { sleep_ms = 200 }
}
agent "steady" {
	plugin = "$MIS"
	instances { min = 2  max = 4  target_inflight = 1
		    upscale_delay = 1s  downscale_delay = 2s }
	settings { sleep_ms = 200 }
}
EOF

desired() { agent_field "$1" .desired; }
scales() {
	actl --json audit --agent "$1" --kind agent.scale --limit 0 | grep -c .
}
# The "for N ms" of the newest scaling decision of agent $1: how long
# agentd itself had seen the load past the band when it decided.
# Is the newest scaling decision of agent $1 audited as "-> $2 instances"?
scaled_to() {
	actl --json audit --agent "$1" --kind agent.scale --limit 1 |
	    jq -r '.summary' | grep -q -- "-> $2 instances"
}
decided_after() {
	actl --json audit --agent "$1" --kind agent.scale --limit 1 |
	    jq -r '.summary' | sed -n 's/.* for \([0-9]*\) ms.*/\1/p'
}

# load AGENT N: N callers, each calling AGENT back to back until
# $T_DIR/stop-AGENT exists; failures go to $T_DIR/errors-AGENT.
load() {
	rm -f "$T_DIR/stop-$1"
	callers=
	i=0
	while [ $i -lt "$2" ]; do
		( while [ ! -e "$T_DIR/stop-$1" ]; do
			actl call "$1" '{}' >/dev/null 2>>"$T_DIR/errors-$1" ||
			    echo "call failed" >>"$T_DIR/errors-$1"
		  done ) &
		callers="$callers $!"
		i=$((i + 1))
	done
}
# unload AGENT: the callers stop after the call they are in (200 ms).
unload() {
	touch "$T_DIR/stop-$1"
	# shellcheck disable=SC2086
	wait $callers
}

start_agentd
wait_for 10 status_has '.agents[] | select(.name == "steady") | .ready == 2'
ok $? "steady starts with min = 2 ready"
wait_for 10 status_has '.agents[] | select(.name == "elastic") | .ready == 1 and .desired == 1 and .scaling == "auto"'
ok $? "elastic starts with min = 1, scaling automatically"
sleep 2.5
[ "$(desired elastic)" = 1 ] && [ "$(scales elastic)" = 0 ]
ok $? "idle for longer than both delays: no change"

# -- a load step ------------------------------------------------------------
load elastic 8
wait_for 10 status_has '.agents[] | select(.name == "elastic") | .desired == 4'
ok $? "8 callers at target_inflight = 1: elastic grows to max = 4"
wait_for 5 scaled_to elastic 4
# Counted from the end of the first 1 s interval whose mean was above:
# deciding at the first interval at least upscale_delay later means
# growth within upscale_delay plus one sampling interval of the load.
n=$(decided_after elastic)
[ -n "$n" ] && [ "$n" -ge 1000 ] && [ "$n" -lt 2000 ]
ok $? "decided at the first interval after upscale_delay (1 s): load above for $n ms"
wait_for 10 status_has '.agents[] | select(.name == "elastic") | .ready == 4'
ok $? "4 instances ready"
like "$(actl audit --agent elastic --kind agent.scale)" \
    '1 -> 4 instances: load [0-9.]+ \(in flight \+ queued\) above 1 x target_inflight 1 for [0-9]+ ms' \
    "the decision is audited with its reason"
sleep 2.5
[ "$(desired elastic)" = 4 ]
ok $? "under the same load it stays at max"
served=$(actl --json status | jq '[.agents[] | select(.name == "elastic") | .instances[] | select(.served > 0)] | length')
[ "$served" = 4 ]
ok $? "all 4 instances served requests"

# -- the load stops ---------------------------------------------------------
unload elastic
wait_for 10 status_has '.agents[] | select(.name == "elastic") | .desired == 1'
ok $? "idle again: elastic shrinks to min = 1"
wait_for 5 scaled_to elastic 1
n=$(decided_after elastic)
[ -n "$n" ] && [ "$n" -ge 2000 ] && [ "$n" -lt 3000 ]
ok $? "decided at the first interval after downscale_delay (2 s): load below for $n ms"
wait_for 10 status_has '.agents[] | select(.name == "elastic") | (.instances | length) == 1 and .ready == 1'
ok $? "the other 3 drained and exited"
# On a busy machine the callers may stop slowly enough for one step
# through 2 or 3 instances on the way down.
like "$(actl audit --agent elastic --kind agent.scale --limit 1)" \
    '[234] -> 1 instances: load at most [0-9.]+ \(in flight \+ queued\) for [0-9]+ ms, below [123] x target_inflight 1' \
    "audited with its reason"
[ ! -s "$T_DIR/errors-elastic" ]
ok $? "no caller saw an error: $(head -c 300 "$T_DIR/errors-elastic" 2>/dev/null)"

# -- a steady load near the target -----------------------------------------
before=$(scales steady)
load steady 2
sleep 6
after=$(scales steady)
unload steady
[ "$before" = 0 ] && [ "$after" = 0 ] && [ "$(desired steady)" = 2 ]
ok $? "2 callers on 2 instances at target 1 for 6 s: no scaling at all ($before, $after decisions)"
[ ! -s "$T_DIR/errors-steady" ]
ok $? "and no error"

# -- pinned -----------------------------------------------------------------
out=$(actl scale elastic 3)
ok $? "agentctl scale elastic 3: $out"
wait_for 10 status_has '.agents[] | select(.name == "elastic") | .ready == 3 and .desired == 3 and .scaling == "pinned"'
ok $? "3 ready, pinned"
sleep 3
[ "$(desired elastic)" = 3 ]
ok $? "idle past downscale_delay, a pinned count stays"
out=$(actl scale elastic 9 2>&1)
[ $? -eq 1 ] && printf '%s' "$out" | grep -q '9 is more than instances { max = 4 } in .*agents.conf: raise max there and reload, or ask for fewer'
ok $? "more than max is refused with what to do: $out"
actl scale elastic lots >/dev/null 2>&1
[ $? -eq 2 ]
ok $? "a count that is not a number is a usage error"
actl scale elastic auto >/dev/null &&
    wait_for 10 status_has '.agents[] | select(.name == "elastic") | .desired == 1 and .scaling == "auto"'
ok $? "scale auto: idle, it shrinks back to min"

done_testing

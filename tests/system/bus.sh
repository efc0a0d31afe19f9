#!/bin/sh
# The bus between agents: calls (sync and async) with identity and the
# calls = { } list enforced; events with publish = { } enforced, fan-out
# to subscribers, a slow subscriber that never blocks the others and whose
# losses are all counted; agentctl publish and tail.  A failed call says
# why in the caller's host->call_error(): the callee's reply_error
# message, or agentd's own line (denied, unknown, deadline passed).
. "$top_srcdir/tests/lib.sh"

plan 51

ECHO=$(plugin_copy "$BPLUGINS/echo.so")
BUS=$(plugin_copy "$TPLUGINS/bus.so")
TYPED=$(plugin_copy "$TPLUGINS/typed.so")
conf bus.conf <<EOF
agent "echo" { plugin = "$ECHO" }
agent "front" {
	plugin = "$BUS"
	calls = { "echo", "slowpoke", "ghost", "picky" }
	publish = { "orders" }
}
agent "sink" {
	plugin = "$BUS"
	subscribe = { "orders" }
}
agent "lazy" {
	plugin = "$BUS"
	subscribe = { "orders.new" }
	settings { event_sleep_ms = 50 }
}
agent "picky" { plugin = "$BUS" }
agent "slowpoke" {
	plugin = "$TYPED"
	queue_max = 2
	settings { limit = 1 }
}
EOF

# st AGENT FIELD: one counter of an agent from `agentctl status --json`.
st() { actl --json status | jq -r ".agents[] | select(.name == \"$1\") | .$2"; }
# received AGENT: events the bus plugin of AGENT has seen.
received() { actl --json call "$1" '{"events":true}' | jq -r .received; }
front() { actl --json call front "$1"; }

start_agentd
ok $? "agentd starts"
for a in echo front sink lazy slowpoke picky; do
	wait_for 10 agent_ready "$a" 1 || diag "$a not ready"
done
[ "$(actl --json status | jq '[.agents[].ready] | add')" = 6 ]
ok $? "all six agents have a ready instance"

# ---- calls
out=$(front '{"call":"echo","body":{"q":1}}')
like "$out" '^\{"status":"ok","reply":\{"echo":\{"q":1\},"instance":"echo-1"' \
    "a synchronous call reaches echo and returns its reply"
out=$(front '{"call":"echo","body":"async","async":true}')
like "$out" '^\{"status":"ok","reply":\{"echo":"async","instance":"echo-1"' \
    "an asynchronous call completes on the plugin's thread"
out=$(front '{"call":"sink","body":{}}')
like "$out" '"status":"EDENIED"' "a call to an agent not in calls = { } is denied"
like "$(echo "$out" | jq -r .why)" \
    '^agent "front" may not call "sink": add it to calls = \{ \} in .*bus.conf$' \
    "...and host->call_error says why, and what to do"
[ "$(st front calls_denied)" = 1 ]
ok $? "the denial is counted on the caller"
grep -q 'agent front: call to "sink" denied' "$T_DIR/agentd.log"
ok $? "and logged, naming caller and callee"
[ "$(st sink requests)" = 0 ]
ok $? "the denied call never reached sink"
out=$(front '{"call":"ghost","body":{}}')
like "$out" '"status":"ENOENT"' "a call to an agent that does not exist: ENOENT"
like "$(echo "$out" | jq -r .why)" '^no agent named "ghost": ' \
    "...and host->call_error says so"
out=$(front '{"call":"slowpoke","body":{"sleep_ms":3000},"timeout_ms":300}')
like "$out" '"status":"ETIMEOUT"' "a call past its deadline answers ETIMEOUT"
like "$(echo "$out" | jq -r .why)" '^agent "slowpoke": deadline passed$' \
    "...and host->call_error names the callee"
out=$(front '{"call":"picky","body":{"fail":2,"why":"no sku \"Z-9\"\nin stock"}}')
like "$out" '"status":"EINVAL"' "a callee's reply_error code reaches a host->call"
like "$(echo "$out" | jq -r .why)" '^no sku "Z-9" in stock$' \
    "...and its message host->call_error, made one line"
out=$(front '{"call":"echo","body":{"after":"timeout"}}')
like "$out" '"status":"ok"' "the caller keeps working after a timeout"

# The same outcomes for asynchronous calls, which travel on the caller's
# own instance channel instead of calls.sock.
out=$(front '{"call":"sink","body":{},"async":true}')
like "$out" '"status":"EDENIED"' "an asynchronous call outside calls = { } is denied"
like "$(echo "$out" | jq -r .why)" '^agent "front" may not call "sink": ' \
    "...and host->call_error in the callback says why"
[ "$(st front calls_denied)" = 2 ] && [ "$(st sink requests)" = 0 ]
ok $? "counted on the caller, never delivered"
out=$(front '{"call":"ghost","body":{},"async":true}')
like "$out" '"status":"ENOENT"' "an asynchronous call to a missing agent: ENOENT"
like "$(echo "$out" | jq -r .why)" '^no agent named "ghost": ' \
    "...and host->call_error in the callback says so"
out=$(front '{"call":"slowpoke","body":{"sleep_ms":2000},"timeout_ms":300,"async":true}')
like "$out" '"status":"ETIMEOUT"' "an asynchronous call past its deadline: ETIMEOUT"
like "$(echo "$out" | jq -r .why)" '^agent "slowpoke": deadline passed$' \
    "...and host->call_error in the callback names the callee"
out=$(front '{"call":"picky","body":{"fail":16,"why":"order 7 exists"},"async":true}')
like "$out" '"status":"EEXIST"' "a callee's reply_error code reaches a call_async callback"
like "$(echo "$out" | jq -r .why)" '^order 7 exists$' \
    "...and its message host->call_error in the callback"

# The caller dies with an asynchronous call in flight: the answer has no
# one to go to, and nothing else notices.  (front is front-2 from here.)
n=$(st slowpoke requests)
front '{"call":"slowpoke","body":{"sleep_ms":1000},"async":true}' >/dev/null 2>&1 &
caller=$!
wait_for 10 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json status | jq '.agents[] | select(.name==\"slowpoke\") | .requests')\" -gt $n ]"
kill -KILL "$(st front 'instances[0].pid')"
wait "$caller"
wait_for 10 agent_ready front 1
ok $? "the calling instance is replaced"
# slowpoke answers (a second later) a call whose caller is gone.
wait_for 10 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json status | jq '.agents[] | select(.name==\"slowpoke\") | .inflight + .queued')\" = 0 ]"
out=$(front '{"call":"echo","body":"after","async":true}')
like "$out" '"status":"ok"' "its replacement calls asynchronously again"
kill -0 "$AGENTD_PID"
ok $? "agentd is up after answering a call whose caller was gone"

# A full queue answers EBUSY at once: slowpoke holds one request and
# queues two (queue_max = 2); the fourth is refused.  Each is held 4 s:
# long enough for all three callers to have arrived and the fourth to be
# sent, however slowly the machine starts agentctl.
wait_for 10 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json status | jq '.agents[] | select(.name==\"slowpoke\") | .inflight + .queued')\" = 0 ]"
callers=
for i in 1 2 3; do
	actl call slowpoke '{"sleep_ms":4000}' >/dev/null 2>&1 &
	callers="$callers $!"
done
wait_for 5 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json status | jq '.agents[] | select(.name==\"slowpoke\") | .queued')\" = 2 ]"
ok $? "one request in flight, two queued"
out=$(actl --json call slowpoke '{}' 2>/dev/null)
like "$out" '"code":"EBUSY"' "the next request is answered EBUSY, not dropped"
busy_ok=0
for j in $callers; do wait "$j" || busy_ok=1; done
ok $busy_ok "the three accepted requests all succeed"

# ---- events
out=$(front '{"publish":"orders.new","count":100,"body":{"n":7}}')
like "$out" '"status":"ok","published":100' "front publishes 100 events"
wait_for 10 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json call sink '{\"events\":true}' | jq .received)\" = 100 ]"
ok $? "sink receives all 100"
out=$(actl --json call sink '{"events":true}')
like "$out" '"last_topic":"orders.new","last":\{"n":7\}' "with topic and body intact"
[ "$(st front events_published)" = 100 ] && [ "$(st sink events_dropped)" = 0 ]
ok $? "counters: 100 published by front, none dropped for sink"

out=$(front '{"publish":"secret.plans","body":1}')
like "$out" '"status":"EDENIED"' "publishing outside publish = { } is refused at once"
wait_for 5 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json status | jq '.agents[] | select(.name==\"front\") | .events_denied')\" = 1 ]"
ok $? "agentd counts the refused event on the publisher"
grep -q 'agent front: event on "secret.plans" refused' "$T_DIR/agentd.log"
ok $? "and logs it"
[ "$(received sink)" = 100 ]
ok $? "the refused event reached nobody"

out=$(actl publish orders.new '{"from":"operator"}')
like "$out" '^\{"delivered":2\}$' "agentctl publish reaches both subscribers of orders.new"
wait_for 5 sh -c "AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json call sink '{\"events\":true}' | grep -q operator"
ok $? "sink got the operator's event"
out=$(actl publish nobody.listens '{}')
like "$out" '^\{"delivered":0\}$' "an event nobody subscribes to is delivered to none"

# ---- tail
actl tail --count 3 orders > "$T_DIR/tail.out" 2>&1 &
tailpid=$!
# A subscriber connects asynchronously: publish until tail sees one.
wait_for 5 sh -c "AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL publish orders.probe 0 >/dev/null; [ -s $T_DIR/tail.out ]"
front '{"publish":"orders.tail","count":3,"body":{"t":1}}' >/dev/null
wait_for 5 sh -c "! kill -0 $tailpid 2>/dev/null"
r=$?
[ $r -eq 0 ] || diag "tail printed: $(cat "$T_DIR/tail.out")"
ok $r "agentctl tail --count 3 exits after three events"
like "$(cat "$T_DIR/tail.out")" '\{"topic":"orders.tail","src":"front","instance":"front-2","body":\{"t":1\}\}' \
    "tail prints one JSON line per event with its source instance"

# ---- a slow subscriber: never blocks the rest, every loss counted
# 20000 events of 1 KiB, in four bursts of 5000 (each within one
# subscriber queue): far more than lazy can take, which sink keeps up with.
kb=$(head -c 1000 /dev/zero | tr '\0' k)
base=$(received sink)
all_ok=0
all_received=0
for burst in 1 2 3 4; do
	out=$(front "{\"publish\":\"orders.new\",\"count\":5000,\"body\":\"$kb\"}")
	printf '%s' "$out" | grep -q '"status":"ok","published":5000' || all_ok=1
	wait_for 20 sh -c "[ \"\$(AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL --json call sink '{\"events\":true}' | jq .received)\" -ge $((base + burst * 5000)) ]" || all_received=1
done
ok $all_ok "front publishes 20000 events without waiting for lazy"
ok $all_received "the fast subscriber receives all of them"
snap=$(actl --json status)
lz() { printf '%s' "$snap" | jq ".agents[] | select(.name == \"lazy\") | $1"; }
sk() { printf '%s' "$snap" | jq ".agents[] | select(.name == \"sink\") | $1"; }
lazy_total=$(lz '.events_delivered + .events_dropped + ([.instances[].events_queued] | add)')
sink_total=$(sk '.events_delivered + .events_dropped + ([.instances[].events_queued] | add)')
diag "lazy: delivered $(lz .events_delivered), dropped $(lz .events_dropped), queued $(lz '[.instances[].events_queued] | add')"
[ "$(lz .events_dropped)" -gt 0 ]
ok $? "the slow subscriber's bounded queue overflowed and dropped events"
# sink subscribes to "orders", lazy to "orders.new": sink saw 4 more
# (orders.probe / orders.tail) plus the probes tail needed.
probes=$(( sink_total - lazy_total ))
[ "$probes" -ge 4 ] && [ "$probes" -le 50 ]
ok $? "every event for lazy is delivered, dropped or still queued: none unaccounted ($lazy_total vs $sink_total)"
[ "$(sk .events_dropped)" = 0 ]
ok $? "the fast subscriber lost nothing"
out=$(front '{"call":"echo","body":{"after":"flood"}}')
like "$out" '"status":"ok"' "calls still flow while lazy is behind"

stop_agentd
ok $? "SIGTERM stops agentd with exit status 0"
done_testing

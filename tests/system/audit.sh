#!/bin/sh
# The audit trail of agentd's own decisions: instances started, crashed
# and restarted, calls denied; filters; the hash chain verified, and kept
# across a restart of agentd on the same state; a record altered and a
# record deleted with LMDB's tools named by audit verify.
. "$top_srcdir/tests/lib.sh"

plan 29

ECHO=$(plugin_copy "$BPLUGINS/echo.so")
BUS=$(plugin_copy "$TPLUGINS/bus.so")
conf audit.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
	restart { backoff_initial = 50ms }
}
agent "front" { plugin = "$BUS" }
EOF

start_agentd
ok $? "agentd starts"
wait_for 10 agent_ready echo 1 && wait_for 10 agent_ready front 1
ok $? "echo and front are ready"

wpid=$(actl --json status | jq '.agents[] | select(.name=="echo") | .instances[0].pid')
kill -KILL "$wpid"
wait_for 10 status_has '.agents[] | select(.name=="echo") | .restarts == 1 and .ready == 1'
ok $? "the killed echo worker is replaced"
actl --json call front '{"call":"echo","body":1}' >/dev/null
wait_for 5 sh -c "AGENTD_RUN_DIR=$T_DIR/run $AGENTCTL audit --kind call.denied | grep -q ."
ok $? "a denied call is recorded"

out=$(actl audit --kind instance.exit --json)
like "$out" "\"agent\":\"echo\",\"instance\":\"echo-1\",\"kind\":\"instance.exit\",\"summary\":\"pid $wpid killed by signal 9\"" \
    "the crash is recorded with agent, instance, pid and signal"
out=$(actl audit --agent front --kind call.denied)
like "$out" 'front/front-1 call.denied: call to "echo" denied by calls' \
    "the denial names caller and callee"
[ "$(actl audit --agent echo --limit 3 | wc -l)" = 3 ]
ok $? "--limit 3 gives three records"
out=$(actl audit --limit 1)
like "$out" '#[0-9]+ ' "records carry their sequence number"
[ "$(actl audit --since 1h | wc -l)" -ge 8 ] && [ "$(actl audit --until 2000-01-01 | wc -l)" = 0 ]
ok $? "--since and --until select by time"

# A plugin's own decision, through the host table.
out=$(actl --json call front '{"audit":{"kind":"decision","summary":"price of sku-1 set to 9.99","detail":{"old":10.5,"new":9.5}}}')
like "$out" '"status":"ok"' "host->audit returns 0 once the record is committed"
out=$(actl audit --agent front --kind decision --json)
like "$out" '"agent":"front","instance":"front-1","kind":"decision","summary":"price of sku-1 set to 9.99","detail":\{"old":10.5,"new":9.5\}' \
    "the plugin's record carries its agent and instance (set by agentd) and its detail"
out=$(actl --json call front '{"audit":{"kind":"","summary":"no kind"}}')
like "$out" '"status":"EINVAL"' "a record without a kind is refused with EINVAL"

# --follow: the last records oldest first, then new ones as they commit.
actl audit --follow --agent front --json > "$T_DIR/follow.out" 2>&1 &
follower=$!
wait_for 5 grep -q '"kind":"decision"' "$T_DIR/follow.out"
ok $? "audit --follow first prints the latest matching records"
actl call front '{"audit":{"kind":"decision","summary":"followed one"}}' >/dev/null
actl call front '{"audit":{"kind":"decision","summary":"followed two"}}' >/dev/null
actl call echo '{}' >/dev/null
wait_for 5 grep -q '"summary":"followed two"' "$T_DIR/follow.out"
ok $? "records appended later are streamed as they are committed"
seqs=$(grep -o '"seq":[0-9]*' "$T_DIR/follow.out" | cut -d: -f2)
[ "$(printf '%s\n' $seqs | sort -n | uniq)" = "$(printf '%s\n' $seqs)" ]
ok $? "each record once, in increasing sequence"
! grep -q '"agent":"echo"' "$T_DIR/follow.out"
ok $? "the follower's --agent filter holds for new records"
kill "$follower"
wait "$follower" 2>/dev/null
actl audit --follow --since 2000-01-01 --until 2000-01-02 > "$T_DIR/follow2.out" 2>&1 &
follower=$!
sleep 0.6
kill -0 "$follower" && [ ! -s "$T_DIR/follow2.out" ]
ok $? "following a filter nothing matches prints nothing and keeps waiting"
kill "$follower"
wait "$follower" 2>/dev/null

out=$(actl audit verify)
ok $? "audit verify exits 0 on an untouched trail"
like "$out" '^audit trail whole: records 1 to [0-9]+' "and says the chain is whole"

stop_agentd
ok $? "agentd stops"
start_agentd
wait_for 10 agent_ready echo 1
actl audit --kind agentd.stop | grep -q 'agentd stopped' &&
    [ "$(actl audit --kind agentd.start | wc -l)" = 2 ]
ok $? "the trail survives a restart: the first run's stop and both starts are there"
actl audit verify >/dev/null
ok $? "and the chain still verifies across the restart"
sum3=$(actl audit --json --limit 1000 | jq -r 'select(.seq == 3) | .summary')
stop_agentd >/dev/null

# verify_broken WHAT PATTERN: on a fresh agentd, audit verify exits 1 and
# its line says "BROKEN at PATTERN".
verify_broken() {
	start_agentd
	out=$(actl audit verify)
	[ $? = 1 ]
	ok $? "audit verify exits 1 on $1"
	like "$out" "^audit trail BROKEN at $2" "and names it: $out"
	stop_agentd >/dev/null
}

# Tampering with LMDB's own tools (lmdb-utils), as someone with access to the files
# could: mdb_dump, edit the text, mdb_load.  Record 3's summary gets one
# letter changed (the value stays well-formed msgpack).
DB="$T_DIR/state/db"
mdb_dump -a "$DB" > "$T_DIR/all.dump"
ok $? "mdb_dump reads the environment"
key3=" $(printf %016x 3)"
from=$(printf %s "$sum3" | od -An -tx1 | tr -d ' \n')
to="58${from#??}" # the first letter becomes X
mdb_dump -s audit "$DB" |
    awk -v key="$key3" -v from="$from" -v to="$to" \
        'prev == key { n += sub(from, to) } { print; prev = $0 }
         END { exit n != 1 }' > "$T_DIR/altered.dump" &&
    mdb_load -s audit "$DB" < "$T_DIR/altered.dump" 2>> "$T_DIR/mdb_load.err"
ok $? "record 3's summary is altered with mdb_load"
verify_broken "an altered record" 'record 3: record 3 was altered'

# Record 5 deleted: the environment rebuilt by mdb_load from the first
# dump without it.
awk -v key=" $(printf %016x 5)" '
    /^database=/ { db = $0 }
    db == "database=audit" && $0 == key { skip = 2 }
    skip > 0 { skip--; next } { print }' "$T_DIR/all.dump" > "$T_DIR/deleted.dump"
mv "$DB" "$T_DIR/db.altered" && mkdir "$DB" &&
    mdb_load -f "$T_DIR/deleted.dump" "$DB" 2>> "$T_DIR/mdb_load.err" &&
    ! mdb_dump -s audit "$DB" | grep -qx "$(printf ' %016x' 5)" &&
    mdb_dump -s audit "$DB" | grep -qx "$(printf ' %016x' 6)"
ok $? "record 5 is deleted with mdb_load (record 6 is there)"
verify_broken "a deleted record" 'record 5: record 5 is missing'
done_testing

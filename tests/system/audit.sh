#!/bin/sh
# The audit trail of agentd's own decisions: instances started, crashed
# and restarted, calls denied; filters; the hash chain verified, and kept
# across a restart of agentd on the same state; a record altered and a
# record deleted with LMDB's tools named by audit verify.  Seals: the key
# agentd prints at its first start verifies them (also after kill -9),
# another agentd's key is refused, and what the unkeyed chain cannot show
# (a seal dropped, the tail cut with the head moved back, both with LMDB's
# tools) is caught with the key.
. "$top_srcdir/tests/lib.sh"

plan 47

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
out=$(actl --json call front '{"audit":{"kind":"price.set","summary":"price of sku-1 set to 9.99","detail":{"old":10.5,"new":9.5}}}')
like "$out" '"status":"ok"' "host->audit returns 0 once the record is committed"
out=$(actl audit --agent front --kind price.set --json)
like "$out" '"agent":"front","instance":"front-1","kind":"price.set","summary":"price of sku-1 set to 9.99","detail":\{"old":10.5,"new":9.5\}' \
    "the plugin's record carries its agent and instance (set by agentd) and its detail"
out=$(actl --json call front '{"audit":{"kind":"","summary":"no kind"}}')
like "$out" '"status":"EINVAL"' "a record without a kind is refused with EINVAL"

# --follow: the last records oldest first, then new ones as they commit.
actl audit --follow --agent front --json > "$T_DIR/follow.out" 2>&1 &
follower=$!
wait_for 5 grep -q '"kind":"price.set"' "$T_DIR/follow.out"
ok $? "audit --follow first prints the latest matching records"
actl call front '{"audit":{"kind":"price.set","summary":"followed one"}}' >/dev/null
actl call front '{"audit":{"kind":"price.set","summary":"followed two"}}' >/dev/null
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

key=$(grep -o 'sealing key ed25519:[0-9a-f]*' "$T_DIR/agentd.log" | head -1 | cut -d' ' -f3)
[ -n "$key" ] && [ "$(grep -c 'sealing key ed25519' "$T_DIR/agentd.log")" = 1 ]
ok $? "agentd printed its sealing key once, at its first start"
actl audit key | grep -q "^$key  from seal 0 "
ok $? "audit key shows the same key, from seal 0"
[ "$(stat -c %a "$T_DIR/state/audit.key")" = 600 ] &&
    ! grep -q "$(od -An -tx1 -j16 -N32 "$T_DIR/state/audit.key" | tr -d ' \n')" "$T_DIR/agentd.log"
ok $? "the private key file is mode 0600 and its key is never logged"
out=$(actl audit verify --key "$key")
ok $? "audit verify --key of the printed key exits 0"
like "$out" '^sealed: records to [0-9]+, [0-9]+ seal\(s\) checked with the key' \
    "and says how far the seals reach"
like "$out" '^unsealed, [0-9]+ records after record [0-9]+' "and how many records no seal covers yet"

# Another agentd, its own state: its key is not this trail's.
"$AGENTD" --confdir "$T_DIR/conf" --state-dir "$T_DIR/state2" \
    --run-dir "$T_DIR/run2" --foreground 2>"$T_DIR/agentd2.log" &
other_pid=$!
wait_for 10 grep -q 'sealing key ed25519' "$T_DIR/agentd2.log"
other=$(grep -o 'sealing key ed25519:[0-9a-f]*' "$T_DIR/agentd2.log" | head -1 | cut -d' ' -f3)
kill -TERM "$other_pid"
wait "$other_pid" 2>/dev/null
out=$(actl audit verify --key "$other")
[ $? = 1 ] && [ -n "$other" ] && [ "$other" != "$key" ]
ok $? "audit verify --key of another agentd's key exits 1"
like "$out" '^audit trail BROKEN at record 1: seal 0 .* not by a key given' "and names seal 0"
actl audit verify --key ed25519:1234 >/dev/null 2>&1
[ $? = 2 ]
ok $? "a malformed key is a usage error (exit 2)"

stop_agentd
ok $? "agentd stops"
start_agentd
wait_for 10 agent_ready echo 1
actl audit --kind agentd.stop | grep -q 'agentd stopped' &&
    [ "$(actl audit --kind agentd.start | wc -l)" = 2 ]
ok $? "the trail survives a restart: the first run's stop and both starts are there"
actl audit verify >/dev/null
ok $? "and the chain still verifies across the restart"
kill -KILL "$AGENTD_PID"
wait "$AGENTD_PID" 2>/dev/null
start_agentd
actl audit verify --key "$key" >/dev/null
ok $? "after kill -9 of agentd, the seals verify with the key"
sum3=$(actl audit --json --limit 1000 | jq -r 'select(.seq == 3) | .summary')
hash5=$(actl audit --json --limit 1000 | jq -r 'select(.seq == 5) | .hash')
stop_agentd >/dev/null

# verify_keyed WHAT PATTERN: on a fresh agentd, audit verify without the
# key says whole, with it exits 1 and says "BROKEN at PATTERN".
verify_keyed() {
	start_agentd
	actl audit verify | grep -q '^audit trail whole'
	ok $? "$1: audit verify without the key says whole"
	out=$(actl audit verify --key "$key")
	[ $? = 1 ]
	ok $? "$1: audit verify --key exits 1"
	like "$out" "^audit trail BROKEN at $2" "and names it: $out"
	stop_agentd >/dev/null
}

# rebuild DUMP: the environment made again from a full dump, as mdb_load
# makes it (deleting needs a rebuild: mdb_load only adds).
rebuild() {
	rm -rf "$DB" && mkdir "$DB" && mdb_load -f "$1" "$DB" 2>> "$T_DIR/mdb_load.err"
}

DB="$T_DIR/state/db"
cp -a "$DB" "$T_DIR/db.good" && cp -p "$T_DIR/state/audit.key" "$T_DIR/key.good"

# A seal dropped: seal 1 left out of the seals database.
mdb_dump -a "$DB" | awk -v key=" $(printf %016x 1)" '
    /^database=/ { db = $0 }
    db == "database=seals" && $0 == key { skip = 2 }
    skip > 0 { skip--; next } { print }' > "$T_DIR/noseal.dump"
rebuild "$T_DIR/noseal.dump" && ! mdb_dump -s seals "$DB" | grep -qx " $(printf %016x 1)"
ok $? "seal 1 is deleted with mdb_load"
verify_keyed "a dropped seal" 'record 1: seal 1 is missing'

# The tail cut: records after 5 deleted and the head set to record 5, its
# hash taken from audit --json: a whole chain, shorter.
rm -rf "$DB" && cp -a "$T_DIR/db.good" "$DB" && cp -p "$T_DIR/key.good" "$T_DIR/state/audit.key"
mdb_dump -a "$DB" | awk -v head="82a373657105a468617368c420$hash5" '
    /^database=/ { db = $0 }
    db == "database=audit" && length($0) == 17 && /^ [0-9a-f]+$/ && $0 > " 0000000000000005" { skip = 2 }
    db == "database=meta" && $0 == " 61756469745f68656164" { print; getline; print " " head; next }
    skip > 0 { skip--; next } { print }' > "$T_DIR/cut.dump"
rebuild "$T_DIR/cut.dump" && [ "$(mdb_dump -s audit "$DB" | grep -c '^ [0-9a-f]\{16\}$')" = 5 ]
ok $? "records after 5 are cut with mdb_load, the head moved to record 5"
verify_keyed "a cut tail" 'record [0-9]+: (seal 1 covers records to [0-9]+ but the log ends at record [0-9]+|records 1 to [0-9]+ do not match seal 1)'
rm -rf "$DB" && cp -a "$T_DIR/db.good" "$DB" && cp -p "$T_DIR/key.good" "$T_DIR/state/audit.key"

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

#!/bin/sh
# Nothing acknowledged is lost: two instances write state and audit
# records without pause, noting each write only after the host said it is
# committed; a worker is killed with SIGKILL, then agentd itself, in the
# middle of the stream.  After a restart every acknowledged state key and
# audit record is there, and the audit chain verifies.  A third instance
# streams audit records with audit_async (batched), noting each with the
# sequence number its callback gave: each is there, under that number.
. "$top_srcdir/tests/lib.sh"

plan 15

WRITER=$(plugin_copy "$TPLUGINS/writer.so")
ACKS=$(plugin_dir acks)
conf writer.conf <<EOF
agent "writer" {
	plugin = "$WRITER"
	instances { min = 2  max = 2 }
	restart { backoff_initial = 50ms }
	paths { write = { "$ACKS" } }
	settings { ack_dir = "$T_DIR/acks" }
}
EOF

conf zasync.conf <<EOF
agent "zasync" {
	plugin = "$WRITER"
	restart { backoff_initial = 50ms }
	paths { write = { "$ACKS" } }
	settings { ack_dir = "$T_DIR/acks"  async = true  per_tick = 50 }
}
EOF

acked() { cat "$T_DIR"/acks/*.ack 2>/dev/null | sort -u; }
aacked() { cat "$T_DIR"/acks/*.aack 2>/dev/null | sort -u; }
nacked() { acked | wc -l; }

start_agentd
wait_for 10 agent_ready writer 2
ok $? "two writer instances stream state writes and audit appends"
wait_for 20 sh -c "[ \$(cat '$T_DIR'/acks/*.aack | wc -l) -ge 2000 ]"
ok $? "audit_async records are acknowledged ($(aacked | wc -l) so far)"
wait_for 20 sh -c "[ \$(cat '$T_DIR'/acks/*.ack | wc -l) -ge 200 ]"
ok $? "writes are acknowledged ($(nacked) so far)"

wpid=$(actl --json status | jq '.agents[0].instances[0].pid')
kill -KILL "$wpid"
wait_for 10 status_has '.agents[0] | .restarts == 1 and .ready == 2'
ok $? "a worker killed mid-stream is replaced"
before=$(nacked)
wait_for 20 sh -c "[ \$(cat '$T_DIR'/acks/*.ack | wc -l) -ge $((before + 200)) ]"
ok $? "and the stream goes on"
# Queries wait for the records queued before them; the writer answering
# the stream meanwhile must not wait for them.
q=0
for i in 1 2 3 4 5; do
	actl audit --limit 1 >/dev/null && q=$((q + 1))
done
[ $q -eq 5 ]
ok $? "agentctl audit answers while records stream ($q of 5)"

kill -KILL "$AGENTD_PID"
wait "$AGENTD_PID" 2>/dev/null
AGENTD_PID=
wait_for 10 workers_gone
ok $? "agentd killed mid-stream; its workers follow it"
# The audit_async instance had records on their way: with agentd gone,
# their callbacks still run (with an error) before its fini.
fini=$(cat "$T_DIR"/acks/*.fini 2>/dev/null)
[ "$(printf '%s\n' "$fini" | grep -c '^pending 0$')" -ge 1 ] &&
    ! printf '%s\n' "$fini" | grep -v '^pending 0$' | grep -q .
ok $? "every audit_async callback ran before fini: $(echo $fini)"
acked > "$T_DIR/acked"
aacked > "$T_DIR/aacked"
diag "$(wc -l < "$T_DIR/acked") writes and $(wc -l < "$T_DIR/aacked") audit_async records were acknowledged"

start_agentd
ok $? "agentd starts again on the same state"
actl state ls writer | sort -u > "$T_DIR/keys"
missing=$(comm -23 "$T_DIR/acked" "$T_DIR/keys" | wc -l)
[ "$missing" -eq 0 ] && [ -s "$T_DIR/acked" ]
ok $? "every acknowledged state write is there ($missing missing)"
actl --json audit --kind stream --limit 0 | jq -r .summary | sort -u > "$T_DIR/records"
missing=$(comm -23 "$T_DIR/acked" "$T_DIR/records" | wc -l)
[ "$missing" -eq 0 ] && [ -s "$T_DIR/acked" ]
ok $? "every acknowledged audit record is there ($missing missing)"
actl --json audit --kind astream --limit 0 | jq -r '"\(.summary) \(.seq)"' |
    sort -u > "$T_DIR/arecords"
missing=$(comm -23 "$T_DIR/aacked" "$T_DIR/arecords" | wc -l)
[ "$missing" -eq 0 ] && [ -s "$T_DIR/aacked" ]
ok $? "every acknowledged audit_async record is there under the seq it was given ($missing missing)"
[ "$(cut -d' ' -f2 "$T_DIR/arecords" | sort -n | uniq -d | wc -l)" -eq 0 ]
ok $? "no two audit_async records share a seq"
actl audit verify > "$T_DIR/verify" 2>&1
ok $? "the audit chain verifies: $(cat "$T_DIR/verify")"
stop_agentd
ok $? "agentd stops"
done_testing

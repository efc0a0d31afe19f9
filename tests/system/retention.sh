#!/bin/sh
# Audit retention: records older than audit_retention move to dated
# archive files that verify on their own and as one chain with each
# other; the live trail keeps verifying from where the archive ends; a
# changed archive byte or a missing file is named; a bad setting is one
# line with file:line.
. "$top_srcdir/tests/lib.sh"

plan 13

BUS=$(plugin_copy "$TPLUGINS/bus.so")
conf agentd.conf <<EOF
agentd {
	audit_retention = "soon"
}
EOF
out=$("$AGENTD" --confdir "$T_DIR/conf" --check-config 2>&1)
rv=$?
[ $rv -eq 1 ] && one_line "$out" "a bad audit_retention is one line"
like "$out" "agentd.conf:2: .*audit_retention.*duration.*90d" \
    "it names file, line and the durations agentd understands"

conf agentd.conf <<EOF
agentd {
	audit_retention = 2s
	audit_archive_dir = "$T_DIR/archive"
}
EOF
conf front.conf <<EOF
agent "front" { plugin = "$BUS" }
EOF
start_agentd
wait_for 10 agent_ready front 1
ok $? "agentd starts with a 2 s audit retention"

decide() {
	actl call front "{\"audit\":{\"kind\":\"price.set\",\"summary\":\"$1\"}}" >/dev/null
}
decide "round one a"
decide "round one b"
wait_for 10 sh -c "ls '$T_DIR/archive' | grep -q '^audit-[0-9]\{8\}-1-[0-9]*\.mp$'"
ok $? "old records move to archive/audit-YYYYMMDD-FIRST-LAST.mp"
wait_for 10 sh -c "! '$AGENTCTL' --run-dir '$T_DIR/run' audit --kind price.set | grep -q 'round one'"
ok $? "and leave the live trail once older than the retention"
actl audit --kind audit.archive | grep -q "moved to $T_DIR/archive/audit-"
ok $? "the move is itself an audit record"

decide "round two"
wait_for 10 sh -c "[ \$(ls '$T_DIR/archive' | wc -l) -ge 2 ]"
decide "round three"
wait_for 10 sh -c "[ \$(ls '$T_DIR/archive' | wc -l) -ge 3 ]"
ok $? "a later run writes another file"

out=$(actl audit verify)
ok $? "the live trail verifies from where the archive ends ($out)"

files=$(ls "$T_DIR"/archive/*.mp)
out=$(actl audit verify $files)
ok $? "the archive files verify as one chain"
[ "$(printf '%s\n' "$out" | grep -c ': whole: records')" = "$(printf '%s\n' $files | wc -l)" ]
ok $? "each file is reported whole"

# Without the middle file the chain has a hole, and says which records.
set -- $(cd "$T_DIR/archive" && ls *.mp | sort -t- -k3 -n)
out=$(cd "$T_DIR/archive" && actl audit verify "$1" "$3")
[ $? -eq 1 ] && printf '%s' "$out" | grep -q 'are in no file given'
ok $? "a missing archive file is named as a gap"
[ -n "$out" ] && diag "$out"

cp "$(grep -l 'round one a' "$T_DIR"/archive/*.mp)" "$T_DIR/changed.mp"
sed -i 's/round one a/round one X/' "$T_DIR/changed.mp"
out=$(actl audit verify "$T_DIR/changed.mp")
[ $? -eq 1 ] && printf '%s' "$out" | grep -q 'BROKEN at record'
ok $? "a changed byte in an archive file is found ($out)"

stop_agentd
ok $? "agentd stops"
done_testing

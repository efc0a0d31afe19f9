#!/bin/sh
# host->state_batch_async (ABI 1.6) through a real agentd, with the sbatch
# test plugin: batches made in one callback call back in order, each all
# or nothing; one refused among them fails alone; with batches streaming,
# kill -9 of agentd: every callback runs before fini (0 or ECLOSED), and
# every batch acknowledged with 0 is in the state agentd reads on restart.
. "$top_srcdir/tests/lib.sh"

plan 12

SB=$(plugin_copy "$TPLUGINS/sbatch.so")
# The workers may run as another user: they reach out/ and write in it.
mkdir -p "$T_DIR/out" && chmod 0777 "$T_DIR/out" && chmod go+x "$T_DIR"
conf sbatch.conf <<EOF
agent "sbatch" {
	plugin = "$SB"
	paths { write = { "$T_DIR/out" } }
	settings { out_file = "$T_DIR/out/fini.txt" }
}
EOF

sb() { actl --json call sbatch "$1"; }
# A field of the last answer, through python3.
field() {
	printf '%s' "$out" | python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)$1))"
}

start_agentd
ok $? "agentd starts"
wait_for 10 agent_ready sbatch 1
ok $? "sbatch is ready"

out=$(sb '{"op":"go","n":50}')
[ "$(field "['called']")" = 50 ] && [ "$(field "['in_order']")" = true ] \
    && [ "$(field "['statuses']")" = "$(python3 -c 'print([0]*50)')" ]
ok $? "50 batches of one callback: 50 callbacks, in order, each 0 ($(field "['called']"))"
a=$(actl state get sbatch b/1/49/a) && b=$(actl state get sbatch b/1/49/b) \
    && l=$(actl state get sbatch last/1)
[ "$a" = 49 ] && [ "$b" = 49 ] && [ "$l" = 49 ]
ok $? "each batch's keys are written, the last batch's last/1 last ($a $b $l)"

out=$(sb '{"op":"go","n":5,"bad":2}')
[ "$(field "['refused']")" = "[2]" ] && [ "$(field "['called']")" = 4 ] \
    && [ "$(field "['statuses']")" = "[0, 0, 0, 0]" ]
ok $? "a batch with an empty key is refused (EINVAL) and its cb never runs; the 4 others commit"
! actl state get sbatch b/2/2/a >/dev/null 2>&1 \
    && [ "$(actl state get sbatch b/2/3/a)" = 3 ] \
    && [ "$(actl state get sbatch last/2)" = 4 ]
ok $? "...none of the refused batch is written, the others all are"

out=$(sb '{"op":"stream"}')
acked() { out=$(sb '{"op":"acked"}') && [ "$(field "")" -ge "$1" ]; }
wait_for 20 acked 2000
ok $? "a stream of batches is acknowledged ($(field ""))"
kill -KILL "$AGENTD_PID"
wait "$AGENTD_PID" 2>/dev/null
AGENTD_PID=
wait_for 20 workers_gone && [ -s "$T_DIR/out/fini.txt" ]
ok $? "kill -9 of agentd: the worker stops and its fini reports" \
    || grep sbatch "$T_DIR/agentd.log" | tail -5 | sed 's/^/# /'
q=$(sed -n 's/^queued //p' "$T_DIR/out/fini.txt")
c=$(sed -n 's/^called //p' "$T_DIR/out/fini.txt")
[ -n "$q" ] && [ "$q" = "$c" ] && ! grep -q ' none$' "$T_DIR/out/fini.txt"
ok $? "every batch queued had its callback before fini (queued $q, called $c)"
bad=$(grep -vE '^(queued|called) |^[0-9]+ (0|12)$' "$T_DIR/out/fini.txt" | head -3)
closed=$(grep -c ' 12$' "$T_DIR/out/fini.txt")
[ -n "$q" ] && [ -z "$bad" ]
ok $? "each was 0 or ECLOSED ($closed ECLOSED) $bad"

start_agentd
wait_for 10 agent_ready sbatch 1
ok $? "agentd starts again on the same state"
out=$(sb '{"op":"keys"}')
printf '%s' "$out" > "$T_DIR/keys.json"
missing=$(python3 - "$T_DIR/keys.json" "$T_DIR/out/fini.txt" <<'EOF'
import json, sys
have = set(json.load(open(sys.argv[1])))
acked = [int(l.split()[0]) for l in open(sys.argv[2])
         if l.split()[-1] == "0" and l[0].isdigit()]
gone = [s for s in acked if s not in have]
print(len(acked), len(gone), gone[:5])
EOF
)
case $missing in *" 0 []") r=0 ;; *) r=1 ;; esac
[ "$r" = 0 ]
ok $? "every batch acknowledged with 0 is in agentd's state (acked, missing: $missing)"
stop_agentd

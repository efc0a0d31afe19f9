#!/bin/sh
# Expiring state (host->state_put_ttl, agentctl state put KEY JSON TTL):
# a key is unreadable the moment its expiry passes (get, scan and
# agentctl alike), agentd's sweep then removes it from LMDB, agentctl
# state ls shows the time left, a put without a TTL takes the expiry
# away, and expiries survive a restart of agentd: what expired while it
# was down is gone, what did not keeps its time.
. "$top_srcdir/tests/lib.sh"

plan 14

FETCH=$(plugin_copy "$TPLUGINS/fetcher.so")
READER="$top_builddir/tests/tools/lmdb_reader"
conf ttl.conf <<EOF2
agent "conv" { plugin = "$FETCH" }
EOF2

call() { actl --json call conv "$1"; }
# expiries: the entries of the database of expiries, read from LMDB.
expiries() { "$READER" "$T_DIR/state/db" state_expiry; }
expiries_are() { [ "$(expiries)" = "$1" ]; }
gone() { call "{\"get\":\"$1\"}" | grep -q '"status":"ENOENT"'; }

start_agentd
wait_for 10 agent_ready conv 1
ok $? "agentd starts with the agent"

out=$(call '{"put_ttl":"short","val":"s","ttl_ms":400}')
like "$out" '"status":"OK"' "state_put_ttl answers OK once written"
call '{"put_ttl":"long","val":"l","ttl_ms":3600000}' >/dev/null
out=$(call '{"put_ttl":"zero","val":"z","ttl_ms":0}')
like "$out" '"status":"EINVAL"' "a TTL of 0 is EINVAL"
out=$(call '{"get":"short"}')
# Under valgrind the 400 ms may be gone already: then ENOENT is right.
like "$out" '"status":"(OK","val":"s"|ENOENT)' "the key reads back before its expiry"

wait_for 10 gone short
ok $? "once its expiry passed, get says ENOENT"
out=$(call '{"scan":""}')
like "$out" '"keys":\["long"\]' "...and the scan skips it"
wait_for 10 expiries_are 1
ok $? "agentd's sweep removes it from LMDB (one expiry left)"

like "$(actl state ls conv)" '^long	(1h0m|59m[0-9]+s)$' \
    "agentctl state ls shows the time left"
out=$(actl --json state ls conv)
printf '%s\n' "$out" | jq_true '.key == "long" and .ttl_ms > 3500000'
ok $? "...and --json says ttl_ms"

actl state put conv op '"x"' 1s && wait_for 10 sh -c \
    "! $AGENTCTL --run-dir $T_DIR/run state get conv op"
ok $? "agentctl state put with a TTL: the key expires"
err=$(actl state put conv op '"x"' soon 2>&1)
like "$err" 'TTL "soon" is not a duration' "a TTL that is no duration is refused"

actl state put conv plain '"p"' 1h && actl state put conv plain '"p"' &&
    [ "$(actl state ls conv pl)" = plain ]
ok $? "a put without a TTL takes the expiry away"

# Restart: one expires while agentd is down, one does not.
call '{"put_ttl":"brief","val":"b","ttl_ms":1000}' >/dev/null
stop_agentd
ok $? "agentd stops"
start_agentd
wait_for 10 agent_ready conv 1 && wait_for 10 gone brief &&
    wait_for 10 expiries_are 1 &&
    call '{"get":"long"}' | grep -q '"val":"l"' &&
    actl state ls conv lo | grep -Eq '^long	(1h0m|59m[0-9]+s)$'
ok $? "after a restart: the expired key is gone and swept, the hour-long one kept its time"

done_testing

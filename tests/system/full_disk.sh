#!/bin/sh
# A full disk is an error the caller sees, not a crash: agentd's state
# directory on a 4 MiB tmpfs; a plugin writes state until the disk is
# full.  The plugin gets an error answer, agentd keeps serving, what was
# written before is intact, and the audit chain verifies.  Needs root (a
# tmpfs mount); skipped otherwise.
. "$top_srcdir/tests/lib.sh"

plan 7

mkdir -p "$T_DIR/state"
if ! mount -t tmpfs -o size=4m tmpfs "$T_DIR/state" 2>/dev/null; then
	for i in 1 2 3 4 5 6 7; do echo "ok $i - # SKIP cannot mount a tmpfs (needs root)"; done
	exit 0
fi
trap 'umount -l "$T_DIR/state" 2>/dev/null; t_cleanup' EXIT

BUS=$(plugin_copy "$TPLUGINS/bus.so")
conf front.conf <<EOF
agent "front" { plugin = "$BUS" }
EOF
start_agentd
wait_for 10 agent_ready front 1
ok $? "agentd runs with its state on a 4 MiB file system"

big=$(head -c 100000 /dev/zero | tr '\0' 'x')
st() { actl --json call front "{\"state\":\"put\",\"key\":\"$1\",\"val\":\"$big\"}"; }
st first > "$T_DIR/first.out"
grep -q '"status":"ok"' "$T_DIR/first.out"
ok $? "a first 100 kB value is written"

status=ok
i=0
while [ "$status" = ok ] && [ "$i" -lt 100 ]; do
	i=$((i + 1))
	out=$(st "k$i")
	status=$(printf '%s' "$out" | sed -n 's/.*"status":"\([A-Z]*\|ok\)".*/\1/p')
done
[ "$status" = EIO ] || [ "$status" = ETOOBIG ]
ok $? "once the disk is full the plugin's write is answered $status (after $i writes)"
grep -q "state: writing a state key: .*the file system holding $T_DIR/state/db has [0-9]* KiB free: make room there" "$T_DIR/agentd.log"
ok $? "agentd logs why: the file system holding the state is full"
[ $? -eq 0 ] || grep -i "space\|state" "$T_DIR/agentd.log" | tail -3 | sed "s/^/# /"

actl status > /dev/null && kill -0 "$AGENTD_PID"
ok $? "agentd is still up and answering"
[ "$(actl --json call front '{"state":"get","key":"first"}' |
    jq -r '.value' | tr -d 'x\n' | wc -c)" -eq 0 ] &&
    [ "$(actl --json call front '{"state":"get","key":"first"}' |
    jq -r '.value | length')" -eq 100000 ]
ok $? "what was written before reads back whole"
actl audit verify > /dev/null
ok $? "the audit chain verifies"
stop_agentd > /dev/null
done_testing

#!/bin/sh
# agentd as its systemd unit runs it: a user of its own (not root) with
# only CAP_SETUID, CAP_SETGID and CAP_KILL, ambient.  Its workers still
# become the plugin user, and every thread of a worker ends with no
# capability and the plugin user's ids (capabilities belong to a thread:
# nng's threads must not keep what the worker started with).
. "$top_srcdir/tests/lib.sh"

plan 6

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	for i in 1 2 3 4 5 6; do
		ok 0 "# SKIP needs root and setpriv to run agentd as its unit does"
	done
	done_testing
	exit 0
fi

# The supervisor's own user, made like the plugin user (tests/lib.sh).
SV_USER=agentd-test-sv
t_user "$SV_USER"

ECHO=$(plugin_copy "$BPLUGINS/echo.so")
conf echo.conf <<EOF2
agent "echo" { plugin = "$ECHO" }
EOF2
# What systemd's StateDirectory= and RuntimeDirectory= would make.
chmod 0755 "$T_DIR" "$T_DIR/conf" "$T_DIR/plugins"
chmod 0644 "$T_DIR"/conf/*.conf
install -d -o "$SV_USER" -g "$SV_USER" -m 0700 "$T_DIR/state" "$T_DIR/run"

AGENTD_TEST_WRAP="setpriv --reuid=$SV_USER --regid=$SV_USER --init-groups
    --inh-caps=+setuid,+setgid,+kill --ambient-caps=+setuid,+setgid,+kill"
start_agentd
ok $? "agentd starts as $SV_USER with CAP_SETUID, CAP_SETGID and CAP_KILL"

out=$(actl --json call echo '{"x":1}')
like "$out" '"echo":{"x":1}' "the echo agent answers"

wpid=$(actl --json status | jq -r '.agents[0].instances[0].pid')
puid=$(id -u "$T_PLUGIN_USER")
[ "$(awk '/^Uid:/ { print $2 $3 $4 $5 }' "/proc/$wpid/status")" = \
    "$puid$puid$puid$puid" ]
ok $? "the worker runs as $T_PLUGIN_USER (real, effective, saved and filesystem uid)"

# Every thread: no capability, and the plugin user's ids.
bad=0
for t in /proc/"$wpid"/task/*; do
	c=$(awk '/^Cap(Eff|Prm|Amb):/ { printf "%s", $2 }' "$t/status")
	u=$(awk '/^Uid:/ { print $2 $3 $4 $5 }' "$t/status")
	[ "$c" = 000000000000000000000000000000000000000000000000 ] &&
	    [ "$u" = "$puid$puid$puid$puid" ] || bad=$((bad + 1))
done
[ "$bad" -eq 0 ]
ok $? "none of the worker's $(ls /proc/"$wpid"/task | wc -l) threads keeps a capability or another uid ($bad do)"

grep -q 'killed by signal' "$T_DIR/agentd.log"
[ $? -ne 0 ]
ok $? "no worker died on the way"
stop_agentd
ok $? "agentd stops cleanly"
done_testing

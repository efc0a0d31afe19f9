#!/bin/sh
# A plugin that floods agentd with malformed messages costs a few log
# lines a second, not one per message: each such warning goes through the
# one rate limiter (runtime/common/ratelimit.h), whose line names how many
# were held back.  The flooding worker speaks to publish.sock itself, as a
# hostile plugin would (tests/plugins/misbehave.c, flood = ...).
. "$top_srcdir/tests/lib.sh"

plan 10

MIS=$(plugin_copy "$TPLUGINS/misbehave.so")
conf agents.conf <<EOF2
agent "batches" {
	plugin = "$MIS"
	request_timeout = 30s
	settings { flood = "batch"  flood_ms = 2500  run_dir = "$T_DIR/run" }
}
agent "beats" {
	plugin = "$MIS"
	request_timeout = 30s
	settings { flood = "heartbeat"  flood_ms = 2500  run_dir = "$T_DIR/run" }
}
EOF2

start_agentd
ok $? "agentd starts"
wait_for 10 agent_ready batches && wait_for 10 agent_ready beats
ok $? "both flooders are ready"

# flood AGENT LINE: one request makes AGENT flood for 2.5 s; then at most
# one line a second (and the first), one of which tells the count.
flood() {
	sent=$(actl --json call "$1" '{}' | jq -r '.sent // 0')
	[ "${sent:-0}" -gt 1000 ]
	ok $? "$1 sent $sent malformed messages in 2.5 s"
	# The limiter's last count shows with the next line: one more, later.
	sleep 1.1
	actl call "$1" '{}' >/dev/null
	lines=$(grep -c "$2" "$T_DIR/agentd.log")
	[ "$lines" -ge 2 ] && [ "$lines" -le 8 ]
	ok $? "$1: $lines lines for about 5 s of flood (at most 8)"
	held=$(grep "$2" "$T_DIR/agentd.log" |
	    sed -n 's/.*(and \([0-9]*\) more like it in the last [0-9.]* s)$/\1/p' |
	    awk '{ n += $1 } END { print n + 0 }')
	[ "$held" -gt 1000 ]
	ok $? "$1: the lines name the $held held back"
}
flood batches "instance batches-1 sent a malformed event batch"
flood beats "instance beats-1 sent a malformed heartbeat"

agent_ready batches && agent_ready beats
ok $? "the flooders are still served (a malformed message is refused, not fatal)"
stop_agentd
ok $? "agentd stops cleanly"

done_testing

#!/bin/sh
# Restart policies (OTP's meanings): permanent restarts after any exit,
# transient only after an abnormal one, temporary never; the place of an
# instance not restarted stays empty.  And status shows an instance's
# memory as it grows.
. "$top_srcdir/tests/lib.sh"

plan 14

MIS=$(plugin_copy "$TPLUGINS/misbehave.so")
conf agents.conf <<EOF
agent "perm" {
	plugin = "$MIS"
	restart { policy = permanent  backoff_initial = 0ms }
	settings { exit_on = 1 }
}
agent "trans" {
	plugin = "$MIS"
	restart { policy = transient  backoff_initial = 0ms }
	settings { exit_on = 1 }
}
agent "transcrash" {
	plugin = "$MIS"
	restart { policy = transient  backoff_initial = 0ms }
	settings { crash_on = 1 }
}
agent "temp" {
	plugin = "$MIS"
	restart { policy = temporary }
	settings { crash_on = 1 }
}
agent "herd" {
	plugin = "$MIS"
	instances { min = 4 }
	restart { backoff_initial = 0ms  intensity = 2  period = 1m }
	settings { init_crash = true }
}
agent "leaky" {
	plugin = "$MIS"
	settings { leak_kb = 1024 }
}
EOF

field() { agent_field "$@"; }

start_agentd
wait_for 10 status_has '[.agents[] | select(.name != "herd") | .ready == 1] | all'
ok $? "every agent is ready"

# Each instance ends in its first request; the request goes to the
# replacement, which ends the same way: a request is tried 3 times.
for a in perm trans transcrash temp; do
	actl call "$a" '{}' >/dev/null 2>&1
done
wait_for 5 status_has '[.agents[] | select(.name == "perm" or .name == "transcrash") | .ready == 1] | all'

[ "$(field perm .restarts)" = 3 ] && [ "$(field perm .ready)" = 1 ]
ok $? "permanent: a clean exit (status 0) is restarted ($(field perm .restarts) restarts for 3 tries)"
[ "$(field trans .restarts)" = 0 ] && [ "$(field trans .desired)" = 0 ] && [ "$(field trans '.instances | length')" = 0 ]
ok $? "transient: a clean exit is not restarted, and its place stays empty"
[ "$(field transcrash .restarts)" = 3 ] && [ "$(field transcrash .ready)" = 1 ]
ok $? "transient: a crash (SIGABRT) is restarted ($(field transcrash .restarts) restarts)"
[ "$(field temp .restarts)" = 0 ] && [ "$(field temp .desired)" = 0 ] && [ "$(field temp '.instances | length')" = 0 ]
ok $? "temporary: even a crash is not restarted"
actl --json audit --agent temp --kind instance.exit | grep -q 'killed by signal 6'
ok $? "the exit is audited all the same"
out=$(actl call temp '{}' 2>&1)
[ $? -eq 1 ]
ok $? "a request for an agent with no instance is not answered by one: $out"
out=$(actl restart temp)
ok $? "agentctl restart temp: $out"
wait_for 10 status_has '.agents[] | select(.name == "temp") | .ready == 1'
ok $? "brings its instance back"

# -- one failure, one record -------------------------------------------------
wait_for 10 status_has '.agents[] | select(.name == "herd") | .state == "failed" and (.instances | length) == 0'
ok $? "4 instances crashing in init: the agent fails and none is left"
n=$(actl --json audit --agent herd --kind agent.failed | grep -c .)
[ "$n" = 1 ]
ok $? "the instances ending after the failure are not counted again: $n agent.failed record(s)"

# -- memory ------------------------------------------------------------------
before=$(field leaky '.instances[0].rss_kb')
i=0
while [ $i -lt 20 ]; do
	actl call leaky '{}' >/dev/null || break
	i=$((i + 1))
done
[ $i -eq 20 ]
ok $? "20 requests to an instance keeping 1 MiB each"
after=$(field leaky '.instances[0].rss_kb')
[ "$before" -gt 0 ] && [ $((after - before)) -ge 15000 ]
ok $? "its resident memory in status grew by about 20 MiB: $before -> $after KiB"
[ "$(field leaky '.instances[0].generation')" = 1 ] && [ "$(field leaky '.instances[0].uptime_ms')" -gt 0 ]
ok $? "status gives its generation and uptime"

done_testing

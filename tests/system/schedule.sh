#!/bin/sh
# Schedules (doc/configuration.md, schedule "NAME" { }): a bad one is
# refused with its file and line, at --check-config and at a reload that
# leaves the running agent as it was; an every = 1s schedule delivers
# schedule.NAME to its agent alone, with its body; status shows each
# schedule; a reload adds and removes them; after agentd was stopped past
# a due, missed = run makes exactly one missed run, missed = skip none.
. "$top_srcdir/tests/lib.sh"

plan 41

BUS=$(plugin_copy "$TPLUGINS/bus.so")

# check: agentd --check-config; sets rc and err (its stderr).
check() {
	"$AGENTD" --confdir "$T_DIR/conf" --state-dir "$T_DIR/state" \
	    --run-dir "$T_DIR/run" --check-config \
	    >"$T_DIR/check.out" 2>"$T_DIR/check.err"
	rc=$?
	err=$(cat "$T_DIR/check.err")
}

# ---- refused at --check-config, with file and line
conf a.conf <<EOF
agent "ticker" {
	plugin = "$BUS"
	schedule "nightly" {
		cron = "0 25 * * *"
	}
}
EOF
check
[ "$rc" -eq 1 ]
ok $? "a bad cron expression: --check-config exits 1 (got $rc)"
one_line "$err" "one line on stderr"
like "$err" "a\.conf:4: agent \"ticker\": schedule \"nightly\": cron \"0 25 \* \* \*\": hour 25 is out of range: use 0 to 23" \
    "it names the file, the line, the agent, the schedule, the field and the range"

conf a.conf <<EOF
agent "ticker" {
	plugin = "$BUS"
	schedule "nightly" {
		cron = "0 3 * * *"
		timezone = "Europe/Nowhere"
	}
}
EOF
check
like "$err" "a\.conf:5: agent \"ticker\": schedule \"nightly\": timezone \"Europe/Nowhere\": not in the tz database \(no zone file .*Europe/Nowhere\): check its spelling" \
    "an unknown zone, at its line"

conf a.conf <<EOF
agent "ticker" {
	plugin = "$BUS"
	schedule "ok" {
		every = 1s
	}
	schedule "both" {
		every = 1s
		cron = "* * * * *"
	}
}
EOF
check
like "$err" "a\.conf:6: agent \"ticker\": schedule \"both\": both every and cron: keep one of them" \
    "every and cron together, at the schedule's line"

conf a.conf <<EOF
agent "ticker" {
	plugin = "$BUS"
	schedule "x" {
		every = 1s
		body = "[1]"
	}
}
EOF
check
like "$err" "a\.conf:5: agent \"ticker\": schedule \"x\": body \"\[1\]\": not a JSON object" \
    "a body that is not an object, at its line"

# ---- delivered to its agent alone
conf g.conf <<EOF
agentd { http { listen = "127.0.0.1:0" } }
EOF
conf a.conf <<EOF
agent "ticker" {
	plugin = "$BUS"
	schedule "tick" {
		every = 1s
		body = "{\"n\": 7}"
	}
}
agent "late" {
	plugin = "$BUS"
	schedule "beat" {
		every = 2s
		missed = run
	}
}
agent "other" {
	plugin = "$BUS"
	subscribe = { "*" }
}
agent "idle" {
	plugin = "$BUS"
	instances { min = 0 }
	schedule "wake" {
		every = 1s
	}
}
EOF
check
ok $rc "the schedules pass --check-config"

received() { actl --json call "$1" '{"events":true}' | jq -r .received; }
events() { actl --json call "$1" '{"events":true}'; }
at_least() { [ "$(received "$1")" -ge "$2" ]; }

start_agentd
ok $? "agentd starts"
for a in ticker late other; do
	wait_for 10 agent_ready "$a" 1 || diag "$a not ready"
done
wait_for 10 at_least ticker 2
ok $? "every = 1s: the agent receives runs"
events ticker | jq_true '.last_topic == "schedule.tick"
    and .last.schedule == "tick" and .last.missed == false
    and .last.n == 7 and (.last.due | type) == "number"'
ok $? "on topic schedule.tick, with schedule, due, missed and its body"
events ticker | jq_true '(.last.due - .first.due) % 1000 == 0
    and .last.due > .first.due'
ok $? "dues one period apart, on the grid"
[ "$(received other)" = 0 ]
ok $? "an agent subscribed to every topic receives none of them"
wait_for 10 agent_ready idle 1
ok $? "instances { min = 0 }: a due starts an instance"
wait_for 10 at_least idle 1
events idle | jq_true '.first.schedule == "wake"'
ok $? "which receives the run"

status_has '.agents[] | select(.name == "ticker") | .schedules[0]
    | .name == "tick" and .spec == "every 1s" and .missed == "skip"
    and .timezone == null and .runs >= 2
    and .next_due_ms > .last_due_ms'
ok $? "status --json: name, spec, missed, next and last due, runs"
actl status | grep -Eq '^  schedule tick +every 1s  next [0-9-]+ [0-9:]+Z  last [0-9-]+ [0-9:]+Z  runs [0-9]+'
ok $? "status shows it as text"
actl status | grep -q '^  schedule beat .*every 2s'
ok $? "each agent's own"
if command -v curl >/dev/null; then
	wait_for 10 test -s "$T_DIR/run/http.addr"
	VIEW=$(actl token create viewer1 --role viewer)
	curl -s -H "Authorization: Bearer $VIEW" \
	    "http://$(cat "$T_DIR/run/http.addr")/v1/status" |
	    jq_true '.agents[] | select(.name == "ticker") | .schedules[0]
	        | .name == "tick" and .spec == "every 1s"
	        and (.next_due_ms | type) == "number"'
	ok $? "GET /v1/status shows them too"
	curl -s -H "Authorization: Bearer $VIEW" \
	    "http://$(cat "$T_DIR/run/http.addr")/metrics" >"$T_DIR/metrics"
	grep -Eq '^agentd_schedule_runs_total\{agent="ticker",schedule="tick"\} [1-9]' "$T_DIR/metrics" &&
	    grep -q '^agentd_schedule_missed_total{agent="late",schedule="beat",outcome="run"} 0$' "$T_DIR/metrics" &&
	    grep -Eq '^agentd_schedule_next_due_seconds\{agent="ticker",schedule="tick"\} [01]\.[0-9]{3}$' "$T_DIR/metrics"
	ok $? "/metrics counts their runs and says when each is next due"
else
	ok 0 "GET /v1/status # SKIP no curl"
	ok 0 "/metrics # SKIP no curl"
fi

# ---- a bad reload changes nothing; a good one adds and removes
conf a.conf <<EOF
agent "ticker" {
	plugin = "$BUS"
	schedule "tick" {
		every = 1s
		cron = "*/61 * * * *"
	}
}
agent "late" {
	plugin = "$BUS"
	schedule "beat" {
		every = 2s
		missed = run
	}
}
agent "other" {
	plugin = "$BUS"
	subscribe = { "*" }
}
EOF
out=$(actl reload 2>&1)
like "$out" 'a\.conf:5: agent "ticker": schedule "tick": cron "\*/61 \* \* \* \*": minute step in "\*/61" is not a number from 1 to 59' \
    "a reload with a bad cron: refused, with file and line"
n=$(received ticker)
wait_for 10 at_least ticker $((n + 1))
ok $? "the running schedule goes on"

conf a.conf <<EOF
agent "ticker" {
	plugin = "$BUS"
	schedule "tock" {
		every = 1s
	}
}
agent "late" {
	plugin = "$BUS"
	schedule "beat" {
		every = 2s
		missed = run
	}
}
agent "other" {
	plugin = "$BUS"
	subscribe = { "*" }
}
EOF
out=$(actl reload 2>&1)
ok $? "a reload that renames the schedule"
tock() { events ticker | jq_true '.last_topic == "schedule.tock"'; }
wait_for 15 tock
ok $? "the new generation receives the new schedule"
status_has '[.agents[] | select(.name == "ticker") | .schedules[].name]
    == ["tock"]'
ok $? "status shows the new one, not the old one"
status_has '.agents[] | select(.name == "late") | .schedules[0].runs >= 1'
ok $? "an agent the reload left alone keeps its schedule and counts"

# ---- missed runs across a restart
late_last=$(agent_field late '.schedules[0].last_due_ms')
late_next=$(agent_field late '.schedules[0].next_due_ms')
[ "$late_next" -gt "$late_last" ]
ok $? "late has run and has a next due"
stop_agentd
ok $? "agentd stops"
now_ms() { date +%s%3N; }
past() { [ "$(now_ms)" -gt "$1" ]; }
# Two of its dues pass while agentd is down.
wait_for 15 past $((late_next + 2000 + 200))
ok $? "two dues of every = 2s passed while agentd was down"

start_agentd
ok $? "agentd starts again"
wait_for 10 at_least late 1
ok $? "late receives a run"
events late | jq_true '.first.schedule == "beat" and .first.missed == true
    and .first.due >= '"$late_next"
ok $? "its first run after the restart is the missed one, for a due passed while down"
status_has '.agents[] | select(.name == "late") | .schedules[0]
    | .missed_runs == 1 and .skipped == 0'
ok $? "exactly one missed run (missed = run)"
wait_for 10 at_least late 2
events late | jq_true '.last.missed == false'
ok $? "then runs on time again"
status_has '.agents[] | select(.name == "late") | .schedules[0].missed_runs == 1'
ok $? "and still only one missed run"
grep -q 'agent late: schedule beat: runs due since .* were missed .*: run once now (missed = run)' "$T_DIR/agentd.log"
ok $? "the missed run is logged"
actl --json audit --kind agent.schedule --agent late | grep -q 'schedule beat: runs due since .* were missed: run once (missed = run)'
ok $? "and audited (agent.schedule)"
wait_for 10 at_least ticker 1
events ticker | jq_true '.first.missed == false'
ok $? "missed = skip: no missed run, the first is on time"
status_has '.agents[] | select(.name == "ticker") | .schedules[0]
    | .skipped == 1 and .missed_runs == 0'
ok $? "and the skip is counted"
grep -q 'agent ticker: schedule tock: .*skipped (missed = skip)' "$T_DIR/agentd.log"
ok $? "and logged"
[ "$(received other)" = 0 ]
ok $? "still nothing for the other agent"

stop_agentd
ok $? "agentd stops cleanly"
done_testing

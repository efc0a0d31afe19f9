#!/bin/sh
# The deploy-crew example (doc/examples.md) end to end: the shipped
# configuration (conf.d/examples/deploy-crew, made runnable here by its
# mkconf.sh) in a real agentd.  The flow agent runs deploy.flow: plan,
# build, test and review, each phase its own exec agent running the
# sample project's real make targets (as the plugin user when the suite
# runs as root); a failed test goes back to build, a second failure in
# the same run escalates to the ops webhook, and a third ends the run at
# build's max_iterations.  The webhooks are tests/tools/fakehook.py; the
# status channel's messages are the flow agent's own events turned into
# messages by notify.
. "$top_srcdir/tests/lib.sh"
AGENTD_TEST_LIMIT=180

command -v jq >/dev/null || { echo "1..0 # SKIP no jq"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP no python3"; exit 0; }
[ -x /usr/bin/make ] || { echo "1..0 # SKIP no /usr/bin/make"; exit 0; }

plan 26

HOOK_PID=
trap '[ -n "$HOOK_PID" ] && kill "$HOOK_PID" 2>/dev/null; t_cleanup' EXIT
python3 "$top_srcdir/tests/tools/fakehook.py" --port-file "$T_DIR/hook.port" \
    --log "$T_DIR/hook.log" --limit "$(slow 180)" >/dev/null 2>>"$T_DIR/hook.err" &
HOOK_PID=$!
wait_for 10 test -s "$T_DIR/hook.port" ||
    { echo "Bail out! fakehook.py did not start"; cat "$T_DIR/hook.err"; exit 1; }

EX=$T_DIR/crew
sh "$top_srcdir/contrib/examples/deploy-crew/mkconf.sh" \
    "$top_srcdir/conf.d/examples/deploy-crew" "$EX" \
    "http://127.0.0.1:$(cat "$T_DIR/hook.port")/hook/crew"
chmod 0711 "$T_DIR"
# The phases write into the sample project: as root they run as the
# plugin user, who must own it.
[ "$(id -u)" -eq 0 ] && chown -R "$T_PLUGIN_USER" "$EX/app"
cp "$EX"/conf/*.conf "$T_DIR/conf/"
start_agentd --plugin-dir "$BPLUGINS"
for a in flow notify planner builder tester reviewer; do
	wait_for 20 agent_ready "$a" || { diag "agent $a is not ready"; false; } || break
done
ok $? "agentd runs the example's configuration (flow, notify and the four phases)"

# start KEY FAILURES: the sample's next FAILURES test runs fail; a run
# of deploy, its id printed.
start() {
	printf '%s\n' "$2" > "$EX/app/failures"
	[ "$(id -u)" -eq 0 ] && chown "$T_PLUGIN_USER" "$EX/app/failures"
	actl --json call flow "{\"op\":\"start\",\"workflow\":\"deploy\",\"key\":\"$1\"}" |
	    jq -r .run
}
field() { actl --json call flow "{\"op\":\"status\",\"run\":\"$1\"}" | jq -r "$2"; }
run_is() { [ "$(field "$1" .state)" = "$2" ]; }
steps() { field "$1" '[.steps[].step] | join(" ")'; }
# What a webhook got: the texts posted to /hook/crew/CHANNEL.
posted() {
	jq -r --arg p "/hook/crew/$1" 'select(.path == $p) | .body | fromjson | .text' \
	    "$T_DIR/hook.log" 2>/dev/null
}
posted_has() { posted "$1" | grep -qF -- "$2"; }
# The exec.run records, one array.
exec_runs() {
	actl --json audit --kind exec.run --limit 1000 |
	    jq -s 'map(if type == "array" then .[] else . end)'
}

# ---- 1. the tests fail once: test -> build -> test, then done -----------------
r1=$(start release-1 1)
[ -n "$r1" ] && [ "$r1" != null ]
ok $? "a run of deploy starts ($r1)"
wait_for 60 run_is "$r1" done
ok $? "it ends done (error: $(field "$r1" .error))"
[ "$(steps "$r1")" = "plan build test feedback build test review" ]
ok $? "the phases ran plan, build, test, back to build once, test, review ($(steps "$r1"))"
[ "$(field "$r1" '[.steps[] | select(.step == "test") | .output.exit] | join(",")')" = "2,0" ]
ok $? "make test failed the first time (exit 2) and passed the second"
like "$(field "$r1" '[.steps[] | select(.step == "test")][0].output.stderr')" \
    'FAIL greet: expected "hello, crew", got "helo, crew"' \
    "the first test's record holds the test's own failure line"
like "$(field "$r1" .outputs.review.stdout)" '^review: build 2 passed its tests' \
    "review passed the second build, the tested one"
like "$(field "$r1" .outputs.plan.stdout | tr '\n' ' ')" 'build\.sh .*test\.sh .*review\.sh' \
    "plan (make -n) listed what build, test and review run"
[ "$(cat "$EX/app/build.number")" = 2 ] && [ "$(cat "$EX/app/tested")" = 2 ]
ok $? "the sample project was built twice and build 2 tested, by the phases' make"

# Status events: the flow agent's transitions, notify's messages.
wait_for 20 posted_has status "deploy $r1: done"
ok $? "the status webhook got the run's end"
for m in "deploy $r1: started" "deploy $r1: plan done (iteration 1)" \
    "deploy $r1: build done (iteration 2)" "deploy $r1: test done (iteration 2)" \
    "deploy $r1: review done (iteration 1)" "phase test failed (exit 2): building again"; do
	posted_has status "$m" || { diag "no status message \"$m\""; false; } || break
done
ok $? "and one message per step and the loop's feedback"
[ "$(posted status | grep -c "^deploy $r1: ")" -eq 9 ]
ok $? "status: started, 7 steps done, done: 9 messages for the run ($(posted status | grep -c "^deploy $r1: "))"
[ "$(posted ops | grep -c .)" -eq 0 ]
ok $? "one failure escalates nothing (ops got no message)"

# Each phase's run in the audit trail: the run record's outputs are the
# exec agents' audited runs (tool, exit, SHA-256 of stdout).
from_run=$(actl --json call flow "{\"op\":\"status\",\"run\":\"$r1\"}" |
    jq -c '[.steps[] | select(.output.tool) | .output] | map({tool, exit,
        h: .stdout}) | sort_by(.tool, .exit, .h)')
want=$(printf '%s' "$from_run" | jq -c '.[]' | while read -r e; do
	h=$(printf '%s' "$e" | jq -j .h | sha256sum | cut -d' ' -f1)
	printf '%s' "$e" | jq -c --arg h "$h" '.h = $h'
done | jq -sc 'sort_by(.tool, .exit, .h)')
audited() {
	got=$(exec_runs | jq -c 'map(.detail | select(.caller == "flow") |
	    {tool, exit, h: .stdout_sha256}) | sort_by(.tool, .exit, .h)')
	[ "$got" = "$want" ]
}
[ "$(printf '%s' "$want" | jq length)" -eq 6 ] && wait_for 10 audited ||
    { diag "run: $want"; diag "audit: $got"; false; }
ok $? "the six phase runs are audited (exec.run: tool, caller flow, exit, stdout's SHA-256)"
for t in plan build test review; do
	actl --json audit --kind exec.run --limit 100 |
	    jq -s 'map(if type == "array" then .[] else . end)' |
	    jq_true "map(select(.detail.tool == \"$t\"))[0].agent == \"$(
	        case $t in plan) echo planner ;; build) echo builder ;;
	        test) echo tester ;; review) echo reviewer ;; esac)\"" ||
	    { diag "tool $t not run by its phase's agent"; false; } || break
done
ok $? "each tool ran in its own phase's agent (plan: planner, build: builder, ...)"

# ---- 2. the tests fail twice: the second failure escalates, once --------------
r2=$(start release-2 2)
wait_for 60 run_is "$r2" done
ok $? "a run whose tests fail twice ends done ($r2)"
[ "$(steps "$r2")" = "plan build test feedback build test escalate build test review" ]
ok $? "test -> build, then test -> escalate -> build, then test passed ($(steps "$r2"))"
wait_for 20 posted_has status "deploy $r2: done"
[ "$(posted ops | grep -c '^deploy-crew: escalation')" -eq 1 ]
ok $? "the ops webhook got exactly one escalation"
esc=$(posted ops)
like "$esc" 'phase test failed twice \(exit 2\)' "naming the phase and make's exit"
like "$esc" 'FAIL greet: expected "hello, crew", got "helo, crew"' \
    "and the reason: the test's failure line"
[ "$(field "$r2" .outputs.escalate.sent)" = true ]
ok $? "notify answered the escalation sent"

# ---- 3. the tests keep failing: bounded by build's max_iterations -------------
r3=$(start release-3 9)
wait_for 60 run_is "$r3" failed
ok $? "a run whose tests never pass fails ($r3)"
like "$(field "$r3" .error)" 'step "build" reached max_iterations \(3\)' \
    "at build's max_iterations (3)"
wait_for 20 posted_has ops "deploy $r3 failed at build"
ok $? "its failure reached the ops webhook (the flow agent's flow.run.failed event)"
wait_for 20 posted_has status "deploy $r3: escalate done (iteration 2)"
[ "$(posted ops | grep -c '^deploy-crew: escalation')" -eq 3 ] &&
    [ "$(posted ops | grep -c '^deploy-crew: run failed')" -eq 1 ] &&
    [ "$(cat "$EX/app/failures")" = 6 ]
ok $? "after escalating its second and third failures; the tests ran three times, no more"

kill -0 "$AGENTD_PID"
ok $? "agentd is still running"
done_testing

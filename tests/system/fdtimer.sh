#!/bin/sh
# host->watch_fd, timer_start and timer_cancel (ABI 1.5) in a real worker,
# with tests/plugins/fdtimer.c: a request answered once data came through
# a pipe the plugin watches, written from its own timer; a periodic timer
# that ticks at its period, never sooner; a cancelled timer that never
# runs; the error codes of bad calls; an instance waiting 3 s on a timer
# with health { hung_after = 1s } that still serves other requests and is
# not killed as hung; and, stopping, the three calls in fini answered
# AGENTD_ECLOSED.
. "$top_srcdir/tests/lib.sh"

plan 19

command -v jq >/dev/null || { echo "1..0 # SKIP jq missing"; exit 0; }

FDT=$(plugin_copy "$TPLUGINS/fdtimer.so")
SHARED=$(plugin_dir shared)

conf fdtimer.conf <<EOF2
agent "fdt" {
	plugin = "$FDT"
	instances { concurrency = 8 }
	health { heartbeat = 250ms hung_after = 1s drain_timeout = 1s }
	paths { write = { "$SHARED" } }
	settings { fini_file = "$SHARED/fini" }
}
EOF2

call() { actl --json call fdt "$1"; }
num() { printf '%s' "$1" | jq -r "$2"; }

start_agentd
ok $? "agentd starts"
wait_for 10 agent_ready fdt 1
ok $? "the instance is ready"
PID0=$(agent_field fdt '.instances[0].pid')

# 1. A pipe: the timer writes 300 ms later, the watch answers.
out=$(call '{"pipe":"through-the-pipe","delay_ms":300}')
like "$out" '"got":"through-the-pipe"' "the request is answered with what came through the pipe"
w=$(num "$out" '.waited_ms // 0')
[ "$w" -ge 300 ]
ok $? "...once the timer wrote it, $w ms later (300 asked)"

# 2. Bad calls: one code each, as agent.h says.
out=$(call '{"errors":true}')
like "$out" '"watch_negative":"EINVAL","watch_no_cb":"EINVAL","unwatch_unknown":"ENOENT","timer_too_long":"EINVAL","cancel_unknown":"ENOENT"' \
    "bad calls: EINVAL, EINVAL, ENOENT, EINVAL, ENOENT"

# 3. A periodic timer of 100 ms, and a timer of 200 ms cancelled at once.
out=$(call '{"tick_every":100}')
like "$out" '"id":[1-9]' "a periodic timer starts, with an id"
out=$(call '{"cancel_in_ms":200}')
like "$out" '"cancel":"OK"' "a timer started and cancelled"
n0=$(num "$(call '{"ticks":true}')" .ticks)
# Three more ticks are 300 ms more: the cancelled timer was due by then.
ticks_past() { [ "$(num "$(call '{"ticks":true}')" .ticks)" -ge "$1" ]; }
wait_for 10 ticks_past $((n0 + 3))
ok $? "the periodic timer ticks ($n0, then 3 more)"
out=$(call '{"ticks":true}')
n=$(num "$out" .ticks)
last=$(num "$out" .last_ms)
[ "$last" -ge $((n * 100)) ]
ok $? "...never before its time: tick $n came $last ms after the start"
like "$out" '"cancelled_ran":0' "the cancelled timer never ran"

# 4. A request waiting 3 s on a timer: the instance serves meanwhile and
# is not hung (hung_after 1 s): waiting is not time in a callback.
call '{"wait_ms":3000}' >"$T_DIR/wait.out" &
WAIT=$!
pongs=0
while kill -0 "$WAIT" 2>/dev/null; do
	call '{"ping":true}' | grep -q '"pong":1' && pongs=$((pongs + 1))
	sleep 0.2
done
wait "$WAIT"
w=$(num "$(cat "$T_DIR/wait.out")" '.waited_ms // 0')
[ "$w" -ge 3000 ]
ok $? "the request waiting on a timer is answered after $w ms"
[ "$pongs" -ge 3 ]
ok $? "...and $pongs other requests were answered meanwhile"
[ "$(agent_field fdt '.instances[0].pid')" = "$PID0" ] &&
    ! grep -q 'fdt.*hung' "$T_DIR/agentd.log"
ok $? "the instance was not killed as hung (hung_after 1 s)"

# 5. Watches changed inside a turn: both pipes were ready, the first's
# callback ended the second's watch, closed it and watched a new pipe,
# which got the same number: neither is called with the readiness polled
# for the old one.
out=$(call '{"same_turn":true}')
like "$out" '"b_calls":0,"c_empty":0' "a watch ended in a turn is not called in it, nor a new one on its number"
diag "the new pipe had the old one's number: $(num "$out" .reused)"

# 6. A descriptor the plugin closed without ending its watch: its callback
# hears AGENTD_FD_ERROR, and the worker says what to do, at most once a
# second, while the instance goes on.
out=$(call '{"closed_watch":true}')
like "$out" '"errors":[1-9]' "a watched fd closed under its watch: the callback is told AGENTD_FD_ERROR"
grep -q 'fdt/.*watched fd [0-9]* is not open: the plugin must end a watch' "$T_DIR/agentd.log"
ok $? "...and the worker's log says which fd and what to do"

# 7. The loop's pace: a byte through a pipe 10000 times, each from the
# last one's callback; a 0 ms timer started again 10000 times.
out=$(call '{"pingpong":10000}')
like "$out" '"rounds":10000' "10000 rounds through a pipe, one per turn"
diag "pipe rounds: 10000 in $(num "$out" .ms) ms"
out=$(call '{"spin":10000}')
like "$out" '"turns":10000' "a 0 ms timer started again 10000 times: one per turn"
diag "0 ms timers: 10000 in $(num "$out" .ms) ms"

# 8. Stopping: watches and timers end before fini, and fini's calls are
# refused.
stop_agentd
wait_for 10 test -s "$SHARED/fini"
like "$(cat "$SHARED/fini" 2>/dev/null)" '^watch ECLOSED start ECLOSED cancel ECLOSED$' \
    "in fini, watch_fd, timer_start and timer_cancel are ECLOSED"

done_testing

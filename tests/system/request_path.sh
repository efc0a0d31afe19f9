#!/bin/sh
# The first request path, end to end: agentctl -> agentd -> a worker
# process running the echo plugin -> back; the worker's pid is the one
# `agentctl status` shows; killing it does not take agentd down, and a new
# instance answers afterwards; SIGTERM stops everything cleanly.
. "$top_srcdir/tests/lib.sh"

plan 20

ECHO=$(plugin_copy "$BPLUGINS/echo.so")
conf echo.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
	restart { backoff_initial = 50ms }
}
EOF

start_agentd
ok $? "agentd starts and answers on its control socket"
wait_for 10 agent_ready echo 1
ok $? "the echo agent has one ready instance"

status=$(actl status)
like "$status" "echo-1 +pid [0-9]+ +ready" "status lists instance echo-1 as ready, with its pid"
wpid=$(printf '%s\n' "$status" | sed -n 's/.*echo-1 *pid \([0-9]*\).*/\1/p')

reply=$(actl call echo '{"hello":"world"}')
ok $? "agentctl call echo succeeds"
like "$reply" '"hello": "world"' "the reply carries the request body"
like "$reply" '"instance": "echo-1"' "the reply names the instance that answered"
rpid=$(printf '%s' "$reply" | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
[ -n "$rpid" ] && [ "$rpid" = "$wpid" ]
ok $? "the answering pid ($rpid) is the one status shows ($wpid)"
[ "$rpid" != "$AGENTD_PID" ] && tr '\0' ' ' < "/proc/$rpid/cmdline" | grep -q agentd-worker
ok $? "the answer came from an agentd-worker process, not the supervisor"

json=$(actl --json call echo '[1, 2.5, true, null, "x"]')
like "$json" '^\{"echo":\[1,2\.5,true,null,"x"\],"instance":"echo-1","pid":[0-9]+\}$' \
    "--json prints the reply compactly, every JSON type preserved"

[ "$(stat -c %a "$T_DIR/run/control.sock")" = 600 ] &&
    [ "$(stat -c %a "$T_DIR/run/echo-1.sock")" = 600 ]
ok $? "the control and instance sockets are created mode 0600"

# Identity: a process agentd did not spawn dials the instance socket.  If
# agentd accepted it, the instance channel would hand it calls below.
# The calls start once agentd has refused it (or, if agentd let it in, a
# bounded wait later, while the intruder still listens).
"$top_builddir/tests/tools/intruder" "ipc://$T_DIR/run/echo-1.sock" \
    "$(slow 1500)" &
intruder=$!
wait_for 1 grep -q "refused a connection to echo-1 from pid $intruder" \
    "$T_DIR/agentd.log"
all_from_worker=0
for i in 1 2 3 4 5 6; do
	actl --json call echo '{}' | grep -q "\"pid\":$wpid}" || all_from_worker=1
done
ok $all_from_worker "every call is answered by the spawned worker"
wait $intruder
ok $? "the intruder was never handed a request"
grep -q "refused a connection to echo-1 from pid $intruder" "$T_DIR/agentd.log"
ok $? "agentd logs the refused connection with the intruder's pid"

kill -KILL "$wpid"
wait_for 10 sh -c "! kill -0 $wpid 2>/dev/null"
kill -0 "$AGENTD_PID"
ok $? "killing the worker does not take agentd down"
wait_for 10 agent_ready echo 1
ok $? "a new instance becomes ready"
reply=$(actl call echo '{"again":1}')
ok $? "calls succeed after the crash"
like "$reply" '"instance": "echo-2"' "the replacement instance answers"
like "$(actl status)" "echo .* 1  running$" "status counts one restart"

stop_agentd
ok $? "SIGTERM stops agentd with exit status 0"
! pgrep -f "agentd-worker.*$T_DIR" >/dev/null && [ ! -e "$T_DIR/run/control.sock" ]
ok $? "no worker is left and the control socket is removed"

done_testing

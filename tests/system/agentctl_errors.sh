#!/bin/sh
# Mistakes made with agentctl, and requests that go wrong inside an agent:
# each ends with the documented exit status and one line saying what
# happened, and none of it touches what was already running (echo keeps
# its worker).  A request that crashes every instance that takes it is
# answered EFAILED after a bounded number of tries; its agent comes back.
. "$top_srcdir/tests/lib.sh"

plan 58

ECHO=$(plugin_copy "$BPLUGINS/echo.so")
TYPED=$(plugin_copy "$TPLUGINS/typed.so")
conf agentd.conf <<EOF
agentd {
	max_message_size = 4096
}
EOF
conf echo.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
}
EOF
conf typed.conf <<EOF
agent "typed" {
	plugin = "$TYPED"
	restart { backoff_initial = 50ms backoff_max = 200ms }
	settings {
		limit = 3
	}
}
EOF

# run CMD...: sets rc, out (stdout) and err (stderr).
run() {
	"$@" >"$T_DIR/run.out" 2>"$T_DIR/run.err"
	rc=$?
	out=$(cat "$T_DIR/run.out")
	err=$(cat "$T_DIR/run.err")
}

# exits N WHAT: the last run exited with status N.
exits() {
	[ "$rc" -eq "$1" ]
	ok $? "$2: exit status $1 (got $rc)"
}

# Pid of instance $1, from `agentctl status --json`.
inst_pid() {
	actl --json status | grep -o "\"id\":\"$1\",\"pid\":[0-9]*" |
	    cut -d: -f3
}

# Restarts counted for agent $1.
restarts() { agent_field "$1" .restarts; }

# The reply's "pid" member (pretty-printed output).
reply_pid() { printf '%s' "$1" | sed -n 's/.*"pid": \([0-9]*\).*/\1/p'; }

start_agentd
ok $? "agentd starts with echo and typed"
wait_for 10 agent_ready echo 1 && wait_for 10 agent_ready typed 1
ok $? "echo and typed each have one ready instance"
epid=$(inst_pid echo-1)
tpid=$(inst_pid typed-1)
[ -n "$epid" ] && [ -n "$tpid" ]
ok $? "their workers have pids (echo-1 $epid, typed-1 $tpid)"

# Another user: "Permission denied" says who may use the sockets, not that
# agentd is not running (control.sock for status, tail.sock for tail).
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	for cmd in status tail; do
		run timeout "$(slow 10)" setpriv --reuid=nobody --regid=nogroup \
		    --clear-groups "$AGENTCTL" --run-dir "$T_DIR/run" $cmd
		[ "$rc" -eq 3 ] && one_line_ok=1 || one_line_ok=0
		printf '%s' "$err" | grep -q 'Permission denied: only root.* may use its sockets: run agentctl as root or as that user' &&
		    ! printf '%s' "$err" | grep -q 'not running' &&
		    [ "$one_line_ok" -eq 1 ] && [ "$(printf '%s\n' "$err" | grep -c .)" -eq 1 ]
		ok $? "$cmd as another user: exit 3, one line saying to run as root or agentd's user (got $rc: $err)"
	done
else
	echo "ok $((T_N + 1)) - status as another user # SKIP needs root and setpriv"
	echo "ok $((T_N + 2)) - tail as another user # SKIP needs root and setpriv"
	T_N=$((T_N + 2))
fi

# --json status: one line of JSON, naming both agents.
run actl --json status
exits 0 "--json status"
one_line "$out" "--json status is one line"
like "$out" '^\{"pid":[0-9]+,.*"agents":\[\{"name":"echo",.*\{"name":"typed",.*\]\}$' \
    "--json status is a JSON object listing echo and typed"

# Help: exit 0 and usage on stdout.
run actl status --help
exits 0 "status --help"
like "$out" '^usage: agentctl status' "status --help prints its usage"
run actl call --help
exits 0 "call --help"
like "$out" '^usage: agentctl call \[--timeout DURATION\] AGENT JSON' \
    "call --help prints its usage"

# An agent that does not exist.
run actl call nosuch '{}'
exits 1 "call nosuch"
one_line "$err" "call nosuch: one line"
like "$err" '^agentctl: no agent named "nosuch": `agentctl status` lists them' \
    "call nosuch: names the agent and where to look"

# A body that is not JSON never reaches agentd.
run actl call echo '{"a": '
exits 2 "body not JSON"
one_line "$err" "body not JSON: one line"
like "$err" '^agentctl: the body is not valid JSON: line 1 column [0-9]+' \
    "body not JSON: says so, with the position"

# Usage mistakes: exit 2.
run actl frob
exits 2 "unknown command"
like "$(printf '%s\n' "$err" | head -n 1)" '^agentctl: unknown command "frob"' \
    "unknown command: the first line names it"
run actl call --timeout soon echo '{}'
exits 2 "bad --timeout"
one_line "$err" "bad --timeout: one line"
like "$err" 'bad --timeout "soon": use 250ms, 5s or 1m' \
    "bad --timeout: names the value and the format"
run actl call echo
exits 2 "call without a body"

# No agentd behind the run folder: exit 3.
run "$AGENTCTL" --run-dir /nonexistent status
exits 3 "--run-dir /nonexistent"
one_line "$err" "--run-dir /nonexistent: one line"
like "$err" '^agentctl: cannot reach agentd at .*/nonexistent/control\.sock: .*is agentd running' \
    "--run-dir /nonexistent: says agentd cannot be reached, and where it looked"

# The plugin fails a request: the code's stable name, in --json too.
run actl call typed '{"fail":4}'
exits 1 "plugin returns ENOENT"
one_line "$err" "plugin returns ENOENT: one line"
like "$err" '\(ENOENT\)$' "plugin returns ENOENT: the line ends with the code's name"
run actl --json call typed '{"fail":4}'
exits 1 "--json, plugin returns ENOENT"
like "$out" '^\{"error":"[^"]+","code":"ENOENT","status":4\}$' \
    "--json, plugin returns ENOENT: {\"code\":\"ENOENT\"...} on stdout"

# A request past its deadline.
run actl call --timeout 300ms typed '{"sleep_ms":2000}'
exits 1 "deadline passed"
one_line "$err" "deadline passed: one line"
like "$err" '\(ETIMEOUT\)$' "deadline passed: ETIMEOUT"

# Neither cost the instance its worker.
[ "$(inst_pid typed-1)" = "$tpid" ] && [ "$(restarts typed)" = 0 ]
ok $? "after a plugin error and a timeout, typed-1 keeps its worker"

# A request that kills every instance that takes it.
run actl --json call typed '{"crash":true}'
exits 1 "crashing request"
like "$out" '"code":"EFAILED"' "crashing request: answered EFAILED"
kill -0 "$AGENTD_PID"
ok $? "agentd is still alive"
# It was tried on another instance (a second death), then typed is back.
typed_back() { [ "$(restarts typed)" -ge 2 ] && agent_ready typed 1; }
wait_for 10 typed_back
ok $? "the request was tried again, and typed comes back with a ready instance"

# The replacement answers normally, with the settings it was given.
run actl call typed '{}'
exits 0 "typed answers after the crashes"
like "$out" '"limit": 3' "the reply shows limit 3 (the setting reached the worker)"
like "$out" '"greeting": "hello"' "the reply shows greeting \"hello\" (the plugin's default)"
like "$out" '"ratio": 0.5' "the reply shows ratio 0.5 (the plugin's default)"
rpid=$(reply_pid "$out")
[ -n "$rpid" ] && [ "$rpid" != "$tpid" ]
ok $? "it comes from a new worker (pid $rpid, the first was $tpid)"
n=$(restarts typed)
[ "$n" -ge 2 ] && [ "$n" -le 3 ]
ok $? "the crashing request was tried a bounded number of times ($n deaths, at most 3)"

# Nothing that was running elsewhere was touched.
run actl call echo '{"after":"all of it"}'
exits 0 "echo answers at the end"
like "$out" '"after": "all of it"' "echo's reply carries the body"
rpid=$(reply_pid "$out")
[ "$rpid" = "$epid" ]
ok $? "the same echo worker answers (pid $rpid, was $epid)"
[ "$(restarts echo)" = 0 ]
ok $? "echo was never restarted"

# A request larger than max_message_size (4096): agentd answers with the
# limit instead of dropping the connection, and keeps answering after.
big=$(head -c 6000 /dev/zero | tr '\0' x)
run actl call --timeout "$(slow 2)s" echo "\"$big\""
[ "$rc" -eq 1 ]
ok $? "a body over max_message_size is refused (exit $rc)"
like "$err" 'over max_message_size \(4096\).*ETOOBIG' \
    "...with one line naming the limit"
for i in 1 2 3 4 5 6 7 8 9 10; do
	actl call --timeout "$(slow 2)s" echo "\"$big\"" >/dev/null 2>&1
done
run actl call echo '{"still":"here"}'
exits 0 "agentd still answers after ten oversized requests"

stop_agentd
ok $? "SIGTERM stops agentd with exit status 0"
! pgrep -f "agentd-worker.*$T_DIR" >/dev/null &&
    [ ! -e "$T_DIR/run/control.sock" ]
ok $? "no worker is left and the control socket is removed"

# agentd killed: its socket file stays, and nothing listens on it: exit 3,
# as with no agentd.
start_agentd
kill -KILL "$AGENTD_PID"
wait "$AGENTD_PID" 2>/dev/null
AGENTD_PID=
[ -S "$T_DIR/run/control.sock" ]
ok $? "agentd killed: its control socket file is left"
# A worker agentd was spawning when it died holds a copy of its
# descriptors, the control socket's too, until its exec (long, on a
# loaded machine): wait until nothing listens on the socket any more.
wait_for 10 sh -c "! grep -q ' $T_DIR/run/control.sock\$' /proc/net/unix"
run actl status
exits 3 "a socket file with nothing behind it"
like "$err" '^agentctl: cannot reach agentd at .*/control\.sock: Connection refused' \
    "a socket file with nothing behind it: refused, said in one line"

done_testing

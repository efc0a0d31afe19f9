#!/bin/sh
# agentd { log { target } }: a FILE target gets agentd's lines (not
# stderr), and after the file is moved away (as logrotate does) a SIGHUP
# makes agentd write the next lines to a new file at the same path; a bad
# target is refused at its file:line; with syslog, nothing goes to stderr
# and workers are told to log to syslog too.
. "$top_srcdir/tests/lib.sh"

plan 14

ECHO=$(plugin_copy "$BPLUGINS/echo.so")
LOG="$T_DIR/logs/agentd.log"
mkdir -p "$T_DIR/logs"

conf echo.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
}
EOF

# check: agentd --check-config; sets rc and err.
check() {
	"$AGENTD" --confdir "$T_DIR/conf" --state-dir "$T_DIR/state" \
	    --run-dir "$T_DIR/run" --check-config >/dev/null 2>"$T_DIR/check.err"
	rc=$?
	err=$(cat "$T_DIR/check.err")
}

# A relative path, or a word that is no target, is refused at its line.
conf agentd.conf <<EOF
agentd {
	log {
		target = "agentd.log"
	}
}
EOF
check
[ "$rc" -eq 1 ]
ok $? "a relative target: --check-config exits 1 (got $rc)"
like "$err" '^agentd: .*/agentd\.conf:3: .*target.*stderr, syslog or an absolute path' \
    "a relative target is refused at file:line, saying what to write"
conf agentd.conf <<EOF
agentd { log { target = stdout } }
EOF
check
[ "$rc" -eq 1 ] && printf '%s' "$err" | grep -q 'agentd\.conf:1: .*target'
ok $? "a word that is no target is refused (exit $rc)"

# A file target: agentd's lines go there, not to stderr.
conf agentd.conf <<EOF
agentd {
	log { target = "$LOG" }
}
EOF
start_agentd
ok $? "agentd starts with log { target = FILE }"
wait_for 10 agent_ready echo 1
ok $? "echo is ready"
wait_for 10 grep -q 'agentd\[[0-9]*\] info: ' "$LOG"
ok $? "the file gets agentd's lines, time-stamped"
! grep -q 'agentd\[[0-9]*\] info: ' "$T_DIR/agentd.log"
ok $? "stderr does not"

# logrotate: the file is moved away, SIGHUP, and a new file is written.
mv "$LOG" "$LOG.1"
kill -HUP "$AGENTD_PID"
wait_for 10 grep -q 'reload by SIGHUP done' "$LOG"
ok $? "after the move and SIGHUP, a new file at the path gets the next lines"
! grep -q 'reload by SIGHUP done' "$LOG.1"
ok $? "the moved file does not"
actl call echo '"ping"' >/dev/null
ok $? "agentd still answers"
stop_agentd
ok $? "SIGTERM stops agentd with exit status 0"

# syslog: nothing on stderr, and the workers are told so.
conf agentd.conf <<EOF
agentd { log { target = syslog } }
EOF
: >"$T_DIR/agentd.log"
start_agentd
wait_for 10 agent_ready echo 1
ok $? "agentd starts with log { target = syslog }"
wpid=$(actl --json status | grep -o '"id":"echo-1","pid":[0-9]*' | cut -d: -f3)
[ -n "$wpid" ] && tr '\0' '\n' <"/proc/$wpid/environ" |
    grep -qx 'AGENTD_LOG_TARGET=syslog'
ok $? "its worker (pid $wpid) is told to log to syslog"
stop_agentd
! grep -q ' info: \|^<[0-9]>' "$T_DIR/agentd.log"
ok $? "no log line went to stderr"

done_testing

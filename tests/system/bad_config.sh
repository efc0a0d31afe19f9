#!/bin/sh
# Configuration mistakes a person can make: each is refused with exit
# status 1 and one line on stderr naming the file, the line, the agent and
# what to do (several: one line each, all in one run); nothing is
# started.  A valid configuration passes --check-config without starting
# anything, and checking (or failing to start) a broken copy never
# disturbs an agentd that is already running.
. "$top_srcdir/tests/lib.sh"

plan 82

ECHO=$(plugin_copy "$BPLUGINS/echo.so")
TYPED=$(plugin_copy "$TPLUGINS/typed.so")

# check [CONFDIR]: agentd --check-config; sets rc, out (stdout), err (stderr).
check() {
	"$AGENTD" --confdir "${1:-$T_DIR/conf}" --state-dir "$T_DIR/state" \
	    --run-dir "$T_DIR/run" --check-config \
	    >"$T_DIR/check.out" 2>"$T_DIR/check.err"
	rc=$?
	out=$(cat "$T_DIR/check.out")
	err=$(cat "$T_DIR/check.err")
}

# refused WHAT PATTERN WHICH: exit status 1 and exactly one line on
# stderr, which matches PATTERN.
refused() {
	[ "$rc" -eq 1 ]
	ok $? "$1: exit status 1 (got $rc)"
	one_line "$err" "$1: exactly one line on stderr"
	like "$err" "$2" "$1: the line names $3"
}

# Nothing was left behind: no socket in the run folder, no worker.
nothing_left() {
	! ls "$T_DIR/run"/*.sock >/dev/null 2>&1 &&
	    ! pgrep -f "agentd-worker.*$T_DIR" >/dev/null
}

fresh() { rm -rf "$T_DIR/conf"/*; }

# A syntax error: the file and the line, and how to write it.
fresh
conf syntax.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
	request_timeout 10s
}
EOF
check
refused "syntax error" \
    '^agentd: .*/syntax\.conf:3: agent "echo": .*request_timeout.*write NAME = VALUE' \
    "file:line, agent, option and the fix"

# An unknown option in agent { }; the comment above it does not shift
# the line number.
fresh
conf unknown.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
	# a comment line before the typo
	colour = "red"
}
EOF
check
refused "unknown option" \
    '^agentd: .*/unknown\.conf:4: agent "echo": no such option .colour.: remove it or fix its spelling$' \
    "file:line, agent and the option"

# A typed setting of the wrong type, checked against the plugin's schema.
fresh
conf typed.conf <<EOF
agent "typed" {
	plugin = "$TYPED"
	settings {
		greeting = "hi"
		limit = "abc"
	}
}
EOF
check
refused "setting of the wrong type" \
    '^agentd: .*/typed\.conf:5: agent "typed": setting "limit" must be a whole number' \
    "file:line, agent, setting and its type"

# The same mistake on a real start: exit 1, one line, nothing started.
try_start
refused "real start, wrong type" \
    'typed\.conf:5: agent "typed": setting "limit"' "the same problem"
nothing_left
ok $? "real start, wrong type: no socket and no worker left"

# A required setting left out.
fresh
conf typed.conf <<EOF
agent "typed" {
	plugin = "$TYPED"
	settings {
		greeting = "hi"
	}
}
EOF
check
refused "missing required setting" \
    '^agentd: .*/typed\.conf:1: agent "typed": setting "limit" is required.*add limit = ' \
    "agent, setting and the fix"

# A setting the plugin does not declare: the known ones are listed.
fresh
conf typed.conf <<EOF
agent "typed" {
	plugin = "$TYPED"
	settings {
		limit = 3
		colour = "red"
	}
}
EOF
check
refused "unknown setting" \
    '^agentd: .*/typed\.conf:5: agent "typed": unknown setting "colour" \(plugin "typed" knows limit, ratio, greeting, verbose\)' \
    "file:line, agent, setting and the known ones"

# A plugin path that does not exist.
fresh
conf ghost.conf <<EOF
agent "ghost" {
	plugin = "$T_DIR/plugins/nope.so"
}
EOF
check
refused "missing plugin file" \
    '^agentd: .*/ghost\.conf:1: agent "ghost": .*/plugins/nope\.so: No such file.*plugin =' \
    "agent, the path and what to check"

# Two agents with the same name in two files: both places are named.
fresh
conf a.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
}
EOF
conf b.conf <<EOF
# the same name again
agent "echo" {
	plugin = "$ECHO"
}
EOF
check
refused "same agent name in two files" \
    '^agentd: .*/b\.conf:2: agent "echo": already defined at .*/a\.conf:1' \
    "both files and lines"
try_start
refused "real start, same name twice" \
    'b\.conf:2: agent "echo": already defined at .*/a\.conf:1' \
    "the same problem"
nothing_left
ok $? "real start, same name twice: no socket and no worker left"

# A duration without a valid unit.
fresh
conf dur.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
	request_timeout = 10x
}
EOF
check
refused "bad duration" \
    '^agentd: .*/dur\.conf:3: agent "echo": request_timeout = "10x" is not a duration: .*(250ms|ms, s, m or h)' \
    "file:line, agent, the option and the units"

# instances min greater than max.
fresh
conf minmax.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
	instances {
		min = 3
		max = 2
	}
}
EOF
check
refused "min > max" \
    '^agentd: .*/minmax\.conf:[0-9]+: agent "echo": instances min \(3\) is greater than max \(2\): lower min or raise max' \
    "agent, both values and the fix"

# A configuration directory that does not exist.
check "$T_DIR/no-such-dir"
refused "missing --confdir" \
    "^agentd: configuration directory .*/no-such-dir does not exist" \
    "the folder"

# Command-line mistakes: exit status 2, one line pointing at --help.
"$AGENTD" --confdir "$T_DIR/conf" --bogus >/dev/null 2>"$T_DIR/check.err"
rc=$?
err=$(cat "$T_DIR/check.err")
[ "$rc" -eq 2 ]
ok $? "unknown agentd option: exit status 2 (got $rc)"
one_line "$err" "unknown agentd option: exactly one line on stderr"
like "$err" '^agentd: unknown option "--bogus": see agentd --help$' \
    "unknown agentd option: the line names the option"
"$AGENTD" --log-level loud >/dev/null 2>"$T_DIR/check.err"
rc=$?
err=$(cat "$T_DIR/check.err")
[ "$rc" -eq 2 ] && [ "$(printf '%s\n' "$err" | grep -c .)" -eq 1 ]
ok $? "bad --log-level: exit status 2 and one line"
like "$err" 'unknown log level "loud"' "bad --log-level: the line names the value"

# A file cut short (its agent { } never closed) must not pass as valid.
fresh
conf unclosed.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
EOF
check
refused "never-closed agent { }" \
    '^agentd: .*/unclosed\.conf:1: this \{ is never closed: add a \} at the end of the section$' \
    "file:line of the { and the fix"

# A stray quote where an option name goes swallows the closing }: it must
# not pass as valid either.
fresh
conf stray.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
	"request_timeout = 10s
}
EOF
check
refused "stray quote" \
    '^agentd: .*/stray\.conf:3: this " is never closed: close the string$' \
    "file:line of the quote and the fix"

# Several mistakes in several files: --check-config reports every one in
# one run, as a compiler does, one line each in the order read; a real
# start refuses with the same lines.
fresh
conf a-syntax.conf <<EOF
agent "one" {
	plugin = "$ECHO"
	request_timeout 10s
}
EOF
# (libconfuse stops at an unknown option too: the rest of its file is
# not read.)
conf b-unknown.conf <<EOF
agent "two" {
	plugin = "$ECHO"
	colour = "red"
}
EOF
conf c-agents.conf <<EOF
agent "three" {
	plugin = "$ECHO"
	instances { min = 3 max = 2 }
}
agent "fine" {
	plugin = "$ECHO"
}
EOF
conf d-typed.conf <<EOF
agent "four" {
	plugin = "$TYPED"
	settings {
		greeting = "hi"
		limit = "abc"
	}
}
EOF
check
[ "$rc" -eq 1 ]
ok $? "every error: --check-config exits 1 (got $rc)"
n=$(printf '%s\n' "$err" | grep -c .)
[ "$n" -eq 4 ]
ok $? "every error: four lines on stderr, one per error (got $n)"
line() { printf '%s\n' "$err" | sed -n "$1p" | grep -q "$2"; }
line 1 'a-syntax\.conf:3: agent "one": .*write NAME = VALUE' &&
    line 2 'b-unknown\.conf:3: agent "two": no such option .colour.' &&
    line 3 'c-agents\.conf:1: agent "three": instances min (3) is greater than max (2)' &&
    line 4 'd-typed\.conf:5: agent "four": setting "limit" must be a whole number'
ok $? "every error: each FILE:LINE: agent: what to do, in the order read"
! printf '%s\n' "$err" | grep -v '^agentd: [^ ]*\.conf:[0-9]*: agent "' >/dev/null
ok $? "every error: each line in the compiler's form"
checked="$err"
try_start
[ "$rc" -eq 1 ] && [ "$err" = "$checked" ]
ok $? "every error: a real start refuses with the same lines (rc $rc)"
nothing_left
ok $? "every error: no socket and no worker left"

# A valid configuration passes --check-config, and nothing is started.
fresh
conf echo.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
}
EOF
conf typed.conf <<EOF
agent "typed" {
	plugin = "$TYPED"
	settings {
		limit = 3
	}
}
EOF
check
[ "$rc" -eq 0 ]
ok $? "valid configuration: --check-config exits 0 (got $rc)"
like "$out" 'is valid \(2 agents\)' "valid configuration: it says so, counting the agents"
[ -z "$err" ]
ok $? "valid configuration: nothing on stderr"
nothing_left
ok $? "valid configuration: no socket and no worker left"

# agentd running with a good configuration (echo only).
fresh
conf echo.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
}
EOF
start_agentd
ok $? "agentd starts with a good configuration"
wait_for 10 agent_ready echo 1
ok $? "echo has one ready instance"
epid=$(actl status | sed -n 's/.*echo-1 *pid \([0-9]*\).*/\1/p')
[ -n "$epid" ]
ok $? "echo-1 has a worker pid ($epid)"

# A broken copy of its configuration, checked with the same run and state
# folders as the running agentd.
mkdir "$T_DIR/broken"
cp "$T_DIR/conf"/*.conf "$T_DIR/broken/"
cat > "$T_DIR/broken/typo.conf" <<EOF
agent "typo" {
	plugin = "$ECHO"
	instances { mni = 1 }
}
EOF
check "$T_DIR/broken"
refused "broken copy, checked while running" \
    '^agentd: .*/broken/typo\.conf:3: agent "typo": no such option .mni.' \
    "file:line and option"

# The running configuration itself checks clean while agentd runs.
check
[ "$rc" -eq 0 ] && [ -z "$err" ]
ok $? "checking the live configuration while agentd runs: exit 0, no error"

# A real start of the broken copy on the same folders is refused too.
try_start "$T_DIR/broken"
refused "real start of the broken copy" 'broken/typo\.conf:3' "the file:line"

# None of that disturbed the running agentd.
kill -0 "$AGENTD_PID"
ok $? "the running agentd is still alive"
[ -S "$T_DIR/run/control.sock" ] && [ -S "$T_DIR/run/echo-1.sock" ]
ok $? "its control and instance sockets are still there"
reply=$(actl call echo '{"still":"here"}')
ok $? "echo still answers"
like "$reply" '"still": "here"' "the reply carries the request body"
rpid=$(printf '%s' "$reply" | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
[ "$rpid" = "$epid" ]
ok $? "the same worker answers (pid $rpid, was $epid)"
like "$(actl status)" 'echo  *[^ ]*  *1  *1  *0  .* 0  running$' "echo: one ready instance of one desired, no restart"

# A second real agentd on the same run folder with a valid configuration:
# refused by the first one's lock, in one line, before it touches the
# sockets or the state, and without disturbing the first.
state_before=$(md5sum "$T_DIR/state/db/data.mdb")
try_start
[ "$rc" -eq 1 ]
ok $? "a second agentd on the same run folder exits 1 (got $rc)"
like "$err" 'another agentd is running with run directory .*agentd\.lock' \
    "it says another agentd holds the run directory"
[ "$(printf '%s\n' "$err" | grep -c .)" -eq 1 ]
ok $? "...in exactly one line"
[ "$(md5sum "$T_DIR/state/db/data.mdb")" = "$state_before" ]
ok $? "the first agentd's state was not written"
actl call --timeout "$(slow 2)s" echo '{}' >/dev/null 2>&1
ok $? "the first agentd still answers after the refused start"

stop_agentd
ok $? "SIGTERM stops agentd with exit status 0"
nothing_left
ok $? "no worker or socket is left"

done_testing

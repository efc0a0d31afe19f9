#!/bin/sh
# agentd { control { group } } (doc/security.md, "The control group"):
# control.sock and tail.sock become 0660 with that group, and its members
# use them as agentd's user does (status, restart, tail); calls.sock and
# publish.sock stay 0600.  A user outside the group gets one line saying
# who may use the sockets; a process that holds the group without the
# group database listing its user is refused by agentd itself (one line
# from agentctl, one in agentd's log).  Neither changes what runs.  A group
# that does not exist is one error line, at start and at a reload, and the
# reload changes nothing; another group at a reload is a warning (read at
# start).  Taking a user out of the group shuts them out at once.
#
# As root: the test makes a system group and a member user for itself (as
# tests/lib.sh makes agentd-plugin), and runs agentctl as them and as
# nobody with setpriv.
. "$top_srcdir/tests/lib.sh"

plan 20

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null ||
    ! command -v gpasswd >/dev/null; then
	while [ "$T_N" -lt 20 ]; do
		ok 0 "# SKIP needs root, setpriv and gpasswd: other users"
	done
	done_testing
fi

G=agentd-ctltest
MEMBER=agentd-ctlmember
# t_group NAME: a system group NAME unless there is one.
t_group() {
	g_try=0
	while ! getent group "$1" >/dev/null; do
		groupadd --system "$1" 2>/dev/null && break
		g_try=$((g_try + 1))
		[ "$g_try" -ge 50 ] && { echo "Bail out! cannot create $1"; exit 1; }
		sleep 0.1
	done
}
t_group "$G"
t_user "$MEMBER"
# /etc/group is locked while another test adds a user: try again.
m_try=0
until id -nG "$MEMBER" | tr ' ' '\n' | grep -qx "$G"; do
	gpasswd -a "$MEMBER" "$G" >/dev/null 2>&1
	m_try=$((m_try + 1))
	[ "$m_try" -ge 50 ] && { echo "Bail out! cannot add $MEMBER to $G"; exit 1; }
	sleep 0.1
done
# Others must get through the test's folder to its run directory.
chmod 0711 "$T_DIR"

ECHO=$(plugin_copy "$BPLUGINS/echo.so")
conf agentd.conf <<EOF
agentd {
	control { group = "$G" }
}
EOF
conf echo.conf <<EOF
agent "echo" { plugin = "$ECHO" }
EOF

# as WHO-ARGS -- CMD...: agentctl CMD as another identity (setpriv's
# options); sets rc, out and err.
as() {
	a_ids=
	while [ "$1" != -- ]; do a_ids="$a_ids $1"; shift; done
	shift
	# shellcheck disable=SC2086
	timeout "$(slow 10)" setpriv $a_ids "$AGENTCTL" --run-dir "$T_DIR/run" \
	    "$@" >"$T_DIR/as.out" 2>"$T_DIR/as.err"
	rc=$?
	out=$(cat "$T_DIR/as.out")
	err=$(cat "$T_DIR/as.err")
}
member() { as --reuid="$MEMBER" --regid="$MEMBER" --init-groups -- "$@"; }
lines() { printf '%s\n' "$1" | grep -c .; }
echo_pid() { actl --json status | jq -r '.agents[0].instances[0].pid'; }

start_agentd
ok $? "agentd starts with control { group = \"$G\" }"

R="$T_DIR/run"
[ "$(stat -c %a:%G "$R/control.sock")" = "660:$G" ] &&
    [ "$(stat -c %a:%G "$R/tail.sock")" = "660:$G" ]
ok $? "control.sock and tail.sock are 0660 with group $G ($(stat -c '%a:%G' "$R/control.sock" "$R/tail.sock" | tr '\n' ' '))"
[ "$(stat -c %a:%U "$R/calls.sock")" = 600:root ] &&
    [ "$(stat -c %a:%U "$R/publish.sock")" = 600:root ]
ok $? "calls.sock and publish.sock stay 0600, root's (workers only)"
[ "$(stat -c %G "$R")" = "$G" ] && [ $(( 0$(stat -c %a "$R") & 010 )) -ne 0 ]
ok $? "the run directory agentd made lets group $G through ($(stat -c %a:%G "$R"))"

# A member listed in the group database, with it as a supplementary
# group (as a login gives it): everything agentd's user may do.
member status
[ "$rc" -eq 0 ] && printf '%s' "$out" | grep -q '^echo '
ok $? "a member of $G: agentctl status answers (got $rc: $err)"
pid1=$(echo_pid)
member restart echo
[ "$rc" -eq 0 ] && wait_for 10 sh -c "[ \"\$(\"$AGENTCTL\" --run-dir \"$R\" --json status | jq -r '.agents[0].instances[0].pid')\" != $pid1 ] && \"$AGENTCTL\" --run-dir \"$R\" --json status | jq -e -n 'input | .agents[0].ready == 1'"
ok $? "a member of $G has full control: agentctl restart echo replaces its instance (got $rc: $err)"

timeout "$(slow 10)" setpriv --reuid="$MEMBER" --regid="$MEMBER" \
    --init-groups "$AGENTCTL" --run-dir "$R" tail --count 1 \
    >"$T_DIR/tail.out" 2>"$T_DIR/tail.err" &
tail_job=$!
# Published until the member's tail has it (it reads once connected).
wait_for 10 sh -c "grep -q ctl.test \"$T_DIR/tail.out\" || { \"$AGENTCTL\" --run-dir \"$R\" publish ctl.test '{\"n\":1}'; false; }"
wait "$tail_job"
tail_rc=$?
grep -q 'ctl.test' "$T_DIR/tail.out" && [ "$tail_rc" -eq 0 ]
ok $? "a member of $G: agentctl tail --count 1 gets an event (exit $tail_rc: $(cat "$T_DIR/tail.err"))"

# The group as the primary group only (SO_PEERCRED's gid), no user in it.
as --reuid=nobody --regid="$G" --clear-groups -- status
[ "$rc" -eq 0 ]
ok $? "nobody with $G as its primary group: agentctl status answers (got $rc: $err)"

pid2=$(echo_pid)
# Outside the group: the kernel refuses (the run directory and the socket
# are the group's); agentctl says who may use the sockets.
as --reuid=nobody --regid=nogroup --clear-groups -- status
[ "$rc" -eq 3 ] && [ "$(lines "$err")" -eq 1 ] &&
    printf '%s' "$err" | grep -q 'Permission denied: only root, the user agentd runs as and the members of its control group' &&
    printf '%s' "$err" | grep -q 'run agentctl as root or as that user' &&
    ! printf '%s' "$err" | grep -q 'not running'
ok $? "nobody outside $G: exit 3, one line saying to run as root, agentd's user or a member (got $rc: $err)"

# Holding the group without being listed in it: agentd's own check.
as --reuid=nobody --regid=nogroup --groups="$G" -- status
[ "$rc" -eq 3 ] && [ "$(lines "$err")" -eq 1 ] &&
    printf '%s' "$err" | grep -q "agentd refused this user on control.sock: this process holds group $G, but the group database does not list user nobody in it.*adduser nobody $G"
ok $? "nobody holding $G unlisted: exit 3, one line naming agentd's refusal and adduser (got $rc: $err)"
wait_for 10 grep -q "refused a connection to control.sock from pid [0-9]* (uid 65534): only root, the user agentd runs as and the members of group $G (control { group }) may use it" "$T_DIR/agentd.log"
ok $? "agentd logs the refusal in one line naming the group"

as --reuid=nobody --regid=nogroup --groups="$G" -- tail
[ "$rc" -eq 3 ] && [ "$(lines "$err")" -eq 1 ] &&
    printf '%s' "$err" | grep -q "agentd refused this user on tail.sock"
ok $? "the same on tail.sock: agentctl tail exits 3 with one line (got $rc: $err)"

[ "$(echo_pid)" = "$pid2" ] && status_has '.agents[0].ready == 1 and .agents[0].restarts == 0'
ok $? "the refused peers changed nothing: echo keeps its instance (pid $pid2)"

# A group that does not exist: one line with the file and line.
conf agentd.conf <<EOF
agentd {
	control { group = "agentd-no-such-group" }
}
EOF
"$AGENTD" --confdir "$T_DIR/conf" --state-dir "$T_DIR/state2" \
    --run-dir "$T_DIR/run2" --check-config >/dev/null 2>"$T_DIR/check.err"
rc=$?
err=$(cat "$T_DIR/check.err")
[ "$rc" -eq 1 ] && [ "$(lines "$err")" -eq 1 ] &&
    printf '%s' "$err" | grep -q 'agentd.conf:2: .*group "agentd-no-such-group" is not a group of this system: create it (addgroup --system NAME) or name another'
ok $? "--check-config: a group that does not exist is one line at agentd.conf:2 (got $rc: $err)"

out=$(actl reload 2>&1)
rc=$?
[ "$rc" -eq 1 ] && printf '%s' "$out" | grep -q 'agentd-no-such-group'
ok $? "a reload with that group exits 1 and says why (got $rc: $out)"
[ "$(echo_pid)" = "$pid2" ] &&
    [ "$(stat -c %a:%G "$R/control.sock")" = "660:$G" ]
member status
[ $? -eq 0 ] && [ "$rc" -eq 0 ]
ok $? "the refused reload changed nothing: same instance, same socket, members still served"

# Another group at a reload: read at start only, so a warning, and the
# sockets keep theirs.
conf agentd.conf <<EOF
agentd {
	control { group = "$MEMBER" }
}
EOF
actl reload >/dev/null 2>&1
wait_for 10 grep -q 'control { } changed: control.sock and tail.sock keep the group they started with until agentd restarts' "$T_DIR/agentd.log" &&
    [ "$(stat -c %a:%G "$R/control.sock")" = "660:$G" ]
ok $? "a reload naming another group warns in one line; the sockets keep $G"

# Taken out of the group, a member is refused at the next command, even
# by a process that still holds the group.
gpasswd -d "$MEMBER" "$G" >/dev/null 2>&1
as --reuid="$MEMBER" --regid="$MEMBER" --groups="$G" -- status
[ "$rc" -eq 3 ] &&
    printf '%s' "$err" | grep -q "agentd refused this user on control.sock"
ok $? "deluser: the next command of a process still holding $G is refused (got $rc: $err)"
gpasswd -a "$MEMBER" "$G" >/dev/null 2>&1

stop_agentd
ok $? "agentd stops cleanly"

# The workers' own group as the control group: their plugins would
# control agentd.  Refused at start, in one line naming the agent.
mkdir -p "$T_DIR/conf2"
cat > "$T_DIR/conf2/agentd.conf" <<EOF
agentd {
	control { group = "$(id -gn "$T_PLUGIN_USER")" }
}
EOF
cp "$T_DIR/conf/echo.conf" "$T_DIR/conf2/"
try_start "$T_DIR/conf2"
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$(lines "$err")" -eq 1 ] &&
    printf '%s' "$err" | grep -q "agent \"echo\": workers would run as \"$T_PLUGIN_USER\", whose group is agentd's control group"
ok $? "the workers' group as control group: agentd does not start, one line (got $rc: $err)"
done_testing

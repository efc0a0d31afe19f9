#!/bin/sh
# Plugins agentd must refuse: not a shared object, no descriptor, a wrong
# magic number, another ABI major, a file others could write, a file owned
# by someone else.  Each is refused by --check-config with exit status 1
# and one line naming the file; the same file with safe permissions passes.
. "$top_srcdir/tests/lib.sh"

plan 33

# check: agentd --check-config on the test's folders; sets rc, err.
check() {
	"$AGENTD" --confdir "$T_DIR/conf" --state-dir "$T_DIR/state" \
	    --run-dir "$T_DIR/run" --check-config \
	    >/dev/null 2>"$T_DIR/check.err"
	rc=$?
	err=$(cat "$T_DIR/check.err")
}

# uses PATH: the configuration is one agent "p" running plugin PATH.
uses() {
	rm -rf "$T_DIR/conf"/*
	conf p.conf <<EOF
agent "p" {
	plugin = "$1"
}
EOF
}

# refused WHAT PATTERN: exit status 1, exactly one line on stderr, and the
# line names the agent and matches PATTERN.
refused() {
	[ "$rc" -eq 1 ]
	ok $? "$1: exit status 1 (got $rc)"
	one_line "$err" "$1: exactly one line on stderr"
	like "$err" "^agentd: .*/p\\.conf:1: agent \"p\": .*$2" \
	    "$1: the line names the file and what is wrong"
}

skip() {
	T_N=$((T_N + 1))
	echo "ok $T_N # SKIP $1"
}

# A text file named like a plugin.
echo "not a plugin" > "$T_DIR/plugins/x.so"
chmod 0644 "$T_DIR/plugins/x.so"
uses "$T_DIR/plugins/x.so"
check
refused "text file x.so" '/plugins/x\.so: .*agentd plugin'

# A shared object without the descriptor symbol.
uses "$(plugin_copy "$TPLUGINS/nodesc.so")"
check
refused "nodesc.so" '/plugins/nodesc\.so: no agentd_plugin_v1 symbol'

# A descriptor with a wrong magic number.
uses "$(plugin_copy "$TPLUGINS/badmagic.so")"
check
refused "badmagic.so" '/plugins/badmagic\.so: .*wrong magic number'

# A plugin built for ABI 2: both majors are named.
ABI2=$(plugin_copy "$TPLUGINS/abi2.so")
uses "$ABI2"
check
refused "abi2.so" '/plugins/abi2\.so: plugin built for agentd ABI 2, this agentd speaks ABI 1'

# The same on a real start: exit 1, one line, nothing started.
"$AGENTD" --confdir "$T_DIR/conf" --state-dir "$T_DIR/state" \
    --run-dir "$T_DIR/run" --foreground 2>"$T_DIR/start.err" &
s_pid=$!
wait_for 10 sh -c "! kill -0 $s_pid 2>/dev/null" || kill -KILL "$s_pid"
wait "$s_pid"
rc=$?
err=$(cat "$T_DIR/start.err")
refused "real start with abi2.so" '/plugins/abi2\.so: .*ABI 2.*ABI 1'
! ls "$T_DIR/run"/*.sock >/dev/null 2>&1 &&
    ! pgrep -f "agentd-worker.*$T_DIR" >/dev/null
ok $? "real start with abi2.so: no socket and no worker left"

# A good plugin with safe permissions passes: what follows is refused for
# its mode or owner alone.
ECHO=$(plugin_copy "$BPLUGINS/echo.so")
uses "$ECHO"
check
[ "$rc" -eq 0 ] && [ -z "$err" ]
ok $? "echo.so, mode 0644, owned by us: --check-config exits 0"

# Group-writable: the line says how to fix it.
chmod 0664 "$ECHO"
check
refused "echo.so mode 0664" \
    '/plugins/echo\.so is group- or world-writable: chmod go-w .*/plugins/echo\.so$'

# World-writable.
chmod 0646 "$ECHO"
check
refused "echo.so mode 0646" \
    '/plugins/echo\.so is group- or world-writable: chmod go-w .*/plugins/echo\.so$'
chmod 0644 "$ECHO"

# Owned by another user (nobody): only root can set that up.
if [ "$(id -u)" -eq 0 ]; then
	chown 65534 "$ECHO"
	check
	refused "echo.so owned by uid 65534" \
	    '/plugins/echo\.so is owned by uid 65534, not root or the user agentd runs as \(0\): chown it'
	chown 0 "$ECHO"
else
	skip "not root"
	skip "not root"
	skip "not root"
fi

# A folder where the plugin should be.
mkdir "$T_DIR/plugins/dir.so"
uses "$T_DIR/plugins/dir.so"
check
refused "a folder named dir.so" '/plugins/dir\.so is not a regular file'

# A symlink to a world-writable plugin is judged by what it points at.
chmod 0646 "$ECHO"
ln -s "$ECHO" "$T_DIR/plugins/link.so"
uses "$T_DIR/plugins/link.so"
check
refused "symlink to a world-writable plugin" '/plugins/link\.so is group- or world-writable'
chmod 0644 "$ECHO"

# Every refusal left nothing running.
! pgrep -f "agentd-worker.*$T_DIR" >/dev/null &&
    ! ls "$T_DIR/run"/*.sock >/dev/null 2>&1
ok $? "no worker and no socket after all of it"

done_testing

#!/bin/sh
# agentd's run and state directories, its LMDB files and its plugin store
# are its own, as sshd's StrictModes wants a user's ~/.ssh: a directory or
# file another user can write (or, started as root, owns) is refused at
# start with one line naming it and the fix, and the lock files are never
# written through a symbolic link or into a file with another name.
# Directories agentd creates are 0700.
. "$top_srcdir/tests/lib.sh"

plan 49

ECHO=$(plugin_copy "$BPLUGINS/echo.so")
conf echo.conf <<EOF2
agent "echo" { plugin = "$ECHO" }
EOF2

# refused PATTERN NAME: the start failed with one line matching PATTERN.
refused() {
	try_start
	[ "$rc" -eq 1 ]
	ok $? "$1: exit 1 (got $rc)"
	like "$err" "$2" "$1: the line names the path and the fix"
	one_line "$err" "$1: one line"
}

# A first start makes the folders; stop it, then spoil them one by one.
start_agentd
ok $? "agentd starts on folders it creates"
stop_agentd
modes=$(stat -c '%a' "$T_DIR/state" "$T_DIR/state/db" "$T_DIR/state/plugins" \
    "$T_DIR/run" | tr '\n' ' ')
[ "$modes" = "700 700 700 700 " ]
ok $? "the directories it created are 0700 ($modes)"
modes=$(stat -c '%a' "$T_DIR/state/db/data.mdb" "$T_DIR/state/db/lock.mdb" |
    tr '\n' ' ')
[ "$modes" = "600 600 " ]
ok $? "its LMDB files are 0600 ($modes)"

# ---- the lock files (Found 3) ------------------------------------------
echo precious > "$T_DIR/victim"
for d in run state; do
	rm -f "$T_DIR/$d/agentd.lock"
	ln -s "$T_DIR/victim" "$T_DIR/$d/agentd.lock"
	refused "$d/agentd.lock a symbolic link" \
	    "$T_DIR/$d/agentd.lock is a symbolic link.*remove it"
	[ "$(cat "$T_DIR/victim")" = precious ]
	ok $? "$d/agentd.lock: the file it points to is untouched"
	rm -f "$T_DIR/$d/agentd.lock"
	ln "$T_DIR/victim" "$T_DIR/$d/agentd.lock"
	refused "$d/agentd.lock a hard link" \
	    "$T_DIR/$d/agentd.lock is not agentd's own file.*remove it"
	[ "$(cat "$T_DIR/victim")" = precious ]
	ok $? "$d/agentd.lock: the file it names too is untouched"
	rm -f "$T_DIR/$d/agentd.lock"
done
echo 99999 > "$T_DIR/run/agentd.lock"
start_agentd
ok $? "a lock file left by an earlier run is taken over"
[ "$(cat "$T_DIR/run/agentd.lock")" = "$AGENTD_PID" ]
ok $? "and holds this agentd's pid"
stop_agentd

# ---- directories and files (Found 4) -----------------------------------
# spoil PATH MODE NAME PATTERN: with PATH at MODE, agentd refuses.
spoil() {
	old=$(stat -c '%a' "$1")
	chmod "$2" "$1"
	refused "$3 mode $2" "$4.*chmod go-w $1\$"
	chmod "$old" "$1"
}
spoil "$T_DIR/state" 0777 "state directory" "state directory $T_DIR/state is writable by others"
spoil "$T_DIR/run" 0770 "run directory" "run directory $T_DIR/run is writable by its group"
spoil "$T_DIR/state/db" 0777 "db/" "$T_DIR/state/db is writable by others"
spoil "$T_DIR/state/db/data.mdb" 0666 "data.mdb" "$T_DIR/state/db/data.mdb is writable by others"
spoil "$T_DIR/state/db/lock.mdb" 0666 "lock.mdb" "$T_DIR/state/db/lock.mdb is writable by others"
spoil "$T_DIR/state/plugins" 0777 "plugins/" "$T_DIR/state/plugins is writable by others"

# Another user's state directory: only root can make one here.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	chown nobody "$T_DIR/state"
	try_start
	[ "$rc" -eq 1 ]
	ok $? "another user's state directory: exit 1"
	like "$err" "state directory $T_DIR/state is owned by uid [0-9]+, not by agentd's user.*chown [a-z0-9]+ $T_DIR/state\$" \
	    "the line says whose it is and the chown"
	chown 0 "$T_DIR/state"
else
	ok 0 "# SKIP another user's directory needs root"
	ok 0 "# SKIP another user's directory needs root"
fi

# Sticky, as a tmpfs mount's root is: others cannot touch agentd's entries.
chmod 1777 "$T_DIR/state"
start_agentd
ok $? "a sticky state directory others may write is used"
grep -q "state directory $T_DIR/state is writable by others, but sticky (mode 1777): chmod go-w" \
    "$T_DIR/agentd.log"
ok $? "with a warning that says how to keep them out"
stop_agentd
chmod 0700 "$T_DIR/state"
mkdir -m 0777 "$T_DIR/state/archive"
refused "archive/" "audit archive directory $T_DIR/state/archive is writable by others.*chmod go-w"
rmdir "$T_DIR/state/archive"

# --check-config starts nothing but says what a start would refuse.
chmod 0777 "$T_DIR/state"
"$AGENTD" --confdir "$T_DIR/conf" --state-dir "$T_DIR/state" \
    --run-dir "$T_DIR/run" --check-config >/dev/null 2>"$T_DIR/check.err"
[ $? -eq 1 ]
ok $? "--check-config refuses a state directory others can write"
like "$(cat "$T_DIR/check.err")" "chmod go-w $T_DIR/state\$" \
    "--check-config names the fix"
chmod 0700 "$T_DIR/state"

start_agentd
ok $? "with every mode put back, agentd starts"
stop_agentd

done_testing

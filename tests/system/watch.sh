#!/bin/sh
# agentd { watch = true }: a new .conf starts its agent, a plugin file
# replaced by rename upgrades its agent, one written over in place (cp)
# too, a .conf with a syntax error is refused (FILE:LINE in the log) while
# its agent keeps running, a removed .conf stops its agent, a burst of
# writes makes one reload, and other files change nothing.  No reload
# command is given anywhere; every reload is audited "by watch".
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/reload_lib.sh"

plan 16

PLUG="$T_DIR/plugins/v.so"
WPLUG="$T_DIR/plugins/w.so"

answers() { actl --json call "${1:-v}" '"probe"' 2>/dev/null | jq -r .version; }
answers_is() { [ "$(answers "$1")" = "$2" ]; }
reloads() { grep -c 'reload by watch done' "$T_DIR/agentd.log"; }
reloads_are() { [ "$(reloads)" = "$1" ]; }
log_has() { grep -q -- "$1" "$T_DIR/agentd.log"; }
gone() { actl --json status | jq_true 'all(.agents[]; .name != "w")'; }

install_plugin "$TPLUGINS/vers1.so" "$PLUG"
install_plugin "$TPLUGINS/vers1.so" "$WPLUG"
conf agentd.conf <<EOF
agentd {
	watch = true
	watch_delay = 200ms
}
EOF
conf v.conf <<EOF
agent "v" {
	plugin = "$PLUG"
	health { probation = 0 }
}
EOF

start_agentd
wait_for 10 agent_ready v 1
ok $? "v is ready"
if grep -q 'cannot watch files' "$T_DIR/agentd.log"; then
	# Some sandboxes have no inotify to give (or none left).
	diag "$(grep 'cannot watch files' "$T_DIR/agentd.log")"
	while [ "$T_N" -lt 16 ]; do ok 0 "# SKIP no inotify here"; done
	done_testing
fi
log_has "watching $T_DIR/conf"
ok $? "agentd says it watches the configuration"

# -- a new .conf ---------------------------------------------------------------
conf w.conf <<EOF
agent "w" {
	plugin = "$WPLUG"
	health { probation = 0 }
}
EOF
wait_for 10 agent_ready w 1
ok $? "a new .conf: its agent starts, with no reload command"
wait_for 5 reloads_are 1
ok $? "one reload ($(reloads))"
log_has "$T_DIR/conf/w.conf changed: reloading"
ok $? "the log names the file that changed"

# -- plugin files ----------------------------------------------------------------
install_plugin "$TPLUGINS/vers2.so" "$PLUG"
wait_for 10 answers_is v 2.0
ok $? "v's plugin renamed over: v is upgraded to 2.0"
cp "$TPLUGINS/vers2.so" "$WPLUG"
wait_for 10 answers_is w 2.0
ok $? "w's plugin written over in place (cp): w is upgraded to 2.0"
[ "$(answers v)" = 2.0 ]
ok $? "v still answers 2.0"
actl --json audit --kind agent.reload --agent w | grep -q 'upgraded from 1.0 .* (by watch)'
ok $? "the upgrade is audited by watch"

# -- a syntax error ----------------------------------------------------------------
n=$(reloads)
printf 'agent "w" {\n\tplugin = "%s"\n\tinstances { min = \n}\n' "$WPLUG" \
    >"$T_DIR/conf/w.conf"
wait_for 10 reloads_are $((n + 1))
ok $? "a broken w.conf is reloaded"
grep 'reload: w: refused' "$T_DIR/agentd.log" | grep -q "w.conf:[0-9]"
ok $? "w is refused, the line names w.conf:LINE"
[ "$(answers w)" = 2.0 ] && [ "$(answers v)" = 2.0 ]
ok $? "w keeps running what it ran, v is untouched"

# -- a removed .conf -------------------------------------------------------------
rm "$T_DIR/conf/w.conf"
wait_for 10 gone
ok $? "w.conf removed: w stops"

# -- a burst, and other files ----------------------------------------------------
n=$(reloads)
for i in 1 2 3 4 5; do
	printf '# %s\n' "$i" >>"$T_DIR/conf/v.conf"
done
wait_for 10 reloads_are $((n + 1))
sleep 0.6
[ "$(reloads)" = $((n + 1)) ]
ok $? "five writes to v.conf in a burst: one reload ($(reloads) in all)"
n=$(reloads)
echo "notes" >"$T_DIR/conf/README.txt"
echo "x" >"$T_DIR/conf/.v.conf.swp"
echo "x" >"$T_DIR/plugins/.hidden"
sleep 0.8
[ "$(reloads)" = "$n" ] && ! grep -q 'README.txt changed\|swp changed\|hidden changed' "$T_DIR/agentd.log"
ok $? "a README, an editor's swap file and a dot file change nothing"

stop_agentd
ok $? "agentd stops"

done_testing

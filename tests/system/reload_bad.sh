#!/bin/sh
# Reloads that must not take: a new version that fails init is refused; one
# that crashes during probation is rolled back while calls go on, none of
# them lost; a plugin for another ABI major is refused naming both; one
# whose on_upgrade refuses is refused (and its fini runs); a .conf
# that does not parse leaves its agents running as they were (the line
# names FILE:LINE) while another agent is upgraded.  The old version keeps
# answering throughout; reload exits 1; the refusals are audited.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/reload_lib.sh"

plan 42

PLUG="$T_DIR/plugins/v.so"
WPLUG="$T_DIR/plugins/w.so"
LOG="$(plugin_dir vlog)/v.log"

H1=$(h8 "$TPLUGINS/vers1.so")
H2=$(h8 "$TPLUGINS/vers2.so")

# The version agent $1 (default v) answers with.
answers() { actl --json call "${1:-v}" '"probe"' 2>/dev/null | jq -r .version; }

# v.conf as first written: a reload after restoring it changes nothing.
write_v_conf() {
	conf v.conf <<EOF
agent "v" {
	plugin = "$PLUG"
	instances { min = 2  max = 2 }
	health { probation = 3s }
	paths { write = { "$T_DIR/vlog" } }
	settings { log = "$LOG" }
}
EOF
}
install_plugin "$TPLUGINS/vers1.so" "$PLUG"
install_plugin "$TPLUGINS/vers1.so" "$WPLUG"
write_v_conf
conf w.conf <<EOF
agent "w" {
	plugin = "$WPLUG"
	health { probation = 0 }
}
EOF

start_agentd
wait_for 10 agent_ready v 2 && wait_for 10 agent_ready w 1
ok $? "v (2 instances) and w are ready"
pids0=$(pids_of v)

# -- init fails ---------------------------------------------------------------
install_plugin "$TPLUGINS/vers_initfail.so" "$PLUG"
out=$(actl reload 2>&1)
rc=$?
[ $rc -eq 1 ]
ok $? "a version whose init fails: reload exits 1 (got $rc)"
like "$out" "^v: refused: .*; keeps running 1\\.0 \\($H1\\)\$" \
    "v: refused: WHY; keeps running 1.0 ($H1)"
printf '%s\n' "$out" | grep '^v: refused' | grep -qi 'init'
ok $? "the reason names init"
has_line "$out" "w: unchanged"
ok $? "w: unchanged"
[ "$(answers)" = 1.0 ]
ok $? "1.0 keeps answering"
wait_for 10 only_current && [ "$(pids_of v)" = "$pids0" ]
ok $? "the same two 1.0 instances serve; no new-generation instance is left"
[ "$(agent_field v .version)" = 1.0 ]
ok $? "status says 1.0"

# -- crashes during probation, under load ------------------------------------
callers=
for c in 1 2; do
	: >"$T_DIR/replies-$c"
	: >"$T_DIR/calls-$c"
	: >"$T_DIR/failed-$c"
	call_loop $c &
	callers="$callers $!"
done
mark_calls 1 2
wait_for 10 called_since 1 1 2
install_plugin "$TPLUGINS/vers_crash.so" "$PLUG"
out=$(actl reload 2>&1)
rc=$?
mark_calls 1 2
wait_for 10 called_since 2 1 2
touch "$T_DIR/stop"
# shellcheck disable=SC2086
wait $callers
[ $rc -eq 1 ]
ok $? "a version that crashes in its 3rd request: reload exits 1 (got $rc)"
like "$out" "^v: rolled back: instance v-[0-9]+ killed by signal 6 during probation; 1\\.0 \\($H1\\) serves again\$" \
    "v: rolled back: instance v-N killed by signal 6 during probation; 1.0 ($H1) serves again"
crashed=$(cat "$T_DIR"/replies-* | jq -r .version | grep -c '^3\.0-crash$')
[ "$crashed" -gt 0 ]
ok $? "the new version had taken over: it answered $crashed calls"
ncalls=$(cat "$T_DIR"/calls-* | grep -c .)
nreplies=$(cat "$T_DIR"/replies-* | grep -c .)
nfailed=$(cat "$T_DIR"/failed-* | grep -c .)
[ "$nfailed" -eq 0 ]
ok $? "no call failed ($nfailed of $ncalls did)"
[ "$nfailed" -eq 0 ] || diag "errors: $(cat "$T_DIR"/errors-* | sort | uniq -c | head -5)"
[ "$nreplies" -eq "$ncalls" ]
ok $? "one reply per call ($nreplies replies, $ncalls calls)"
dups=$(awk '$3 ~ /^c[0-9]+-[0-9]+$/ { print $3 }' "$LOG" | sort | uniq -d)
[ -z "$dups" ]
ok $? "no request was handled twice: $(flat "$dups" | head -c 200)"
[ "$(answers)" = 1.0 ]
ok $? "1.0 answers"
wait_for 10 only_current
ok $? "only the two instances of the current generation are left"
[ "$(agent_field v .version)" = 1.0 ] && [ "$(pids_of v)" = "$pids0" ]
ok $? "status: 1.0, served by the same instances as before"

# -- another ABI major --------------------------------------------------------
install_plugin "$TPLUGINS/abi2.so" "$PLUG"
out=$(actl reload 2>&1)
rc=$?
[ $rc -eq 1 ]
ok $? "a plugin for ABI 2: reload exits 1 (got $rc)"
like "$out" "^v: refused: .*ABI 2.*ABI 1.*; keeps running 1\\.0 \\($H1\\)\$" \
    "v: refused, naming both ABIs"
[ "$(answers)" = 1.0 ]
ok $? "1.0 keeps answering"

# -- on_upgrade refuses -------------------------------------------------------
install_plugin "$TPLUGINS/vers2.so" "$PLUG"
conf v.conf <<EOF
agent "v" {
	plugin = "$PLUG"
	instances { min = 2  max = 2 }
	health { probation = 3s }
	paths { write = { "$T_DIR/vlog" } }
	settings { log = "$LOG"  upgrade_fail = true }
}
EOF
out=$(actl reload 2>&1)
rc=$?
[ $rc -eq 1 ]
ok $? "a version whose on_upgrade refuses: reload exits 1 (got $rc)"
like "$out" "^v: refused: .*on_upgrade from 1\\.0 failed.*; keeps running 1\\.0 \\($H1\\)\$" \
    "v: refused: ...on_upgrade from 1.0 failed...; keeps running 1.0 ($H1)"
# The refused generation's other instance may still be on its way out.
[ "$(answers)" = 1.0 ] && wait_for 10 only_current &&
    [ "$(pids_of v)" = "$pids0" ]
ok $? "1.0 keeps answering from the same instances"
# fini runs in an instance whose on_upgrade refused (its state is freed).
fini_logged() { grep -q '^[0-9]* 2\.0 fini$' "$LOG"; }
wait_for 10 fini_logged
ok $? "the refusing instance ran its fini: $(flat "$(grep ' fini$' "$LOG")")"
write_v_conf

# -- a .conf that does not parse, while another agent changes ----------------
install_plugin "$TPLUGINS/vers1.so" "$PLUG"
out=$(actl reload 2>&1)
ok $? "the 1.0 file back in place: reload exits 0"
has_line "$out" "v: unchanged"
ok $? "v: unchanged"
# The error is on line 4 of v.conf.
conf v.conf <<EOF
agent "v" {
	plugin = "$PLUG"
	instances { min = 2  max = 2 }
	request_timeout 10s
	paths { write = { "$T_DIR/vlog" } }
	settings { log = "$LOG" }
}
EOF
install_plugin "$TPLUGINS/vers2.so" "$T_DIR/plugins/w2.so"
conf w.conf <<EOF
agent "w" {
	plugin = "$T_DIR/plugins/w2.so"
	health { probation = 0 }
}
EOF
# A file with only a broken agent in it, line 3.
conf junk.conf <<EOF
agent "junk" {
	plugin = "$WPLUG"
	instances { min = = 1 }
}
EOF
out=$(actl reload 2>&1)
rc=$?
[ $rc -eq 1 ]
ok $? "a .conf that does not parse: reload exits 1 (got $rc)"
like "$out" "^v: refused: [^ ]*v\\.conf:4: .*; keeps running 1\\.0 \\($H1\\)\$" \
    "v: refused: FILE:LINE: ...; keeps running 1.0"
like "$out" "^w: upgraded from 1\\.0 \\($H1\\) to 2\\.0 \\($H2\\)\$" \
    "w, in a file that parses, is upgraded"
like "$out" "^[^ ]*junk\\.conf: refused: [^ ]*junk\\.conf:3: " \
    "a broken file that held no running agent is named"
! printf '%s\n' "$out" | grep -q '^junk:'
ok $? "the broken file's agent is not started"
[ "$(answers)" = 1.0 ] && [ "$(pids_of v)" = "$pids0" ]
ok $? "v keeps running 1.0, same instances"
[ "$(answers w)" = 2.0 ]
ok $? "w answers 2.0"
only_current && [ "$(agent_field v .version)" = 1.0 ]
ok $? "status: v at 1.0, its two instances of its current generation"
! status_has '.agents[] | select(.name == "junk")'
ok $? "status does not list junk"

# Fixed again: the same section as before the mistake is unchanged.
rm -f "$T_DIR/conf/junk.conf"
write_v_conf
out=$(actl reload 2>&1)
ok $? "v.conf fixed, junk.conf gone: reload exits 0"
has_line "$out" "v: unchanged" && has_line "$out" "w: unchanged"
ok $? "v and w unchanged: $(flat "$out")"
[ "$(pids_of v)" = "$pids0" ]
ok $? "v still runs its first two instances"

# -- audited ------------------------------------------------------------------
aud=$(actl --json audit --agent v --limit 0 2>&1)
ok $? "agentctl audit --agent v"
printf '%s\n' "$aud" | grep -i reload | grep -qi refus
ok $? "a record of a reload of v says refused"

stop_agentd
ok $? "agentd stops"
workers_gone
ok $? "no worker is left"
done_testing

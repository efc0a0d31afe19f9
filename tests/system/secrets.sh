#!/bin/sh
# Settings read from files: `greeting_file = "PATH"` gives the typed test
# plugin's string setting greeting the file's content (agentd reads it;
# the worker never sees the path), which agentctl, the HTTP API (what the
# console reads), --check-config and the log never show.  The key is
# rotated by writing the file and `agentctl reload`: new instances hold
# the new value and no call fails meanwhile; an unchanged file changes
# nothing; a file gone, world-writable or a directory refuses the reload
# with one line (file:line, agent, setting, path, why) and the running
# agent is left as it was.  With agentd { watch = true }, writing the
# file is enough.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/reload_lib.sh"

command -v curl >/dev/null || { echo "1..0 # SKIP no curl"; exit 0; }
plan 47

TYPED=$(plugin_copy "$TPLUGINS/typed.so")
KEYS="$T_DIR/keys"
KEY="$KEYS/greeting.key"
mkdir -m 0700 "$KEYS"

# put_key TEXT: the key file holds TEXT and a newline, replaced at once
# (written beside it and renamed over it, as an operator would).
put_key() {
	printf '%s\n' "$1" > "$KEY.new" && chmod 0600 "$KEY.new" &&
	    mv -f "$KEY.new" "$KEY"
}
put_key "first-k3y-4711"

conf agentd.conf <<EOF
agentd {
	http { listen = "127.0.0.1:0" }
}
EOF
# In v.conf, greeting_file is on line 6.
conf v.conf <<EOF
agent "v" {
	plugin = "$TYPED"
	instances { min = 2  max = 2 }
	health { probation = 0 }
	settings {
		greeting_file = "$KEY"
		limit = 7
	}
}
EOF

# greeting: what v's instance answering a call holds as greeting.
greeting() { actl --json call v '"probe"' 2>/dev/null | jq -r .greeting; }
# all_greet TEXT: ten calls in a row all answer TEXT.
all_greet() {
	for _k in 1 2 3 4 5 6 7 8 9 10; do
		[ "$(greeting)" = "$1" ] || return 1
	done
}
# no_key TEXT: TEXT holds none of the keys the file ever held.
no_key() {
	case $1 in
	*-k3y-*) return 1 ;;
	esac
	return 0
}

out=$("$AGENTD" --check-config --confdir "$T_DIR/conf" \
    --state-dir "$T_DIR/state" --run-dir "$T_DIR/run" 2>&1)
ok $? "--check-config: the configuration is valid: $out"
no_key "$out"
ok $? "...and says nothing of the key"

start_agentd --log-level debug # the log holds no key even so
wait_for 10 agent_ready v 2
ok $? "v is ready with two instances"
wait_for 10 test -s "$T_DIR/run/http.addr"
URL="http://$(cat "$T_DIR/run/http.addr")"
VIEW=$(actl token create viewer1 --role viewer)

all_greet first-k3y-4711
ok $? "both instances hold the file's content, its newline dropped"
[ "$(actl --json call v '"probe"' | jq -r .limit)" = 7 ]
ok $? "the settings written inline are there too"

# -- shown masked everywhere -------------------------------------------------
set_json=$(actl --json settings v)
ok $? "agentctl settings answers"
[ "$(echo "$set_json" | jq -c '.settings[] | select(.name == "greeting")
    | [.value, .masked, .file]')" = "[\"********\",true,\"$KEY\"]" ]
ok $? "greeting: ********, masked, and the file it is read from"
echo "$set_json" | jq_true '[.settings[].name] == ["limit", "ratio",
    "greeting", "verbose"]'
ok $? "no greeting_file setting: the plugin knows greeting only"
echo "$set_json" | jq_true '.settings[] | select(.name == "limit")
    | .value == 7 and .masked == false'
ok $? "an inline setting that does not look secret is shown"
txt=$(actl settings v)
like "$txt" "greeting +string +\\*{8} \\(from $KEY\\)" \
    "agentctl settings prints ******** (from PATH)"
shown=$(actl --json status; actl status; printf '%s' "$set_json$txt")
for path in /v1/status /v1/agents/v/settings /v1/agents/v/versions \
    "/v1/audit?limit=100" /metrics; do
	shown="$shown$(curl -s -H "Authorization: Bearer $VIEW" "$URL$path")"
done
no_key "$shown"
ok $? "status, settings, versions, audit, metrics (agentctl, HTTP): no key"
[ "$(curl -s -H "Authorization: Bearer $VIEW" "$URL/v1/agents/v/settings" |
    jq -c .)" = "$(echo "$set_json" | jq -c .)" ]
ok $? "the console's GET /v1/agents/v/settings is agentctl's answer"

# -- rotation: write the file, reload ------------------------------------------
gen0=$(agent_field v .generation)
pids0=$(pids_of v)
out=$(actl reload 2>&1)
ok $? "a reload with the file unchanged exits 0"
has_line "$out" "v: unchanged"
ok $? "v: unchanged ($(flat "$out"))"
[ "$(agent_field v .generation)" = "$gen0" ] && [ "$(pids_of v)" = "$pids0" ]
ok $? "same generation ($gen0), same instances"

for c in 1 2; do
	: >"$T_DIR/replies-$c"
	: >"$T_DIR/calls-$c"
	: >"$T_DIR/failed-$c"
	call_loop $c &
	callers="${callers:-} $!"
done
mark_calls 1 2
wait_for 10 called_since 1 1 2
put_key "second-k3y-0815"
out=$(actl reload 2>&1)
ok $? "the file rotated, agentctl reload exits 0 ($(flat "$out"))"
like "$out" "^v: upgraded to a new configuration of 0\\.1\\.0" \
    "v: upgraded to a new configuration"
wait_for 10 only_current 2
ok $? "only the new generation's two instances are left"
mark_calls 1 2
wait_for 10 called_since 2 1 2
touch "$T_DIR/stop"
# shellcheck disable=SC2086
wait $callers
all_greet second-k3y-0815
ok $? "every call answers the new key"
[ "$(agent_field v .generation)" -eq $((gen0 + 1)) ] &&
    [ "$(pids_of v)" != "$pids0" ]
ok $? "generation $gen0 -> $(agent_field v .generation), new instances"
ncalls=$(cat "$T_DIR"/calls-* | grep -c .)
nfailed=$(cat "$T_DIR"/failed-* | grep -c .)
[ "$ncalls" -ge 4 ] && [ "$nfailed" -eq 0 ]
ok $? "no call failed during the rotation ($ncalls made, $nfailed failed: $(cat "$T_DIR"/errors-* | head -2))"
keys=$(cat "$T_DIR"/replies-* | jq -r .greeting | sort -u | tr '\n' ' ')
[ "$keys" = "first-k3y-4711 second-k3y-0815 " ]
ok $? "calls were answered with the old key, then the new ($keys)"

# -- a file agentd cannot use: refused, v untouched ----------------------------
gen1=$(agent_field v .generation)
pids1=$(pids_of v)
# refused_as WHY NAME: a reload now exits 1 with one line for v, naming
# v.conf:6, the setting, the path and WHY; v runs on as it was.
refused_as() {
	r_out=$(actl reload 2>&1)
	r_rc=$?
	[ $r_rc -eq 1 ]
	ok $? "$2: reload exits 1 (got $r_rc)"
	r_line=$(printf '%s\n' "$r_out" | grep '^v: ')
	[ "$(printf '%s\n' "$r_line" | grep -c .)" -eq 1 ]
	ok $? "$2: one line for v: $r_line"
	like "$r_line" "v: refused: .*/v\\.conf:6: agent \"v\": setting \"greeting_file\": .*$KEY.*$1.*; keeps running" \
	    "$2: file:line, agent, setting, path, why"
	[ "$(agent_field v .generation)" = "$gen1" ] &&
	    [ "$(pids_of v)" = "$pids1" ] && all_greet second-k3y-0815
	ok $? "$2: v runs on: generation $gen1, same instances, the key it had"
}
mv "$KEY" "$KEY.away"
refused_as "No such file or directory" "the file gone"
mv "$KEY.away" "$KEY"
chmod 0602 "$KEY"
refused_as "is writable by every user" "a world-writable file"
chmod 0600 "$KEY"
mv "$KEY" "$KEY.away" && mkdir "$KEY"
refused_as "is not a regular file" "a directory"
rmdir "$KEY" && mv "$KEY.away" "$KEY"

out=$(actl reload 2>&1)
has_line "$out" "v: unchanged"
ok $? "the file back as it was: v unchanged ($(flat "$out"))"

# -- the start refuses what the reload refused --------------------------------
sed 's|greeting_file = .*|greeting = "inline"\n\t\tgreeting_file = "'"$KEY"'"|' \
    "$T_DIR/conf/v.conf" > "$T_DIR/both.conf"
mkdir "$T_DIR/both" && mv "$T_DIR/both.conf" "$T_DIR/both/v.conf"
out=$("$AGENTD" --check-config --confdir "$T_DIR/both" \
    --state-dir "$T_DIR/state" --run-dir "$T_DIR/run" 2>&1)
rc=$?
[ $rc -eq 1 ] && [ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ]
ok $? "greeting and greeting_file both: --check-config exits 1 with one line"
like "$out" "v\\.conf:7: agent \"v\": setting \"greeting_file\" and \"greeting\" \\(line 6\\) both give \"greeting\": keep one" \
    "...saying which two and what to do"

trail=$(actl audit --agent v --limit 200 --json)
printf '%s\n' "$trail" | grep -q 'greeting_file.*No such file or directory' &&
    printf '%s\n' "$trail" | grep -q 'agent.configured'
ok $? "the audit trail has v's reloads, refusals (with the path) and generations"
no_key "$trail"
ok $? "...and no key"

mkdir "$T_DIR/gone"
sed "s|$KEY|$KEYS/nosuch.key|" "$T_DIR/conf/v.conf" > "$T_DIR/gone/v.conf"
out=$("$AGENTD" --check-config --confdir "$T_DIR/gone" \
    --state-dir "$T_DIR/state" --run-dir "$T_DIR/run" 2>&1)
rc=$?
[ $rc -eq 1 ] && [ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ]
ok $? "a missing file: --check-config exits 1 with one line"
like "$out" "gone/v\\.conf:6: agent \"v\": setting \"greeting_file\": cannot read $KEYS/nosuch\\.key: No such file or directory: create it" \
    "...naming file:line, agent, setting, path and why"

stop_agentd
ok $? "agentd stops"

# -- agentd { watch = true }: writing the file is the reload -------------------
conf agentd.conf <<EOF
agentd {
	http { listen = "127.0.0.1:0" }
	watch = true  watch_delay = 200ms
}
EOF
start_agentd
wait_for 10 agent_ready v 2
ok $? "agentd starts again, with watch = true"
put_key "third-k3y-2342"
wait_for 15 all_greet third-k3y-2342
ok $? "watch = true: the key file written, the new key answers"
grep -q "$KEY changed: reloading" "$T_DIR/agentd.log"
ok $? "agentd says the key file changed"
stop_agentd
ok $? "agentd stops"

no_key "$(cat "$T_DIR/agentd.log")"
ok $? "agentd's log holds no key"
done_testing

#!/bin/sh
# The exec agent (doc/exec.md) in a real agentd, inside its worker's
# sandbox (as the plugin user when the suite runs as root): a parameter
# stays one argv element (no shell), a path parameter cannot leave its
# root, a program outside paths { exec } cannot run (Landlock), a tool
# that never ends is stopped by SIGTERM and one that ignores it by
# SIGKILL while the instance serves other requests, 1 GiB of output is
# capped with the worker's memory bounded, a tool's background child dies
# with its process group (seccomp lets the worker signal groups), the
# callers list from the calling agent's name, max_concurrent, the audit
# records, and the seccomp filter still refusing the worker's own group
# and -1.  Bad paths { exec } and a bad tools_file: one line each, and
# nothing running disturbed.
. "$top_srcdir/tests/lib.sh"

plan 60

command -v jq >/dev/null || { echo "1..0 # SKIP jq missing"; exit 0; }

EXEC=$(plugin_copy "$BPLUGINS/exec.so")
BUS=$(plugin_copy "$TPLUGINS/bus.so")
ATTACKER=$(plugin_copy "$TPLUGINS/attacker.so")
T=$(plugin_dir tools)
mkdir -p "$T/work/sub"
echo inside > "$T/work/sub/f.txt"
echo TOPSECRET > "$T/secret"
ln -s "$T/secret" "$T/work/link"
chmod -R a+rX "$T"

cat > "$T/tools.json" <<EOF
{"tools": {
 "echo": {"argv": ["/bin/echo", "{word}"],
   "params": {"word": {"type": "string", "pattern": "[ -~]*"}},
   "callers": ["agentctl", "deployer"]},
 "cat": {"argv": ["/bin/cat", "{file}"], "cwd": "$T/work",
   "params": {"file": {"type": "path", "root": "$T/work"}},
   "callers": ["*"]},
 "id": {"argv": ["/usr/bin/id"], "callers": ["*"]},
 "hang": {"argv": ["/bin/sleep", "301.25"], "timeout_ms": 3000,
   "callers": ["*"]},
 "stubborn": {"argv": ["/bin/sh", "-c",
     "trap '' TERM; while :; do /bin/sleep 1; done"],
   "timeout_ms": 500, "callers": ["*"]},
 "flood": {"argv": ["/bin/sh", "-c", "/usr/bin/yes | /usr/bin/head -c 1073741824"],
   "output_max": 65536, "callers": ["*"]},
 "forker": {"argv": ["/bin/sh", "-c",
     "/bin/sleep 300 & echo \$! > $T/bg.pid; exit 4"],
   "callers": ["*"]},
 "deploy": {"argv": ["/bin/echo", "deploying", "{env}"],
   "params": {"env": {"type": "enum", "values": ["staging", "production"]}},
   "callers": ["deployer"]}
}}
EOF
chmod 0644 "$T/tools.json"
echo '{"tools": {"x": {"argv": ["echo"], "callers": ["*"]}}}' > "$T/bad.json"
chmod 0644 "$T/bad.json"
# A script: its #! shell and that one's loader are granted with it.
printf '#!/bin/sh\necho "hello from $0"\n' > "$T/hello.sh"
chmod 0755 "$T/hello.sh"
cat > "$T/script.json" <<EOF
{"tools": {"hello": {"argv": ["$T/hello.sh"], "callers": ["*"]},
  "echo": {"argv": ["/bin/echo", "not granted"], "callers": ["*"]}}}
EOF
chmod 0644 "$T/script.json"

conf exec.conf <<EOF
agent "exec" {
	plugin = "$EXEC"
	instances { concurrency = 8 }
	health { hung_after = 2s }
	paths {
		read = { "$T" }
		write = { "$T" }
		exec = { "/bin/echo", "/bin/cat", "/bin/sleep", "/usr/bin/head",
		    "/usr/bin/yes", "/bin/sh" }
	}
	settings {
		tools_file = "$T/tools.json"
		max_concurrent = 3
		kill_grace_ms = 300
	}
}
agent "deployer" { plugin = "$BUS" calls = { "exec" } }
agent "stranger" { plugin = "$BUS" calls = { "exec" } }
agent "outsider" { plugin = "$BUS" }
agent "scripted" {
	plugin = "$EXEC"
	paths { read = { "$T" } exec = { "$T/hello.sh" } }
	settings { tools_file = "$T/script.json" }
}
agent "attacker" {
	plugin = "$ATTACKER"
	paths { exec = { "/bin/true" } }
}
EOF
# The example of conf.d/examples/exec, its tools file where it says.
cp "$top_srcdir/conf.d/examples/exec/tools.json" "$T/example.json"
chmod 0644 "$T/example.json"
sed -e "s|/etc/agentd/tools.json|$T/example.json|g" -e "s|\"exec.so\"|\"$EXEC\"|" \
    "$top_srcdir/conf.d/examples/exec/exec.conf" > "$T_DIR/conf/example.conf"

start_agentd
ok $? "agentd starts"
wait_for 10 agent_ready exec && wait_for 10 agent_ready deployer &&
    wait_for 10 agent_ready stranger && wait_for 10 agent_ready attacker &&
    wait_for 10 agent_ready outsider && wait_for 10 agent_ready scripted
ok $? "exec and its callers are ready"
wait_for 10 agent_ready tools
ok $? "the example of conf.d/examples/exec is ready"
out=$(actl --json call tools '{"tool": "date"}')
like "$(printf "%s" "$out" | jq -r '(.exit | tostring) + " " + .stdout')" \
    "^0 20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T" "its date tool runs in the sandbox"
out=$(actl --json call tools '{"tool": "list", "params": {"dir": "."}}')
[ "$(printf "%s" "$out" | jq -r .exit)" = 0 ]
ok $? "its list tool too"

call() { actl --json call exec "$1" 2>"$T_DIR/call.err"; }
err() { cat "$T_DIR/call.err"; }

# ---- a parameter is one argv element, no shell -----------------------------
out=$(call '{"tool": "echo", "params": {"word": "a b; id $(id) `id` | x"}}')
ok $? "echo runs"
[ "$(printf "%s" "$out" | jq -r .stdout)" = 'a b; id $(id) `id` | x' ]
ok $? "its parameter reached echo as one argument, seen by no shell"
[ "$(printf "%s" "$out" | jq -c '[.exit, .signal, .timed_out, .truncated]')" = \
    '[0,null,false,false]' ]
ok $? "exit 0, no signal, not timed out, not truncated"
call '{"tool": "echo", "params": {"word": "--help"}}' >/dev/null
ok $(( ! $? )) "a value that is an option is refused"
one_line "$(err)" "in one line"
like "$(err)" "starts with '-'" "saying why"

# ---- paths -------------------------------------------------------------------
out=$(call '{"tool": "cat", "params": {"file": "sub/f.txt"}}')
[ "$(printf "%s" "$out" | jq -r .stdout)" = inside ]
ok $? "cat reads a file under its root"
for p in ../secret "$T/secret" link sub/../../secret; do
	out=$(call "{\"tool\": \"cat\", \"params\": {\"file\": \"$p\"}}")
	rc=$?
	[ $rc -ne 0 ] && ! printf "%s" "$out" | grep -q TOPSECRET
	ok $? "path $p is refused"
done
like "$(err)" "parameter file: .*outside $T/work" "naming the parameter and root"

# ---- the sandbox: only paths { exec } run ------------------------------------
call '{"tool": "id"}' >/dev/null
ok $(( ! $? )) "a program outside paths { exec } does not run"
like "$(err)" "cannot run /usr/bin/id.*(Permission denied|Operation not permitted).*paths \{ exec \}" \
    "the error says so and what to do"
one_line "$(err)" "in one line"

out=$(actl --json call scripted '{"tool": "hello"}')
[ "$(printf "%s" "$out" | jq -r '(.exit | tostring) + " " + .stdout')" = \
    "0 hello from $T/hello.sh" ]
ok $? "a script in paths { exec } runs: its #! shell is granted with it"
actl --json call scripted '{"tool": "echo"}' >/dev/null 2>&1
ok $(( ! $? )) "and /bin/echo, not listed for that agent, does not"

# ---- a tool that never ends, while the instance serves others --------------
call '{"tool": "hang"}' > "$T_DIR/hang.out" &
HANG=$!
wait_for 10 pgrep -f "^/bin/sleep 301[.]25$"
ok $? "hang is running"
out=$(call '{"tool": "echo", "params": {"word": "meanwhile"}}')
[ "$(printf "%s" "$out" | jq -r .stdout)" = meanwhile ] && kill -0 "$HANG" 2>/dev/null
ok $? "the instance answers another request meanwhile"
wait "$HANG"
[ "$(jq -c '[.timed_out, .signal, .exit]' "$T_DIR/hang.out")" = \
    '[true,"SIGTERM",null]' ]
ok $? "past its timeout it is stopped by SIGTERM"
out=$(call '{"tool": "stubborn"}')
[ "$(printf "%s" "$out" | jq -c '[.timed_out, .signal]')" = '[true,"SIGKILL"]' ]
ok $? "one that ignores SIGTERM is killed kill_grace_ms later"
[ "$(agent_field exec .restarts)" = 0 ]
ok $? "and the instance was never taken for hung nor restarted"

# ---- 1 GiB to stdout ----------------------------------------------------------
wpid=$(actl --json status | jq -r '.agents[] | select(.name == "exec")
    | .instances[0].pid')
out=$(call '{"tool": "flood"}')
ok $? "a tool writing 1 GiB is answered"
diag "flood: $(printf "%s" "$out" | jq -c ".stdout |= length")"
[ "$(printf "%s" "$out" | jq -c '[.truncated, (.stdout | length)]')" = '[true,65536]' ]
ok $? "its output cut at output_max"
[ "$(printf "%s" "$out" | jq -r .signal)" = SIGTERM ]
ok $? "and the tool stopped"
hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$wpid/status" 2>/dev/null)
[ -n "$hwm" ] && [ "$hwm" -lt 65536 ]
ok $? "the worker's peak memory stayed bounded (${hwm:-?} KiB)"

# ---- a tool that forks and exits ----------------------------------------------
out=$(call '{"tool": "forker"}')
[ "$(printf "%s" "$out" | jq -r .exit)" = 4 ]
ok $? "a tool that forks and exits is answered with its status"
bg=$(cat "$T/bg.pid" 2>/dev/null)
gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^State:.*Z' "/proc/$1/status"; }
[ -n "$bg" ] && wait_for 10 gone "$bg"
ok $? "its background child was killed with its process group"

# ---- callers --------------------------------------------------------------------
via() { actl --json call "$1" "{\"call\": \"exec\", \"body\": $2}"; }
out=$(via deployer '{"tool": "deploy", "params": {"env": "staging"}}')
[ "$(printf "%s" "$out" | jq -r '.status + " " + .reply.stdout')" = \
    "ok deploying staging" ]
ok $? "deployer, in the tool's callers, runs deploy"
out=$(via stranger '{"tool": "deploy", "params": {"env": "staging"}}')
[ "$(printf "%s" "$out" | jq -r .status)" = EDENIED ]
ok $? "stranger, not in them, is denied"
out=$(via outsider '{"tool": "echo", "params": {"word": "x"}}')
[ "$(printf "%s" "$out" | jq -r .status)" = EDENIED ]
ok $? "an agent without exec in its calls = { } is refused by agentd"
call '{"tool": "deploy", "params": {"env": "staging"}}' >/dev/null
ok $(( ! $? )) "so is the operator (agentctl)"
like "$(err)" "refused for agentctl: the caller is not in the tool's \"callers\"" \
    "naming the caller, from agentd, not the body"
out=$(via deployer '{"tool": "deploy", "params": {"env": "staging; rm"}}')
[ "$(printf "%s" "$out" | jq -r .status)" = EINVAL ]
ok $? "an enum takes its values only"

# ---- max_concurrent -----------------------------------------------------------
H=
for i in 1 2 3; do call '{"tool": "hang"}' >/dev/null & H="$H $!"; done
wait_for 10 sh -c '[ "$(pgrep -fc "^/bin/sleep 301[.]25$")" -ge 3 ]'
call '{"tool": "echo", "params": {"word": "x"}}' >/dev/null
ok $(( ! $? )) "past max_concurrent a request is refused"
like "$(err)" "max_concurrent" "saying so"
for p in $H; do wait "$p"; done

# ---- the audit trail ----------------------------------------------------------
runs=$(actl --json audit --kind exec.run --limit 100 |
    jq -s 'map(if type == "array" then .[] else . end)')
printf "%s" "$runs" | jq_true 'map(select(.detail.tool == "echo")) | length >= 2'
ok $? "runs are audited"
want=$(printf 'meanwhile\n' | sha256sum | cut -d' ' -f1)
printf "%s" "$runs" | jq_true 'map(select(.detail.tool == "echo"
    and .detail.stdout_sha256 == $h and .detail.exit == 0
    and .detail.caller == "agentctl")) | length == 1' --arg h "$want"
ok $? "with the SHA-256 of stdout, the exit and the caller"
printf "%s" "$runs" | jq_true 'map(select(.detail.tool == "flood"))[0].detail
    | .truncated == true and .stdout_bytes >= 65536
      and .stdout_bytes < 1073741824'
ok $? "the flood: truncated, and the bytes read"
refusals=$(actl --json audit --kind exec.refused --limit 100 |
    jq -s 'map(if type == "array" then .[] else . end)')
printf "%s" "$refusals" | jq_true 'map(select(.detail.caller == "stranger"
    and .detail.error == "EDENIED")) | length == 1'
ok $? "the refusal of stranger is audited"
printf "%s" "$refusals" | jq_true 'map(select(.detail.caller == "outsider"))
    | length == 0'
ok $? "outsider's call never reached exec"

# ---- the seccomp filter of an agent with paths { exec } -----------------------
out=$(actl --json call attacker '{"groups": true}')
field() { printf '%s' "$out" | jq -r --arg k "$1" '.[$k] // "missing"'; }
[ "$(field signal_self)" = ok ]
ok $? "it signals itself"
for r in signal_own_group signal_own_group_zext signal_every \
    signal_every_high signal_pgrp_zero; do
	[ "$(field $r)" = EPERM ]
	ok $? "$r is refused ($(field $r))"
done

# ---- bad configuration: one line, nothing running disturbed -------------------
mkdir -p "$T_DIR/bad"
cat > "$T_DIR/bad/x.conf" <<EOF
agent "x" {
	plugin = "$EXEC"
	paths { exec = { "/usr/bin/no-such-program" } }
	settings { tools_file = "$T/tools.json" }
}
EOF
try_start "$T_DIR/bad"
[ "$rc" -ne 0 ]
ok $? "a program in paths { exec } that is not there refuses the start"
like "$err" "x.conf:3: .*paths exec: \"/usr/bin/no-such-program\"" \
    "with its file and line"
sed -i 's|"/usr/bin/no-such-program"|"/usr/bin"|' "$T_DIR/bad/x.conf"
try_start "$T_DIR/bad"
[ "$rc" -ne 0 ]
ok $? "so does a directory"
like "$err" 'x.conf:3: .*"/usr/bin" is not an executable file' "saying what to name"
one_line "$err" "in one line"
# The exec agent's own tools_file changed to a bad one: a reload tries
# a new generation, which does not start; the running one serves on.
gen=$(agent_field exec .generation)
sed -i "s|tools_file = \"$T/tools.json\"|tools_file = \"$T/bad.json\"|" \
    "$T_DIR/conf/exec.conf"
actl reload >/dev/null 2>&1
wait_for 10 grep -q 'bad.json: tools.x: argv\[0\] "echo" must be an absolute path' \
    "$T_DIR/agentd.log"
ok $? "a bad tools_file is one line in the log"
out=$(call '{"tool": "echo", "params": {"word": "still"}}')
[ "$(printf "%s" "$out" | jq -r .stdout)" = still ] &&
    [ "$(agent_field exec .restarts)" = 0 ] &&
    [ "$(agent_field exec .generation)" = "$gen" ]
ok $? "and exec serves on with its tools, the same generation ($gen)"

stop_agentd
ok $? "agentd stops cleanly"
done_testing

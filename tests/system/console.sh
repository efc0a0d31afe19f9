#!/bin/sh
# The command center (doc/console.md) in a real browser: Debian's
# chromium, headless, driven by chromedriver through python3-selenium
# (tests/system/console.py), against a real agentd with the policy
# gate's test plugin (proposer) and a publisher of events (bus).  Sign
# in, the agents, a HIGH proposal in the queue within 2 s, approve /
# reject / modify through the page and the audit trail, HTML in a
# proposal shown as text, the live feed at 1000 events/s, agent detail,
# audit search and verify, a generation's counters (host->count()), a
# viewer without actions, a revoked token,
# agentd restarting under the page, 1280x800 and 390 px, and no
# JavaScript error in the browser's console.
#
# Screenshots go to the test's folder; AGENTD_CONSOLE_SHOTS=DIR copies
# them there too (AGENTD_CONSOLE_SHOTS=doc: doc/console.md's pictures).
. "$top_srcdir/tests/lib.sh"

CHROMIUM=$(command -v chromium || command -v chromium-browser)
CHROMEDRIVER=$(command -v chromedriver)
# Debian's python3 has python3-selenium; another python3 earlier in PATH
# (a virtualenv, pyenv) may not.
PY=
for p in python3 /usr/bin/python3; do
	"$p" -c 'import selenium' 2>/dev/null && { PY=$p; break; }
done
if [ -z "$CHROMIUM" ] || [ -z "$CHROMEDRIVER" ] || [ -z "$PY" ] ||
    ! command -v curl >/dev/null; then
	echo "1..0 # SKIP needs chromium, chromium-driver, python3-selenium and curl (contrib/deps.sh)"
	exit 0
fi

PROP=$(plugin_copy "$TPLUGINS/proposer.so")
BUS=$(plugin_copy "$TPLUGINS/bus.so")
ECHO=$(plugin_copy "$BPLUGINS/echo.so")
SECRETS=$(plugin_copy "$TPLUGINS/secrets.so")
# counts visits and conversions with host->count() (tests/plugins/ab.c)
AB=$(plugin_copy "$TPLUGINS/ab1.so")
# A fixed port: the page's origin must be the same after agentd restarts.
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
conf agentd.conf <<EOC
agentd {
	http { listen = "127.0.0.1:$PORT" }
}
policy {
	deadline = 1h
	rule "small" { type = { "price" } amount_below = 50 risk = low }
	rule "notify" { type = { "price" } amount_below = 500 risk = medium }
}
EOC
conf agents.conf <<EOC
agent "echo" { plugin = "$ECHO" instances { max = 3 } }
agent "pricing" { plugin = "$PROP" }
agent "feeder" { plugin = "$BUS" publish = { "feed" } }
agent "vault" {
	plugin = "$SECRETS"
	settings { api_token = "tok-s3cr3t-4711" DB_Password = "hunter2-0815" region = "us-east" }
}
agent "ab" { plugin = "$AB" }
EOC

# The page's files from the source tree (a VPATH build, as distcheck's,
# has none beside agentd).
AGENTD_CONSOLE_DIR=$(cd "$top_srcdir/runtime/console" && pwd)
export AGENTD_CONSOLE_DIR
start_agentd
ok $? "agentd starts with the HTTP API on 127.0.0.1:$PORT"
URL="http://127.0.0.1:$PORT"
wait_for 10 agent_ready echo && wait_for 10 agent_ready pricing &&
    wait_for 10 agent_ready feeder && wait_for 10 agent_ready vault &&
    wait_for 10 agent_ready ab
ok $? "its agents are ready"
TOK_VIEWER=$(actl token create viewer1 --role viewer) &&
    TOK_OPER=$(actl token create oper1 --role operator) &&
    TOK_ADMIN=$(actl token create admin1 --role admin) &&
    TOK_TEMP=$(actl token create temp --role operator)
ok $? "a viewer, an operator, an admin and a token to revoke"
code=$(curl -s -o "$T_DIR/page" -w '%{http_code}' "$URL/")
[ "$code" = 200 ] && grep -q 'src="app.js"' "$T_DIR/page"
ok $? "agentd serves the page at / without a token (got $code)"

export URL T_DIR TOK_VIEWER TOK_OPER TOK_ADMIN TOK_TEMP CHROMIUM CHROMEDRIVER
export AGENTCTL AGENTD_TEST_SLOW="$T_SLOW"
[ -n "${AGENTD_CONSOLE_SHOTS:-}" ] && mkdir -p "$AGENTD_CONSOLE_SHOTS" &&
    AGENTD_CONSOLE_SHOTS=$(cd "$AGENTD_CONSOLE_SHOTS" && pwd) && export AGENTD_CONSOLE_SHOTS
# console.py prints its own TAP lines, numbered after these; it asks
# this shell to stop and start agentd (this shell's child) by writing
# $T_DIR/req.stop or req.start, and reads the exit status in ack.*
# (written whole, then renamed: the reader never sees an empty file).
T_FIRST=$((T_N + 1)) "$PY" "$top_srcdir/tests/system/console.py" &
py_pid=$!
while kill -0 "$py_pid" 2>/dev/null; do
	if [ -f "$T_DIR/req.stop" ]; then
		rm -f "$T_DIR/req.stop"
		stop_agentd
		echo $? >"$T_DIR/ack.stop.tmp" && mv "$T_DIR/ack.stop.tmp" "$T_DIR/ack.stop"
	fi
	if [ -f "$T_DIR/req.start" ]; then
		rm -f "$T_DIR/req.start"
		start_agentd
		echo $? >"$T_DIR/ack.start.tmp" && mv "$T_DIR/ack.start.tmp" "$T_DIR/ack.start"
	fi
	sleep 0.05
done
wait "$py_pid"
py_rc=$?
T_N=$(cat "$T_DIR/console.last" 2>/dev/null || echo "$T_N")
[ "$py_rc" -eq 0 ] || T_FAILED=$((T_FAILED + 1))

wait_for 10 agent_ready pricing
stop_agentd
ok $? "agentd stops cleanly after the browser run"
plan "$T_N"
done_testing

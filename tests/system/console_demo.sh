#!/bin/sh
# What README.md promises a newcomer: with the repository's conf.d (as
# `make tour` runs it), the command center shows the demo's agents and a
# decision to approve, and approving it in the page has pricing apply
# the price (tests/system/console_demo.py, chromium headless).
. "$top_srcdir/tests/lib.sh"

CHROMIUM=$(command -v chromium || command -v chromium-browser)
CHROMEDRIVER=$(command -v chromedriver)
PY=
for p in python3 /usr/bin/python3; do
	"$p" -c 'import selenium' 2>/dev/null && { PY=$p; break; }
done
if [ -z "$CHROMIUM" ] || [ -z "$CHROMEDRIVER" ] || [ -z "$PY" ]; then
	echo "1..0 # SKIP needs chromium, chromium-driver and python3-selenium (contrib/deps.sh)"
	exit 0
fi

# The sample configuration, on a port of agentd's own instead of 8470 (a
# demo may be running on this machine).
cp "$top_srcdir/conf.d/"*.conf "$T_DIR/conf/"
sed -i "s/127\.0\.0\.1:8470/127.0.0.1:0/" "$T_DIR/conf/agentd.conf"
grep -q "127.0.0.1:0" "$T_DIR/conf/agentd.conf"
ok $? "the sample configuration, on a port agentd picks"
AGENTD_CONSOLE_DIR=$(cd "$top_srcdir/runtime/console" && pwd)
export AGENTD_CONSOLE_DIR
start_agentd --plugin-dir "$BPLUGINS"
ok $? "agentd starts with it"
wait_for 10 agent_ready echo && wait_for 10 agent_ready pricing
ok $? "echo and pricing are ready"
TOK_OPER=$(actl token create oper1 --role operator)
ok $? "an operator token, as the README makes one"

wait_for 10 test -s "$T_DIR/run/http.addr"
URL="http://$(cat "$T_DIR/run/http.addr")"
export URL T_DIR TOK_OPER CHROMIUM CHROMEDRIVER AGENTD_TEST_SLOW="$T_SLOW"
T_FIRST=$((T_N + 1)) "$PY" "$top_srcdir/tests/system/console_demo.py"
py_rc=$?
T_N=$(cat "$T_DIR/console.last" 2>/dev/null || echo "$T_N")
[ "$py_rc" -eq 0 ] || T_FAILED=$((T_FAILED + 1))

stop_agentd
ok $? "agentd stops"
plan "$T_N"
done_testing

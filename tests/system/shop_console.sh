#!/bin/sh
# The shop in the command center (doc/shop.md): the pipeline escalates the
# espresso machine, a person finds its card in the page's queue and
# approves it there, and the product is published on the shop once
# (tests/system/shop_console.py, chromium headless).  Screenshots go to
# the test's folder; AGENTD_CONSOLE_SHOTS=DIR copies them there too
# (AGENTD_CONSOLE_SHOTS=doc: doc/shop.md's pictures).
. "$top_srcdir/tests/lib.sh"
AGENTD_TEST_LIMIT=240

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
. "$top_srcdir/tests/shop_lib.sh"

AGENTD_CONSOLE_DIR=$(cd "$top_srcdir/runtime/console" && pwd)
export AGENTD_CONSOLE_DIR
shop_start
ok $? "agentd runs the shop's example configuration"
for q in "desk lamp" "ceramic mug" "phone case"; do
	r=$(run_start "$q") && wait_for 30 run_is "$r" done || break
done
ok $? "three pipeline runs ended: a lamp published, a mug and a case refused"
RUN=$(run_start "espresso machine")
wait_for 30 run_phase_is "$RUN" approval
ok $? "the espresso machine's run waits for a person"

[ -n "${AGENTD_CONSOLE_SHOTS:-}" ] && mkdir -p "$AGENTD_CONSOLE_SHOTS" &&
    AGENTD_CONSOLE_SHOTS=$(cd "$AGENTD_CONSOLE_SHOTS" && pwd) && export AGENTD_CONSOLE_SHOTS
TOK_OPER=$OPER
export URL SHOP T_DIR TOK_OPER RUN CHROMIUM CHROMEDRIVER AGENTD_TEST_SLOW="$T_SLOW"
export AGENTD_CTL="$AGENTCTL --run-dir $T_DIR/run"
T_FIRST=$((T_N + 1)) "$PY" "$top_srcdir/tests/system/shop_console.py"
py_rc=$?
T_N=$(cat "$T_DIR/console.last" 2>/dev/null || echo "$T_N")
[ "$py_rc" -eq 0 ] || T_FAILED=$((T_FAILED + 1))

wait_for 30 run_is "$RUN" done
ok $? "the run ends done once approved in the page"
[ "$(created ESP-3)" = 1 ]
ok $? "ESP-3 is on the shop once"
stop_agentd
ok $? "agentd stops"
plan "$T_N"
done_testing

#!/bin/sh
# The README's first command ends in `make demo`: contrib/shop/demo.sh as a
# newcomer runs it (in the test's folder and on free ports instead of
# ./demo and 8470-8473, so that a demo of this machine is not disturbed).
# It prints the command center's address and a working operator token,
# the pipeline publishes the lamp and the candle, a HIGH decision waits,
# orders arrive and are fulfilled, and Ctrl-C stops everything it started.
. "$top_srcdir/tests/lib.sh"
AGENTD_TEST_LIMIT=240
for c in python3 curl jq; do
	command -v $c >/dev/null || { echo "1..0 # SKIP no $c"; exit 0; }
done
plan 9

# four free ports in a row, below the range the kernel hands out to
# outgoing connections (32768 and up), so that the other tests' clients
# cannot take one of them between this check and the demo's bind
base=
for try in 1 2 3 4 5 6 7 8 9 10; do
	b=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 12000 ))
	python3 -c "import socket
for p in range($b, $b + 4):
    s = socket.socket(); s.bind(('127.0.0.1', p)); s.close()" 2>/dev/null && { base=$b; break; }
done
[ -n "$base" ] || { echo "Bail out! no four free ports"; exit 1; }

chmod 0711 "$T_DIR"
AGENTD_DEMO_DIR=$T_DIR/demo AGENTD_DEMO_PORT=$base AGENTD_DEMO_ORDER_EVERY=1 \
    AGENTD_DEMO_WAIT=$(slow 120) \
    sh "$top_srcdir/contrib/shop/demo.sh" "$top_srcdir" "$top_builddir" \
    > "$T_DIR/demo.out" 2>&1 &
DEMO=$!
printed() { grep -q 'sign in with the operator token' "$T_DIR/demo.out"; }
# (or it stopped: then at once, with what it said)
started() { printed || ! kill -0 "$DEMO" 2>/dev/null; }
wait_for 150 started
printed
ok $? "the demo starts and says where to look"
printed || {
	# what the demo said, and the ends of its logs, for the reader of CI
	sed 's/^/# demo.out: /' "$T_DIR/demo.out"
	for f in "$T_DIR"/demo/logs/*; do
		[ -f "$f" ] && tail -n 20 "$f" | sed "s|^|# ${f##*/}: |"
	done
	kill -TERM "$DEMO" 2>/dev/null
	wait "$DEMO"
	echo "Bail out! the demo did not start"
	exit 1
}
grep -q "http://127.0.0.1:$base/" "$T_DIR/demo.out"
ok $? "the command center's address"
tok=$(sed -n '/operator token/{n;n;p;}' "$T_DIR/demo.out" | tr -d ' ')
role=$(curl -sf -H "Authorization: Bearer $tok" "http://127.0.0.1:$base/v1/whoami" | jq -r .role)
[ "$role" = operator ]
ok $? "the printed token is an operator's"
ctl() { "$AGENTCTL" --run-dir "$T_DIR/demo/run" "$@"; }
shop() { curl -sf "http://127.0.0.1:$((base + 2))/_fake/state" | jq -r "$1"; }
published() { [ "$(shop '.creations["LAMP-1"]')" = 1 ] && [ "$(shop '.creations["CANDLE-2"]')" = 1 ]; }
wait_for 60 published
ok $? "the pipeline published the lamp and the candle"
escalated() { ctl --json approvals | jq -e -s 'map(if type == "array" then .[] else . end) | map(select(.type == "product.publish" and .params.sku == "ESP-3")) | length == 1'; }
wait_for 30 escalated
ok $? "the espresso machine waits for a person"
ordered() { grep -q '^demo: order #' "$T_DIR/demo.out"; }
wait_for 30 ordered
ok $? "orders arrive on the shop"
fulfilled() { curl -sf "http://127.0.0.1:$((base + 1))/_fake/orders" | jq -e -n 'input | .orders | length >= 1'; }
wait_for 30 fulfilled
ok $? "and reach the supplier through fulfilment"
# Ctrl-C is SIGINT to the demo in its terminal; a job started with & by a
# shell without job control ignores SIGINT, so the test sends SIGTERM,
# which demo.sh handles the same way.
kill -TERM "$DEMO"
gone() { ! kill -0 "$DEMO" 2>/dev/null; }
wait_for 30 gone
ok $? "stopping the demo (SIGTERM, as Ctrl-C) ends it"
# (a function: pgrep -f would find the command line of an `sh -c`)
nothing_left() { ! pgrep -f "$T_DIR/demo" >/dev/null; }
wait_for 30 nothing_left
ok $? "and everything it started"

#!/bin/sh
# demo.sh SRCDIR BUILDDIR - the shop demo that `make demo` runs (doc/shop.md).
#
# Starts, on loopback, the fake outside world of tests/tools (a supplier
# catalog on 8471, a shop speaking the Shopify Admin API on 8472, a
# language model on 8473), then agentd with the shop's example
# configuration (conf.d/examples/shop, plus conf.d's echo and pricing)
# and its HTTP API and command center on 8470.  Once every agent is
# ready it runs the product pipeline for a few products (one of them
# waits for a person to approve it), prints where to look, and places a
# customer's order on the shop now and then.  Ctrl-C stops it all.
#
# Everything it writes is under BUILDDIR/demo, made afresh at each start
# (the fake shop remembers nothing either).  For its test
# (tests/system/shop_demo.sh): AGENTD_DEMO_DIR another folder,
# AGENTD_DEMO_PORT another first port (the next three for the fakes),
# AGENTD_DEMO_ORDER_EVERY seconds between orders (default 10),
# AGENTD_DEMO_WAIT seconds to wait for agentd and the fakes to be ready
# (default 60; a loaded machine's test gives more).
set -u

src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
demo=${AGENTD_DEMO_DIR:-$build/demo}
p0=${AGENTD_DEMO_PORT:-8470}
p1=$((p0 + 1)) p2=$((p0 + 2)) p3=$((p0 + 3))
every=${AGENTD_DEMO_ORDER_EVERY:-10}
wait_s=${AGENTD_DEMO_WAIT:-60}
ctl="$build/runtime/agentctl --run-dir $demo/run"
# what it prints for a person to type: short, from the build directory
show="$ctl"
[ "$build" = "$(pwd)" ] && show="runtime/agentctl --run-dir demo/run"
pids=

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

stop() {
	trap - INT TERM EXIT
	say "stopping"
	[ -n "${agentd:-}" ] && kill -TERM "$agentd" 2>/dev/null && wait "$agentd" 2>/dev/null
	for p in $pids; do kill "$p" 2>/dev/null; done
	exit 0
}

command -v python3 >/dev/null || die "python3 is missing: run sh contrib/deps.sh"
command -v curl >/dev/null || die "curl is missing: run sh contrib/deps.sh"
command -v jq >/dev/null || die "jq is missing: run sh contrib/deps.sh"
for port in $p0 $p1 $p2 $p3; do
	python3 -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $port))" 2>/dev/null ||
	    die "port $port on 127.0.0.1 is in use (another make demo?): stop what holds it (ss -ltnp 'sport = :$port') and run make demo again"
done

# made afresh: but never a folder that is not an earlier demo's
if [ -d "$demo" ] && [ -n "$(ls -A "$demo")" ] && [ ! -f "$demo/conf/agentd.conf" ]; then
	die "$demo is not empty and holds no earlier demo (no conf/agentd.conf): give AGENTD_DEMO_DIR an empty or new folder"
fi
rm -rf "$demo"
mkdir -p "$demo/logs"
chmod 0755 "$demo"
sh "$src/contrib/shop/mkconf.sh" "$src" "$demo" 127.0.0.1:$p0 $p1 $p2 $p3 ||
    die "could not write the configuration in $demo"

# As root, agentd runs the plugins as agentd-plugin (doc/security.md),
# who must reach the files they read here: a checkout under a folder only
# root may enter (such as /root, mode 0700) keeps them out.
if [ "$(id -u)" -eq 0 ] &&
    ! runuser -u agentd-plugin -- test -r "$demo/etc/workflows/pipeline.flow" 2>/dev/null; then
	d=$demo
	while [ "$d" != / ]; do
		runuser -u agentd-plugin -- test -x "$d" 2>/dev/null || bad=$d
		d=$(dirname "$d")
	done
	die "the plugins' user agentd-plugin cannot enter ${bad:-$demo}, so it cannot read the demo's files in $demo/etc: build the demo in a checkout elsewhere (/srv/agentd, say), or let others enter that folder (chmod o+x ${bad:-$demo})"
fi

trap stop INT TERM EXIT
fake() {
	name=$1
	port=$2
	shift 2
	python3 "$src/tests/tools/$name.py" --port "$port" \
	    --port-file "$demo/logs/$name.port" --log "$demo/logs/$name.log" \
	    --limit 0 "$@" 2>"$demo/logs/$name.err" &
	pids="$pids $!"
}
fake fakesupplier $p1
fake fakeshop $p2 --token-file "$demo/etc/shop/token" \
    --webhook-secret-file "$demo/etc/shop/webhook.secret" \
    --webhook-url http://127.0.0.1:$p0/hooks/shop/orders
fake fakellm $p3

"$build/runtime/agentd" --confdir "$demo/conf" --state-dir "$demo/state" \
    --run-dir "$demo/run" --plugin-dir "$build/plugins/.libs" --foreground \
    2>"$demo/logs/agentd.log" &
agentd=$!

# until SECONDS CMD...: CMD succeeds within SECONDS, or the demo stops.
until_ok() {
	n=$(( $1 * 10 ))
	shift
	while ! "$@" >/dev/null 2>&1; do
		kill -0 "$agentd" 2>/dev/null ||
		    die "agentd stopped: see the end of $demo/logs/agentd.log:
$(tail -n 5 "$demo/logs/agentd.log")"
		n=$((n - 1))
		[ "$n" -gt 0 ] || die "timed out waiting for: $* (logs in $demo/logs)"
		sleep 0.1
	done
}
all_ready() {
	$ctl --json status | jq -e -n 'input | [.agents[] | .ready >= 1] | all' >/dev/null
}
until_ok "$wait_s" all_ready
for name in fakesupplier fakeshop fakellm; do
	until_ok "$wait_s" test -s "$demo/logs/$name.port"
done

operator=$($ctl token create demo-operator --role operator) ||
    die "could not make a token"
viewer=$($ctl token create demo-viewer --role viewer)

start() {
	$ctl --json call flow "{\"op\":\"start\",\"workflow\":\"pipeline\",\"key\":\"demo-$2\",\"input\":{\"query\":\"$1\"}}" |
	    jq -r '"demo: pipeline run " + .run + " for \"'"$1"'\""'
}
start "desk lamp" lamp
start "scented candle" candle
start "ceramic mug" mug
start "phone case" case
start "espresso machine" espresso

cat <<EOF

  The shop runs.  Open the command center:

      http://127.0.0.1:$p0/

  and sign in with the operator token (approve, reject, modify):

      $operator

  or the viewer token (read only): $viewer

  A decision waits for you there: the CEO agent escalated the espresso
  machine (and pricing proposes a new price for DEMO-MUG).  In another
  terminal, in this directory:

      $show status
      $show approvals
      $show call flow '{"op":"list"}'
      $show audit --agent ceo --kind decision
      curl -s http://127.0.0.1:$p2/_fake/state | jq .creations

  Orders arrive on the shop every $every seconds.  Ctrl-C stops everything;
  logs are in ${demo#$(pwd)/}/logs.

EOF

# A customer now and then, buying what is on the shop.
n=0
while kill -0 "$agentd" 2>/dev/null; do
	sleep "$every" &
	wait $! 2>/dev/null
	n=$((n + 1))
	skus=$(curl -s http://127.0.0.1:$p2/_fake/state |
	    jq -r '[.products[].variants[].sku] | unique | .[]' 2>/dev/null)
	[ -n "$skus" ] || continue
	set -- $skus
	i=$(( n % $# + 1 ))
	eval "sku=\${$i}"
	curl -s -X POST -H 'Content-Type: application/json' \
	    -d "{\"email\":\"customer$n@example.com\",\"line_items\":[{\"sku\":\"$sku\",\"quantity\":$(( n % 3 + 1 ))}]}" \
	    http://127.0.0.1:$p2/_fake/order |
	    jq -r '"demo: order " + .order.name + " for " + (.order.line_items | map((.quantity|tostring) + " x " + .sku) | join(", ")) + " (webhook: " + (.webhook_status|tostring) + ")"' 2>/dev/null
done
say "agentd exited: see $demo/logs/agentd.log"

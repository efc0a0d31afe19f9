#!/bin/sh
# The command center's first render with a large agentd (issue 24;
# doc/performance.md): AGENTS agents (default 200) of the proposer test
# plugin with INSTANCES instances each (default 5: 1000 in all) and
# PER_AGENT HIGH decisions pending each (default 50: 10 000), then
# bench/console_bench.py loads the page in headless chromium RUNS times
# per view and prints the page's own marks.  Needs a built tree
# (tests/plugins too: make check builds them) and Debian's chromium,
# chromium-driver and python3-selenium.  Run from the build tree:
#   sh bench/console_bench.sh
set -eu
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
AGENTS=${AGENTS:-200} INSTANCES=${INSTANCES:-5} PER_AGENT=${PER_AGENT:-50}
PY=
for p in python3 /usr/bin/python3; do
	"$p" -c 'import selenium' 2>/dev/null && { PY=$p; break; }
done
[ -n "$PY" ] || { echo "console_bench: needs python3-selenium" >&2; exit 1; }
BENCH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/agentd-console-bench.XXXXXX")
AGENTD_PID=
cleanup() {
	[ -n "$AGENTD_PID" ] && kill -TERM "$AGENTD_PID" 2>/dev/null &&
	    while kill -0 "$AGENTD_PID" 2>/dev/null; do sleep 0.1; done
	rm -rf "$BENCH_DIR"
}
trap cleanup EXIT
mkdir -p "$BENCH_DIR/conf" "$BENCH_DIR/plugins"
cp "$top_builddir/tests/plugins/.libs/proposer.so" "$BENCH_DIR/plugins/"
chmod 0644 "$BENCH_DIR/plugins/proposer.so"
chmod 0711 "$BENCH_DIR"
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$BENCH_DIR/conf/agentd.conf" <<EOC
agentd { http { listen = "127.0.0.1:$PORT" max_connections = 64 } }
policy { deadline = 1h max_pending = 100000 }
EOC
i=1
while [ "$i" -le "$AGENTS" ]; do
	echo "agent \"shop$i\" { plugin = \"$BENCH_DIR/plugins/proposer.so\" instances { min = $INSTANCES max = $INSTANCES } }"
	i=$((i + 1))
done >"$BENCH_DIR/conf/agents.conf"
export AGENTD_WORKER="$top_builddir/runtime/agentd-worker"
AGENTD_CONSOLE_DIR="$top_srcdir/runtime/console"
export AGENTD_CONSOLE_DIR
CTL="$top_builddir/runtime/agentctl --run-dir $BENCH_DIR/run"
"$top_builddir/runtime/agentd" --confdir "$BENCH_DIR/conf" --state-dir "$BENCH_DIR/state" \
    --run-dir "$BENCH_DIR/run" --foreground 2>"$BENCH_DIR/agentd.log" &
AGENTD_PID=$!
want=$((AGENTS * INSTANCES))
t=0
until [ "$($CTL --json status 2>/dev/null | jq '[.agents[].ready] | add // 0')" = "$want" ]; do
	t=$((t + 1))
	[ "$t" -gt 1200 ] && { echo "console_bench: $want instances not ready" >&2; exit 1; }
	sleep 0.5
done
TOKEN=$($CTL token create bench --role operator)
i=1
while [ "$i" -le "$AGENTS" ]; do
	$CTL call "shop$i" "{\"propose\":{\"type\":\"price.set\",\"title\":\"Reprice SKU $i\",\"reasoning\":\"bench\",\"amount\":900,\"confidence\":0.5,\"params\":{\"sku\":\"S-$i\"}},\"count\":$PER_AGENT}" >/dev/null
	i=$((i + 1))
done
pending=$($CTL --json status | jq '[.agents[].decisions.pending] | add')
echo "console setup agents=$AGENTS instances=$want pending=$pending"
URL="http://127.0.0.1:$PORT" TOKEN=$TOKEN BENCH_DIR=$BENCH_DIR "$PY" "$top_srcdir/bench/console_bench.py"

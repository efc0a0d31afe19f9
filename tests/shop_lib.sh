# tests/shop_lib.sh - sourced by the shop's system tests (after
# tests/lib.sh): the fake outside world on loopback, the shop's
# configuration made by contrib/shop/mkconf.sh from the shipped examples,
# and a real agentd running every agent of the shop.

command -v curl >/dev/null || { echo "1..0 # SKIP no curl"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP no python3"; exit 0; }

SHOP_TOOLS=$top_srcdir/tests/tools
S_PIDS=

# s_fake NAME ARGS...: start tests/tools/NAME.py on a free port; its port
# ends up in $T_DIR/NAME.port, its request log in $T_DIR/NAME.log.
s_fake() {
	s_name=$1
	shift
	python3 "$SHOP_TOOLS/$s_name.py" --port-file "$T_DIR/$s_name.port" \
	    --log "$T_DIR/$s_name.log" --limit "$(slow "${AGENTD_TEST_LIMIT:-120}")" \
	    "$@" 2>>"$T_DIR/$s_name.err" &
	S_PIDS="$S_PIDS $!"
	wait_for 10 test -s "$T_DIR/$s_name.port" ||
	    { echo "Bail out! $s_name.py did not start"; cat "$T_DIR/$s_name.err"; exit 1; }
}

s_cleanup() {
	for p in $S_PIDS; do kill "$p" 2>/dev/null; done
	t_cleanup
}
trap s_cleanup EXIT

s_mkconf() {
	"$top_srcdir/contrib/shop/mkconf.sh" "$top_srcdir" "$SHOP_DIR" \
	    127.0.0.1:0 "$(cat "$T_DIR/fakesupplier.port")" "$1" \
	    "$(cat "$T_DIR/fakellm.port")"
}

# shop_start [ARGS]: the fakes, the configuration, agentd, every agent
# ready, and the shop's webhook pointed at agentd.  Sets SUPPLIER, SHOP,
# LLM (base URLs of the fakes), URL (agentd's HTTP API) and OPER (an
# operator's token).
shop_start() {
	s_fake fakesupplier
	s_fake fakellm
	SHOP_DIR=$T_DIR/shop
	mkdir -p "$SHOP_DIR"
	# mkconf makes the shop's token and secret once, the first time; the
	# second, with the shop's port, keeps them
	s_mkconf 0
	s_fake fakeshop --token-file "$SHOP_DIR/etc/shop/token" \
	    --webhook-secret-file "$SHOP_DIR/etc/shop/webhook.secret" \
	    --webhook-url-file "$T_DIR/webhook.url"
	s_mkconf "$(cat "$T_DIR/fakeshop.port")"
	chmod 0711 "$T_DIR"
	cp "$SHOP_DIR"/conf/*.conf "$T_DIR/conf/"
	SUPPLIER=http://127.0.0.1:$(cat "$T_DIR/fakesupplier.port")
	SHOP=http://127.0.0.1:$(cat "$T_DIR/fakeshop.port")
	LLM=http://127.0.0.1:$(cat "$T_DIR/fakellm.port")
	start_agentd --plugin-dir "$BPLUGINS" "$@" || return 1
	for a in $(shop_agents); do
		wait_for 20 agent_ready "$a" ||
		    { diag "agent $a is not ready"; return 1; }
	done
	wait_for 10 test -s "$T_DIR/run/http.addr" || return 1
	URL="http://$(cat "$T_DIR/run/http.addr")"
	echo "$URL/hooks/shop/orders" > "$T_DIR/webhook.url"
	OPER=$(actl token create shop-test --role operator)
}

# The agents of the configuration, by name.
shop_agents() {
	sed -n 's/^agent "\([^"]*\)".*/\1/p' "$T_DIR"/conf/*.conf
}

# run_start QUERY [KEY]: start the pipeline for QUERY; prints the run id.
run_start() {
	r_in=$(jq -cn --arg q "$1" --arg k "${2:-}" \
	    '{op: "start", workflow: "pipeline", input: {query: $q}}
	     + (if $k == "" then {} else {key: $k} end)')
	actl --json call flow "$r_in" | jq -r .run
}

# run_field RUN FILTER: FILTER (jq) of the run's record.
run_field() {
	actl --json call flow "{\"op\":\"status\",\"run\":\"$1\"}" | jq -r "$2"
}
run_is() { [ "$(run_field "$1" .state)" = "$2" ]; }
run_phase_is() { [ "$(run_field "$1" .phase)" = "$2" ]; }

# shop_state FILTER: FILTER (jq) of what reached the fake shop.
shop_state() { curl -sf "$SHOP/_fake/state" | jq -r "$1"; }
created() { shop_state ".creations[\"$1\"] // 0"; }

# pending_decision TYPE SKU: the id of the pending decision of TYPE about SKU.
pending_decision() {
	actl --json approvals |
	    jq -rs --arg t "$1" --arg s "$2" 'map(if type == "array" then .[] else . end)
	        | map(select(.type == $t and .params.sku == $s)) | .[0].id // empty'
}
has_pending() { [ -n "$(pending_decision "$1" "$2")" ]; }

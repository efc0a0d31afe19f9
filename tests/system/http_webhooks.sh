#!/bin/sh
# Webhooks end to end: a platform's signed POST (HMAC-SHA256 of the body,
# base64 as Shopify writes it, hex as GitHub does) becomes an event a
# subscribing plugin receives, from the source webhook.NAME; a wrong or
# missing signature is 401, counted and audited at most once a second; a
# delivery id seen within the replay window is 409 and not published; a
# body that is not JSON is 400, one over max_message_size 413; and each
# configuration mistake is one line at its file:line.
. "$top_srcdir/tests/lib.sh"

command -v curl >/dev/null || { echo "1..0 # SKIP no curl"; exit 0; }
command -v openssl >/dev/null || { echo "1..0 # SKIP no openssl"; exit 0; }
plan 55

BUS=$(plugin_copy "$TPLUGINS/bus.so")
printf 'shpss_0123456789abcdef\n' >"$T_DIR/conf/shop.secret"
printf 'forge-secret\n' >"$T_DIR/conf/forge.secret"
chmod 0600 "$T_DIR/conf/shop.secret" "$T_DIR/conf/forge.secret"
conf agentd.conf <<EOF
agentd {
	max_message_size = 65536
	http {
		listen = "127.0.0.1:0"
		webhook "shop-orders" {
			path = "/hooks/shop/orders"
			topic = "shop.order.created"
			secret_file = "shop.secret"
			signature_header = "X-Shopify-Hmac-Sha256"
			id_header = "X-Shopify-Webhook-Id"
		}
		webhook "forge" {
			path = "/hooks/forge/push"
			topic = "forge.push"
			secret_file = "forge.secret"
			signature_header = "X-Hub-Signature-256"
			encoding = hex
			id_header = "X-GitHub-Delivery"
			replay_window = 3s
		}
	}
}
EOF
conf agents.conf <<EOF
agent "watcher" { plugin = "$BUS" subscribe = { "shop", "forge" } }
EOF

start_agentd
ok $? "agentd starts with two webhooks in http { }"
wait_for 10 test -s "$T_DIR/run/http.addr" && wait_for 10 agent_ready watcher
ok $? "the server and the subscriber are up"
URL="http://$(cat "$T_DIR/run/http.addr")"
VIEW=$(actl token create viewer1 --role viewer)

# b64sig SECRET BODY, hexsig SECRET BODY: what the platforms send.
b64sig() { printf '%s' "$2" | openssl dgst -sha256 -hmac "$1" -binary | base64; }
hexsig() { printf '%s' "$2" | openssl dgst -sha256 -hmac "$1" | sed 's/^.*= *//'; }
SHOP=shpss_0123456789abcdef
FORGE=forge-secret
# hook PATH [CURL-ARGS]: POST to a webhook; the status, the body in
# $T_DIR/body.
hook() {
	h_path=$1
	shift
	curl -s -o "$T_DIR/body" -w '%{http_code}' "$@" "$URL$h_path"
}
bj() { jq -r "$1" "$T_DIR/body"; }
received() { actl --json call watcher '{"events":true}' | jq -r "$1"; }
# metric NAME{LABELS}: its value on /metrics (empty when absent).
metric() {
	curl -s -H "Authorization: Bearer $VIEW" "$URL/metrics" |
	    awk -v m="$1" '$1 == m { print $2 }'
}
refusals() {
	actl --json audit --kind webhook.refused --limit 0 | grep -c .
}

# An events stream shows each event's source (plugins are not told it).
curl -sN -H "Authorization: Bearer $VIEW" "$URL/v1/events/stream" \
    >"$T_DIR/stream.out" 2>&1 &
STREAM=$!
wait_for 10 grep -q '^: events' "$T_DIR/stream.out"
ok $? "an events stream is open to watch the sources"

# ---- good signatures ------------------------------------------------------
B='{"id":450789469,"total_price":"598.94","line_items":[{"sku":"A-1"}]}'
code=$(hook /hooks/shop/orders --data-binary "$B" \
    -H "X-Shopify-Hmac-Sha256: $(b64sig "$SHOP" "$B")" \
    -H "X-Shopify-Webhook-Id: b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
[ "$code" = 200 ] && [ "$(bj .delivered)" = 1 ]
ok $? "a POST signed in base64: 200, delivered to the one subscriber (got $code, $(cat "$T_DIR/body"))"
wait_for 10 sh -c "'$AGENTCTL' --run-dir '$T_DIR/run' --json call watcher '{\"events\":true}' | grep -q '\"last_topic\":\"shop.order.created\"'"
ok $? "the subscribing plugin received it on the webhook's topic"
[ "$(received '.last | tojson')" = "$(printf '%s' "$B" | jq -c .)" ]
ok $? "its body is the JSON that was signed, as msgpack ($(received '.last | tojson'))"
wait_for 10 grep -q '"topic":"shop.order.created","src":"webhook.shop-orders"' "$T_DIR/stream.out"
ok $? "its source is webhook.shop-orders"

B2='{"ref":"refs/heads/main","after":"a1b2c3"}'
code=$(hook /hooks/forge/push --data-binary "$B2" \
    -H "X-Hub-Signature-256: sha256=$(hexsig "$FORGE" "$B2")" \
    -H "X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958")
[ "$code" = 200 ] && [ "$(bj .delivered)" = 1 ]
ok $? "a POST signed in hex after sha256=, as GitHub sends it: 200 (got $code)"
wait_for 10 sh -c "'$AGENTCTL' --run-dir '$T_DIR/run' --json call watcher '{\"events\":true}' | grep -q '\"last_topic\":\"forge.push\"'"
ok $? "received on forge.push"
B3='{"ref":"refs/heads/dev"}'
code=$(hook /hooks/forge/push --data-binary "$B3" \
    -H "X-Hub-Signature-256: $(hexsig "$FORGE" "$B3" | tr a-f A-F)" \
    -H "X-GitHub-Delivery: d-upper")
[ "$code" = 200 ]
ok $? "hex in capitals, without sha256=: 200 (got $code)"
n_ok=$(received .received)
[ "$n_ok" = 3 ]
ok $? "three events so far ($n_ok)"

# ---- bad signatures -------------------------------------------------------
code=$(hook /hooks/shop/orders --data-binary "$B" -H "X-Shopify-Webhook-Id: w1" \
    -H "X-Shopify-Hmac-Sha256: $(b64sig wrong-secret "$B")" -D "$T_DIR/headers")
[ "$code" = 401 ] && [ "$(bj .error)" = EDENIED ]
ok $? "a signature under another secret: 401 EDENIED (got $code)"
like "$(bj .message)" 'X-Shopify-Hmac-Sha256 is not the HMAC-SHA256 \(base64\) of this body' "saying what it checked"
! grep -qi '^WWW-Authenticate' "$T_DIR/headers"
ok $? "no WWW-Authenticate: a token would not help"
code=$(hook /hooks/shop/orders --data-binary '{"id":1,"total_price":"0.01"}' \
    -H "X-Shopify-Webhook-Id: w2" -H "X-Shopify-Hmac-Sha256: $(b64sig "$SHOP" "$B")")
[ "$code" = 401 ]
ok $? "a body changed after signing: 401 (got $code)"
code=$(hook /hooks/shop/orders --data-binary "$B" -H "X-Shopify-Webhook-Id: w3")
[ "$code" = 401 ] && like "$(bj .message)" 'no X-Shopify-Hmac-Sha256 header' "a missing signature header: 401, naming the header (got $code)"
code=$(hook /hooks/shop/orders --data-binary "$B" -H "X-Shopify-Webhook-Id: w4" \
    -H "X-Shopify-Hmac-Sha256: not base64 at all")
[ "$code" = 401 ]
ok $? "a signature that is not base64: 401 (got $code)"
code=$(hook /hooks/forge/push --data-binary "$B2" -H "X-GitHub-Delivery: w5" \
    -H "X-Hub-Signature-256: sha256=$(b64sig "$FORGE" "$B2")")
[ "$code" = 401 ]
ok $? "base64 where the webhook says hex: 401 (got $code)"
[ "$(received .received)" = 3 ]
ok $? "none of them was published"
[ "$(metric 'agentd_webhook_requests_total{webhook="shop-orders",outcome="bad_signature"}')" = 3 ] &&
    [ "$(metric 'agentd_webhook_requests_total{webhook="shop-orders",outcome="no_signature"}')" = 1 ] &&
    [ "$(metric 'agentd_webhook_requests_total{webhook="forge",outcome="bad_signature"}')" = 1 ] &&
    [ "$(metric 'agentd_webhook_requests_total{webhook="shop-orders",outcome="delivered"}')" = 1 ] &&
    [ "$(metric 'agentd_webhook_requests_total{webhook="forge",outcome="delivered"}')" = 2 ]
ok $? "counted by webhook and outcome on /metrics"
wait_for 10 sh -c "'$AGENTCTL' --run-dir '$T_DIR/run' --json audit --kind webhook.refused | grep -q 'webhook shop-orders: POST /hooks/shop/orders: a wrong signature'"
ok $? "refusals are audited (webhook.refused)"

# A flood of bad signatures writes about one record a second, and the
# next record tells how many were held back.
before=$(refusals)
t0=$(date +%s)
python3 - "$URL" <<'EOF'
import sys, urllib.request, urllib.error
for i in range(40):
    req = urllib.request.Request(sys.argv[1] + "/hooks/shop/orders",
        data=b'{"x":1}', headers={"X-Shopify-Hmac-Sha256": "A" * 43 + "=",
        "X-Shopify-Webhook-Id": "f%d" % i})
    try:
        urllib.request.urlopen(req, timeout=10)
    except urllib.error.HTTPError as e:
        assert e.code == 401, e.code
EOF
ok $? "40 bad signatures, each 401"
t1=$(date +%s)
during=$(( $(refusals) - before ))
[ "$during" -le $(( t1 - t0 + 2 )) ]
ok $? "at most one record a second: $during record(s) for 40 refusals in $(( t1 - t0 )) s"
wait_for 10 sh -c "curl -s -o /dev/null -d '{}' -H 'X-Shopify-Hmac-Sha256: x' '$URL/hooks/shop/orders'; '$AGENTCTL' --run-dir '$T_DIR/run' --json audit --kind webhook.refused --limit 1 | grep -q 'more like it'"
ok $? "the next record says how many were held back"
[ "$(metric 'agentd_webhook_requests_total{webhook="shop-orders",outcome="bad_signature"}')" -ge 43 ]
ok $? "every refusal is counted nonetheless"

# ---- replays --------------------------------------------------------------
sig=$(b64sig "$SHOP" "$B")
code=$(hook /hooks/shop/orders --data-binary "$B" -H "X-Shopify-Hmac-Sha256: $sig" \
    -H "X-Shopify-Webhook-Id: b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
[ "$code" = 409 ] && [ "$(bj .error)" = EEXIST ]
ok $? "the first delivery again, same id: 409 EEXIST (got $code)"
like "$(bj .message)" 'delivery b54557e4-bdd9-4b37-8a5f-bf7d70bcd043 was received [0-9]+s ago \(replay_window 600s\): not published again' "saying when it was received"
[ "$(received .received)" = 3 ]
ok $? "the replay was not published"
[ "$(metric 'agentd_webhook_requests_total{webhook="shop-orders",outcome="replayed"}')" = 1 ]
ok $? "replays are counted"
wait_for 10 sh -c "'$AGENTCTL' --run-dir '$T_DIR/run' --json audit --kind webhook.replayed | grep -q 'delivery b54557e4'"
ok $? "and audited (webhook.replayed)"
code=$(hook /hooks/shop/orders --data-binary "$B" -H "X-Shopify-Hmac-Sha256: $sig" \
    -H "X-Shopify-Webhook-Id: another-delivery")
[ "$code" = 200 ] && wait_for 10 sh -c "'$AGENTCTL' --run-dir '$T_DIR/run' --json call watcher '{\"events\":true}' | grep -q '\"received\":4'"
ok $? "the same body under another id is a new delivery: 200, published (got $code)"
code=$(hook /hooks/shop/orders --data-binary "$B" -H "X-Shopify-Hmac-Sha256: $sig")
[ "$code" = 400 ] && like "$(bj .message)" 'X-Shopify-Webhook-Id is missing' "no id where the webhook has id_header: 400, naming it (got $code)"
# forge's window is 3 s: an id is refused within it, taken after it.
fsig="X-Hub-Signature-256: $(hexsig "$FORGE" "$B3")"
c1=$(hook /hooks/forge/push --data-binary "$B3" -H "$fsig" -H "X-GitHub-Delivery: win-1")
c2=$(hook /hooks/forge/push --data-binary "$B3" -H "$fsig" -H "X-GitHub-Delivery: win-1")
[ "$c1" = 200 ] && [ "$c2" = 409 ]
ok $? "a new id: 200, at once again: 409 (got $c1, $c2)"
wait_for 10 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --data-binary '$B3' -H '$fsig' -H 'X-GitHub-Delivery: win-1' '$URL/hooks/forge/push')\" = 200 ]"
ok $? "after replay_window the id is forgotten: the same delivery is taken again"
wait_for 10 sh -c "'$AGENTCTL' --run-dir '$T_DIR/run' --json call watcher '{\"events\":true}' | grep -q '\"received\":6'"
ok $? "each taken delivery was published once (6 events)"

# ---- bodies ---------------------------------------------------------------
NJ='id=1&total=2'
code=$(hook /hooks/shop/orders --data-binary "$NJ" -H "X-Shopify-Webhook-Id: nj1" \
    -H "X-Shopify-Hmac-Sha256: $(b64sig "$SHOP" "$NJ")")
[ "$code" = 400 ] && [ "$(bj .error)" = EINVAL ]
ok $? "a signed body that is not JSON: 400 EINVAL (got $code)"
like "$(bj .message)" 'the body is not JSON: line 1 column' "saying where"
code=$(hook /hooks/shop/orders --data-binary "$NJ" -H "X-Shopify-Webhook-Id: nj1" \
    -H "X-Shopify-Hmac-Sha256: $(b64sig "$SHOP" "$NJ")")
[ "$code" = 400 ]
ok $? "its id was not remembered: the same again is 400, not 409 (got $code)"
head -c 70000 /dev/zero | tr '\0' 'a' | sed 's/.*/"&"/' >"$T_DIR/big.json"
code=$(curl -s -o "$T_DIR/body" -w '%{http_code}' --data-binary "@$T_DIR/big.json" \
    -H "X-Shopify-Webhook-Id: big1" -H "X-Shopify-Hmac-Sha256: $(b64sig "$SHOP" "$(cat "$T_DIR/big.json")")" \
    "$URL/hooks/shop/orders")
[ "$code" = 413 ] && [ "$(bj .error)" = ETOOBIG ]
ok $? "a body over max_message_size: 413 ETOOBIG (got $code)"
[ "$(metric 'agentd_webhook_requests_total{webhook="shop-orders",outcome="too_big"}')" = 1 ] &&
    [ "$(metric 'agentd_webhook_requests_total{webhook="shop-orders",outcome="not_json"}')" = 2 ] &&
    [ "$(metric 'agentd_webhook_requests_total{webhook="shop-orders",outcome="no_id"}')" = 1 ]
ok $? "counted as too_big, not_json and no_id"
[ "$(received .received)" = 6 ]
ok $? "none of these was published"

# ---- paths and methods ----------------------------------------------------
code=$(curl -s -o "$T_DIR/body" -w '%{http_code}' -D "$T_DIR/headers" "$URL/hooks/shop/orders")
[ "$code" = 405 ] && grep -qi '^Allow: POST' "$T_DIR/headers"
ok $? "GET on a webhook: 405, Allow: POST (got $code)"
code=$(hook /hooks/shop/other --data-binary "$B" -H "X-Shopify-Hmac-Sha256: $sig")
[ "$code" = 404 ]
ok $? "a path under /hooks/ that no webhook has: 404 (got $code)"
code=$(hook /hooks/shop/orders --data-binary "$B" -H "Authorization: Bearer $VIEW" \
    -H "X-Shopify-Webhook-Id: tok1")
[ "$code" = 401 ]
ok $? "a token is no signature: 401 (got $code)"

kill "$STREAM" 2>/dev/null
wait "$STREAM" 2>/dev/null
stop_agentd
ok $? "agentd stops cleanly"

# ---- the configuration ----------------------------------------------------
# check: agentd --check-config on the test's folder; rc and err.
check() {
	"$AGENTD" --confdir "$T_DIR/conf" --state-dir "$T_DIR/state" \
	    --run-dir "$T_DIR/run" --check-config \
	    >"$T_DIR/check.out" 2>"$T_DIR/check.err"
	rc=$?
	err=$(cat "$T_DIR/check.err")
}
# refused NAME PATTERN: the last check refused the configuration in one
# line matching PATTERN.
refused() {
	[ "$rc" -eq 1 ] && [ "$(printf '%s\n' "$err" | grep -c .)" -eq 1 ]
	ok $? "$1: refused in one line (exit status $rc)"
	like "$err" "$2" "$1: at its file:line, naming the webhook and what to do"
}
# hooks_conf LINES: agentd.conf with one webhook section holding LINES.
hooks_conf() {
	conf agentd.conf <<EOF
agentd {
	http {
		listen = "127.0.0.1:0"
		webhook "shop-orders" {
$1
		}
	}
}
EOF
}
GOOD='topic = "shop.order.created" secret_file = "shop.secret" signature_header = "X-Shopify-Hmac-Sha256"'

hooks_conf "			path = \"/shop/orders\"
			$GOOD"
check
refused "a path outside /hooks/" 'agentd\.conf:5: http: webhook "shop-orders": path "/shop/orders" is not a path under /hooks/: write one such as /hooks/shop/orders'

hooks_conf "			path = \"/hooks/shop/orders\"
			topic = \"shop order!\"
			secret_file = \"shop.secret\"
			signature_header = \"X-Shopify-Hmac-Sha256\""
check
refused "a bad topic" 'agentd\.conf:6: http: webhook "shop-orders": topic "shop order!" is not a topic: use 1 to 255 letters'

hooks_conf "			path = \"/hooks/shop/orders\"
			topic = \"shop.order.created\"
			secret_file = \"missing.secret\"
			signature_header = \"X-Shopify-Hmac-Sha256\""
check
refused "an unreadable secret_file" 'agentd\.conf:7: http: webhook "shop-orders": secret_file "missing.secret": cannot read .*/conf/missing\.secret: No such file or directory: write the shared secret in it'

conf agentd.conf <<EOF
agentd {
	http {
		listen = "127.0.0.1:0"
		webhook "shop-orders" { path = "/hooks/a" $GOOD }
		webhook "shop-orders" { path = "/hooks/b" $GOOD }
	}
}
EOF
check
refused "a name twice" 'agentd\.conf:5: http: webhook "shop-orders": defined twice in http \{ \} \(first at line 4\): rename or remove one'

conf agentd.conf <<EOF
agentd {
	http {
		listen = "127.0.0.1:0"
		webhook "a" { path = "/hooks/same" $GOOD }
		webhook "b" { path = "/hooks/same" $GOOD }
	}
}
EOF
check
refused "a path twice" 'agentd\.conf:5: http: webhook "b": path "/hooks/same" is webhook "a".s already \(line 4\): give each webhook a path of its own'

done_testing

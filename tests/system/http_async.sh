#!/bin/sh
# host->http_async in a real worker against tests/tools/fakehttp.py on
# loopback (HTTP and HTTPS with a certificate made here): an answer with
# its headers and body, retries of 500, Retry-After waited (read from the
# server's log), a stalled server timed out while the same instance
# answers other requests and is not killed as hung, the allow-list
# refusing before any connection, max_response, certificate checks with
# and without ca_file, 200 requests outstanding at once, refusals
# (connection refused, max_concurrent), ECLOSED before fini, and the
# sandbox: no network for an agent without http { allow }.
. "$top_srcdir/tests/lib.sh"

plan 34

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 missing"; exit 0; }
command -v openssl >/dev/null || { echo "1..0 # SKIP openssl missing"; exit 0; }

FETCH=$(plugin_copy "$TPLUGINS/fetcher.so")
SHARED=$(plugin_dir shared)
FAKE="$top_srcdir/tests/tools/fakehttp.py"
SRV_PIDS=

trap 'for p in $SRV_PIDS; do kill "$p" 2>/dev/null; done; t_cleanup' EXIT

# serve NAME [ARGS]: a fake server whose port lands in $T_DIR/NAME.port.
serve() {
	n=$1
	shift
	python3 "$FAKE" --port-file "$T_DIR/$n.port" --log "$T_DIR/$n.log" \
	    --limit "$(slow 60)" "$@" >/dev/null 2>>"$T_DIR/$n.err" &
	SRV_PIDS="$SRV_PIDS $!"
	wait_for 10 test -s "$T_DIR/$n.port" || { echo "Bail out! $n did not start"; exit 1; }
}

# A self-signed certificate for 127.0.0.1, made for this test.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$T_DIR/key.pem" \
    -out "$SHARED/cert.pem" 2>/dev/null
chmod 0644 "$SHARED/cert.pem"

# A name /etc/hosts maps to loopback (this machine's own, where it is
# there): the worker resolves it inside its sandbox.
HOST=$(hostname | tr 'A-Z' 'a-z')
case "$(getent hosts "$HOST" 2>/dev/null | awk '{print $1; exit}')" in
127.*) ;;
*) HOST= ;;
esac

serve plain
serve tls --cert "$SHARED/cert.pem" --key "$T_DIR/key.pem"
P=$(cat "$T_DIR/plain.port")
S=$(cat "$T_DIR/tls.port")

conf http.conf <<EOF
agent "web" {
	plugin = "$FETCH"
	instances { concurrency = 16 }
	health { heartbeat = 500ms hung_after = 2s drain_timeout = 1s }
	http {
		allow = { "127.0.0.1", "*.example.test"${HOST:+, \"$HOST\"} }
		max_concurrent = 210
		max_response = 4096
		timeout = 4s
	}
	paths { write = { "$SHARED" } }
	settings { fini_file = "$SHARED/fini" }
}
agent "webca" {
	plugin = "$FETCH"
	http { allow = { "127.0.0.1" } ca_file = "$SHARED/cert.pem" }
}
agent "offline" { plugin = "$FETCH" }
EOF

call() { actl --json call "$@"; }
field() { jq -r "$1"; }

start_agentd
ok $? "agentd starts"
wait_for 10 agent_ready web 1 && wait_for 10 agent_ready webca 1 &&
    wait_for 10 agent_ready offline 1
ok $? "web, webca and offline are ready"
PID0=$(agent_field web '.instances[0].pid')

# 1. An answer: code, headers and body; the request's method, headers
# and body reach the server.
out=$(call web "{\"url\":\"http://127.0.0.1:$P/ok\"}")
like "$out" '"status":"OK","code":200' "a GET is answered: status 0, code 200"
like "$out" '"body":"hello"' "...with the server's body"
like "$out" '"X-Test":"yes"' "...and its headers"
out=$(call web "{\"url\":\"http://127.0.0.1:$P/ok\",\"method\":\"PUT\",\"body\":\"payload-7\",\"headers\":{\"X-Req\":\"marker-42\"}}")
body=$(printf '%s' "$out" | field .last.body)
like "$body" '"method": "PUT", "body": "payload-7", "x_req": "marker-42"' "the method, body and a header reach the server"
like "$out" '"X-Echo":"marker-42"' "...and the server's header comes back"
# The worker reuses a finished request's curl handle: the next request
# carries none of its predecessor's method, header or body.
out=$(call web "{\"url\":\"http://127.0.0.1:$P/ok\"}")
like "$out" '"code":200,.*"body":"hello"' "a GET after the PUT: the server saw no body and no X-Req"
[ "$(grep ' /ok$' "$T_DIR/plain.log" | tail -n 1 | cut -d' ' -f2)" = GET ]
ok $? "...and a GET, not the PUT before it"

# 2. Retries: 500 twice, then 200, with three attempts.
out=$(call web "{\"url\":\"http://127.0.0.1:$P/fail/2/a\",\"attempts\":3,\"backoff_ms\":50}")
like "$out" '"status":"OK","code":200,"attempts":3' "500, 500, then 200: three attempts, the last answer"
[ "$(grep -c ' /fail/2/a$' "$T_DIR/plain.log")" -eq 3 ]
ok $? "...the server saw three requests"
out=$(call web "{\"url\":\"http://127.0.0.1:$P/fail/5/b\",\"attempts\":2,\"backoff_ms\":50}")
like "$out" '"status":"OK","code":500,"attempts":2' "out of attempts: the last 500 is the answer"
out=$(call web "{\"url\":\"http://127.0.0.1:$P/fail/1/c\",\"method\":\"POST\",\"body\":\"x\",\"attempts\":3,\"backoff_ms\":50}")
like "$out" '"code":500,"attempts":1' "a POST is not retried unless asked"
out=$(call web "{\"url\":\"http://127.0.0.1:$P/fail/1/d\",\"method\":\"POST\",\"body\":\"x\",\"attempts\":3,\"backoff_ms\":50,\"retry_on\":31}")
like "$out" '"code":200,"attempts":2' "...and is with AGENTD_HTTP_RETRY_UNSAFE"

# 3. Retry-After: the second attempt comes after it, by the server's log.
out=$(call web "{\"url\":\"http://127.0.0.1:$P/ratelimit/2/e\",\"attempts\":2,\"backoff_ms\":10}")
like "$out" '"code":200,"attempts":2' "429 with Retry-After: 2, then 200"
t1=$(grep ' /ratelimit/2/e$' "$T_DIR/plain.log" | sed -n 1p | cut -d' ' -f1)
t2=$(grep ' /ratelimit/2/e$' "$T_DIR/plain.log" | sed -n 2p | cut -d' ' -f1)
[ -n "$t1" ] && [ -n "$t2" ] && [ $((t2 - t1)) -ge 1900 ]
ok $? "...the second attempt came $((t2 - t1)) ms after the first (at least 2 s)"
out=$(call web "{\"url\":\"http://127.0.0.1:$P/ratelimit-date/3/f\",\"attempts\":2,\"backoff_ms\":10}")
t1=$(grep ' /ratelimit-date/3/f$' "$T_DIR/plain.log" | sed -n 1p | cut -d' ' -f1)
t2=$(grep ' /ratelimit-date/3/f$' "$T_DIR/plain.log" | sed -n 2p | cut -d' ' -f1)
[ -n "$t2" ] && [ $((t2 - t1)) -ge 1000 ]
ok $? "Retry-After as an HTTP date is waited too ($((t2 - t1)) ms; the date has whole seconds)"
out=$(call web "{\"url\":\"http://127.0.0.1:$P/ratelimit/120/g\",\"attempts\":3,\"backoff_ms\":10,\"retry_after_max_ms\":5000}")
like "$out" '"code":429,"attempts":1' "a Retry-After past retry_after_max_ms is not waited: the 429 is the answer"

# 4. A stall: the attempt times out after 4 s (http { timeout }); the
# instance answers meanwhile and is not hung (hung_after 2 s).
call web "{\"url\":\"http://127.0.0.1:$P/stall/6\"}" >"$T_DIR/stall.out" &
STALL=$!
wait_for 10 grep -q ' /stall/6$' "$T_DIR/plain.log"
t0=$(date +%s%3N)
pongs=0
while kill -0 "$STALL" 2>/dev/null; do
	call web '{"ping":true}' | grep -q '"pong":true' && pongs=$((pongs + 1))
	sleep 0.2
done
wait "$STALL"
t1=$(date +%s%3N)
like "$(cat "$T_DIR/stall.out")" '"status":"ETIMEOUT"' "a stalled server: ETIMEOUT"
[ "$pongs" -ge 5 ]
ok $? "the instance answered $pongs other requests while it waited ($((t1 - t0)) ms)"
[ "$(agent_field web '.instances[0].pid')" = "$PID0" ] &&
    ! grep -q 'web.*hung' "$T_DIR/agentd.log"
ok $? "...and was not killed as hung (hung_after 2 s)"

# 5. The allow-list: refused before any connection.
lines=$(wc -l <"$T_DIR/plain.log")
out=$(call web "{\"url\":\"http://localhost:$P/ok\"}")
like "$out" '"status":"EDENIED","refused":true' "a host outside allow is EDENIED at once"
out=$(call web "{\"url\":\"http://127.0.0.1@evil.test:$P/ok\"}")
like "$out" '"status":"EINVAL","refused":true' "credentials in a URL are EINVAL"
[ "$(wc -l <"$T_DIR/plain.log")" -eq "$lines" ]
ok $? "...and no request reached the server"
out=$(call offline "{\"url\":\"http://127.0.0.1:$P/ok\"}")
like "$out" '"status":"EDENIED","refused":true' "an agent without http { allow } is EDENIED"

if [ -n "$HOST" ]; then
	out=$(call web "{\"url\":\"http://$HOST:$P/ok\"}")
	like "$out" '"status":"OK","code":200' "a name from /etc/hosts resolves inside the sandbox ($HOST)"
else
	echo "ok $((T_N = T_N + 1)) - a name from /etc/hosts resolves # SKIP no name of this machine maps to 127.x"
fi

# 6. max_response: an answer over it is stopped.
out=$(call web "{\"url\":\"http://127.0.0.1:$P/big/4096\"}")
like "$out" '"status":"OK","code":200' "an answer of exactly max_response is whole"
out=$(call web "{\"url\":\"http://127.0.0.1:$P/big/100000\"}")
like "$out" '"status":"ETOOBIG"' "one over max_response is ETOOBIG"

# 7. TLS: the self-signed server is refused unless ca_file names it.
out=$(call web "{\"url\":\"https://127.0.0.1:$S/ok\"}")
like "$out" '"status":"EIO"' "a self-signed certificate is refused (EIO)"
out=$(call webca "{\"url\":\"https://127.0.0.1:$S/ok\"}")
like "$out" '"status":"OK","code":200,.*"body":"hello"' "...and trusted with ca_file"

# 8. Connection refused, and 200 at once (max_concurrent 210).
out=$(call web '{"url":"http://127.0.0.1:1/ok","attempts":2,"backoff_ms":10}')
like "$out" '"status":"EUNAVAIL","code":0,"attempts":2' "connection refused: EUNAVAIL, retried"
out=$(call web "{\"url\":\"http://127.0.0.1:$P/stall/0.5\",\"count\":200}")
like "$out" '"answered":200,"count":200' "200 requests outstanding from one instance, all answered"
out=$(call web "{\"url\":\"http://127.0.0.1:$P/stall/0.2\",\"count\":215}")
like "$out" '"status":"EBUSY".*"answered":210' "past max_concurrent: EBUSY; the 210 before it answered"

# 9. Stopping: what is outstanding hears ECLOSED before fini.
call web "{\"url\":\"http://127.0.0.1:$P/stall/30\",\"count\":3}" >/dev/null 2>&1 &
wait_for 10 sh -c "[ \$(grep -c ' /stall/30\$' '$T_DIR/plain.log') -eq 3 ]"
stop_agentd
wait_for 10 test -s "$SHARED/fini"
like "$(cat "$SHARED/fini" 2>/dev/null)" '^closed 3 audited 3 pending 0$' \
    "stopping: the three outstanding got ECLOSED, each once, before fini, and the record each made was settled before fini too"

done_testing

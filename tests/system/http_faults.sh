#!/bin/sh
# The HTTP server under what people and clients get wrong: its
# configuration refused with one line, HTTPS with a certificate, a port
# already taken, a thousand idle connections and a client that sends its
# headers a byte at a time -- while agentd keeps serving its agents.
. "$top_srcdir/tests/lib.sh"

command -v curl >/dev/null || { echo "1..0 # SKIP no curl"; exit 0; }
plan 28

ECHO=$(plugin_copy "$BPLUGINS/echo.so")
conf echo.conf <<EOF
agent "echo" { plugin = "$ECHO" }
EOF

# check: agentd --check-config; rc and err (stderr).
check() {
	"$AGENTD" --confdir "$T_DIR/conf" --state-dir "$T_DIR/state" \
	    --run-dir "$T_DIR/run" --check-config \
	    >"$T_DIR/check.out" 2>"$T_DIR/check.err"
	rc=$?
	err=$(cat "$T_DIR/check.err")
}
refused() {
	[ "$rc" -eq 1 ]
	ok $? "$1: refused (exit status $rc)"
	one_line "$err" "$1: one line"
	like "$err" "$2" "$1: it says where and what to do"
}

# ---- the configuration ----------------------------------------------------
conf agentd.conf <<EOF
agentd {
	http {
		listen = "0.0.0.0:8470"
	}
}
EOF
check
refused "a public address without TLS" 'agentd\.conf:3: http: listen = "0\.0\.0\.0:8470" is not a loopback address: give it cert_file and key_file.*insecure = true'

conf agentd.conf <<EOF
agentd {
	http { listen = "localhost:8470" }
}
EOF
check
refused "a host name" 'agentd\.conf:2: .*listen "localhost:8470" is not an address: write HOST:PORT'

conf agentd.conf <<EOF
agentd {
	http { listen = "127.0.0.1:8470" cert_file = "cert.pem" }
}
EOF
check
refused "a certificate without its key" 'agentd\.conf:2: http: cert_file and key_file go together'

conf agentd.conf <<EOF
agentd {
	http { listen = "0.0.0.0:0" insecure = true }
}
EOF
check
[ "$rc" -eq 0 ]
ok $? "a public address with insecure = true passes --check-config: $err"

# ---- HTTPS ----------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T_DIR/key.pem" -out "$T_DIR/cert.pem" -days 2 \
    -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
    >/dev/null 2>&1
ok $? "a self-signed certificate"
conf agentd.conf <<EOF
agentd {
	http {
		listen = "127.0.0.1:0"
		cert_file = "$T_DIR/cert.pem"
		key_file = "$T_DIR/key.pem"
		timeout = 2s
		max_connections = 1100
	}
}
EOF
start_agentd
ok $? "agentd starts with HTTPS"
wait_for 10 test -s "$T_DIR/run/http.addr"
ADDR=$(cat "$T_DIR/run/http.addr")
TOK=$(actl token create t --role viewer)
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T_DIR/cert.pem" \
    -H "Authorization: Bearer $TOK" "https://$ADDR/v1/status")
[ "$code" = 200 ]
ok $? "a request over HTTPS with the certificate trusted: 200 (got $code)"
curl -s -o /dev/null "https://$ADDR/v1/status" 2>/dev/null
[ $? -ne 0 ]
ok $? "a client that does not trust the certificate fails to connect"
code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 \
    -H "Authorization: Bearer $TOK" "http://$ADDR/v1/status")
[ "$code" != 200 ]
ok $? "plain HTTP to the HTTPS port gets no answer (got $code)"

# ---- a port already taken -------------------------------------------------
mkdir -p "$T_DIR/conf2" "$T_DIR/state2" "$T_DIR/run2"
cat >"$T_DIR/conf2/agentd.conf" <<EOF
agentd {
	http { listen = "$ADDR" }
}
EOF
"$AGENTD" --confdir "$T_DIR/conf2" --state-dir "$T_DIR/state2" \
    --run-dir "$T_DIR/run2" --foreground 2>"$T_DIR/second.err" &
second=$!
wait_for 20 sh -c "! kill -0 $second 2>/dev/null"
ok $? "a second agentd on the same port does not start"
wait $second
[ $? -ne 0 ]
ok $? "and exits with an error"
like "$(grep 'cannot serve' "$T_DIR/second.err")" "agentd\.conf:2: http: cannot serve on $ADDR .*another program" \
    "saying where it was configured and what is in the way"

# ---- a thousand idle connections ------------------------------------------
python3 - "$ADDR" 1000 "$T_DIR/idle" <<'EOF' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
n, flag = int(sys.argv[2]), sys.argv[3]
socks = []
for i in range(n):
    s = socket.create_connection((host, int(port)), timeout=60)
    socks.append(s)
open(flag + ".open", "w").write(str(len(socks)))
closed = 0
deadline = time.time() + 120
for s in socks:
    # agentd may send a TLS alert before it closes: read to the end.
    try:
        while True:
            s.settimeout(max(1, deadline - time.time()))
            if s.recv(4096) == b"":
                closed += 1
                break
    except socket.timeout:
        pass
    except OSError:
        closed += 1
open(flag + ".closed", "w").write(str(closed))
EOF
idle=$!
wait_for 60 test -s "$T_DIR/idle.open"
ok $? "1000 connections open and send nothing"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T_DIR/cert.pem" \
    -H "Authorization: Bearer $TOK" "https://$ADDR/v1/status")
[ "$code" = 200 ]
ok $? "another client is still served meanwhile (got $code)"
out=$(actl call echo '{"still":"serving"}')
like "$out" '"still": *"serving"' "and agentd still serves its agents"
wait_for 120 test -s "$T_DIR/idle.closed"
ok $? "the idle connections end"
[ "$(cat "$T_DIR/idle.closed")" = 1000 ]
ok $? "all 1000 closed by agentd at the timeout (got $(cat "$T_DIR/idle.closed"))"
wait $idle

# ---- a client that sends its headers a byte at a time ---------------------
# It holds its own connection, never a thread: others are served while it
# trickles, and headers past the connection's memory are refused.
python3 - "$ADDR" "$T_DIR/slow" <<'EOF' &
import socket, ssl, sys, time
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=30))
s.send(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
open(sys.argv[2] + ".started", "w").write("1")
try:
    for i in range(40):
        s.send(b"a")
        time.sleep(0.25)
except OSError:
    pass
EOF
slow=$!
wait_for 20 test -e "$T_DIR/slow.started"
code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 --cacert "$T_DIR/cert.pem" \
    -H "Authorization: Bearer $TOK" "https://$ADDR/v1/status")
kill -0 $slow 2>/dev/null
still=$?
[ "$code" = 200 ] && [ $still -eq 0 ]
ok $? "while a client trickles its headers, another is answered (got $code)"
wait $slow
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T_DIR/cert.pem" \
    -H "Authorization: Bearer $TOK" -H "X-Big: $(head -c 8000 /dev/zero | tr '\0' a)" \
    "https://$ADDR/v1/status")
[ "$code" = 200 ]
ok $? "headers of 8 kB fit in the connection's memory (got $code)"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T_DIR/cert.pem" \
    -H "Authorization: Bearer $TOK" -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)" \
    "https://$ADDR/v1/status")
[ "$code" = 431 ] || [ "$code" = 413 ] || [ "$code" = 400 ]
ok $? "headers over the connection's memory are refused (got $code)"

stop_agentd
ok $? "agentd stops cleanly"
[ ! -e "$T_DIR/run/http.addr" ]
ok $? "and removes run/http.addr"

done_testing

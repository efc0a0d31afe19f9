#!/bin/sh
# The live streams (Server-Sent Events) end to end: /v1/events/stream
# sends the events its prefix covers, as agentctl tail prints them;
# /v1/audit/stream sends new records as /v1/audit shows them, each with
# its sequence number as id, and Last-Event-ID (or ?after=) resumes right
# after it; an idle stream gets keep-alives and outlives the connection
# timeout; a reader that stops reading is dropped and counted while
# publishing and the other readers go on; and agentd stops cleanly with
# streams open.
. "$top_srcdir/tests/lib.sh"

command -v curl >/dev/null || { echo "1..0 # SKIP no curl"; exit 0; }
plan 43

BUS=$(plugin_copy "$TPLUGINS/bus.so")
conf agentd.conf <<EOF
agentd {
	max_message_size = 65536
	http {
		listen = "127.0.0.1:0"
		timeout = 2s
	}
}
EOF
conf agents.conf <<EOF
agent "pub" { plugin = "$BUS" publish = { "shop", "other", "flood" } }
EOF

start_agentd
ok $? "agentd starts"
wait_for 10 test -s "$T_DIR/run/http.addr" && wait_for 10 agent_ready pub
ok $? "the server and the publisher are up"
ADDR=$(cat "$T_DIR/run/http.addr")
URL="http://$ADDR"
VIEW=$(actl token create viewer1 --role viewer)
OPER=$(actl token create oper1 --role operator)

hc() { curl -s -o "$T_DIR/body" -w '%{http_code}' "$@"; }
bj() { jq -r "$1" "$T_DIR/body"; }
metric() {
	curl -s -H "Authorization: Bearer $VIEW" "$URL/metrics" |
	    awk -v m="$1" '$1 == m { print $2 }'
}
publish() {
	curl -s -o /dev/null -H "Authorization: Bearer $OPER" \
	    -d "{\"topic\":\"$1\",\"body\":$2}" "$URL/v1/events"
}
# stream NAME PATH [CURL-ARGS]: a reader in the background, its bytes in
# $T_DIR/NAME.out (its headers in NAME.h), curl's pid in NAME.pid, its
# exit status in NAME.rc once it ends.
stream() {
	s_name=$1 s_path=$2
	shift 2
	( curl -sN -D "$T_DIR/$s_name.h" -H "Authorization: Bearer $VIEW" \
	    "$@" "$URL$s_path" >"$T_DIR/$s_name.out" 2>"$T_DIR/$s_name.err" &
	  echo $! >"$T_DIR/$s_name.pid"
	  wait $!
	  echo $? >"$T_DIR/$s_name.rc" ) &
	wait_for 10 test -s "$T_DIR/$s_name.pid"
}
# datas NAME: the data lines a reader received, one JSON text each.
datas() { sed -n 's/^data: //p' "$T_DIR/$1.out"; }
ids() { sed -n 's/^id: //p' "$T_DIR/$1.out"; }
# stop_reader NAME: end a curl reader of ours.
stop_reader() {
	kill -TERM "$(cat "$T_DIR/$1.pid")" 2>/dev/null
	wait_for 10 test -s "$T_DIR/$1.rc"
}

# ---- events ---------------------------------------------------------------
code=$(hc "$URL/v1/events/stream")
[ "$code" = 401 ]
ok $? "a stream needs a token (got $code)"
code=$(hc -X POST -H "Authorization: Bearer $VIEW" "$URL/v1/events/stream")
[ "$code" = 405 ]
ok $? "POST on a stream: 405 (got $code)"
code=$(hc -H "Authorization: Bearer $VIEW" "$URL/v1/events/stream?prefix=a%20b")
[ "$code" = 400 ] && like "$(bj .message)" 'prefix=a b: not a topic' "a prefix that is not a topic: 400 (got $code)"

stream shop "/v1/events/stream?prefix=shop"
stream all /v1/events/stream
wait_for 10 grep -q '^: events under shop$' "$T_DIR/shop.out" &&
    wait_for 10 grep -q '^: events$' "$T_DIR/all.out"
ok $? "two events streams open, each saying what it sends"
grep -qi '^Content-Type: text/event-stream' "$T_DIR/all.h"
ok $? "as text/event-stream"
wait_for 10 sh -c "[ \"\$(curl -s -H 'Authorization: Bearer $VIEW' '$URL/metrics' | awk '\$1 == \"agentd_http_streams{kind=\\\"events\\\"}\" { print \$2 }')\" = 2 ]"
ok $? "/metrics counts the open streams ($(metric 'agentd_http_streams{kind="events"}'))"

publish shop.order '{"id":1}'
publish other.thing '{"id":2}'
publish shopping '{"id":3}'
publish shop '{"id":4}'
actl call pub '{"publish":"shop.plugin","count":1,"body":{"id":5}}' >/dev/null
publish shop.end '{"id":6}'
wait_for 10 grep -q '"topic":"shop.end"' "$T_DIR/shop.out" &&
    wait_for 10 grep -q '"topic":"shop.end"' "$T_DIR/all.out"
ok $? "both readers receive the events"
[ "$(datas shop | jq -r .topic | tr '\n' ' ')" = "shop.order shop shop.plugin shop.end " ]
ok $? "prefix=shop: the events under shop only, in order: $(datas shop | jq -r .topic | tr '\n' ' ')"
[ "$(datas all | jq -r .topic | tr '\n' ' ')" = "shop.order other.thing shopping shop shop.plugin shop.end " ]
ok $? "no prefix: every event ($(datas all | jq -r .topic | tr '\n' ' '))"
[ "$(datas shop | head -1)" = '{"topic":"shop.order","src":"http","instance":"","body":{"id":1}}' ]
ok $? "each is one line of JSON, as agentctl tail prints it: $(datas shop | head -1)"
datas shop | grep -q '^{"topic":"shop.plugin","src":"pub","instance":"pub-1","body":{"id":5}}$'
ok $? "a plugin's event names its agent and instance"

# ---- the audit trail -----------------------------------------------------
code=$(hc -H "Authorization: Bearer $VIEW" "$URL/v1/audit/stream?after=x")
[ "$code" = 400 ]
ok $? "after that is not a sequence number: 400 (got $code)"
code=$(hc -H "Authorization: Bearer $VIEW" -H "Last-Event-ID: -3" "$URL/v1/audit/stream")
[ "$code" = 400 ]
ok $? "nor Last-Event-ID (got $code)"
head_seq() {
	curl -s -H "Authorization: Bearer $VIEW" "$URL/v1/audit?limit=1" |
	    jq -r '.records[0].seq'
}
H0=$(head_seq)
stream au1 /v1/audit/stream
wait_for 10 grep -q '^: audit records after' "$T_DIR/au1.out"
ok $? "an audit stream opens"
grep -q "^: audit records after $H0\$" "$T_DIR/au1.out"
ok $? "without after, from the head on ($H0)"
for n in 1 2 3; do actl token create "t$n" --role viewer >/dev/null; done
wait_for 10 sh -c "grep -c '^id: ' '$T_DIR/au1.out' | grep -qx 3"
ok $? "it receives the three new records"
[ "$(ids au1 | tr '\n' ' ')" = "$((H0 + 1)) $((H0 + 2)) $((H0 + 3)) " ]
ok $? "each with its sequence number as id: $(ids au1 | tr '\n' ' ')"
same=0
for id in $(ids au1); do
	want=$(curl -s -H "Authorization: Bearer $VIEW" \
	    "$URL/v1/audit?min_seq=$id&limit=1&oldest_first=true" | jq -cS '.records[0]')
	got=$(datas au1 | jq -cS "select(.seq == $id)")
	[ -n "$got" ] && [ "$got" = "$want" ] || same=1
done
ok $same "each record as /v1/audit shows it"
datas au1 | jq -r .kind | sort -u | grep -qx token.create
ok $? "the token.create records ($(datas au1 | jq -r .kind | tr '\n' ' '))"
LAST=$(ids au1 | tail -1)
stop_reader au1
ok $? "the reader goes away"
for n in 4 5; do actl token create "t$n" --role viewer >/dev/null; done
H1=$(head_seq)
stream au2 /v1/audit/stream -H "Last-Event-ID: $LAST"
wait_for 10 sh -c "grep -q '^id: $H1\$' '$T_DIR/au2.out'"
ok $? "it comes back with Last-Event-ID: $LAST and catches up to $H1"
[ "$(ids au2 | tr '\n' ' ')" = "$(seq $((LAST + 1)) "$H1" | tr '\n' ' ')" ]
ok $? "exactly the records after it: no gap, no duplicate ($(ids au2 | tr '\n' ' '))"
stream au3 "/v1/audit/stream?after=$((LAST - 1))"
wait_for 10 sh -c "grep -q '^id: $H1\$' '$T_DIR/au3.out'"
[ "$(ids au3 | head -1)" = "$LAST" ]
ok $? "?after= resumes the same way (first id $(ids au3 | head -1))"
stop_reader au3
[ "$(metric 'agentd_http_streams{kind="audit"}')" -ge 1 ]
ok $? "/metrics counts the audit streams"

# ---- a reader that stops reading -----------------------------------------
cat >"$T_DIR/slow.py" <<'EOF'
# A reader that reads the stream's first bytes, then nothing until
# OUT.go exists; then it reads to the end and says how it ended.
import os, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
token, path, out = sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect((host, int(port)))
s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "\r\n" % (path, token)).encode())
got = b""
while b": events" not in got:
    d = s.recv(4096)
    if not d:
        break
    got += d
open(out, "w").write("open\n")
while not os.path.exists(out + ".go"):
    time.sleep(0.05)
s.settimeout(60)
how = "eof"
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        got = got[-16:] + d
except ConnectionResetError:
    how = "reset"
except socket.timeout:
    how = "timeout"
end = "clean" if got.endswith(b"\r\n0\r\n\r\n") else "cut"
open(out, "a").write("%s %s\n" % (how, end))
EOF
python3 "$T_DIR/slow.py" "$ADDR" "$VIEW" "/v1/events/stream?prefix=flood" "$T_DIR/slow.out" &
SLOW=$!
stream fast "/v1/events/stream?prefix=flood"
wait_for 10 test -s "$T_DIR/slow.out" && wait_for 10 grep -q '^: events under flood' "$T_DIR/fast.out"
ok $? "a slow reader and a fast one on prefix=flood"
BIG=$(head -c 16000 /dev/zero | tr '\0' 'x')
fcount() { grep -c '^data: {"topic":"flood.x"' "$T_DIR/fast.out"; }
round=0 sent=0 bad=0 dropped=0
# Rounds of 30 events of 16 kB, the fast reader served after each, until
# the slow reader is dropped (its queue holds 1 MiB; the kernel's
# buffers some MiB more), then three more.
while [ "$round" -lt 60 ] && [ "$dropped" -lt 3 ]; do
	out=$(actl --json call pub "{\"publish\":\"flood.x\",\"count\":30,\"body\":\"$BIG\"}")
	[ "$(printf '%s' "$out" | jq -r '"\(.status) \(.published)"')" = "ok 30" ] || bad=$((bad + 1))
	round=$((round + 1))
	sent=$((sent + 30))
	wait_for 20 sh -c "[ \$(grep -c '^data: {\"topic\":\"flood.x\"' '$T_DIR/fast.out') -ge $sent ]" || break
	[ "$(metric 'agentd_http_stream_dropped_total{reason="slow"}')" -ge 1 ] &&
	    dropped=$((dropped + 1))
done
[ "$dropped" -ge 1 ]
ok $? "the slow reader is dropped, counted as slow, after $round rounds ($(metric 'agentd_http_stream_dropped_total{reason="slow"}'))"
[ "$bad" -eq 0 ]
ok $? "every publish went through meanwhile ($sent events, $bad rounds not)"
[ "$(fcount)" -eq "$sent" ]
ok $? "the fast reader received every one of them ($(fcount) of $sent)"
grep -q 'a events stream.s reader was dropped: its queue was full' "$T_DIR/agentd.log"
ok $? "agentd's log says so"
touch "$T_DIR/slow.out.go"
wait_for 20 sh -c "[ \$(grep -c . '$T_DIR/slow.out') -ge 2 ]"
like "$(tail -1 "$T_DIR/slow.out")" '^(eof|reset) cut$' "the slow reader's stream ends, cut short ($(tail -1 "$T_DIR/slow.out"))"
wait "$SLOW"
wait_for 10 sh -c "[ \"\$(curl -s -H 'Authorization: Bearer $VIEW' '$URL/metrics' | awk '\$1 == \"agentd_http_streams{kind=\\\"events\\\"}\" { print \$2 }')\" = 3 ]"
ok $? "the open streams are the three others again"
publish flood.after '{"n":1}'
wait_for 10 grep -q '"topic":"flood.after"' "$T_DIR/fast.out"
ok $? "and the fast reader goes on receiving"

# ---- keep-alives and the connection timeout ---------------------------
# The shop reader has been idle since shop.end; http { timeout = 2s }.
wait_for 30 grep -q '^: keep-alive$' "$T_DIR/shop.out"
ok $? "an idle stream gets a keep-alive comment"
[ ! -s "$T_DIR/shop.rc" ]
ok $? "and outlives the connection timeout (2 s)"
publish shop.late '{"late":true}'
wait_for 10 grep -q '"topic":"shop.late"' "$T_DIR/shop.out"
ok $? "it still receives events"

# ---- stop with streams open -----------------------------------------------
stream au4 /v1/audit/stream
wait_for 10 grep -q '^: audit records after' "$T_DIR/au4.out"
ok $? "an audit stream is open too"
stop_agentd
ok $? "agentd stops cleanly with five streams open"
wait_for 10 sh -c "test -s '$T_DIR/shop.rc' && test -s '$T_DIR/all.rc' && test -s '$T_DIR/fast.rc' && test -s '$T_DIR/au2.rc' && test -s '$T_DIR/au4.rc'"
ok $? "every reader's stream ends"
[ "$(cat "$T_DIR/shop.rc" "$T_DIR/all.rc" "$T_DIR/fast.rc" "$T_DIR/au2.rc" "$T_DIR/au4.rc" | tr '\n' ' ')" = "0 0 0 0 0 " ]
ok $? "as a complete response: curl exits 0 ($(cat "$T_DIR/shop.rc" "$T_DIR/all.rc" "$T_DIR/fast.rc" "$T_DIR/au2.rc" "$T_DIR/au4.rc" | tr '\n' ' '))"
[ "$(datas au4 | tail -1 | jq -r .kind)" = agentd.stop ]
ok $? "the audit stream's last record is agentd.stop"
! grep -Eqi 'panic|suspended connections' "$T_DIR/agentd.log"
ok $? "libmicrohttpd did not complain"

done_testing

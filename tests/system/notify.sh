#!/bin/sh
# plugins/notify in a real agentd: a webhook message arriving at
# tests/tools/fakehook.py with the right JSON, the receiver down (503:
# three attempts, then notify.failed in the audit trail and an error
# reply of one line; the instance goes on serving, unrestarted), the
# rate limit's one-line refusal, an event published by another agent
# escalated to the webhook, a channels file with a mistake refused at a
# reload while the running instance goes on (and a good one taken), and
# e-mail to tests/tools/fakesmtp.py (a message with its headers and
# body; a recipient answered 451 tried again, then notify.failed).
. "$top_srcdir/tests/lib.sh"

plan 40

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 missing"; exit 0; }
command -v openssl >/dev/null || { echo "1..0 # SKIP openssl missing"; exit 0; }

NOTIFY=$(plugin_copy "$BPLUGINS/notify.so")
BUS=$(plugin_copy "$TPLUGINS/bus.so")
CFG=$(plugin_dir cfg)
SRV_PIDS=
trap 'for p in $SRV_PIDS; do kill "$p" 2>/dev/null; done; t_cleanup' EXIT

# serve NAME FAKE [ARGS]: a fake whose port lands in $T_DIR/NAME.port.
serve() {
	n=$1
	f=$2
	shift 2
	python3 "$top_srcdir/tests/tools/$f" --port-file "$T_DIR/$n.port" \
	    --log "$T_DIR/$n.log" --limit "$(slow 60)" "$@" \
	    >/dev/null 2>>"$T_DIR/$n.err" &
	SRV_PIDS="$SRV_PIDS $!"
	wait_for 10 test -s "$T_DIR/$n.port" || { echo "Bail out! $n did not start"; exit 1; }
}
# A certificate for 127.0.0.1 made here, trusted by the channel's
# ca_file alone; the password the TLS server wants, in a file.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$T_DIR/key.pem" \
    -out "$CFG/cert.pem" 2>/dev/null
PW="pw-7c1e-SECRET"
printf '%s\n' "$PW" > "$CFG/smtp.pw"
serve hook fakehook.py
serve smtp fakesmtp.py
serve tls fakesmtp.py --cert "$CFG/cert.pem" --key "$T_DIR/key.pem" \
    --user agentd --password "$PW"
T="smtp://127.0.0.1:$(cat "$T_DIR/tls.port")"
H="http://127.0.0.1:$(cat "$T_DIR/hook.port")"
S="smtp://127.0.0.1:$(cat "$T_DIR/smtp.port")"

cat > "$CFG/channels.json" <<EOF
{"channels": {
   "ops":   {"kind": "webhook", "url": "$H/hook/ops-SECRET", "attempts": 3, "backoff_ms": 50},
   "down":  {"kind": "webhook", "url": "$H/down/x", "attempts": 3, "backoff_ms": 50},
   "tight": {"kind": "webhook", "url": "$H/hook/tight", "burst": 2, "rate_per_minute": 1}},
 "templates": {
   "phase_failed": {"subject": "{run}: {phase} failed",
                    "text": "Phase {phase} of {run} failed: {error}"}},
 "events": {"phase.failed": {"channel": "ops", "template": "phase_failed"}}}
EOF
cat > "$CFG/mail.json" <<EOF
{"channels": {
   "oncall": {"kind": "email", "url": "$S", "starttls": "no",
              "from": "agentd@example.test", "to": ["ops@example.test", "lead@example.test"],
              "attempts": 1},
   "busy":   {"kind": "email", "url": "$S", "starttls": "no",
              "from": "agentd@example.test", "to": ["tempfail@example.test"],
              "attempts": 3, "backoff_ms": 50},
   "secure": {"kind": "email", "url": "$T", "ca_file": "$CFG/cert.pem",
              "username": "agentd", "password_file": "$CFG/smtp.pw",
              "from": "agentd@example.test", "to": ["sec@example.test"]},
   "untrusted": {"kind": "email", "url": "$T",
              "username": "agentd", "password_file": "$CFG/smtp.pw",
              "from": "agentd@example.test", "to": ["sec@example.test"]}},
 "templates": {
   "phase_failed": {"subject": "{run}: {phase} failed \u2014 sorry",
                    "text": "Phase {phase} of {run} failed:\n{error}\n.\nend"}}}
EOF
chmod 0644 "$CFG"/*.json

conf notify.conf <<EOF
agent "notify" {
	plugin = "$NOTIFY"
	instances { concurrency = 16 }
	subscribe = { "phase.failed" }
	http { allow = { "127.0.0.1" } }
	paths { read = { "$CFG" } }
	settings { channels_file = "$CFG/channels.json" }
}
agent "mailer" {
	plugin = "$NOTIFY"
	http { allow = { "127.0.0.1" } }
	paths { read = { "$CFG" } }
	settings {
		channels_file = "$CFG/mail.json"
		smtp_allow = "127.0.0.1"
	}
}
agent "nonet" {
	plugin = "$NOTIFY"
	paths { read = { "$CFG" } }
	settings {
		channels_file = "$CFG/mail.json"
		smtp_allow = "127.0.0.1"
	}
}
agent "flow" {
	plugin = "$BUS"
	publish = { "phase.failed" }
	calls = { "notify" }
}
EOF

start_agentd
ok $? "agentd starts"
wait_for 10 agent_ready notify 1 && wait_for 10 agent_ready flow 1
ok $? "notify and flow are ready"
PID0=$(agent_field notify '.instances[0].pid')

# hooks PATH-PREFIX: how many POSTs reached the receiver under it.
hooks() { jq -r --arg p "$1" 'select(.path | startswith($p)) | .path' "$T_DIR/hook.log" 2>/dev/null | grep -c .; }

# 1. A template's message arrives as Slack's JSON.
out=$(actl --json call notify '{"channel":"ops","template":"phase_failed","vars":{"run":"r-7","phase":"build","error":"make said \"no\""}}')
like "$out" '"sent":true' "a message is sent: sent true"
like "$out" '"digest":"sha256:[0-9a-f]{64}"' "...with the text's digest"
wait_for 10 test "$(hooks /hook/ops)" -eq 1
ok $? "...one POST reached the webhook"
got=$(jq -r 'select(.path | startswith("/hook/ops")) | .body' "$T_DIR/hook.log" | jq -r .text)
[ "$got" = "$(printf 'r-7: build failed\nPhase build of r-7 failed: make said "no"')" ]
ok $? "...its JSON's text is the subject and the rendered template"
jq -e -n 'last(inputs | select(.path | startswith("/hook/ops")) | (.content_type == "application/json") and ((.body | fromjson | keys) == ["text"]))' "$T_DIR/hook.log" >/dev/null
ok $? "...as application/json, {\"text\"} alone"
wait_for 10 sh -c "$AGENTCTL --run-dir $T_DIR/run audit --agent notify --kind notify.sent | grep -q 'ops: sent (template phase_failed, 1 attempt)'"
ok $? "...audited as notify.sent"

# 2. The receiver down: three attempts, notify.failed, one error line.
err=$(actl call notify '{"channel":"down","text":"anyone?"}' 2>&1)
rc=$?
[ "$rc" -ne 0 ]
ok $? "a receiver answering 503: the call fails"
like "$err" 'EUNAVAIL' "...EUNAVAIL"
like "$err" 'channel down \(webhook http://127.0.0.1:[0-9]+\): HTTP 503 after 3 attempts; recorded as notify.failed' "...with one line saying what happened"
one_line "$err" "...exactly one line"
[ "$(hooks /down/)" -eq 3 ]
ok $? "...the receiver saw 3 attempts"
wait_for 10 sh -c "$AGENTCTL --run-dir $T_DIR/run audit --agent notify --kind notify.failed | grep -q 'down: failed: HTTP 503 after 3 attempts'"
ok $? "...audited as notify.failed, with why"
recs=$(actl --json audit --agent notify)
printf '%s' "$recs" | grep -q 'notify.failed' &&
    ! printf '%s' "$recs" | grep -q 'ops-SECRET\|make said'
ok $? "...no record holds the text or the webhook's secret path"
out=$(actl --json call notify '{"channel":"ops","text":"still here"}')
like "$out" '"sent":true' "the instance goes on sending on other channels"
[ "$(agent_field notify '.instances[0].pid')" = "$PID0" ]
ok $? "...the same instance, not restarted"

# 3. The rate limit: a burst of 2, then one clear refusal.
actl call notify '{"channel":"tight","text":"1"}' >/dev/null &&
    actl call notify '{"channel":"tight","text":"2"}' >/dev/null
ok $? "a burst of 2 is sent"
err=$(actl call notify '{"channel":"tight","text":"3"}' 2>&1)
like "$err" 'channel tight: rate limit reached \(1 a minute, burst 2\): try again in [0-9]+ s \(EBUSY\)' "the third is refused: EBUSY, which limit, when to try again"
one_line "$err" "...in one line"
[ "$(hooks /hook/tight)" -eq 2 ]
ok $? "...and did not reach the webhook"

# 4. An agent escalates by publishing: phase.failed -> ops.
actl call flow '{"publish":"phase.failed","count":1,"body":{"run":"r-9","phase":"deploy","error":"timeout"}}' >/dev/null
wait_for 10 sh -c "jq -r 'select(.path | startswith(\"/hook/ops\")) | .body' '$T_DIR/hook.log' | grep -q 'Phase deploy of r-9 failed: timeout'"
ok $? "an event published by flow reaches the ops webhook, rendered"
wait_for 10 sh -c "$AGENTCTL --run-dir $T_DIR/run --json audit --agent notify --kind notify.sent | grep -q 'phase.failed'"
ok $? "...audited as notify.sent with its topic"

# 5. A new channels file with a mistake, at a reload: refused with one
# line naming the file and the entry; the running instance goes on.
sed 's/"text": "Phase {phase}/"text": "Phase {phase/' "$CFG/channels.json" > "$CFG/channels-2.json"
sed 's/"tight":/"new": {"kind": "webhook", "url": "'"$(printf '%s' "$H" | sed 's/[\/&]/\\&/g')"'\/hook\/new"}, "tight":/' "$CFG/channels.json" > "$CFG/channels-3.json"
chmod 0644 "$CFG"/*.json
sed -i "s|$CFG/channels.json|$CFG/channels-2.json|" "$T_DIR/conf/notify.conf"
out=$(actl reload 2>&1)
like "$out" '^notify: refused: .*init.*; keeps running' "a channels file with a mistake: the reload is refused for notify"
grep -q "notify: $CFG/channels-2.json: template phase_failed: '{' at byte [0-9]* does not start {name}" "$T_DIR/agentd.log"
ok $? "...the log says which file, which template, where"
out=$(actl --json call notify '{"channel":"ops","text":"after the refused reload"}')
like "$out" '"sent":true' "...and the running instance still sends"
sed -i "s|$CFG/channels-2.json|$CFG/channels-3.json|" "$T_DIR/conf/notify.conf"
out=$(actl reload 2>&1)
like "$out" '^notify: upgraded' "a good new file: notify upgraded"
out=$(actl --json call notify '{"channel":"new","text":"hello new"}')
like "$out" '"sent":true' "...and its new channel sends"
PID1=$(agent_field notify '.instances[0].pid')

# 6. E-mail, when this agentd's workers drive a plugin's own descriptors
# (host->watch_fd and timer_start, ABI 1.5).
mailer_settled() {
	agent_ready mailer 1 || grep -q 'e-mail channels need' "$T_DIR/agentd.log"
}
wait_for 10 mailer_settled
if agent_ready mailer 1; then
	out=$(actl --json call mailer '{"channel":"oncall","template":"phase_failed","vars":{"run":"r-3","phase":"test","error":"2 failures"}}')
	like "$out" '"sent":true' "an e-mail is sent"
	msg=$(jq -r 'select(.data) | .data' "$T_DIR/smtp.log")
	jq -e -n 'last(inputs | select(.data) | .from == "agentd@example.test" and .to == ["ops@example.test", "lead@example.test"])' "$T_DIR/smtp.log" >/dev/null &&
	    printf '%s' "$msg" | grep -q '^Subject: =?UTF-8?B?' &&
	    printf '%s' "$msg" | grep -q '^Content-Type: text/plain; charset=utf-8'
	ok $? "...it arrived: sender, both recipients, an encoded subject, UTF-8 text"
	printf '%s' "$msg" | tr -d '\r' | grep -qx '\.' &&
	    printf '%s' "$msg" | tr -d '\r' | grep -qx '2 failures'
	ok $? "...its body line by line, a line of one dot kept"
	err=$(actl call mailer '{"channel":"busy","text":"hello"}' 2>&1)
	like "$err" 'SMTP 451.* after 3 attempts; recorded as notify.failed' "a 451 recipient: tried 3 times, then one error line"
	wait_for 10 sh -c "$AGENTCTL --run-dir $T_DIR/run audit --agent mailer --kind notify.failed | grep -q 'busy: failed: SMTP 451'"
	ok $? "...audited as notify.failed"
	out=$(actl --json call mailer '{"channel":"secure","text":"over TLS"}')
	like "$out" '"sent":true' "STARTTLS, the server trusted by ca_file, AUTH PLAIN: sent"
	jq -e -s 'any(.tls == true) and any(.auth == "agentd" and .ok == true) and any(.data // "" | test("over TLS"))' "$T_DIR/tls.log" >/dev/null
	ok $? "...the server saw TLS, the login and the message"
	n0=$(grep -c '"data"' "$T_DIR/tls.log")
	err=$(actl call mailer '{"channel":"untrusted","text":"must not leak"}' 2>&1)
	like "$err" 'after 1 attempt; recorded as notify.failed \(EIO\)' "a server the system's CAs do not trust: EIO at once"
	wait_for 10 grep -q '"tls": false' "$T_DIR/tls.log" &&
	    [ "$(grep -c '"data"' "$T_DIR/tls.log")" -eq "$n0" ]
	ok $? "...nothing was sent: the handshake was refused"
	seen=$({ cat "$T_DIR/agentd.log"; actl --json status; actl --json audit; } 2>&1)
	printf '%s' "$seen" | grep -q '"notify.sent"' &&
	    printf '%s' "$seen" | grep -q 'channel secure' &&
	    ! printf '%s' "$seen" | grep -q "$PW"
	ok $? "the SMTP password is in no log line, status or audit record"
else
	why=$(grep -o 'e-mail channels need [^"]*' "$T_DIR/agentd.log" | head -1)
	for t in "an e-mail is sent" "...it arrived" "...its body" \
	    "a 451 recipient" "...audited as notify.failed" "TLS" "...TLS" \
	    "untrusted" "...untrusted" "password"; do
		T_N=$((T_N + 1))
		echo "ok $T_N - $t # SKIP ${why:-mailer not ready}"
	done
fi

# 7. E-mail from an agent whose sandbox has no network: one line at
# start saying what to add; nothing else is disturbed.
wait_for 10 grep -q "nonet.*e-mail channels connect out, and this agent's sandbox has no Internet sockets: list the SMTP servers in its http { allow }" "$T_DIR/agentd.log"
ok $? "e-mail channels in an agent without network: one line saying what to add"
out=$(actl --json call notify '{"channel":"ops","text":"still fine"}')
[ "$(agent_field notify '.instances[0].pid')" = "$PID1" ] &&
    printf '%s' "$out" | grep -q '"sent":true'
ok $? "...and notify is not disturbed by it"

done_testing

#!/bin/sh
# Canary: `agentctl reload --canary v 20` starts the new version beside the
# old one and gives it 20% of v's requests; status shows both generations
# with their role, share and requests; `agentctl promote` moves all traffic
# to it; a second canary abandoned with `agentctl rollback` leaves the
# current version serving alone and its instances gone.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/reload_lib.sh"

plan 31

PLUG="$T_DIR/plugins/v.so"

H1=$(h8 "$TPLUGINS/vers1.so")
H2=$(h8 "$TPLUGINS/vers2.so")
H3=$(h8 "$TPLUGINS/vers3.so")

# calls N: N calls to v from 4 parallel callers; the replies (one JSON line
# each) end up in $T_DIR/replies, failures counted in $T_DIR/failed.
calls() {
	rm -f "$T_DIR"/replies* "$T_DIR/failed"
	: >"$T_DIR/failed"
	cl=
	for c in 1 2 3 4; do
		( k=0
		  while [ $k -lt $(($1 / 4)) ] && [ -d "$T_DIR" ]; do
			k=$((k + 1))
			actl --json call v "\"c$c-$k\"" >>"$T_DIR/replies-$c" \
			    2>/dev/null || echo "c$c-$k" >>"$T_DIR/failed"
		  done ) &
		cl="$cl $!"
	done
	# shellcheck disable=SC2086
	wait $cl
	cat "$T_DIR"/replies-* > "$T_DIR/replies"
}
# answered VERSION: how many of the last calls VERSION answered.
answered() { grep -c "\"version\":\"$1\"" "$T_DIR/replies"; }
gen_field() {
	agent_field v ".generations[] | select(.role == \"$1\") | $2"
}
# all_gone PID...: none of these processes is left.
all_gone() {
	for p; do kill -0 "$p" 2>/dev/null && return 1; done
	return 0
}

install_plugin "$TPLUGINS/vers1.so"
conf v.conf <<EOF
agent "v" {
	plugin = "$PLUG"
	instances { min = 2  max = 2 }
	health { probation = 0 }
}
EOF

start_agentd
wait_for 10 agent_ready v 2
ok $? "v is ready with 2 instances"

out=$(actl rollback v 2>&1)
rc=$?
[ $rc -eq 1 ]
ok $? "rollback with nothing to go back to exits 1 (got $rc)"
one_line "$out" "and says so in one line"

# -- a canary at 20% ----------------------------------------------------------
install_plugin "$TPLUGINS/vers2.so"
out=$(actl reload --canary v 20 2>&1)
ok $? "agentctl reload --canary v 20 exits 0"
like "$out" "^v: canary 2\\.0 \\($H2\\) takes 20% of requests; 1\\.0 \\($H1\\) serves the rest\$" \
    "v: canary 2.0 ($H2) takes 20% of requests; 1.0 ($H1) serves the rest"
wait_for 10 status_has '.agents[] | select(.name == "v") | .generations
    | any(.role == "canary" and .version == "2.0" and .share == 20
          and .instances >= 1)
      and any(.role == "current" and .version == "1.0" and .share == 80
          and .instances == 2)'
ok $? "status: canary 2.0 at 20%, current 1.0 at 80% on its 2 instances"
[ "$(actl --json versions v | jq -r '.versions[] | select(.state == "canary") | .version')" = 2.0 ]
ok $? "versions: 2.0 is the canary"
cgen=$(gen_field canary .generation)
cpids=$(agent_field v ".instances[] | select(.generation == ${cgen:-0}) | .pid" | tr '\n' ' ')

start=$(date +%s)
calls 2000
diag "2000 calls in $(($(date +%s) - start)) s"
n=$(grep -c . "$T_DIR/replies")
n2=$(answered 2.0)
n1=$(answered 1.0)
[ "$n" -eq 2000 ] && [ "$(grep -c . "$T_DIR/failed")" -eq 0 ]
ok $? "2000 calls, all answered ($n replies, $(grep -c . "$T_DIR/failed") failed)"
[ $((n1 + n2)) -eq "$n" ]
ok $? "each by 1.0 or 2.0 (1.0: $n1, 2.0: $n2)"
[ "$n2" -ge 300 ] && [ "$n2" -le 500 ]
ok $? "2.0 answered between 15% and 25% of them: $n2 of 2000"
[ "$(gen_field canary .requests)" = "$n2" ]
ok $? "status: the canary generation counts the $n2 requests it served ($(gen_field canary .requests))"
[ "$(gen_field current .requests)" -ge "$n1" ]
ok $? "and the current one at least the $n1 it served ($(gen_field current .requests))"

# -- promote ------------------------------------------------------------------
out=$(actl promote v 2>&1)
ok $? "agentctl promote v exits 0"
like "$out" "^v: upgraded from 1\\.0 \\($H1\\) to 2\\.0 \\($H2\\)\$" \
    "v: upgraded from 1.0 ($H1) to 2.0 ($H2)"
calls 40
[ "$(answered 2.0)" -eq 40 ]
ok $? "all 40 calls are answered by 2.0 ($(answered 2.0))"
wait_for 10 only_current
ok $? "only the 2 instances of the current generation are left"
[ "$(agent_field v .generation)" = "$cgen" ] && [ "$(agent_field v .version)" = 2.0 ]
ok $? "the canary's generation ($cgen) is current, version 2.0"
kept=0
for p in $cpids; do
	status_has ".agents[] | select(.name == \"v\") | any(.instances[]; .pid == $p)" &&
	    kept=$((kept + 1))
done
[ -n "$cpids" ] && [ "$kept" -eq "$(echo $cpids | wc -w)" ]
ok $? "the canary's own instances carry on ($kept of: $cpids)"

# -- a second canary, abandoned -----------------------------------------------
install_plugin "$TPLUGINS/vers3.so"
out=$(actl reload --canary v 50 2>&1)
ok $? "agentctl reload --canary v 50 exits 0"
like "$out" "^v: canary 3\\.0 \\($H3\\) takes 50% of requests; 2\\.0 \\($H2\\) serves the rest\$" \
    "v: canary 3.0 takes 50%; 2.0 serves the rest"
c2gen=$(gen_field canary .generation)
c2pids=$(agent_field v ".instances[] | select(.generation == ${c2gen:-0}) | .pid" | tr '\n' ' ')
[ -n "$c2pids" ]
ok $? "the canary runs: pids $c2pids"
calls 40
n3=$(answered 3.0)
[ "$n3" -ge 14 ] && [ "$n3" -le 26 ] && [ "$(answered 2.0)" -eq $((40 - n3)) ]
ok $? "3.0 answers about half (3.0: $n3, 2.0: $(answered 2.0))"
out=$(actl rollback v 2>&1)
ok $? "agentctl rollback v exits 0"
like "$out" "^v: rolled back from 3\\.0 \\($H3\\) to 2\\.0 \\($H2\\)\$" \
    "v: rolled back from 3.0 ($H3) to 2.0 ($H2)"
calls 40
[ "$(answered 2.0)" -eq 40 ]
ok $? "all 40 calls are answered by 2.0 again ($(answered 2.0))"
# shellcheck disable=SC2086
wait_for 10 all_gone $c2pids
ok $? "the canary's workers exited"
wait_for 10 only_current
ok $? "status: only the current generation has instances"
! status_has '.agents[] | select(.name == "v") | any(.generations[]; .role == "canary")'
ok $? "status: no canary generation"
actl --json versions v | jq_true 'any(.versions[]; .state == "canary") | not'
ok $? "versions: no canary"
[ "$(agent_field v .version)" = 2.0 ]
ok $? "status says 2.0"

stop_agentd
ok $? "agentd stops"
done_testing

#!/bin/sh
# Workflows (plugins/flow, doc/workflows.md) through a real agentd: the
# product pipeline with a retried step and a branch, a dry run that calls
# no effect, an idempotent start, retryable and final errors, a refused
# definition that leaves the previous ones serving, cancel, and runs
# resumed after kill -9 of the flow instance and of agentd (finished steps
# not called again, the one in flight called again with the same key).
# A failed step says why in the callee's words (its reply_error message)
# or agentd's (a denied call, a deadline passed): host->call_error.
# The callee is tests/plugins/flowtest: each call says what it does, and
# it counts calls per idempotency key in its state (n/KEY).
. "$top_srcdir/tests/lib.sh"

plan 78

FLOW=$(plugin_copy "$BPLUGINS/flow.so")
FT=$(plugin_copy "$TPLUGINS/flowtest.so")
DEFS=$(plugin_dir defs)

cat > "$DEFS/pipeline.flow" <<'EOF'
description = "scout -> vetting -> pricing -> CEO decision -> publisher"
step "scout" {
  agent = "flowtest"
  input = { "query = $input.query", "answer = LAMP-1" }
}
step "vetting" {
  agent = "flowtest"
  input = { "sku = $scout.answer", "do = fail", "code = EBUSY", "n = 2" }
  retry { attempts = 3  backoff = 10ms  backoff_max = 50ms }
}
step "pricing" {
  agent = "flowtest"
  input = { "sku = $vetting.in.sku", "answer = 19.5" }
  output = "price"
}
step "ceo" {
  agent = "flowtest"
  input = { "price = $price.answer", "answer = $input.verdict" }
  goto "end" { when = "$ceo.answer != approve" }
}
step "publisher" {
  agent = "flowtest"
  effect = true
  input = { "sku = $scout.answer", "price = $price.answer" }
  placeholder = { "answer = dry-listing" }
}
EOF
cat > "$DEFS/slow.flow" <<'EOF'
step "a" { agent = "flowtest" }
step "b" {
  agent = "flowtest"
  input = { "do = stall", "n = 1" }
  timeout = 10m
}
step "c" { agent = "flowtest" }
EOF
cat > "$DEFS/errors.flow" <<'EOF'
step "t" {
  agent = "flowtest"
  input = { "do = fail", "code = ETIMEOUT", "n = 1" }
  retry { attempts = 2  backoff = 10ms }
}
step "f" {
  agent = "flowtest"
  input = { "do = fail", "code = EFAILED", "n = 1" }
  retry { attempts = 2  backoff = 10ms }
}
step "x" {
  agent = "flowtest"
  input = { "do = fail", "code = EINVAL" }
  retry { attempts = 5  backoff = 10ms }
}
EOF
cat > "$DEFS/crash.flow" <<'EOF'
step "c" {
  agent = "flowtest"
  input = { "do = crash", "n = 1" }
}
EOF
cat > "$DEFS/unknown.flow" <<'EOF'
step "u" { agent = "nosuch" }
EOF
# Approval steps: "product" is high risk (a person decides), "quick" high
# with a deadline of 2s (flow.conf's policy).
cat > "$DEFS/approve.flow" <<'EOF'
step "ceo" {
  approval {
    type = "product.publish"
    title = "Publish LAMP-1"
    amount = "$input.price"
  }
  input = { "sku = LAMP-1", "price = $input.price" }
  rejected = "told"
}
step "publisher" {
  agent = "flowtest"
  input = { "sku = $ceo.sku", "price = $ceo.price" }
  next = "end"
}
step "told" { agent = "flowtest" }
EOF
cat > "$DEFS/expire.flow" <<'EOF'
step "q" {
  approval { type = "quick.deal" }
  expired = "late"
}
step "go" {
  agent = "flowtest"
  next = "end"
}
step "late" { agent = "flowtest" }
EOF
cat > "$DEFS/wait.flow" <<'EOF'
step "nap" { wait = 3s }
step "after" { agent = "flowtest" }
EOF
# Parallel groups.
cat > "$DEFS/par.flow" <<'EOF'
step "fan" {
  branch "a" {
    agent = "flowtest"
    input = { "answer = A" }
  }
  branch "b" {
    agent = "flowtest"
    input = { "do = fail", "code = EBUSY", "n = 1", "answer = B" }
    retry { attempts = 2  backoff = 10ms }
  }
  branch "c" {
    agent = "flowtest"
    input = { "do = stall", "n = 1", "answer = C" }
    timeout = 300ms
    retry { attempts = 2  backoff = 10ms }
  }
}
step "after" {
  agent = "flowtest"
  input = { "b = $fan.b.answer", "c = $fan.c.answer" }
}
EOF
cat > "$DEFS/first.flow" <<'EOF'
step "race" {
  join = first
  branch "slow" {
    agent = "flowtest"
    input = { "do = stall" }
    timeout = 10m
  }
  branch "fast" {
    agent = "flowtest"
    input = { "answer = F" }
  }
}
step "nofm" {
  join = 2
  branch "x" {
    agent = "flowtest"
    input = { "do = fail", "code = EINVAL" }
  }
  branch "y" { agent = "flowtest" }
  branch "z" { agent = "flowtest" }
}
EOF
cat > "$DEFS/slowpar.flow" <<'EOF'
step "g" {
  branch "s1" {
    agent = "flowtest"
    input = { "do = stall" }
    timeout = 10m
  }
  branch "s2" {
    agent = "flowtest"
    input = { "do = stall" }
    timeout = 10m
  }
}
step "after" { agent = "flowtest" }
EOF

conf agentd.conf <<EOF
policy { deadline_min = 1s }
EOF
conf flow.conf <<EOF
agent "flow" {
  plugin = "$FLOW"
  calls = { "flowtest" }
  paths { read = { "$DEFS" } }
  settings { definitions = "$DEFS" }
  restart { backoff_initial = 50ms }
  policy {
    rule "publish" { type = { "product" }  risk = high }
    rule "quick" { type = { "quick" }  risk = high  deadline = 2s }
  }
}
agent "flowtest" {
  plugin = "$FT"
  instances { concurrency = 16 }
  restart { backoff_initial = 50ms }
}
EOF

fl() { actl --json call flow "$1"; }
# The run id of a start's answer.
start() { fl "$1" | jq -r .run; }
state_of() { fl "{\"op\":\"status\",\"run\":\"$1\"}" | jq -r .state; }
is_state() { [ "$(state_of "$1")" = "$2" ]; }
# How often flowtest was called with key $1 (0 if never).
calls() {
	v=$(actl state get flowtest "n/$1" 2>/dev/null)
	echo "${v:-0}"
}
called() { [ "$(calls "$1")" = "$2" ]; }
# A field (jq filter) of a run's status.
stf() { fl "{\"op\":\"status\",\"run\":\"$1\"}" | jq -r "$2"; }
has_phase() { [ "$(stf "$1" .phase)" = "$2" ]; }
flow_pid() {
	actl --json status | jq '.agents[] | select(.name=="flow") | .instances[0].pid'
}

start_agentd
ok $? "agentd starts"
wait_for 10 agent_ready flow 1 && wait_for 10 agent_ready flowtest 1
ok $? "flow and flowtest are ready"
like "$(fl '{"op":"definitions"}' | jq -c '[.definitions[].name]')" \
    '^\["approve","crash","errors","expire","first","par","pipeline","slow","slowpar","unknown","wait"\]$' \
    "the eleven definitions are loaded"

# ---- the product pipeline ------------------------------------------------
r=$(start '{"op":"start","workflow":"pipeline","input":{"query":"lamps","verdict":"approve"},"key":"order-1"}')
wait_for 20 is_state "$r" done
ok $? "the pipeline runs to its end"
st=$(fl "{\"op\":\"status\",\"run\":\"$r\"}")
like "$(echo "$st" | jq -c '[.steps[] | .step + ":" + .state]')" \
    '^\["scout:done","vetting:done","pricing:done","ceo:done","publisher:done"\]$' \
    "every step is recorded done, in order"
like "$(echo "$st" | jq -c '.steps[1].attempts')" '^3$' \
    "vetting answered EBUSY twice and was retried"
like "$(echo "$st" | jq -r '.steps[1].input.sku')" '^LAMP-1$' \
    "vetting's input came from scout's output"
like "$(echo "$st" | jq -c '.outputs.publisher.in.price')" '^19.5$' \
    "the publisher got the price from pricing's output"
called "$r/publisher/1" 1
ok $? "the publisher (an effect) was called once, with its key"
r2=$(start '{"op":"start","workflow":"pipeline","input":{"query":"lamps","verdict":"approve"},"key":"order-1"}')
[ "$r2" = "$r" ] && called "$r/scout/1" 1
ok $? "starting again with the same key returns the same run, calls nothing"

r=$(start '{"op":"start","workflow":"pipeline","input":{"query":"x","verdict":"reject"}}')
wait_for 20 is_state "$r" done
ok $? "a rejected pipeline ends too"
called "$r/publisher/1" 0 &&
    [ "$(fl "{\"op\":\"status\",\"run\":\"$r\"}" | jq '.steps | length')" = 4 ]
ok $? "...without publishing: the ceo's goto ended it"

# ---- dry run ---------------------------------------------------------------
r=$(start '{"op":"start","workflow":"pipeline","input":{"query":"x","verdict":"approve"},"dry_run":true}')
wait_for 20 is_state "$r" done
ok $? "a dry run ends"
st=$(fl "{\"op\":\"status\",\"run\":\"$r\"}")
called "$r/publisher/1" 0 && called "$r/pricing/1" 1
ok $? "...calling every step but the effect"
like "$(echo "$st" | jq -c '.steps[4] | [.state, .input.sku, .output.answer]')" \
    '^\["dry","LAMP-1","dry-listing"\]$' \
    "the effect's would-be input and its placeholder are recorded"

# ---- errors ------------------------------------------------------------------
r=$(start '{"op":"start","workflow":"errors"}')
wait_for 20 is_state "$r" failed
ok $? "a run with a final error fails"
called "$r/t/1" 2 && called "$r/f/1" 2
ok $? "ETIMEOUT and EFAILED were retried per policy"
called "$r/x/1" 1
ok $? "EINVAL was not retried: one call"
like "$(fl "{\"op\":\"status\",\"run\":\"$r\"}" | jq -r .error)" \
    'EINVAL.*step "x"' "the run's error names the code and the step"
like "$(stf "$r" .error)" '^EINVAL: told to fail \(step "x", attempt 1 of 5\)$' \
    "...and says why in the callee's words (its reply_error message)"
like "$(stf "$r" '.steps[] | select(.step == "x") | .error')" '^EINVAL: told to fail$' \
    "...so does the step's record"
actl audit --agent flow --kind flow.step.failed | grep -q "run $r of errors: x .*EINVAL: told to fail"
ok $? "...and the flow.step.failed audit record"
actl --json audit --agent flow --kind flow.run.failed |
    jq -e -n --arg r "$r" 'last(inputs | select(.detail.run == $r) | .detail.error | test("^EINVAL: told to fail"))' >/dev/null
ok $? "...and the flow.run.failed record's error"

r=$(start '{"op":"start","workflow":"unknown"}')
wait_for 20 is_state "$r" failed
ok $? "a step calling an agent it may not call fails the run"
like "$(fl "{\"op\":\"status\",\"run\":\"$r\"}" | jq -r .steps[0].error)" \
    '^(EDENIED|ENOENT)' "...at once, with the code"
like "$(stf "$r" .steps[0].error)" \
    '^EDENIED: agent "flow" may not call "nosuch": add it to calls = \{ \} in .*flow.conf$' \
    "...and agentd's line: why, and what to do"
r=$(start '{"op":"start","workflow":"crash"}')
wait_for 20 is_state "$r" done
ok $? "a callee that crashes mid-call: the run still ends done"
called "$r/c/1" 2 &&
    [ "$(fl "{\"op\":\"status\",\"run\":\"$r\"}" | jq -r '.steps[0].attempts')" = 1 ]
ok $? "...agentd gave the call to the restarted callee, same key"

# ---- a refused definition --------------------------------------------------
printf 'step "a" {\n  agent = "flowtest"\n  next = "a"\n}\n' > "$DEFS/zloop.flow"
out=$(fl '{"op":"reload"}' 2>&1)
like "$out" 'zloop.flow:3: step "a" goes back to "a": a loop needs max_iterations' \
    "a cycle without max_iterations is refused with file:line"
printf 'step "a" {\n  agent = "flowtest"\n  timeout = "soon"\n}\n' > "$DEFS/zloop.flow"
like "$(fl '{"op":"reload"}' 2>&1)" 'zloop.flow:3: timeout: "soon" is not a duration' \
    "a bad duration is refused with file:line"
rm -f "$DEFS/zloop.flow"
r=$(start '{"op":"start","workflow":"errors"}')
wait_for 20 is_state "$r" failed
ok $? "the previous definitions keep serving"

# ---- cancel ------------------------------------------------------------------
r=$(start '{"op":"start","workflow":"slow"}')
wait_for 20 called "$r/b/1" 1
fl "{\"op\":\"cancel\",\"run\":\"$r\"}" >/dev/null
is_state "$r" cancelled
ok $? "a run is cancelled while its step stalls"
called "$r/c/1" 0
ok $? "...and the step after it never runs"

# ---- kill -9 of the flow instance mid-step ---------------------------------
r=$(start '{"op":"start","workflow":"slow"}')
wait_for 20 called "$r/b/1" 1
kill -KILL "$(flow_pid)"
wait_for 20 status_has '.agents[] | select(.name=="flow") | .restarts == 1 and .ready == 1'
ok $? "the flow instance is restarted after kill -9"
wait_for 20 is_state "$r" done
ok $? "...and the run resumes to its end"
called "$r/a/1" 1 && called "$r/c/1" 1
ok $? "the finished step is not called again; the next runs once"
called "$r/b/1" 2
ok $? "the step in flight is called again, with the same idempotency key"

# ---- kill -9 of agentd mid-run ---------------------------------------------
r=$(start '{"op":"start","workflow":"slow"}')
wait_for 20 called "$r/b/1" 1
# A start is answered once its record is durable (its checkpoint shares a
# commit with others): runs acknowledged just before the kill exist after.
acked=
for i in 1 2 3 4 5; do
	acked="$acked $(start '{"op":"start","workflow":"wait"}')"
done
kill -KILL "$AGENTD_PID"
wait "$AGENTD_PID" 2>/dev/null
AGENTD_PID=
wait_for 10 workers_gone
start_agentd
ok $? "agentd starts again after kill -9"
wait_for 20 is_state "$r" done
ok $? "the run resumes to its end"
called "$r/a/1" 1 && called "$r/b/1" 2 && called "$r/c/1" 1
ok $? "only the step in flight was called again"
n=0
for a in $acked; do
	case $(state_of "$a") in running | done) n=$((n + 1)) ;; esac
done
[ "$n" = 5 ]
ok $? "the 5 runs started just before kill -9 of agentd exist after it ($n)"
all_done() { for a in $acked; do is_state "$a" done || return 1; done; }
wait_for 20 all_done
ok $? "...and resume to their end"

# ---- approval steps --------------------------------------------------------
rs=$r # the slow run resumed after kill -9 of agentd, audited below
r=$(start '{"op":"start","workflow":"approve","input":{"price":12}}')
wait_for 20 has_phase "$r" approval
ok $? "an approval step waits on its decision"
d=$(stf "$r" .current.decision)
like "$(actl --json approvals show "$d" | jq -c '[.state, .type, .amount, .params.sku]')" \
    '^\["pending","product.publish",12,"LAMP-1"\]$' \
    "...proposed through the gate with its type, amount and params"
actl modify "$d" '{"sku":"LAMP-2","price":11}' >/dev/null &&
    actl approve "$d" --note "go" >/dev/null
wait_for 20 is_state "$r" done
ok $? "agentctl modify, then approve: the run goes on to its end"
like "$(stf "$r" '[.steps[] | .step + ":" + .state] | join(" ")')" \
    '^ceo:done publisher:done$' "...through publisher, not the rejected branch"
like "$(stf "$r" '.steps[1].input.sku + " " + (.steps[0].decision.by)')" \
    '^LAMP-2 agentctl ' "the modified params are the step's output; who decided is recorded"

r=$(start '{"op":"start","workflow":"approve","input":{"price":12}}')
wait_for 20 has_phase "$r" approval
d=$(stf "$r" .current.decision)
actl reject "$d" --reason "too cheap" >/dev/null
wait_for 20 is_state "$r" done
ok $? "agentctl reject: the run ends"
like "$(stf "$r" '[.steps[] | .step + ":" + .state] | join(" ")')" \
    '^ceo:rejected told:done$' "...through the step rejected names"
like "$(stf "$r" .steps[0].error)" 'rejected by agentctl .*too cheap' \
    "...with who rejected it and why"

r=$(start '{"op":"start","workflow":"expire"}')
wait_for 20 is_state "$r" done
ok $? "an approval past its deadline (2s) expires and the run goes on"
like "$(stf "$r" '[.steps[] | .step + ":" + .state] | join(" ")')" \
    '^q:expired late:done$' "...to the step expired names"

r=$(start '{"op":"start","workflow":"approve","input":{"price":5}}')
wait_for 20 has_phase "$r" approval
d=$(stf "$r" .current.decision)
kill -KILL "$(flow_pid)"
wait_for 20 status_has '.agents[] | select(.name=="flow") | .restarts == 1 and .ready == 1'
ok $? "kill -9 of the flow instance while a run waits on a decision"
actl approve "$d" >/dev/null
wait_for 20 is_state "$r" done
ok $? "...the decision reaches the restarted instance and the run ends"
[ "$(stf "$r" .steps[0].decision.id)" = "$d" ] && called "$r/publisher/1" 1 &&
    [ "$(actl --json approvals --agent flow | jq -s 'map(if type == "array" then .[] else . end) | map(select(.state == "pending")) | length')" = 0 ]
ok $? "...the same decision (checkpointed), nothing proposed again, publisher once"

# ---- wait steps --------------------------------------------------------------
r=$(start '{"op":"start","workflow":"wait"}')
wait_for 20 has_phase "$r" waiting
ok $? "a wait step waits"
due=$(stf "$r" .due_ms)
kill -KILL "$AGENTD_PID"
wait "$AGENTD_PID" 2>/dev/null
AGENTD_PID=
wait_for 10 workers_gone
start_agentd
wait_for 20 is_state "$r" done
ok $? "...across kill -9 of agentd, then the run ends"
[ "$(stf "$r" .steps[0].output.due_ms)" = "$due" ] &&
    [ "$(stf "$r" .steps[0].output.woke_ms)" -ge "$due" ] && called "$r/after/1" 1
ok $? "...not before its checkpointed wake-up time; the next step once"

# ---- parallel groups -----------------------------------------------------------
r=$(start '{"op":"start","workflow":"par"}')
wait_for 20 is_state "$r" done
ok $? "a parallel group (join all) ends"
called "$r/fan/1/a" 1 && called "$r/fan/1/b" 2 && called "$r/fan/1/c" 2
ok $? "...each branch with its own key; b retried EBUSY, c its timeout"
like "$(stf "$r" '.steps[1].input | .b + .c')" '^BC$' \
    "the next step reads the branches' answers"
like "$(stf "$r" '[.steps[0].branches[] | .branch + ":" + .state + ":" + (.attempts|tostring)] | join(" ")')" \
    '^a:done:1 b:done:2 c:done:2$' "the group's record has each branch's attempts"
actl audit --agent flow --kind flow.branch.retry |
    grep -q "run $r of par: fan branch c retried: ETIMEOUT: agent \"flowtest\": deadline passed"
ok $? "a branch's timeout is audited with agentd's line, naming the callee"

r=$(start '{"op":"start","workflow":"first"}')
wait_for 20 is_state "$r" done
ok $? "join first and join 2 of 3 end"
like "$(stf "$r" '[.outputs.race | keys[]] + [.outputs.nofm | keys[]] | join(" ")')" \
    '^fast y z$' "...first: the one that answered; 2 of 3: a failed branch left out"
like "$(stf "$r" '[.steps[0].branches[] | .state] | join(" ")')" '^cancelled done$' \
    "...the stalled branch is dropped once the group joined"

r=$(start '{"op":"start","workflow":"slowpar"}')
wait_for 20 called "$r/g/1/s1" 1 && wait_for 20 called "$r/g/1/s2" 1
fl "{\"op\":\"cancel\",\"run\":\"$r\"}" >/dev/null
is_state "$r" cancelled
ok $? "a run is cancelled during a parallel group"
like "$(stf "$r" '[.steps[0].state] + [.steps[0].branches[] | .state] | join(" ")')" \
    '^cancelled cancelled cancelled$' "...its branches recorded cancelled"
called "$r/after/1" 0
ok $? "...and the step after the group never runs"

# ---- rollback ----------------------------------------------------------------
ver_of() { fl '{"op":"definitions"}' | jq -r ".definitions[] | select(.name == \"$1\") | .version"; }
printf 'step "old" { agent = "flowtest" }\n' > "$DEFS/ver.flow"
fl '{"op":"reload"}' >/dev/null
v1=$(ver_of ver)
r=$(start '{"op":"start","workflow":"ver"}')
wait_for 20 is_state "$r" done
printf 'step "new" { agent = "flowtest" }\n' > "$DEFS/ver.flow"
fl '{"op":"reload"}' >/dev/null
v2=$(ver_of ver)
out=$(fl "{\"op\":\"rollback\",\"workflow\":\"ver\",\"version\":\"$v1\"}")
[ "$v1" != "$v2" ] && [ "$(echo "$out" | jq -r '.definitions[] | select(.name == "ver") | .version + " " + (.rolled_back|tostring)')" = "$v1 true" ]
ok $? "rollback to the version a run used serves it"
r=$(start '{"op":"start","workflow":"ver"}')
wait_for 20 is_state "$r" done
like "$(stf "$r" '.version + " " + .steps[0].step')" "^$v1 old\$" \
    "...to new runs, with its steps"
fl '{"op":"rollback","workflow":"ver"}' >/dev/null
[ "$(ver_of ver)" = "$v2" ]
ok $? "rollback without a version: the file's version serves again"

# ---- list and audit ----------------------------------------------------------
r=$rs
like "$(fl '{"op":"list","workflow":"slow","state":"done"}' | jq '.runs | length')" \
    '^2$' "list filters by workflow and state"
actl audit --agent flow --kind flow.step.resumed | grep -q "run $r of slow: b called again"
ok $? "the call made again is audited (flow.step.resumed)"
n=$(actl --json audit --agent flow --kind flow.run.done | grep -c "$r")
[ "$n" -ge 1 ] && actl audit verify >/dev/null
ok $? "each run's end is audited and the trail verifies"
# ---- purge -------------------------------------------------------------------
n=$(fl '{"op":"list","state":"running"}' | jq '.runs | length')
purged=$(fl "{\"op\":\"purge\",\"before_ms\":$(( $(date +%s) * 1000 + 60000 ))}" | jq .purged)
[ "$purged" -ge 20 ]
ok $? "purge deletes the records of the runs that ended ($purged)"
[ "$(fl '{"op":"list"}' | jq '.runs | length')" = "$n" ] &&
    fl '{"op":"list","limit":1}' | jq_true '.more == false or (.runs | length) == 1'
ok $? "...list shows only those still running"
stop_agentd
ok $? "agentd stops"
done_testing

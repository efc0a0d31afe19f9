#!/bin/sh
# The policy gate's rules in a configuration: a valid agentd policy and
# an agent's override pass --check-config; each mistake is refused with
# exit status 1 and one line naming the file, the line, the agent and the
# rule where there are some, and what to do.  Nothing is started.
. "$top_srcdir/tests/lib.sh"

plan 33

ECHO=$(plugin_copy "$BPLUGINS/echo.so")

# check: agentd --check-config; sets rc, out (stdout), err (stderr).
check() {
	"$AGENTD" --confdir "$T_DIR/conf" --state-dir "$T_DIR/state" \
	    --run-dir "$T_DIR/run" --check-config \
	    >"$T_DIR/check.out" 2>"$T_DIR/check.err"
	rc=$?
	out=$(cat "$T_DIR/check.out")
	err=$(cat "$T_DIR/check.err")
}

# refused WHAT PATTERN: exit status 1 and exactly one line on stderr,
# which matches PATTERN.
refused() {
	[ "$rc" -eq 1 ]
	ok $? "$1: exit status 1 (got $rc)"
	one_line "$err" "$1: exactly one line on stderr"
	like "$err" "$2" "$1: the line says where and what"
}

fresh() { rm -rf "$T_DIR/conf"/*; }

# agentd's policy, the example of doc/policy.md, and an agent's own.
fresh
conf policy.conf <<EOF
# agentd's policy
policy {
	default_risk = high
	deadline = 24h
	at_deadline = reject
	max_pending = 1000
	deadline_min = 1m
	deadline_max = 30d
	rule "small-price" {
		type = { "price.change" }
		amount_below = 50
		amount_at_least = 0
		confidence_at_least = 0.8
		confidence_below = 1.1
		risk = low
		deadline = 4h
		at_deadline = approve
	}
	rule "refunds" { type = { "refund" } risk = high }
}
EOF
conf echo.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
	policy {
		default_risk = low
		rule "refunds" { type = { "refund" }  risk = high  deadline = 2h }
	}
}
EOF
check
[ "$rc" -eq 0 ] && [ -z "$err" ]
ok $? "valid policies: --check-config exits 0, nothing on stderr (got $rc: $err)"
like "$out" 'is valid \(1 agent\)' "valid policies: it says so"

# An unknown risk in an agent's rule: file, line, agent, rule, the words.
conf echo.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
	policy {
		rule "refunds" {
			type = { "refund" }
			risk = severe
		}
	}
}
EOF
check
refused "unknown risk" \
    '^agentd: .*/echo\.conf:6: agent "echo": policy rule "refunds": risk "severe" is unknown: use low, medium or high$'

# A threshold that is NaN.
conf echo.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
	policy {
		rule "cheap" { risk = low
			amount_below = nan }
	}
}
EOF
check
refused "NaN threshold" \
    '^agentd: .*/echo\.conf:5: agent "echo": policy rule "cheap": amount_below = "nan" is not a number'

# deadline_min in an agent's policy.
conf echo.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
	policy {
		deadline_min = 5m
	}
}
EOF
check
refused "deadline_min in an agent's" \
    '^agentd: .*/echo\.conf:4: agent "echo": policy deadline_min is agentd.s alone: remove it here'

# A rule without risk.
conf echo.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
	policy {
		rule "vague" { type = { "x" } }
	}
}
EOF
check
refused "rule without risk" \
    '^agentd: .*/echo\.conf:4: agent "echo": policy rule "vague": no risk: add risk = low, medium or high$'

# An agent's deadline past a deadline_max written in another file: checked
# once both are read, named at the agent's rule.
conf echo.conf <<EOF
agent "echo" {
	plugin = "$ECHO"
	policy {
		rule "slow" { risk = high  deadline = 20d }
	}
}
EOF
sed -i 's/deadline_max = 30d/deadline_max = 10d/' "$T_DIR/conf/policy.conf"
check
refused "deadline past deadline_max" \
    '^agentd: .*/echo\.conf:4: agent "echo": policy rule "slow": deadline 20d is not within 1m to 10d'

# Two rules of one name in agentd's policy.
fresh
conf policy.conf <<EOF
policy {
	rule "r" { risk = low }
	rule "r" { risk = high }
}
EOF
check
refused "duplicate rule names" \
    '^agentd: .*/policy\.conf:3: policy rule "r": defined twice in this policy section \(first at line 2\)'

# An invalid type pattern.
conf policy.conf <<EOF
policy {
	rule "r" {
		type = { "price", "price change" }
		risk = low
	}
}
EOF
check
refused "invalid type" \
    '^agentd: .*/policy\.conf:3: policy rule "r": type: "price change" is not a topic'

# An unknown at_deadline word.
conf policy.conf <<EOF
policy {
	at_deadline = escalate
}
EOF
check
refused "unknown at_deadline" \
    '^agentd: .*/policy\.conf:2: policy at_deadline "escalate" is unknown: use reject or approve$'

# A second top-level policy, in another file: both files named.
conf policy.conf <<EOF
policy { default_risk = high }
EOF
mkdir -p "$T_DIR/conf/conf.d"
conf conf.d/more.conf <<EOF

policy { default_risk = low }
EOF
check
refused "two top-level policies" \
    '^agentd: .*/conf\.d/more\.conf:2: a second top-level policy section \(the first is in .*/policy\.conf:1\): keep only one$'

# The same mistake on a real start: refused, nothing started.
try_start
refused "real start, two top-level policies" 'more\.conf:2: a second top-level policy'
! ls "$T_DIR/run"/*.sock >/dev/null 2>&1
ok $? "real start, two top-level policies: no socket left"

done_testing

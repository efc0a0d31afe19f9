#!/bin/sh
# agentctl's commands for the policy gate (approvals, approve, reject,
# modify, decisions, policy test): the mistakes agentctl catches itself
# end with exit status 2 and one line saying what is wrong, before agentd
# is asked (no agentd runs here: a command that asked would exit 3), and
# each command's --help prints its usage.  What agentd answers is
# tests/system/approvals.sh's.
. "$top_srcdir/tests/lib.sh"

plan 52

# run CMD...: sets rc, out (stdout) and err (stderr).
run() {
	"$@" >"$T_DIR/run.out" 2>"$T_DIR/run.err"
	rc=$?
	out=$(cat "$T_DIR/run.out")
	err=$(cat "$T_DIR/run.err")
}

# exits N WHAT: the last run exited with status N.
exits() {
	[ "$rc" -eq "$1" ]
	ok $? "$2: exit status $1 (got $rc)"
}

# usage_error WHAT PATTERN: the last run was a usage error (exit 2), said
# in one line on stderr matching PATTERN, nothing on stdout.
usage_error() {
	exits 2 "$1"
	one_line "$err" "$1: one line"
	like "$err" "$2" "$1: says what is wrong"
	[ -z "$out" ]
	ok $? "$1: nothing on stdout"
}

# No agentd: a command that gets past its own checks cannot reach it.
run actl approvals
exits 3 "approvals without agentd (it did ask)"

run actl reject 42
usage_error "reject without --reason" \
    '^agentctl: reject: --reason is required'
run actl reject 42 --reason ""
usage_error "reject with an empty --reason" \
    '^agentctl: reject: --reason is required'
run actl modify 42 '{"price": '
usage_error "modify with JSON that does not parse" \
    '^agentctl: modify: the parameters are not valid JSON: line 1 column [0-9]+'
run actl modify 42 '[1, 2]'
usage_error "modify with a JSON array" \
    '^agentctl: modify: the parameters must be a JSON object.*not an array$'
run actl policy test shop price.change 12abc 0.9
usage_error "policy test with a bad amount" \
    '^agentctl: policy test: AMOUNT "12abc" is not a number$'
run actl policy test shop price.change 12 high
usage_error "policy test with a bad confidence" \
    '^agentctl: policy test: CONFIDENCE "high" is not a number$'
run actl approvals frob
usage_error "approvals frob" \
    '^agentctl: approvals: unknown subcommand "frob"'
run actl approvals --limit ten
usage_error "approvals --limit that is not a count" \
    '^agentctl: approvals: --limit "ten" is not a count'
run actl approvals --limit -5
usage_error "approvals with a negative --limit" \
    '^agentctl: approvals: --limit "-5" is not a count'
run actl approvals --after 12x
usage_error "approvals --after that is not an id" \
    '^agentctl: approvals --after: "12x" is not a decision id'
run actl approve abc
usage_error "approve with an id that is not digits" \
    '^agentctl: approve: "abc" is not a decision id'

# Each command's --help: its usage on stdout, exit 0.
for c in approvals approve reject modify decisions policy; do
	run actl "$c" --help
	[ "$rc" -eq 0 ] && [ -z "$err" ] &&
	    printf '%s\n' "$out" | head -n 1 | grep -q "^usage: agentctl $c "
	ok $? "$c --help: exit 0, usage on stdout (rc $rc)"
done
run actl --help
n=0
for c in approvals approve reject modify decisions policy; do
	printf '%s\n' "$out" | grep -q "^  $c " && n=$((n + 1))
done
[ "$rc" -eq 0 ] && [ "$n" -eq 6 ]
ok $? "agentctl --help lists the six commands ($n)"

done_testing

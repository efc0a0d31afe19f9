#!/bin/sh
# agentctl's bash completion: commands, subcommands and options, and the
# names of the agents a running agentd has.
. "$top_srcdir/tests/lib.sh"

plan 9

ECHO=$(plugin_copy "$BPLUGINS/echo.so")
conf echo.conf <<EOF
agent "echo" { plugin = "$ECHO" }
agent "echo2" { plugin = "$ECHO" }
EOF

# complete WORDS...: what bash would offer for the last word.
complete_words() {
	PATH="$top_builddir/runtime:$PATH" bash -c '
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_agentctl agentctl "${COMP_WORDS[COMP_CWORD]}" \
		    "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort' \
	    sh "$top_srcdir/contrib/bash-completion/agentctl" "$@"
}

out=$(complete_words agentctl "")
for c in status call publish tail audit state restart stop start scale; do
	printf '%s\n' "$out" | grep -qx "$c" || { ok 1 "commands"; c=; break; }
done
[ -n "$c" ] && ok 0 "the commands are offered"
out=$(complete_words agentctl state "")
[ "$(printf '%s' "$out" | tr '\n' ' ')" = "del get ls put" ]
ok $? "state offers get, put, del and ls ($(printf '%s' "$out" | tr '\n' ' '))"
out=$(complete_words agentctl scale echo "")
[ "$out" = "auto" ]
ok $? "scale AGENT offers auto ($out)"
out=$(complete_words agentctl audit --f)
printf '%s\n' "$out" | grep -qx -- "--follow"
ok $? "audit options complete (--f -> --follow)"
out=$(complete_words agentctl approvals "")
[ "$out" = "show" ]
ok $? "approvals offers show ($out)"
out=$(complete_words agentctl decisions --outcome "")
[ "$(printf '%s' "$out" | tr '\n' ' ')" = "approved expired pending rejected" ]
ok $? "decisions --outcome offers the four states ($(printf '%s' "$out" | tr '\n' ' '))"

start_agentd
wait_for 10 agent_ready echo2 1
out=$(complete_words agentctl call e)
[ "$(printf '%s' "$out" | tr '\n' ' ')" = "echo echo2" ]
ok $? "agent names come from the running agentd ($(printf '%s' "$out" | tr '\n' ' '))"
stop_agentd
out=$(complete_words agentctl call e)
[ -z "$out" ]
ok $? "with agentd down, nothing is offered and nothing fails"
out=$(complete_words agentctl st)
[ "$(printf '%s' "$out" | tr '\n' ' ')" = "start state status stop" ]
ok $? "a prefix narrows the commands ($(printf '%s' "$out" | tr '\n' ' '))"
done_testing

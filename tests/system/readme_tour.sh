#!/bin/sh
# README.md's "A short tour" is what agentctl prints: each `$ command` of
# its console blocks is run against agentd with the repository's conf.d
# (as make tour runs it), and its output compared with the README's, pids
# uptimes and memory aside (numbers there are the README's run's, and the columns
# they widen are compared as words).
. "$top_srcdir/tests/lib.sh"

plan 6

readme=$top_srcdir/README.md
cp "$top_srcdir/conf.d/"*.conf "$T_DIR/conf/"
# The HTTP API on a port of agentd's own, not the sample's 8470: a demo or
# another test run may hold that one (the tour's blocks do not use it).
sed -i "s/127\.0\.0\.1:8470/127.0.0.1:0/" "$T_DIR/conf/agentd.conf"
start_agentd --plugin-dir "$top_builddir/plugins/.libs"
ok $? "agentd starts with the repository's conf.d"
wait_for 20 agent_ready echo && wait_for 20 agent_ready pricing

# The tour's console blocks, one file each: tour.1, tour.2, ...
sed -n '/^## A short tour$/,/^## /p' "$readme" |
    awk -v d="$T_DIR" '/^```console$/ {n++; on = 1; next}
        on && /^```$/ {on = 0; next}
        on {print > (d "/tour." n)}'
[ -f "$T_DIR/tour.3" ]
ok $? "the tour has its three console blocks"

# Numbers that differ from run to run, and the spaces they shift.
norm() {
	sed -E -e 's/(pid|"pid":) [0-9]+/\1 N/g' -e 's/up [0-9]+s/up Ns/g' \
	    -e 's/rss [0-9]+ KiB/rss N KiB/' -e 's/ +/ /g' -e 's/ $//'
}

# play N: run block N's commands; its output, as a console shows it.
play() {
	while IFS= read -r line; do
		case $line in
		'$ kill -9 '*)
			echo "$line"
			pid=$(actl --json status | jq -r '.agents[0].instances[0].pid')
			kill -9 "$pid"
			# the replacement, ready: what the next status shows
			wait_for 20 sh -c "'$AGENTCTL' --run-dir '$T_DIR/run' --json status |
			    jq -e -n 'last(inputs | .agents[0].instances[0] | .state == \"ready\" and .pid != $pid)'"
			;;
		'$ runtime/agentctl --run-dir run '*)
			echo "$line"
			cmd=${line#'$ runtime/agentctl --run-dir run '}
			eval "actl $cmd" 2>&1
			;;
		'$ '*) echo "# unknown command in the README: $line"; return 1 ;;
		esac
	done < "$T_DIR/tour.$1"
}

for n in 1 2 3; do
	play "$n" > "$T_DIR/got.$n" || break
	norm < "$T_DIR/got.$n" > "$T_DIR/got.n"
	norm < "$T_DIR/tour.$n" > "$T_DIR/want.n"
	diff "$T_DIR/want.n" "$T_DIR/got.n" > "$T_DIR/diff.$n"
	rc=$?
	case $n in
	1) what="call echo" ;;
	2) what="status" ;;
	3) what="status after kill -9: the replacement" ;;
	esac
	ok $rc "README: $what prints what agentctl prints"
	if [ $rc -ne 0 ]; then
		diag "README (<) and agentctl (>), normalized:"
		sed 's/^/#   /' "$T_DIR/diff.$n"
		diag "agentctl printed:"
		sed 's/^/#   /' "$T_DIR/got.$n"
	fi
done
stop_agentd
ok $? "agentd stops"
done_testing

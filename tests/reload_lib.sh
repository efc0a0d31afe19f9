# tests/reload_lib.sh - sourced after lib.sh by the reload tests: agent
# "v" runs the plugin at $PLUG, which tests replace between reloads.

# install_plugin SRC [DEST]: a copy of SRC at DEST (default $PLUG),
# written beside it and renamed over it, as an operator would.
install_plugin() {
	_dest=${2:-$PLUG}
	cp "$1" "$_dest.new" && chmod 0644 "$_dest.new" &&
	    mv -f "$_dest.new" "$_dest"
}

# h8 FILE: the first 8 hex digits of FILE's sha256.
h8() { sha256sum "$1" | cut -c1-8; }

# Only v's current generation has instances, ${1:-2} of them.
only_current() {
	status_has ".agents[] | select(.name == \"v\") | .generation as \$g
	    | (.instances | length) == ${1:-2}
	    and ([.instances[] | .generation == \$g] | all)
	    and ([.generations[] | select(.instances > 0) | .role]
	        == [\"current\"])"
}

pids_of() { agent_field "$1" '.instances[].pid' | sort | tr '\n' ' '; }
# flat TEXT: TEXT on one line, for a test's name.
flat() { printf '%s' "$1" | tr '\n' '|'; }
# has_line TEXT LINE: TEXT has LINE as a whole line.
has_line() { printf '%s\n' "$1" | grep -Fxq -- "$2"; }

# call_loop N: calls v back to back with bodies "cN-1", "cN-2", ... until
# $T_DIR/stop exists (or the test's folder is gone); each reply (one JSON
# line) goes to replies-N, each body to calls-N, each failure to failed-N.
call_loop() {
	k=0
	while [ -d "$T_DIR" ] && [ ! -e "$T_DIR/stop" ]; do
		k=$((k + 1))
		if ! actl --json call v "\"c$1-$k\"" >>"$T_DIR/replies-$1" \
		    2>>"$T_DIR/errors-$1"; then
			echo "c$1-$k" >>"$T_DIR/failed-$1"
		fi
		echo "c$1-$k" >>"$T_DIR/calls-$1"
	done
}

# mark_calls C...: remember how many calls each caller C has finished.
mark_calls() {
	for _c; do grep -c . "$T_DIR/calls-$_c" >"$T_DIR/mark-$_c"; done
}
# called_since N C...: each caller C has finished N calls since
# mark_calls (N = 2: one of them began after the mark).
called_since() {
	_n=$1
	shift
	for _c; do
		[ "$(grep -c . "$T_DIR/calls-$_c")" -ge \
		    $(( $(cat "$T_DIR/mark-$_c") + _n )) ] || return 1
	done
}

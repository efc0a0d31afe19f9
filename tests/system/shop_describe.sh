#!/bin/sh
# Every setting of every bundled plugin, as the plugin declares it
# (agentd-worker --describe), is documented in its page doc/NAME.md with
# its default, and each shipped example configuration sets only settings
# the plugin declares: a setting added, renamed or dropped in the code
# fails here until the doc and the examples follow.
. "$top_srcdir/tests/lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP no jq"; exit 0; }
PLUGINS="scout vetting pricing ceo publisher fulfilment inventory promotions catalog concierge llm flow"
plan $(( $(echo $PLUGINS | wc -w) * 2 ))

# settings_keys FILE: the keys of the settings { } section of FILE (on its
# own lines, or on one line).
settings_keys() {
	awk '/settings \{/ { s = $0; sub(/.*settings \{/, "", s)
	        if (s ~ /\}/) { sub(/\}.*/, "", s); print s; next }
	        on = 1; next }
	    on && /^[ \t]*\}/ { on = 0 }
	    on { print }' "$1" | sed -n 's/^[	 ]*\([a-z_][a-z0-9_]*\) *=.*/\1/p'
}

for p in $PLUGINS; do
	d=$("$WORKER" --describe "$BPLUGINS/$p.so" 2>&1)
	page=$top_srcdir/doc/$p.md
	[ "$p" = flow ] && page=$top_srcdir/doc/workflows.md
	missing=
	for s in $(echo "$d" | jq -r '.settings[]? | .name + "=" + .default'); do
		name=${s%%=*} def=${s#*=}
		grep -q "\`$name\`" "$page" || { missing="$missing $name"; continue; }
		# the default, as the page's row for the setting writes it
		row=$(grep "^| \`$name\`" "$page" | head -n 1)
		[ -z "$row" ] || [ -z "$def" ] || printf '%s' "$row" | grep -qF -- "$def" ||
		    missing="$missing $name(default $def)"
	done
	[ -z "$missing" ]
	ok $? "$p: every setting in doc/$(basename "$page")${missing:+, missing:$missing}"
	conf=$top_srcdir/conf.d/examples/shop/$p.conf
	[ "$p" = pricing ] && conf=$top_srcdir/conf.d/pricing.conf
	bad=
	if [ -f "$conf" ]; then
		for k in $(settings_keys "$conf"); do
			echo "$d" | jq -e -n --arg k "$k" 'input | [.settings[]?.name] | index($k) != null' >/dev/null ||
			    bad="$bad $k"
		done
	fi
	[ -z "$bad" ]
	ok $? "$p: its example configuration sets only what it declares${bad:+, unknown:$bad}"
done

#!/bin/sh
# doc/plugin-guide.md's worked example (section 20: call_async, decide,
# state_put, audit_async, publish, reply) is the code of
# contrib/plugin-skeleton/skeleton.c, word for word, and the snippets it
# quotes from the skeleton's .conf are in that file.
. "$top_srcdir/tests/lib.sh"

plan 4

guide=$top_srcdir/doc/plugin-guide.md
sk=$top_srcdir/contrib/plugin-skeleton

# The first C block after the section's heading.
sed -n '/^## 20\. /,$p' "$guide" |
    awk '/^```c$/ {on = 1; next} on && /^```$/ {exit} on' > "$T_DIR/guide.c"
# The skeleton's reprice, from its banner to the next function.
awk '/^\/\* ---- reprice: / {on = 1} /^\/\* Is v the string s\? \*\/$/ {on = 0}
    on' "$sk/skeleton.c" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' \
    > "$T_DIR/skeleton.c"

[ "$(wc -l < "$T_DIR/guide.c")" -gt 100 ]
ok $? "the guide has the worked example's code ($(wc -l < "$T_DIR/guide.c") lines)"
diff "$T_DIR/skeleton.c" "$T_DIR/guide.c" > "$T_DIR/diff" 2>&1
rc=$?
ok $rc "... and it is skeleton.c's reprice, word for word"
[ $rc -eq 0 ] || sed 's/^/# /' "$T_DIR/diff" | head -20
for w in 'call_async' 'write_price' 'audit_async' 'publish' 'reply_out'; do
	grep -q "$w" "$T_DIR/guide.c" || { echo "# no $w"; false; } || break
done
ok $? "it calls call_async, write_price (state_put), audit_async, publish and reply"

# The .conf lines the section quotes.
missing=
for l in 'concurrency = 8' 'calls = { "stock" }' 'publish = { "quote" }'; do
	grep -qF "$l" "$sk/skeleton.conf" || missing="$missing [$l]"
	sed -n '/^## 20\. /,$p' "$guide" | grep -qF "$l" ||
	    missing="$missing [guide: $l]"
done
[ -z "$missing" ]
ok $? "skeleton.conf and the guide have the settings the chain needs$missing"
done_testing

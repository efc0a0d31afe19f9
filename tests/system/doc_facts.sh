#!/bin/sh
# What the docs say of the plugin boundary is what the code does: every
# `agentd-worker --describe` example shows the ABI a plugin built now has
# (and configuration.md's echo.so example is word for word), a bare file
# name is described from the current folder as the guide says, a plugin
# name may have upper case as agent.h, the guide and the loader say, and
# agent.h names one set of characters for names.
. "$top_srcdir/tests/lib.sh"

plan 6

WORKER=$top_builddir/runtime/agentd-worker
echo_so=$(plugin_copy "$top_builddir/plugins/.libs/echo.so")
got=$("$WORKER" --describe "$echo_so")
abi=$(printf '%s' "$got" | grep -o '"abi":{[^}]*}')
[ -n "$abi" ]
ok $? "agentd-worker --describe prints the plugin's ABI ($abi)"

# Every example, in the docs and the man pages, whatever file it shows.
bad=$(grep -rnoE '"abi":\{[^}]*\}' "$top_srcdir/doc" "$top_srcdir/README.md" \
    "$top_srcdir/contrib" | grep -vF "$abi")
[ -z "$bad" ] && grep -rqF "$abi" "$top_srcdir/doc"
ok $? "every --describe example shows $abi"
[ -z "$bad" ] || printf '%s\n' "$bad" | sed 's/^/# /'

want=$(sed -n '/agentd-worker --describe plugins\/.libs\/echo.so$/{n;p;}' \
    "$top_srcdir/doc/configuration.md")
[ -n "$want" ] && [ "$want" = "$got" ]
ok $? "configuration.md's example is what echo.so's --describe prints"

got_bare=$(cd "$T_DIR/plugins" && "$WORKER" --describe echo.so)
[ "$got_bare" = "$got" ]
ok $? "a bare file name is the file in the current folder"

# A plugin whose name has upper case: the loader takes it.
cat > "$T_DIR/upper.c" <<'EOC'
#include <agentd/agent.h>
static int
req(void *s, agentd_request *r, const void *b, size_t n)
{
	return AGENTD_ENOTSUP;
}
AGENTD_PLUGIN(.name = "Tally_2.x-B", .version = "1.0.0", .on_request = req);
EOC
${CC:-cc} -std=c11 -shared -fPIC -I"$top_srcdir/sdk/include" \
    -o "$T_DIR/plugins/upper.so" "$T_DIR/upper.c" 2>"$T_DIR/cc.log" &&
    chmod 0644 "$T_DIR/plugins/upper.so"
"$WORKER" --describe "$T_DIR/plugins/upper.so" | grep -q '"name":"Tally_2.x-B"'
ok $? "a plugin named Tally_2.x-B loads: upper case, digits, _ . - are allowed"

# agent.h says it once for all names: the descriptor's comment and
# AGENTD_NAME_MAX's name the same characters, and so does the guide.
h=$top_srcdir/sdk/include/agentd/agent.h
classes=$(sed -n '/AGENTD_NAME_MAX [0-9]/p; /const char \*name; /{N;p;}' "$h" |
    grep -o '\[[^]]*\]' | sort -u)
[ "$classes" = '[A-Za-z0-9_.-]' ] &&
    grep -q '^| `name` | required | 1 to `AGENTD_NAME_MAX` (63) of `A-Z a-z 0-9 _ . -`' \
        "$top_srcdir/doc/plugin-guide.md"
ok $? "agent.h and the guide name the same characters ($classes)"
done_testing

#!/bin/sh
# The supervisor's header graph is what doc/architecture.md draws
# ("Supervisor modules"), and it has no cycle.
. "$top_srcdir/tests/lib.sh"

plan 3

dir=$top_srcdir/runtime/supervisor
doc=$top_srcdir/doc/architecture.md

# The graph from the headers: "a.h -> b.h c.h" for each header that
# includes another header of the folder, names sorted.
actual=$(for h in "$dir"/*.h; do
	deps=$(sed -n 's/^#include "supervisor\/\([a-z_]*\.h\)"$/\1/p' "$h" |
	    sort | tr '\n' ' ' | sed 's/ $//')
	[ -n "$deps" ] && echo "$(basename "$h") -> $deps"
done)
drawn=$(sed -n '/^<!-- include graph -->$/,/^<!-- end -->$/p' "$doc" |
    grep -- ' -> ')

[ -n "$actual" ] && [ -n "$drawn" ]
ok $? "the graph is read from the headers and from the page"

[ "$actual" = "$drawn" ]
rc=$?
ok $rc "doc/architecture.md draws the headers' includes as they are"
if [ $rc -ne 0 ]; then
	diag "headers:"; printf '%s\n' "$actual" | sed 's/^/#   /'
	diag "page:"; printf '%s\n' "$drawn" | sed 's/^/#   /'
fi

# A cycle: python3 walks the graph depth first.
printf '%s\n' "$actual" | python3 -c '
import sys
g = {}
for line in sys.stdin:
    a, _, b = line.partition(" -> ")
    g[a.strip()] = b.split()
state = {}
def visit(n, path):
    if state.get(n) == 1:
        print("cycle: " + " -> ".join(path + [n]))
        sys.exit(1)
    if state.get(n) == 2:
        return
    state[n] = 1
    for m in g.get(n, []):
        visit(m, path + [n])
    state[n] = 2
for n in g:
    visit(n, [])
'
ok $? "no supervisor header includes itself through others"

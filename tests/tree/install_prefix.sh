#!/bin/sh
# A prefixed `make install` stays inside its prefix: the tree as configured
# is installed under a DESTDIR, and every file that lands there must lie
# under the prefix, or under a directory configure was told to put outside
# it (--sysconfdir=/etc, --localstatedir=/var, --with-systemdsystemunitdir
# as debian/rules gives them).  The systemd unit once went to systemd's own
# absolute directory whatever the prefix: then this fails.
. "$top_srcdir/tests/lib.sh"

plan 5

# make from the test, not from make check's jobserver.
t_make() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "${MAKE:-make}" "$@"; }

# The configured directories, expanded by make itself.
cat > "$T_DIR/print.mk" <<'EOF'
agentd-print-dirs:
	@echo "prefix='$(prefix)'"
	@echo "exec_prefix='$(exec_prefix)'"
	@echo "sysconfdir='$(sysconfdir)'"
	@echo "localstatedir='$(localstatedir)'"
	@echo "runstatedir='$(runstatedir)'"
	@echo "unitdir='$(systemdsystemunitdir)'"
	@echo "unitdir_given='$(systemd_unitdir_given)'"
	@echo "docdir='$(docdir)'"
EOF
dirs=$(t_make -s --no-print-directory -C "$top_builddir" -f Makefile \
    -f "$T_DIR/print.mk" agentd-print-dirs 2>"$T_DIR/print.err")
rc=$?
eval "$dirs"
[ $rc -eq 0 ] && [ -n "${prefix:-}" ]
ok $? "the build tree names its installation directories (prefix ${prefix:-?})"
[ $rc -eq 0 ] || sed 's/^/# /' "$T_DIR/print.err"

# Under prefix /usr/local, a unit in /lib/systemd/system is outside.
if [ "$unitdir_given" = no ]; then
	[ "$unitdir" = "$prefix/lib/systemd/system" ]
	ok $? "without --with-systemdsystemunitdir the unit goes to PREFIX/lib/systemd/system ($unitdir)"
else
	ok 0 "# SKIP configured with --with-systemdsystemunitdir=$unitdir"
fi

dest=$T_DIR/dest
t_make -C "$top_builddir" install DESTDIR="$dest" >"$T_DIR/install.log" 2>&1
rc=$?
ok $rc "make install DESTDIR=... succeeds"
[ $rc -eq 0 ] || tail -20 "$T_DIR/install.log" | sed 's/^/# /'

# Every file and link installed, and the roots it may be under.
roots="$prefix $exec_prefix $sysconfdir $localstatedir $runstatedir"
[ "$unitdir_given" = yes ] && [ "$unitdir" != no ] && roots="$roots $unitdir"
outside=
unit_found=no
for f in $(cd "$dest" 2>/dev/null && find . ! -type d | sed 's|^\.||'); do
	inside=no
	for r in $roots; do
		case $f in "$r"/*) inside=yes ;; esac
	done
	[ $inside = yes ] || outside="$outside $f"
	[ "$f" = "$unitdir/agentd.service" ] && unit_found=yes
done
[ -z "$outside" ] && { [ "$unit_found" = yes ] || [ "$unitdir" = no ]; }
ok $? "every installed file is inside $roots, agentd.service in $unitdir"
[ -z "$outside" ] || diag "installed outside:$outside"
[ "$unit_found" = yes ] || [ "$unitdir" = no ] ||
    diag "no agentd.service in $unitdir"

# The plugin skeleton, where doc/plugin-guide.md section 2 copies it from.
sk=$dest$docdir/examples/plugin-skeleton
missing=
for f in $(cd "$top_srcdir/contrib/plugin-skeleton" &&
    ls Makefile *.md *.c *.conf); do
	cmp -s "$top_srcdir/contrib/plugin-skeleton/$f" "$sk/$f" ||
	    missing="$missing $f"
done
[ -z "$missing" ]
ok $? "the plugin skeleton is installed in $docdir/examples/plugin-skeleton"
[ -z "$missing" ] || diag "missing or different (skeleton_DATA in Makefile.am):$missing"
done_testing

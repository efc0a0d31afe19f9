#!/bin/sh
# The systemd unit's own sandbox: `systemd-analyze security --offline=yes`
# scores contrib/systemd/agentd.service 2.0 or better (doc/security.md),
# and keeps what agentd needs: the capabilities that switching workers'
# identity takes, and nothing more.
. "$top_srcdir/tests/lib.sh"

plan 3

unit_in=$top_srcdir/contrib/systemd/agentd.service.in
unit=$T_DIR/agentd.service
sed 's|@sbindir@|/usr/sbin|g' "$unit_in" > "$unit"

grep -qx 'CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_KILL' "$unit" &&
    grep -qx 'AmbientCapabilities=CAP_SETUID CAP_SETGID CAP_KILL' "$unit"
ok $? "the unit keeps CAP_SETUID, CAP_SETGID and CAP_KILL and no other capability"

if ! command -v systemd-analyze >/dev/null ||
    ! systemd-analyze security --offline=yes "$unit" >/dev/null 2>&1; then
	ok 0 "# SKIP systemd-analyze security --offline (systemd 252 or later) is not here"
	ok 0 "# SKIP systemd-analyze security --offline (systemd 252 or later) is not here"
	done_testing
fi
out=$(systemd-analyze security --offline=yes "$unit" 2>&1)
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
[ -n "$score" ]
ok $? "systemd-analyze gives the unit a score ($score)"
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }'
rc=$?
ok $rc "the unit's exposure is 2.0 or better ($score)"
[ $rc -eq 0 ] || printf '%s\n' "$out" | grep '✗' | sed 's/^/#   /'
done_testing

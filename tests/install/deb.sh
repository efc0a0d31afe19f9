#!/bin/sh
# The Debian packages, from a release tarball (`make dist`): they build
# with dpkg-buildpackage, install with dpkg -i on this machine (root), create
# the user, start nothing, and the installed agentd runs the installed
# sample configuration; the skeleton shipped in libagentd-sdk-dev's
# examples builds against the installed SDK and runs inside it.  Packages
# this test installed are purged at the end: a purge keeps /var/lib/agentd
# unless debconf's agentd/purge_state says to remove it.
#   usage: deb.sh agentd-VERSION.tar.gz
top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
. "$top_srcdir/tests/install/tap.sh"

echo "1..21"
TARBALL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

if [ "$(id -u)" -ne 0 ] || ! command -v dpkg-buildpackage >/dev/null ||
    ! command -v dh >/dev/null; then
	while [ "$I_N" -lt 21 ]; do skip "needs root, dpkg-buildpackage and debhelper"; done
	exit 0
fi

ARCHDIR=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
PLUGINDIR=/usr/lib/$ARCHDIR/agentd/plugins
preinstalled=$(dpkg-query -W -f='${Status}' agentd 2>/dev/null | grep -c 'ok installed')
state_was_empty=1
[ -n "$(ls -A /var/lib/agentd 2>/dev/null)" ] && state_was_empty=0

deb_cleanup() {
	[ -n "$I_PID" ] && kill -0 "$I_PID" 2>/dev/null && stop "$I_PID"
	I_PID=
	rm -f "$PLUGINDIR/skeleton.so" "$PLUGINDIR/stock.so" \
	    /etc/agentd/conf.d/skeleton.conf /etc/agentd/conf.d/stock.conf
	if [ "$preinstalled" -eq 0 ]; then
		dpkg --purge libagentd-sdk-dev agentd-plugins agentd >/dev/null 2>&1
		[ "$state_was_empty" -eq 1 ] && rm -rf /var/lib/agentd
		rm -rf /run/agentd
	fi
	i_cleanup
}
trap deb_cleanup EXIT

# No answer left by an earlier run: the purge below meets the default.
[ "$preinstalled" -eq 0 ] &&
    echo PURGE | debconf-communicate agentd >/dev/null 2>&1
mkdir -p "$I_DIR/src"
tar -xzf "$TARBALL" -C "$I_DIR/src" --strip-components=1
(cd "$I_DIR/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
    dpkg-buildpackage -us -uc -b) > "$I_DIR/build.log" 2>&1
ok $? "dpkg-buildpackage -us -uc -b builds from the release tarball"
[ -f "$I_DIR/src/debian/rules" ] || diag "the tarball has no debian/"
grep -E '^(dh_|dpkg-buildpackage: error|make.*Error)' "$I_DIR/build.log" |
    grep -iE 'error|warning' | head -10 | sed 's/^/# /'

if command -v lintian >/dev/null; then
	lintian --tag-display-limit 0 "$I_DIR"/agentd_*.deb > "$I_DIR/lintian.log" 2>&1
	! grep -qE '^(E|W): ' "$I_DIR/lintian.log"
	ok $? "lintian finds no error or warning in the agentd package"
	grep -E '^(E|W): ' "$I_DIR/lintian.log" | sed 's/^/# /'
else
	skip "lintian not installed"
fi

debs=$(ls "$I_DIR"/agentd_*.deb "$I_DIR"/agentd-plugins_*.deb \
    "$I_DIR"/libagentd-sdk-dev_*.deb 2>/dev/null)
[ "$(printf '%s\n' $debs | grep -c '\.deb$')" -eq 3 ]
ok $? "three packages: agentd, agentd-plugins, libagentd-sdk-dev"

for p in agentd agentd-plugins libagentd-sdk-dev; do
	dpkg-deb -c "$I_DIR/${p}_"*.deb > "$I_DIR/$p.list"
done
# the shop's plugins and their example configuration (doc/shop.md)
shop_listed() {
	for a in scout vetting ceo publisher fulfilment inventory promotions catalog concierge; do
		grep -q "$PLUGINDIR/$a\.so" "$I_DIR/agentd-plugins.list" &&
		    grep -q "usr/share/doc/agentd-plugins/examples/shop/$a\.conf$" \
		        "$I_DIR/agentd-plugins.list" || return 1
	done
}
grep -q "$PLUGINDIR/echo.so" "$I_DIR/agentd-plugins.list" &&
    ! grep -q '\.la$' "$I_DIR/agentd-plugins.list" &&
    grep -q 'usr/include/agentd/mock.h' "$I_DIR/libagentd-sdk-dev.list" &&
    grep -q 'usr/libexec/agentd/agentd-worker' "$I_DIR/agentd.list" &&
    grep -q ' \./etc/agentd/conf\.d/$' "$I_DIR/agentd.list" &&
    grep -q 'usr/share/doc/agentd/examples/agentd-rules\.yml$' "$I_DIR/agentd.list" &&
    grep -q 'usr/share/doc/agentd/examples/agentd-dashboard\.json$' "$I_DIR/agentd.list" &&
    shop_listed &&
    grep -q "$PLUGINDIR/prompt\.so" "$I_DIR/agentd-plugins.list" &&
    grep -q 'usr/share/doc/agentd-plugins/examples/ai-engine/workflows/copy\.flow$' "$I_DIR/agentd-plugins.list" &&
    grep -q 'usr/share/doc/agentd-plugins/examples/shop/workflows/pipeline\.flow$' "$I_DIR/agentd-plugins.list" &&
    grep -q "$PLUGINDIR/notify.so" "$I_DIR/agentd-plugins.list" &&
    grep -q 'usr/share/doc/agentd-plugins/examples/notify/channels\.json$' "$I_DIR/agentd-plugins.list" &&
    grep -q 'usr/share/doc/agentd-plugins/examples/deploy-crew/workflows/deploy\.flow$' "$I_DIR/agentd-plugins.list" &&
    grep -q 'usr/share/doc/agentd-plugins/examples/deploy-crew/app/src/greet\.sh$' "$I_DIR/agentd-plugins.list" &&
    grep -q 'usr/share/doc/agentd-plugins/examples/deploy-crew/mkconf\.sh$' "$I_DIR/agentd-plugins.list" &&
    grep -q 'usr/share/doc/agentd-plugins/examples/cloud-agents/workflows/triage\.flow$' "$I_DIR/agentd-plugins.list" &&
    grep -q 'usr/share/doc/agentd-plugins/examples/cloud-agents/alerts-test\.yml$' "$I_DIR/agentd-plugins.list"
ok $? "each package holds its files (plugins without .la, SDK with the mock host, agentd its conf.d, the alert rules and dashboard, the shop's plugins and examples, the ai-engine example, notify and its example, the deploy-crew example, the cloud-agents example)"

dpkg -i $debs > "$I_DIR/install.log" 2>&1
rc=$?
ok $rc "dpkg -i installs all three"
[ $rc -eq 0 ] || sed 's/^/# /' "$I_DIR/install.log" | tail -20

getent passwd agentd >/dev/null && getent passwd agentd-plugin >/dev/null &&
    [ "$(stat -c %U:%a /var/lib/agentd)" = agentd:750 ]
ok $? "the agentd and agentd-plugin system users and /var/lib/agentd (agentd, 0750) exist"

[ -f /lib/systemd/system/agentd.service ] &&
    [ ! -e /etc/systemd/system/multi-user.target.wants/agentd.service ] &&
    ! pgrep -f '^/usr/sbin/agentd' >/dev/null
ok $? "the unit is installed, not enabled, and nothing was started"

if command -v systemd-analyze >/dev/null; then
	out=$(systemd-analyze verify /lib/systemd/system/agentd.service 2>&1 |
	    grep -v -e 'network-online' -e 'Failed to load' -e 'systemd-journald')
	[ -z "$out" ]
	ok $? "systemd-analyze verify accepts agentd.service"
	[ -z "$out" ] || diag "$out"
else
	skip "systemd-analyze not installed"
fi

/usr/sbin/agentd --check-config > "$I_DIR/check.log" 2>&1
ok $? "agentd --check-config accepts the installed sample configuration"

# agentd as its unit runs it: user agentd, with only CAP_SETUID,
# CAP_SETGID and CAP_KILL (to run workers as agentd-plugin), in the
# runtime directory systemd would have made (RuntimeDirectory=agentd).
as_unit() {
	install -d -o agentd -g agentd -m 0750 /run/agentd
	# exec: "as_unit ... &" is then agentd's own pid, for stop.
	exec setpriv --reuid=agentd --regid=agentd --init-groups \
	    --inh-caps=+setuid,+setgid,+kill \
	    --ambient-caps=+setuid,+setgid,+kill "$@"
}

as_unit /usr/sbin/agentd --foreground 2> "$I_DIR/agentd.log" &
I_PID=$!
wait_for 20 sh -c 'agentctl status | grep -q "echo"'
rc=$?
ok $rc "agentd --foreground from the installed paths; agentctl status answers"
[ $rc -eq 0 ] || sed 's/^/# /' "$I_DIR/agentd.log" | tail -20
[ -S /run/agentd/control.sock ] && [ -f /var/lib/agentd/db/data.mdb ]
ok $? "sockets in /run/agentd, state in /var/lib/agentd"

# The packaged agentd.conf names agentd's group as the control group
# (doc/security.md): its members use agentctl, here one whose primary
# group it is; calls.sock stays the workers' only.
[ "$(stat -c %a:%U:%G /run/agentd/control.sock)" = 660:agentd:agentd ] &&
    [ "$(stat -c %a:%U:%G /run/agentd/tail.sock)" = 660:agentd:agentd ] &&
    [ "$(stat -c %a /run/agentd/calls.sock)" = 600 ] &&
    setpriv --reuid=nobody --regid=agentd --clear-groups agentctl status |
    grep -q echo
ok $? "control.sock and tail.sock are 0660 with group agentd, and a process in that group uses agentctl"

# The debconf question, translated (debian/po), as dpkg keeps it.
grep -q '^Description-de.UTF-8: ' /var/lib/dpkg/info/agentd.templates &&
    grep -q '^Description-fr.UTF-8: ' /var/lib/dpkg/info/agentd.templates
ok $? "agentd/purge_state is installed with its German and French translations"

agentctl --json call echo '{"from":"deb"}' | grep -q '"from":"deb"'
ok $? "the echo agent answers"

# The skeleton as the SDK package ships it.
mkdir -p "$I_DIR/skeleton"
cp -R /usr/share/doc/libagentd-sdk-dev/examples/. "$I_DIR/skeleton/"
find "$I_DIR/skeleton" -name '*.gz' -exec gunzip {} +
make -s -C "$I_DIR/skeleton" > "$I_DIR/sk.log" 2>&1 &&
    make -s -C "$I_DIR/skeleton" check >> "$I_DIR/sk.log" 2>&1
rc=$?
ok $rc "the shipped skeleton builds and passes its unit test with the installed SDK"
[ $rc -eq 0 ] || sed 's/^/# /' "$I_DIR/sk.log" | tail -20

make -s -C "$I_DIR/skeleton" install > /dev/null 2>&1 &&
    [ -f "$PLUGINDIR/skeleton.so" ]
ok $? "make install puts it into the packaged plugin directory"

cp "$I_DIR/skeleton/skeleton.conf" "$I_DIR/skeleton/stock.conf" \
    /etc/agentd/conf.d/
stop "$I_PID"
ok $? "agentd stops cleanly (exit 0)"
as_unit /usr/sbin/agentd --foreground 2>> "$I_DIR/agentd.log" &
I_PID=$!
quote_ready() {
	agentctl --json status | jq_true '.agents[] | select(.name == "quote") |
	    .ready == 1'
}
wait_for 20 quote_ready
agentctl call quote '{"op":"set_price","sku":"B-2","price":10}' >/dev/null &&
    agentctl --json call quote '{"sku":"B-2","qty":1}' | grep -q '"total"'
rc=$?
ok $rc "the skeleton answers inside the installed agentd"
[ $rc -eq 0 ] || sed 's/^/# /' "$I_DIR/agentd.log" | tail -20

stop "$I_PID"
ok $? "and agentd stops cleanly again"
I_PID=

# Purge: /var/lib/agentd stays unless debconf's agentd/purge_state says
# otherwise (default false), and the purge says where it stays.  Only
# when this test installed the packages; the removing half only when the
# state directory held nothing before the test.
if [ "$preinstalled" -eq 0 ]; then
	rm -f "$PLUGINDIR/skeleton.so" "$PLUGINDIR/stock.so" \
	    /etc/agentd/conf.d/skeleton.conf /etc/agentd/conf.d/stock.conf
	DEBIAN_FRONTEND=noninteractive dpkg --purge libagentd-sdk-dev \
	    agentd-plugins agentd > "$I_DIR/purge.log" 2>&1 &&
	    [ -d /var/lib/agentd ] &&
	    grep -q 'agentd: /var/lib/agentd (state and audit trail) is kept' \
	    "$I_DIR/purge.log"
	rc=$?
	ok $rc "a purge keeps /var/lib/agentd by default, and says so"
	[ $rc -eq 0 ] || sed 's/^/# /' "$I_DIR/purge.log" | tail -20
	if [ "$state_was_empty" -eq 1 ]; then
		echo "agentd agentd/purge_state boolean true" |
		    debconf-set-selections &&
		    DEBIAN_FRONTEND=noninteractive dpkg -i \
		    "$I_DIR"/agentd_*.deb > "$I_DIR/install2.log" 2>&1 &&
		    DEBIAN_FRONTEND=noninteractive dpkg --purge agentd \
		    > "$I_DIR/purge2.log" 2>&1 &&
		    [ ! -e /var/lib/agentd ]
		rc=$?
		ok $rc "with agentd/purge_state true, a purge removes it"
		[ $rc -eq 0 ] ||
		    cat "$I_DIR/install2.log" "$I_DIR/purge2.log" 2>/dev/null |
		    sed 's/^/# /' | tail -20
	else
		skip "/var/lib/agentd held state before this test"
	fi
else
	skip "agentd was installed before this test"
	skip "agentd was installed before this test"
fi
done_testing

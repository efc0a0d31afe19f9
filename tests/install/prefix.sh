#!/bin/sh
# The installed tree works, from `make installcheck` (distcheck runs it):
# every file is where configure said, the man pages render, the SDK builds
# and unit-tests the plugin skeleton with pkg-config alone, and the
# installed agentd runs the installed sample configuration plus the
# skeleton, found by its bare name in the installed plugin directory.
# Variables from Makefile.am: prefix sbindir bindir libdir mandir
# sysconfdir plugindir bashcompletiondir top_srcdir MAKE.
. "$top_srcdir/tests/install/tap.sh"

echo "1..14"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
AGENTCTL="$bindir/agentctl"
actl() { "$AGENTCTL" --run-dir "$I_DIR/run" "$@"; }

missing=
for f in "$sbindir/agentd" "$bindir/agentctl" \
    "$prefix/libexec/agentd/agentd-worker" "$plugindir/echo.so" \
    "$plugindir/pricing.so" "$sysconfdir/agentd/conf.d/pricing.conf" \
    "$plugindir/exec.so" \
    "$sysconfdir/agentd/agentd.conf" "$sysconfdir/agentd/conf.d/echo.conf" \
    "$libdir/libagentd-sdk.a" "$libdir/pkgconfig/agentd.pc" \
    "$prefix/include/agentd/agent.h" "$prefix/include/agentd/mock.h" \
    "$bashcompletiondir/agentctl"; do
	[ -e "$f" ] || missing="$missing $f"
done
[ -z "$missing" ]
ok $? "every file is installed where configure said"
[ -z "$missing" ] || diag "missing:$missing"

[ "$(pkg-config --variable=plugindir agentd)" = "$plugindir" ]
ok $? "pkg-config agentd names the installed plugin directory"

"$sbindir/agentd" --version | grep -q '^agentd [0-9]' &&
    "$bindir/agentctl" --version | grep -q '^agentctl [0-9]' &&
    "$prefix/libexec/agentd/agentd-worker" --version |
    grep -q '^agentd-worker [0-9].* (plugin ABI 1\.[0-9]*)$'
ok $? "--version: agentd, agentctl and agentd-worker"

bad=
for page in man1/agentctl.1 man5/agentd.conf.5 man8/agentd.8 \
    man3/agentd-plugin.3; do
	if [ ! -f "$mandir/$page" ]; then
		bad="$bad $page(missing)"
	elif command -v man >/dev/null; then
		w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$mandir/$page" 2>&1 >/dev/null)
		out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$mandir/$page" 2>/dev/null)
		{ [ -z "$w" ] && printf '%s' "$out" | grep -q '^NAME'; } ||
		    bad="$bad $page($w)"
	fi
done
[ -z "$bad" ]
ok $? "the four man pages are installed and render with man -l, no warnings"
[ -z "$bad" ] || diag "$bad"

# The skeleton, copied as a plugin author would, built with pkg-config.
cp -R "$top_srcdir/contrib/plugin-skeleton" "$I_DIR/skeleton"
chmod -R u+w "$I_DIR/skeleton"
$MAKE -s -C "$I_DIR/skeleton" > "$I_DIR/build.log" 2>&1
ok $? "the skeleton builds against the installed SDK with pkg-config alone"
[ $? -eq 0 ] || sed 's/^/# /' "$I_DIR/build.log" | tail -20

syms=$(nm -D --defined-only "$I_DIR/skeleton/skeleton.so" 2>/dev/null |
    awk '$2 ~ /^[A-Z]$/ && $2 != "A" {print $3}')
[ "$syms" = agentd_plugin_v1 ]
ok $? "the skeleton exports its descriptor and nothing else"

$MAKE -s -C "$I_DIR/skeleton" check > "$I_DIR/check.log" 2>&1
rv=$?
[ $rv -eq 0 ] && grep -q '^ok' "$I_DIR/check.log" &&
    ! grep -q '^not ok' "$I_DIR/check.log"
ok $? "the skeleton's unit test passes against the mock host table"
[ $rv -eq 0 ] || sed 's/^/# /' "$I_DIR/check.log" | tail -20

$MAKE -s -C "$I_DIR/skeleton" install > "$I_DIR/install.log" 2>&1 &&
    [ -f "$plugindir/skeleton.so" ] && [ -f "$plugindir/stock.so" ]
ok $? "make install puts the skeleton's two plugins into pkg-config's plugindir"

# The installed agentd, the installed sample configuration, the skeleton's.
# As root, workers run as agentd-plugin (doc/security.md): the system
# user the Debian package creates, made here if this machine has none.
if [ "$(id -u)" -eq 0 ] && ! getent passwd agentd-plugin >/dev/null; then
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin agentd-plugin 2>/dev/null ||
	    getent passwd agentd-plugin >/dev/null
fi
mkdir -p "$I_DIR/conf"
cp -R "$sysconfdir/agentd/." "$I_DIR/conf/"
cp "$I_DIR/skeleton/skeleton.conf" "$I_DIR/skeleton/stock.conf" \
    "$I_DIR/conf/conf.d/"
"$sbindir/agentd" --confdir "$I_DIR/conf" --state-dir "$I_DIR/state" \
    --run-dir "$I_DIR/run" --foreground 2> "$I_DIR/agentd.log" &
I_PID=$!
quote_ready() {
	actl --json status | jq_true '.agents[] | select(.name == "quote") |
	    .ready == 1'
}
wait_for 20 quote_ready
rv=$?
ok $rv "the installed agentd starts the sample agents and the skeleton"
[ $rv -eq 0 ] || { actl status 2>&1 | sed 's/^/# /'; sed 's/^/# /' "$I_DIR/agentd.log" | tail -20; }

reply=$(actl --json call echo '{"hello":"installed"}' 2>"$I_DIR/call.err")
printf '%s' "$reply" | grep -q '"hello":"installed"'
rv=$?
ok $rv "the echo agent answers"
if [ $rv -ne 0 ]; then
	sed 's/^/# /' "$I_DIR/call.err"
	ls -la "$I_DIR/run" | sed 's/^/# /'
	sed 's/^/# /' "$I_DIR/agentd.log" | tail -20
fi

actl call quote '{"op":"set_price","sku":"A-1","price":2.5}' >/dev/null
ok $? "the skeleton takes a set_price request"
reply=$(actl --json call quote '{"sku":"A-1","qty":4}')
printf '%s' "$reply" | grep -q '"total":9'
ok $? "the skeleton answers a quote with the discount applied ($reply)"

actl audit --agent quote --kind quote.discount | grep -q 'A-1'
ok $? "its decision is in the audit trail"

stop "$I_PID"
ok $? "the installed agentd stops cleanly (exit 0)"
I_PID=
rm -f "$plugindir/skeleton.so" "$plugindir/stock.so"
done_testing

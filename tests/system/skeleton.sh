#!/bin/sh
# contrib/plugin-skeleton as an author uses it, against this build tree's
# SDK (an agentd.pc naming it): its Makefile builds every plugin of its
# PLUGINS list (skeleton and stock) and runs each one's unit test; one
# plugin alone with PLUGINS=; make install puts both in the plugin
# directory; in a real agentd, quote's reprice (the plugin guide's worked
# example) calls stock, stores the new price, records it and publishes
# it before answering.
. "$top_srcdir/tests/lib.sh"

plan 17

SK=$T_DIR/sk
cp -R "$top_srcdir/contrib/plugin-skeleton" "$SK"
chmod -R u+w "$SK"
mkdir -p "$T_DIR/pc"
cat > "$T_DIR/pc/agentd.pc" <<EOF
plugindir=$T_DIR/plugins
Name: agentd
Description: the SDK of the build tree
Version: 0.0
Cflags: -I$top_srcdir/sdk/include
Libs: -L$top_builddir/sdk -lagentd-sdk -lmsgpackc
EOF
export PKG_CONFIG_PATH="$T_DIR/pc"
# A build with --enable-sanitizers made the archive need them too.
SK_FLAGS=
nm "$top_builddir/sdk/libagentd-sdk.a" 2>/dev/null | grep -q __asan_init &&
    SK_FLAGS="-fsanitize=address,undefined"
skmake() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${MAKE:-make} -s -C "$SK" \
	    CFLAGS="-O2 -g $SK_FLAGS" LDFLAGS="$SK_FLAGS" "$@"
}

skmake >"$T_DIR/build.log" 2>&1
rc=$?
[ $rc -eq 0 ] && [ -f "$SK/skeleton.so" ] && [ -f "$SK/stock.so" ]
ok $? "make builds both plugins of PLUGINS: skeleton.so and stock.so"
[ $rc -eq 0 ] || sed 's/^/# /' "$T_DIR/build.log" | tail -20

exports() {
	# (A sanitized build adds the sanitizers' own globals: not ours.)
	nm -D --defined-only "$1" 2>/dev/null |
	    awk '$2 ~ /^[A-Z]$/ && $2 != "A" &&
	        $3 !~ /^_*(odr_asan|asan|ubsan|sanitizer)/ {print $3}'
}
[ "$(exports "$SK/skeleton.so")" = agentd_plugin_v1 ] &&
    [ "$(exports "$SK/stock.so")" = agentd_plugin_v1 ]
ok $? "each exports its descriptor and nothing else"

skmake check >"$T_DIR/check.log" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q '^\./test_skeleton ' "$T_DIR/check.log" &&
    grep -q '^\./test_stock ' "$T_DIR/check.log" &&
    ! grep -q '^not ok' "$T_DIR/check.log"
ok $? "make check runs both plugins' unit tests, and they pass"
[ $rc -eq 0 ] || sed 's/^/# /' "$T_DIR/check.log" | tail -30
[ "$(grep -c '^1\.\.' "$T_DIR/check.log")" -eq 2 ]
ok $? "... two TAP plans, one per test"
grep -q 'reprice\|2\.50 becomes 2\.75' "$T_DIR/check.log"
ok $? "the skeleton's test covers the worked example (reprice)"

skmake clean >/dev/null 2>&1 && skmake PLUGINS=stock >/dev/null 2>&1 &&
    [ -f "$SK/stock.so" ] && [ ! -f "$SK/skeleton.so" ]
ok $? "make PLUGINS=stock builds that one only"

skmake >/dev/null 2>&1 && skmake install >"$T_DIR/install.log" 2>&1 &&
    [ "$(stat -c %a "$T_DIR/plugins/skeleton.so" 2>/dev/null)" = 644 ] &&
    [ "$(stat -c %a "$T_DIR/plugins/stock.so" 2>/dev/null)" = 644 ]
ok $? "make install puts both into plugindir, mode 0644"

# ---- both in agentd ------------------------------------------------------
cp "$SK/skeleton.conf" "$SK/stock.conf" "$T_DIR/conf/"
start_agentd --plugin-dir "$T_DIR/plugins"
ok $? "agentd starts with skeleton.conf and stock.conf"
wait_for 20 agent_ready quote && wait_for 20 agent_ready stock
ok $? "quote and stock are ready"

actl call quote '{"op":"set_price","sku":"A-1","price":2.5}' >/dev/null &&
    actl call stock '{"op":"set","sku":"A-1","stock":2}' >/dev/null
ok $? "a price and a stock are set"

actl tail quote > "$T_DIR/tail.out" 2>&1 &
tpid=$!
# The subscriber connects asynchronously: publish until it sees one.
wait_for 10 sh -c "'$AGENTCTL' --run-dir '$T_DIR/run' publish quote.probe 0 >/dev/null; grep -q quote.probe '$T_DIR/tail.out'"

reply=$(actl --json call quote '{"op":"reprice","sku":"A-1"}')
ok $? "reprice is answered"
like "$reply" '"price":2\.75' "reprice: 2 in stock, the price 2.50 becomes 2.75"
like "$reply" '"changed":true' "... and it says it changed"
like "$(actl --json state get quote price:A-1)" '^\{"price":2\.75\}$' \
    "the new price is in quote's state, a map"
like "$(actl audit --agent quote --kind quote.reprice)" \
    'quote\.reprice: A-1: 2\.50 -> 2\.75, 2 in stock is below 5' \
    "the decision is in the audit trail, with its reason"
wait_for 10 grep -q '"topic":"quote.price_changed"' "$T_DIR/tail.out"
ok $? "quote.price_changed was published"
kill "$tpid" 2>/dev/null
actl call stock '{"op":"set","sku":"A-1","stock":9}' >/dev/null
like "$(actl --json call quote '{"op":"reprice","sku":"A-1"}')" \
    '"price":2\.75,"stock":9,"changed":false' \
    "9 in stock: the price stays"
done_testing

#!/bin/sh
# mkconf.sh SRCDIR DIR HTTP SUPPLIER SHOP LLM
#
# Writes the shop's configuration (doc/shop.md) into DIR: DIR/conf holds
# agentd.conf and one .conf per agent, made from SRCDIR/conf.d (echo,
# pricing) and SRCDIR/conf.d/examples/shop; DIR/etc holds what they name
# under /etc/agentd (the workflows, the llm agent's providers, the shop's
# access token and the webhook's secret, made here at random).
#
# HTTP is the address agentd's HTTP API listens on (127.0.0.1:8470 in the
# examples, 127.0.0.1:0 in the tests); SUPPLIER, SHOP and LLM are the
# ports of the supplier catalog, the shop and the language model (8471,
# 8472 and 8473 in the examples).  Used by `make demo` and the shop's
# system tests, so that both run what the examples say.
set -eu

[ $# -eq 6 ] || { echo "usage: mkconf.sh SRCDIR DIR HTTP SUPPLIER SHOP LLM" >&2; exit 2; }
src=$1 dir=$2 http=$3 supplier=$4 shop=$5 llm=$6
ex=$src/conf.d/examples/shop

mkdir -p "$dir/conf" "$dir/etc/shop" "$dir/etc/workflows" "$dir/etc/llm"
# Workers run as the plugin user (doc/security.md): they read under etc.
chmod 0755 "$dir" "$dir/etc" "$dir/etc/workflows" "$dir/etc/llm"
chmod 0750 "$dir/etc/shop"

# fill FILE: an example with this machine's folder and ports.
fill() {
	sed -e "s|/etc/agentd/|$dir/etc/|g" \
	    -e "s|127\.0\.0\.1:8470|$http|g" \
	    -e "s|127\.0\.0\.1:8471|127.0.0.1:$supplier|g" \
	    -e "s|127\.0\.0\.1:8472|127.0.0.1:$shop|g" \
	    -e "s|127\.0\.0\.1:8473|127.0.0.1:$llm|g" "$1"
}

for f in "$ex"/*.conf; do
	fill "$f" > "$dir/conf/$(basename "$f")"
done
for f in echo.conf pricing.conf; do
	cp "$src/conf.d/$f" "$dir/conf/$f"
done
for f in "$ex"/workflows/*.flow; do
	fill "$f" > "$dir/etc/workflows/$(basename "$f")"
done
for f in "$ex"/*.json; do
	[ -f "$f" ] && fill "$f" > "$dir/etc/llm/$(basename "$f")"
done

# secret FILE: 32 random bytes as hex, on one line, made once.
secret() {
	[ -s "$1" ] || od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$1"
	echo >> "$1"
	sed -i '/^$/d' "$1"
}
umask 077
secret "$dir/etc/shop/token"
secret "$dir/etc/shop/webhook.secret"
# the token is read by the publisher's, inventory's and catalog's workers
if [ "$(id -u)" -eq 0 ] && getent group agentd-plugin >/dev/null; then
	chgrp agentd-plugin "$dir/etc/shop" "$dir/etc/shop/token"
	chmod 0640 "$dir/etc/shop/token"
else
	# not root: the workers run as this user
	chmod 0700 "$dir/etc/shop"
fi

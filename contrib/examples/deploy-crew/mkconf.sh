#!/bin/sh
# mkconf.sh EXAMPLE DIR HOOK
#
# Writes the deploy-crew example's configuration (doc/examples.md) into
# DIR: DIR/conf holds one .conf per agent, made from the example's folder
# EXAMPLE (conf.d/examples/deploy-crew in the source tree); DIR/etc holds
# what they name under /etc/agentd (the workflow, the phases' tools files,
# notify's channels); DIR/app is a copy of the sample project the phases
# build and test (/srv/deploy-crew/app in the example).
#
# HOOK is the base URL of the chat webhooks: the channels are HOOK/ops
# (escalations) and HOOK/status (https://hooks.example.com/deploy-crew in
# the example).  Used by the example's system test, so that it runs what
# the example says:
#   sh mkconf.sh conf.d/examples/deploy-crew /srv/crew http://127.0.0.1:8099/hook
#   agentd --confdir /srv/crew/conf --foreground
# As root the phases run as the plugin user, who must be able to write
# DIR/app (chown it to agentd-plugin).
set -eu

[ $# -eq 3 ] || { echo "usage: mkconf.sh EXAMPLE DIR HOOK" >&2; exit 2; }
ex=$1 dir=$2 hook=$3

[ -f "$ex/flow.conf" ] && [ -f "$ex/workflows/deploy.flow" ] ||
    { echo "mkconf.sh: $ex: no flow.conf or workflows/deploy.flow: give the example's folder" >&2; exit 2; }
case $hook in
http://* | https://*) ;;
*) echo "mkconf.sh: $hook: the webhook base is an http:// or https:// URL" >&2; exit 2 ;;
esac
host=$(printf '%s\n' "$hook" | sed -e 's|^[a-z]*://||' -e 's|[:/].*||')
mkdir -p "$dir/conf" "$dir/etc/workflows" "$dir/etc/deploy-crew" "$dir/app/src"
# Workers run as the plugin user (doc/security.md): they read under etc.
chmod 0755 "$dir" "$dir/etc" "$dir/etc/workflows" "$dir/etc/deploy-crew"

# fill FILE: an example file with this machine's folders and webhooks.
fill() {
	sed -e "s|/etc/agentd/|$dir/etc/|g" \
	    -e "s|/srv/deploy-crew/|$dir/|g" \
	    -e "s|https://hooks\.example\.com/deploy-crew|$hook|g" \
	    -e "s|\"hooks\.example\.com\"|\"$host\"|g" "$1"
}

for f in "$ex"/*.conf; do
	fill "$f" > "$dir/conf/$(basename "$f")"
done
fill "$ex/workflows/deploy.flow" > "$dir/etc/workflows/deploy.flow"
for f in "$ex"/*.json; do
	fill "$f" > "$dir/etc/deploy-crew/$(basename "$f")"
done
chmod 0644 "$dir/etc/workflows/deploy.flow" "$dir"/etc/deploy-crew/*.json
for f in Makefile build.sh test.sh review.sh src/greet.sh; do
	cp "$ex/app/$f" "$dir/app/$f"
done

#!/bin/sh
# mkconf.sh EXAMPLE DIR HTTP MODEL
#
# Writes the ai-engine example's configuration (doc/examples.md) into
# DIR: DIR/conf holds agentd.conf and one .conf per agent, made from the
# example's folder EXAMPLE (conf.d/examples/ai-engine in the source
# tree); DIR/etc holds what they name under /etc/agentd (the workflows,
# the llm agent's providers).
#
# HTTP is the address agentd's HTTP API listens on (127.0.0.1:8480 in
# the example, 127.0.0.1:0 in the test); MODEL is the base URL of the
# Ollama server (http://127.0.0.1:11434 in the example).  Used by the
# example's system test, so that it runs what the example says:
#   sh mkconf.sh conf.d/examples/ai-engine /tmp/engine 127.0.0.1:8480 http://127.0.0.1:11434
#   agentd --confdir /tmp/engine/conf --foreground
set -eu

[ $# -eq 4 ] || { echo "usage: mkconf.sh EXAMPLE DIR HTTP MODEL" >&2; exit 2; }
ex=$1 dir=$2 http=$3 model=$4

[ -f "$ex/flow.conf" ] || { echo "mkconf.sh: $ex: no flow.conf: give the example's folder" >&2; exit 2; }
mkdir -p "$dir/conf" "$dir/etc/workflows" "$dir/etc/llm"
# Workers run as the plugin user (doc/security.md): they read under etc.
chmod 0755 "$dir" "$dir/etc" "$dir/etc/workflows" "$dir/etc/llm"

# fill FILE: an example file with this machine's folder and addresses.
fill() {
	sed -e "s|/etc/agentd/|$dir/etc/|g" \
	    -e "s|127\.0\.0\.1:8480|$http|g" \
	    -e "s|http://127\.0\.0\.1:11434|$model|g" "$1"
}

for f in "$ex"/*.conf; do
	fill "$f" > "$dir/conf/$(basename "$f")"
done
for f in "$ex"/workflows/*.flow; do
	fill "$f" > "$dir/etc/workflows/$(basename "$f")"
done
fill "$ex/llm.json" > "$dir/etc/llm/llm.json"
chmod 0644 "$dir"/etc/workflows/* "$dir/etc/llm/llm.json"

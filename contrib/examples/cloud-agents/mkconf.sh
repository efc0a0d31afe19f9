#!/bin/sh
# mkconf.sh EXAMPLE DIR HTTP HOSTED LOCAL
#
# Writes the cloud-agents example's configuration (doc/examples.md) into
# DIR: DIR/conf holds agentd.conf and one .conf per agent, made from the
# example's folder EXAMPLE (conf.d/examples/cloud-agents in the source
# tree); DIR/etc/cloud-agents holds what they name under
# /etc/agentd/cloud-agents (the workflows, the tools, the llm agent's
# providers).
#
# HTTP is the address agentd's HTTP API listens on (127.0.0.1:8490 in
# the example, 127.0.0.1:0 in the test); HOSTED is the base URL of the
# OpenAI-compatible provider (https://api.openai.com/v1), LOCAL the
# Ollama server's (http://127.0.0.1:11434).  The hosted provider's key
# is DIR/etc/cloud-agents/llm/openai.key, one line: write it yourself,
# mkconf.sh does not.  Used by the example's system test:
#   sh mkconf.sh conf.d/examples/cloud-agents /srv/cloud 127.0.0.1:8490 \
#       https://api.openai.com/v1 http://127.0.0.1:11434
#   agentd --confdir /srv/cloud/conf --foreground
set -eu

[ $# -eq 5 ] || { echo "usage: mkconf.sh EXAMPLE DIR HTTP HOSTED LOCAL" >&2; exit 2; }
ex=$1 dir=$2 http=$3 hosted=$4 local=$5

[ -f "$ex/tools.json" ] || { echo "mkconf.sh: $ex: no tools.json: give the example's folder" >&2; exit 2; }
etc=$dir/etc/cloud-agents
mkdir -p "$dir/conf" "$etc/workflows" "$etc/llm"
# Workers run as the plugin user (doc/security.md): they read under etc.
chmod 0755 "$dir" "$dir/etc" "$etc" "$etc/workflows" "$etc/llm"

# fill FILE: an example file with this machine's folder and addresses.
fill() {
	sed -e "s|/etc/agentd/|$dir/etc/|g" \
	    -e "s|127\.0\.0\.1:8490|$http|g" \
	    -e "s|https://api\.openai\.com/v1|$hosted|g" \
	    -e "s|http://127\.0\.0\.1:11434|$local|g" "$1"
}

for f in "$ex"/*.conf; do
	fill "$f" > "$dir/conf/$(basename "$f")"
done
for f in "$ex"/workflows/*.flow; do
	fill "$f" > "$etc/workflows/$(basename "$f")"
done
fill "$ex/llm.json" > "$etc/llm/llm.json"
fill "$ex/tools.json" > "$etc/tools.json"
chmod 0644 "$etc"/workflows/* "$etc/llm/llm.json" "$etc/tools.json"

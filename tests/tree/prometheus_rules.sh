#!/bin/sh
# contrib/prometheus/agentd-rules.yml passes `promtool check rules` and
# its tests (agentd-rules.test.yml); contrib/grafana/agentd-dashboard.json
# is JSON with a datasource variable; and every metric either one uses is
# in doc/http.md's /metrics table, so neither can drift from the daemon.
. "$top_srcdir/tests/lib.sh"

plan 8

prom=$top_srcdir/contrib/prometheus
rules=$prom/agentd-rules.yml
dash=$top_srcdir/contrib/grafana/agentd-dashboard.json

# The names in doc/http.md's /metrics table; "`_denied_total`" after
# "`agentd_events_published_total`" is agentd_events_denied_total.
awk '/^\| metric \| type \| labels \|/ {on = 1; next} on && !/^\|/ {exit}
    on' "$top_srcdir/doc/http.md" | cut -d'|' -f2 |
    grep -oE '`[a-z_]+`' | tr -d '`' |
    awk '/^agentd_/ {split($0, p, "_"); base = p[1] "_" p[2]; print; next}
        /^_/ {print base $0}' | sort -u > "$T_DIR/documented"
# The metric names in a text: agentd_... not after a ':' (a recording
# rule's name), histograms by their family; and up, Prometheus's own.
names() {
	grep -oE '(^|[^:a-zA-Z_])agentd_[a-z_]+' "$1" | sed 's/^[^a]//' |
	    sed -E 's/_(bucket|sum|count)$//' | sort -u
}
# undocumented FILE: the names FILE uses that the table lacks.
undocumented() {
	names "$1" | comm -23 - "$T_DIR/documented"
}

if command -v promtool >/dev/null; then
	promtool check rules "$rules" > "$T_DIR/check.out" 2>&1
	ok $? "promtool check rules: $(grep -o '[0-9]* rules found' "$T_DIR/check.out")"
	(cd "$prom" && promtool test rules agentd-rules.test.yml) \
	    > "$T_DIR/test.out" 2>&1
	rc=$?
	ok $rc "promtool test rules agentd-rules.test.yml"
	[ $rc -eq 0 ] || sed 's/^/# /' "$T_DIR/test.out" | head -30
else
	ok 0 "# SKIP promtool is not installed (apt-get install prometheus)"
	ok 0 "# SKIP promtool is not installed (apt-get install prometheus)"
fi

[ "$(wc -l < "$T_DIR/documented")" -gt 30 ] && grep -qx agentd_service_seconds "$T_DIR/documented"
ok $? "doc/http.md's table lists the metrics ($(wc -l < "$T_DIR/documented") names)"
missing=$(undocumented "$rules" | tr '\n' ' ')
[ -n "$(names "$rules")" ] && [ -z "$missing" ]
ok $? "every metric the rules use is in doc/http.md's table${missing:+ (not: $missing)}"

# Each alert has a test that fires it, and a paragraph in operations.md.
lacking=
for a in $(sed -n 's/^ *- alert: *//p' "$rules"); do
	grep -q "alertname: $a\$" "$prom/agentd-rules.test.yml" &&
	    grep -q "^#### $a\$" "$top_srcdir/doc/operations.md" ||
	    lacking="$lacking $a"
done
[ -z "$lacking" ]
ok $? "each alert is tested and explained in doc/operations.md${lacking:+ (not:$lacking)}"

if command -v jq >/dev/null; then
	jq -r '.panels[].targets[].expr' "$dash" > "$T_DIR/exprs" 2>&1
	[ $? -eq 0 ] && [ -s "$T_DIR/exprs" ]
	ok $? "the dashboard is JSON, its panels have queries ($(wc -l < "$T_DIR/exprs"))"
	jq -e -n 'last(inputs | (.templating.list | map(select(.type == "datasource" and .name == "datasource")) | length == 1)
	    and ([.panels[].datasource.uid] | all(. == "${datasource}")))' \
	    "$dash" >/dev/null
	ok $? "it has a datasource variable that every panel uses"
	missing=$(undocumented "$T_DIR/exprs" | tr '\n' ' ')
	[ -z "$missing" ]
	ok $? "every metric its queries use is in doc/http.md's table${missing:+ (not: $missing)}"
else
	ok 0 "# SKIP jq is not installed"
	ok 0 "# SKIP jq is not installed"
	ok 0 "# SKIP jq is not installed"
fi

done_testing

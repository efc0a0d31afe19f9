#!/bin/sh
# The debconf templates are translatable and their translations current:
# debian/agentd.templates marks its text for translation (_Description),
# debian/po/templates.pot holds what debconf-updatepo makes of it now, and
# every debian/po/*.po is valid, translates every message and has none
# fuzzy (a template changed since), so po2debconf merges each language.
. "$top_srcdir/tests/lib.sh"

plan 5

if ! command -v debconf-updatepo >/dev/null || ! command -v msgfmt >/dev/null ||
    ! command -v po2debconf >/dev/null; then
	while [ "$T_N" -lt 5 ]; do ok 0 "# SKIP needs po-debconf and gettext"; done
	done_testing
fi

D=$top_srcdir/debian
grep -q '^_Description: ' "$D/agentd.templates" &&
    ! grep -q '^Description: ' "$D/agentd.templates"
ok $? "agentd.templates marks its descriptions for translation"

# The messages (msgids, sorted) of a .po or .pot file.
msgids() { msgcat --no-wrap --sort-output "$1" 2>/dev/null | grep '^msgid '; }

mkdir -p "$T_DIR/debian"
cp -R "$D/agentd.templates" "$D/po" "$T_DIR/debian/"
(cd "$T_DIR" && debconf-updatepo) >"$T_DIR/updatepo.log" 2>&1
msgids "$T_DIR/debian/po/templates.pot" >"$T_DIR/now"
msgids "$D/po/templates.pot" >"$T_DIR/committed"
[ -s "$T_DIR/now" ] && cmp -s "$T_DIR/now" "$T_DIR/committed"
ok $? "debian/po/templates.pot is current (else run debconf-updatepo)"

bad=
for po in "$D"/po/*.po; do
	stats=$(msgfmt -c --statistics -o /dev/null "$po" 2>&1) ||
	    bad="$bad $(basename "$po"): $stats;"
	printf '%s' "$stats" | grep -Eq 'fuzzy|untranslated' &&
	    bad="$bad $(basename "$po"): $stats;"
	msgids "$po" | cmp -s - "$T_DIR/committed" ||
	    bad="$bad $(basename "$po"): not the template's messages;"
done
[ -z "$bad" ]
ok $? "every .po is valid and complete, with the template's messages:${bad:- yes}"

langs=$(ls "$D"/po/*.po | sed 's|.*/||; s|\.po$||' | sort | tr '\n' ' ')
printf '%s' "$langs" | grep -qw de && printf '%s' "$langs" | grep -qw fr
ok $? "German and French at least ($langs)"

merged=$(cd "$D" && po2debconf agentd.templates 2>&1)
printf '%s\n' "$merged" | grep -q '^Description-de.UTF-8: ' &&
    printf '%s\n' "$merged" | grep -q '^Description-fr.UTF-8: '
ok $? "po2debconf merges each translation into the templates"
done_testing

/*
 * template.c - the substitution of doc/notify.md: "{name}" is vars'
 * value of key name, "{{" and "}}" are a brace.  A name is 1 to
 * NT_NAME_MAX - 1 of [A-Za-z0-9_.-].  Nothing is evaluated: the text of
 * a value is copied as it is, but for a webhook's escapes of Slack's
 * control characters (JSON escaping is jansson's, when the webhook's
 * body is made; an e-mail's header is cleaned by smtp.c).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"

static int
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	    || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/* The length of the name that starts at p (after a '{'), when a '}' ends
 * it; else 0. */
static size_t
name_len(const char *p)
{
	size_t n = 0;

	while (name_char(p[n]))
		n++;
	return p[n] == '}' && n > 0 && n < NT_NAME_MAX ? n : 0;
}

int
nt_template_check(const char *tpl, char *err, size_t errlen)
{
	for (const char *p = tpl; *p != '\0'; p++) {
		size_t n;

		if ((p[0] == '{' && p[1] == '{')
		    || (p[0] == '}' && p[1] == '}'))
			p++;
		else if (*p == '}') {
			snprintf(err, errlen,
			    "a lone '}' at byte %zu (write \"}}\" for one)",
			    (size_t)(p - tpl));
			return -1;
		} else if (*p == '{') {
			if ((n = name_len(p + 1)) == 0) {
				snprintf(err, errlen,
				    "'{' at byte %zu does not start {name} "
				    "(1-63 of [A-Za-z0-9_.-], then '}'; "
				    "\"{{\" for a brace)",
				    (size_t)(p - tpl));
				return -1;
			}
			p += n + 1;
		}
	}
	return 0;
}

/* A growing output with a limit. */
struct out {
	char  *buf;
	size_t len, cap, max;
};

static int
put(struct out *o, const char *s, size_t n)
{
	if (o->len + n > o->max)
		return AGENTD_ETOOBIG;
	if (o->len + n + 1 > o->cap) {
		size_t cap = (o->len + n + 1) * 2;
		char  *b   = realloc(o->buf, cap);

		if (b == NULL)
			return AGENTD_ENOMEM;
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
	return 0;
}

/* s (n bytes) into o, escaped as esc says. */
static int
put_escaped(struct out *o, const char *s, size_t n, enum nt_escape esc)
{
	size_t from = 0;
	int    rv   = 0;

	if (esc == NT_ESC_NONE)
		return put(o, s, n);
	for (size_t i = 0; rv == 0 && i < n; i++) {
		const char *e = s[i] == '&' ? "&amp;"
		    : s[i] == '<'           ? "&lt;"
		    : s[i] == '>'           ? "&gt;"
		                            : NULL;

		if (e == NULL)
			continue;
		if ((rv = put(o, s + from, i - from)) == 0)
			rv = put(o, e, strlen(e));
		from = i + 1;
	}
	return rv != 0 ? rv : put(o, s + from, n - from);
}

int
nt_escape_text(const char *text, size_t max, char **out)
{
	struct out o  = { .max = max };
	int        rv = put(&o, "", 0);

	if (rv == 0)
		rv = put_escaped(&o, text, strlen(text), NT_ESC_SLACK);
	if (rv != 0) {
		free(o.buf);
		return rv;
	}
	*out = o.buf;
	return 0;
}

/* Value v written out into o; AGENTD_EINVAL for a map, array or bin. */
static int
put_value(struct out *o, const agentd_value *v, enum nt_escape esc)
{
	char        num[64];
	const char *s;
	size_t      n;
	int64_t     i;
	double      d;
	int         b;

	switch (agentd_type_of(v)) {
	case AGENTD_T_STR:
		agentd_get_str(v, &s, &n);
		return put_escaped(o, s, n, esc);
	case AGENTD_T_INT:
		if (agentd_get_int(v, &i) == 0)
			snprintf(num, sizeof(num), "%lld", (long long)i);
		else {
			uint64_t u = 0;

			agentd_get_uint(v, &u);
			snprintf(
			    num, sizeof(num), "%llu", (unsigned long long)u);
		}
		return put(o, num, strlen(num));
	case AGENTD_T_DOUBLE:
		agentd_get_double(v, &d);
		snprintf(num, sizeof(num), "%.15g", d);
		return put(o, num, strlen(num));
	case AGENTD_T_BOOL:
		agentd_get_bool(v, &b);
		return put(o, b ? "true" : "false", b ? 4 : 5);
	case AGENTD_T_NIL:
		return 0;
	default:
		return AGENTD_EINVAL;
	}
}

int
nt_render(const char *tpl, const agentd_value *vars, enum nt_escape esc,
    size_t max, char **out, char *err, size_t errlen)
{
	struct out o  = { .max = max };
	int        rv = put(&o, "", 0);

	for (const char *p = tpl; rv == 0 && *p != '\0'; p++) {
		const agentd_value *v;
		char                name[NT_NAME_MAX];
		size_t              n;

		if ((p[0] == '{' && p[1] == '{')
		    || (p[0] == '}' && p[1] == '}'))
			rv = put(&o, p++, 1);
		else if (p[0] != '{' || (n = name_len(p + 1)) == 0)
			rv = put(&o, p, 1);
		else {
			memcpy(name, p + 1, n);
			name[n] = '\0';
			p += n + 1;
			if ((v = agentd_map_get(vars, name)) == NULL) {
				snprintf(err, errlen,
				    "\"vars\" has no \"%s\" (the template "
				    "uses {%s})",
				    name, name);
				free(o.buf);
				return AGENTD_EINVAL;
			}
			if ((rv = put_value(&o, v, esc)) == AGENTD_EINVAL)
				snprintf(err, errlen,
				    "vars.%s: a string, number or boolean, "
				    "not a map, list or bytes",
				    name);
		}
	}
	if (rv == AGENTD_ETOOBIG)
		snprintf(err, errlen, "the text would be over %zu bytes", max);
	if (rv != 0) {
		free(o.buf);
		return rv;
	}
	*out = o.buf;
	return 0;
}

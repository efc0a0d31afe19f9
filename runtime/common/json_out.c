#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_out.h"
#include "common/util.h"

/* jansson keeps JSON_REAL_PRECISION(n) in these bits of the flags. */
#define JO_PRECISION_BITS ((size_t)0x1F << 11)

size_t
ad_real_text(double d, char *buf)
{
	char  sci[AD_REAL_TEXT_MAX], digits[20];
	char *p = buf, *mant, *ex;
	int   prec, e, nd = 0, i;

	if (d == 0)
		return (size_t)snprintf(
		    buf, AD_REAL_TEXT_MAX, "%s", signbit(d) ? "-0.0" : "0.0");
	/* The fewest significant digits that read back to d: 17 always do. */
	for (prec = 1; prec < 17; prec++) {
		snprintf(sci, sizeof(sci), "%.*e", prec - 1, d);
		if (strtod(sci, NULL) == d)
			break;
	}
	snprintf(sci, sizeof(sci), "%.*e", prec - 1, d);
	/* sci is "-D.DDDe+XX": its digits and its exponent. */
	mant = sci;
	if (*mant == '-') {
		*p++ = '-';
		mant++;
	}
	ex = strchr(mant, 'e');
	e  = atoi(ex + 1);
	for (; mant < ex; mant++)
		if (*mant != '.')
			digits[nd++] = *mant;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (e < -4 || e >= 16) {
		*p++ = digits[0];
		if (nd > 1) {
			*p++ = '.';
			memcpy(p, digits + 1, (size_t)nd - 1);
			p += nd - 1;
		}
		p += sprintf(p, "e%d", e);
	} else if (e < 0) {
		*p++ = '0';
		*p++ = '.';
		for (i = -1; i > e; i--)
			*p++ = '0';
		memcpy(p, digits, (size_t)nd);
		p += nd;
	} else {
		for (i = 0; i <= e; i++)
			*p++ = i < nd ? digits[i] : '0';
		*p++ = '.';
		if (nd > e + 1) {
			memcpy(p, digits + e + 1, (size_t)(nd - e - 1));
			p += nd - e - 1;
		} else {
			*p++ = '0';
		}
	}
	*p = '\0';
	return (size_t)(p - buf);
}

/* A growing output text. */
struct jo_buf {
	char  *s;
	size_t len, cap;
};

static void
jo_put(struct jo_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s   = ad_xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/*
 * text (jansson's, reals at 17 digits) with each real rewritten.  Outside
 * strings a number is a run of [0-9+-.eE] starting with a digit or '-';
 * it is a real when it has a '.' or an exponent (jansson makes sure of
 * that), else an integer, copied.
 */
static char *
jo_rewrite(const char *text)
{
	struct jo_buf b = { NULL, 0, 0 };
	const char   *p = text, *q;
	char          real[AD_REAL_TEXT_MAX];

	jo_put(&b, "", 0);
	while (*p != '\0') {
		if (*p == '"') {
			for (q = p + 1; *q != '\0' && *q != '"'; q++)
				if (*q == '\\' && q[1] != '\0')
					q++;
			if (*q == '"')
				q++;
		} else if (*p == '-' || (*p >= '0' && *p <= '9')) {
			q = p + strspn(p, "0123456789+-.eE");
			if (memchr(p, '.', (size_t)(q - p)) != NULL
			    || memchr(p, 'e', (size_t)(q - p)) != NULL
			    || memchr(p, 'E', (size_t)(q - p)) != NULL) {
				jo_put(&b, real,
				    ad_real_text(strtod(p, NULL), real));
				p = q;
				continue;
			}
		} else {
			q = p + strcspn(p, "\"-0123456789");
		}
		jo_put(&b, p, (size_t)(q - p));
		p = q;
	}
	return b.s;
}

char *
ad_json_dumps(const json_t *j, size_t flags)
{
	char *text, *out;

	text = json_dumps(
	    j, (flags & ~JO_PRECISION_BITS) | JSON_REAL_PRECISION(17));
	if (text == NULL)
		return NULL;
	out = jo_rewrite(text);
	free(text);
	return out;
}

int
ad_json_dumpf(const json_t *j, FILE *f, size_t flags)
{
	char *text = ad_json_dumps(j, flags);
	int   rv;

	if (text == NULL)
		return -1;
	rv = fputs(text, f) < 0 ? -1 : 0;
	free(text);
	return rv;
}

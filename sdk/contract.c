/*
 * contract.c - the rules of the plugin boundary; see contract.h.
 */
#include "config.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <agentd/msg.h>

#include "contract.h"
#include "mp_check.h"

void *
ad_alloc_check(void *p)
{
	if (p == NULL) {
		fputs("agentd: out of memory\n", stderr);
		abort();
	}
	return p;
}

/* ---- names ------------------------------------------------------------ */

/* Length of s if every byte is [A-Za-z0-9_.-], else 0. */
static size_t
name_chars(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		        || (c >= '0' && c <= '9') || c == '_' || c == '.'
		        || c == '-'))
			return 0;
	}
	return n;
}

int
ad_valid_name(const char *s)
{
	size_t n = name_chars(s);

	return n >= 1 && n <= AGENTD_NAME_MAX;
}

int
ad_valid_topic(const char *s)
{
	size_t n = name_chars(s);

	return n >= 1 && n <= AGENTD_TOPIC_MAX;
}

int
ad_valid_capability(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		        || c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return n >= 1 && n <= AGENTD_NAME_MAX;
}

/* ---- state ------------------------------------------------------------ */

int
ad_state_key_check(const void *key, size_t keylen, int allow_empty)
{
	if (keylen > AGENTD_STATE_KEY_MAX || (keylen == 0 && !allow_empty)
	    || (key == NULL && keylen > 0))
		return AGENTD_EINVAL;
	return 0;
}

/* ---- audit ------------------------------------------------------------ */

/* Is s longer than max bytes?  Reads at most max + 1 of them. */
static int
longer_than(const char *s, size_t max)
{
	return strnlen(s, max + 1) > max;
}

int
ad_audit_fields_check(const char *kind, const char *summary,
    const void *detail, size_t detail_len)
{
	if (kind == NULL || kind[0] == '\0' || summary == NULL
	    || (detail == NULL && detail_len != 0))
		return AGENTD_EINVAL;
	if (longer_than(kind, AGENTD_AUDIT_KIND_MAX)
	    || longer_than(summary, AGENTD_AUDIT_SUMMARY_MAX)
	    || detail_len > AGENTD_AUDIT_DETAIL_MAX)
		return AGENTD_ETOOBIG;
	/* Caught here, a bad detail is the caller's bug, not a bad log.
	 * What agentd_parse() accepts, without building the tree. */
	if (detail_len > 0
	    && mp_check(detail, detail_len, AGENTD_MSG_MAX_DEPTH) != 0)
		return AGENTD_EPROTO;
	return 0;
}

/* The first segments of the kinds agentd writes, and may write later.
 * "decision" alone is the agents' own (what a business agent decided and
 * why: the shop's ceo); agentd's are decision.proposed, .approved, ... */
static const char *const reserved_kinds[] = { "agentd", "agent", "instance",
	"call", "state", "event", "audit", "policy", "approval", "decision",
	"approvals", "token", "http", "webhook" };

int
ad_audit_kind_reserved(const char *kind)
{
	size_t i, n;

	for (i = 0; i < sizeof(reserved_kinds) / sizeof(reserved_kinds[0]);
	     i++) {
		n = strlen(reserved_kinds[i]);
		if (strncasecmp(kind, reserved_kinds[i], n) != 0)
			continue;
		if (kind[n] == '.')
			return 1;
		if (kind[n] == '\0')
			return strcasecmp(kind, "decision") != 0;
	}
	return 0;
}

int
ad_audit_plugin_check(const char *kind, const char *summary,
    const void *detail, size_t detail_len)
{
	int rv = ad_audit_fields_check(kind, summary, detail, detail_len);

	if (rv == 0 && ad_audit_kind_reserved(kind))
		rv = AGENTD_EDENIED;
	return rv;
}

/* ---- proposals -------------------------------------------------------- */

static int proposal_refused(char *err, size_t errlen, int rv, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

/* rv, with "proposal: ..." in err (if there is room for anything). */
static int
proposal_refused(char *err, size_t errlen, int rv, const char *fmt, ...)
{
	va_list ap;
	int     n;

	if (err == NULL || errlen == 0)
		return rv;
	n = snprintf(err, errlen, "proposal: ");
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return rv;
}

/* Is the first byte of a msgpack value a map's (fixmap, map 16, 32)? */
static int
mp_is_map(const unsigned char *b)
{
	return (b[0] & 0xf0) == 0x80 || b[0] == 0xde || b[0] == 0xdf;
}

/*
 * A control character (other than newline and tab where lines are
 * allowed) in text a person reads: a terminal would act on an escape
 * sequence a plugin slipped into agentctl's listing.
 */
static int
has_control(const char *s, int lines)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c < 0x20 && !(lines && (c == '\n' || c == '\t')))
		    || c == 0x7f)
			return 1;
	}
	return 0;
}

int
ad_proposal_check(const struct agentd_proposal *p, char *err, size_t errlen)
{
	if (p == NULL)
		return proposal_refused(
		    err, errlen, AGENTD_EINVAL, "none given: pass one");
	if (p->type == NULL || !ad_valid_topic(p->type))
		return proposal_refused(err, errlen, AGENTD_EINVAL,
		    "type is %s: use 1 to %d letters, digits, '_', '.' or '-'",
		    p->type == NULL ? "missing" : "not a topic",
		    AGENTD_TOPIC_MAX);
	if (p->title == NULL || p->title[0] == '\0')
		return proposal_refused(err, errlen, AGENTD_EINVAL,
		    "title is %s: give one line a person reads",
		    p->title == NULL ? "missing" : "empty");
	if (longer_than(p->title, AGENTD_PROPOSAL_TITLE_MAX))
		return proposal_refused(err, errlen, AGENTD_ETOOBIG,
		    "title is longer than %d bytes: shorten it",
		    AGENTD_PROPOSAL_TITLE_MAX);
	if (p->reasoning != NULL
	    && longer_than(p->reasoning, AGENTD_PROPOSAL_REASONING_MAX))
		return proposal_refused(err, errlen, AGENTD_ETOOBIG,
		    "reasoning is longer than %d bytes: shorten it",
		    AGENTD_PROPOSAL_REASONING_MAX);
	if (has_control(p->title, 0)
	    || (p->reasoning != NULL && has_control(p->reasoning, 1)))
		return proposal_refused(err, errlen, AGENTD_EINVAL,
		    "%s holds a control character: people read it in a "
		    "terminal; write plain text (reasoning may have newlines "
		    "and tabs)",
		    has_control(p->title, 0) ? "title" : "reasoning");
	/* Written so that a NaN fails too. */
	if (!isfinite(p->amount) || !(p->amount >= 0))
		return proposal_refused(err, errlen, AGENTD_EINVAL,
		    "amount %g is not a finite number of at least 0: give the "
		    "money at stake, 0 if none",
		    p->amount);
	if (!isfinite(p->confidence)
	    || !(p->confidence >= 0 && p->confidence <= 1))
		return proposal_refused(err, errlen, AGENTD_EINVAL,
		    "confidence %g is not within 0 to 1", p->confidence);
	if (p->params_len == 0)
		return 0;
	if (p->params == NULL)
		return proposal_refused(err, errlen, AGENTD_EINVAL,
		    "params is NULL with params_len %zu: pass the map, or 0",
		    p->params_len);
	if (p->params_len > AGENTD_PROPOSAL_PARAMS_MAX)
		return proposal_refused(err, errlen, AGENTD_ETOOBIG,
		    "params of %zu bytes is over %d: send less", p->params_len,
		    AGENTD_PROPOSAL_PARAMS_MAX);
	if (mp_check(p->params, p->params_len, AGENTD_MSG_MAX_DEPTH) != 0
	    || !mp_is_map(p->params))
		return proposal_refused(err, errlen, AGENTD_EINVAL,
		    "params is not one msgpack map: write it with "
		    "agentd_write_map() (<agentd/msg.h>)");
	return 0;
}

/* ---- settings --------------------------------------------------------- */

static const struct {
	enum agentd_setting_type type;
	const char              *name;
} setting_types[] = {
	{ AGENTD_SETTING_STRING, "string" },
	{ AGENTD_SETTING_INT, "int" },
	{ AGENTD_SETTING_DOUBLE, "double" },
	{ AGENTD_SETTING_BOOL, "bool" },
};

#define NTYPES (sizeof(setting_types) / sizeof(setting_types[0]))

const char *
ad_setting_type_name(enum agentd_setting_type t)
{
	size_t i;

	for (i = 0; i < NTYPES; i++)
		if (setting_types[i].type == t)
			return setting_types[i].name;
	return NULL;
}

enum agentd_setting_type
ad_setting_type_parse(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < NTYPES; i++)
		if (strcmp(setting_types[i].name, name) == 0)
			return setting_types[i].type;
	return (enum agentd_setting_type)0;
}

static int
parse_bool(const char *s, int *b)
{
	static const char *yes[] = { "true", "yes", "on" };
	static const char *no[]  = { "false", "no", "off" };
	size_t             i;

	for (i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *b = 1, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *b = 0, 0;
	}
	return -1;
}

int
ad_setting_parse(const char *text, struct ad_setting_value *v)
{
	char *end;

	errno = 0;
	switch (v->type) {
	case AGENTD_SETTING_STRING:
		return 0;
	case AGENTD_SETTING_INT:
		if (!isdigit((unsigned char)text[0]) && text[0] != '-'
		    && text[0] != '+')
			return -1;
		v->v.i = strtoll(text, &end, 10);
		return *end == '\0' && errno == 0 ? 0 : -1;
	case AGENTD_SETTING_DOUBLE:
		if (isspace((unsigned char)text[0]) || text[0] == '\0')
			return -1;
		v->v.d = strtod(text, &end);
		return *end == '\0' && errno == 0 && isfinite(v->v.d) ? 0 : -1;
	case AGENTD_SETTING_BOOL:
		return parse_bool(text, &v->v.b);
	}
	return -1;
}

int
ad_setting_get(const struct ad_setting_value *set, size_t n, const char *name,
    enum agentd_setting_type t, void *out)
{
	const struct ad_setting_value *s;
	size_t                         i;

	for (i = 0; name != NULL && i < n; i++) {
		s = &set[i];
		if (strcmp(s->name, name) != 0)
			continue;
		if (s->type != t)
			return AGENTD_EINVAL;
		switch (t) {
		case AGENTD_SETTING_STRING:
			*(const char **)out = s->v.s;
			break;
		case AGENTD_SETTING_INT:
			*(int64_t *)out = s->v.i;
			break;
		case AGENTD_SETTING_DOUBLE:
			*(double *)out = s->v.d;
			break;
		case AGENTD_SETTING_BOOL:
			*(int *)out = s->v.b;
			break;
		}
		return 0;
	}
	return AGENTD_ENOENT;
}

/* ---- the host table ---------------------------------------------------- */

void
ad_host_free(void *p)
{
	free(p);
}

/* ---- the descriptor --------------------------------------------------- */

enum ad_desc_fault
ad_desc_check_head(const struct agentd_plugin *d, size_t avail)
{
	if (avail < offsetof(struct agentd_plugin, name)
	    || d->magic != AGENTD_PLUGIN_MAGIC)
		return AD_DESC_MAGIC;
	if (d->abi_major != AGENTD_ABI_MAJOR)
		return AD_DESC_MAJOR;
	if (d->size < AD_DESC_MIN_SIZE || d->size > avail)
		return AD_DESC_SIZE;
	return AD_DESC_OK;
}

enum ad_desc_fault
ad_desc_check_fields(
    const struct agentd_plugin *d, const struct agentd_setting **bad)
{
	const struct agentd_setting *s;

	if (!ad_valid_name(d->name))
		return AD_DESC_NAME;
	if (d->version == NULL || d->version[0] == '\0')
		return AD_DESC_VERSION;
	if (d->on_request == NULL)
		return AD_DESC_ON_REQUEST;
	for (s = d->settings; s != NULL && s->name != NULL; s++) {
		if (ad_setting_type_name(s->type) == NULL) {
			if (bad != NULL)
				*bad = s;
			return AD_DESC_SETTING_TYPE;
		}
	}
	return ad_desc_check_capabilities(d, NULL);
}

enum ad_desc_fault
ad_desc_check_capabilities(const struct agentd_plugin *d, size_t *bad)
{
	const char *const *c = d->capabilities;
	size_t             i;

	/* Never past AGENTD_CAPABILITIES_MAX + 1 entries: a list that lost
	 * its NULL is refused, not read on. */
	for (i = 0; c != NULL && c[i] != NULL; i++) {
		if (bad != NULL)
			*bad = i;
		if (i == AGENTD_CAPABILITIES_MAX)
			return AD_DESC_CAPABILITIES;
		if (!ad_valid_capability(c[i]))
			return AD_DESC_CAPABILITY;
	}
	return AD_DESC_OK;
}

/*
 * Bytes the symbol at addr really occupies, from the ELF symbol table, so
 * that a symbol of the right name but the wrong shape is never read past
 * its end.  0 if unknown.
 */
static size_t
symbol_size(const void *addr)
{
	Dl_info info;
	ElfW(Sym) *sym = NULL;

	if (dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT) == 0
	    || sym == NULL)
		return 0;
	return sym->st_size;
}

/* The ABI major of another descriptor symbol in dl, or -1. */
static int
other_major(void *dl)
{
	char sym[32];
	int  major;

	for (major = 0; major < 64; major++) {
		if (major == AGENTD_ABI_MAJOR)
			continue;
		snprintf(sym, sizeof(sym), "agentd_plugin_v%d", major);
		if (dlsym(dl, sym) != NULL)
			return major;
	}
	return -1;
}

#define CONTRACT_STR_(x) #x
#define CONTRACT_STR(x) CONTRACT_STR_(x)

const struct agentd_plugin *
ad_desc_find(void *dl, size_t *avail, int *other)
{
	const struct agentd_plugin *d;

	d      = dlsym(dl, CONTRACT_STR(AGENTD_PLUGIN_SYMBOL));
	*avail = d != NULL ? symbol_size(d) : 0;
	*other = d == NULL ? other_major(dl) : -1;
	return d;
}

/* ---- a failed call's message ------------------------------------------ */

void
ad_call_error_line(const char *s, size_t len, char out[AD_CALL_ERROR_MAX + 1])
{
	size_t i;

	if (s == NULL)
		len = 0;
	if (len > AD_CALL_ERROR_MAX) {
		len = AD_CALL_ERROR_MAX;
		/* Cut where a character starts, not inside one. */
		while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
			len--;
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		out[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
	}
	out[len] = '\0';
}

void
ad_call_error_text(const void *body, size_t len, const char *fallback,
    char out[AD_CALL_ERROR_MAX + 1])
{
	agentd_doc *doc;
	const char *s;
	size_t      n;

	if (body != NULL && len > 0 && agentd_parse(body, len, &doc) == 0) {
		if (agentd_get_str(
		        agentd_map_get(agentd_doc_root(doc), "error"), &s, &n)
		        == 0
		    && n > 0) {
			ad_call_error_line(s, n, out);
			agentd_doc_free(doc);
			return;
		}
		agentd_doc_free(doc);
	}
	ad_call_error_line(fallback, fallback ? strlen(fallback) : 0, out);
}

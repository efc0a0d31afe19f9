/*
 * prompt - a language model's messages, from templates and fields.
 *
 * A request
 *   {"user": TEMPLATE, "system": TEMPLATE (optional), NAME: VALUE, ...}
 * answers
 *   {"messages": [{"role": "system", "content": TEXT},
 *                 {"role": "user", "content": TEXT}]}
 * which is the part of the llm agent's request (doc/llm.md) that a
 * workflow's step cannot write itself: the flow agent builds a request
 * from fields, and the llm agent wants an array of maps.  A step
 * calls prompt with the run's data as fields, the next step calls llm
 * with "messages = $prompt.messages" (doc/examples.md, ai-engine).
 *
 * In a template, {NAME} is the request's field NAME (1 to 63 of
 * [A-Za-z0-9_.-]): a string as it is, a number as written in decimal,
 * true or false.  {{ and }} are a brace.  A missing field, a field of
 * another type (a map, an array, nil, bytes), a brace that opens or
 * closes no {NAME}, and a text past PROMPT_TEXT_MAX answer AGENTD_EINVAL
 * (AGENTD_ETOOBIG for the size) with one line naming the template and
 * the field, also logged as a warning with the caller: a workflow's run
 * records the code of a failed call, not its line.  The agent keeps
 * nothing between requests.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/agent.h>
#include <agentd/llm.h>
#include <agentd/msg.h>

/* The longest text one template may fill to, in bytes. */
#define PROMPT_TEXT_MAX (256 * 1024)
#define PROMPT_NAME_MAX 63

struct prompt {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
};

/* A growing NUL-terminated text; caller owns s, free with free(). */
struct text {
	char  *s;
	size_t len;
	size_t cap;
};

static int
text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n > PROMPT_TEXT_MAX)
		return AGENTD_ETOOBIG;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 256;
		char  *p;

		while (cap < t->len + n + 1)
			cap *= 2;
		if ((p = realloc(t->s, cap)) == NULL)
			return AGENTD_ENOMEM;
		t->s   = p;
		t->cap = cap;
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
	return 0;
}

static int
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	    || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* One field's value as text, appended to t; an error line in why. */
static int
add_value(struct text *t, const agentd_value *v, const char *which,
    const char *name, char *why, size_t whylen)
{
	char        num[64];
	const char *s;
	size_t      n;
	int64_t     i;
	uint64_t    u;
	double      d;
	int         b;

	switch (agentd_type_of(v)) {
	case AGENTD_T_STR:
		agentd_get_str(v, &s, &n);
		if (memchr(s, '\0', n) != NULL) {
			snprintf(why, whylen,
			    "prompt: {%s} in \"%s\": the field holds a NUL "
			    "byte",
			    name, which);
			return AGENTD_EINVAL;
		}
		return text_add(t, s, n);
	case AGENTD_T_INT:
		if (agentd_get_int(v, &i) == 0)
			snprintf(num, sizeof(num), "%" PRId64, i);
		else if (agentd_get_uint(v, &u) == 0)
			snprintf(num, sizeof(num), "%" PRIu64, u);
		return text_add(t, num, strlen(num));
	case AGENTD_T_DOUBLE:
		agentd_get_double(v, &d);
		snprintf(num, sizeof(num), "%.15g", d);
		return text_add(t, num, strlen(num));
	case AGENTD_T_BOOL:
		agentd_get_bool(v, &b);
		return text_add(t, b ? "true" : "false", b ? 4 : 5);
	default:
		snprintf(why, whylen,
		    "prompt: {%s} in \"%s\": %s; a template takes strings, "
		    "numbers and booleans",
		    name, which,
		    v == NULL
		        ? "the request has no such field"
		        : "the field is not a string, number or boolean");
		return AGENTD_EINVAL;
	}
}

/* The length of the NAME of a {NAME} at tpl[j] (a '{'), or 0 if there
 * is none there. */
static size_t
field_len(const char *tpl, size_t j, size_t n)
{
	size_t k = j + 1;

	while (k < n && k - j <= PROMPT_NAME_MAX && name_char(tpl[k]))
		k++;
	if (k == n || tpl[k] != '}' || k == j + 1)
		return 0;
	return k - j - 1;
}

/*
 * Fill template tpl[0..n) (the request's field "which") with the fields
 * of req into out.  0, or an error with its line in why.
 */
static int
fill(const agentd_value *req, const char *which, const char *tpl, size_t n,
    struct text *out, char *why, size_t whylen)
{
	char   name[PROMPT_NAME_MAX + 1];
	size_t i  = 0, j, len;
	int    rv = 0;

	while (rv == 0 && i < n) {
		for (j = i; j < n && tpl[j] != '{' && tpl[j] != '}'; j++)
			;
		if ((rv = text_add(out, tpl + i, j - i)) != 0 || j == n)
			break;
		if (j + 1 < n && tpl[j + 1] == tpl[j]) { /* {{ or }} */
			rv = text_add(out, tpl + j, 1);
			i  = j + 2;
			continue;
		}
		if (tpl[j] == '}' || (len = field_len(tpl, j, n)) == 0) {
			snprintf(why, whylen,
			    "prompt: \"%s\", byte %zu: a lone \"%c\": write "
			    "{NAME} for a field (NAME: 1 to 63 of "
			    "[A-Za-z0-9_.-]), {{ or }} for a brace",
			    which, j + 1, tpl[j]);
			return AGENTD_EINVAL;
		}
		memcpy(name, tpl + j + 1, len);
		name[len] = '\0';
		i         = j + len + 2;

		rv = add_value(
		    out, agentd_map_get(req, name), which, name, why, whylen);
	}
	if (rv == AGENTD_ETOOBIG)
		snprintf(why, whylen,
		    "prompt: \"%s\" fills to more than %d bytes", which,
		    PROMPT_TEXT_MAX);
	else if (rv == AGENTD_ENOMEM)
		snprintf(why, whylen, "prompt: out of memory");
	return rv;
}

/* The template "which" of req, filled, appended to q as the message of
 * role "which"; a missing optional template adds nothing. */
static int
add_filled(agentd_llm_request *q, const agentd_value *req, const char *which,
    int required, char *why, size_t whylen)
{
	const agentd_value *v    = agentd_map_get(req, which);
	struct text         text = { 0 };
	const char         *tpl;
	size_t              n;
	int                 rv;

	if (v == NULL && !required)
		return 0;
	if (agentd_get_str(v, &tpl, &n) != 0) {
		snprintf(why, whylen, "prompt: \"%s\" must be a string%s",
		    which, v == NULL ? " (the template of the message)" : "");
		return AGENTD_EINVAL;
	}
	if ((rv = fill(req, which, tpl, n, &text, why, whylen)) == 0
	    && (rv = text_add(&text, "", 0)) == 0)
		rv = agentd_llm_add_message(q, which, text.s);
	free(text.s);
	return rv;
}

static const char *
caller_of(struct prompt *p, agentd_request *req)
{
	const char *who = p->host->request_caller(p->ctx, req);

	return who != NULL ? who : "?";
}

static int
prompt_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct prompt      *p = state;
	agentd_llm_request *q;
	agentd_doc         *doc = NULL;
	const void         *out;
	size_t              outlen;
	char                why[512];
	int                 rv;

	if (agentd_parse(body, len, &doc) != 0
	    || agentd_type_of(agentd_doc_root(doc)) != AGENTD_T_MAP) {
		if (doc != NULL)
			agentd_doc_free(doc);
		return p->host->reply_error(p->ctx, req, AGENTD_EPROTO,
		    "prompt: the request is not one msgpack map");
	}
	agentd_llm_request_new(NULL, &q);
	why[0] = '\0';
	if ((rv = add_filled(
	         q, agentd_doc_root(doc), "system", 0, why, sizeof(why)))
	        == 0
	    && (rv = add_filled(
	            q, agentd_doc_root(doc), "user", 1, why, sizeof(why)))
	        == 0
	    && (rv = agentd_llm_request_encode(q, &out, &outlen)) == 0)
		rv = p->host->reply(p->ctx, req, out, outlen);
	else {
		if (why[0] == '\0')
			snprintf(why, sizeof(why), "prompt: %s",
			    agentd_strerror(rv));
		/* The caller gets the line (a workflow through
		 * host->call_error); the log says who called. */
		p->host->log(p->ctx, AGENTD_LOG_WARN, "%s (caller %s)", why,
		    caller_of(p, req));
		rv = p->host->reply_error(p->ctx, req, rv, why);
	}
	agentd_llm_request_free(q);
	agentd_doc_free(doc);
	return rv;
}

static int
prompt_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct prompt *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return AGENTD_ENOMEM;
	p->ctx  = ctx;
	p->host = host;
	*state  = p;
	return 0;
}

static void
prompt_fini(void *state)
{
	free(state);
}

AGENTD_PLUGIN(.name = "prompt", .version = "1.0.0",
    .description = "a language model's messages from templates and fields",
    .init = prompt_init, .on_request = prompt_request, .fini = prompt_fini);

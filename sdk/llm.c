/*
 * <agentd/llm.h>: the llm agent's request and reply (doc/llm.md) on the
 * writers and readers of msg.h.  Each message and tool is kept as its own
 * encoded msgpack value, so a call that fails appends nothing, and
 * encoding only frames them.
 */
#include "config.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/llm.h>
#include <agentd/msg.h>

struct blob {
	void  *p;
	size_t len;
};

struct blobs {
	struct blob *v;
	size_t       n, cap;
};

struct agentd_llm_request {
	char          *route, *conversation;
	int64_t        max_tokens; /* 0: not sent */
	double         temperature;
	int            has_temperature, json;
	struct blobs   messages, tools;
	agentd_writer *out;
};

static void *
llm_alloc(size_t n)
{
	void *p = calloc(1, n != 0 ? n : 1);

	if (p == NULL) {
		fprintf(stderr, "agentd sdk: out of memory (%zu bytes)\n", n);
		abort();
	}
	return p;
}

static char *
llm_strndup(const char *s, size_t n)
{
	char *d = llm_alloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* Move what w holds into a new blob of b, then reset w. */
static void
blobs_take(struct blobs *b, agentd_writer *w)
{
	const void *p;
	size_t      len;

	if (b->n == b->cap) {
		size_t       cap = b->cap != 0 ? b->cap * 2 : 4;
		struct blob *v   = realloc(b->v, cap * sizeof(*v));

		if (v == NULL) {
			fprintf(stderr, "agentd sdk: out of memory\n");
			abort();
		}
		b->v   = v;
		b->cap = cap;
	}
	p            = agentd_writer_data(w, &len);
	b->v[b->n].p = llm_alloc(len);
	memcpy(b->v[b->n].p, p, len);
	b->v[b->n].len = len;
	b->n++;
	agentd_writer_reset(w);
}

static void
blobs_free(struct blobs *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->v[i].p);
	free(b->v);
}

int
agentd_llm_request_new(const char *route, agentd_llm_request **req)
{
	agentd_llm_request *q;

	if (req == NULL)
		return AGENTD_EINVAL;
	*req = NULL;
	if (route != NULL && route[0] == '\0')
		return AGENTD_EINVAL;
	q = llm_alloc(sizeof(*q));
	if (route != NULL)
		q->route = llm_strndup(route, strlen(route));
	agentd_writer_new(&q->out);
	*req = q;
	return 0;
}

void
agentd_llm_request_free(agentd_llm_request *req)
{
	if (req == NULL)
		return;
	free(req->route);
	free(req->conversation);
	blobs_free(&req->messages);
	blobs_free(&req->tools);
	agentd_writer_free(req->out);
	free(req);
}

static void
write_kv(agentd_writer *w, const char *k, const char *v)
{
	agentd_write_str(w, k);
	agentd_write_str(w, v);
}

int
agentd_llm_add_message(
    agentd_llm_request *req, const char *role, const char *content)
{
	agentd_writer *w;

	if (req == NULL || role == NULL || content == NULL
	    || (strcmp(role, "system") != 0 && strcmp(role, "user") != 0
	        && strcmp(role, "assistant") != 0))
		return AGENTD_EINVAL;
	w = req->out;
	agentd_writer_reset(w);
	agentd_write_map(w, 2);
	write_kv(w, "role", role);
	write_kv(w, "content", content);
	blobs_take(&req->messages, w);
	return 0;
}

int
agentd_llm_add_assistant(agentd_llm_request *req, const char *content,
    const struct agentd_llm_tool_call *calls, size_t n)
{
	agentd_writer *w;

	if (req == NULL || calls == NULL || n == 0 || n > UINT32_MAX)
		return AGENTD_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (calls[i].id == NULL || calls[i].name == NULL
		    || calls[i].arguments == NULL)
			return AGENTD_EINVAL;
	w = req->out;
	agentd_writer_reset(w);
	agentd_write_map(w, 3);
	write_kv(w, "role", "assistant");
	write_kv(w, "content", content != NULL ? content : "");
	agentd_write_str(w, "tool_calls");
	agentd_write_array(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		agentd_write_map(w, 3);
		write_kv(w, "id", calls[i].id);
		write_kv(w, "name", calls[i].name);
		write_kv(w, "arguments", calls[i].arguments);
	}
	blobs_take(&req->messages, w);
	return 0;
}

int
agentd_llm_add_tool_result(
    agentd_llm_request *req, const char *tool_call_id, const char *content)
{
	agentd_writer *w;

	if (req == NULL || tool_call_id == NULL || tool_call_id[0] == '\0'
	    || content == NULL)
		return AGENTD_EINVAL;
	w = req->out;
	agentd_writer_reset(w);
	agentd_write_map(w, 3);
	write_kv(w, "role", "tool");
	write_kv(w, "tool_call_id", tool_call_id);
	write_kv(w, "content", content);
	blobs_take(&req->messages, w);
	return 0;
}

int
agentd_llm_set_max_tokens(agentd_llm_request *req, int64_t max_tokens)
{
	if (req == NULL || max_tokens < 1)
		return AGENTD_EINVAL;
	req->max_tokens = max_tokens;
	return 0;
}

int
agentd_llm_set_temperature(agentd_llm_request *req, double temperature)
{
	if (req == NULL || !(temperature >= 0 && temperature <= 2))
		return AGENTD_EINVAL;
	req->temperature     = temperature;
	req->has_temperature = 1;
	return 0;
}

int
agentd_llm_set_json(agentd_llm_request *req, int on)
{
	if (req == NULL)
		return AGENTD_EINVAL;
	req->json = on != 0;
	return 0;
}

int
agentd_llm_set_conversation(agentd_llm_request *req, const char *id)
{
	if (req == NULL || (id != NULL && (id[0] == '\0' || strlen(id) > 128)))
		return AGENTD_EINVAL;
	free(req->conversation);
	req->conversation = id != NULL ? llm_strndup(id, strlen(id)) : NULL;
	return 0;
}

/* ---- JSON text to msgpack ------------------------------------------------
 * Just enough JSON (RFC 8259, strict) for a tool's parameters schema. */

struct jp {
	const char    *s;
	agentd_writer *w;
	int            depth;
};

static void
jp_ws(struct jp *j)
{
	while (*j->s == ' ' || *j->s == '\t' || *j->s == '\n' || *j->s == '\r')
		j->s++;
}

static int jp_value(struct jp *j);

static int
jp_hex4(const char *s, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t
utf8_put(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string at j->s (on its opening quote), unescaped and written. */
static int
jp_string(struct jp *j)
{
	const char *p = j->s + 1;
	char       *buf, *o;
	int         rv = -1;

	buf = o = llm_alloc(strlen(p) + 1); /* unescaping never grows */
	for (;;) {
		unsigned char c = (unsigned char)*p;

		if (c == '"')
			break;
		if (c < 0x20)
			goto out;
		if (c != '\\') {
			*o++ = (char)c;
			p++;
			continue;
		}
		p++;
		switch (*p) {
		case '"':
			*o++ = '"';
			break;
		case '\\':
			*o++ = '\\';
			break;
		case '/':
			*o++ = '/';
			break;
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u': {
			unsigned cp, lo;

			if (jp_hex4(p + 1, &cp) != 0)
				goto out;
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (p[1] != '\\' || p[2] != 'u'
				    || jp_hex4(p + 3, &lo) != 0 || lo < 0xdc00
				    || lo >= 0xe000)
					goto out;
				cp = 0x10000 + ((cp - 0xd800) << 10)
				    + (lo - 0xdc00);
				p += 6;
			} else if (cp >= 0xdc00 && cp < 0xe000)
				goto out;
			o += utf8_put(o, cp);
			break;
		}
		default:
			goto out;
		}
		p++;
	}
	agentd_write_strn(j->w, buf, (size_t)(o - buf));
	j->s = p + 1;
	rv   = 0;
out:
	free(buf);
	return rv;
}

static int
jp_number(struct jp *j)
{
	const char *p = j->s;
	char       *end;
	int         real = 0;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return -1;
	if (*p == '.') {
		real = 1;
		if (!(*++p >= '0' && *p <= '9'))
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		real = 1;
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (!real) {
		long long v = strtoll(j->s, &end, 10);

		if (end == p && !(v == LLONG_MAX || v == LLONG_MIN)) {
			agentd_write_int(j->w, v);
			j->s = p;
			return 0;
		}
	}
	agentd_write_double(j->w, strtod(j->s, &end));
	j->s = p;
	return 0;
}

static int
jp_word(struct jp *j, const char *word)
{
	size_t n = strlen(word);

	if (strncmp(j->s, word, n) != 0)
		return -1;
	j->s += n;
	return 0;
}

static int
jp_container(struct jp *j, char close)
{
	int first = 1;

	if (++j->depth > AGENTD_MSG_MAX_DEPTH - 2)
		return -1;
	j->s++;
	close == '}' ? agentd_write_map_begin(j->w)
	             : agentd_write_array_begin(j->w);
	for (;;) {
		jp_ws(j);
		if (*j->s == close && first)
			break;
		if (close == '}') {
			if (*j->s != '"' || jp_string(j) != 0)
				return -1;
			jp_ws(j);
			if (*j->s++ != ':')
				return -1;
		}
		if (jp_value(j) != 0)
			return -1;
		jp_ws(j);
		first = 0;
		if (*j->s == ',') {
			j->s++;
			continue;
		}
		if (*j->s != close)
			return -1;
		break;
	}
	j->s++;
	j->depth--;
	return close == '}' ? agentd_write_map_end(j->w)
	                    : agentd_write_array_end(j->w);
}

static int
jp_value(struct jp *j)
{
	jp_ws(j);
	switch (*j->s) {
	case '{':
		return jp_container(j, '}');
	case '[':
		return jp_container(j, ']');
	case '"':
		return jp_string(j);
	case 't':
		return jp_word(j, "true") == 0 ? agentd_write_bool(j->w, 1)
		                               : -1;
	case 'f':
		return jp_word(j, "false") == 0 ? agentd_write_bool(j->w, 0)
		                                : -1;
	case 'n':
		return jp_word(j, "null") == 0 ? agentd_write_nil(j->w) : -1;
	default:
		return jp_number(j);
	}
}

/* One JSON object in text, written to w (which is left incomplete, to be
 * reset, on failure). */
static int
json_object_to_mp(agentd_writer *w, const char *text)
{
	struct jp j = { .s = text, .w = w };

	jp_ws(&j);
	if (*j.s != '{' || jp_value(&j) != 0)
		return -1;
	jp_ws(&j);
	return *j.s == '\0' ? 0 : -1;
}

int
agentd_llm_add_tool(agentd_llm_request *req, const char *name,
    const char *description, const char *parameters)
{
	agentd_writer *w;

	if (req == NULL || name == NULL || name[0] == '\0')
		return AGENTD_EINVAL;
	w = req->out;
	agentd_writer_reset(w);
	agentd_write_map(w, 2);
	write_kv(w, "type", "function");
	agentd_write_str(w, "function");
	agentd_write_map(w, description != NULL ? 3 : 2);
	write_kv(w, "name", name);
	if (description != NULL)
		write_kv(w, "description", description);
	agentd_write_str(w, "parameters");
	if (json_object_to_mp(w,
	        parameters != NULL ? parameters
	                           : "{\"type\":\"object\",\"properties\":{}}")
	    != 0) {
		/* Rebuild the writer: what it holds is incomplete. */
		agentd_writer_free(w);
		agentd_writer_new(&req->out);
		return AGENTD_EINVAL;
	}
	blobs_take(&req->tools, w);
	return 0;
}

static void
write_blobs(agentd_writer *w, const char *key, const struct blobs *b)
{
	agentd_write_str(w, key);
	agentd_write_array(w, (uint32_t)b->n);
	for (size_t i = 0; i < b->n; i++)
		agentd_write_raw(w, b->v[i].p, b->v[i].len);
}

int
agentd_llm_request_encode(
    agentd_llm_request *req, const void **body, size_t *len)
{
	agentd_writer *w;

	if (req == NULL || body == NULL || len == NULL || req->messages.n == 0)
		return AGENTD_EINVAL;
	w = req->out;
	agentd_writer_reset(w);
	agentd_write_map_begin(w);
	if (req->route != NULL)
		write_kv(w, "route", req->route);
	write_blobs(w, "messages", &req->messages);
	if (req->max_tokens > 0) {
		agentd_write_str(w, "max_tokens");
		agentd_write_int(w, req->max_tokens);
	}
	if (req->has_temperature) {
		agentd_write_str(w, "temperature");
		agentd_write_double(w, req->temperature);
	}
	if (req->json) {
		agentd_write_str(w, "response_format");
		agentd_write_map(w, 1);
		write_kv(w, "type", "json_object");
	}
	if (req->tools.n > 0)
		write_blobs(w, "tools", &req->tools);
	if (req->conversation != NULL)
		write_kv(w, "conversation", req->conversation);
	agentd_write_map_end(w);
	*body = agentd_writer_data(w, len);
	return 0;
}

/* ---- the reply ----------------------------------------------------------
 */

/* A string field into an owned copy; absent gives "". */
static int
get_owned(const agentd_value *m, const char *key, char **out)
{
	const agentd_value *v = agentd_map_get(m, key);
	const char         *s = "";
	size_t              n = 0;

	if (v != NULL && (agentd_get_str(v, &s, &n) != 0 || memchr(s, 0, n)))
		return -1;
	*out = llm_strndup(s, n);
	return 0;
}

static int
get_num(const agentd_value *m, const char *key, int64_t *out)
{
	const agentd_value *v = agentd_map_get(m, key);

	*out = 0;
	return v == NULL || agentd_get_int(v, out) == 0 ? 0 : -1;
}

static int
get_calls(const agentd_value *m, agentd_llm_reply *r)
{
	const agentd_value *a = agentd_map_get(m, "tool_calls");
	size_t              n;

	if (a == NULL || agentd_type_of(a) == AGENTD_T_NIL)
		return 0;
	if (agentd_type_of(a) != AGENTD_T_ARRAY)
		return -1;
	n = agentd_len(a);
	if (n == 0)
		return 0;
	r->tool_calls = llm_alloc(n * sizeof(*r->tool_calls));
	for (size_t i = 0; i < n; i++) {
		const agentd_value *c = agentd_array_at(a, i);
		char               *id, *name, *args;

		if (agentd_type_of(c) != AGENTD_T_MAP)
			return -1;
		if (get_owned(c, "id", &id) != 0)
			return -1;
		r->tool_calls[i].id = id;
		r->ntool_calls      = i + 1;
		if (get_owned(c, "name", &name) != 0)
			return -1;
		r->tool_calls[i].name = name;
		if (get_owned(c, "arguments", &args) != 0)
			return -1;
		r->tool_calls[i].arguments = args;
	}
	return 0;
}

int
agentd_llm_reply_parse(const void *body, size_t len, agentd_llm_reply **reply)
{
	agentd_doc         *doc;
	const agentd_value *m, *u;
	agentd_llm_reply   *r;
	int64_t             fb;
	int                 bad;

	if (reply == NULL)
		return AGENTD_EINVAL;
	*reply = NULL;
	if (body == NULL && len != 0)
		return AGENTD_EINVAL;
	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EPROTO;
	m = agentd_doc_root(doc);
	if (agentd_type_of(m) != AGENTD_T_MAP
	    || agentd_type_of(agentd_map_get(m, "text")) != AGENTD_T_STR) {
		agentd_doc_free(doc);
		return AGENTD_EPROTO;
	}
	r   = llm_alloc(sizeof(*r));
	u   = agentd_map_get(m, "usage");
	bad = get_owned(m, "text", &r->text) != 0
	    || get_owned(m, "provider", &r->provider) != 0
	    || get_owned(m, "model", &r->model) != 0
	    || get_owned(m, "finish_reason", &r->finish_reason) != 0
	    || get_owned(m, "route", &r->route) != 0
	    || (u != NULL && agentd_type_of(u) != AGENTD_T_MAP)
	    || get_num(u, "prompt_tokens", &r->prompt_tokens) != 0
	    || get_num(u, "completion_tokens", &r->completion_tokens) != 0
	    || get_num(m, "latency_ms", &r->latency_ms) != 0
	    || get_num(m, "fallbacks", &fb) != 0 || fb < 0
	    || get_calls(m, r) != 0;
	r->fallbacks = fb > 0 ? (uint64_t)fb : 0;
	agentd_doc_free(doc);
	if (bad) {
		agentd_llm_reply_free(r);
		return AGENTD_EPROTO;
	}
	*reply = r;
	return 0;
}

void
agentd_llm_reply_free(agentd_llm_reply *reply)
{
	if (reply == NULL)
		return;
	free(reply->text);
	free(reply->provider);
	free(reply->model);
	free(reply->finish_reason);
	free(reply->route);
	for (size_t i = 0; i < reply->ntool_calls; i++) {
		free((char *)reply->tool_calls[i].id);
		free((char *)reply->tool_calls[i].name);
		free((char *)reply->tool_calls[i].arguments);
	}
	free(reply->tool_calls);
	free(reply);
}

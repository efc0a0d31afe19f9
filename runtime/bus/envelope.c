#include "config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "bus/envelope.h"
#include "common/nngx.h"

static int
put_str(agentd_writer *w, const char *key, const char *val)
{
	int rv;

	if ((rv = agentd_write_str(w, key)) != 0)
		return rv;
	return agentd_write_str(w, val);
}

static int
put_int(agentd_writer *w, const char *key, int64_t val)
{
	int rv;

	if ((rv = agentd_write_str(w, key)) != 0)
		return rv;
	return agentd_write_int(w, val);
}

static int
put_uint(agentd_writer *w, const char *key, uint64_t val)
{
	int rv;

	if ((rv = agentd_write_str(w, key)) != 0)
		return rv;
	return agentd_write_uint(w, val);
}

int
ad_envelope_encode(const struct ad_envelope *e, agentd_writer *w)
{
	uint32_t n = 5; /* v, id, k, dst, b: always present */
	int      rv;

	n += e->src[0] != '\0';
	n += e->src_instance[0] != '\0';
	n += e->correlation != 0;
	n += e->deadline_ms != 0;
	n += e->status != 0;
	if ((rv = agentd_write_map(w, n)) != 0
	    || (rv = put_uint(w, "v", AD_ENVELOPE_VERSION)) != 0
	    || (rv = put_uint(w, "id", e->id)) != 0
	    || (rv = put_uint(w, "k", (uint64_t)e->kind)) != 0
	    || (rv = put_str(w, "dst", e->dst)) != 0)
		return rv;
	if (e->src[0] != '\0' && (rv = put_str(w, "src", e->src)) != 0)
		return rv;
	if (e->src_instance[0] != '\0'
	    && (rv = put_str(w, "si", e->src_instance)) != 0)
		return rv;
	if (e->correlation != 0
	    && (rv = put_uint(w, "cid", e->correlation)) != 0)
		return rv;
	if (e->deadline_ms != 0
	    && (rv = put_int(w, "dl", e->deadline_ms)) != 0)
		return rv;
	if (e->status != 0 && (rv = put_int(w, "st", e->status)) != 0)
		return rv;
	if ((rv = agentd_write_str(w, "b")) != 0)
		return rv;
	return agentd_write_bin(w, e->body, e->body ? e->body_len : 0);
}

/* Copy a string field into a fixed buffer; too long is malformed. */
static int
get_name(const agentd_value *v, char *buf, size_t size)
{
	const char *s;
	size_t      len;

	if (agentd_get_str(v, &s, &len) != 0 || len >= size
	    || memchr(s, '\0', len) != NULL)
		return AGENTD_EPROTO;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return 0;
}

static int
get_u64(const agentd_value *v, uint64_t *out)
{
	return agentd_get_uint(v, out) == 0 ? 0 : AGENTD_EPROTO;
}

/* One known key; unknown keys are skipped so newer peers can add some. */
static int
decode_field(const char *key, size_t klen, const agentd_value *v,
    struct ad_envelope *e, unsigned *seen)
{
	uint64_t u;
	int64_t  i;

#define KEY(s) (klen == sizeof(s) - 1 && memcmp(key, s, klen) == 0)
	if (KEY("v")) {
		*seen |= 1;
		if (get_u64(v, &u) != 0 || u != AD_ENVELOPE_VERSION)
			return AGENTD_EPROTO;
		e->version = (unsigned)u;
	} else if (KEY("id")) {
		*seen |= 2;
		return get_u64(v, &e->id);
	} else if (KEY("k")) {
		*seen |= 4;
		if (get_u64(v, &u) != 0 || u < AD_KIND_REQUEST
		    || u > AD_KIND_CONTROL)
			return AGENTD_EPROTO;
		e->kind = (enum ad_kind)u;
	} else if (KEY("dst")) {
		*seen |= 8;
		return get_name(v, e->dst, sizeof(e->dst));
	} else if (KEY("b")) {
		*seen |= 16;
		if (agentd_get_bin(v, &e->body, &e->body_len) != 0)
			return AGENTD_EPROTO;
	} else if (KEY("src")) {
		return get_name(v, e->src, sizeof(e->src));
	} else if (KEY("si")) {
		return get_name(v, e->src_instance, sizeof(e->src_instance));
	} else if (KEY("cid")) {
		return get_u64(v, &e->correlation);
	} else if (KEY("dl")) {
		if (agentd_get_int(v, &e->deadline_ms) != 0
		    || e->deadline_ms < 0)
			return AGENTD_EPROTO;
	} else if (KEY("st")) {
		if (agentd_get_int(v, &i) != 0 || i < 0 || i > 0xffff)
			return AGENTD_EPROTO;
		e->status = (int)i;
	}
#undef KEY
	return 0;
}

int
ad_envelope_decode_prefix(const void *buf, size_t len, size_t max_len,
    struct ad_envelope *e, size_t *used)
{
	agentd_doc         *doc;
	const agentd_value *root;
	unsigned            seen = 0;
	size_t              i, n;
	int                 rv;

	memset(e, 0, sizeof(*e));
	if (len > max_len)
		return AGENTD_ETOOBIG;
	if (agentd_parse_prefix(buf, len, &doc, used) != 0)
		return AGENTD_EPROTO;
	root = agentd_doc_root(doc);
	rv   = agentd_type_of(root) == AGENTD_T_MAP ? 0 : AGENTD_EPROTO;
	n    = agentd_len(root);
	for (i = 0; rv == 0 && i < n; i++) {
		const char *key;
		size_t      klen;

		if (agentd_get_str(agentd_map_key_at(root, i), &key, &klen)
		    != 0)
			rv = AGENTD_EPROTO;
		else
			rv = decode_field(
			    key, klen, agentd_map_value_at(root, i), e, &seen);
	}
	/* The body points into buf, which outlives the doc. */
	agentd_doc_free(doc);
	if (rv == 0 && seen != 31)
		rv = AGENTD_EPROTO;
	if (rv != 0)
		memset(e, 0, sizeof(*e));
	return rv;
}

int
ad_envelope_decode(
    const void *buf, size_t len, size_t max_len, struct ad_envelope *e)
{
	size_t used;
	int    rv;

	rv = ad_envelope_decode_prefix(buf, len, max_len, e, &used);
	if (rv == 0 && used != len) {
		memset(e, 0, sizeof(*e));
		rv = AGENTD_EPROTO;
	}
	return rv;
}

void
ad_envelope_reply(struct ad_envelope *r, uint64_t request_id, const char *to,
    int status, const void *body, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->id          = ad_envelope_next_id();
	r->kind        = AD_KIND_REPLY;
	r->correlation = request_id;
	r->status      = status;
	r->body        = body;
	r->body_len    = len;
	snprintf(r->dst, sizeof(r->dst), "%s", to);
}

uint64_t
ad_envelope_next_id(void)
{
	static atomic_uint_fast64_t next = 1;

	return atomic_fetch_add(&next, 1);
}

int
ad_envelope_to_msg(const struct ad_envelope *e, nng_msg **out)
{
	agentd_writer *w;
	const void    *data;
	size_t         len;
	int            rv;

	if ((rv = agentd_writer_new(&w)) != 0)
		return rv;
	if ((rv = ad_envelope_encode(e, w)) == 0) {
		data = agentd_writer_data(w, &len);
		if ((rv = nng_msg_alloc(out, 0)) == 0
		    && (rv = nng_msg_append(*out, data, len)) != 0)
			nng_msg_free(*out);
		rv = ad_nng_error(rv);
	}
	agentd_writer_free(w);
	return rv;
}

int
ad_reply_msg(const struct ad_envelope *req, int status, const void *body,
    size_t len, nng_msg **out)
{
	struct ad_envelope r;

	ad_envelope_reply(&r, req->id, req->src, status, body, len);
	return ad_envelope_to_msg(&r, out);
}

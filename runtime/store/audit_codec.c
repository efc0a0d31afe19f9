/*
 * audit_codec.c - the audit record codec: the key of a record, the stored
 * value and the hashed bytes of audit.h's definition, the chain hash,
 * parsing a stored record, and the meta marks (audit_head, audit_base).
 * Nothing here holds a lock or starts a transaction: the marks are read
 * and written in the caller's.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <agentd/msg.h>

#include "store/audit_int.h"

/* ---- keys, codec, hash ------------------------------------------------ */

void
audit_seq_key(uint64_t seq, unsigned char buf[8], MDB_val *key)
{
	for (int i = 7; i >= 0; i--, seq >>= 8)
		buf[i] = seq & 0xff;
	key->mv_data = buf;
	key->mv_size = 8;
}

uint64_t
audit_key_seq(const MDB_val *key)
{
	const unsigned char *p   = key->mv_data;
	uint64_t             seq = 0;

	if (key->mv_size != 8)
		return 0;
	for (int i = 0; i < 8; i++)
		seq = seq << 8 | p[i];
	return seq;
}

static int
write_span(agentd_writer *w, const struct span *s)
{
	return s->p != NULL ? agentd_write_strn(w, s->p, s->n)
	                    : agentd_write_nil(w);
}

/* M of the chain's definition (audit.h): the bytes that are hashed. */
static int
hashed_encode(agentd_writer *w, const struct rec_view *v)
{
	agentd_writer_reset(w);
	if (agentd_write_array(w, 7) != 0 || agentd_write_uint(w, v->seq) != 0
	    || agentd_write_int(w, v->time_ms) != 0
	    || write_span(w, &v->agent) != 0
	    || write_span(w, &v->instance) != 0 || write_span(w, &v->kind) != 0
	    || write_span(w, &v->summary) != 0
	    || agentd_write_bin(w, v->detail.p, v->detail.n) != 0)
		return ENOMEM;
	return 0;
}

static int
write_kv_span(agentd_writer *w, const char *key, const struct span *s)
{
	int rv = agentd_write_str(w, key);

	return rv != 0 ? rv : write_span(w, s);
}

static int
write_kv_bin(agentd_writer *w, const char *key, const void *p, size_t n)
{
	int rv = agentd_write_str(w, key);

	return rv != 0 ? rv : agentd_write_bin(w, p, n);
}

int
audit_value_encode(agentd_writer *w, const struct rec_view *v)
{
	agentd_writer_reset(w);
	if (agentd_write_map(w, 9) != 0 || agentd_write_str(w, "seq") != 0
	    || agentd_write_uint(w, v->seq) != 0
	    || agentd_write_str(w, "time_ms") != 0
	    || agentd_write_int(w, v->time_ms) != 0
	    || write_kv_span(w, "agent", &v->agent) != 0
	    || write_kv_span(w, "instance", &v->instance) != 0
	    || write_kv_span(w, "kind", &v->kind) != 0
	    || write_kv_span(w, "summary", &v->summary) != 0
	    || write_kv_bin(w, "detail", v->detail.p, v->detail.n) != 0
	    || write_kv_bin(w, "prev", v->prev, HASH_LEN) != 0
	    || write_kv_bin(w, "hash", v->hash, HASH_LEN) != 0)
		return ENOMEM;
	return 0;
}

/*
 * Fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up again
 * at every init, which doubles the cost of hashing a record.
 */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD        *sha256;

static void
sha256_fetch(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

struct audit_hasher {
	EVP_MD_CTX *ctx;
};

struct audit_hasher *
audit_hasher_new(void)
{
	struct audit_hasher *h = calloc(1, sizeof(*h));

	if (h != NULL && (h->ctx = EVP_MD_CTX_new()) == NULL) {
		free(h);
		h = NULL;
	}
	return h;
}

void
audit_hasher_free(struct audit_hasher *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

/* SHA-256(prev || m) with ctx (initialized again); 0 or ENOMEM. */
static int
chain_hash(EVP_MD_CTX *ctx, const unsigned char *prev, const void *m,
    size_t len, unsigned char out[HASH_LEN])
{
	unsigned int n = 0;

	pthread_once(&sha256_once, sha256_fetch);
	return ctx != NULL && sha256 != NULL
	        && EVP_DigestInit_ex(ctx, sha256, NULL) == 1
	        && EVP_DigestUpdate(ctx, prev, HASH_LEN) == 1
	        && EVP_DigestUpdate(ctx, m, len) == 1
	        && EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == HASH_LEN
	    ? 0
	    : ENOMEM;
}

int
audit_rec_hash_with(struct audit_hasher *h, agentd_writer *w,
    const struct rec_view *v, unsigned char out[HASH_LEN])
{
	const void *m;
	size_t      len;
	EVP_MD_CTX *ctx;
	int         rc;

	if ((rc = hashed_encode(w, v)) != 0)
		return rc;
	m = agentd_writer_data(w, &len);
	if (h != NULL)
		return chain_hash(h->ctx, v->prev, m, len, out);
	ctx = EVP_MD_CTX_new();
	rc  = chain_hash(ctx, v->prev, m, len, out);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
audit_rec_hash(
    agentd_writer *w, const struct rec_view *v, unsigned char out[HASH_LEN])
{
	return audit_rec_hash_with(NULL, w, v, out);
}

/* A missing field is not a record of ours; nil is a valid absent string. */
static int
get_span(const agentd_value *map, const char *key, struct span *s)
{
	const agentd_value *v = agentd_map_get(map, key);

	s->p = NULL;
	s->n = 0;
	if (v == NULL)
		return -1;
	if (agentd_type_of(v) == AGENTD_T_NIL)
		return 0;
	return agentd_get_str(v, &s->p, &s->n) == 0 ? 0 : -1;
}

static int
get_bin(const agentd_value *map, const char *key, struct span *s)
{
	const void *p;

	if (agentd_get_bin(agentd_map_get(map, key), &p, &s->n) != 0)
		return -1;
	s->p = p;
	return 0;
}

static int
get_hash(const agentd_value *map, const char *key, const unsigned char **out)
{
	struct span s;

	if (get_bin(map, key, &s) != 0 || s.n != HASH_LEN)
		return -1;
	*out = (const unsigned char *)s.p;
	return 0;
}

static int
view_fields(const agentd_value *m, struct rec_view *v)
{
	if (agentd_get_uint(agentd_map_get(m, "seq"), &v->seq) != 0
	    || agentd_get_int(agentd_map_get(m, "time_ms"), &v->time_ms) != 0
	    || get_span(m, "agent", &v->agent) != 0
	    || get_span(m, "instance", &v->instance) != 0
	    || get_span(m, "kind", &v->kind) != 0
	    || get_span(m, "summary", &v->summary) != 0
	    || get_bin(m, "detail", &v->detail) != 0
	    || get_hash(m, "prev", &v->prev) != 0
	    || get_hash(m, "hash", &v->hash) != 0)
		return -1;
	return 0;
}

int
audit_rec_parse(const void *buf, size_t len, agentd_doc **doc,
    struct rec_view *v, size_t *used)
{
	int rv = used != NULL ? agentd_parse_prefix(buf, len, doc, used)
	                      : agentd_parse(buf, len, doc);

	memset(v, 0, sizeof(*v));
	if (rv != 0) {
		*doc = NULL;
		return EPROTO;
	}
	if (view_fields(agentd_doc_root(*doc), v) != 0) {
		agentd_doc_free(*doc);
		*doc = NULL;
		return EPROTO;
	}
	return 0;
}

char *
audit_copy_span(char *dst, const void *src, size_t n, struct span *s)
{
	s->p = NULL;
	s->n = 0;
	if (src == NULL)
		return dst;
	memcpy(dst, src, n);
	dst[n] = '\0';
	s->p   = dst;
	s->n   = n;
	return dst + n + 1;
}

/* ---- meta marks: audit_head, audit_base -------------------------------- */

int
audit_mark_put(MDB_txn *txn, MDB_dbi meta, agentd_writer *w, const char *name,
    const struct mark *m)
{
	MDB_val key = { strlen(name), (void *)name };
	MDB_val val;

	agentd_writer_reset(w);
	if (agentd_write_map(w, 2) != 0 || agentd_write_str(w, "seq") != 0
	    || agentd_write_uint(w, m->seq) != 0
	    || write_kv_bin(w, "hash", m->hash, HASH_LEN) != 0)
		return ENOMEM;
	val.mv_data = (void *)agentd_writer_data(w, &val.mv_size);
	return mdb_put(txn, meta, &key, &val, 0);
}

int
audit_mark_get(MDB_txn *txn, MDB_dbi meta, const char *name, struct mark *m)
{
	MDB_val              key = { strlen(name), (void *)name };
	MDB_val              val;
	agentd_doc          *doc;
	const agentd_value  *root;
	const unsigned char *h;
	int                  rc;

	if ((rc = mdb_get(txn, meta, &key, &val)) != 0)
		return rc;
	if (agentd_parse(val.mv_data, val.mv_size, &doc) != 0)
		return EPROTO;
	root = agentd_doc_root(doc);
	rc   = EPROTO;
	if (agentd_get_uint(agentd_map_get(root, "seq"), &m->seq) == 0
	    && get_hash(root, "hash", &h) == 0) {
		memcpy(m->hash, h, HASH_LEN);
		rc = 0;
	}
	agentd_doc_free(doc);
	return rc;
}

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <agentd/error.h>
#include <agentd/msg.h>

#include "common/log.h"
#include "common/util.h"
#include "sdk/contract.h"
#include "store/audit.h"
#include "store/store.h"

#define HASH_LEN AD_AUDIT_HASH_LEN

/*
 * Records per read transaction.  Long walks (verify, archive, a query over
 * the whole log) are cut into transactions this short so that growing the
 * map, which waits for every transaction to end, never waits long.
 */
#define WALK_CHUNK 1024
/* A query hands over what it holds once it holds this many bytes. */
#define QUERY_BYTES ((size_t)4 << 20)
/* Records an archive deletes per write transaction: LMDB caps dirty pages. */
#define DELETE_CHUNK 4096

/*
 * Walk outcomes, negative so they never collide with LMDB codes (which
 * are negative only below -30000) or errno values.
 */
#define CHAIN_BROKEN (-1) /* the verify result says where */
#define WALK_END (-2)     /* no more records that way */
#define WALK_STOP (-3)    /* the visitor has all it wants */
#define WALK_PAUSE (-4)   /* the visitor wants to hand over what it holds */

/* A string or bin inside a record; p == NULL is nil. */
struct span {
	const char *p;
	size_t      n;
};

/* A record's fields, pointing into a parsed value or a pending copy. */
struct rec_view {
	uint64_t             seq;
	int64_t              time_ms;
	struct span          agent, instance, kind, summary, detail;
	const unsigned char *prev, *hash;
};

/* A record queued for the writer; its strings and detail follow it. */
struct pending {
	struct pending  *next;
	ad_audit_done_fn done;
	void            *arg;
	struct rec_view  v;
	unsigned char    prev[HASH_LEN], hash[HASH_LEN];
	void            *val; /* the stored value, once chained */
	size_t           val_len;
};

/* A {seq, hash} entry of meta: the head or the archive base. */
struct mark {
	uint64_t      seq;
	unsigned char hash[HASH_LEN];
};

struct ad_audit {
	MDB_env          *env;
	MDB_dbi           dbi, meta;
	pthread_rwlock_t  own_gate;
	pthread_rwlock_t *gate; /* see struct ad_audit_opts */
	/* One verify or archive at a time: an archive must not cut records
	 * away under a walk that has yet to reach them. */
	pthread_mutex_t maint;

	pthread_mutex_t       mtx;    /* guards the queue, st and waiters */
	pthread_cond_t        cv;     /* the queue is not empty, or closing */
	pthread_cond_t        synced; /* a batch's callbacks have run */
	struct pending       *q_head, **q_tail;
	size_t                q_len, q_max;
	int                   closing;
	struct ad_audit_stats st; /* head_*: written only by the writer */
	/*
	 * The chain's end over everything queued: records get their number,
	 * hash and stored value when they are queued, so that the writer
	 * only puts and commits.  A batch that fails to commit rewinds it to
	 * the head and the records queued behind it are chained again.
	 */
	struct mark    tip;
	agentd_writer *wm, *wv; /* scratch for chaining, under mtx */

	pthread_t      thread;
	agentd_writer *wh; /* the writer thread's */
};

/*
 * The one place LMDB and errno codes become agentd codes; the original is
 * logged because the caller only sees the agentd code.
 */
static int
audit_err(struct ad_audit *a, int rc, const char *what)
{
	char hint[PATH_MAX + 96];

	if (rc == 0 || rc == MDB_NOTFOUND)
		return rc == 0 ? 0 : AGENTD_ENOENT;
	ad_error("audit: %s: %s%s", what, mdb_strerror(rc),
	    ad_env_hint(a->env, rc, hint, sizeof(hint)));
	switch (rc) {
	case ENOMEM:
		return AGENTD_ENOMEM;
	case MDB_MAP_FULL:
		return AGENTD_ETOOBIG;
	case EPROTO:
		return AGENTD_EPROTO;
	default:
		return AGENTD_EIO;
	}
}

/* ---- keys, codec, hash ------------------------------------------------ */

/* Big-endian, so that LMDB's byte order is sequence order. */
static void
seq_key(uint64_t seq, unsigned char buf[8], MDB_val *key)
{
	for (int i = 7; i >= 0; i--, seq >>= 8)
		buf[i] = seq & 0xff;
	key->mv_data = buf;
	key->mv_size = 8;
}

/* 0 for a key that is not a sequence number: never a record's. */
static uint64_t
key_seq(const MDB_val *key)
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

/* The stored value: the map of audit.h. */
static int
value_encode(agentd_writer *w, const struct rec_view *v)
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

/* SHA-256(prev || m); 0 or ENOMEM. */
static int
chain_hash(const unsigned char *prev, const void *m, size_t len,
    unsigned char out[HASH_LEN])
{
	EVP_MD_CTX  *ctx = EVP_MD_CTX_new();
	unsigned int n   = 0;
	int          ok;

	pthread_once(&sha256_once, sha256_fetch);
	ok = ctx != NULL && sha256 != NULL
	    && EVP_DigestInit_ex(ctx, sha256, NULL) == 1
	    && EVP_DigestUpdate(ctx, prev, HASH_LEN) == 1
	    && EVP_DigestUpdate(ctx, m, len) == 1
	    && EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == HASH_LEN;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : ENOMEM;
}

/* What v's hash must be, given v->prev; w is scratch. */
static int
rec_hash(
    agentd_writer *w, const struct rec_view *v, unsigned char out[HASH_LEN])
{
	const void *m;
	size_t      len;
	int         rc;

	if ((rc = hashed_encode(w, v)) != 0)
		return rc;
	m = agentd_writer_data(w, &len);
	return chain_hash(v->prev, m, len, out);
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

/*
 * Parse a stored record (used == NULL: all of buf; else the first value,
 * *used gets its size).  v points into *doc and buf: *doc is caller owns,
 * free with agentd_doc_free().  0 or EPROTO.
 */
static int
rec_parse(const void *buf, size_t len, agentd_doc **doc, struct rec_view *v,
    size_t *used)
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

/* ---- meta marks: audit_head, audit_base -------------------------------- */

static int
mark_put(MDB_txn *txn, MDB_dbi meta, agentd_writer *w, const char *name,
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

/* 0, MDB_NOTFOUND, EPROTO (unreadable) or an LMDB code. */
static int
mark_get(MDB_txn *txn, MDB_dbi meta, const char *name, struct mark *m)
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

/* ---- transactions and the gate ----------------------------------------- */

/*
 * Every transaction of this module runs holding the gate for reading, and
 * only map_grow() holds it for writing: that is how mdb_env_set_mapsize()
 * is only ever called with no transaction active in the process.  Nothing
 * here takes the gate twice on one thread, and nothing waits for the
 * writer thread while holding it (callbacks run after it is released).
 */
static int
read_begin(struct ad_audit *a, MDB_txn **txn)
{
	int rc;

	pthread_rwlock_rdlock(a->gate);
	if ((rc = mdb_txn_begin(a->env, NULL, MDB_RDONLY, txn)) != 0)
		pthread_rwlock_unlock(a->gate);
	return rc;
}

static void
read_end(struct ad_audit *a, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(a->gate);
}

/*
 * Grow the map (ad_env_grow), unless someone grew it since it was seen at
 * seen bytes.  0 or an LMDB/errno code (MDB_MAP_FULL if it cannot grow).
 */
static int
map_grow(struct ad_audit *a, size_t seen, size_t need)
{
	size_t size = 0;
	int    rc   = ad_env_grow(a->env, a->gate, seen, need, &size);

	if (rc == 0 && size != 0) {
		pthread_mutex_lock(&a->mtx);
		a->st.grows++;
		pthread_mutex_unlock(&a->mtx);
	}
	return rc;
}

/* The body of a write transaction: returns an LMDB or errno code. */
typedef int (*txn_fn)(struct ad_audit *a, MDB_txn *txn, void *arg);

static int
write_once(struct ad_audit *a, txn_fn fn, void *arg, size_t *mapsize)
{
	MDB_envinfo info;
	MDB_txn    *txn;
	int         rc;

	pthread_rwlock_rdlock(a->gate);
	mdb_env_info(a->env, &info);
	*mapsize = info.me_mapsize;
	if ((rc = mdb_txn_begin(a->env, NULL, 0, &txn)) == 0) {
		if ((rc = fn(a, txn, arg)) == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	pthread_rwlock_unlock(a->gate);
	return rc;
}

/*
 * Run fn in one write transaction and commit it (durably: the environment
 * syncs on commit).  On a full map, grow it and run fn once more from the
 * start, so fn must leave its results out of *a until this returns 0.
 * need: about how many bytes fn writes.
 */
static int
write_txn(struct ad_audit *a, txn_fn fn, void *arg, size_t need)
{
	size_t seen;
	int    rc = write_once(a, fn, arg, &seen);

	if (rc == MDB_MAP_FULL && map_grow(a, seen, need) == 0)
		rc = write_once(a, fn, arg, &seen);
	return rc;
}

/* ---- walking the log --------------------------------------------------- */

/*
 * visit gets each record (seq, its stored value) and, when the log has no
 * more records that way, one call with val == NULL, still inside the
 * transaction.  It returns 0 to go on, or a WALK_ or CHAIN_ code or an
 * error to stop.
 */
struct walk {
	uint64_t pos; /* the next seq to look at (backward: at or before) */
	int      backward;
	int (*visit)(
	    void *arg, MDB_txn *txn, uint64_t seq, const MDB_val *val);
	void *arg;
};

static int
cursor_seek(MDB_cursor *cur, const struct walk *w, MDB_val *key, MDB_val *val)
{
	int rc = mdb_cursor_get(cur, key, val, MDB_SET_RANGE);

	if (!w->backward)
		return rc;
	if (w->pos == 0)
		return MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return mdb_cursor_get(cur, key, val, MDB_LAST);
	if (rc == 0 && key_seq(key) > w->pos)
		return mdb_cursor_get(cur, key, val, MDB_PREV);
	return rc;
}

/* Up to WALK_CHUNK records in one read transaction; 0: more to walk. */
static int
walk_chunk(struct ad_audit *a, struct walk *w)
{
	MDB_cursor_op op = w->backward ? MDB_PREV : MDB_NEXT;
	MDB_txn      *txn;
	MDB_cursor   *cur;
	MDB_val       key, val;
	unsigned char kb[8];
	uint64_t      seq;
	int           rc, n;

	if ((rc = read_begin(a, &txn)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, a->dbi, &cur)) == 0) {
		seq_key(w->pos, kb, &key);
		rc = cursor_seek(cur, w, &key, &val);
		for (n = 0; rc == 0 && n < WALK_CHUNK;) {
			/* A key that is no seq is no record: skipped and not
			 * counted, so every chunk moves pos or ends. */
			if ((seq = key_seq(&key)) != 0) {
				w->pos = w->backward ? seq - 1 : seq + 1;
				rc     = w->visit(w->arg, txn, seq, &val);
				n++;
			}
			if (rc == 0)
				rc = mdb_cursor_get(cur, &key, &val, op);
		}
		if (rc == MDB_NOTFOUND
		    && (rc = w->visit(w->arg, txn, 0, NULL)) == 0)
			rc = WALK_END;
		mdb_cursor_close(cur);
	}
	read_end(a, txn);
	return rc;
}

/* ---- the chain check: verify, archive, archive files ------------------- */

struct chain {
	uint64_t                       next;           /* the seq due next */
	unsigned char                  prev[HASH_LEN]; /* its prev */
	agentd_writer                 *w;
	struct ad_audit_verify_result *res;
};

static int chain_broken(struct chain *c, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
chain_broken(struct chain *c, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	c->res->ok      = 0;
	c->res->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(c->res->what, sizeof(c->res->what), fmt, ap);
	va_end(ap);
	return CHAIN_BROKEN;
}

static int
chain_init(struct chain *c, struct ad_audit_verify_result *res)
{
	memset(res, 0, sizeof(*res));
	memset(c, 0, sizeof(*c));
	res->ok = 1;
	c->res  = res;
	c->next = 1;
	return agentd_writer_new(&c->w) == 0 ? 0 : ENOMEM;
}

/*
 * Record key (v: its parsed value, NULL if it does not parse) must be the
 * one due, say so, chain to the one before and hash to what it says.
 * 0: it does, the chain moves on; CHAIN_BROKEN; or ENOMEM.
 */
static int
chain_step(struct chain *c, uint64_t key, const struct rec_view *v)
{
	unsigned char h[HASH_LEN];
	int           rc;

	if (key != c->next)
		return chain_broken(c, c->next,
		    "record %" PRIu64 " is missing (the next one present is "
		    "%" PRIu64 ")",
		    c->next, key);
	if (v == NULL)
		return chain_broken(
		    c, key, "record %" PRIu64 " is unreadable", key);
	if (v->seq != key)
		return chain_broken(c, key,
		    "record %" PRIu64 " is stored as record %" PRIu64, key,
		    v->seq);
	if (memcmp(v->prev, c->prev, HASH_LEN) != 0)
		return chain_broken(c, key,
		    "record %" PRIu64 " does not chain: its prev is not the "
		    "hash of record %" PRIu64,
		    key, key - 1);
	if ((rc = rec_hash(c->w, v, h)) != 0)
		return rc;
	if (memcmp(h, v->hash, HASH_LEN) != 0)
		return chain_broken(c, key,
		    "record %" PRIu64 " was altered: its content does not "
		    "match its hash",
		    key);
	c->next++;
	memcpy(c->prev, v->hash, HASH_LEN);
	c->res->last_seq = key;
	c->res->records++;
	return 0;
}

/* Parse a stored value and step the chain with it. */
static int
chain_value(struct chain *c, uint64_t key, const MDB_val *val)
{
	struct rec_view v;
	agentd_doc     *doc;
	int             rc;

	if (rec_parse(val->mv_data, val->mv_size, &doc, &v, NULL) != 0)
		return chain_step(c, key, NULL);
	rc = chain_step(c, key, &v);
	agentd_doc_free(doc);
	return rc;
}

/*
 * Start the chain after the archive base, if any.  EPROTO if the base is
 * unreadable (verify reports it).
 */
static int
chain_from_base(struct ad_audit *a, struct chain *c)
{
	struct mark base;
	MDB_txn    *txn;
	int         rc;

	if ((rc = read_begin(a, &txn)) != 0)
		return rc;
	rc = mark_get(txn, a->meta, "audit_base", &base);
	read_end(a, txn);
	if (rc == 0) {
		c->next = base.seq + 1;
		memcpy(c->prev, base.hash, HASH_LEN);
	}
	c->res->first_seq = c->next;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- the writer --------------------------------------------------------- */

static size_t
opt_len(const char *s, size_t max)
{
	return s != NULL ? strnlen(s, max + 1) : 0;
}

/* The plugin's fields by the contract; agent and instance are ours. */
static int
rec_check(const struct ad_audit_rec *r)
{
	int rv;

	if (r == NULL)
		return AGENTD_EINVAL;
	rv = ad_audit_fields_check(
	    r->kind, r->summary, r->detail, r->detail_len);
	if (rv == AGENTD_EINVAL)
		return rv;
	if (opt_len(r->agent, AD_AUDIT_NAME_MAX) > AD_AUDIT_NAME_MAX
	    || opt_len(r->instance, AD_AUDIT_NAME_MAX) > AD_AUDIT_NAME_MAX)
		return AGENTD_ETOOBIG;
	return rv;
}

/* Copy n bytes of src (NULL: nil) to dst, NUL-terminated; the end. */
static char *
copy_span(char *dst, const void *src, size_t n, struct span *s)
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

/* One allocation per record: the queue costs one malloc per append. */
static struct pending *
pending_new(const struct ad_audit_rec *r)
{
	size_t          na = opt_len(r->agent, AD_AUDIT_NAME_MAX);
	size_t          ni = opt_len(r->instance, AD_AUDIT_NAME_MAX);
	size_t          nk = strlen(r->kind), ns = strlen(r->summary);
	struct pending *p = ad_xcalloc(
	    1, sizeof(*p) + na + ni + nk + ns + r->detail_len + 5);
	char *d = (char *)(p + 1);

	d = copy_span(d, r->agent, na, &p->v.agent);
	d = copy_span(d, r->instance, ni, &p->v.instance);
	d = copy_span(d, r->kind, nk, &p->v.kind);
	d = copy_span(d, r->summary, ns, &p->v.summary);
	copy_span(
	    d, r->detail_len ? r->detail : NULL, r->detail_len, &p->v.detail);
	p->v.time_ms = r->time_ms;
	p->v.prev    = p->prev;
	p->v.hash    = p->hash;
	return p;
}

struct batch {
	struct pending *list;
	size_t          n, bytes;
	struct mark     head; /* after the batch, once committed */
};

/*
 * Number p, hash it onto the tip and encode its stored value (under
 * a->mtx).  Out of memory aborts, as ad_xmalloc does: a record that is
 * queued must be writable.
 */
static void
chain_onto(struct ad_audit *a, struct pending *p)
{
	const void *val;

	p->v.seq = ++a->tip.seq;
	memcpy(p->prev, a->tip.hash, HASH_LEN);
	if (rec_hash(a->wm, &p->v, p->hash) != 0
	    || value_encode(a->wv, &p->v) != 0)
		abort();
	val    = agentd_writer_data(a->wv, &p->val_len);
	p->val = ad_xrealloc(p->val, p->val_len);
	memcpy(p->val, val, p->val_len);
	memcpy(a->tip.hash, p->hash, HASH_LEN);
}

static void
pending_free(struct pending *p)
{
	free(p->val);
	free(p);
}

/* The batch, chained when it was queued, and the head after it. */
static int
batch_write(struct ad_audit *a, MDB_txn *txn, void *arg)
{
	struct batch   *b = arg;
	struct pending *p, *last = NULL;
	unsigned char   kb[8];
	MDB_val         key, val;
	int             rc;

	for (p = b->list; p != NULL; p = p->next) {
		seq_key(p->v.seq, kb, &key);
		val.mv_data = p->val;
		val.mv_size = p->val_len;
		/* Keys only grow: MDB_APPEND skips the search, fills pages. */
		if ((rc = mdb_put(txn, a->dbi, &key, &val, MDB_APPEND)) != 0)
			return rc;
		last = p;
	}
	b->head.seq = last->v.seq;
	memcpy(b->head.hash, last->hash, HASH_LEN);
	return mark_put(txn, a->meta, a->wh, "audit_head", &b->head);
}

static void
batch_account(struct ad_audit *a, const struct batch *b, int status)
{
	pthread_mutex_lock(&a->mtx);
	if (status == 0) {
		a->st.head_seq = b->head.seq;
		memcpy(a->st.head_hash, b->head.hash, HASH_LEN);
		a->st.txns++;
		a->st.records += b->n;
		if (b->n > a->st.max_batch)
			a->st.max_batch = b->n;
	} else {
		a->st.failed += b->n;
		a->tip.seq = a->st.head_seq;
		memcpy(a->tip.hash, a->st.head_hash, HASH_LEN);
		for (struct pending *p = a->q_head; p != NULL; p = p->next)
			chain_onto(a, p);
	}
	pthread_mutex_unlock(&a->mtx);
}

/* Write, commit, and only then tell each caller. */
static void
batch_run(struct ad_audit *a, struct batch *b)
{
	struct pending *p, *next;
	int             status;

	status = audit_err(a, write_txn(a, batch_write, b, b->bytes),
	    "appending to the audit log");
	batch_account(a, b, status);
	for (p = b->list; p != NULL; p = next) {
		next = p->next;
		if (p->done != NULL)
			p->done(p->arg, status, status == 0 ? p->v.seq : 0);
		pending_free(p);
	}
	pthread_mutex_lock(&a->mtx);
	pthread_cond_broadcast(&a->synced);
	pthread_mutex_unlock(&a->mtx);
}

/* Take everything queued; 0 once closing and drained. */
static int
batch_take(struct ad_audit *a, struct batch *b)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_lock(&a->mtx);
	while (a->q_head == NULL && !a->closing)
		pthread_cond_wait(&a->cv, &a->mtx);
	b->list   = a->q_head;
	b->n      = a->q_len;
	a->q_head = NULL;
	a->q_tail = &a->q_head;
	a->q_len  = 0;
	pthread_mutex_unlock(&a->mtx);
	for (struct pending *p = b->list; p != NULL; p = p->next)
		b->bytes += 16 + p->val_len;
	return b->list != NULL;
}

static void *
writer_main(void *arg)
{
	struct ad_audit *a = arg;
	struct batch     b;

	while (batch_take(a, &b))
		batch_run(a, &b);
	return NULL;
}

int
ad_audit_append(struct ad_audit *a, const struct ad_audit_rec *r,
    ad_audit_done_fn done, void *arg)
{
	return ad_audit_append_many(a, r, 1, done, arg);
}

/* Records queued together, answered together (writer thread). */
struct group {
	ad_audit_done_fn done;
	void            *arg;
	size_t           left;
	int              started, status;
	uint64_t         first;
};

static void
group_done(void *arg, int status, uint64_t seq)
{
	struct group *g = arg;

	/* In queue order, so the first call is the first record. */
	if (!g->started) {
		g->started = 1;
		g->first   = seq;
	}
	if (status != 0 && g->status == 0)
		g->status = status;
	if (--g->left > 0)
		return;
	g->done(g->arg, g->status, g->status == 0 ? g->first : 0);
	free(g);
}

int
ad_audit_append_many(struct ad_audit *a, const struct ad_audit_rec *r,
    size_t n, ad_audit_done_fn done, void *arg)
{
	struct pending *head = NULL, **tail = &head, *p;
	struct group   *g = NULL;
	size_t          i;
	int             rv = 0;

	if (n == 0)
		return AGENTD_EINVAL;
	for (i = 0; i < n; i++) {
		if ((rv = rec_check(&r[i])) != 0)
			return rv;
	}
	if (n > 1 && done != NULL) {
		g       = ad_xcalloc(1, sizeof(*g));
		g->done = done;
		g->arg  = arg;
		g->left = n;
	}
	for (i = 0; i < n; i++) {
		p       = pending_new(&r[i]);
		p->done = g != NULL ? group_done : done;
		p->arg  = g != NULL ? (void *)g : arg;
		*tail   = p;
		tail    = &p->next;
	}
	pthread_mutex_lock(&a->mtx);
	if (a->closing)
		rv = AGENTD_ECLOSED;
	else if (n > a->q_max)
		rv = AGENTD_ETOOBIG;
	else if (a->q_len + n > a->q_max)
		rv = AGENTD_EBUSY;
	if (rv == 0) {
		/* Under the lock, so times follow queue (= seq) order. */
		int64_t now = ad_wall_ms();

		for (p = head; p != NULL; p = p->next) {
			if (p->v.time_ms == 0)
				p->v.time_ms = now;
			chain_onto(a, p);
		}
		*a->q_tail = head;
		a->q_tail  = tail;
		a->q_len += n;
		pthread_cond_signal(&a->cv);
	}
	pthread_mutex_unlock(&a->mtx);
	if (rv != 0) {
		for (; head != NULL; head = p) {
			p = head->next;
			pending_free(head);
		}
		free(g);
	}
	return rv;
}

/*
 * A waiter lives on its caller's stack and is written only under a->mtx;
 * the writer wakes every waiter once per batch (batch_run).  A mutex of
 * its own would have to be destroyed while the writer may still be inside
 * its unlock.
 */
struct waiter {
	struct ad_audit *a;
	int              fired, status;
	uint64_t         seq;
};

static void
waiter_done(void *arg, int status, uint64_t seq)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->a->mtx);
	w->status = status;
	w->seq    = seq;
	w->fired  = 1;
	pthread_mutex_unlock(&w->a->mtx);
}

int
ad_audit_append_sync(
    struct ad_audit *a, const struct ad_audit_rec *r, uint64_t *seq)
{
	struct waiter w = { .a = a };
	int           rv;

	if (pthread_equal(pthread_self(), a->thread))
		return AGENTD_EINVAL;
	if ((rv = ad_audit_append(a, r, waiter_done, &w)) != 0)
		return rv;
	pthread_mutex_lock(&a->mtx);
	while (!w.fired)
		pthread_cond_wait(&a->synced, &a->mtx);
	pthread_mutex_unlock(&a->mtx);
	if (seq != NULL)
		*seq = w.seq;
	return w.status;
}

void
ad_audit_stats(struct ad_audit *a, struct ad_audit_stats *st)
{
	pthread_mutex_lock(&a->mtx);
	*st        = a->st;
	st->queued = a->q_len;
	pthread_mutex_unlock(&a->mtx);
}

/* ---- opening and closing ------------------------------------------------ */

static int
dbs_open(struct ad_audit *a, MDB_txn *txn, void *arg)
{
	int rc;

	(void)arg;
	if ((rc = mdb_dbi_open(txn, "audit", MDB_CREATE, &a->dbi)) != 0)
		return rc;
	return mdb_dbi_open(txn, "meta", MDB_CREATE, &a->meta);
}

/* The seq and hash of the last stored record; MDB_NOTFOUND if none. */
static int
last_record(struct ad_audit *a, MDB_txn *txn, struct mark *m)
{
	MDB_cursor     *cur;
	MDB_val         key, val;
	struct rec_view v;
	agentd_doc     *doc;
	int             rc;

	if ((rc = mdb_cursor_open(txn, a->dbi, &cur)) != 0)
		return rc;
	rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
	if (rc == 0) {
		m->seq = key_seq(&key);
		rc     = rec_parse(val.mv_data, val.mv_size, &doc, &v, NULL);
	}
	if (rc == 0) {
		memcpy(m->hash, v.hash, HASH_LEN);
		agentd_doc_free(doc);
	}
	mdb_cursor_close(cur);
	return rc;
}

/* A mark, or zeros if it is absent; an unreadable one is logged. */
static int
mark_load(MDB_txn *txn, MDB_dbi meta, const char *name, struct mark *m)
{
	int rc = mark_get(txn, meta, name, m);

	if (rc == EPROTO)
		ad_error("audit: meta %s is unreadable; ignoring it: run "
		         "agentctl audit verify",
		    name);
	if (rc == EPROTO || rc == MDB_NOTFOUND)
		memset(m, 0, sizeof(*m));
	return rc == EPROTO || rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * Where appends continue: the head, else the base.  Records past the head
 * can only be there if someone rolled the head back; new records must not
 * overwrite them, so the chain continues after them and verify reports
 * the head.
 */
static int
head_from(struct ad_audit *a, MDB_txn *txn, struct mark *head)
{
	struct mark base, last;
	int         rc;

	if ((rc = mark_load(txn, a->meta, "audit_base", &base)) != 0
	    || (rc = mark_load(txn, a->meta, "audit_head", head)) != 0)
		return rc;
	if (head->seq == 0)
		*head = base;
	rc = last_record(a, txn, &last);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc == EPROTO && last.seq <= head->seq)
		return 0;
	if (rc == EPROTO)
		ad_error("audit: record %" PRIu64 ", past the head (%" PRIu64
		         "), is unreadable: nothing can chain onto it",
		    last.seq, head->seq);
	if (rc == 0 && last.seq > head->seq) {
		ad_error("audit: record %" PRIu64 " is past the head (%" PRIu64
		         "); appending after it: run agentctl audit verify",
		    last.seq, head->seq);
		*head = last;
	}
	return rc;
}

static int
head_load(struct ad_audit *a)
{
	struct mark head;
	MDB_txn    *txn;
	int         rc;

	if ((rc = read_begin(a, &txn)) != 0)
		return rc;
	rc = head_from(a, txn, &head);
	read_end(a, txn);
	if (rc == 0) {
		a->st.head_seq = head.seq;
		memcpy(a->st.head_hash, head.hash, HASH_LEN);
		a->tip = head;
	}
	return rc;
}

/*
 * Writers first: a steady stream of queries must not keep the map from
 * growing while appends wait for it.
 */
static void
gate_init(struct ad_audit *a, const struct ad_audit_opts *opts)
{
	pthread_rwlockattr_t attr;

	if (opts != NULL && opts->gate != NULL) {
		a->gate = opts->gate;
		return;
	}
	pthread_rwlockattr_init(&attr);
#ifdef PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
	pthread_rwlockattr_setkind_np(
	    &attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
	pthread_rwlock_init(&a->own_gate, &attr);
	pthread_rwlockattr_destroy(&attr);
	a->gate = &a->own_gate;
}

static struct ad_audit *
audit_new(MDB_env *env, const struct ad_audit_opts *opts)
{
	struct ad_audit *a = ad_xcalloc(1, sizeof(*a));

	a->env    = env;
	a->q_tail = &a->q_head;
	a->q_max  = opts != NULL && opts->max_queue != 0
	     ? opts->max_queue
	     : AD_AUDIT_QUEUE_DEFAULT;
	gate_init(a, opts);
	pthread_mutex_init(&a->maint, NULL);
	pthread_mutex_init(&a->mtx, NULL);
	pthread_cond_init(&a->cv, NULL);
	pthread_cond_init(&a->synced, NULL);
	/* Out of memory: what ad_xmalloc does too. */
	if (agentd_writer_new(&a->wm) != 0 || agentd_writer_new(&a->wv) != 0
	    || agentd_writer_new(&a->wh) != 0)
		abort();
	return a;
}

static void
audit_free(struct ad_audit *a)
{
	agentd_writer_free(a->wm);
	agentd_writer_free(a->wv);
	agentd_writer_free(a->wh);
	pthread_cond_destroy(&a->cv);
	pthread_cond_destroy(&a->synced);
	pthread_mutex_destroy(&a->mtx);
	pthread_mutex_destroy(&a->maint);
	if (a->gate == &a->own_gate)
		pthread_rwlock_destroy(&a->own_gate);
	free(a);
}

/* An acknowledged record must survive a power cut: no unsynced commits. */
static int
env_durable(MDB_env *env, char *err, size_t errlen)
{
	unsigned flags = 0;

	mdb_env_get_flags(env, &flags);
	if ((flags & (MDB_NOSYNC | MDB_NOMETASYNC | MDB_MAPASYNC)) == 0)
		return 0;
	ad_seterr(err, errlen,
	    "cannot open the audit log: the state environment does not sync "
	    "its commits (MDB_NOSYNC, MDB_NOMETASYNC or MDB_MAPASYNC)");
	return AGENTD_EINVAL;
}

int
ad_audit_open(MDB_env *env, const struct ad_audit_opts *opts,
    struct ad_audit **out, char *err, size_t errlen)
{
	struct ad_audit *a;
	int              rc;

	if ((rc = env_durable(env, err, errlen)) != 0)
		return rc;
	a = audit_new(env, opts);
	if ((rc = write_txn(a, dbs_open, NULL, 4096)) != 0
	    || (rc = head_load(a)) != 0) {
		ad_seterr(err, errlen, "cannot open the audit log: %s",
		    mdb_strerror(rc));
		rc = audit_err(a, rc, "opening the audit log");
		audit_free(a);
		return rc;
	}
	if ((rc = pthread_create(&a->thread, NULL, writer_main, a)) != 0) {
		ad_seterr(err, errlen, "cannot start the audit writer: %s",
		    strerror(rc));
		audit_free(a);
		return AGENTD_ENOMEM;
	}
	*out = a;
	return 0;
}

void
ad_audit_close(struct ad_audit *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mtx);
	a->closing = 1;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mtx);
	pthread_join(a->thread, NULL);
	audit_free(a);
}

/* ---- query -------------------------------------------------------------- */

struct qentry {
	struct qentry        *next;
	struct ad_audit_entry e;
};

struct query {
	struct ad_audit_filter f;
	size_t                 left; /* how many more may be returned */
	struct qentry         *list, **tail;
	size_t                 bytes;
};

static int
span_is(const struct span *s, const char *want)
{
	return want == NULL
	    || (s->p != NULL && strlen(want) == s->n
	        && memcmp(s->p, want, s->n) == 0);
}

static int
query_match(const struct ad_audit_filter *f, const struct rec_view *v)
{
	return span_is(&v->agent, f->agent) && span_is(&v->kind, f->kind)
	    && (f->since_ms == 0 || v->time_ms >= f->since_ms)
	    && (f->until_ms == 0 || v->time_ms < f->until_ms);
}

static struct qentry *
qentry_new(const struct rec_view *v)
{
	size_t n = v->agent.n + v->instance.n + v->kind.n + v->summary.n
	    + v->detail.n + 5;
	struct qentry         *q = ad_xcalloc(1, sizeof(*q) + n);
	struct ad_audit_entry *e = &q->e;
	char                  *d = (char *)(q + 1);
	struct span            s;

	e->seq      = v->seq;
	e->time_ms  = v->time_ms;
	d           = copy_span(d, v->agent.p, v->agent.n, &s);
	e->agent    = s.p;
	d           = copy_span(d, v->instance.p, v->instance.n, &s);
	e->instance = s.p;
	d           = copy_span(d, v->kind.p ? v->kind.p : "", v->kind.n, &s);
	e->kind     = s.p;
	d = copy_span(d, v->summary.p ? v->summary.p : "", v->summary.n, &s);
	e->summary = s.p;
	copy_span(d, v->detail.n ? v->detail.p : NULL, v->detail.n, &s);
	e->detail     = s.p;
	e->detail_len = s.n;
	memcpy(e->prev, v->prev, HASH_LEN);
	memcpy(e->hash, v->hash, HASH_LEN);
	return q;
}

static int
query_visit(void *arg, MDB_txn *txn, uint64_t seq, const MDB_val *val)
{
	struct query   *q = arg;
	struct qentry  *e;
	struct rec_view v;
	agentd_doc     *doc;

	(void)txn;
	if (val == NULL)
		return 0;
	if (q->f.oldest_first ? q->f.max_seq != 0 && seq > q->f.max_seq
	                      : seq < q->f.min_seq)
		return WALK_STOP;
	if (rec_parse(val->mv_data, val->mv_size, &doc, &v, NULL) != 0) {
		ad_warn("audit: record %" PRIu64 " is unreadable; skipped: "
		        "run agentctl audit verify",
		    seq);
		return 0;
	}
	if (query_match(&q->f, &v)) {
		e        = qentry_new(&v);
		*q->tail = e;
		q->tail  = &e->next;
		q->bytes += sizeof(*e) + val->mv_size;
		q->left--;
	}
	agentd_doc_free(doc);
	if (q->left == 0)
		return WALK_STOP;
	return q->bytes >= QUERY_BYTES ? WALK_PAUSE : 0;
}

/* Hand what the query holds to fn, outside any transaction. */
static int
query_flush(struct query *q, ad_audit_entry_fn fn, void *arg, int rv)
{
	struct qentry *e, *next;

	for (e = q->list; e != NULL; e = next) {
		next = e->next;
		if (rv == 0)
			rv = fn(arg, &e->e);
		free(e);
	}
	q->list  = NULL;
	q->tail  = &q->list;
	q->bytes = 0;
	return rv;
}

/*
 * Records queued before a query are in its answer: wait for them to be
 * committed (one commit cycle, about a millisecond), or for their batch
 * to fail, at most a second.  What `agentctl status` showed is then in
 * `agentctl audit` run after it, though the supervisor does not wait for its
 * own records.
 */
static void
await_queued(struct ad_audit *a)
{
	struct timespec until;
	uint64_t        want, failed;

	if (pthread_equal(pthread_self(), a->thread))
		return; /* a callback: the writer would wait for itself */
	/* A writer stuck on a dying disk must not take queries with it:
	 * after a second, answer with what is committed. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	pthread_mutex_lock(&a->mtx);
	want   = a->tip.seq;
	failed = a->st.failed;
	while (a->st.head_seq < want && a->st.failed == failed && !a->closing)
		if (pthread_cond_timedwait(&a->synced, &a->mtx, &until) != 0)
			break;
	pthread_mutex_unlock(&a->mtx);
}

int
ad_audit_query(struct ad_audit *a, const struct ad_audit_filter *f,
    ad_audit_entry_fn fn, void *arg)
{
	struct query q  = { .f = *f };
	struct walk  w  = { .visit = query_visit, .arg = &q };
	int          rc = 0, rv = 0;

	await_queued(a);
	q.left     = f->limit != 0 ? f->limit : SIZE_MAX;
	q.tail     = &q.list;
	w.backward = !f->oldest_first;
	w.pos      = w.backward ? (f->max_seq ? f->max_seq : UINT64_MAX)
	                        : (f->min_seq ? f->min_seq : 1);
	while (rc == 0 || rc == WALK_PAUSE) {
		rc = walk_chunk(a, &w);
		if ((rv = query_flush(&q, fn, arg, 0)) != 0)
			return rv;
	}
	if (rc == WALK_END || rc == WALK_STOP)
		return 0;
	return audit_err(a, rc, "querying the audit log");
}

/* ---- verify ------------------------------------------------------------- */

/*
 * The walk ended: the head, read in the same transaction as the last
 * record, must name it.  A head past it means records were cut off the
 * end.
 */
static int
head_check(struct ad_audit *a, MDB_txn *txn, struct chain *c)
{
	uint64_t    last = c->next - 1;
	struct mark h;
	int         rc = mark_get(txn, a->meta, "audit_head", &h);

	if (rc == MDB_NOTFOUND && last == 0)
		return 0;
	if (rc == MDB_NOTFOUND || rc == EPROTO)
		return chain_broken(c, last, "the audit head is %s",
		    rc == EPROTO ? "unreadable" : "missing");
	if (rc != 0)
		return rc;
	if (h.seq > last)
		return chain_broken(c, last + 1,
		    "record %" PRIu64 " is missing: the head says the log "
		    "ends at record %" PRIu64,
		    last + 1, h.seq);
	if (h.seq < last)
		return chain_broken(c, h.seq + 1,
		    "record %" PRIu64 " is past the head (record %" PRIu64 ")",
		    h.seq + 1, h.seq);
	if (memcmp(h.hash, c->prev, HASH_LEN) != 0)
		return chain_broken(c, last,
		    "the head's hash is not the hash of record %" PRIu64,
		    last);
	return 0;
}

struct verify {
	struct ad_audit *a;
	struct chain     c;
};

static int
verify_visit(void *arg, MDB_txn *txn, uint64_t seq, const MDB_val *val)
{
	struct verify *v = arg;

	if (val == NULL)
		return head_check(v->a, txn, &v->c);
	return chain_value(&v->c, seq, val);
}

int
ad_audit_verify(struct ad_audit *a, struct ad_audit_verify_result *res)
{
	struct verify v = { .a = a };
	struct walk   w = { .visit = verify_visit, .arg = &v };
	int           rc;

	if ((rc = chain_init(&v.c, res)) != 0)
		return AGENTD_ENOMEM;
	pthread_mutex_lock(&a->maint);
	rc = chain_from_base(a, &v.c);
	if (rc == EPROTO)
		rc = chain_broken(&v.c, 0, "the archive base is unreadable");
	w.pos = v.c.next;
	while (rc == 0)
		rc = walk_chunk(a, &w);
	pthread_mutex_unlock(&a->maint);
	if (res->ok)
		memcpy(res->head_hash, v.c.prev, HASH_LEN);
	agentd_writer_free(v.c.w);
	if (rc == WALK_END || rc == CHAIN_BROKEN)
		return 0;
	return audit_err(a, rc, "verifying the audit log");
}

/* ---- archive ------------------------------------------------------------ */

struct cut {
	struct chain                  c;
	int64_t                       before;
	FILE                         *f;
	uint64_t                      first;
	int64_t                       first_ms;
	struct ad_audit_verify_result res;
};

/* Copy the old enough prefix to the file, checking its chain. */
static int
cut_visit(void *arg, MDB_txn *txn, uint64_t seq, const MDB_val *val)
{
	struct cut     *k = arg;
	struct rec_view v;
	agentd_doc     *doc;
	int             rc;

	(void)txn;
	if (val == NULL)
		return WALK_END;
	if (rec_parse(val->mv_data, val->mv_size, &doc, &v, NULL) != 0)
		return chain_step(&k->c, seq, NULL);
	if (v.time_ms >= k->before)
		rc = WALK_STOP;
	else if ((rc = chain_step(&k->c, seq, &v)) == 0
	    && fwrite(val->mv_data, 1, val->mv_size, k->f) != val->mv_size)
		rc = errno ? errno : EIO;
	if (rc == 0 && k->first == 0) {
		k->first    = seq;
		k->first_ms = v.time_ms;
	}
	agentd_doc_free(doc);
	return rc;
}

struct cut_del {
	uint64_t       from, to;
	agentd_writer *w;
};

/* Delete records from..to and make the last one the base, atomically. */
static int
cut_delete(struct ad_audit *a, MDB_txn *txn, void *arg)
{
	struct cut_del *d = arg;
	struct mark     base;
	unsigned char   kb[8];
	MDB_val         key, val;
	struct rec_view v;
	agentd_doc     *doc;
	int             rc;

	seq_key(d->to, kb, &key);
	if ((rc = mdb_get(txn, a->dbi, &key, &val)) != 0
	    || (rc = rec_parse(val.mv_data, val.mv_size, &doc, &v, NULL)) != 0)
		return rc;
	base.seq = d->to;
	memcpy(base.hash, v.hash, HASH_LEN);
	agentd_doc_free(doc);
	for (uint64_t s = d->from; s <= d->to; s++) {
		seq_key(s, kb, &key);
		if ((rc = mdb_del(txn, a->dbi, &key, NULL)) != 0)
			return rc;
	}
	return mark_put(txn, a->meta, d->w, "audit_base", &base);
}

static int
cut_delete_all(struct ad_audit *a, uint64_t first, uint64_t last)
{
	struct cut_del d  = { .from = first };
	int            rc = 0;

	if (agentd_writer_new(&d.w) != 0)
		return ENOMEM;
	for (; rc == 0 && d.from <= last; d.from = d.to + 1) {
		d.to = last - d.from >= DELETE_CHUNK
		    ? d.from + DELETE_CHUNK - 1
		    : last;
		rc   = write_txn(a, cut_delete, &d, 64 * 1024);
	}
	agentd_writer_free(d.w);
	return rc;
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = fd >= 0 && fsync(fd) == 0 ? 0 : errno;

	if (fd >= 0)
		close(fd);
	return rc;
}

/* Sync the temporary file, give it its final name, sync the folder. */
static int
cut_publish(struct cut *k, const char *tmp, const char *dir,
    struct ad_audit_archive_result *res)
{
	struct tm tm;
	time_t    t = (time_t)(k->first_ms / 1000);
	char     *name;
	int       rc = 0;

	if (fflush(k->f) != 0 || fsync(fileno(k->f)) != 0)
		rc = errno;
	if (fclose(k->f) != 0 && rc == 0)
		rc = errno;
	k->f = NULL;
	if (rc != 0)
		return rc;
	gmtime_r(&t, &tm);
	name = ad_xasprintf("%s/audit-%04d%02d%02d-%" PRIu64 "-%" PRIu64 ".mp",
	    dir, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, k->first,
	    k->res.last_seq);
	if (rename(tmp, name) != 0 || (rc = fsync_dir(dir)) != 0)
		rc = rc ? rc : errno;
	else
		snprintf(res->path, sizeof(res->path), "%s", name);
	free(name);
	return rc;
}

/* Write the prefix to a temporary file in dir; k->f is left open. */
static int
cut_scan(struct ad_audit *a, struct cut *k, char *tmp)
{
	struct walk w = { .visit = cut_visit, .arg = k };
	int         fd, rc;

	if ((fd = mkstemp(tmp)) < 0)
		return errno;
	if ((k->f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return ENOMEM;
	}
	if ((rc = chain_init(&k->c, &k->res)) != 0
	    || (rc = chain_from_base(a, &k->c)) != 0)
		return rc;
	w.pos = k->c.next;
	while (rc == 0)
		rc = walk_chunk(a, &w);
	return rc == WALK_END || rc == WALK_STOP ? 0 : rc;
}

static int
archive_fail(struct ad_audit *a, int rc, const struct cut *k, const char *dir,
    char *err, size_t errlen)
{
	if (rc == CHAIN_BROKEN) {
		ad_seterr(err, errlen,
		    "not archiving: the audit chain is broken: %s: run "
		    "agentctl audit verify",
		    k->res.what);
		return AGENTD_EPROTO;
	}
	ad_seterr(err, errlen, "cannot archive audit records to %s: %s", dir,
	    mdb_strerror(rc));
	return audit_err(a, rc, "archiving audit records");
}

static int
archive_locked(struct ad_audit *a, struct cut *k, const char *dir,
    struct ad_audit_archive_result *res, char *err, size_t errlen)
{
	char *tmp = ad_xasprintf("%s/.audit-archive.XXXXXX", dir);
	int   rc;

	if ((rc = ad_mkdir_p(dir, 0700)) == 0)
		rc = cut_scan(a, k, tmp);
	if (rc == 0 && k->first != 0)
		rc = cut_publish(k, tmp, dir, res);
	if (k->f != NULL)
		fclose(k->f);
	if (rc != 0 || k->first == 0)
		unlink(tmp);
	free(tmp);
	if (rc == 0 && k->first != 0)
		rc = cut_delete_all(a, k->first, k->res.last_seq);
	if (rc != 0)
		return archive_fail(a, rc, k, dir, err, errlen);
	if (k->first != 0) {
		res->first_seq = k->first;
		res->last_seq  = k->res.last_seq;
		res->records   = k->res.records;
	}
	return 0;
}

int
ad_audit_archive(struct ad_audit *a, int64_t older_than_ms, const char *dir,
    struct ad_audit_archive_result *res, char *err, size_t errlen)
{
	struct cut k = { .before = older_than_ms };
	int        rv;

	memset(res, 0, sizeof(*res));
	pthread_mutex_lock(&a->maint);
	rv = archive_locked(a, &k, dir, res, err, errlen);
	pthread_mutex_unlock(&a->maint);
	agentd_writer_free(k.c.w);
	return rv;
}

/* ---- archive files ------------------------------------------------------ */

/* Step the chain through buf; the first record sets where it starts. */
static int
chain_buffer(struct chain *c, const unsigned char *buf, size_t len,
    const unsigned char *expect_prev)
{
	struct rec_view v;
	agentd_doc     *doc;
	size_t          off = 0, used;
	int             rc  = 0;

	for (; rc == 0 && off < len; off += used) {
		if (rec_parse(buf + off, len - off, &doc, &v, &used) != 0)
			return chain_step(c, c->next, NULL);
		if (off == 0) {
			c->next           = v.seq;
			c->res->first_seq = v.seq;
			memcpy(c->prev, expect_prev ? expect_prev : v.prev,
			    HASH_LEN);
		}
		rc = chain_step(c, v.seq, &v);
		agentd_doc_free(doc);
	}
	if (rc == 0 && off == 0)
		return chain_broken(c, 0, "the file holds no record");
	return rc;
}

static int
file_error(struct ad_audit_verify_result *res, const char *path, int e)
{
	res->ok = 0;
	snprintf(res->what, sizeof(res->what), "%s: %s", path, strerror(e));
	return e == ENOENT ? AGENTD_ENOENT : AGENTD_EIO;
}

int
ad_audit_verify_archive(const char *path, const unsigned char *expect_prev,
    struct ad_audit_verify_result *res)
{
	struct chain c;
	struct stat  st;
	void        *buf = NULL;
	int          fd, rc;

	if ((rc = chain_init(&c, res)) != 0)
		return AGENTD_ENOMEM;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0
	    || (st.st_size > 0
	        && (buf = mmap(NULL, (size_t)st.st_size, PROT_READ,
	                MAP_PRIVATE, fd, 0))
	            == MAP_FAILED)) {
		rc = file_error(res, path, errno);
		if (fd >= 0)
			close(fd);
		agentd_writer_free(c.w);
		return rc;
	}
	close(fd);
	rc = chain_buffer(&c, buf, (size_t)st.st_size, expect_prev);
	if (buf != NULL)
		munmap(buf, (size_t)st.st_size);
	if (res->ok)
		memcpy(res->head_hash, c.prev, HASH_LEN);
	agentd_writer_free(c.w);
	return rc == 0 || rc == CHAIN_BROKEN ? 0 : AGENTD_ENOMEM;
}

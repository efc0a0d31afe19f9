/*
 * audit_read.c - walks over the audit log: queries, verify (the chain
 * check, from the archive base to the head), archiving an old prefix to a
 * file (retention), and checking an archive file on its own.
 */
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

#include <lmdb.h>

#include <agentd/error.h>
#include <agentd/msg.h>

#include "common/log.h"
#include "common/util.h"
#include "store/audit_int.h"

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
	if (rc == 0 && audit_key_seq(key) > w->pos)
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

	if ((rc = audit_read_begin(a, &txn)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, a->dbi, &cur)) == 0) {
		audit_seq_key(w->pos, kb, &key);
		rc = cursor_seek(cur, w, &key, &val);
		for (n = 0; rc == 0 && n < WALK_CHUNK;) {
			/* A key that is no seq is no record: skipped and not
			 * counted, so every chunk moves pos or ends. */
			if ((seq = audit_key_seq(&key)) != 0) {
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
	audit_read_end(a, txn);
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
	if ((rc = audit_rec_hash(c->w, v, h)) != 0)
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

	if (audit_rec_parse(val->mv_data, val->mv_size, &doc, &v, NULL) != 0)
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

	if ((rc = audit_read_begin(a, &txn)) != 0)
		return rc;
	rc = audit_mark_get(txn, a->meta, "audit_base", &base);
	audit_read_end(a, txn);
	if (rc == 0) {
		c->next = base.seq + 1;
		memcpy(c->prev, base.hash, HASH_LEN);
	}
	c->res->first_seq = c->next;
	return rc == MDB_NOTFOUND ? 0 : rc;
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
	d           = audit_copy_span(d, v->agent.p, v->agent.n, &s);
	e->agent    = s.p;
	d           = audit_copy_span(d, v->instance.p, v->instance.n, &s);
	e->instance = s.p;
	d = audit_copy_span(d, v->kind.p ? v->kind.p : "", v->kind.n, &s);
	e->kind = s.p;
	d       = audit_copy_span(
	          d, v->summary.p ? v->summary.p : "", v->summary.n, &s);
	e->summary = s.p;
	audit_copy_span(d, v->detail.n ? v->detail.p : NULL, v->detail.n, &s);
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
	if (audit_rec_parse(val->mv_data, val->mv_size, &doc, &v, NULL) != 0) {
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

int
ad_audit_query(struct ad_audit *a, const struct ad_audit_filter *f,
    ad_audit_entry_fn fn, void *arg)
{
	struct query q  = { .f = *f };
	struct walk  w  = { .visit = query_visit, .arg = &q };
	int          rc = 0, rv = 0;

	audit_await_queued(a);
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
	int         rc = audit_mark_get(txn, a->meta, "audit_head", &h);

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

/*
 * The seals, walked with the chain (keys given): cur is the next seal to
 * meet, read in the walk's own transactions, by epoch, once the one before
 * it is met.
 */
struct seals {
	const unsigned char (*keys)[KEY_LEN];
	size_t        nkeys;
	int           started, have; /* have: cur is the next to meet */
	struct seal   cur;
	uint64_t      epoch; /* cur's, or the one due */
	unsigned char announced[KEY_LEN];
	uint64_t      from; /* the first record cur covers */
};

struct verify {
	struct ad_audit *a;
	struct chain     c;
	struct seals    *s; /* NULL: no keys, no seals checked */
};

static int
key_given(const struct seals *s, const struct seal *x)
{
	for (size_t i = 0; i < s->nkeys; i++)
		if (audit_seal_signed_by(x, s->keys[i]))
			return 1;
	return 0;
}

/* "records 5 to 9", or "no record" for a seal over none. */
static const char *
covers(char *buf, size_t size, uint64_t from, uint64_t to)
{
	if (to < from)
		snprintf(buf, size, "no record");
	else
		snprintf(
		    buf, size, "records %" PRIu64 " to %" PRIu64, from, to);
	return buf;
}

/* Read seal s->epoch and check its signature; none left: !have. */
static int
seal_next(struct verify *v, MDB_txn *txn)
{
	struct seals *s = v->s;
	struct seal  *x = &s->cur;
	char          pub[AD_AUDIT_KEY_STRLEN], span[64];
	int           rc;

	s->have = 0;
	rc      = audit_seal_get(txn, v->a->seals, s->epoch, x);
	if (rc == MDB_NOTFOUND) {
		rc = audit_seal_from(txn, v->a->seals, s->epoch, x);
		if (rc == MDB_NOTFOUND && s->epoch == 0)
			return chain_broken(&v->c, s->from,
			    "the log holds no seal: agentd seals at its first "
			    "start, so its seals were removed");
		if (rc == MDB_NOTFOUND)
			return 0;
		if (rc != 0 && rc != EPROTO)
			return rc;
		return chain_broken(&v->c, s->from,
		    "seal %" PRIu64 " is missing (the next seal present is "
		    "%" PRIu64 "): records from %" PRIu64 " lost their seal",
		    s->epoch, x->epoch, s->from);
	}
	if (rc == EPROTO)
		return chain_broken(&v->c, s->from,
		    "seal %" PRIu64 " is unreadable", s->epoch);
	if (rc != 0)
		return rc;
	ad_audit_key_format(x->pub, pub);
	covers(span, sizeof(span), s->from, x->seq);
	if (x->epoch == 0 || x->restart) {
		if (!key_given(s, x))
			return chain_broken(&v->c, s->from,
			    "seal %" PRIu64 " (%s) is %s %s, not by a key "
			    "given: %s",
			    x->epoch, span,
			    x->restart ? "a new key's first seal, signed by"
			               : "signed by",
			    pub,
			    x->restart
			        ? "give it with another --key only if "
			          "agentd printed it to you when it made "
			          "it"
			        : "a trail of another agentd, or its seals "
			          "were replaced");
	} else if (!audit_seal_signed_by(x, s->announced)) {
		return chain_broken(&v->c, s->from,
		    "seal %" PRIu64 " (%s) is not signed by the key seal "
		    "%" PRIu64 " announced: forged",
		    x->epoch, span, x->epoch - 1);
	}
	if (x->seq + 1 < s->from)
		return chain_broken(&v->c, x->seq,
		    "seal %" PRIu64 " covers records to %" PRIu64
		    ", fewer than seal %" PRIu64 " did",
		    x->epoch, x->seq, x->epoch - 1);
	s->have = 1;
	return 0;
}

/* The seal met: it must name record seq's hash; then the next one. */
static int
seal_meet(struct verify *v, MDB_txn *txn, const unsigned char *hash)
{
	struct seals *s = v->s;
	int           rc;

	if (memcmp(s->cur.hash, hash, HASH_LEN) != 0)
		return chain_broken(&v->c, s->from,
		    "records %" PRIu64 " to %" PRIu64 " do not match seal "
		    "%" PRIu64 ": rewritten after it was signed",
		    s->from, s->cur.seq, s->cur.epoch);
	v->c.res->seals++;
	v->c.res->sealed_seq = s->cur.seq;
	memcpy(s->announced, s->cur.next, KEY_LEN);
	s->from = s->cur.seq + 1;
	s->epoch++;
	if ((rc = seal_next(v, txn)) != 0)
		return rc;
	return 0;
}

/*
 * First visit: seal 0, then the seals of archived records (their hash
 * cannot be checked here, but their signatures are) up to the base.
 */
static int
seals_start(struct verify *v, MDB_txn *txn)
{
	struct seals *s    = v->s;
	uint64_t      base = v->c.res->first_seq - 1;
	int           rc;

	s->started = 1;
	s->from    = 1;
	if ((rc = seal_next(v, txn)) != 0)
		return rc;
	while (s->have && s->cur.seq < base) {
		v->c.res->seals++;
		v->c.res->archived++;
		memcpy(s->announced, s->cur.next, KEY_LEN);
		s->from = s->cur.seq + 1;
		s->epoch++;
		if ((rc = seal_next(v, txn)) != 0)
			return rc;
	}
	while (rc == 0 && s->have && s->cur.seq == base)
		rc = seal_meet(v, txn, v->c.prev);
	return rc;
}

static int
verify_visit(void *arg, MDB_txn *txn, uint64_t seq, const MDB_val *val)
{
	struct verify *v = arg;
	struct seals  *s = v->s;
	int            rc;

	if (s != NULL && !s->started && (rc = seals_start(v, txn)) != 0)
		return rc;
	if (val == NULL) {
		if ((rc = head_check(v->a, txn, &v->c)) != 0 || s == NULL
		    || !s->have)
			return rc;
		return chain_broken(&v->c, v->c.next,
		    "seal %" PRIu64 " covers records to %" PRIu64
		    " but the log ends at record %" PRIu64
		    ": records were removed",
		    s->cur.epoch, s->cur.seq, v->c.next - 1);
	}
	if ((rc = chain_value(&v->c, seq, val)) != 0)
		return rc;
	while (rc == 0 && s != NULL && s->have && s->cur.seq == seq)
		rc = seal_meet(v, txn, v->c.prev);
	return rc;
}

int
ad_audit_verify(struct ad_audit *a, struct ad_audit_verify_result *res)
{
	return ad_audit_verify_sealed(a, NULL, 0, res);
}

int
ad_audit_verify_sealed(struct ad_audit *a,
    const unsigned char (*keys)[AD_AUDIT_KEY_LEN], size_t nkeys,
    struct ad_audit_verify_result *res)
{
	struct seals  s = { .keys = keys, .nkeys = nkeys };
	struct verify v = { .a = a, .s = nkeys > 0 ? &s : NULL };
	struct walk   w = { .visit = verify_visit, .arg = &v };
	int           rc;

	if ((rc = chain_init(&v.c, res)) != 0)
		return AGENTD_ENOMEM;
	if (v.s != NULL && a->sealer == NULL) {
		/* Nothing to check the keys against: say so, exit 1. */
		chain_broken(
		    &v.c, 0, "this audit log is opened without seals");
		agentd_writer_free(v.c.w);
		return 0;
	}
	res->keyed = v.s != NULL;
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
	if (res->ok && res->keyed)
		res->unsealed = res->last_seq > res->sealed_seq
		    ? res->last_seq - res->sealed_seq
		    : 0;
	agentd_writer_free(v.c.w);
	if (rc == WALK_END || rc == CHAIN_BROKEN)
		return 0;
	return audit_err(a, rc, "verifying the audit log");
}

/* ---- archive ------------------------------------------------------------ */

struct cut {
	struct chain                  c;
	int64_t                       before_ms;
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
	if (audit_rec_parse(val->mv_data, val->mv_size, &doc, &v, NULL) != 0)
		return chain_step(&k->c, seq, NULL);
	if (v.time_ms >= k->before_ms)
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

	audit_seq_key(d->to, kb, &key);
	if ((rc = mdb_get(txn, a->dbi, &key, &val)) != 0
	    || (rc = audit_rec_parse(val.mv_data, val.mv_size, &doc, &v, NULL))
	        != 0)
		return rc;
	base.seq = d->to;
	memcpy(base.hash, v.hash, HASH_LEN);
	agentd_doc_free(doc);
	for (uint64_t s = d->from; s <= d->to; s++) {
		audit_seq_key(s, kb, &key);
		if ((rc = mdb_del(txn, a->dbi, &key, NULL)) != 0)
			return rc;
	}
	return audit_mark_put(txn, a->meta, d->w, "audit_base", &base);
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
		rc   = audit_write_txn(a, cut_delete, &d, 64 * 1024);
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
	struct cut k = { .before_ms = older_than_ms };
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
		if (audit_rec_parse(buf + off, len - off, &doc, &v, &used)
		    != 0)
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

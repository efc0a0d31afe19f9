/*
 * audit_write.c - the audit log's handle and everything that writes: opening
 * (where the chain continues) and closing, the gate and the transactions
 * every part of the log runs in, the queue that chains each record as it
 * is appended, the commit thread that writes a batch per durable
 * transaction and only then answers, and the stats.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lmdb.h>

#include <agentd/error.h>
#include <agentd/msg.h>

#include "common/log.h"
#include "common/util.h"
#include "sdk/contract.h"
#include "store/audit_int.h"
#include "store/store.h"

/* A record queued for the writer; its strings and detail follow it. */
struct pending {
	struct pending  *next;
	ad_audit_done_fn done;
	void            *arg;
	struct rec_view  v;
	unsigned char    prev[HASH_LEN], hash[HASH_LEN];
	void            *val; /* the stored value, once chained */
	size_t           val_len;
	/* Side writes: their array follows the struct, their keys and
	 * values the record's strings. */
	struct ad_audit_side *sides;
	size_t                nsides;
};

int
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

/* ---- transactions and the gate ----------------------------------------- */

/*
 * Every transaction of this module runs holding the gate for reading, and
 * only map_grow() holds it for writing: that is how mdb_env_set_mapsize()
 * is only ever called with no transaction active in the process.  Nothing
 * here takes the gate twice on one thread, and nothing waits for the
 * writer thread while holding it (callbacks run after it is released).
 */
int
audit_read_begin(struct ad_audit *a, MDB_txn **txn)
{
	int rc;

	pthread_rwlock_rdlock(a->gate);
	if ((rc = mdb_txn_begin(a->env, NULL, MDB_RDONLY, txn)) != 0)
		pthread_rwlock_unlock(a->gate);
	return rc;
}

void
audit_read_end(struct ad_audit *a, MDB_txn *txn)
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

static int
write_once(struct ad_audit *a, audit_txn_fn fn, void *arg, size_t *mapsize)
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

int
audit_write_txn(struct ad_audit *a, audit_txn_fn fn, void *arg, size_t need)
{
	size_t seen;
	int    rc = write_once(a, fn, arg, &seen);

	if (rc == MDB_MAP_FULL && map_grow(a, seen, need) == 0)
		rc = write_once(a, fn, arg, &seen);
	return rc;
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
	if (!r->trusted)
		rv = ad_audit_fields_check(
		    r->kind, r->summary, r->detail, r->detail_len);
	else if (r->kind == NULL || r->kind[0] == '\0' || r->summary == NULL
	    || (r->detail == NULL && r->detail_len != 0))
		rv = AGENTD_EINVAL;
	else
		rv = r->detail_len > AGENTD_AUDIT_DETAIL_MAX ? AGENTD_ETOOBIG
		                                             : 0;
	if (rv == AGENTD_EINVAL)
		return rv;
	if (opt_len(r->agent, AD_AUDIT_NAME_MAX) > AD_AUDIT_NAME_MAX
	    || opt_len(r->instance, AD_AUDIT_NAME_MAX) > AD_AUDIT_NAME_MAX)
		return AGENTD_ETOOBIG;
	if (r->nsides > AD_AUDIT_SIDES_MAX
	    || (r->nsides > 0 && r->sides == NULL))
		return AGENTD_EINVAL;
	for (size_t i = 0; i < r->nsides; i++)
		if (r->sides[i].keylen == 0
		    || r->sides[i].keylen > 511 /* LMDB's default key limit */)
			return AGENTD_EINVAL;
	return rv;
}

/* One allocation per record: the queue costs one malloc per append. */
static struct pending *
pending_new(const struct ad_audit_rec *r)
{
	size_t          na = opt_len(r->agent, AD_AUDIT_NAME_MAX);
	size_t          ni = opt_len(r->instance, AD_AUDIT_NAME_MAX);
	size_t          nk = strlen(r->kind), ns = strlen(r->summary);
	size_t          nside = 0;
	struct pending *p;
	char           *d;

	for (size_t i = 0; i < r->nsides; i++)
		nside += r->sides[i].keylen + r->sides[i].vallen;
	p        = ad_xcalloc(1,
	           sizeof(*p) + r->nsides * sizeof(*p->sides) + na + ni + nk + ns
	               + r->detail_len + 5 + nside);
	p->sides = (struct ad_audit_side *)(p + 1);
	d        = (char *)(p->sides + r->nsides);

	d = audit_copy_span(d, r->agent, na, &p->v.agent);
	d = audit_copy_span(d, r->instance, ni, &p->v.instance);
	d = audit_copy_span(d, r->kind, nk, &p->v.kind);
	d = audit_copy_span(d, r->summary, ns, &p->v.summary);
	d = audit_copy_span(
	    d, r->detail_len ? r->detail : NULL, r->detail_len, &p->v.detail);
	for (size_t i = 0; i < r->nsides; i++) {
		struct ad_audit_side *sd = &p->sides[i];

		*sd = r->sides[i];
		memcpy(d, r->sides[i].key, sd->keylen);
		sd->key = d;
		d += sd->keylen;
		if (r->sides[i].val != NULL) {
			if (sd->vallen > 0)
				memcpy(d, r->sides[i].val, sd->vallen);
			sd->val = d;
			d += sd->vallen;
		}
	}
	p->nsides    = r->nsides;
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
	if (audit_rec_hash_with(a->hm, a->wm, &p->v, p->hash) != 0
	    || audit_value_encode(a->wv, &p->v) != 0)
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

/* The side writes of p, in order, in the record's transaction. */
static int
sides_write(MDB_txn *txn, const struct pending *p)
{
	MDB_val key, val;
	int     rc;

	for (size_t i = 0; i < p->nsides; i++) {
		const struct ad_audit_side *sd = &p->sides[i];

		key.mv_data = (void *)sd->key;
		key.mv_size = sd->keylen;
		if (sd->val == NULL) {
			rc = mdb_del(txn, sd->dbi, &key, NULL);
			if (rc == MDB_NOTFOUND)
				rc = 0;
		} else {
			val.mv_data = (void *)sd->val;
			val.mv_size = sd->vallen;
			rc          = mdb_put(txn, sd->dbi, &key, &val,
                            sd->append ? MDB_APPEND : 0);
			/* Out of order (another thread's decisions were
			 * queued first): LMDB refused it, changing nothing. */
			if (rc == MDB_KEYEXIST && sd->append)
				rc = mdb_put(txn, sd->dbi, &key, &val, 0);
		}
		if (rc != 0)
			return rc;
	}
	return 0;
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
		audit_seq_key(p->v.seq, kb, &key);
		val.mv_data = p->val;
		val.mv_size = p->val_len;
		/* Keys only grow: MDB_APPEND skips the search, fills pages. */
		if ((rc = mdb_put(txn, a->dbi, &key, &val, MDB_APPEND)) != 0)
			return rc;
		if ((rc = sides_write(txn, p)) != 0)
			return rc;
		last = p;
	}
	b->head.seq = last->v.seq;
	memcpy(b->head.hash, last->hash, HASH_LEN);
	return audit_mark_put(txn, a->meta, a->wh, "audit_head", &b->head);
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

	status = audit_err(a, audit_write_txn(a, batch_write, b, b->bytes),
	    "appending to the audit log");
	batch_account(a, b, status);
	for (p = b->list; p != NULL; p = next) {
		next = p->next;
		if (p->done != NULL)
			p->done(p->arg, status, status == 0 ? p->v.seq : 0);
		pending_free(p);
	}
	pthread_mutex_lock(&a->mtx);
	if (status == 0 && a->watch != NULL)
		a->watch(a->watch_arg, b->head.seq);
	pthread_cond_broadcast(&a->synced);
	pthread_mutex_unlock(&a->mtx);
}

void
ad_audit_watch(struct ad_audit *a, ad_audit_watch_fn fn, void *arg)
{
	pthread_mutex_lock(&a->mtx);
	a->watch     = fn;
	a->watch_arg = arg;
	pthread_mutex_unlock(&a->mtx);
}

/*
 * Take everything queued; 0 once closing and drained.  Wakes up with
 * nothing when a seal falls due (audit_seal_until).
 */
static int
batch_take(struct ad_audit *a, struct batch *b)
{
	struct timespec until;

	memset(b, 0, sizeof(*b));
	pthread_mutex_lock(&a->mtx);
	while (a->q_head == NULL && !a->closing) {
		if (!audit_seal_until(a, &until))
			pthread_cond_wait(&a->cv, &a->mtx);
		else if (pthread_cond_timedwait(&a->cv, &a->mtx, &until) != 0)
			break;
	}
	if (a->q_head == NULL && a->closing) {
		pthread_mutex_unlock(&a->mtx);
		return 0;
	}
	b->list   = a->q_head;
	b->n      = a->q_len;
	a->q_head = NULL;
	a->q_tail = &a->q_head;
	a->q_len  = 0;
	pthread_mutex_unlock(&a->mtx);
	for (struct pending *p = b->list; p != NULL; p = p->next) {
		b->bytes += 16 + p->val_len;
		for (size_t i = 0; i < p->nsides; i++)
			b->bytes
			    += 32 + p->sides[i].keylen + p->sides[i].vallen;
	}
	return 1;
}

static void *
writer_main(void *arg)
{
	struct ad_audit *a = arg;
	struct batch     b;

	while (batch_take(a, &b)) {
		if (b.list != NULL)
			batch_run(a, &b);
		audit_seal_maybe(a, 0);
	}
	audit_seal_maybe(a, 1); /* a clean stop leaves everything sealed */
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
		int64_t now_ms = ad_wall_ms();

		for (p = head; p != NULL; p = p->next) {
			if (p->v.time_ms == 0)
				p->v.time_ms = now_ms;
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
audit_await_queued(struct ad_audit *a)
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
		m->seq = audit_key_seq(&key);
		rc = audit_rec_parse(val.mv_data, val.mv_size, &doc, &v, NULL);
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
	int rc = audit_mark_get(txn, meta, name, m);

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

	if ((rc = audit_read_begin(a, &txn)) != 0)
		return rc;
	rc = head_from(a, txn, &head);
	audit_read_end(a, txn);
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
	    || agentd_writer_new(&a->wh) != 0
	    || (a->hm = audit_hasher_new()) == NULL)
		abort();
	return a;
}

static void
audit_free(struct ad_audit *a)
{
	audit_seal_free(a);
	agentd_writer_free(a->wm);
	agentd_writer_free(a->wv);
	agentd_writer_free(a->wh);
	audit_hasher_free(a->hm);
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
	if ((rc = audit_write_txn(a, dbs_open, NULL, 4096)) != 0
	    || (rc = head_load(a)) != 0) {
		ad_seterr(err, errlen, "cannot open the audit log: %s",
		    mdb_strerror(rc));
		rc = audit_err(a, rc, "opening the audit log");
		audit_free(a);
		return rc;
	}
	if ((rc = audit_seal_open(a, opts, err, errlen)) != 0) {
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

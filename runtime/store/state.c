#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include <agentd/error.h>

#include "common/log.h"
#include "common/util.h"
#include "sdk/contract.h"
#include "store/state.h"
#include "store/store.h"

/* Agent names are at most AGENTD_NAME_MAX bytes, then one NUL. */
#define STATE_AGENT_MAX AGENTD_NAME_MAX
#define STATE_FULLKEY_MAX (STATE_AGENT_MAX + 1 + AD_STATE_KEY_MAX)

#if STATE_FULLKEY_MAX > 511
#error "a state key must fit LMDB's default key limit of 511 bytes"
#endif

/*
 * A scan copies at most this many entries, or about this many value bytes
 * (at least one entry), out of one read transaction before calling back:
 * memory stays bounded and no reader pins old pages for long.
 */
#define SCAN_CHUNK_ENTRIES 128
#define SCAN_CHUNK_BYTES ((size_t)1 << 20)

/*
 * One write waiting for a commit: a put, a delete or a batch, its
 * arguments borrowed from the caller, who waits until done is set.
 */
struct wop {
	struct full_key              *key;     /* put, del; NULL for a batch */
	const MDB_val                *val;     /* put; NULL for a delete */
	int64_t                       expires; /* put: wall ms, 0: never */
	int                           sweep;   /* a sweep: no key, no ops */
	int64_t                       now;     /* a sweep's wall clock */
	size_t                        max, removed; /* a sweep's bound */
	const char                   *agent;
	const struct agentd_state_op *ops; /* batch */
	size_t                        n;
	size_t                        bytes; /* about what it writes */
	int                           rc;    /* LMDB code once done */
	int                           done;
	struct wop                   *next;
};

struct ad_state {
	MDB_env          *env;  /* borrowed from store */
	pthread_rwlock_t *gate; /* borrowed from store */
	MDB_dbi           dbi;
	/* TTLs (doc/state.md): "state_ttl" full key -> expiry, 8 bytes big
	 * endian, wall ms; "state_expiry" expiry then full key -> "", the
	 * same in the order a sweep takes them. */
	MDB_dbi ttl_dbi, exp_dbi;
	size_t  max_value;

	/* Group commit: writes queue here; one writer at a time commits all
	 * that are queued in one durable transaction. */
	pthread_mutex_t       wmtx;
	pthread_cond_t        wcond;
	struct wop           *queue, **qtail;
	int                   committing;
	struct ad_state_stats st;
};

/* An agent's key with its namespace in front: what LMDB stores. */
struct full_key {
	char   buf[STATE_FULLKEY_MAX];
	size_t len;
};

/*
 * The one place LMDB codes become agentd codes in this module; the original
 * is logged here because the caller only ever sees the agentd code.
 * MDB_NOTFOUND is an ordinary answer, not a failure, so it is not logged.
 *
 * MDB_MAP_FULL is AGENTD_ETOOBIG: the map grows (ad_env_grow) before a
 * write is refused, so it means the map cannot grow any more; a full disk
 * is AGENTD_EIO, with the system's reason in the log.
 */
static int
state_err(struct ad_state *st, int rc, const char *what)
{
	char hint[PATH_MAX + 96];

	if (rc == MDB_NOTFOUND)
		return AGENTD_ENOENT;
	ad_error("state: %s: %s%s", what, mdb_strerror(rc),
	    ad_env_hint(st->env, rc, hint, sizeof(hint)));
	return rc == MDB_MAP_FULL ? AGENTD_ETOOBIG : AGENTD_EIO;
}

/*
 * Put agent, NUL, key into fk.  An empty key is allowed only as a scan
 * prefix (allow_empty).
 */
static int
full_key(const char *agent, const char *key, size_t keylen, int allow_empty,
    struct full_key *fk)
{
	size_t alen;

	if (!ad_valid_name(agent))
		return AGENTD_EINVAL;
	if (ad_state_key_check(key, keylen, allow_empty) != 0)
		return AGENTD_EINVAL;
	alen = strlen(agent);
	memcpy(fk->buf, agent, alen);
	fk->buf[alen] = '\0';
	if (keylen > 0)
		memcpy(fk->buf + alen + 1, key, keylen);
	fk->len = alen + 1 + keylen;
	return 0;
}

static int
check_value(const struct ad_state *st, const void *val, size_t vallen)
{
	if (val == NULL && vallen > 0)
		return AGENTD_EINVAL;
	return vallen > st->max_value ? AGENTD_ETOOBIG : 0;
}

/* ---- opening ----------------------------------------------------------- */

int
ad_state_open(struct ad_store *s, size_t max_value, struct ad_state **out,
    char *err, size_t errlen)
{
	struct ad_state *st = ad_xcalloc(1, sizeof(*st));
	MDB_txn         *txn;
	int              rc;

	st->env       = ad_store_env(s);
	st->gate      = ad_store_gate(s);
	st->max_value = max_value != 0 ? max_value : AD_STATE_VALUE_DEFAULT;
	st->qtail     = &st->queue;
	pthread_mutex_init(&st->wmtx, NULL);
	pthread_cond_init(&st->wcond, NULL);
	pthread_rwlock_rdlock(st->gate);
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) == 0) {
		if ((rc = mdb_dbi_open(txn, "state", MDB_CREATE, &st->dbi))
		        != 0
		    || (rc = mdb_dbi_open(
		            txn, "state_ttl", MDB_CREATE, &st->ttl_dbi))
		        != 0
		    || (rc = mdb_dbi_open(
		            txn, "state_expiry", MDB_CREATE, &st->exp_dbi))
		        != 0)
			mdb_txn_abort(txn);
		else
			rc = mdb_txn_commit(txn);
	}
	pthread_rwlock_unlock(st->gate);
	if (rc != 0) {
		ad_seterr(err, errlen, "cannot open the state database: %s",
		    mdb_strerror(rc));
		free(st);
		return rc == MDB_MAP_FULL ? AGENTD_ETOOBIG : AGENTD_EIO;
	}
	*out = st;
	return 0;
}

void
ad_state_close(struct ad_state *st)
{
	/* The dbi handle closes with the environment, which the store owns. */
	pthread_cond_destroy(&st->wcond);
	pthread_mutex_destroy(&st->wmtx);
	free(st);
}

/* ---- single reads and writes ------------------------------------------- */

static int batch_apply(struct ad_state *st, MDB_txn *txn, const char *agent,
    const struct agentd_state_op *ops, size_t n);

/* ---- expiries ---------------------------------------------------------- */

static void
be64_put(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t
be64_get(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The expiry of full key k in txn: 0 and *at, or MDB_NOTFOUND. */
static int
ttl_get(struct ad_state *st, MDB_txn *txn, MDB_val *k, int64_t *at)
{
	MDB_val v;
	int     rc;

	if ((rc = mdb_get(txn, st->ttl_dbi, k, &v)) != 0)
		return rc;
	*at = v.mv_size == 8 ? (int64_t)be64_get(v.mv_data) : 0;
	return 0;
}

/* Has full key k an expiry that has passed at now? */
static int
ttl_passed(struct ad_state *st, MDB_txn *txn, MDB_val *k, int64_t now)
{
	int64_t at;

	return ttl_get(st, txn, k, &at) == 0 && at <= now;
}

/* Remove k's expiry, if it has one, from both databases. */
static int
ttl_clear(struct ad_state *st, MDB_txn *txn, MDB_val *k)
{
	unsigned char buf[8 + STATE_FULLKEY_MAX];
	MDB_val       e;
	int64_t       at;
	int           rc;

	if ((rc = ttl_get(st, txn, k, &at)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	be64_put(buf, (uint64_t)at);
	memcpy(buf + 8, k->mv_data, k->mv_size);
	e.mv_data = buf;
	e.mv_size = 8 + k->mv_size;
	if ((rc = mdb_del(txn, st->exp_dbi, &e, NULL)) != 0
	    && rc != MDB_NOTFOUND)
		return rc;
	return mdb_del(txn, st->ttl_dbi, k, NULL);
}

/* Give k the expiry at (replacing the one it had). */
static int
ttl_set(struct ad_state *st, MDB_txn *txn, MDB_val *k, int64_t at)
{
	unsigned char buf[8 + STATE_FULLKEY_MAX], tv[8];
	MDB_val       e, v, empty = { 0, "" };
	int           rc;

	if ((rc = ttl_clear(st, txn, k)) != 0)
		return rc;
	be64_put(tv, (uint64_t)at);
	v.mv_data = tv;
	v.mv_size = 8;
	memcpy(buf, tv, 8);
	memcpy(buf + 8, k->mv_data, k->mv_size);
	e.mv_data = buf;
	e.mv_size = 8 + k->mv_size;
	if ((rc = mdb_put(txn, st->ttl_dbi, k, &v, 0)) != 0)
		return rc;
	return mdb_put(txn, st->exp_dbi, &e, &empty, 0);
}

/*
 * Remove at most w->max keys whose expiry is w->now or earlier, oldest
 * first, with their expiries; w->removed counts them.
 */
static int
sweep_apply(struct ad_state *st, MDB_txn *txn, struct wop *w)
{
	MDB_cursor *cur;
	MDB_val     e, v, k;
	int         rc;

	if ((rc = mdb_cursor_open(txn, st->exp_dbi, &cur)) != 0)
		return rc;
	while (w->removed < w->max
	    && (rc = mdb_cursor_get(cur, &e, &v, MDB_FIRST)) == 0) {
		if (e.mv_size <= 8 || (int64_t)be64_get(e.mv_data) > w->now)
			break;
		k.mv_data = (char *)e.mv_data + 8;
		k.mv_size = e.mv_size - 8;
		if (((rc = mdb_del(txn, st->dbi, &k, NULL)) != 0
		        && rc != MDB_NOTFOUND)
		    || ((rc = mdb_del(txn, st->ttl_dbi, &k, NULL)) != 0
		        && rc != MDB_NOTFOUND)
		    || (rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		w->removed++;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Apply one queued write inside txn; the caller commits or aborts.  A
 * write without an expiry removes the key's, if it had one. */
static int
wop_apply(struct ad_state *st, MDB_txn *txn, struct wop *w)
{
	MDB_val k;
	int     rc;

	if (w->sweep)
		return sweep_apply(st, txn, w);
	if (w->key == NULL)
		return batch_apply(st, txn, w->agent, w->ops, w->n);
	k.mv_data = w->key->buf;
	k.mv_size = w->key->len;
	if (w->val != NULL) {
		if ((rc = mdb_put(txn, st->dbi, &k, (MDB_val *)w->val, 0))
		    != 0)
			return rc;
		return w->expires != 0 ? ttl_set(st, txn, &k, w->expires)
		                       : ttl_clear(st, txn, &k);
	}
	/* An expired key is gone already: ENOENT, as get says (the sweep
	 * removes it). */
	if (ttl_passed(st, txn, &k, ad_wall_ms()))
		return MDB_NOTFOUND;
	if ((rc = mdb_del(txn, st->dbi, &k, NULL)) != 0)
		return rc;
	return ttl_clear(st, txn, &k);
}

/*
 * Commit a group of writes in one durable transaction, each in a nested
 * transaction of its own so one write's failure (a missing key to delete)
 * leaves the others in.  Returns MDB_MAP_FULL, having written nothing,
 * when the group did not fit: the caller grows the map and runs it again.
 * Otherwise every write's rc is set: its own failure, or the commit's.
 */
static int
group_once(struct ad_state *st, struct wop *group, size_t *mapsize)
{
	MDB_envinfo info;
	MDB_txn    *txn, *child;
	struct wop *w;
	int         rc;

	pthread_rwlock_rdlock(st->gate);
	mdb_env_info(st->env, &info);
	*mapsize = info.me_mapsize;
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
		goto out;
	for (w = group; w != NULL; w = w->next) {
		if ((rc = mdb_txn_begin(st->env, txn, 0, &child)) != 0)
			break;
		if ((w->rc = wop_apply(st, child, w)) != 0)
			mdb_txn_abort(child);
		else if ((rc = mdb_txn_commit(child)) != 0)
			break;
		if (w->rc == MDB_MAP_FULL) {
			rc = MDB_MAP_FULL;
			break;
		}
	}
	if (rc != 0)
		mdb_txn_abort(txn);
	else
		rc = mdb_txn_commit(txn);
out:
	pthread_rwlock_unlock(st->gate);
	if (rc != MDB_MAP_FULL)
		for (w = group; w != NULL; w = w->next)
			if (w->rc == 0)
				w->rc = rc;
	return rc;
}

static void
group_commit(struct ad_state *st, struct wop *group)
{
	struct wop *w;
	size_t      seen, need = 0, grown;
	int         rc;

	for (w = group; w != NULL; w = w->next)
		need += w->bytes;
	rc = group_once(st, group, &seen);
	if (rc == MDB_MAP_FULL
	    && (rc = ad_env_grow(st->env, st->gate, seen, need, &grown))
	        == 0) {
		pthread_mutex_lock(&st->wmtx);
		st->st.grows += grown != 0;
		pthread_mutex_unlock(&st->wmtx);
		rc = group_once(st, group, &seen);
	}
	if (rc == MDB_MAP_FULL) /* it could not grow enough */
		for (w = group; w != NULL; w = w->next)
			w->rc = MDB_MAP_FULL;
}

/*
 * Wait until w, queued, is committed.  Whoever finds no commit under
 * way takes everything queued and commits it as one transaction; writes
 * that arrive meanwhile wait for the next one.  So concurrent writers
 * share fsyncs, and a lone writer pays one, as before.
 */
static void
wait_done(struct ad_state *st, struct wop *w)
{
	struct wop *group;
	size_t      n = 0;

	pthread_mutex_lock(&st->wmtx);
	while (!w->done) {
		if (st->committing) {
			pthread_cond_wait(&st->wcond, &st->wmtx);
			continue;
		}
		st->committing = 1;
		group          = st->queue;
		st->queue      = NULL;
		st->qtail      = &st->queue;
		pthread_mutex_unlock(&st->wmtx);
		group_commit(st, group);
		pthread_mutex_lock(&st->wmtx);
		for (; group != NULL; group = group->next, n++)
			group->done = 1;
		st->st.txns++;
		st->st.writes += n;
		if (n > st->st.max_group)
			st->st.max_group = n;
		st->committing = 0;
		pthread_cond_broadcast(&st->wcond);
		n = 0;
	}
	pthread_mutex_unlock(&st->wmtx);
}

/* Queue w and wait until it is committed (wait_done). */
static int
submit(struct ad_state *st, struct wop *w, const char *what)
{
	w->next = NULL;
	pthread_mutex_lock(&st->wmtx);
	*st->qtail = w;
	st->qtail  = &w->next;
	pthread_mutex_unlock(&st->wmtx);
	wait_done(st, w);
	return w->rc != 0 ? state_err(st, w->rc, what) : 0;
}

void
ad_state_stats(struct ad_state *st, struct ad_state_stats *out)
{
	pthread_mutex_lock(&st->wmtx);
	*out = st->st;
	pthread_mutex_unlock(&st->wmtx);
}

int
ad_state_get(struct ad_state *st, const char *agent, const char *key,
    size_t keylen, void **val, size_t *vallen)
{
	struct full_key fk;
	MDB_txn        *txn;
	MDB_val         k, v;
	char           *copy = NULL;
	int             rc, rv;

	if ((rv = full_key(agent, key, keylen, 0, &fk)) != 0)
		return rv;
	k.mv_data = fk.buf;
	k.mv_size = fk.len;
	pthread_rwlock_rdlock(st->gate);
	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) == 0) {
		/* v points into the map: copy it before the txn ends. */
		if ((rc = mdb_get(txn, st->dbi, &k, &v)) == 0
		    && ttl_passed(st, txn, &k, ad_wall_ms()))
			rc = MDB_NOTFOUND; /* expired: gone at once */
		if (rc == 0) {
			copy = ad_xmalloc(v.mv_size + 1);
			memcpy(copy, v.mv_data, v.mv_size);
			copy[v.mv_size] = '\0';
		}
		mdb_txn_abort(txn);
	}
	pthread_rwlock_unlock(st->gate);
	if (rc != 0)
		return state_err(st, rc, "reading a state key");
	*val    = copy;
	*vallen = v.mv_size;
	return 0;
}

int
ad_state_put(struct ad_state *st, const char *agent, const char *key,
    size_t keylen, const void *val, size_t vallen)
{
	struct full_key fk;
	struct wop      w;
	MDB_val         v;
	int             rv;

	if ((rv = full_key(agent, key, keylen, 0, &fk)) != 0
	    || (rv = check_value(st, val, vallen)) != 0)
		return rv;
	v.mv_data = (void *)(val != NULL ? val : "");
	v.mv_size = vallen;
	memset(&w, 0, sizeof(w));
	w.key   = &fk;
	w.val   = &v;
	w.bytes = fk.len + vallen;
	return submit(st, &w, "writing a state key");
}

int
ad_state_put_ttl(struct ad_state *st, const char *agent, const char *key,
    size_t keylen, const void *val, size_t vallen, uint64_t ttl_ms)
{
	struct full_key fk;
	struct wop      w;
	MDB_val         v;
	int             rv;

	if (ttl_ms == 0 || ttl_ms > AGENTD_STATE_TTL_MAX)
		return AGENTD_EINVAL;
	if ((rv = full_key(agent, key, keylen, 0, &fk)) != 0
	    || (rv = check_value(st, val, vallen)) != 0)
		return rv;
	v.mv_data = (void *)(val != NULL ? val : "");
	v.mv_size = vallen;
	memset(&w, 0, sizeof(w));
	w.key     = &fk;
	w.val     = &v;
	w.expires = ad_wall_ms() + (int64_t)ttl_ms;
	w.bytes   = 3 * fk.len + vallen + 32;
	return submit(st, &w, "writing a state key with a TTL");
}

int
ad_state_sweep(
    struct ad_state *st, int64_t now_ms, size_t max, size_t *removed)
{
	struct wop w;
	int        rv;

	memset(&w, 0, sizeof(w));
	w.sweep  = 1;
	w.now    = now_ms;
	w.max    = max;
	w.bytes  = max * 64;
	rv       = submit(st, &w, "removing expired state keys");
	*removed = rv == 0 ? w.removed : 0;
	return rv;
}

int
ad_state_del(
    struct ad_state *st, const char *agent, const char *key, size_t keylen)
{
	struct full_key fk;
	struct wop      w;
	int             rv;

	if ((rv = full_key(agent, key, keylen, 0, &fk)) != 0)
		return rv;
	memset(&w, 0, sizeof(w));
	w.key   = &fk;
	w.bytes = fk.len;
	return submit(st, &w, "removing a state key");
}

/* ---- batches ----------------------------------------------------------- */

static int
batch_check(struct ad_state *st, const char *agent,
    const struct agentd_state_op *ops, size_t n)
{
	struct full_key fk;
	int             rv;

	if (!ad_valid_name(agent) || (ops == NULL && n > 0))
		return AGENTD_EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((rv = full_key(agent, ops[i].key, ops[i].keylen, 0, &fk))
		        != 0
		    || (rv = check_value(st, ops[i].val, ops[i].vallen)) != 0)
			return rv;
	return 0;
}

/* Apply every op in txn; the caller commits or aborts. */
static int
batch_apply(struct ad_state *st, MDB_txn *txn, const char *agent,
    const struct agentd_state_op *ops, size_t n)
{
	struct full_key fk;
	MDB_val         k, v;
	int             rc;

	for (size_t i = 0; i < n; i++) {
		/* Checked by batch_check: cannot fail. */
		full_key(agent, ops[i].key, ops[i].keylen, 0, &fk);
		k.mv_data = fk.buf;
		k.mv_size = fk.len;
		if (ops[i].val == NULL) {
			rc = mdb_del(txn, st->dbi, &k, NULL);
			if (rc == MDB_NOTFOUND)
				rc = 0;
		} else {
			v.mv_data = (void *)ops[i].val;
			v.mv_size = ops[i].vallen;
			rc        = mdb_put(txn, st->dbi, &k, &v, 0);
		}
		/* A batch writes no expiry: the key's goes. */
		if (rc != 0 || (rc = ttl_clear(st, txn, &k)) != 0)
			return rc;
	}
	return 0;
}

int
ad_state_batch(struct ad_state *st, const char *agent,
    const struct agentd_state_op *ops, size_t n)
{
	struct wop w;
	int        rv;

	if ((rv = batch_check(st, agent, ops, n)) != 0)
		return rv;
	if (n == 0)
		return 0;
	memset(&w, 0, sizeof(w));
	w.agent = agent;
	w.ops   = ops;
	w.n     = n;
	for (size_t i = 0; i < n; i++)
		w.bytes += ops[i].keylen + ops[i].vallen + STATE_AGENT_MAX + 1
		    + 16;
	return submit(st, &w, "writing a state batch");
}

/*
 * Queue every batch of bs (n of them) as a write of its own, all under
 * one lock so that they land in the same group, and wait until the last
 * is committed.  A batch that fails its check is not queued: its rcs[i]
 * says why, and the others still commit.
 */
int
ad_state_batches(struct ad_state *st, const char *agent,
    const struct ad_state_batch *bs, size_t n, int *rcs)
{
	struct wop *w, *last = NULL;
	size_t      i, k;

	if (n == 0)
		return 0;
	if ((w = calloc(n, sizeof(*w))) == NULL)
		return AGENTD_ENOMEM;
	for (i = 0; i < n; i++) {
		rcs[i] = batch_check(st, agent, bs[i].ops, bs[i].n);
		if (rcs[i] != 0 || bs[i].n == 0)
			continue;
		w[i].agent = agent;
		w[i].ops   = bs[i].ops;
		w[i].n     = bs[i].n;
		for (k = 0; k < bs[i].n; k++)
			w[i].bytes += bs[i].ops[k].keylen + bs[i].ops[k].vallen
			    + STATE_AGENT_MAX + 1 + 16;
	}
	pthread_mutex_lock(&st->wmtx);
	for (i = 0; i < n; i++) {
		if (w[i].ops == NULL)
			continue;
		w[i].next  = NULL;
		*st->qtail = &w[i];
		st->qtail  = &w[i].next;
		last       = &w[i];
	}
	pthread_mutex_unlock(&st->wmtx);
	if (last != NULL)
		wait_done(st, last);
	for (i = 0; i < n; i++)
		if (w[i].ops != NULL && w[i].rc != 0)
			rcs[i]
			    = state_err(st, w[i].rc, "writing a state batch");
	free(w);
	return 0;
}

/* ---- scans ------------------------------------------------------------- */

/* One entry copied out of a read transaction: key, NUL, value, NUL. */
struct scan_entry {
	char   *buf;
	size_t  keylen;
	size_t  vallen;
	int64_t expires; /* wall ms; 0: never */
};

struct scan_chunk {
	struct scan_entry v[SCAN_CHUNK_ENTRIES];
	size_t            n;
	int               more; /* stopped at a limit, not at the end */
};

static void
chunk_free(struct scan_chunk *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].buf);
	c->n = 0;
}

/* Copy one entry into c; k is a full key, its agent part agentlen bytes. */
static void
chunk_add(struct scan_chunk *c, size_t agentlen, const MDB_val *k,
    const MDB_val *v, int64_t expires)
{
	struct scan_entry *e    = &c->v[c->n++];
	size_t             klen = k->mv_size - agentlen;

	e->expires = expires;
	e->keylen  = klen;
	e->vallen  = v->mv_size;
	e->buf     = ad_xmalloc(klen + 1 + v->mv_size + 1);
	memcpy(e->buf, (const char *)k->mv_data + agentlen, klen);
	e->buf[klen] = '\0';
	memcpy(e->buf + klen + 1, v->mv_data, v->mv_size);
	e->buf[klen + 1 + v->mv_size] = '\0';
}

static int
has_prefix(const MDB_val *k, const struct full_key *pre)
{
	return k->mv_size >= pre->len
	    && memcmp(k->mv_data, pre->buf, pre->len) == 0;
}

/*
 * Copy the next entries under pre, starting at from (after it when
 * from_seen: it was in the previous chunk), into c.  On return from holds
 * the last key copied.
 */
static int
chunk_load(struct ad_state *st, const struct full_key *pre, size_t agentlen,
    struct full_key *from, int from_seen, struct scan_chunk *c)
{
	MDB_txn    *txn;
	MDB_cursor *cur;
	MDB_val     k, v;
	size_t      bytes = 0, looked = 0;
	int64_t     now = ad_wall_ms(), at;
	int         rc;

	c->more = 0;
	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, st->dbi, &cur)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	k.mv_data = from->buf;
	k.mv_size = from->len;
	rc        = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && from_seen && k.mv_size == from->len
	    && memcmp(k.mv_data, from->buf, from->len) == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	for (; rc == 0 && has_prefix(&k, pre);
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		/* Expired keys skipped count too: a chunk's read transaction
		 * stays short however many wait for the sweep. */
		if (looked++ == SCAN_CHUNK_ENTRIES
		    || bytes >= SCAN_CHUNK_BYTES) {
			c->more = 1;
			break;
		}
		memcpy(from->buf, k.mv_data, k.mv_size);
		from->len = k.mv_size;
		if (ttl_get(st, txn, &k, &at) != 0)
			at = 0;
		else if (at <= now)
			continue; /* expired: skipped at once */
		chunk_add(c, agentlen, &k, &v, at);
		bytes += v.mv_size;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int
ad_state_scan_ttl(struct ad_state *st, const char *agent, const char *prefix,
    size_t prefixlen, ad_state_scan_ttl_fn fn, void *arg)
{
	struct scan_chunk *c;
	struct full_key    pre, from;
	size_t             agentlen;
	int                rc, rv, seen = 0;

	if (fn == NULL)
		return AGENTD_EINVAL;
	if ((rv = full_key(agent, prefix, prefixlen, 1, &pre)) != 0)
		return rv;
	agentlen = strlen(agent) + 1;
	from     = pre;
	c        = ad_xcalloc(1, sizeof(*c));
	do {
		pthread_rwlock_rdlock(st->gate);
		rc = chunk_load(st, &pre, agentlen, &from, seen, c);
		pthread_rwlock_unlock(st->gate);
		if (rc != 0) {
			rv = state_err(st, rc, "scanning state keys");
			break;
		}
		seen = 1;
		for (size_t i = 0; rv == 0 && i < c->n; i++)
			rv = fn(arg, c->v[i].buf, c->v[i].keylen,
			    c->v[i].buf + c->v[i].keylen + 1, c->v[i].vallen,
			    c->v[i].expires);
		chunk_free(c);
	} while (rv == 0 && c->more);
	chunk_free(c);
	free(c);
	return rv;
}

/* ad_state_scan's fn, called through ad_state_scan_ttl's. */
struct plain_scan {
	agentd_scan_fn fn;
	void          *arg;
};

static int
plain_entry(void *arg, const char *key, size_t keylen, const void *val,
    size_t vallen, int64_t expires_ms)
{
	struct plain_scan *p = arg;

	return p->fn(p->arg, key, keylen, val, vallen);
}

int
ad_state_scan(struct ad_state *st, const char *agent, const char *prefix,
    size_t prefixlen, agentd_scan_fn fn, void *arg)
{
	struct plain_scan p = { fn, arg };

	if (fn == NULL)
		return AGENTD_EINVAL;
	return ad_state_scan_ttl(
	    st, agent, prefix, prefixlen, plain_entry, &p);
}

/*
 * audit_int.h - what the three files of the audit log share, and nothing
 * the rest of the runtime may use (that is audit.h):
 *
 *   audit_codec.c  the record codec: keys, the stored value, the hashed
 *                  bytes and their hash, parsing a stored record, and the
 *                  meta marks (audit_head, audit_base)
 *   audit_write.c  the handle: opening and closing, the gate and the
 *                  transactions, the queue, the commit thread and its
 *                  batches, the stats
 *   audit_read.c   walks over the log: query, verify, archive (retention)
 *                  and the check of archive files
 *   audit_seal.c   seals: the key file and its rotation, writing a seal,
 *                  a seal's codec and its signature check
 */
#ifndef AD_AUDIT_INT_H
#define AD_AUDIT_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <lmdb.h>

#include <agentd/msg.h>

#include "store/audit.h"

#define HASH_LEN AD_AUDIT_HASH_LEN

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

/* A {seq, hash} entry of meta: the head or the archive base. */
struct mark {
	uint64_t      seq;
	unsigned char hash[HASH_LEN];
};

/*
 * The handle.  audit_write.c sets it up and owns the queue and the writer
 * thread; audit_read.c uses only dbi, meta and maint, and the
 * transactions of audit_write.c.
 */
struct ad_audit {
	MDB_env          *env;
	MDB_dbi           dbi, meta, seals; /* seals: if sealer */
	struct sealer    *sealer;           /* NULL: not sealing */
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
	struct ad_audit_stats st;    /* head_*: written only by the writer */
	ad_audit_watch_fn     watch; /* ad_audit_watch(), under mtx */
	void                 *watch_arg;
	/*
	 * The chain's end over everything queued: records get their number,
	 * hash and stored value when they are queued, so that the writer
	 * only puts and commits.  A batch that fails to commit rewinds it to
	 * the head and the records queued behind it are chained again.
	 */
	struct mark          tip;
	agentd_writer       *wm, *wv; /* scratch for chaining, under mtx */
	struct audit_hasher *hm;      /* the same */

	pthread_t      thread;
	agentd_writer *wh; /* the writer thread's */
};

/* ---- audit_codec.c ------------------------------------------------------ */

/* Big-endian, so that LMDB's byte order is sequence order. */
void audit_seq_key(uint64_t seq, unsigned char buf[8], MDB_val *key);

/* 0 for a key that is not a sequence number: never a record's. */
uint64_t audit_key_seq(const MDB_val *key);

/* The stored value: the map of audit.h, into w (reset first). */
int audit_value_encode(agentd_writer *w, const struct rec_view *v);

/* What v's hash must be, given v->prev; w is scratch. */
int audit_rec_hash(
    agentd_writer *w, const struct rec_view *v, unsigned char out[HASH_LEN]);
/*
 * The same with h's digest context, initialized again for each record
 * instead of made and freed (the writer hashes every record it queues);
 * h NULL: a context of its own.  One thread at a time uses h.
 */
struct audit_hasher;
struct audit_hasher *audit_hasher_new(void); /* NULL: out of memory */
void                 audit_hasher_free(struct audit_hasher *h);
int audit_rec_hash_with(struct audit_hasher *h, agentd_writer *w,
    const struct rec_view *v, unsigned char out[HASH_LEN]);

/*
 * Parse a stored record (used == NULL: all of buf; else the first value,
 * *used gets its size).  v points into *doc and buf: *doc is caller owns,
 * free with agentd_doc_free().  0 or EPROTO.
 */
int audit_rec_parse(const void *buf, size_t len, agentd_doc **doc,
    struct rec_view *v, size_t *used);

/* Copy n bytes of src (NULL: nil) to dst, NUL-terminated; the end. */
char *audit_copy_span(char *dst, const void *src, size_t n, struct span *s);

/* Write mark m as meta's entry name in txn; w is scratch. */
int audit_mark_put(MDB_txn *txn, MDB_dbi meta, agentd_writer *w,
    const char *name, const struct mark *m);

/* 0, MDB_NOTFOUND, EPROTO (unreadable) or an LMDB code. */
int audit_mark_get(
    MDB_txn *txn, MDB_dbi meta, const char *name, struct mark *m);

/* ---- audit_seal.c ------------------------------------------------------- */

#define SIG_LEN 64
#define KEY_LEN AD_AUDIT_KEY_LEN

/* One seal, as stored (audit.h). */
struct seal {
	uint64_t      epoch, seq;
	int64_t       time_ms;
	int           restart;
	unsigned char hash[HASH_LEN], pub[KEY_LEN], next[KEY_LEN];
	unsigned char sig[SIG_LEN];
};

/*
 * Set up sealing (opts->seal_key != NULL), before the writer starts: open
 * `seals`, recover the key of the epoch due, seal if a new key was made or
 * records are unsealed.  A seal that cannot be written is logged, not an
 * error: the records are still appended.
 */
int  audit_seal_open(struct ad_audit *a, const struct ad_audit_opts *opts,
     char *err, size_t errlen);
void audit_seal_free(struct ad_audit *a);

/* Writer thread: seal now if a trigger (or closing) says so. */
void audit_seal_maybe(struct ad_audit *a, int closing);

/* Under a->mtx: when the writer must wake to seal (0: no need). */
int audit_seal_until(struct ad_audit *a, struct timespec *until);

/* 0, MDB_NOTFOUND, EPROTO or an LMDB code. */
int audit_seal_get(MDB_txn *txn, MDB_dbi dbi, uint64_t epoch, struct seal *s);

/* The first seal with epoch >= epoch (MDB_NOTFOUND: none). */
int audit_seal_from(MDB_txn *txn, MDB_dbi dbi, uint64_t epoch, struct seal *s);

/* 1 if s carries a valid signature by pub. */
int audit_seal_signed_by(const struct seal *s, const unsigned char *pub);

/* ---- audit_write.c ------------------------------------------------------ */

/*
 * The one place LMDB and errno codes become agentd codes; the original is
 * logged because the caller only sees the agentd code.
 */
int audit_err(struct ad_audit *a, int rc, const char *what);

/* A read transaction, holding the gate for reading until audit_read_end. */
int  audit_read_begin(struct ad_audit *a, MDB_txn **txn);
void audit_read_end(struct ad_audit *a, MDB_txn *txn);

/* The body of a write transaction: returns an LMDB or errno code. */
typedef int (*audit_txn_fn)(struct ad_audit *a, MDB_txn *txn, void *arg);

/*
 * Run fn in one write transaction and commit it (durably: the environment
 * syncs on commit).  On a full map, grow it and run fn once more from the
 * start, so fn must leave its results out of *a until this returns 0.
 * need: about how many bytes fn writes.
 */
int audit_write_txn(
    struct ad_audit *a, audit_txn_fn fn, void *arg, size_t need);

/*
 * Records queued before a query are in its answer: wait for them to be
 * committed (one commit cycle, about a millisecond), or for their batch
 * to fail, at most a second.  What `agentctl status` showed is then in
 * `agentctl audit` run after it, though the supervisor does not wait for its
 * own records.
 */
void audit_await_queued(struct ad_audit *a);

#endif

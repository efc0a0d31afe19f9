/*
 * audit.h - the append-only, hash-chained audit log in the LMDB
 * environment of the store.
 *
 * Layout.  Named database `audit`: key = the record's sequence number as 8
 * bytes big-endian (1, 2, 3 ...), value = a msgpack map of nine keys in
 * this order:
 *
 *   "seq" int, "time_ms" int (wall clock, ms since the epoch),
 *   "agent" str|nil, "instance" str|nil, "kind" str, "summary" str,
 *   "detail" bin (one msgpack value, or empty), "prev" bin 32,
 *   "hash" bin 32
 *
 * `meta` holds "audit_head" = {"seq": int, "hash": bin 32}, the last record,
 * written in the transaction of every append, and, once something was
 * archived, "audit_base" = {"seq", "hash"}, the last archived record.
 *
 * The chain.  Record N stores prev = the hash of record N-1 (32 zero bytes
 * for record 1) and
 *
 *   hash = SHA-256(prev || M)
 *
 * where prev is the 32 raw bytes and M is the msgpack array
 *
 *   [seq, time_ms, agent, instance, kind, summary, detail]
 *
 * with every value in its shortest msgpack form: 0x97; seq as a
 * non-negative integer (positive fixint, or 0xcc/0xcd/0xce/0xcf with 1, 2,
 * 4 or 8 bytes big-endian, whichever is shortest); time_ms the same when
 * >= 0, else the shortest of negative fixint and 0xd0/0xd1/0xd2/0xd3;
 * agent and instance as str (fixstr 0xa0|len, 0xd9, 0xda, 0xdb) or nil
 * 0xc0 when absent; kind and summary as str; detail as bin (0xc4, 0xc5,
 * 0xc6; an empty detail is c4 00).  Strings are their bytes, no NUL.
 * Record 1 of {time_ms 1000, agent "a", no instance, kind "k", summary "s",
 * no detail} hashes the 32 zero bytes followed by
 *
 *   97 01 cd 03 e8 a1 61 c0 a1 6b a1 73 c4 00
 *
 * The chain shows a changed, removed or reordered record; it cannot show a
 * chain rewritten from some record on, head included.  To catch that, keep
 * the head hash that ad_audit_verify() reports somewhere else.
 *
 * Archive files (ad_audit_archive) hold the stored values of a prefix of
 * the log, unchanged, one after another.
 *
 * Seals (audit_seal.c; opts->seal_key set).  Named database `seals`: key
 * = the seal's epoch as 8 bytes big-endian (0, 1, 2 ...), value = a
 * msgpack map of eight keys in this order:
 *
 *   "epoch" int, "seq" int (the last record it covers; 0: none),
 *   "time_ms" int, "restart" bool, "hash" bin 32 (record seq's hash; 32
 *   zero bytes for seq 0), "pub" bin 32 (the Ed25519 public key that
 *   signed it), "next" bin 32 (the public key of the next epoch), "sig"
 *   bin 64
 *
 * sig is the Ed25519 signature, by the key of epoch E, of the 141 bytes
 *
 *   "agentd audit seal v1" (20 bytes, no NUL) || epoch || seq || time_ms
 *   || restart (1 byte, 0 or 1) || hash || pub || next
 *
 * with epoch, seq and time_ms as 8 bytes big-endian (time_ms in two's
 * complement).  Seal E+1 must be signed by the key seal E announced in
 * next; seal 0 and a restart seal (agentd lost its key and made a new
 * one) by a key the operator was shown and kept.  After seal E is
 * committed, agentd overwrites the key of epoch E in the key file with
 * zeros and keeps only the next one: whoever reads the state directory
 * later cannot sign anything for an epoch already sealed.  doc/state.md,
 * "Sealing (decided)", says what this catches and what it does not.
 *
 * The key file (opts->seal_key, mode 0600) holds 48 bytes: "ADSEALK1",
 * the epoch as 8 bytes big-endian, the 32-byte Ed25519 private key.
 * FILE.new holds the next epoch's key while a seal is being written; at
 * open, whichever of the two matches the last seal's next is kept.
 *
 * Threads.  Any thread may call any function except ad_audit_close(),
 * which must not overlap other calls.  Appends are written by one writer
 * thread in batches, one durable transaction per batch (group commit).
 *
 * The code: audit_codec.c (the record and its hash), audit_write.c (the
 * handle, the queue and the writer thread), audit_read.c (query, verify,
 * archive); audit_int.h holds what they share.
 */
#ifndef AD_AUDIT_H
#define AD_AUDIT_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include <agentd/agent.h> /* the record limits */

#define AD_AUDIT_HASH_LEN 32
#define AD_AUDIT_KEY_LEN 32 /* an Ed25519 public key */
/* "ed25519:" and 64 lowercase hex digits, NUL */
#define AD_AUDIT_KEY_STRLEN (8 + 2 * AD_AUDIT_KEY_LEN + 1)
#define AD_AUDIT_KEYS_MAX 16 /* keys one verify takes */
#define AD_AUDIT_SEAL_RECORDS_DEFAULT 1000
#define AD_AUDIT_SEAL_INTERVAL_DEFAULT_MS 60000

/* Bigger fields are AGENTD_ETOOBIG. */
#define AD_AUDIT_NAME_MAX AGENTD_AUDIT_KIND_MAX /* agent, instance, kind */
#define AD_AUDIT_SUMMARY_MAX AGENTD_AUDIT_SUMMARY_MAX /* bytes */
#define AD_AUDIT_DETAIL_MAX AGENTD_AUDIT_DETAIL_MAX   /* bytes */
#define AD_AUDIT_QUEUE_DEFAULT 65536 /* records waiting for the writer */

struct ad_audit;

/*
 * A write to another database of the environment that commits in the
 * same transaction as the record it rides on (the policy gate's
 * decisions: a decision changes exactly when its audit record is
 * written).  val NULL deletes key (a missing key is no error).
 */
struct ad_audit_side {
	MDB_dbi     dbi;
	const void *key;
	size_t      keylen;
	const void *val;
	size_t      vallen;
	/* Non-zero: key is new and likely above every key of dbi (the
	 * gate's new decisions): put with MDB_APPEND, which skips the
	 * search, and put the usual way if LMDB finds a greater key. */
	int append;
};

/* Side writes one record carries: the gate's record of a batch of
 * delivered outcomes carries two per decision. */
#define AD_AUDIT_SIDES_MAX 256

/* One record to append; every pointer is borrowed for the call. */
struct ad_audit_rec {
	int64_t     time_ms;  /* wall clock ms; 0: now */
	const char *agent;    /* NULL: not about one agent */
	const char *instance; /* NULL: not about one instance ("echo-3") */
	const char *kind;     /* required, non-empty: "agent.restart" */
	const char *summary;  /* required: one line for people */
	const void *detail;   /* one msgpack value, or NULL */
	size_t      detail_len;
	/* Written with the record (copied when it is queued). */
	const struct ad_audit_side *sides;
	size_t                      nsides; /* at most AD_AUDIT_SIDES_MAX */
	/* Non-zero: agentd wrote kind, summary and detail itself, within
	 * their AGENTD_AUDIT_*_MAX and detail one msgpack value (the
	 * gate's records, hundreds a second): only NULL and empty fields
	 * are refused, the bytes are not walked again. */
	int trusted;
};

/*
 * Called once per appended record, on the writer thread, only after the
 * transaction holding it is committed and synced (status 0, seq its
 * number) or has failed (status an agentd code, seq 0).  Keep it short:
 * the next batch waits.  It may call ad_audit_append() and
 * ad_audit_query(), never ad_audit_append_sync() or ad_audit_close().
 */
typedef void (*ad_audit_done_fn)(void *arg, int status, uint64_t seq);

struct ad_audit_opts {
	/*
	 * LMDB may only resize its map while no transaction is active in
	 * the process.  Every transaction of this module runs holding gate
	 * for reading; growing the map holds it for writing.  Whoever else
	 * uses the environment (the store) must take it for reading around
	 * each of its transactions too.  NULL: the audit log makes its own,
	 * which is only safe if nothing else uses the environment while it
	 * is open.  Borrowed, valid until ad_audit_close().
	 */
	pthread_rwlock_t *gate;
	size_t            max_queue; /* 0: AD_AUDIT_QUEUE_DEFAULT */
	/*
	 * Sealing: the key file's path (borrowed for the call to
	 * ad_audit_open), NULL: no seals.  A seal is written at open (a new
	 * key, or records no seal covers), once seal_records records are
	 * unsealed, once the oldest unsealed record waited seal_interval_ms,
	 * and at close; 0 turns either trigger off.
	 */
	const char *seal_key;
	unsigned    seal_records;
	int64_t     seal_interval_ms;
};

/*
 * Open the audit log in env (creating its database) and start the writer
 * thread.  env is borrowed, valid until ad_audit_close(); it needs room for
 * two more named databases ("audit", "meta"; three with seals) and must
 * not be opened with
 * MDB_NOSYNC or MDB_NOMETASYNC.  opts may be NULL.  On success *out is
 * caller owns, close with ad_audit_close().  Call it from one thread at a
 * time with other mdb_dbi_open() callers (LMDB's rule).
 */
int ad_audit_open(MDB_env *env, const struct ad_audit_opts *opts,
    struct ad_audit **out, char *err, size_t errlen);

/* Write everything queued, stop the writer and free a. */
void ad_audit_close(struct ad_audit *a);

/*
 * Queue a copy of r and return at once.  0: done (which may be NULL) will
 * be called exactly once; otherwise it never is.  AGENTD_EINVAL (no kind
 * or summary), AGENTD_ETOOBIG (a field over its limit), AGENTD_EPROTO
 * (detail is not one msgpack value), AGENTD_EBUSY (the queue is full),
 * AGENTD_ECLOSED (closing).
 */
int ad_audit_append(struct ad_audit *a, const struct ad_audit_rec *r,
    ad_audit_done_fn done, void *arg);

/*
 * Queue n records together (one lock, one wake-up): they get consecutive
 * sequence numbers.  All are checked first; any error queues none.  done
 * is called once, after the last of them is committed: status 0 and the
 * first's seq, or the first failure (some may be committed then).
 * AGENTD_ETOOBIG also when n is over the queue's capacity.
 */
int ad_audit_append_many(struct ad_audit *a, const struct ad_audit_rec *r,
    size_t n, ad_audit_done_fn done, void *arg);

/*
 * Append and wait until the record is committed; *seq (may be NULL) gets
 * its number.  Errors as ad_audit_append() or the status of the commit:
 * AGENTD_ETOOBIG if the map could not grow enough, AGENTD_EIO.
 * AGENTD_EINVAL from a done callback (it would wait for itself).
 */
int ad_audit_append_sync(
    struct ad_audit *a, const struct ad_audit_rec *r, uint64_t *seq);

/* One stored record: borrowed, valid until the callback returns. */
struct ad_audit_entry {
	uint64_t      seq;
	int64_t       time_ms;
	const char   *agent;    /* NULL: none */
	const char   *instance; /* NULL: none */
	const char   *kind;     /* never NULL */
	const char   *summary;  /* never NULL */
	const void   *detail;   /* detail_len bytes; NULL if empty */
	size_t        detail_len;
	unsigned char prev[AD_AUDIT_HASH_LEN];
	unsigned char hash[AD_AUDIT_HASH_LEN];
};

/*
 * Which records a query returns.  Zero fields do not filter, so a zeroed
 * filter returns everything, newest first.
 */
struct ad_audit_filter {
	const char *agent;    /* exact match; NULL: any */
	const char *kind;     /* exact match; NULL: any */
	int64_t     since_ms; /* time_ms >= since_ms; 0: no bound */
	int64_t     until_ms; /* time_ms < until_ms; 0: no bound */
	uint64_t    min_seq;  /* seq >= min_seq; 0: no bound */
	uint64_t    max_seq;  /* seq <= max_seq; 0: no bound */
	size_t      limit;    /* at most this many; 0: no limit */
	/*
	 * Newest first by default: what someone looking at the log wants
	 * first.  Times are wall clock and may step back, so since/until
	 * filter but never end the walk; page with min_seq/max_seq.
	 */
	int oldest_first;
};

/*
 * Call fn for each matching record, every record queued before the call
 * included: it waits for their commit, so never call it holding a lock
 * that a done callback takes.  fn runs outside any transaction (the
 * records are read in short transactions, then fn is called), so it may
 * append.  A non-zero return from fn stops the query and is returned.
 * Records that do not decode are skipped with a warning: verify says why.
 */
typedef int (*ad_audit_entry_fn)(void *arg, const struct ad_audit_entry *e);
int ad_audit_query(struct ad_audit *a, const struct ad_audit_filter *f,
    ad_audit_entry_fn fn, void *arg);

struct ad_audit_verify_result {
	int      ok;        /* 1: every record checked chains and matches */
	uint64_t first_seq; /* the first record checked */
	uint64_t last_seq;  /* the last record that checked out */
	uint64_t records;   /* how many checked out */
	uint64_t bad_seq;   /* !ok: the first missing or broken record */
	/* ok: the hash of last_seq (of the base if no live record) */
	unsigned char head_hash[AD_AUDIT_HASH_LEN];
	char          what[256]; /* !ok: one line saying what is wrong */
	/* With keys (ad_audit_verify_sealed): */
	int      keyed;      /* 1: seals were checked */
	uint64_t seals;      /* seals whose signature checked out */
	uint64_t sealed_seq; /* ok: the last record a seal covers */
	uint64_t unsealed;   /* ok: records after it, no seal covers yet */
	uint64_t archived;   /* seals covering archived records only */
};

/*
 * Walk the live log from the record after audit_base (or from record 1)
 * to audit_head, recomputing every hash.  Returns 0 when the walk could be
 * made, whatever it found (see res->ok), or an agentd code if reading
 * failed.
 */
int ad_audit_verify(struct ad_audit *a, struct ad_audit_verify_result *res);

/*
 * ad_audit_verify(), and the seals: from seal 0, each seal's signature
 * under the key the one before announced (seal 0 and restart seals: under
 * one of the nkeys keys given), no epoch missing, and each seal's hash the
 * hash of the record it names.  A seal that fails, or records that do not
 * match their seal, make !ok with bad_seq the first record concerned.  No
 * seal at all is !ok too (agentd seals at its first start).
 */
int ad_audit_verify_sealed(struct ad_audit *a,
    const unsigned char (*keys)[AD_AUDIT_KEY_LEN], size_t nkeys,
    struct ad_audit_verify_result *res);

/* A key that starts a chain of seals: seal 0's, or a restart seal's. */
struct ad_audit_key {
	uint64_t      epoch, seq; /* its first seal */
	int64_t       time_ms;
	int           restart;
	unsigned char pub[AD_AUDIT_KEY_LEN];
};

/*
 * Call fn for each such key, oldest first: what the operator keeps
 * elsewhere.  These are read from the state: an attacker can change them,
 * so compare with the copy kept when agentd printed it.  A non-zero
 * return from fn stops the walk and is returned.
 */
typedef int (*ad_audit_key_fn)(void *arg, const struct ad_audit_key *k);
int ad_audit_keys(struct ad_audit *a, ad_audit_key_fn fn, void *arg);

/* "ed25519:HEX" (or just the 64 hex digits) to 32 bytes: 0 or -1. */
int  ad_audit_key_parse(const char *s, unsigned char out[AD_AUDIT_KEY_LEN]);
void ad_audit_key_format(
    const unsigned char pub[AD_AUDIT_KEY_LEN], char out[AD_AUDIT_KEY_STRLEN]);

struct ad_audit_archive_result {
	char     path[PATH_MAX]; /* the file written; "" if none */
	uint64_t first_seq, last_seq;
	uint64_t records; /* 0: nothing was old enough */
};

/*
 * Move the records with time_ms < older_than_ms (a wall-clock time: the
 * caller computes now - retention) to dir/audit-YYYYMMDD-FIRST-LAST.mp,
 * YYYYMMDD the UTC date of its first record.  Only a prefix of the log is
 * moved: the walk stops at the first record that is not old enough.  The
 * file is written, synced and named before any record leaves LMDB, and
 * audit_base is updated with every deletion, so a crash leaves the log
 * whole (at worst some records in both places).  A broken chain is not
 * archived: AGENTD_EPROTO, err says where.  dir is created (0700).
 */
int ad_audit_archive(struct ad_audit *a, int64_t older_than_ms,
    const char *dir, struct ad_audit_archive_result *res, char *err,
    size_t errlen);

/*
 * Check an archive file's chain on its own.  expect_prev (32 bytes, may be
 * NULL) is what its first record's prev must be: the last hash of the
 * previous file, or zeros for the first one.  Returns 0 when the file could
 * be read (see res->ok); AGENTD_ENOENT or AGENTD_EIO, res->what says why.
 */
int ad_audit_verify_archive(const char *path, const unsigned char *expect_prev,
    struct ad_audit_verify_result *res);

/*
 * Told of every committed batch, on the writer thread, with the log's
 * new head (the last record's seq), the handle's lock held: note it and
 * wake whoever waits, nothing more (no call into this module).  One
 * watcher at a time; fn NULL removes it, and once ad_audit_watch()
 * returns no call of the one before is under way.  For readers that
 * follow the log (the HTTP API's audit stream) without polling it.
 */
typedef void (*ad_audit_watch_fn)(void *arg, uint64_t head_seq);
void ad_audit_watch(struct ad_audit *a, ad_audit_watch_fn fn, void *arg);

struct ad_audit_stats {
	uint64_t      txns;      /* write transactions the writer committed */
	uint64_t      records;   /* records they held */
	uint64_t      failed;    /* records whose done got an error */
	uint64_t      grows;     /* times the map was grown */
	uint64_t      max_batch; /* the most records in one transaction */
	uint64_t      queued;    /* records waiting for the writer now */
	uint64_t      head_seq;  /* the last record (0: none yet) */
	unsigned char head_hash[AD_AUDIT_HASH_LEN];
	uint64_t      seals;      /* seals this handle wrote */
	uint64_t      seal_fails; /* seals it could not write */
	uint64_t      sealed_seq; /* the last record the last seal covers */
	uint64_t      seal_epoch; /* the epoch of the key held now */
};

void ad_audit_stats(struct ad_audit *a, struct ad_audit_stats *st);

#endif

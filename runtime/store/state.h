/*
 * state.h - per-agent key/value state in the LMDB environment of the store.
 *
 * Layout.  Named database `state`: key = the agent's name, one NUL byte,
 * then the key bytes; value = the value bytes, unchanged.  Agent names
 * never contain NUL (ad_valid_name), so the first NUL ends the agent part
 * and one agent's keys can never be read as another's, even when one name
 * is a prefix of the other ("price" vs "pricing"), and keys may hold any
 * bytes, NUL included.
 *
 * Expiries (doc/state.md).  ad_state_put_ttl() gives a key an expiry, in
 * two more databases: `state_ttl` (full key -> expiry, 8 bytes big
 * endian, wall-clock ms since the epoch) and `state_expiry` (expiry then
 * full key -> empty, in the order ad_state_sweep() removes them).  Values
 * in `state` are unchanged, so what was written before expiries existed
 * reads as it did.  A key whose expiry has passed is absent for get, del
 * and scan at once; the sweep removes it later, in bounded batches.  A
 * put, batch or delete without an expiry removes the key's.
 *
 * Limits.  A key is 1..AD_STATE_KEY_MAX bytes: LMDB keys are at most 511
 * bytes and the agent part takes up to 64 of them.  A value is at most the
 * max_value given to ad_state_open().  Outside them: AGENTD_EINVAL (key,
 * agent name) or AGENTD_ETOOBIG (value).
 *
 * Durability.  A write returns once the transaction holding it is
 * committed and synced.  Writes from concurrent callers are grouped: the
 * first caller that finds no commit under way commits everything queued
 * in one transaction, each write in a nested transaction of its own so a
 * write that fails (a missing key to delete) does not take the others
 * with it.  A map too small for a group is grown (ad_env_grow) and the
 * group written again.  Every transaction holds the store's gate
 * (ad_store_gate) for reading.
 *
 * Threads.  Any thread may call any function except ad_state_close(),
 * which must not overlap other calls.
 */
#ifndef AD_STATE_H
#define AD_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <agentd/agent.h> /* agentd_scan_fn, struct agentd_state_op */

#include "store/store.h"

#define AD_STATE_KEY_MAX AGENTD_STATE_KEY_MAX
#define AD_STATE_VALUE_DEFAULT ((size_t)1 << 20)

struct ad_state;

/*
 * Open (creating if needed) the `state` database in the environment of s.
 * s is borrowed, valid until ad_state_close().  max_value 0 means
 * AD_STATE_VALUE_DEFAULT.  On success *out is caller owns, close with
 * ad_state_close().  Call it from one thread at a time with other
 * mdb_dbi_open() callers (LMDB's rule).
 */
int  ad_state_open(struct ad_store *s, size_t max_value, struct ad_state **out,
     char *err, size_t errlen);
void ad_state_close(struct ad_state *st);

/* What the group commit did so far. */
struct ad_state_stats {
	uint64_t txns;      /* durable write transactions */
	uint64_t writes;    /* puts, deletes and batches they held */
	uint64_t max_group; /* the most writes in one transaction */
	uint64_t grows;     /* times a state write grew the map */
};
void ad_state_stats(struct ad_state *st, struct ad_state_stats *out);

/*
 * Read one value.  On success *val is caller owns, free with free(); it
 * holds *vallen bytes followed by one NUL byte not counted in *vallen.
 * AGENTD_ENOENT if the key is absent.
 */
int ad_state_get(struct ad_state *st, const char *agent, const char *key,
    size_t keylen, void **val, size_t *vallen);

/* Insert or replace one value; val is borrowed for the call. */
int ad_state_put(struct ad_state *st, const char *agent, const char *key,
    size_t keylen, const void *val, size_t vallen);

/*
 * ad_state_put() with an expiry ttl_ms from now (1 to AGENTD_STATE_TTL_MAX,
 * else AGENTD_EINVAL), replacing any the key had.
 */
int ad_state_put_ttl(struct ad_state *st, const char *agent, const char *key,
    size_t keylen, const void *val, size_t vallen, uint64_t ttl_ms);

/*
 * Remove at most max keys (of every agent) whose expiry is now_ms or
 * earlier, oldest first, in one durable transaction; *removed says how
 * many.  max reached means more may be waiting.
 */
int ad_state_sweep(
    struct ad_state *st, int64_t now_ms, size_t max, size_t *removed);

/* Remove one key; AGENTD_ENOENT if it was absent. */
int ad_state_del(
    struct ad_state *st, const char *agent, const char *key, size_t keylen);

/*
 * Call fn for every key of agent that starts with prefix (prefixlen 0:
 * every key), in key order (bytewise).  key and val passed to fn are
 * borrowed, valid until fn returns; key is followed by a NUL byte not
 * counted in keylen.  Entries are read in short transactions and copied
 * out before fn runs, so fn may put and delete; a key written by fn after
 * the walk is past it is not seen, one ahead of it may be.  A non-zero
 * return from fn stops the walk and is returned.  A prefix longer than
 * AD_STATE_KEY_MAX is AGENTD_EINVAL.
 */
int ad_state_scan(struct ad_state *st, const char *agent, const char *prefix,
    size_t prefixlen, agentd_scan_fn fn, void *arg);

/* ad_state_scan()'s walk, with each key's expiry (wall ms; 0: none). */
typedef int (*ad_state_scan_ttl_fn)(void *arg, const char *key, size_t keylen,
    const void *val, size_t vallen, int64_t expires_ms);
int ad_state_scan_ttl(struct ad_state *st, const char *agent,
    const char *prefix, size_t prefixlen, ad_state_scan_ttl_fn fn, void *arg);

/*
 * Apply n puts and deletes (an op with val NULL deletes its key; deleting
 * a missing key is not an error) in one durable transaction: all of them
 * or none.  Every op is checked before anything is written, so one bad key
 * or value fails the whole batch.  ops are borrowed for the call.
 */
int ad_state_batch(struct ad_state *st, const char *agent,
    const struct agentd_state_op *ops, size_t n);

/*
 * Several batches of one agent, each all or nothing, committed in one
 * durable transaction (each in a nested one: a batch that fails, its check
 * or its writes, fails alone).  rcs (n of them) gets each batch's status.
 * Returns 0 once all are done, or AGENTD_ENOMEM having written nothing.
 * bs and the ops are borrowed for the call.
 */
struct ad_state_batch {
	const struct agentd_state_op *ops;
	size_t                        n;
};
int ad_state_batches(struct ad_state *st, const char *agent,
    const struct ad_state_batch *bs, size_t n, int *rcs);

#endif

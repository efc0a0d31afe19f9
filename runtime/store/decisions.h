/*
 * decisions.h - the policy gate's decisions in the LMDB environment of
 * the store.
 *
 * Layout.  Named database `decisions`: key = the decision's id as 8 bytes
 * big-endian (1, 2, 3 ...: id order is proposal order), value = the
 * decision as a msgpack map, the keys of doc/protocol.md's decision map
 * ("id" stored as an int).  Named database `decisions_open`: the same key
 * for every decision not yet finished that was pending at some time
 * (HIGH), value = {"agent": str, "state": int, "deadline_ms": int}; a
 * decision leaves it once an instance of its agent took the outcome.
 * Decisions decided at the proposal (LOW, MEDIUM) get no entry: under key
 * 0 (no decision's id), `decisions_open` holds the floor, 8 bytes
 * big-endian, written with every delivered batch: every decision below
 * it without an entry is delivered.  agentd reads `decisions_open` at
 * start, and the records from the floor on for those decided and not
 * delivered (delivered_ms 0), and keeps that much in memory; records are
 * read from LMDB when asked for.  A database written before the floor
 * has an entry for every open decision: ad_decisions_open() gives it the
 * floor after its last id.
 *
 * Writes.  This module only encodes: a decision changes in the
 * transaction of the audit record that says so (struct ad_audit_side,
 * audit.h), so the trail and the decisions never disagree.  Reads hold
 * the store's gate like every transaction in the environment.
 */
#ifndef AD_DECISIONS_H
#define AD_DECISIONS_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include <agentd/msg.h>

#include "policy/rules.h"
#include "store/store.h"

enum ad_decision_state {
	AD_DECISION_PENDING = 0,
	AD_DECISION_APPROVED,
	AD_DECISION_REJECTED,
	AD_DECISION_EXPIRED,
};

/* One decision.  Decoded ones own their strings and bytes. */
struct ad_decision {
	uint64_t id;
	char    *agent;
	char    *instance;
	char    *type;
	char    *title;
	char    *reasoning; /* "" when none */
	double   amount;
	double   confidence;
	void    *params; /* a msgpack map; never NULL after decode */
	size_t   params_len;
	void    *proposed_params; /* before a modify, else NULL */
	size_t   proposed_params_len;

	enum ad_risk           risk;
	char                  *rule;
	enum ad_decision_state state;
	int64_t                proposed_ms;
	int64_t                deadline_ms; /* 0 unless HIGH */
	enum ad_at_deadline    at_deadline;
	int64_t                decided_ms; /* 0 while pending */
	char                  *by;         /* "" while pending */
	char                  *note;       /* note or reason, "" */
	int64_t                delivered_ms;
};

struct ad_decisions;

/*
 * Open (creating if needed) both databases in the environment of s.  s
 * is borrowed, valid until ad_decisions_close().  On success *out is
 * caller owns.  Call it from one thread at a time with other
 * mdb_dbi_open() callers (LMDB's rule).
 */
int ad_decisions_open(
    struct ad_store *s, struct ad_decisions **out, char *err, size_t errlen);
void ad_decisions_close(struct ad_decisions *d);

/* "pending", "approved", "rejected", "expired"; and back (-1: none). */
const char *ad_decision_state_name(enum ad_decision_state s);
int         ad_decision_state_parse(const char *s);

/*
 * The side writes (audit.h) that store decisions: for each, its record,
 * and for one with an entry in `decisions_open` (entry non-zero) that
 * entry (put while open, deleted once finished: delivered_ms set); a
 * decision decided at its proposal has no entry (entry 0: no write).
 * ad_decision_sides_add() encodes one more decision;
 * ad_decision_sides_get_one() then points sides[0] (and sides[1]) at
 * decision i's, and returns how many (1 or 2), valid until the next add
 * or reset of s; ad_decision_sides_get() does it for all, one after
 * another, and returns their number.  One record may carry all of them
 * (at most AD_AUDIT_SIDES_MAX / 2 decisions), or each record its own.
 */
struct ad_audit_side;
struct ad_decision_sides {
	agentd_writer *w;   /* scratch */
	unsigned char *buf; /* every value, one after another */
	size_t         len, bufcap;
	unsigned char *key; /* 8 bytes per decision */
	size_t        *off; /* per decision: record, open entry, end */
	unsigned char *op;  /* per decision: what to do to its entry */
	size_t         n, cap;
};
void ad_decision_sides_init(struct ad_decision_sides *s);
void ad_decision_sides_reset(struct ad_decision_sides *s);
void ad_decision_sides_fini(struct ad_decision_sides *s);
void ad_decision_sides_add(
    struct ad_decision_sides *s, const struct ad_decision *dc, int entry);
/*
 * The same for a decision taken by an instance at delivered_ms, given its
 * record as stored while it was open (rec[0..len), what
 * ad_decision_sides_record() gave for it with delivered_ms 0): a copy
 * with delivered_ms set, without encoding the rest again, and its entry's
 * removal if it has one (entry).  AGENTD_EINVAL (nothing added) if rec
 * does not end in delivered_ms 0.
 */
int ad_decision_sides_add_delivered(struct ad_decision_sides *s, uint64_t id,
    const void *rec, size_t len, int64_t delivered_ms, int entry);
/* Decision i's record as added: borrowed, valid until the next add or
 * reset of s. */
const void *ad_decision_sides_record(
    const struct ad_decision_sides *s, size_t i, size_t *len);
/* fresh: the decisions are new (their ids above every stored one): their
 * writes are appends (ad_audit_side.append). */
size_t ad_decision_sides_get_one(struct ad_decisions *d,
    const struct ad_decision_sides *s, size_t i, struct ad_audit_side *sides,
    int fresh);
size_t ad_decision_sides_get(struct ad_decisions *d,
    const struct ad_decision_sides *s, struct ad_audit_side *sides, int fresh);

/*
 * The side write that sets the floor to floor (see the layout above):
 * val is its value's room, borrowed by *side.  The caller makes sure
 * that every decision below floor without an entry is delivered once
 * the record carrying it is committed.
 */
void ad_decisions_floor_side(struct ad_decisions *d, uint64_t floor,
    unsigned char val[8], struct ad_audit_side *side);

/*
 * d as the protocol's decision map, with extra more keys to follow (the
 * caller writes them).  The stored value is the same map with extra 0;
 * its last key is "delivered_ms" (ad_decision_sides_add_delivered relies
 * on it).
 */
void ad_decision_write(
    agentd_writer *w, const struct ad_decision *d, uint32_t extra);

/* Decode a stored value; *out caller owns, free with ad_decision_free. */
int  ad_decision_decode(const void *buf, size_t len, struct ad_decision **out);
void ad_decision_free(struct ad_decision *d);

/* One decision; AGENTD_ENOENT if there is none. */
int ad_decisions_get(
    struct ad_decisions *d, uint64_t id, struct ad_decision **out);

/*
 * Call fn for the decisions ids[0..n) in one read transaction (missing
 * ones are skipped).  *dc is borrowed until fn returns, unless fn takes
 * it: it sets *dc to NULL and then owns it (free with
 * ad_decision_free).  Non-zero from fn stops and is returned.
 */
typedef int (*ad_decision_fn)(void *arg, struct ad_decision **dc);
int ad_decisions_get_many(struct ad_decisions *d, const uint64_t *ids,
    size_t n, ad_decision_fn fn, void *arg);

/*
 * Call fn for every decision, newest first (oldest first with
 * oldest_first), reading in chunks of short transactions so that a long
 * history does not hold one reader.  fn as for ad_decisions_get_many.
 */
int ad_decisions_each(
    struct ad_decisions *d, int oldest_first, ad_decision_fn fn, void *arg);

/* Every open decision, in id order (at start): the entries of
 * `decisions_open` (entry 1) and the decisions from the floor on that
 * were decided at their proposal and not delivered (entry 0). */
typedef int (*ad_decision_open_fn)(void *arg, uint64_t id, const char *agent,
    enum ad_decision_state state, int64_t deadline_ms, int entry);
int ad_decisions_open_each(
    struct ad_decisions *d, ad_decision_open_fn fn, void *arg);

/* The highest id stored (0: none). */
uint64_t ad_decisions_last_id(struct ad_decisions *d);

#endif

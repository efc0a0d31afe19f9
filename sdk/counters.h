/*
 * counters.h - the named counters of host->count() (ABI 1.4): the rule for
 * a name and one table of them.
 *
 * The worker keeps one table per instance (what the plugin counted, and
 * what of it has not been sent to agentd yet), the mock host of
 * <agentd/mock.h> one per plugin, and agentd one per generation (the sums
 * of its instances): the same code, so a plugin's unit test, its worker
 * and agentd cannot disagree about a name or a limit.
 *
 * On the wire (doc/protocol.md) a worker sends what changed as a map
 * {NAME: DELTA}, DELTA an int of 0 or more; ad_counters_write_unsent
 * writes it and ad_counters_merge reads it.
 *
 * Internal to the SDK and the runtime; not installed.  Pure: no clock, no
 * allocation, no lock (the owner of a table serializes its calls).
 */
#ifndef AGENTD_COUNTERS_H
#define AGENTD_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

struct ad_counter {
	char    name[AGENTD_COUNTER_NAME_MAX + 1];
	int64_t value;  /* everything added; stops at INT64_MAX */
	int64_t unsent; /* added since the last ad_counters_write_unsent */
	int     dirty;  /* touched since then, with a delta 0 too */
};

/* A table; all zero is an empty one.  Names kept in bytewise order. */
struct ad_counters {
	size_t            n;      /* names in use */
	size_t            ndirty; /* of those, dirty */
	struct ad_counter c[AGENTD_COUNTERS_MAX];
};

/*
 * 0 if s[0..len) is a counter name: 1 to AGENTD_COUNTER_NAME_MAX bytes of
 * [a-z0-9_], the first a letter; AGENTD_EINVAL otherwise (NULL included).
 */
int ad_counter_name_checkn(const char *s, size_t len);
/* The same for a NUL-terminated s. */
int ad_counter_name_check(const char *s);

/*
 * Add delta to name, creating it (at 0) if the table has room.  0;
 * AGENTD_EINVAL for a bad name or a negative delta; AGENTD_ETOOBIG for a
 * new name when AGENTD_COUNTERS_MAX are in use.  Nothing changes on an
 * error.  Sums stop at INT64_MAX rather than wrap.
 */
int ad_counters_add(struct ad_counters *t, const char *name, int64_t delta);

/* name's entry, or NULL; borrowed, valid until the next add or merge. */
const struct ad_counter *ad_counters_find(
    const struct ad_counters *t, const char *name);

/*
 * Write at most max (1 or more) of the dirty entries to w as one map
 * {NAME: UNSENT} and clear them; the others stay dirty for the next call.
 * Returns how many were written; with none dirty, nothing is written.
 */
size_t ad_counters_write_unsent(
    struct ad_counters *t, agentd_writer *w, size_t max);

/* The most entries of one map that fit in an envelope of 1024 bytes,
 * agentd's smallest max_message_size, with the longest names and values
 * and the longest agent and instance names beside them (865 bytes). */
#define AD_COUNTERS_PER_MESSAGE 16

/*
 * Add a map {NAME: DELTA} a worker sent (v, borrowed for the call) to t.
 * The whole map is checked first: AGENTD_EPROTO, nothing added, when v is
 * not a map, a key is not a counter name or a value is not an int of 0 or
 * more.  Names that find t full are left out and counted in *dropped (may
 * be NULL); the others are added.  Returns 0 otherwise.
 */
int ad_counters_merge(
    struct ad_counters *t, const agentd_value *v, size_t *dropped);

#endif /* AGENTD_COUNTERS_H */

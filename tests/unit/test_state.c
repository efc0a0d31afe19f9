#include "config.h"

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <agentd/error.h>

#include "common/util.h"
#include "store/state.h"
#include "store/store.h"
#include "tap.h"

static char tmp[] = "/tmp/agentd-test-state-XXXXXX";

#define SMALL_MAX 1024 /* max_value of the state used by most tests */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Does agent's key hold exactly want (wantlen bytes)? */
static int
holds(struct ad_state *st, const char *agent, const char *key, size_t keylen,
    const char *want, size_t wantlen)
{
	void  *val = NULL;
	size_t len = 0;
	int    rv  = ad_state_get(st, agent, key, keylen, &val, &len);
	int    hit = rv == 0 && len == wantlen && memcmp(val, want, len) == 0;

	if (rv != 0)
		diag("  get %s/%.*s: %s", agent, (int)keylen, key,
		    agentd_strerror(rv));
	free(val);
	return hit;
}

static int
absent(struct ad_state *st, const char *agent, const char *key, size_t keylen)
{
	void  *val = NULL;
	size_t len = 0;
	int    rv  = ad_state_get(st, agent, key, keylen, &val, &len);

	free(val);
	return rv == AGENTD_ENOENT;
}

static int
put_str(
    struct ad_state *st, const char *agent, const char *key, const char *val)
{
	return ad_state_put(st, agent, key, strlen(key), val, strlen(val));
}

/* Scans collect "key=val;" into a string; NUL bytes in keys become '0'. */
struct collect {
	char   buf[8192];
	size_t len;
	size_t n;
};

static int
collect_fn(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	struct collect *c = arg;

	if (c->len + keylen + vallen + 3 > sizeof(c->buf))
		return AGENTD_ETOOBIG;
	for (size_t i = 0; i < keylen; i++)
		c->buf[c->len++] = key[i] != '\0' ? key[i] : '0';
	c->buf[c->len++] = '=';
	memcpy(c->buf + c->len, val, vallen);
	c->len += vallen;
	c->buf[c->len++] = ';';
	c->buf[c->len]   = '\0';
	c->n++;
	return 0;
}

static const char *
scan_all(struct ad_state *st, const char *agent, const char *prefix,
    struct collect *c)
{
	int rv;

	memset(c, 0, sizeof(*c));
	rv = ad_state_scan(
	    st, agent, prefix, prefix ? strlen(prefix) : 0, collect_fn, c);
	if (rv != 0)
		diag("  scan %s: %s", agent, agentd_strerror(rv));
	return c->buf;
}

static void
test_round_trip(struct ad_state *st)
{
	void  *val = NULL;
	size_t len = 99;

	is_int(put_str(st, "pricing", "rate", "1.25"), 0, "put a key");
	ok(holds(st, "pricing", "rate", 4, "1.25", 4), "get reads it back");
	is_int(put_str(st, "pricing", "rate", "2"), 0, "put replaces");
	ok(holds(st, "pricing", "rate", 4, "2", 1), "the replacement reads");
	is_int(ad_state_put(st, "pricing", "empty", 5, NULL, 0), 0,
	    "an empty value is a value");
	is_int(ad_state_get(st, "pricing", "empty", 5, &val, &len), 0,
	    "get of an empty value");
	ok(val != NULL && len == 0, "empty value reads back as 0 bytes");
	free(val);
	is_int(ad_state_get(st, "pricing", "nope", 4, &val, &len),
	    AGENTD_ENOENT, "get of a missing key is ENOENT");
	is_int(ad_state_del(st, "pricing", "rate", 4), 0, "del a key");
	ok(absent(st, "pricing", "rate", 4), "a deleted key is gone");
	is_int(ad_state_del(st, "pricing", "rate", 4), AGENTD_ENOENT,
	    "del of a missing key is ENOENT");
}

static void
test_namespaces(struct ad_state *st)
{
	struct collect c;

	is_int(put_str(st, "alice", "k", "from alice"), 0, "alice puts k");
	is_int(put_str(st, "bob", "k", "from bob"), 0, "bob puts k");
	ok(holds(st, "alice", "k", 1, "from alice", 10), "alice reads hers");
	ok(holds(st, "bob", "k", 1, "from bob", 8), "bob reads his");
	is_int(ad_state_del(st, "bob", "k", 1), 0, "bob deletes k");
	ok(holds(st, "alice", "k", 1, "from alice", 10),
	    "alice's k outlives bob's");

	/* One agent's name is a prefix of the other's. */
	put_str(st, "price", "a", "1");
	put_str(st, "price", "b", "2");
	put_str(st, "pricing", "a", "3");
	put_str(st, "pricing", "ing", "4");
	is_str(scan_all(st, "price", NULL, &c), "a=1;b=2;",
	    "scan of price sees only price's keys");
	is_str(scan_all(st, "pricing", NULL, &c), "a=3;empty=;ing=4;",
	    "scan of pricing sees only pricing's keys");
	is_str(scan_all(st, "pric", NULL, &c), "",
	    "scan of a name prefix of both sees nothing");
	is_str(scan_all(st, "pricing", "in", &c), "ing=4;",
	    "scan with a key prefix");
	ok(absent(st, "price", "ing", 3), "price cannot read pricing's key");
}

static void
test_nul_keys(struct ad_state *st)
{
	struct collect c;

	/* "a" NUL "b\0c" must not be "ab" NUL "c" or anything of "ab". */
	is_int(ad_state_put(st, "a", "b\0c", 3, "x", 1), 0,
	    "put a key with a NUL byte");
	ok(holds(st, "a", "b\0c", 3, "x", 1), "it reads back whole");
	ok(absent(st, "a", "b", 1), "its part before the NUL is not a key");
	ok(absent(st, "ab", "c", 1), "agent ab does not see it");
	is_str(scan_all(st, "ab", NULL, &c), "", "scan of ab is empty");
	is_int(ad_state_put(st, "a", "\0", 1, "y", 1), 0,
	    "a key that is one NUL byte");
	is_str(scan_all(st, "a", NULL, &c), "0=y;b0c=x;",
	    "scan of a returns both NUL keys, in order, whole");
	is_str(scan_all(st, "a", "b", &c), "b0c=x;",
	    "prefix scan keeps the bytes after a NUL");
}

static void
test_invalid(struct ad_state *st)
{
	char   big[AD_STATE_KEY_MAX + 1];
	void  *val = NULL;
	size_t len;

	memset(big, 'k', sizeof(big));
	is_int(put_str(st, "no/slash", "k", "v"), AGENTD_EINVAL,
	    "an invalid agent name is EINVAL");
	is_int(put_str(st, "", "k", "v"), AGENTD_EINVAL,
	    "an empty agent name is EINVAL");
	is_int(ad_state_get(st, NULL, "k", 1, &val, &len), AGENTD_EINVAL,
	    "a NULL agent name is EINVAL");
	is_int(put_str(st,
	           "a234567890123456789012345678901234567890123456789012345678"
	           "901234",
	           "k", "v"),
	    AGENTD_EINVAL, "a 64-byte agent name is EINVAL");
	is_int(ad_state_put(st, "pricing", "", 0, "v", 1), AGENTD_EINVAL,
	    "an empty key is EINVAL");
	is_int(ad_state_put(st, "pricing", big, sizeof(big), "v", 1),
	    AGENTD_EINVAL, "a key over the limit is EINVAL");
	is_int(ad_state_put(st,
	           "a23456789012345678901234567890123456789012345678901234567"
	           "890123",
	           big, AD_STATE_KEY_MAX, "v", 1),
	    0, "the longest key under the longest agent name fits");
	is_int(
	    ad_state_scan(st, "pricing", big, sizeof(big), collect_fn, NULL),
	    AGENTD_EINVAL, "a scan prefix over the limit is EINVAL");
}

static void
test_value_limit(struct ad_state *st)
{
	char *v = calloc(1, SMALL_MAX + 1);

	is_int(ad_state_put(st, "pricing", "big", 3, v, SMALL_MAX), 0,
	    "a value at the limit fits");
	is_int(ad_state_put(st, "pricing", "big", 3, v, SMALL_MAX + 1),
	    AGENTD_ETOOBIG, "a value over the limit is ETOOBIG");
	ok(holds(st, "pricing", "big", 3, v, SMALL_MAX),
	    "the refused put left the old value");
	free(v);
}

static void
test_batch(struct ad_state *st)
{
	char                   big[SMALL_MAX + 1] = { 0 };
	struct agentd_state_op good[]             = {
		            { "b1", 2, "one", 3 },
		            { "b2", 2, "two", 3 },
		            { "b1", 2, NULL, 0 },   /* delete what op 0 put */
		            { "gone", 4, NULL, 0 }, /* delete of a missing key */
		            { "b3", 2, "three", 5 },
	};
	struct agentd_state_op bad_key[] = {
		{ "c1", 2, "one", 3 }, { "c2", 0, "two", 3 }, /* empty key */
	};
	struct agentd_state_op bad_val[] = {
		{ "c1", 2, "one", 3 },
		{ "b2", 2, NULL, 0 },
		{ "c3", 2, big, sizeof(big) },
	};

	is_int(ad_state_batch(st, "batcher", good, 5), 0, "a batch commits");
	ok(absent(st, "batcher", "b1", 2), "ops apply in order");
	ok(holds(st, "batcher", "b2", 2, "two", 3), "batch put b2");
	ok(holds(st, "batcher", "b3", 2, "three", 5), "batch put b3");
	is_int(ad_state_batch(st, "batcher", bad_key, 2), AGENTD_EINVAL,
	    "a batch with an invalid key is EINVAL");
	ok(absent(st, "batcher", "c1", 2), "and writes nothing of it");
	is_int(ad_state_batch(st, "batcher", bad_val, 3), AGENTD_ETOOBIG,
	    "a batch with a value over the limit is ETOOBIG");
	ok(absent(st, "batcher", "c1", 2), "no put of it is written");
	ok(holds(st, "batcher", "b2", 2, "two", 3), "no delete of it is done");
	is_int(ad_state_batch(st, "no/slash", good, 5), AGENTD_EINVAL,
	    "a batch for an invalid agent is EINVAL");
	is_int(ad_state_batch(st, "batcher", NULL, 0), 0,
	    "an empty batch is a no-op");
}

/* Delete every key as it is seen: callbacks may write. */
struct sweep {
	struct ad_state *st;
	size_t           n;
	int              in_order;
	char             last[16];
};

static int
sweep_fn(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	struct sweep *s = arg;
	char          want[16];

	snprintf(want, sizeof(want), "k%04zu", s->n);
	if (keylen != 5 || memcmp(key, want, 5) != 0 || vallen != 5
	    || memcmp(val, want, 5) != 0 || key[keylen] != '\0')
		s->in_order = 0;
	s->n++;
	return ad_state_del(s->st, "many", key, keylen);
}

static int
stop_fn(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	(void)key;
	(void)keylen;
	(void)val;
	(void)vallen;
	return ++*(int *)arg == 3 ? AGENTD_EPLUGIN : 0;
}

static void
test_scan_writes(struct ad_state *st)
{
	struct sweep   s = { st, 0, 1, "" };
	struct collect c;
	char           k[16];
	int            calls = 0;
	int            rv    = 0;

	/* More than one scan chunk, written in reverse order. */
	for (int i = 299; i >= 0 && rv == 0; i--) {
		snprintf(k, sizeof(k), "k%04d", i);
		rv = put_str(st, "many", k, k);
	}
	is_int(rv, 0, "put 300 keys");
	is_int(ad_state_scan(st, "many", NULL, 0, stop_fn, &calls),
	    AGENTD_EPLUGIN, "a callback's non-zero return is returned");
	is_int(calls, 3, "and stops the scan");
	is_int(ad_state_scan(st, "many", "k", 1, sweep_fn, &s), 0,
	    "a scan whose callback deletes");
	is_int(s.n, 300, "sees every key once");
	ok(s.in_order, "in key order, with key and value intact");
	is_str(scan_all(st, "many", NULL, &c), "", "and deleted them all");
}

/* The gate: a write waits while the map is being grown. */
struct gated {
	struct ad_state *st;
	volatile int     done;
	int              rv;
};

static void *
gated_put(void *arg)
{
	struct gated *g = arg;

	g->rv   = put_str(g->st, "gated", "k", "v");
	g->done = 1;
	return NULL;
}

static void
test_gate(struct ad_store *s, struct ad_state *st)
{
	struct gated g = { st, 0, -1 };
	pthread_t    t;

	pthread_rwlock_wrlock(ad_store_gate(s));
	pthread_create(&t, NULL, gated_put, &g);
	usleep(100 * 1000);
	ok(!g.done, "a put waits while the gate is held for writing");
	pthread_rwlock_unlock(ad_store_gate(s));
	pthread_join(t, NULL);
	is_int(g.rv, 0, "and goes ahead once it is released");
}

/* Group commit: concurrent writers share transactions, none is lost. */
#define GROUP_THREADS 8
#define GROUP_PUTS 100

struct grouped {
	struct ad_state *st;
	int              id;
	int              failed;
};

static void *
grouped_puts(void *arg)
{
	struct grouped *g = arg;
	char            key[32];

	for (int i = 0; i < GROUP_PUTS; i++) {
		snprintf(key, sizeof(key), "t%d-%d", g->id, i);
		if (put_str(g->st, "group", key, key) != 0)
			g->failed++;
	}
	return NULL;
}

static void
test_group_commit(struct ad_state *st)
{
	struct grouped        g[GROUP_THREADS];
	pthread_t             t[GROUP_THREADS];
	struct ad_state_stats before, after;
	char                  key[32];
	int                   i, j, failed = 0, missing = 0;

	ad_state_stats(st, &before);
	for (i = 0; i < GROUP_THREADS; i++) {
		g[i] = (struct grouped) { st, i, 0 };
		pthread_create(&t[i], NULL, grouped_puts, &g[i]);
	}
	for (i = 0; i < GROUP_THREADS; i++) {
		pthread_join(t[i], NULL);
		failed += g[i].failed;
	}
	ad_state_stats(st, &after);
	is_int(failed, 0, "8 threads x 100 concurrent puts all succeed");
	for (i = 0; i < GROUP_THREADS; i++)
		for (j = 0; j < GROUP_PUTS; j++) {
			snprintf(key, sizeof(key), "t%d-%d", i, j);
			missing += !holds(
			    st, "group", key, strlen(key), key, strlen(key));
		}
	is_int(missing, 0, "and every one reads back");
	is_int((int)(after.writes - before.writes), GROUP_THREADS * GROUP_PUTS,
	    "the stats count every write");
	ok(after.txns - before.txns < after.writes - before.writes
	        && after.max_group > 1,
	    "concurrent writes share transactions");
	diag("  %llu writes in %llu transactions, at most %llu in one",
	    (unsigned long long)(after.writes - before.writes),
	    (unsigned long long)(after.txns - before.txns),
	    (unsigned long long)after.max_group);
}

/* State writes grow the map instead of failing with a full one. */
static void
test_map_growth(const char *dir)
{
	struct ad_store       *s              = NULL;
	struct ad_state       *st             = NULL;
	char                   err[AD_ERRLEN] = "";
	struct agentd_state_op ops[4];
	struct ad_state_stats  stats;
	char                   keys[4][16], *big;
	int                    i, k, failed = 0;

	if (ad_store_open(dir, &s, err, sizeof(err)) != 0
	    || ad_state_open(s, 0, &st, err, sizeof(err)) != 0) {
		ok(0, "open for growth");
		diag("  %s", err);
		ad_store_close(s);
		return;
	}
	big = malloc(AD_STATE_VALUE_DEFAULT);
	/* 96 MiB of values, 4 MiB per batch: more than the first map. */
	for (i = 0; i < 24; i++) {
		for (k = 0; k < 4; k++) {
			snprintf(keys[k], sizeof(keys[k]), "big%d", 4 * i + k);
			memset(big, 'a' + k, AD_STATE_VALUE_DEFAULT);
			ops[k] = (struct agentd_state_op) { keys[k],
				strlen(keys[k]), big, AD_STATE_VALUE_DEFAULT };
		}
		failed += ad_state_batch(st, "growing", ops, 4) != 0;
	}
	ad_state_stats(st, &stats);
	is_int(failed, 0, "96 MiB of state written in 1 MiB values");
	ok(stats.grows >= 1, "the map grew instead of failing");
	memset(big, 'd', AD_STATE_VALUE_DEFAULT);
	ok(holds(st, "growing", "big95", 5, big, AD_STATE_VALUE_DEFAULT),
	    "the last value reads back whole");
	free(big);
	ad_state_close(st);
	ad_store_close(s);
}

/* When test_ttl's key "brief" expires at the latest (wall ms). */
static int64_t brief_at;

static void
test_reopen(const char *dir)
{
	struct ad_store *s              = NULL;
	struct ad_state *st             = NULL;
	char             err[AD_ERRLEN] = "";
	char            *big;

	if (ad_store_open(dir, &s, err, sizeof(err)) != 0
	    || ad_state_open(s, 0, &st, err, sizeof(err)) != 0) {
		ok(0, "reopen");
		diag("  %s", err);
		ad_store_close(s);
		return;
	}
	ok(1, "reopen");
	ok(holds(st, "alice", "k", 1, "from alice", 10),
	    "a value survives close and reopen");
	ok(holds(st, "a", "b\0c", 3, "x", 1), "so does a NUL key");
	ok(holds(st, "batcher", "b3", 2, "three", 5), "so does a batch");
	ok(holds(st, "gated", "k", 1, "v", 1), "so does the gated put");
	ok(holds(st, "conv", "hour", 4, "h", 1),
	    "a key with an hour's TTL survives the reopen");
	{
		void  *val = NULL;
		size_t len, removed = 0;

		while (ad_wall_ms() <= brief_at) /* past its expiry */
			usleep(1000);
		is_int(ad_state_get(st, "conv", "brief", 5, &val, &len),
		    AGENTD_ENOENT, "one that expired meanwhile is gone");
		ad_state_sweep(st, ad_wall_ms(), 100, &removed);
		is_int(removed, 1,
		    "...and the sweep after the reopen removes it");
		ad_state_sweep(st, ad_wall_ms() + 7200 * 1000, 100, &removed);
		is_int(removed, 2, "...the hour-long ones kept their expiry");
	}
	big = calloc(1, AD_STATE_VALUE_DEFAULT + 1);
	is_int(
	    ad_state_put(st, "pricing", "big", 3, big, AD_STATE_VALUE_DEFAULT),
	    0, "the default limit takes 1 MiB");
	is_int(ad_state_put(
	           st, "pricing", "big", 3, big, AD_STATE_VALUE_DEFAULT + 1),
	    AGENTD_ETOOBIG, "and not a byte more");
	free(big);
	ad_state_close(st);
	ad_store_close(s);
}

/* Count the entries a scan sees. */
static int
count_fn(void *arg, const char *k, size_t kl, const void *v, size_t vl)
{
	(*(int *)arg)++;
	return 0;
}

/* The expiry a scan reports for each key, by the key's first byte. */
static int
ttl_fn(void *arg, const char *k, size_t kl, const void *v, size_t vl,
    int64_t expires)
{
	int64_t *at = arg;

	at[(unsigned char)k[0] % 4] = expires;
	at[3]++;
	return 0;
}

/* Many expiring together: a scan past 300 of them (more than a scan
 * chunk holds) finds the live ones; the sweep takes them max at a time. */
static void
test_ttl_many(struct ad_state *st)
{
	struct agentd_state_op ops[2];
	char                   key[16];
	size_t                 removed = 0, total = 0;
	int64_t                at[4]  = { 0 };
	int                    rounds = 0, bad = 0, n = 0;

	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "m%03d", i);
		bad += ad_state_put_ttl(st, "many", key, 4, "x", 1, 1) != 0;
	}
	ops[0] = (struct agentd_state_op) { "m150a", 5, "live", 4 };
	ops[1] = (struct agentd_state_op) { "m999", 4, "live", 4 };
	bad += ad_state_batch(st, "many", ops, 2) != 0;
	ad_state_put_ttl(st, "many", "m500", 4, "ttl", 3, 3600 * 1000);
	is_int(bad, 0, "ttl: 300 keys of 1 ms, 3 live ones among them");
	usleep(5 * 1000);
	ad_state_scan(st, "many", NULL, 0, count_fn, &n);
	is_int(n, 3, "ttl: the scan walks past 300 expired to the 3 live");
	ad_state_scan_ttl(st, "many", "m5", 2, ttl_fn, at);
	ok(at[3] == 1 && at['m' % 4] > ad_wall_ms() + 3500 * 1000,
	    "ttl: scan_ttl reports the expiry");
	while (ad_state_sweep(st, ad_wall_ms(), 128, &removed) == 0
	    && removed > 0 && rounds < 10) {
		bad += removed > 128;
		total += removed;
		rounds++;
	}
	ok(total == 300 && rounds == 3 && bad == 0,
	    "ttl: the sweep removes 128, 128, 44: at most max at a time");
	if (total != 300 || rounds != 3)
		diag("  removed %zu in %d rounds", total, rounds);
	n = 0;
	ad_state_scan(st, "many", NULL, 0, count_fn, &n);
	is_int(n, 3, "ttl: the live ones stay");
}

/* Expiries: invisible at once, removed by the sweep, cleared by a put. */
static void
test_ttl(struct ad_state *st)
{
	void   *val = NULL;
	size_t  len, removed = 99;
	int64_t start = ad_wall_ms();
	int     n     = 0;

	is_int(ad_state_put_ttl(st, "conv", "c-1", 3, "hi", 2, 0),
	    AGENTD_EINVAL, "ttl: 0 is EINVAL");
	is_int(ad_state_put_ttl(st, "conv", "c-1", 3, "hi", 2, 150), 0,
	    "ttl: a put with 150 ms");
	ad_state_put_ttl(st, "conv", "c-2", 3, "kept", 4, 150);
	ad_state_put(st, "conv", "c-2", 3, "kept", 4);
	ad_state_put_ttl(st, "conv", "c-3", 3, "long", 4, 3600 * 1000);
	ad_state_put(st, "conv", "c-4", 3, "plain", 5);
	ok(holds(st, "conv", "c-1", 3, "hi", 2) || ad_wall_ms() - start >= 150,
	    "ttl: readable before its expiry");
	is_int(ad_state_sweep(st, ad_wall_ms(), 100, &removed), 0,
	    "ttl: a sweep before anything expired");
	ok(removed == 0 || ad_wall_ms() - start >= 150, "...removes nothing");
	while (ad_wall_ms() - start <= 150)
		usleep(10 * 1000);
	is_int(ad_state_get(st, "conv", "c-1", 3, &val, &len), AGENTD_ENOENT,
	    "ttl: once past, get is ENOENT before any sweep");
	ad_state_scan(st, "conv", NULL, 0, count_fn, &n);
	is_int(n, 3, "ttl: the scan skips it (c-2 lost its TTL to a put)");
	is_int(ad_state_del(st, "conv", "c-1", 3), AGENTD_ENOENT,
	    "ttl: del of an expired key is ENOENT");
	is_int(ad_state_sweep(st, ad_wall_ms(), 100, &removed), 0,
	    "ttl: the sweep");
	is_int(removed, 1, "...removes the one expired key");
	is_int(ad_state_sweep(st, ad_wall_ms() + 7200 * 1000, 100, &removed),
	    0, "ttl: a sweep two hours on");
	is_int(removed, 1, "...removes the hour-long one, not the plain ones");
	ok(holds(st, "conv", "c-2", 3, "kept", 4)
	        && holds(st, "conv", "c-4", 3, "plain", 5),
	    "ttl: values without an expiry stay");
	ad_state_del(st, "conv", "c-2", 3);
	ad_state_del(st, "conv", "c-4", 3);
	test_ttl_many(st);
	/* For test_reopen: one that outlives the reopen, one that does not. */
	ad_state_put_ttl(st, "conv", "hour", 4, "h", 1, 3600 * 1000);
	brief_at = ad_wall_ms() + 1;
	ad_state_put_ttl(st, "conv", "brief", 5, "b", 1, 1);
}

int
main(void)
{
	struct ad_store *s              = NULL;
	struct ad_state *st             = NULL;
	char             err[AD_ERRLEN] = "";

	plan(98);
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if (ad_store_open(tmp, &s, err, sizeof(err)) != 0
	    || ad_state_open(s, SMALL_MAX, &st, err, sizeof(err)) != 0) {
		diag("open: %s", err);
		ad_store_close(s);
		nftw(tmp, rm_one, 8, FTW_DEPTH | FTW_PHYS);
		return 1;
	}
	ok(1, "open the state database");
	test_round_trip(st);
	test_namespaces(st);
	test_nul_keys(st);
	test_invalid(st);
	test_value_limit(st);
	test_batch(st);
	test_scan_writes(st);
	test_gate(s, st);
	test_group_commit(st);
	test_ttl(st);
	ad_state_close(st);
	ad_store_close(s);
	test_reopen(tmp);
	nftw(tmp, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	if (mkdtemp(strcpy(tmp, "/tmp/agentd-test-state-XXXXXX")) != NULL) {
		test_map_growth(tmp);
		nftw(tmp, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	}
	return done_testing();
}

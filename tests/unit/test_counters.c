/*
 * test_counters.c - host->count()'s table (sdk/counters.h) at its edges:
 * names, limits, sums that stop at INT64_MAX, what the worker sends and
 * agentd merges; and the mock host answering exactly as the table does.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <agentd/mock.h>

#include "sdk/counters.h"
#include "tap.h"

static void
test_names(void)
{
	static const char *const good[] = { "a", "conversions", "a_1", "z9",
		"abcdefghijklmnopqrstuvwxyz012345" };
	static const char *const bad[]  = { "", "1a", "_a", "Conversions",
		 "a-b", "a.b", "a b", "abcdefghijklmnopqrstuvwxyz0123456" };
	size_t                   i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		is_int(ad_counter_name_check(good[i]), 0, good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(ad_counter_name_check(bad[i]), AGENTD_EINVAL, bad[i]);
	is_int(ad_counter_name_check(NULL), AGENTD_EINVAL, "NULL: EINVAL");
	is_int(ad_counter_name_checkn("ab\0c", 4), AGENTD_EINVAL,
	    "a NUL inside a msgpack string: EINVAL");
	is_int(ad_counter_name_checkn("abc", 2), 0, "a length is honoured");
}

static void
test_table(void)
{
	struct ad_counters       t;
	const struct ad_counter *c;
	char                     name[16];
	int                      i, rv = 0;

	memset(&t, 0, sizeof(t));
	is_int(ad_counters_add(&t, "visits", 0), 0, "delta 0 creates a name");
	ok((c = ad_counters_find(&t, "visits")) != NULL && c->value == 0,
	    "which shows at 0");
	is_int(ad_counters_add(&t, "visits", -1), AGENTD_EINVAL,
	    "a negative delta: EINVAL");
	is_int(ad_counters_add(&t, "Visits", 1), AGENTD_EINVAL,
	    "a bad name: EINVAL");
	ad_counters_add(&t, "visits", 2);
	ad_counters_add(&t, "visits", 3);
	is_int(ad_counters_find(&t, "visits")->value, 5, "deltas add up");
	ad_counters_add(&t, "big", INT64_MAX - 1);
	ad_counters_add(&t, "big", 5);
	ok(ad_counters_find(&t, "big")->value == INT64_MAX,
	    "a sum stops at INT64_MAX");
	ad_counters_add(&t, "a", 1);
	ok(strcmp(t.c[0].name, "a") == 0 && strcmp(t.c[1].name, "big") == 0
	        && strcmp(t.c[2].name, "visits") == 0,
	    "names kept in order");
	ad_counters_add(&t, "vis", 1);
	ok(ad_counters_find(&t, "vis") != NULL
	        && ad_counters_find(&t, "vis")->value == 1
	        && ad_counters_find(&t, "visits")->value == 5,
	    "a name that is another's prefix is its own");
	ok(ad_counters_find(&t, "nope") == NULL, "an unknown name: NULL");
	for (i = 0; t.n < AGENTD_COUNTERS_MAX; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		rv |= ad_counters_add(&t, name, 1);
	}
	is_int(rv, 0, "names up to AGENTD_COUNTERS_MAX");
	is_int(ad_counters_add(&t, "one_more", 1), AGENTD_ETOOBIG,
	    "a new name past them: ETOOBIG");
	ok(ad_counters_find(&t, "one_more") == NULL, "and it is not there");
	is_int(
	    ad_counters_add(&t, "visits", 1), 0, "a name in use still counts");
}

static void
test_wire(void)
{
	struct ad_counters t, sum;
	agentd_writer     *w;
	agentd_doc        *doc;
	const void        *p;
	size_t             len, dropped;
	char               name[16];
	int                i;

	memset(&t, 0, sizeof(t));
	memset(&sum, 0, sizeof(sum));
	agentd_writer_new(&w);
	is_int((int)ad_counters_write_unsent(&t, w, AD_COUNTERS_PER_MESSAGE),
	    0, "nothing counted: nothing written");
	p = agentd_writer_data(w, &len);
	is_int((int)len, 0, "not even an empty map");
	ad_counters_add(&t, "visits", 3);
	ad_counters_add(&t, "conversions", 0);
	ad_counters_add(&t, "visits", 1);
	is_int((int)ad_counters_write_unsent(&t, w, AD_COUNTERS_PER_MESSAGE),
	    2, "two names sent");
	p = agentd_writer_data(w, &len);
	agentd_parse(p, len, &doc);
	is_int(ad_counters_merge(&sum, agentd_doc_root(doc), &dropped), 0,
	    "agentd merges them");
	agentd_doc_free(doc);
	ok(ad_counters_find(&sum, "visits")->value == 4
	        && ad_counters_find(&sum, "conversions") != NULL
	        && ad_counters_find(&sum, "conversions")->value == 0,
	    "visits 4, conversions 0 (a delta 0 makes it exist)");
	is_int((int)t.ndirty, 0, "sent: nothing dirty");
	ok(ad_counters_find(&t, "visits")->value == 4
	        && ad_counters_find(&t, "visits")->unsent == 0,
	    "the worker keeps its sum, nothing unsent");

	/* A second batch adds only what changed. */
	agentd_writer_reset(w);
	ad_counters_add(&t, "visits", 2);
	is_int((int)ad_counters_write_unsent(&t, w, AD_COUNTERS_PER_MESSAGE),
	    1, "one name changed");
	p = agentd_writer_data(w, &len);
	agentd_parse(p, len, &doc);
	ad_counters_merge(&sum, agentd_doc_root(doc), NULL);
	agentd_doc_free(doc);
	ok(ad_counters_find(&sum, "visits")->value == 6,
	    "the sum is the worker's");

	/* What agentd refuses whole. */
	agentd_writer_reset(w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "visits");
	agentd_write_int(w, 1);
	agentd_write_str(w, "Bad");
	agentd_write_int(w, 1);
	p = agentd_writer_data(w, &len);
	agentd_parse(p, len, &doc);
	is_int(ad_counters_merge(&sum, agentd_doc_root(doc), NULL),
	    AGENTD_EPROTO, "a bad name in a batch: EPROTO");
	agentd_doc_free(doc);
	ok(ad_counters_find(&sum, "visits")->value == 6,
	    "and nothing of it is added");
	agentd_writer_reset(w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "visits");
	agentd_write_int(w, -5);
	p = agentd_writer_data(w, &len);
	agentd_parse(p, len, &doc);
	is_int(ad_counters_merge(&sum, agentd_doc_root(doc), NULL),
	    AGENTD_EPROTO, "a negative delta: EPROTO");
	agentd_doc_free(doc);
	agentd_writer_reset(w);
	agentd_write_array(w, 0);
	p = agentd_writer_data(w, &len);
	agentd_parse(p, len, &doc);
	is_int(ad_counters_merge(&sum, agentd_doc_root(doc), NULL),
	    AGENTD_EPROTO, "not a map: EPROTO");
	agentd_doc_free(doc);

	/* Instances of one generation counting different names: agentd
	 * keeps the first AGENTD_COUNTERS_MAX and says how many it left. */
	agentd_writer_reset(w);
	agentd_write_map(w, AGENTD_COUNTERS_MAX);
	for (i = 0; i < AGENTD_COUNTERS_MAX; i++) {
		snprintf(name, sizeof(name), "x%d", i);
		agentd_write_str(w, name);
		agentd_write_int(w, 1);
	}
	p = agentd_writer_data(w, &len);
	agentd_parse(p, len, &doc);
	is_int(ad_counters_merge(&sum, agentd_doc_root(doc), &dropped), 0,
	    "a batch past the table's room is taken");
	agentd_doc_free(doc);
	is_int((int)dropped, 2, "the two names that found it full dropped");
	ok(sum.n == AGENTD_COUNTERS_MAX
	        && ad_counters_find(&sum, "visits")->value == 6,
	    "the names already there are kept");

	/* More names changed than one envelope takes: the rest next. */
	memset(&t, 0, sizeof(t));
	for (i = 0; i < AD_COUNTERS_PER_MESSAGE + 4; i++) {
		snprintf(name, sizeof(name), "y%d", i);
		ad_counters_add(&t, name, 1);
	}
	agentd_writer_reset(w);
	is_int((int)ad_counters_write_unsent(&t, w, AD_COUNTERS_PER_MESSAGE),
	    AD_COUNTERS_PER_MESSAGE, "one envelope takes 16 names");
	agentd_writer_reset(w);
	is_int((int)ad_counters_write_unsent(&t, w, AD_COUNTERS_PER_MESSAGE),
	    4, "the next the other 4");
	is_int((int)t.ndirty, 0, "and then none is left");
	agentd_writer_free(w);
}

/* The mock's host->count() is the table. */
static int
noop_request(void *state, agentd_request *req, const void *body, size_t len)
{
	return 0;
}

static const struct agentd_plugin plugin = {
	.magic      = AGENTD_PLUGIN_MAGIC,
	.size       = sizeof(struct agentd_plugin),
	.abi_major  = AGENTD_ABI_MAJOR,
	.abi_minor  = AGENTD_ABI_MINOR,
	.name       = "counting",
	.version    = "1",
	.on_request = noop_request,
};

static void
test_mock(void)
{
	const struct agentd_host *host;
	agentd_mock              *m;
	agentd_ctx               *ctx;
	char                      name[16];
	int                       exists = -1, rv = 0, i;

	agentd_mock_new(NULL, &m);
	agentd_mock_attach(m, &plugin);
	host = agentd_mock_host(m, &ctx);
	ok(AGENTD_HOST_HAS(host, count), "the mock has host->count");
	is_int(host->abi_minor, AGENTD_ABI_MINOR, "and says this SDK's ABI minor");
	is_int((int)agentd_mock_counter(m, "visits", &exists), 0,
	    "a name never counted: 0");
	is_int(exists, 0, "and not there");
	host->count(ctx, "visits", 0);
	agentd_mock_counter(m, "visits", &exists);
	is_int(exists, 1, "delta 0 makes it exist");
	host->count(ctx, "visits", 2);
	host->count(ctx, "visits", 5);
	is_int((int)agentd_mock_counter(m, "visits", NULL), 7, "2 + 5 = 7");
	is_int(host->count(ctx, "Bad-Name", 1), AGENTD_EINVAL,
	    "a bad name: EINVAL");
	like(agentd_mock_errmsg(m), "a-z0-9_", "the mock says the rule");
	is_int(host->count(ctx, "visits", -1), AGENTD_EINVAL,
	    "a negative delta: EINVAL");
	for (i = 0; agentd_mock_counters(m) < AGENTD_COUNTERS_MAX; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		rv |= host->count(ctx, name, 1);
	}
	is_int(rv, 0, "AGENTD_COUNTERS_MAX names");
	is_int(host->count(ctx, "one_more", 1), AGENTD_ETOOBIG,
	    "one more: ETOOBIG");
	like(agentd_mock_errmsg(m), "32 names", "the mock says the limit");
	agentd_mock_free(m);
}

int
main(void)
{
	plan(16 + 13 + 19 + 12);
	test_names();
	test_table();
	test_wire();
	test_mock();
	return done_testing();
}

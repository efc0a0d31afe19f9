/*
 * test_propose.c - the two ends of the policy gate's messages, without a
 * supervisor: agentd's reading of policy.propose (one proposal as a map,
 * or a batch as a bin of maps end to end, each checked on its own) and
 * the worker's reading of the "decisions" message.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/error.h>
#include <agentd/msg.h>

#include "policy/propose.h"
#include "tap.h"
#include "worker/outcomes.h"

static agentd_writer *w;

/* One proposal map: type, title, amount, confidence, params {"k": 1}. */
static void
write_proposal(agentd_writer *to, const char *type, const char *title,
    double amount, double confidence)
{
	agentd_write_map(to, 5);
	agentd_write_str(to, "type");
	agentd_write_str(to, type);
	agentd_write_str(to, "title");
	agentd_write_str(to, title);
	agentd_write_str(to, "amount");
	agentd_write_double(to, amount);
	agentd_write_str(to, "confidence");
	agentd_write_double(to, confidence);
	agentd_write_str(to, "params");
	agentd_write_map(to, 1);
	agentd_write_str(to, "k");
	agentd_write_int(to, 1);
}

/* Parse what w holds. */
static int
parse(struct ad_proposal_in **in, size_t *n, int *batch)
{
	size_t      len;
	const void *p = agentd_writer_data(w, &len);

	return ad_propose_parse(p, len, in, n, batch);
}

/* The bin of the maps in maps, as a batch's body, into w. */
static void
batch_of(agentd_writer *maps)
{
	size_t      len;
	const void *p = agentd_writer_data(maps, &len);

	agentd_writer_reset(w);
	agentd_write_bin(w, p, len);
}

static void
test_single(void)
{
	struct ad_proposal_in *in;
	size_t                 n;
	int                    batch;

	agentd_writer_reset(w);
	write_proposal(w, "price.change", "cut", 10, 0.9);
	is_int(parse(&in, &n, &batch), 0, "single: a map parses");
	ok(n == 1 && !batch, "single: one proposal, not a batch");
	ok(in[0].status == 0 && strcmp(in[0].type, "price.change") == 0
	        && strcmp(in[0].title, "cut") == 0 && in[0].amount == 10
	        && in[0].confidence == 0.9,
	    "single: its fields read back");
	ok(strcmp(in[0].reasoning, "") == 0,
	    "single: no reasoning reads as \"\"");
	ok(in[0].params_len == 4
	        && memcmp(in[0].params, "\x81\xa1k\x01", 4) == 0,
	    "single: params are the map as sent");
	ad_propose_free(in, n);

	agentd_writer_reset(w);
	write_proposal(w, "price change", "cut", 10, 0.9);
	is_int(parse(&in, &n, &batch), 0, "single refused: still parses");
	ok(n == 1 && in[0].status == AGENTD_EINVAL
	        && strstr(in[0].err, "type") != NULL,
	    "single refused: EINVAL, the line names type");
	ad_propose_free(in, n);
}

static void
test_batch(void)
{
	struct ad_proposal_in *in;
	agentd_writer         *maps;
	size_t                 n;
	int                    batch;

	agentd_writer_new(&maps);
	write_proposal(maps, "a", "one", 1, 0.5);
	write_proposal(maps, "b", "two", -1, 0.5); /* a negative amount */
	agentd_write_int(maps, 7);                 /* not a map */
	write_proposal(maps, "c", "three", 3, 1);
	batch_of(maps);
	is_int(parse(&in, &n, &batch), 0, "batch: a bin of maps parses");
	ok(n == 4 && batch, "batch: four proposals, a batch");
	ok(in[0].status == 0 && strcmp(in[0].title, "one") == 0,
	    "batch: the first is accepted");
	ok(in[1].status == AGENTD_EINVAL && strstr(in[1].err, "amount"),
	    "batch: the negative amount alone is refused, naming amount");
	ok(in[2].status == AGENTD_EINVAL && in[2].type == NULL,
	    "batch: what is not a map is refused, holding nothing");
	ok(in[3].status == 0 && strcmp(in[3].type, "c") == 0,
	    "batch: the one after them is read as well");
	ad_propose_free(in, n);

	/* Cut in the middle of its last map: which proposals would there
	 * be?  None: the whole message is malformed. */
	{
		size_t      len;
		const void *p;

		agentd_writer_reset(maps);
		write_proposal(maps, "a", "one", 1, 0.5);
		write_proposal(maps, "b", "two", 2, 0.5);
		p = agentd_writer_data(maps, &len);
		agentd_writer_reset(w);
		agentd_write_bin(w, p, len - 3);
	}
	is_int(parse(&in, &n, &batch), AGENTD_EPROTO,
	    "batch: one cut short is EPROTO");
	ok(in == NULL && n == 0, "batch: ... and proposes nothing");

	agentd_writer_reset(maps);
	for (int i = 0; i < AD_PROPOSE_BATCH_MAX + 1; i++)
		agentd_write_int(maps, 0);
	batch_of(maps);
	is_int(parse(&in, &n, &batch), AGENTD_ETOOBIG,
	    "batch: more than AD_PROPOSE_BATCH_MAX is ETOOBIG");
	agentd_writer_free(maps);

	agentd_writer_reset(w);
	agentd_write_bin(w, "", 0);
	is_int(parse(&in, &n, &batch), AGENTD_EPROTO,
	    "batch: an empty bin is EPROTO");
	agentd_writer_reset(w);
	agentd_write_array(w, 0);
	is_int(parse(&in, &n, &batch), AGENTD_EPROTO,
	    "neither a map nor a bin is EPROTO");
	is_int(ad_propose_parse("\xc1", 1, &in, &n, &batch), AGENTD_EPROTO,
	    "bytes that are not msgpack are EPROTO");
}

static void
test_answers(void)
{
	struct ad_proposal_answer a = { 42, AD_RISK_LOW, "small", 0 };
	agentd_doc               *doc;
	const agentd_value       *r;
	char                      s[32];
	size_t                    len;
	const void               *p;
	int64_t                   st = 0;

	agentd_writer_reset(w);
	agentd_write_array(w, 2);
	ad_propose_write_answer(w, &a);
	ad_propose_write_refusal(w, AGENTD_EBUSY, "too many");
	p = agentd_writer_data(w, &len);
	ok(agentd_parse(p, len, &doc) == 0, "answers: an array of two");
	r = agentd_doc_root(doc);
	ok(agentd_get_strcpy(
	       agentd_map_get(agentd_array_at(r, 0), "id"), s, sizeof(s))
	            == 0
	        && strcmp(s, "42") == 0,
	    "answers: an accepted one carries its id, as a string");
	ok(agentd_get_int(agentd_map_get(agentd_array_at(r, 1), "st"), &st)
	            == 0
	        && st == AGENTD_EBUSY,
	    "answers: a refused one its status");
	agentd_doc_free(doc);
}

struct seen {
	int  n;
	char topics[4][64];
	int  body_ok;
};

static void
seen_one(void *arg, const char *topic, const void *body, size_t len)
{
	struct seen *s = arg;

	if (s->n < 4)
		snprintf(s->topics[s->n], sizeof(s->topics[0]), "%s", topic);
	s->n++;
	s->body_ok += len == 1 && *(const unsigned char *)body == 0x80;
}

static void
test_outcomes(void)
{
	struct seen s;
	size_t      len;
	const void *p;

	agentd_writer_reset(w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "events");
	agentd_write_array(w, 4);
	agentd_write_array(w, 2);
	agentd_write_str(w, "decision.1");
	agentd_write_bin(w, "\x80", 1);
	agentd_write_array(w, 1); /* no body: skipped */
	agentd_write_str(w, "decision.2");
	agentd_write_int(w, 3); /* not an entry: skipped */
	agentd_write_array(w, 2);
	agentd_write_str(w, "decision.3");
	agentd_write_bin(w, "\x80", 1);
	p = agentd_writer_data(w, &len);
	memset(&s, 0, sizeof(s));
	is_int(ad_outcomes_each(p, len, seen_one, &s), 0,
	    "outcomes: a decisions body reads");
	ok(s.n == 2 && strcmp(s.topics[0], "decision.1") == 0
	        && strcmp(s.topics[1], "decision.3") == 0 && s.body_ok == 2,
	    "outcomes: the two whole entries, in order, with their bodies");
	memset(&s, 0, sizeof(s));
	is_int(ad_outcomes_each("\x92\x01\x02", 3, seen_one, &s),
	    AGENTD_EPROTO, "outcomes: not a map is EPROTO");
	is_int(ad_outcomes_each("\x81", 1, seen_one, &s), AGENTD_EPROTO,
	    "outcomes: cut short is EPROTO");
	is_int(s.n, 0, "outcomes: ... and nothing was handed on");
}

int
main(void)
{
	plan(7 + 12 + 3 + 5);
	agentd_writer_new(&w);
	test_single();
	test_batch();
	test_answers();
	test_outcomes();
	agentd_writer_free(w);
	return done_testing();
}

/*
 * The mock host's policy gate (<agentd/mock.h>): host->propose() checked,
 * numbered, classified by agentd_mock_policy() and recorded; outcomes
 * delivered as decision.<id> events by agentd_mock_run(); the test
 * answering as a person (approve, reject, modify, expire).
 *
 * The plugin under test is built here and attached: "pricer" proposes in
 * on_request with what the request body says, keeps the outcomes it gets
 * in its state and applies a price only from an approved one, once per id.
 * Linked against libagentd-sdk.a only, as a plugin author's test is.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/mock.h>
#include <agentd/msg.h>

#include "tap.h"

/* ---- the plugin: pricer ------------------------------------------------ */

#define PRICER_MAX 16

/* The longest title agentd accepts (AGENTD_PROPOSAL_TITLE_MAX). */
#define TITLE_MAX 200

/* One decision.<id> event as the plugin got it. */
struct outcome {
	char    id[24];
	char    outcome[16];
	char    by[32];
	char    note[64];
	char    type[64];
	int64_t price; /* params.price, -1 if none */
};

struct pricer {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	struct outcome got[PRICER_MAX]; /* every event, repeats too */
	int            ngot;
	char           applied_ids[PRICER_MAX][24];
	int            napplied;
	int64_t        price; /* the price applied last, 0 none */
};

static struct pricer *pricer_last;   /* the instance last started */
static int            pricer_events; /* events any instance got */

static int
pricer_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct pricer *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return AGENTD_ENOMEM;
	p->ctx      = ctx;
	p->host     = host;
	*state      = p;
	pricer_last = p;
	return 0;
}

static void
pricer_fini(void *state)
{
	free(state);
}

/* A string at key of map into buf, or "" (and NULL back if absent). */
static const char *
opt_str(const agentd_value *map, const char *key, char *buf, size_t size)
{
	const agentd_value *v = agentd_map_get(map, key);

	buf[0] = '\0';
	if (v == NULL || agentd_get_strcpy(v, buf, size) != 0)
		return NULL;
	return buf;
}

/*
 * The body says what to propose: {"type": str, "title": str, "reasoning":
 * str, "amount": float, "confidence": float, "params": any value, "raw":
 * bin (params bytes as they are)}; a field left out is NULL or 0 (for
 * confidence 0.5).  The reply is {"rv": status, "id": id or "",
 * "untouched": true if *decision_id was left alone}.
 */
static int
pricer_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct pricer         *pr = state;
	struct agentd_proposal p;
	const agentd_value    *root, *v;
	agentd_doc            *doc;
	agentd_writer         *w, *params;
	char                   type[300], title[300], reasoning[300];
	char                  *id = NULL;
	const void            *data;
	size_t                 dlen;
	int                    rv;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EPROTO;
	root = agentd_doc_root(doc);
	agentd_writer_new(&params);
	memset(&p, 0, sizeof(p));
	p.type      = opt_str(root, "type", type, sizeof(type));
	p.title     = opt_str(root, "title", title, sizeof(title));
	p.reasoning = opt_str(root, "reasoning", reasoning, sizeof(reasoning));
	p.confidence = 0.5;
	agentd_get_double(agentd_map_get(root, "amount"), &p.amount);
	agentd_get_double(agentd_map_get(root, "confidence"), &p.confidence);
	if ((v = agentd_map_get(root, "params")) != NULL) {
		agentd_write_value(params, v);
		p.params = agentd_writer_data(params, &p.params_len);
	} else if ((v = agentd_map_get(root, "raw")) != NULL) {
		agentd_get_bin(v, &p.params, &p.params_len);
	}
	id = NULL;
	rv = pr->host->propose(pr->ctx, &p, &id);

	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "rv");
	agentd_write_int(w, rv);
	agentd_write_str(w, "id");
	agentd_write_str(w, rv == 0 && id != NULL ? id : "");
	agentd_write_str(w, "untouched");
	agentd_write_bool(w, rv != 0 && id == NULL);
	data = agentd_writer_data(w, &dlen);
	rv   = pr->host->reply(pr->ctx, req, data, dlen);
	agentd_writer_free(w);
	agentd_writer_free(params);
	agentd_doc_free(doc);
	pr->host->free(id); /* caller owns, free with host->free() */
	return rv;
}

static int
pricer_applied(const struct pricer *pr, const char *id)
{
	int i;

	for (i = 0; i < pr->napplied; i++)
		if (strcmp(pr->applied_ids[i], id) == 0)
			return 1;
	return 0;
}

/* Keep every decision.<id> event; apply an approved price once per id. */
static void
pricer_event(void *state, const char *topic, const void *body, size_t len)
{
	struct pricer      *pr = state;
	struct outcome     *o;
	const agentd_value *root;
	agentd_doc         *doc;

	pricer_events++;
	if (strncmp(topic, "decision.", 9) != 0 || pr->ngot == PRICER_MAX
	    || agentd_parse(body, len, &doc) != 0)
		return;
	root     = agentd_doc_root(doc);
	o        = &pr->got[pr->ngot++];
	o->price = -1;
	opt_str(root, "id", o->id, sizeof(o->id));
	opt_str(root, "outcome", o->outcome, sizeof(o->outcome));
	opt_str(root, "by", o->by, sizeof(o->by));
	opt_str(root, "note", o->note, sizeof(o->note));
	opt_str(root, "type", o->type, sizeof(o->type));
	agentd_get_int(agentd_map_get(agentd_map_get(root, "params"), "price"),
	    &o->price);
	agentd_doc_free(doc);
	if (strcmp(topic + 9, o->id) != 0
	    || strcmp(o->outcome, "approved") != 0 || pricer_applied(pr, o->id)
	    || pr->napplied == PRICER_MAX)
		return; /* only approved, only once */
	memcpy(pr->applied_ids[pr->napplied++], o->id, sizeof(o->id));
	pr->price = o->price;
}

static const struct agentd_plugin pricer_desc = {
	.magic      = AGENTD_PLUGIN_MAGIC,
	.size       = sizeof(struct agentd_plugin),
	.abi_major  = AGENTD_ABI_MAJOR,
	.abi_minor  = AGENTD_ABI_MINOR,
	.name       = "pricer",
	.version    = "1.0.0",
	.init       = pricer_init,
	.on_request = pricer_request,
	.on_event   = pricer_event,
	.fini       = pricer_fini,
};

/* ---- the test's side --------------------------------------------------- */

static agentd_writer *w;           /* the request being built */
static char           last_id[24]; /* the id of the last proposal */
static int            last_untouched;

static agentd_mock *
pricer_mock(void)
{
	agentd_mock *m = NULL;

	if (agentd_mock_new(NULL, &m) != 0
	    || agentd_mock_attach(m, &pricer_desc) != 0) {
		printf("Bail out! the pricer plugin does not attach\n");
		exit(1);
	}
	return m;
}

/* Send the request in w; propose's status (last_id gets the id). */
static int
send_proposal(agentd_mock *m)
{
	const void         *body, *reply;
	size_t              len, rlen;
	int                 status = -1;
	int64_t             rv     = -1;
	agentd_doc         *doc;
	const agentd_value *root;

	last_id[0]     = '\0';
	last_untouched = 0;
	body           = agentd_writer_data(w, &len);
	if (agentd_mock_request(m, body, len, &reply, &rlen, &status) != 0
	    || status != 0 || agentd_parse(reply, rlen, &doc) != 0) {
		diag("request: %s", agentd_mock_errmsg(m));
		return -1;
	}
	root = agentd_doc_root(doc);
	agentd_get_int(agentd_map_get(root, "rv"), &rv);
	agentd_get_strcpy(
	    agentd_map_get(root, "id"), last_id, sizeof(last_id));
	agentd_get_bool(agentd_map_get(root, "untouched"), &last_untouched);
	agentd_doc_free(doc);
	return (int)rv;
}

/* Propose type with {"price": price} as params. */
static int
propose(agentd_mock *m, const char *type, int64_t price)
{
	agentd_writer_reset(w);
	agentd_write_map(w, 4);
	agentd_write_str(w, "type");
	agentd_write_str(w, type);
	agentd_write_str(w, "title");
	agentd_write_str(w, "change the price");
	agentd_write_str(w, "amount");
	agentd_write_double(w, 12.5);
	agentd_write_str(w, "params");
	agentd_write_map(w, 1);
	agentd_write_str(w, "price");
	agentd_write_int(w, price);
	return send_proposal(m);
}

/* Decision i, or a zeroed one (strings "") if there is none. */
static struct agentd_mock_decision
decision(agentd_mock *m, size_t i)
{
	struct agentd_mock_decision d;

	if (agentd_mock_decision(m, i, &d) != 0) {
		memset(&d, 0, sizeof(d));
		d.id = d.type = d.title = d.reasoning = d.risk = d.state = d.by
		    = d.note                                             = "";
	}
	return d;
}

/* {"price": price, ...} as msgpack, in a static buffer. */
static const void *
price_map(int64_t price, double amount, size_t *len)
{
	static agentd_writer *pw;

	if (pw == NULL)
		agentd_writer_new(&pw);
	agentd_writer_reset(pw);
	agentd_write_map(pw, amount >= 0 ? 2 : 1);
	agentd_write_str(pw, "price");
	agentd_write_int(pw, price);
	if (amount >= 0) {
		agentd_write_str(pw, "amount");
		agentd_write_double(pw, amount);
	}
	return agentd_writer_data(pw, len);
}

static int64_t
map_int(const void *p, size_t len, const char *key)
{
	agentd_doc *doc;
	int64_t     v = -1;

	if (p != NULL && agentd_parse(p, len, &doc) == 0) {
		agentd_get_int(agentd_map_get(agentd_doc_root(doc), key), &v);
		agentd_doc_free(doc);
	}
	return v;
}

/* ---- the default: every proposal is HIGH ------------------------------- */

static void
test_default_high(void)
{
	agentd_mock                *m = pricer_mock();
	struct agentd_mock_decision d;

	is_int(propose(m, "price.change", 90), 0, "propose returns 0");
	is_str(last_id, "1", "... and the first decision's id, \"1\"");
	is_int(agentd_mock_decisions(m), 1, "the decision is recorded");
	d = decision(m, 0);
	is_str(d.risk, "high",
	    "no policy: the risk is high, as agentd's default");
	is_str(d.state, "pending", "... and it waits for a person");
	is_str(d.by, "", "... decided by nobody yet");
	ok(strcmp(d.type, "price.change") == 0
	        && strcmp(d.title, "change the price") == 0
	        && strcmp(d.reasoning, "") == 0 && d.amount == 12.5
	        && d.confidence == 0.5
	        && map_int(d.params, d.params_len, "price") == 90
	        && d.proposed_params == NULL,
	    "the decision reads back as proposed (reasoning NULL as \"\")");
	is_int(agentd_mock_run(m), 0, "nothing is queued for a pending one");
	is_int(pricer_last->ngot, 0, "the plugin got no event");
	is_int(agentd_mock_published_count(m), 0,
	    "nothing is published on approvals.notify for high");

	is_int(propose(m, "refund", 5), 0, "a second proposal");
	is_str(last_id, "2", "... numbered 2");
	is_int(propose(m, "x", 5), 0, "a third");
	is_str(last_id, "3", "... numbered 3: ids increase");
	is_int(agentd_mock_decision(m, 3, &d), AGENTD_ENOENT,
	    "no decision 3 (index from 0): ENOENT");
	agentd_mock_free(m);
}

/* ---- agentd_mock_policy: low, medium, first match --------------------- */

static void
test_policy(void)
{
	agentd_mock                *m = pricer_mock();
	struct agentd_mock_decision d;
	const char                 *topic;
	const void                 *body;
	size_t                      len;
	agentd_doc                 *doc;
	const agentd_value         *root;
	char                        s[32];

	is_int(agentd_mock_policy(m, "price.small", "urgent"), AGENTD_EINVAL,
	    "a risk other than low, medium, high is EINVAL");
	like(
	    agentd_mock_errmsg(m), "not low, medium or high", "... saying so");
	is_int(agentd_mock_policy(m, "price small", "low"), AGENTD_EINVAL,
	    "a prefix that is not a topic is EINVAL");
	is_int(agentd_mock_policy(m, NULL, "low"), AGENTD_EINVAL,
	    "... and a NULL one");
	is_int(agentd_mock_policy(m, "price.small", NULL), AGENTD_EINVAL,
	    "... and a NULL risk");
	is_int(agentd_mock_policy(m, "price.small", "low"), 0,
	    "price.small is low");
	is_int(agentd_mock_policy(m, "price", "medium"), 0,
	    "price is medium (after price.small)");
	is_int(agentd_mock_policy(m, "price.small", "high"), 0,
	    "a later call for price.small (the first one wins)");
	is_int(agentd_mock_policy(m, "*", "low"), 0, "* is low, last");
	is_int(agentd_mock_policy(m, "refund", "high"), 0,
	    "refund is high, after * (never reached)");

	/* low */
	is_int(propose(m, "price.small", 95), 0, "a price.small proposal");
	d = decision(m, 0);
	ok(strcmp(d.risk, "low") == 0 && strcmp(d.state, "approved") == 0
	        && strcmp(d.by, "policy") == 0,
	    "low: approved at once, by policy");
	is_int(pricer_last->ngot, 0,
	    "... but not delivered inside propose (nor before run)");
	is_int(d.delivered, 0, "... delivered 0 times so far");
	is_int(agentd_mock_published_count(m), 0,
	    "nothing on approvals.notify for low");
	is_int(agentd_mock_run(m), 1, "agentd_mock_run delivers one outcome");
	ok(pricer_last->ngot == 1 && strcmp(pricer_last->got[0].id, "1") == 0
	        && strcmp(pricer_last->got[0].outcome, "approved") == 0
	        && strcmp(pricer_last->got[0].by, "policy") == 0
	        && strcmp(pricer_last->got[0].note, "") == 0
	        && strcmp(pricer_last->got[0].type, "price.small") == 0
	        && pricer_last->got[0].price == 95,
	    "on decision.1: id, outcome approved, by policy, type, params");
	is_int(
	    pricer_last->price, 95, "the plugin applied the approved price");
	is_int(decision(m, 0).delivered, 1, "delivered once");
	is_int(agentd_mock_run(m), 0, "nothing more to run");

	/* whole segments: price.smaller is not price.small, but is price */
	is_int(propose(m, "price.smaller", 1), 0, "a price.smaller proposal");
	is_str(decision(m, 1).risk, "medium",
	    "price.small does not cover price.smaller; price does: medium");
	is_str(decision(m, 1).state, "approved", "medium: approved at once");
	is_int(agentd_mock_published_count(m), 1,
	    "... and published on approvals.notify");
	ok(agentd_mock_published(m, 0, &topic, &body, &len) == 0
	        && strcmp(topic, "approvals.notify") == 0
	        && agentd_parse(body, len, &doc) == 0,
	    "... as a map");
	root = agentd_doc_root(doc);
	ok(agentd_get_strcpy(agentd_map_get(root, "id"), s, sizeof(s)) == 0
	        && strcmp(s, "2") == 0
	        && agentd_get_strcpy(
	               agentd_map_get(root, "risk"), s, sizeof(s))
	            == 0
	        && strcmp(s, "medium") == 0
	        && agentd_get_strcpy(
	               agentd_map_get(root, "state"), s, sizeof(s))
	            == 0
	        && strcmp(s, "approved") == 0
	        && agentd_get_strcpy(
	               agentd_map_get(root, "agent"), s, sizeof(s))
	            == 0
	        && strcmp(s, "pricer") == 0,
	    "... of the decision: id, risk, state, agent");
	agentd_doc_free(doc);
	agentd_mock_run(m);
	ok(pricer_last->ngot == 2
	        && strcmp(pricer_last->got[1].outcome, "approved") == 0
	        && pricer_last->price == 1,
	    "the medium outcome reaches the plugin after run, approved");

	is_int(propose(m, "prices", 2), 0, "prices: not covered by price");
	is_str(decision(m, 2).risk, "low", "... so * decides: low");
	is_int(propose(m, "refund", 3), 0, "refund");
	is_str(decision(m, 3).risk, "low",
	    "... low too: * came first, in call order");
	agentd_mock_free(m);
}

/* ---- a person's answers ------------------------------------------------ */

static void
test_answers(void)
{
	agentd_mock                *m = pricer_mock();
	struct agentd_mock_decision d;
	const void                 *params;
	size_t                      len;
	int                         events;

	propose(m, "price.change", 80); /* 1: approved */
	propose(m, "price.change", 70); /* 2: rejected */
	propose(m, "price.change", 60); /* 3: modified, then approved */
	propose(m, "price.change", 50); /* 4: expired */

	is_int(agentd_mock_approve(m, "1", "looks right"), 0,
	    "approve 1, with a note");
	d = decision(m, 0);
	ok(strcmp(d.state, "approved") == 0
	        && strcmp(d.by, AGENTD_MOCK_PERSON) == 0
	        && strcmp(d.note, "looks right") == 0,
	    "... approved by " AGENTD_MOCK_PERSON " with the note");
	is_int(pricer_last->ngot, 0, "... delivered only by agentd_mock_run");
	is_int(agentd_mock_run(m), 1, "run");
	ok(pricer_last->ngot == 1
	        && strcmp(pricer_last->got[0].outcome, "approved") == 0
	        && strcmp(pricer_last->got[0].by, AGENTD_MOCK_PERSON) == 0
	        && strcmp(pricer_last->got[0].note, "looks right") == 0,
	    "decision.1: approved, by the person, with the note");
	is_int(pricer_last->price, 80, "the plugin applied 80");

	is_int(agentd_mock_approve(m, "1", NULL), AGENTD_EEXIST,
	    "approving 1 again is EEXIST");
	like(agentd_mock_errmsg(m), "already approved, by " AGENTD_MOCK_PERSON,
	    "... saying how and by whom");
	is_int(agentd_mock_reject(m, "1", "no"), AGENTD_EEXIST,
	    "rejecting it is EEXIST");
	is_int(agentd_mock_expire(m, "1"), AGENTD_EEXIST,
	    "expiring it is EEXIST");
	params = price_map(1, -1, &len);
	is_int(agentd_mock_modify(m, "1", params, len, NULL), AGENTD_EEXIST,
	    "modifying it is EEXIST");
	d = decision(m, 0);
	ok(strcmp(d.state, "approved") == 0
	        && strcmp(d.note, "looks right") == 0
	        && map_int(d.params, d.params_len, "price") == 80,
	    "... and nothing changed");
	is_int(agentd_mock_run(m), 0, "... nor was anything queued");

	is_int(agentd_mock_reject(m, "2", NULL), AGENTD_EINVAL,
	    "reject without a reason is EINVAL");
	is_int(agentd_mock_reject(m, "2", ""), AGENTD_EINVAL,
	    "... and with an empty one");
	is_str(decision(m, 1).state, "pending", "... which leaves it pending");
	is_int(agentd_mock_reject(m, "2", "too low for the season"), 0,
	    "reject 2 with a reason");
	agentd_mock_run(m);
	ok(pricer_last->ngot == 2
	        && strcmp(pricer_last->got[1].outcome, "rejected") == 0
	        && strcmp(pricer_last->got[1].note, "too low for the season")
	            == 0,
	    "decision.2: rejected, the reason as note");
	is_int(pricer_last->price, 80, "the plugin did not apply 70");

	/* modify: still high, then low once the policy says so */
	is_int(agentd_mock_modify(m, "3", "\x91\x01", 2, NULL), AGENTD_EINVAL,
	    "modify with params that are not a map is EINVAL");
	is_int(agentd_mock_modify(m, "3", NULL, 0, NULL), AGENTD_EINVAL,
	    "... and with none");
	params = price_map(65, 30, &len);
	is_int(agentd_mock_modify(m, "3", params, len, "a bit more"), 0,
	    "modify 3: price 65, amount 30");
	d = decision(m, 2);
	ok(strcmp(d.state, "pending") == 0 && strcmp(d.risk, "high") == 0,
	    "... classified again: still high, still pending");
	ok(map_int(d.params, d.params_len, "price") == 65
	        && map_int(d.proposed_params, d.proposed_params_len, "price")
	            == 60
	        && d.amount == 30,
	    "... with the new params, the first ones kept, amount from "
	    "params");
	is_int(agentd_mock_run(m), 0, "... and no outcome queued");
	agentd_mock_policy(m, "price.change", "low");
	params = price_map(66, -1, &len);
	is_int(agentd_mock_modify(m, "3", params, len, "now low"), 0,
	    "modify 3 again, once price.change is low");
	d = decision(m, 2);
	ok(strcmp(d.state, "approved") == 0 && strcmp(d.risk, "low") == 0
	        && strcmp(d.by, AGENTD_MOCK_PERSON) == 0
	        && map_int(d.proposed_params, d.proposed_params_len, "price")
	            == 60
	        && d.amount == 30,
	    "... classified low: approved, by the person; first params kept");
	agentd_mock_run(m);
	ok(pricer_last->ngot == 3
	        && strcmp(pricer_last->got[2].outcome, "approved") == 0
	        && pricer_last->got[2].price == 66,
	    "decision.3: approved with the modified params");
	is_int(pricer_last->price, 66, "the plugin applied 66, not 60");

	is_int(agentd_mock_expire(m, "4"), 0, "expire 4");
	d = decision(m, 3);
	ok(strcmp(d.state, "expired") == 0 && strcmp(d.by, "policy") == 0,
	    "... expired, by policy");
	agentd_mock_run(m);
	ok(pricer_last->ngot == 4
	        && strcmp(pricer_last->got[3].outcome, "expired") == 0
	        && strcmp(pricer_last->got[3].by, "policy") == 0,
	    "decision.4: expired");
	is_int(pricer_last->price, 66, "the plugin did not apply 50");

	is_int(agentd_mock_approve(m, "99", NULL), AGENTD_ENOENT,
	    "approving an unknown id is ENOENT");
	like(agentd_mock_errmsg(m), "no decision \"99\"", "... naming it");
	is_int(agentd_mock_reject(m, "0", "x"), AGENTD_ENOENT,
	    "rejecting one is ENOENT");
	is_int(agentd_mock_modify(m, "5", params, len, NULL), AGENTD_ENOENT,
	    "modifying one is ENOENT");
	is_int(agentd_mock_expire(m, NULL), AGENTD_ENOENT,
	    "expiring a NULL id is ENOENT");

	/* At least once: a repeat must not apply twice. */
	is_int(agentd_mock_redeliver(m, "1"), 0, "decision.1 sent again");
	agentd_mock_run(m);
	ok(pricer_last->ngot == 5 && strcmp(pricer_last->got[4].id, "1") == 0,
	    "... reaches the plugin again");
	ok(pricer_last->napplied == 2 && pricer_last->price == 66,
	    "... which ignores the repeated id");
	is_int(decision(m, 0).delivered, 2, "decision 1 was delivered twice");
	propose(m, "other", 1);
	is_int(agentd_mock_redeliver(m, last_id), AGENTD_EINVAL,
	    "a pending decision has no outcome to redeliver: EINVAL");
	is_int(agentd_mock_redeliver(m, "77"), AGENTD_ENOENT,
	    "an unknown one is ENOENT");

	/* Queued outcomes are dropped by agentd_mock_free, not delivered. */
	is_int(agentd_mock_approve(m, last_id, NULL), 0, "one more approved");
	events = pricer_events;
	agentd_mock_free(m);
	is_int(pricer_events, events,
	    "agentd_mock_free drops its queued outcome, undelivered");
}

/* ---- bad proposals ----------------------------------------------------- */

/* A request proposing type/title/amount/confidence; fields given by the
 * caller follow (extra pairs already written after). */
static void
bad_start(int pairs, const char *type, const char *title)
{
	agentd_writer_reset(w);
	agentd_write_map(w, (type != NULL) + (title != NULL) + pairs);
	if (type != NULL) {
		agentd_write_str(w, "type");
		agentd_write_str(w, type);
	}
	if (title != NULL) {
		agentd_write_str(w, "title");
		agentd_write_str(w, title);
	}
}

static void
bad_code(agentd_mock *m, int code, const char *name, const char *field)
{
	size_t before = agentd_mock_decisions(m);
	char   what[160];

	is_int(send_proposal(m), code, name);
	snprintf(what, sizeof(what), "... the message names %s", field);
	like(agentd_mock_errmsg(m), field, what);
	ok(agentd_mock_decisions(m) == before && last_untouched,
	    "... nothing recorded, *decision_id left alone");
}

static void
bad(agentd_mock *m, const char *name, const char *field)
{
	bad_code(m, AGENTD_EINVAL, name, field);
}

static void
test_bad_proposals(void)
{
	agentd_mock              *m = pricer_mock();
	const struct agentd_host *h;
	agentd_ctx               *ctx;
	struct agentd_proposal    p;
	char                      title[TITLE_MAX + 2];
	char                     *id = NULL;

	bad_start(0, NULL, "no type");
	bad(m, "a proposal without a type is EINVAL", "type");
	bad_start(0, "not a topic!", "t");
	bad(m, "a type that is not a topic is EINVAL", "type");
	bad_start(0, "price.change", NULL);
	bad(m, "a proposal without a title is EINVAL", "title");
	bad_start(0, "price.change", "");
	bad(m, "an empty title is EINVAL", "title");
	memset(title, 'x', sizeof(title) - 1);
	title[sizeof(title) - 1] = '\0';
	bad_start(0, "price.change", title);
	bad_code(
	    m, AGENTD_ETOOBIG, "a title of 201 bytes is ETOOBIG", "title");
	title[sizeof(title) - 2] = '\0';
	bad_start(0, "price.change", title);
	is_int(send_proposal(m), 0, "a title of exactly 200 bytes is fine");

	bad_start(1, "price.change", "t");
	agentd_write_str(w, "amount");
	agentd_write_double(w, NAN);
	bad(m, "a NaN amount is EINVAL", "amount");
	bad_start(1, "price.change", "t");
	agentd_write_str(w, "amount");
	agentd_write_double(w, -0.01);
	bad(m, "a negative amount is EINVAL", "amount");
	bad_start(1, "price.change", "t");
	agentd_write_str(w, "amount");
	agentd_write_double(w, INFINITY);
	bad(m, "an infinite amount is EINVAL", "amount");
	bad_start(1, "price.change", "t");
	agentd_write_str(w, "confidence");
	agentd_write_double(w, 1.5);
	bad(m, "a confidence of 1.5 is EINVAL", "confidence");
	bad_start(1, "price.change", "t");
	agentd_write_str(w, "confidence");
	agentd_write_double(w, -0.5);
	bad(m, "a confidence below 0 is EINVAL", "confidence");
	bad_start(1, "price.change", "t");
	agentd_write_str(w, "params");
	agentd_write_array(w, 1);
	agentd_write_int(w, 1);
	bad(m, "params that are an array, not a map, are EINVAL", "params");
	bad_start(1, "price.change", "t");
	agentd_write_str(w, "raw");
	agentd_write_bin(w, "\x81\xa1", 2);
	bad(m, "params that are truncated msgpack are EINVAL", "params");
	bad_start(1, "price.change", "t");
	agentd_write_str(w, "raw");
	agentd_write_bin(w, "\x80\x80", 2);
	bad(m, "params of two maps are EINVAL", "params");

	bad_start(3, "price.change", "t");
	agentd_write_str(w, "amount");
	agentd_write_double(w, 0);
	agentd_write_str(w, "confidence");
	agentd_write_double(w, 1);
	agentd_write_str(w, "reasoning");
	agentd_write_str(w, "the bounds themselves");
	is_int(send_proposal(m), 0, "amount 0 and confidence 1 are fine");
	ok(decision(m, agentd_mock_decisions(m) - 1).params_len == 1
	        && memcmp(decision(m, agentd_mock_decisions(m) - 1).params,
	               "\x80", 1)
	            == 0,
	    "no params read back as an empty map, as agentd keeps them");

	h = agentd_mock_host(m, &ctx);
	is_int(h->propose(ctx, NULL, &id), AGENTD_EINVAL,
	    "propose(NULL) is EINVAL");
	memset(&p, 0, sizeof(p));
	p.type  = "price.change";
	p.title = "t";
	is_int(h->propose(ctx, &p, NULL), AGENTD_EINVAL,
	    "propose without somewhere to put the id is EINVAL");
	is_int(h->propose(ctx, &p, &id), 0,
	    "propose called by the test through agentd_mock_host");
	ok(id != NULL && strspn(id, "0123456789") == strlen(id)
	        && id[0] != '0',
	    "... the id is decimal digits");
	h->free(id); /* caller owns, free with host->free() */
	agentd_mock_free(m);
}

/* ---- the pending limit ------------------------------------------------- */

static void
test_pending_limit(void)
{
	agentd_mock              *m = pricer_mock();
	const struct agentd_host *h;
	agentd_ctx               *ctx;
	struct agentd_proposal    p;
	char                     *id;
	int                       i, rv = 0;

	h = agentd_mock_host(m, &ctx);
	memset(&p, 0, sizeof(p));
	p.type  = "price.change";
	p.title = "t";
	for (i = 0; i < 1000 && rv == 0; i++) {
		id = NULL;
		rv = h->propose(ctx, &p, &id);
		h->free(id);
	}
	is_int(rv, 0, "1000 pending decisions, agentd's default limit");
	id = NULL;
	is_int(h->propose(ctx, &p, &id), AGENTD_EBUSY, "the 1001st is EBUSY");
	like(agentd_mock_errmsg(m), "max_pending", "... naming the limit");
	ok(id == NULL && agentd_mock_decisions(m) == 1000,
	    "... nothing recorded, no id");
	agentd_mock_policy(m, "*", "low");
	is_int(h->propose(ctx, &p, &id), AGENTD_EBUSY,
	    "... whatever the new one's risk");
	agentd_mock_approve(m, "1000", NULL);
	is_int(h->propose(ctx, &p, &id), 0,
	    "once one is answered, propose works");
	is_str(id, "1001", "... as decision 1001");
	h->free(id);
	agentd_mock_free(m);

	m = pricer_mock();
	is_int(agentd_mock_max_pending(m, 2), 0, "max_pending 2");
	is_int(propose(m, "a", 1), 0, "one pending");
	is_int(propose(m, "a", 2), 0, "two pending");
	is_int(propose(m, "a", 3), AGENTD_EBUSY,
	    "a third is EBUSY, as the plugin sees it");
	ok(last_untouched, "... with *decision_id left alone");
	agentd_mock_reject(m, "1", "no");
	is_int(propose(m, "a", 4), 0, "after a reject, one more");
	is_str(last_id, "3", "... numbered 3: a refused proposal takes no id");
	agentd_mock_free(m);
}

/* ---- propose_async ------------------------------------------------------ */

struct async_seen {
	int  calls, status;
	char id[24];
};

static void
async_done(void *arg, int status, const char *id)
{
	struct async_seen *a = arg;

	a->calls++;
	a->status = status;
	snprintf(a->id, sizeof(a->id), "%s", id != NULL ? id : "(null)");
}

static void
test_propose_async(void)
{
	agentd_mock              *m = pricer_mock();
	const struct agentd_host *h;
	agentd_ctx               *ctx;
	struct agentd_proposal    p;
	struct async_seen         a = { 0, -1, "" };

	h = agentd_mock_host(m, &ctx);
	ok(AGENTD_HOST_HAS(h, propose_async), "the mock has propose_async");
	memset(&p, 0, sizeof(p));
	p.type  = "price.change";
	p.title = "t";
	is_int(h->propose_async(ctx, &p, async_done, &a), 0,
	    "propose_async is accepted");
	is_int(a.calls, 0, "... its callback waits for agentd_mock_run()");
	agentd_mock_run(m);
	ok(a.calls == 1 && a.status == 0 && strcmp(a.id, "1") == 0,
	    "... then runs once, with status 0 and the id");
	p.amount = -1;
	a.calls  = 0;
	is_int(h->propose_async(ctx, &p, async_done, &a), AGENTD_EINVAL,
	    "a bad proposal is refused at once");
	agentd_mock_run(m);
	is_int(a.calls, 0, "... and its callback never runs");
	/* Decision 1 is pending (high, the default): at a limit of 1 the
	 * next is refused by the gate, as agentd answers a batch. */
	p.amount = 1;
	agentd_mock_max_pending(m, 1);
	is_int(h->propose_async(ctx, &p, async_done, &a), 0,
	    "over max_pending, propose_async still returns 0");
	is_int(a.calls, 0, "... its callback waits for agentd_mock_run()");
	agentd_mock_run(m);
	ok(a.calls == 1 && a.status == AGENTD_EBUSY
	        && strcmp(a.id, "(null)") == 0,
	    "... then runs once, with AGENTD_EBUSY and no id");
	is_int(agentd_mock_decisions(m), 1, "... and nothing was proposed");
	agentd_mock_free(m);
}

int
main(void)
{
	plan(15 + 31 + 46 + 46 + 14 + 10);
	agentd_writer_new(&w);
	test_default_high();
	test_policy();
	test_answers();
	test_bad_proposals();
	test_pending_limit();
	test_propose_async();
	agentd_writer_free(w);
	return done_testing();
}

/*
 * test_contract.c - the rules of sdk/contract.h at their edges, and the
 * mock host answering exactly as they do: agentd calls the same functions,
 * so a rule changed in one place changes for both, and these catch it.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/mock.h>

#include "sdk/contract.h"
#include "tap.h"

static int
noop_request(void *state, agentd_request *req, const void *body, size_t len)
{
	return 0;
}

static const struct agentd_setting schema[] = {
	{ .name = "n", .type = AGENTD_SETTING_INT, .default_value = "1" },
	{ .name = NULL },
};

static const struct agentd_plugin plugin = {
	.magic      = AGENTD_PLUGIN_MAGIC,
	.size       = sizeof(struct agentd_plugin),
	.abi_major  = AGENTD_ABI_MAJOR,
	.abi_minor  = AGENTD_ABI_MINOR,
	.name       = "contract",
	.version    = "1",
	.settings   = schema,
	.on_request = noop_request,
};

/* A string of n copies of c; caller owns, free(). */
static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void
test_names(void)
{
	char       *at   = repeat('a', AGENTD_NAME_MAX);
	char       *over = repeat('a', AGENTD_NAME_MAX + 1);
	const char *names[]
	    = { "ok", "a.b-c_d", "", "sp ace", "sl/ash", at, over };
	agentd_mock *m;
	size_t       i;
	int          rv;

	ok(ad_valid_name(at) && !ad_valid_name(over),
	    "names: AGENTD_NAME_MAX bytes, not one more");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		rv = agentd_mock_new(names[i], &m);
		is_int(rv, ad_valid_name(names[i]) ? 0 : AGENTD_EINVAL,
		    "the mock takes an agent name as the rule does");
		if (rv == 0)
			agentd_mock_free(m);
	}
	free(at);
	free(over);
}

static void
test_keys_and_audit(void)
{
	char *key  = repeat('k', AGENTD_STATE_KEY_MAX + 1);
	char *kind = repeat('x', AGENTD_AUDIT_KIND_MAX + 1);
	char *sum  = repeat('s', AGENTD_AUDIT_SUMMARY_MAX + 1);
	const struct agentd_host *h;
	agentd_ctx               *ctx;
	agentd_mock              *m;
	size_t                    lens[]
	    = { 0, 1, AGENTD_STATE_KEY_MAX, AGENTD_STATE_KEY_MAX + 1 };
	size_t i;

	agentd_mock_new(NULL, &m);
	is_int(agentd_mock_attach(m, &plugin), 0, "a plugin attached");
	h = agentd_mock_host(m, &ctx);
	for (i = 0; i < 4; i++)
		is_int(h->state_put(ctx, key, lens[i], "v", 1),
		    ad_state_key_check(key, lens[i], 0),
		    "state_put takes a key as the rule does");
	is_int(ad_state_key_check(key, AGENTD_STATE_KEY_MAX + 1, 0),
	    AGENTD_EINVAL, "a key over AGENTD_STATE_KEY_MAX is refused");
	is_int(ad_state_key_check(NULL, 0, 1), 0, "an empty scan prefix");

	is_int(h->audit(ctx, kind, "s", NULL, 0), AGENTD_ETOOBIG,
	    "mock: a kind over AGENTD_AUDIT_KIND_MAX");
	is_int(ad_audit_fields_check(kind, "s", NULL, 0), AGENTD_ETOOBIG,
	    "rule: the same");
	kind[AGENTD_AUDIT_KIND_MAX] = '\0';
	is_int(h->audit(ctx, kind, "s", NULL, 0), 0,
	    "mock: a kind of AGENTD_AUDIT_KIND_MAX bytes");
	is_int(h->audit(ctx, "k", sum, NULL, 0),
	    ad_audit_fields_check("k", sum, NULL, 0),
	    "a summary over AGENTD_AUDIT_SUMMARY_MAX: mock and rule agree");
	is_int(h->audit(ctx, "k", "s", "\xc1", 1),
	    ad_audit_fields_check("k", "s", "\xc1", 1),
	    "a detail that is not msgpack: mock and rule agree");
	is_int(h->audit(ctx, "", "s", NULL, 0), AGENTD_EINVAL,
	    "mock: an empty kind");
	agentd_mock_free(m);
	free(key);
	free(kind);
	free(sum);
}

/* agentd's own kinds are agentd's: a plugin's record of one is refused,
 * by the rule and by the mock, and not recorded. */
static void
test_reserved_kinds(void)
{
	static const char *const  ours[]   = { "agent.reload", "instance.exit",
		   "call.denied", "state.denied", "event.denied", "audit.archive",
		   "agentd.start", "policy.decided", "approval.granted", "agent",
		   "decision.approved", "Decision.Proposed", "Agent.Reload",
		   "INSTANCE.exit" };
	static const char *const  theirs[] = { "pricing.decision", "decision",
		 "price.quoted", "agents.reload", "agentx", "my.agent.reload",
		 "stateful", "reload" };
	const struct agentd_host *h;
	agentd_ctx               *ctx;
	agentd_mock              *m;
	size_t                    i;
	int                       bad = 0;

	agentd_mock_new(NULL, &m);
	agentd_mock_attach(m, &plugin);
	h = agentd_mock_host(m, &ctx);
	for (i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		bad += ad_audit_plugin_check(ours[i], "s", NULL, 0)
		        != AGENTD_EDENIED
		    || h->audit(ctx, ours[i], "s", NULL, 0) != AGENTD_EDENIED
		    || h->audit_async(ctx, ours[i], "s", NULL, 0, NULL, NULL)
		        != AGENTD_EDENIED;
	is_int(bad, 0, "agentd's kinds: EDENIED by the rule and the mock");
	is_int((int)agentd_mock_audit_count(m), 0, "and none recorded");
	bad = 0;
	for (i = 0; i < sizeof(theirs) / sizeof(theirs[0]); i++)
		bad += ad_audit_plugin_check(theirs[i], "s", NULL, 0) != 0
		    || h->audit(ctx, theirs[i], "s", NULL, 0) != 0;
	is_int(bad, 0, "a plugin's own kinds (not a whole reserved segment)");
	is_int(ad_audit_plugin_check("agent.reload", "s", "\xc1", 1),
	    AGENTD_EPROTO, "a bad detail is told first");
	is_int(ad_audit_fields_check("agent.reload", "s", NULL, 0), 0,
	    "agentd's own records pass the field check");
	agentd_mock_free(m);
}

static void
test_settings(void)
{
	const char *texts[]       = { "12", "-3", "+4", " 5", "6x", "", "1e3",
		      "99999999999999999999" };
	struct ad_setting_value v = { .type = AGENTD_SETTING_INT };
	agentd_mock            *m;
	size_t                  i;
	int                     want;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		want = ad_setting_parse(texts[i], &v) == 0 ? 0 : AGENTD_EINVAL;
		agentd_mock_new(NULL, &m);
		agentd_mock_setting(m, "n", texts[i]);
		is_int(agentd_mock_attach(m, &plugin), want,
		    "an int setting is typed by the mock as by the rule");
		agentd_mock_free(m);
	}
	v.type = AGENTD_SETTING_BOOL;
	ok(ad_setting_parse("Yes", &v) == 0 && v.v.b == 1
	        && ad_setting_parse("maybe", &v) == -1,
	    "bool: yes, not maybe");
}

static void
test_descriptor(void)
{
	struct agentd_plugin d = plugin;
	agentd_mock         *m;

	is_int(ad_desc_check_head(&d, sizeof(d)), AD_DESC_OK, "a good head");
	is_int(ad_desc_check_head(&d, 0), AD_DESC_MAGIC,
	    "a symbol of unknown size is not trusted");
	d.size = AD_DESC_MIN_SIZE - 1;
	is_int(ad_desc_check_head(&d, SIZE_MAX), AD_DESC_SIZE,
	    "a size below fini");
	d       = plugin;
	d.magic = 0;
	agentd_mock_new(NULL, &m);
	is_int(agentd_mock_attach(m, &d), AGENTD_EABI,
	    "mock: a wrong magic is EABI");
	is_int(ad_desc_check_head(&d, sizeof(d)), AD_DESC_MAGIC,
	    "rule: a wrong magic");
	d      = plugin;
	d.name = "bad name";
	is_int(agentd_mock_attach(m, &d), AGENTD_EABI, "mock: a bad .name");
	is_int(ad_desc_check_fields(&d, NULL), AD_DESC_NAME, "rule: the same");
	agentd_mock_free(m);
}

/* ---- proposals -------------------------------------------------------- */

/* A proposal every rule accepts. */
static struct agentd_proposal
good_proposal(void)
{
	struct agentd_proposal p = {
		.type       = "price.change",
		.title      = "lower the price of A by 5%",
		.reasoning  = NULL,
		.amount     = 0,
		.confidence = 0,
		.params     = NULL,
		.params_len = 0,
	};

	return p;
}

/* What ad_proposal_check() answers for p; err must be one line, and not
 * empty when it refuses. */
static int
check(const struct agentd_proposal *p)
{
	char err[256] = "";
	int  rv       = ad_proposal_check(p, err, sizeof(err));

	if (rv != 0 && (err[0] == '\0' || strchr(err, '\n') != NULL))
		return -12345;
	return rv;
}

/* A map of one key "k" whose str 32 value makes the whole n bytes. */
static unsigned char *
map_of_size(size_t n)
{
	unsigned char *b = malloc(n);
	size_t         v = n - 8; /* fixmap, fixstr "k", str 32 header */

	b[0] = 0x81;
	b[1] = 0xa1;
	b[2] = 'k';
	b[3] = 0xdb;
	b[4] = (unsigned char)(v >> 24);
	b[5] = (unsigned char)(v >> 16);
	b[6] = (unsigned char)(v >> 8);
	b[7] = (unsigned char)v;
	memset(b + 8, 'v', v);
	return b;
}

static void
test_proposal_text(void)
{
	struct agentd_proposal p     = good_proposal();
	char                  *title = repeat('t', AGENTD_PROPOSAL_TITLE_MAX);
	char *why  = repeat('r', AGENTD_PROPOSAL_REASONING_MAX);
	char *type = repeat('y', AGENTD_TOPIC_MAX + 1);
	char  err[256];

	is_int(check(&p), 0, "proposal: a good one passes");
	is_int(check(NULL), AGENTD_EINVAL, "proposal: NULL");
	p.type = NULL;
	is_int(check(&p), AGENTD_EINVAL, "proposal: no type");
	p.type = "";
	is_int(check(&p), AGENTD_EINVAL, "proposal: an empty type");
	p.type = "price change";
	is_int(check(&p), AGENTD_EINVAL, "proposal: a type that is no topic");
	p.type = "*";
	is_int(check(&p), AGENTD_EINVAL, "proposal: \"*\" is not a type");
	p.type = type;
	is_int(
	    check(&p), AGENTD_EINVAL, "proposal: a type over the topic max");
	type[AGENTD_TOPIC_MAX] = '\0';
	is_int(check(&p), 0, "proposal: a type of AGENTD_TOPIC_MAX bytes");

	p       = good_proposal();
	p.title = NULL;
	is_int(check(&p), AGENTD_EINVAL, "proposal: no title");
	p.title = "";
	is_int(check(&p), AGENTD_EINVAL, "proposal: an empty title");
	p.title = title;
	is_int(check(&p), 0, "proposal: a title of AGENTD_PROPOSAL_TITLE_MAX");
	free(title);
	title   = repeat('t', AGENTD_PROPOSAL_TITLE_MAX + 1);
	p.title = title;
	is_int(check(&p), AGENTD_ETOOBIG, "proposal: a title one byte over");

	p           = good_proposal();
	p.reasoning = why;
	is_int(check(&p), 0,
	    "proposal: reasoning of AGENTD_PROPOSAL_REASONING_MAX");
	free(why);
	why         = repeat('r', AGENTD_PROPOSAL_REASONING_MAX + 1);
	p.reasoning = why;
	is_int(check(&p), AGENTD_ETOOBIG, "proposal: reasoning one byte over");
	p.reasoning = "";
	is_int(check(&p), 0, "proposal: empty reasoning");
	p.title = "price \033[2J cleared";
	is_int(check(&p), AGENTD_EINVAL,
	    "proposal: a title with an escape character is EINVAL");
	p.title = "two\nlines";
	is_int(check(&p), AGENTD_EINVAL, "proposal: a title of two lines");
	p.title     = "ok";
	p.reasoning = "first\n\tsecond";
	is_int(check(&p), 0, "proposal: reasoning may have newlines, tabs");
	p.reasoning = "bell\a";
	is_int(check(&p), AGENTD_EINVAL,
	    "proposal: reasoning with another control character");
	p.reasoning = "";

	/* The message: one line, what is wrong, from the start of err. */
	p.title = NULL;
	ad_proposal_check(&p, err, sizeof(err));
	like(err, "proposal: title is missing", "proposal: err says what");
	is_int(ad_proposal_check(&p, NULL, 0), AGENTD_EINVAL,
	    "proposal: err may be NULL");
	is_int(ad_proposal_check(&p, err, 4), AGENTD_EINVAL,
	    "proposal: a short err is cut, not overrun");
	is_int((int)strlen(err), 3, "proposal: cut at its size");
	free(title);
	free(why);
	free(type);
}

static void
test_proposal_numbers(void)
{
	struct agentd_proposal p = good_proposal();

	p.amount = 1e15;
	is_int(check(&p), 0, "proposal: a large amount");
	p.amount = -0.0;
	is_int(check(&p), 0, "proposal: amount -0 is 0");
	p.amount = -1e-300;
	is_int(check(&p), AGENTD_EINVAL, "proposal: a negative amount");
	p.amount = NAN;
	is_int(check(&p), AGENTD_EINVAL, "proposal: amount NaN");
	p.amount = INFINITY;
	is_int(check(&p), AGENTD_EINVAL, "proposal: amount infinite");

	p            = good_proposal();
	p.confidence = 1;
	is_int(check(&p), 0, "proposal: confidence 1");
	p.confidence = 0;
	is_int(check(&p), 0, "proposal: confidence 0");
	p.confidence = nextafter(1, 2);
	is_int(check(&p), AGENTD_EINVAL, "proposal: confidence over 1");
	p.confidence = nextafter(0, -1);
	is_int(check(&p), AGENTD_EINVAL, "proposal: confidence under 0");
	p.confidence = NAN;
	is_int(check(&p), AGENTD_EINVAL, "proposal: confidence NaN");
	p.confidence = -INFINITY;
	is_int(check(&p), AGENTD_EINVAL, "proposal: confidence infinite");
}

static void
test_proposal_params(void)
{
	struct agentd_proposal p = good_proposal();
	unsigned char         *at, *over;

	p.params     = "\x80";
	p.params_len = 1;
	is_int(check(&p), 0, "params: an empty map");
	p.params     = "\x81\xa1k\x01";
	p.params_len = 4;
	is_int(check(&p), 0, "params: a map");
	p.params     = "\xde\x00\x01\xa1k\xc0";
	p.params_len = 6;
	is_int(check(&p), 0, "params: a map 16");
	p.params     = "\xdf\x00\x00\x00\x01\xa1k\xc0";
	p.params_len = 8;
	is_int(check(&p), 0, "params: a map 32");
	p.params     = "x";
	p.params_len = 0;
	is_int(check(&p), 0, "params: length 0 is no params");
	p.params     = NULL;
	p.params_len = 3;
	is_int(check(&p), AGENTD_EINVAL, "params: NULL with a length");
	p.params     = "\x91\x01";
	p.params_len = 2;
	is_int(check(&p), AGENTD_EINVAL, "params: an array is not a map");
	p.params     = "\x01";
	p.params_len = 1;
	is_int(check(&p), AGENTD_EINVAL, "params: a number is not a map");
	p.params     = "\x80\x80";
	p.params_len = 2;
	is_int(check(&p), AGENTD_EINVAL, "params: two maps");
	p.params     = "\x81\xa1k";
	p.params_len = 3;
	is_int(check(&p), AGENTD_EINVAL, "params: a map cut short");
	p.params     = "\xdf\xff\xff\xff\xff";
	p.params_len = 5;
	is_int(
	    check(&p), AGENTD_EINVAL, "params: a count past the bytes there");

	at           = map_of_size(AGENTD_PROPOSAL_PARAMS_MAX);
	over         = map_of_size(AGENTD_PROPOSAL_PARAMS_MAX + 1);
	p.params     = at;
	p.params_len = AGENTD_PROPOSAL_PARAMS_MAX;
	is_int(check(&p), 0, "params: a map of AGENTD_PROPOSAL_PARAMS_MAX");
	p.params     = over;
	p.params_len = AGENTD_PROPOSAL_PARAMS_MAX + 1;
	is_int(check(&p), AGENTD_ETOOBIG, "params: one byte over");
	/* Over the size, and not a map either: the size is told. */
	over[0] = 0x91;
	is_int(check(&p), AGENTD_ETOOBIG, "params: the size first");
	free(at);
	free(over);
}

int
main(void)
{
	plan(42 + 19 + 11 + 14 + 4);
	test_names();
	test_keys_and_audit();
	test_reserved_kinds();
	test_settings();
	test_descriptor();
	test_proposal_text();
	test_proposal_numbers();
	test_proposal_params();
	return done_testing();
}

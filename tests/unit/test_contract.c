/*
 * test_contract.c - the rules of sdk/contract.h at their edges, and the
 * mock host answering exactly as they do: agentd calls the same functions,
 * so a rule changed in one place changes for both, and these catch it.
 */
#include "config.h"

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
	static const char *const ours[] = { "agent.reload", "instance.exit",
		"call.denied", "state.denied", "event.denied", "audit.archive",
		"agentd.start", "policy.decided", "approval.granted", "agent",
		"Agent.Reload", "INSTANCE.exit" };
	static const char *const theirs[]
	    = { "decision", "price.quoted", "agents.reload", "agentx",
		      "my.agent.reload", "stateful", "reload" };
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

int
main(void)
{
	plan(42);
	test_names();
	test_keys_and_audit();
	test_reserved_kinds();
	test_settings();
	test_descriptor();
	return done_testing();
}

/*
 * secrets - a test plugin whose settings have names that look secret and
 * names that do not, for the settings operation's mask.  It answers every
 * request with {} and uses none of them.
 */
#include <stdlib.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

static const struct agentd_setting secrets_settings[] = {
	{ "api_token", AGENTD_SETTING_STRING, "", "looks secret" },
	{ "DB_Password", AGENTD_SETTING_STRING, "", "looks secret, any case" },
	{ "signing_key_id", AGENTD_SETTING_INT, "0", "looks secret: key" },
	{ "region", AGENTD_SETTING_STRING, "eu-west", "not secret" },
	{ "retries", AGENTD_SETTING_INT, "3", "not secret" },
	{ "ratio", AGENTD_SETTING_DOUBLE, "0.25", "not secret" },
	{ "verbose", AGENTD_SETTING_BOOL, "false", "not secret" },
	{ NULL, 0, NULL, NULL },
};

struct secrets {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
};

static int
secrets_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct secrets *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return AGENTD_ENOMEM;
	s->ctx  = ctx;
	s->host = host;
	*state  = s;
	return 0;
}

static int
secrets_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct secrets *s     = state;
	const char      empty = (char)0x80; /* {} */

	(void)body;
	(void)len;
	return s->host->reply(s->ctx, req, &empty, 1);
}

static void
secrets_fini(void *state)
{
	free(state);
}

AGENTD_PLUGIN(.name = "secrets", .version = "1.0.0",
    .description = "settings that look secret, for the settings operation",
    .settings = secrets_settings, .init = secrets_init,
    .on_request = secrets_request, .fini = secrets_fini);

/*
 * writer - a test plugin that writes without pause: every tick it puts a
 * state key and appends an audit record, and only after the host said
 * both are committed does it note them in its acknowledgement file
 * (ack_dir/PID.ack, one "k-PID-N" line per acknowledged pair).  A test
 * kills the worker or agentd at any moment, then checks that everything
 * the file lists is there.
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <agentd/agent.h>

static const struct agentd_setting writer_settings[] = {
	{ "ack_dir", AGENTD_SETTING_STRING, NULL,
	    "where acknowledgements go" },
	{ "per_tick", AGENTD_SETTING_INT, "4", "writes per tick" },
	{ NULL, 0, NULL, NULL },
};

struct writer {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	int                       fd;
	int64_t                   n, per_tick;
};

static int
writer_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct writer *w   = calloc(1, sizeof(*w));
	const char    *dir = ".";
	char           path[512];

	if (w == NULL)
		return AGENTD_ENOMEM;
	w->ctx  = ctx;
	w->host = host;
	host->setting_string(ctx, "ack_dir", &dir);
	host->setting_int(ctx, "per_tick", &w->per_tick);
	snprintf(path, sizeof(path), "%s/%ld.ack", dir, (long)getpid());
	w->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		free(w);
		return AGENTD_EIO;
	}
	*state = w;
	return 0;
}

static void
writer_tick(void *state)
{
	struct writer *w = state;
	char           key[64], line[80];
	int64_t        i;
	int            len;

	for (i = 0; i < w->per_tick; i++) {
		w->n++;
		snprintf(key, sizeof(key), "k-%ld-%lld", (long)getpid(),
		    (long long)w->n);
		if (w->host->state_put(w->ctx, key, strlen(key), "\xc3", 1)
		        != 0
		    || w->host->audit(w->ctx, "stream", key, NULL, 0) != 0)
			continue;
		len = snprintf(line, sizeof(line), "%s\n", key);
		if (write(w->fd, line, (size_t)len) != len)
			abort();
	}
}

/* Any request: how many pairs this instance has had acknowledged. */
static int
writer_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct writer *w = state;
	unsigned char  n[9];
	int            i;

	n[0] = 0xcf; /* uint 64 */
	for (i = 0; i < 8; i++)
		n[1 + i] = (unsigned char)((uint64_t)w->n >> (56 - 8 * i));
	return w->host->reply(w->ctx, req, n, sizeof(n));
}

static void
writer_fini(void *state)
{
	struct writer *w = state;

	close(w->fd);
	free(w);
}

AGENTD_PLUGIN(.name = "writer", .version = "1.0.0",
    .description = "writes state and audit records without pause, for tests",
    .settings = writer_settings, .init = writer_init, .on_request = writer_request,
    .on_tick = writer_tick,
    .tick_ms = 1, .fini = writer_fini);

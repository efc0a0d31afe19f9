/*
 * writer - a test plugin that writes without pause: every tick it puts a
 * state key and appends an audit record, and only after the host said
 * both are committed does it note them in its acknowledgement file
 * (ack_dir/PID.ack, one "k-PID-N" line per acknowledged pair).  A test
 * kills the worker or agentd at any moment, then checks that everything
 * the file lists is there.  With async = true it appends audit records
 * only, per_tick of them each tick through host->audit_async, and notes
 * "a-PID-N SEQ" in ack_dir/PID.aack when the callback says committed; its
 * fini writes "pending N" to ack_dir/PID.fini, N the callbacks that never
 * ran.
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
	{ "async", AGENTD_SETTING_BOOL, "false",
	    "audit records only, with audit_async" },
	{ NULL, 0, NULL, NULL },
};

struct writer {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	int                       fd, dirfd;
	int64_t                   n, per_tick;
	int                       async;
	int64_t                   pending; /* audit_async callbacks to come */
};

/* One audit_async record: its key, to note once committed. */
struct pending_rec {
	struct writer *w;
	char           key[48];
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
	host->setting_bool(ctx, "async", &w->async);
	if (w->async && !AGENTD_HOST_HAS(host, audit_async)) {
		free(w);
		return AGENTD_ENOTSUP;
	}
	snprintf(path, sizeof(path), "%s/%ld.%s", dir, (long)getpid(),
	    w->async ? "aack" : "ack");
	w->fd    = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->fd < 0 || w->dirfd < 0) {
		if (w->fd >= 0)
			close(w->fd);
		if (w->dirfd >= 0)
			close(w->dirfd);
		free(w);
		return AGENTD_EIO;
	}
	*state = w;
	return 0;
}

static void
committed(void *arg, int status, uint64_t seq)
{
	struct pending_rec *p = arg;
	char                line[80];
	int                 len;

	p->w->pending--;
	if (status != 0)
		p->w->host->log(p->w->ctx, AGENTD_LOG_WARN,
		    "writer: %s not committed: %s", p->key,
		    agentd_strerror(status));
	if (status == 0) {
		len = snprintf(line, sizeof(line), "%s %llu\n", p->key,
		    (unsigned long long)seq);
		if (write(p->w->fd, line, (size_t)len) != len)
			abort();
	}
	free(p);
}

static void
async_tick(struct writer *w)
{
	struct pending_rec *p;
	int64_t             i;

	for (i = 0; i < w->per_tick; i++) {
		if ((p = malloc(sizeof(*p))) == NULL)
			return;
		p->w = w;
		w->n++;
		snprintf(p->key, sizeof(p->key), "a-%ld-%lld", (long)getpid(),
		    (long long)w->n);
		if (w->host->audit_async(
		        w->ctx, "astream", p->key, NULL, 0, committed, p)
		    != 0)
			free(p);
		else
			w->pending++;
	}
}

static void
writer_tick(void *state)
{
	struct writer *w = state;
	char           key[64], line[80];
	int64_t        i;
	int            len;

	if (w->async) {
		async_tick(w);
		return;
	}
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
	char           path[64], line[64];
	int            fd, len;

	/* async: how many callbacks never ran, for the test to check (the
	 * host runs every one before fini, agentd reachable or not). */
	if (w->async) {
		snprintf(path, sizeof(path), "%ld.fini", (long)getpid());
		len = snprintf(line, sizeof(line), "pending %lld\n",
		    (long long)w->pending);
		fd  = openat(w->dirfd, path,
		     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			if (write(fd, line, (size_t)len) != len)
				abort();
			close(fd);
		}
	}
	close(w->dirfd);
	close(w->fd);
	free(w);
}

AGENTD_PLUGIN(.name = "writer", .version = "1.0.0",
    .description = "writes state and audit records without pause, for tests",
    .settings = writer_settings, .init = writer_init,
    .on_request = writer_request, .on_tick = writer_tick, .tick_ms = 1,
    .fini = writer_fini);

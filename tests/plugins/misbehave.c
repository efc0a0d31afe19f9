/*
 * misbehave - a test plugin that fails in the ways a test asks for, chosen
 * through its settings so one .so covers every case:
 *   init_sleep_ms = N      sleep N ms in init (a slow start)
 *   init_fail = true       refuse to start (init returns AGENTD_EINVAL)
 *   init_crash = true      abort() in init
 *   crash_on = N           abort() in the Nth request of this instance
 *   hang_on = N            never answer the Nth request (sleeps forever)
 *   exit_on = N            exit(0) in the Nth request, cleanly
 *   leak_kb = N            keep N KiB more for every request
 *   sleep_ms = N           take N ms over every request (a slow agent)
 *   ignore_on = N          never answer the Nth request, but go on
 *                          serving the others (a request held forever)
 *   flood = batch|heartbeat  in every request, write malformed event
 *                          batches, or heartbeats with a malformed body,
 *                          straight onto the worker's own connection to
 *                          agentd's publish socket (a plugin may open no
 *                          socket of its own), as fast as it can for
 *                          flood_ms ms; the reply gains "sent": how many
 * Otherwise it answers every request with {"n": N, "pid": PID}.  Its
 * fini logs "misbehave fini: N requests" (warning level), so a test can
 * tell a graceful stop from a kill.  With MISBEHAVE_HOLD_LOAD=FILE in the
 * environment, loading it (dlopen, describe included) waits while FILE
 * exists, at most 30 s: a plugin that blocks while it loads.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "bus/envelope.h"
#include "own_conn.h"

static const struct agentd_setting misbehave_settings[] = {
	{ "init_sleep_ms", AGENTD_SETTING_INT, "0", "sleep in init" },
	{ "init_fail", AGENTD_SETTING_BOOL, "false", "refuse to start" },
	{ "init_crash", AGENTD_SETTING_BOOL, "false", "abort in init" },
	{ "crash_on", AGENTD_SETTING_INT, "0", "abort in the Nth request" },
	{ "hang_on", AGENTD_SETTING_INT, "0", "hang in the Nth request" },
	{ "exit_on", AGENTD_SETTING_INT, "0", "exit(0) in the Nth request" },
	{ "leak_kb", AGENTD_SETTING_INT, "0", "KiB kept per request" },
	{ "sleep_ms", AGENTD_SETTING_INT, "0", "ms taken per request" },
	{ "ignore_on", AGENTD_SETTING_INT, "0", "never answer the Nth" },
	{ "flood", AGENTD_SETTING_STRING, "", "batch or heartbeat" },
	{ "flood_ms", AGENTD_SETTING_INT, "1000", "how long to flood" },
	{ "run_dir", AGENTD_SETTING_STRING, "", "agentd's run directory" },
	{ NULL, 0, NULL, NULL },
};

struct misbehave {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	int64_t                   n;
	int64_t                   crash_on, hang_on, exit_on, leak_kb;
	int64_t                   sleep_ms, ignore_on, flood_ms;
	const char               *flood, *run_dir;
	void                    **leaks;
	size_t                    nleaks;
};

static void
sleep_ms(int64_t ms)
{
	struct timespec ts
	    = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0)
		;
}

__attribute__((constructor)) static void
hold_load(void)
{
	const char *hold = getenv("MISBEHAVE_HOLD_LOAD");
	int         i;

	for (i = 0; hold != NULL && i < 1500 && access(hold, F_OK) == 0; i++)
		sleep_ms(20);
}

static int
misbehave_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct misbehave *m;
	int64_t           ms   = 0;
	int               fail = 0, crash = 0;

	host->setting_int(ctx, "init_sleep_ms", &ms);
	host->setting_bool(ctx, "init_fail", &fail);
	host->setting_bool(ctx, "init_crash", &crash);
	if (ms > 0)
		sleep_ms(ms);
	if (crash)
		abort();
	if (fail)
		return AGENTD_EINVAL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return AGENTD_ENOMEM;
	m->ctx  = ctx;
	m->host = host;
	host->setting_int(ctx, "crash_on", &m->crash_on);
	host->setting_int(ctx, "hang_on", &m->hang_on);
	host->setting_int(ctx, "exit_on", &m->exit_on);
	host->setting_int(ctx, "leak_kb", &m->leak_kb);
	host->setting_int(ctx, "sleep_ms", &m->sleep_ms);
	host->setting_int(ctx, "ignore_on", &m->ignore_on);
	host->setting_string(ctx, "flood", &m->flood);
	host->setting_int(ctx, "flood_ms", &m->flood_ms);
	host->setting_string(ctx, "run_dir", &m->run_dir);
	*state = m;
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A heartbeat whose body is no msgpack value (0xc1 is never used). */
static int
bad_heartbeat(agentd_writer *w)
{
	struct ad_envelope e;

	memset(&e, 0, sizeof(e));
	e.id   = ad_envelope_next_id();
	e.kind = AD_KIND_CONTROL;
	snprintf(e.dst, sizeof(e.dst), "heartbeat");
	e.body     = "\xc1";
	e.body_len = 1;
	return ad_envelope_encode(&e, w);
}

/* Write all of buf to fd (non-blocking: nng's), waiting for room. */
static int
write_all(int fd, const unsigned char *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	ssize_t       n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		else if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

/*
 * How many malformed messages went to agentd's publish socket: bytes that
 * are no envelope (batch), or bad heartbeats; each written as nng's IPC
 * transport frames a PUSH message (type 1, 64-bit big-endian length, the
 * message) in one write onto the worker's own connection, as memory
 * corruption in the worker could make it send.
 */
static int64_t
flood(struct misbehave *m)
{
	agentd_writer *w;
	unsigned char  frame[512];
	const void    *p    = "\xc1\xc1\xc1";
	size_t         len  = 3, i;
	int64_t        sent = 0, end = now_ms() + m->flood_ms;
	int            fd = own_connection("/publish.sock");

	if (fd < 0 || agentd_writer_new(&w) != 0)
		return -1;
	if (strcmp(m->flood, "heartbeat") == 0) {
		if (bad_heartbeat(w) != 0) {
			agentd_writer_free(w);
			return -1;
		}
		p = agentd_writer_data(w, &len);
	}
	if (len + 9 > sizeof(frame)) {
		agentd_writer_free(w);
		return -1;
	}
	frame[0] = 1;
	for (i = 0; i < 8; i++)
		frame[1 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	memcpy(frame + 9, p, len);
	while (now_ms() < end && write_all(fd, frame, len + 9) == 0)
		sent++;
	agentd_writer_free(w);
	return sent;
}

static int
misbehave_request(
    void *state, agentd_request *req, const void *body, size_t len)
{
	struct misbehave *m = state;
	agentd_writer    *w;
	const void       *out;
	size_t            outlen;
	void            **grown;
	int64_t           sent = -1;
	int               rv;

	m->n++;
	if (m->flood != NULL && m->flood[0] != '\0')
		sent = flood(m);
	if (m->crash_on > 0 && m->n == m->crash_on)
		abort();
	if (m->exit_on > 0 && m->n == m->exit_on)
		exit(0);
	if (m->hang_on > 0 && m->n == m->hang_on)
		for (;;)
			sleep_ms(1000);
	if (m->ignore_on > 0 && m->n == m->ignore_on)
		return 0; /* deferred, and never answered */
	if (m->sleep_ms > 0)
		sleep_ms(m->sleep_ms);
	if (m->leak_kb > 0) {
		grown = realloc(m->leaks, (m->nleaks + 1) * sizeof(*grown));
		if (grown == NULL)
			return AGENTD_ENOMEM;
		m->leaks = grown;
		if ((grown[m->nleaks] = malloc((size_t)m->leak_kb * 1024))
		    == NULL)
			return AGENTD_ENOMEM;
		/* Touch it, so it counts in the resident set. */
		memset(grown[m->nleaks++], 1, (size_t)m->leak_kb * 1024);
	}
	if ((rv = agentd_writer_new(&w)) != 0)
		return rv;
	agentd_write_map(w, sent >= 0 ? 3 : 2);
	agentd_write_str(w, "n");
	agentd_write_int(w, m->n);
	agentd_write_str(w, "pid");
	agentd_write_int(w, (int64_t)getpid());
	if (sent >= 0) {
		agentd_write_str(w, "sent");
		agentd_write_int(w, sent);
	}
	out = agentd_writer_data(w, &outlen);
	rv  = m->host->reply(m->ctx, req, out, outlen);
	agentd_writer_free(w);
	return rv;
}

static void
misbehave_fini(void *state)
{
	struct misbehave *m = state;
	size_t            i;

	m->host->log(m->ctx, AGENTD_LOG_WARN, "misbehave fini: %lld requests",
	    (long long)m->n);
	for (i = 0; i < m->nleaks; i++)
		free(m->leaks[i]);
	free(m->leaks);
	free(m);
}

AGENTD_PLUGIN(.name = "misbehave", .version = "1.0.0",
    .description = "fails on demand, for tests",
    .settings = misbehave_settings, .init = misbehave_init,
    .on_request = misbehave_request, .fini = misbehave_fini);

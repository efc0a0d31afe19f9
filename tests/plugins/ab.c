/*
 * ab - counts with host->count() (ABI 1.4) on each request, for
 * tests/system/counters.sh.  One source built as two versions
 * (tests/counters.am: -DAB_VERSION='"1.0"' and '"2.0"'), so a canary can
 * compare them.
 *
 * init counts "visits" and "conversions" by 0 (both show at 0 at once)
 * and fini counts "stopped" by 1.  A request's body decides:
 *   "buy"                      visits + 1, conversions + 1
 *   any other string, or none  visits + 1
 *   {"count": NAME, "by": N}   NAME + N (N default 1), as given: a bad
 *                              name or a negative N gets its error
 *   {"names": N}               n0, n1 ... n(N-1) by 0, until one fails
 *   {"forge": "other" | "bad"} past host->count(): a "counters" envelope
 *                              written straight onto the worker's own
 *                              connection to its instance socket, as a
 *                              hostile plugin could: "other" claims to
 *                              be agent "other", instance "other-1", and
 *                              counts visits by 1000; "bad" counts a name
 *                              agentd must refuse ("Bad-Name"), once per
 *                              agent: it first puts state key
 *                              "forged_bad", and with that key there the
 *                              request is answered EEXIST instead (so
 *                              the request, sent again to another
 *                              instance once agentd stopped this one,
 *                              does not stop that one too)
 * and the reply is {"version": V, "pid": PID, "count": ERRNAME, "at": I}:
 * ERRNAME is agentd_errname() of the first count that failed ("OK" if
 * none did), I the index of that name among {"names": N}'s (-1 if none).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "own_conn.h"

#ifndef AB_VERSION
#error "build with -DAB_VERSION='\"1.0\"'"
#endif

struct ab {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	agentd_writer            *out;
};

static int
ab_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct ab *t;

	if (!AGENTD_HOST_HAS(host, count)) {
		host->log(ctx, AGENTD_LOG_ERROR, "ab: no host->count");
		return AGENTD_ENOTSUP;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return AGENTD_ENOMEM;
	if (agentd_writer_new(&t->out) != 0) {
		free(t);
		return AGENTD_ENOMEM;
	}
	t->ctx  = ctx;
	t->host = host;
	host->count(ctx, "visits", 0);
	host->count(ctx, "conversions", 0);
	*state = t;
	return 0;
}

/* {"count": NAME, "by": N}: the name copied (a NUL inside is refused by
 * the copy, and then counted as the empty name, which is EINVAL too). */
static int
count_given(struct ab *t, const agentd_value *root)
{
	char    name[128] = "";
	int64_t by        = 1;

	agentd_get_strcpy(agentd_map_get(root, "count"), name, sizeof(name));
	if (agentd_map_get(root, "by") != NULL
	    && agentd_get_int(agentd_map_get(root, "by"), &by) != 0)
		return AGENTD_EINVAL;
	return t->host->count(t->ctx, name, by);
}

static int
count_names(struct ab *t, int64_t n, int64_t *at)
{
	char name[32];
	int  rv;

	for (*at = 0; *at < n; (*at)++) {
		snprintf(name, sizeof(name), "n%lld", (long long)*at);
		if ((rv = t->host->count(t->ctx, name, 0)) != 0)
			return rv;
	}
	*at = -1;
	return 0;
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
 * One envelope (doc/protocol.md) of kind control, "counters", framed as
 * nng's IPC transport frames a PAIR message (type 1, 64-bit big-endian
 * length, the message) and written in one go onto the worker's own
 * connection to RUN/INSTANCE.sock.  Between callbacks the worker sends
 * nothing there, so the frame does not interleave with one of its own.
 */
static int
forge(struct ab *t, const char *how)
{
	agentd_writer *body, *env;
	unsigned char  frame[512];
	char           tail[96];
	const void    *p;
	size_t         len, i;
	int            fd, rv = AGENTD_EIO;

	if (strcmp(how, "bad") == 0) {
		void  *val;
		size_t vlen;

		if (t->host->state_get(t->ctx, "forged_bad", 10, &val, &vlen)
		    == 0) {
			t->host->free(val);
			return AGENTD_EEXIST;
		}
		if ((rv = t->host->state_put(
		         t->ctx, "forged_bad", 10, "\xc3", 1))
		    != 0)
			return rv;
		rv = AGENTD_EIO;
	}
	snprintf(tail, sizeof(tail), "/%s.sock", t->host->instance_id(t->ctx));
	if ((fd = own_connection(tail)) < 0)
		return AGENTD_ENOENT;
	agentd_writer_new(&body);
	agentd_writer_new(&env);
	agentd_write_map(body, 1);
	agentd_write_str(
	    body, strcmp(how, "bad") == 0 ? "Bad-Name" : "visits");
	agentd_write_int(body, 1000);
	p = agentd_writer_data(body, &len);
	agentd_write_map(env, 7);
	agentd_write_str(env, "v");
	agentd_write_uint(env, 1);
	agentd_write_str(env, "id");
	agentd_write_uint(env, 4242);
	agentd_write_str(env, "k");
	agentd_write_uint(env, 4);
	agentd_write_str(env, "dst");
	agentd_write_str(env, "counters");
	agentd_write_str(env, "b");
	agentd_write_bin(env, p, len);
	agentd_write_str(env, "src");
	agentd_write_str(env, "other");
	agentd_write_str(env, "si");
	agentd_write_str(env, "other-1");
	p = agentd_writer_data(env, &len);
	if (len + 9 <= sizeof(frame)) {
		frame[0] = 1;
		for (i = 0; i < 8; i++)
			frame[1 + i]
			    = (unsigned char)((uint64_t)len >> (56 - 8 * i));
		memcpy(frame + 9, p, len);
		rv = write_all(fd, frame, len + 9) == 0 ? 0 : AGENTD_EIO;
	}
	agentd_writer_free(body);
	agentd_writer_free(env);
	return rv;
}

static int
ab_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct ab          *t   = state;
	agentd_doc         *doc = NULL;
	const agentd_value *root;
	const char         *s    = NULL;
	size_t              slen = 0;
	int64_t             n, at = -1;
	const void         *out;
	size_t              outlen;
	char                how[16] = "";
	int                 rv      = 0;

	if (len > 0 && agentd_parse(body, len, &doc) != 0)
		return AGENTD_EPROTO;
	root = agentd_doc_root(doc);
	if (agentd_get_strcpy(agentd_map_get(root, "forge"), how, sizeof(how))
	    == 0)
		rv = forge(t, how);
	else if (agentd_map_get(root, "count") != NULL)
		rv = count_given(t, root);
	else if (agentd_get_int(agentd_map_get(root, "names"), &n) == 0)
		rv = count_names(t, n, &at);
	else {
		agentd_get_str(root, &s, &slen);
		rv = t->host->count(t->ctx, "visits", 1);
		if (rv == 0 && s != NULL && slen == 3
		    && memcmp(s, "buy", 3) == 0)
			rv = t->host->count(t->ctx, "conversions", 1);
	}
	agentd_doc_free(doc);
	agentd_writer_reset(t->out);
	agentd_write_map(t->out, 4);
	agentd_write_str(t->out, "version");
	agentd_write_str(t->out, AB_VERSION);
	agentd_write_str(t->out, "pid");
	agentd_write_int(t->out, (int64_t)getpid());
	agentd_write_str(t->out, "count");
	agentd_write_str(t->out, agentd_errname(rv));
	agentd_write_str(t->out, "at");
	agentd_write_int(t->out, at);
	out = agentd_writer_data(t->out, &outlen);
	return t->host->reply(t->ctx, req, out, outlen);
}

static void
ab_fini(void *state)
{
	struct ab *t = state;

	/* Sent after fini returns: agentd still reads a stopping worker. */
	t->host->count(t->ctx, "stopped", 1);
	agentd_writer_free(t->out);
	free(t);
}

AGENTD_PLUGIN(.name = "ab", .version = AB_VERSION,
    .description = "counts visits and conversions, for counters.sh",
    .init = ab_init, .on_request = ab_request, .fini = ab_fini);

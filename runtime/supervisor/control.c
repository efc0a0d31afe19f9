#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "common/log.h"
#include "common/nngx.h"
#include "common/util.h"
#include "supervisor/control.h"
#include "supervisor/dispatch.h"
#include "supervisor/instance.h"

enum ctl_state {
	CTL_RECV = 0, /* waiting for a client's message */
	CTL_WAIT,     /* a dispatched request is under way */
	CTL_SEND,     /* answering */
};

struct ad_ctl {
	struct ad_sv      *sv;
	nng_ctx            ctx;
	nng_aio           *aio;
	enum ctl_state     state;
	struct ad_envelope req; /* what is being answered (body unused) */
};

/* Answer the current message; mtx held. */
static void
ctl_send(struct ad_ctl *c, int status, const void *body, size_t len)
{
	nng_msg *msg;

	if (ad_reply_msg(&c->req, status, body, len, &msg) != 0) {
		c->state = CTL_RECV;
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	c->state = CTL_SEND;
	nng_aio_set_msg(c->aio, msg);
	nng_ctx_send(c->ctx, c->aio);
}

/* Answer with an error code and one line for the operator. */
static void ctl_fail(struct ad_ctl *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
ctl_fail(struct ad_ctl *c, int status, const char *fmt, ...)
{
	agentd_writer *w;
	const void    *body;
	size_t         len;
	char           line[AD_ERRLEN];
	va_list        ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "error");
	agentd_write_str(w, line);
	body = agentd_writer_data(w, &len);
	ctl_send(c, status, body, len);
	agentd_writer_free(w);
}

static void
write_instance(agentd_writer *w, const struct ad_instance *i)
{
	agentd_write_map(w, 6);
	agentd_write_str(w, "id");
	agentd_write_str(w, i->id);
	agentd_write_str(w, "pid");
	agentd_write_int(w, i->pid);
	agentd_write_str(w, "state");
	agentd_write_str(w, ad_inst_state_name(i->state));
	agentd_write_str(w, "started_ms");
	agentd_write_int(w, i->started_ms);
	agentd_write_str(w, "inflight");
	agentd_write_uint(w, i->inflight);
	agentd_write_str(w, "served");
	agentd_write_uint(w, i->served);
}

static void
write_agent(agentd_writer *w, const struct ad_agent *a)
{
	const struct ad_instance *i;
	uint32_t                  n = 0;

	LIST_FOREACH(i, &a->instances, link)
	n++;
	agentd_write_map(w, 10);
	agentd_write_str(w, "name");
	agentd_write_str(w, a->conf->name);
	agentd_write_str(w, "plugin");
	agentd_write_str(w, a->conf->plugin_path);
	agentd_write_str(w, "version");
	agentd_write_str(w, a->version);
	agentd_write_str(w, "hash");
	agentd_write_str(w, a->hash);
	agentd_write_str(w, "ready");
	agentd_write_uint(w, ad_agent_count(a, AD_INST_READY));
	agentd_write_str(w, "queued");
	agentd_write_uint(w, a->nqueued);
	agentd_write_str(w, "requests");
	agentd_write_uint(w, a->requests);
	agentd_write_str(w, "errors");
	agentd_write_uint(w, a->replies_error);
	agentd_write_str(w, "restarts");
	agentd_write_uint(w, a->restarts);
	agentd_write_str(w, "instances");
	agentd_write_array(w, n);
	LIST_FOREACH(i, &a->instances, link)
	write_instance(w, i);
}

static void
ctl_status(struct ad_ctl *c)
{
	struct ad_sv  *sv = c->sv;
	agentd_writer *w;
	const void    *body;
	size_t         i, len;

	agentd_writer_new(&w);
	agentd_write_map(w, 4);
	agentd_write_str(w, "pid");
	agentd_write_int(w, getpid());
	agentd_write_str(w, "version");
	agentd_write_str(w, PACKAGE_VERSION);
	agentd_write_str(w, "started_ms");
	agentd_write_int(w, sv->started_ms);
	agentd_write_str(w, "agents");
	agentd_write_array(w, (uint32_t)sv->nagents);
	for (i = 0; i < sv->nagents; i++)
		write_agent(w, &sv->agents[i]);
	body = agentd_writer_data(w, &len);
	ctl_send(c, 0, body, len);
	agentd_writer_free(w);
}

/* A dispatched request finished; mtx held. */
static void
ctl_call_done(void *arg, int status, const void *body, size_t len)
{
	struct ad_ctl *c = arg;

	if (status != 0 && body == NULL)
		ctl_fail(c, status, "%s", agentd_strerror(status));
	else
		ctl_send(c, status, body, len);
}

static void
ctl_call(struct ad_ctl *c, const struct ad_envelope *in)
{
	struct ad_envelope e = *in;
	nng_msg           *msg;
	int64_t            deadline = 0;
	int                rv;

	/* The caller's identity comes from the socket it used, not from
	 * what it wrote. */
	snprintf(e.src, sizeof(e.src), "agentctl");
	e.src_instance[0] = '\0';
	e.id              = ad_envelope_next_id();
	if (in->deadline_ms > 0)
		deadline = ad_now_ms() + (in->deadline_ms - ad_wall_ms());
	if ((rv = ad_envelope_to_msg(&e, &msg)) != 0) {
		ctl_fail(c, rv, "%s", agentd_strerror(rv));
		return;
	}
	c->state = CTL_WAIT;
	rv = ad_dispatch(c->sv, in->dst, msg, deadline, ctl_call_done, c);
	if (rv == 0)
		return;
	nng_msg_free(msg);
	if (rv == AGENTD_ENOENT)
		ctl_fail(c, rv,
		    "no agent named \"%s\": `agentctl status` lists them",
		    in->dst);
	else
		ctl_fail(
		    c, rv, "agent \"%s\": %s", in->dst, agentd_strerror(rv));
}

static void
ctl_handle(struct ad_ctl *c, nng_msg *msg)
{
	struct ad_envelope e;
	size_t             max = c->sv->cfg->global.max_message_size;
	int                rv;

	rv = ad_envelope_decode(nng_msg_body(msg), nng_msg_len(msg), max, &e);
	if (rv != 0) {
		memset(&c->req, 0, sizeof(c->req));
		ctl_fail(c, rv, "malformed control message");
	} else {
		c->req          = e;
		c->req.body     = NULL;
		c->req.body_len = 0;
		if (e.kind == AD_KIND_REQUEST)
			ctl_call(c, &e);
		else if (e.kind == AD_KIND_CONTROL
		    && strcmp(e.dst, "status") == 0)
			ctl_status(c);
		else
			ctl_fail(c, AGENTD_EINVAL,
			    "unknown operation \"%s\": this agentd is %s",
			    e.dst, PACKAGE_VERSION);
	}
	nng_msg_free(msg);
}

static void
ctl_cb(void *arg)
{
	struct ad_ctl *c  = arg;
	int            rv = nng_aio_result(c->aio);

	pthread_mutex_lock(&c->sv->mtx);
	switch (c->state) {
	case CTL_RECV:
		if (rv == 0) {
			ctl_handle(c, nng_aio_get_msg(c->aio));
		} else if (rv != NNG_ECLOSED) {
			nng_ctx_recv(c->ctx, c->aio);
		}
		break;
	case CTL_SEND:
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(c->aio));
		c->state = CTL_RECV;
		if (rv != NNG_ECLOSED)
			nng_ctx_recv(c->ctx, c->aio);
		break;
	case CTL_WAIT:
		break;
	}
	pthread_mutex_unlock(&c->sv->mtx);
}

int
ad_control_start(struct ad_sv *sv, char *err, size_t errlen)
{
	char  *path = ad_xasprintf("%s/%s", sv->run_dir, AD_CTL_SOCKET);
	size_t i;
	int    rv;

	if ((rv = nng_rep0_open(&sv->ctl)) != 0
	    || (rv = nng_socket_set_size(sv->ctl, NNG_OPT_RECVMAXSZ,
	            sv->cfg->global.max_message_size))
	        != 0) {
		free(path);
		ad_seterr(err, errlen, "cannot open the control socket: %s",
		    nng_strerror(rv));
		return ad_nng_error(rv);
	}
	rv = ad_nng_listen_ipc(sv->ctl, path, 0600, err, errlen);
	free(path);
	if (rv != 0)
		return rv;
	sv->nctls = AD_CTL_CONTEXTS;
	sv->ctls  = ad_xcalloc(sv->nctls, sizeof(*sv->ctls));
	for (i = 0; i < sv->nctls; i++) {
		struct ad_ctl *c = &sv->ctls[i];

		c->sv = sv;
		if ((rv = nng_ctx_open(&c->ctx, sv->ctl)) != 0
		    || (rv = nng_aio_alloc(&c->aio, ctl_cb, c)) != 0) {
			ad_seterr(err, errlen, "control socket: %s",
			    nng_strerror(rv));
			return ad_nng_error(rv);
		}
		nng_ctx_recv(c->ctx, c->aio);
	}
	return 0;
}

void
ad_control_stop(struct ad_sv *sv)
{
	char  *path;
	size_t i;

	if (sv->ctls == NULL)
		return;
	nng_close(sv->ctl);
	for (i = 0; i < sv->nctls; i++)
		nng_aio_free(sv->ctls[i].aio);
	free(sv->ctls);
	sv->ctls = NULL;
	path     = ad_xasprintf("%s/%s", sv->run_dir, AD_CTL_SOCKET);
	unlink(path);
	free(path);
}

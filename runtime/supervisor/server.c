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
#include "supervisor/server.h"
#include "supervisor/supervisor.h"

void
ad_srv_reply(struct ad_srvctx *c, int status, const void *body, size_t len)
{
	nng_msg *msg;

	if (c->answer != NULL) {
		c->answer(c, status, body, len);
		return;
	}
	if (c->srv->closing) { /* ad_server_stop: no answer goes now */
		c->state = AD_SRV_RECV;
		return;
	}
	if (ad_reply_msg(&c->req, status, body, len, &msg) != 0) {
		c->state = AD_SRV_RECV;
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	c->state = AD_SRV_SEND;
	nng_aio_set_msg(c->aio, msg);
	nng_ctx_send(c->ctx, c->aio);
}

void
ad_srv_fail(struct ad_srvctx *c, int status, const char *fmt, ...)
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
	ad_srv_reply(c, status, body, len);
	agentd_writer_free(w);
}

void
ad_srv_done(void *arg, int status, const void *body, size_t len)
{
	struct ad_srvctx *c = arg;

	if (status != 0 && body == NULL)
		ad_srv_fail(c, status, "%s", agentd_strerror(status));
	else
		ad_srv_reply(c, status, body, len);
}

static void
srv_received(struct ad_srvctx *c, nng_msg *msg)
{
	struct ad_envelope e;
	size_t             max = c->srv->sv->cfg->global.max_message_size;
	int                rv;

	c->pipe = nng_msg_get_pipe(msg);
	rv = ad_envelope_decode(nng_msg_body(msg), nng_msg_len(msg), max, &e);
	if (rv == AGENTD_ETOOBIG) {
		memset(&c->req, 0, sizeof(c->req));
		ad_srv_fail(c, rv,
		    "a message of %zu bytes is over max_message_size (%zu): "
		    "send less, or raise agentd { max_message_size }",
		    nng_msg_len(msg), max);
	} else if (rv != 0) {
		memset(&c->req, 0, sizeof(c->req));
		ad_srv_fail(
		    c, rv, "malformed message: %s", agentd_strerror(rv));
	} else {
		c->req          = e;
		c->req.body     = NULL;
		c->req.body_len = 0;
		c->srv->handle(c, &e);
	}
	nng_msg_free(msg);
}

static void
srv_cb(void *arg)
{
	struct ad_srvctx *c  = arg;
	struct ad_sv     *sv = c->srv->sv;
	int               rv = nng_aio_result(c->aio);

	pthread_mutex_lock(&sv->mtx);
	if (c->srv->closing) {
		/* Stopping (ad_server_stop): free what came, start nothing. */
		if ((rv != 0 && c->state == AD_SRV_SEND)
		    || (rv == 0 && c->state == AD_SRV_RECV))
			nng_msg_free(nng_aio_get_msg(c->aio));
		if (c->state == AD_SRV_SEND)
			c->state = AD_SRV_RECV;
		pthread_mutex_unlock(&sv->mtx);
		return;
	}
	switch (c->state) {
	case AD_SRV_RECV:
		if (rv == 0)
			srv_received(c, nng_aio_get_msg(c->aio));
		else if (rv != NNG_ECLOSED)
			nng_ctx_recv(c->ctx, c->aio);
		break;
	case AD_SRV_SEND:
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(c->aio));
		c->state = AD_SRV_RECV;
		if (rv != NNG_ECLOSED)
			nng_ctx_recv(c->ctx, c->aio);
		break;
	case AD_SRV_WAIT:
		break;
	}
	pthread_mutex_unlock(&sv->mtx);
}

int
ad_server_start(struct ad_server *s, struct ad_sv *sv, const char *path,
    size_t nctx, ad_srv_handler handle, nng_pipe_cb on_pipe, char *err,
    size_t errlen)
{
	size_t i;
	int    rv;

	memset(s, 0, sizeof(*s));
	s->sv     = sv;
	s->handle = handle;
	s->path   = ad_xstrdup(path);
	if ((rv = nng_rep0_open(&s->sock)) != 0
	    || (rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ,
	            ad_transport_cap(sv->cfg->global.max_message_size)))
	        != 0
	    || (on_pipe != NULL
	        && ((rv = nng_pipe_notify(
	                 s->sock, NNG_PIPE_EV_ADD_PRE, on_pipe, sv))
	                != 0
	            || (rv = nng_pipe_notify(
	                    s->sock, NNG_PIPE_EV_REM_POST, on_pipe, sv))
	                != 0))) {
		ad_seterr(
		    err, errlen, "cannot open %s: %s", path, nng_strerror(rv));
		return ad_nng_error(rv);
	}
	if ((rv = ad_nng_listen_ipc(s->sock, path, 0600, err, errlen)) != 0)
		return rv;
	s->nctxs = nctx;
	s->ctxs  = ad_xcalloc(nctx, sizeof(*s->ctxs));
	for (i = 0; i < nctx; i++) {
		struct ad_srvctx *c = &s->ctxs[i];

		c->srv = s;
		if ((rv = nng_ctx_open(&c->ctx, s->sock)) != 0
		    || (rv = nng_aio_alloc(&c->aio, srv_cb, c)) != 0) {
			ad_seterr(
			    err, errlen, "%s: %s", path, nng_strerror(rv));
			return ad_nng_error(rv);
		}
		nng_ctx_recv(c->ctx, c->aio);
	}
	return 0;
}

void
ad_server_stop(struct ad_server *s)
{
	size_t i;

	if (s->path == NULL)
		return;
	pthread_mutex_lock(&s->sv->mtx);
	s->closing = 1;
	pthread_mutex_unlock(&s->sv->mtx);
	for (i = 0; i < s->nctxs; i++)
		nng_aio_stop(s->ctxs[i].aio); /* NULL: nothing */
	nng_close(s->sock);
	for (i = 0; i < s->nctxs; i++)
		nng_aio_free(s->ctxs[i].aio);
	free(s->ctxs);
	unlink(s->path);
	free(s->path);
	memset(s, 0, sizeof(*s));
}

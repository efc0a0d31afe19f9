/*
 * server.h - a REP socket answering many clients at once.
 *
 * One nng context per concurrent request, each running the same small
 * state machine: receive, handle (perhaps waiting for a dispatched
 * request), send, receive again.  The control socket (agentctl) and the
 * calls socket (instances calling other agents) are both servers; only
 * their handlers differ.
 *
 * This file owns struct ad_server and its contexts: the socket, the
 * receive-handle-send cycle; never what a message means.
 */
#ifndef AD_SERVER_H
#define AD_SERVER_H

#include <nng/nng.h>

#include "bus/envelope.h"

struct ad_sv;
struct ad_server;

enum ad_srv_state {
	AD_SRV_RECV = 0, /* waiting for a client's message */
	AD_SRV_WAIT,     /* a dispatched request is under way */
	AD_SRV_SEND,     /* answering */
};

/* Who asks, as named in logs and the audit trail. */
#define AD_WHO_MAX 80

struct ad_srvctx {
	struct ad_server  *srv;
	nng_ctx            ctx;
	nng_aio           *aio;
	enum ad_srv_state  state;
	struct ad_envelope req;  /* what is being answered (body unset) */
	nng_pipe           pipe; /* the connection it came on */
	/*
	 * A context of another transport (http.c) sets answer: ad_srv_reply
	 * hands it the answer (sv->mtx held) instead of sending it on nng,
	 * and who names the person asking ("http (NAME)").  On control.sock
	 * who is "" and the peer's user names them.
	 */
	void (*answer)(
	    struct ad_srvctx *c, int status, const void *body, size_t len);
	char who[AD_WHO_MAX];
};

/*
 * Handle one received envelope (sv->mtx held).  The handler must end in
 * ad_srv_reply()/ad_srv_fail() now, or set AD_SRV_WAIT and reply later
 * (ad_srv_done is a ready-made ad_req_done_fn for that).
 */
typedef void (*ad_srv_handler)(
    struct ad_srvctx *c, const struct ad_envelope *e);

struct ad_server {
	struct ad_sv     *sv;
	nng_socket        sock;
	struct ad_srvctx *ctxs;
	size_t            nctxs;
	ad_srv_handler    handle;
	char             *path;
	int               closing; /* ad_server_stop began: nothing starts */
};

/*
 * Listen on path (mode 0600) with nctx contexts.  on_pipe, if not NULL, is
 * called (arg: sv) for every new connection before it is accepted
 * (NNG_PIPE_EV_ADD_PRE) and when it goes (NNG_PIPE_EV_REM_POST).
 */
int ad_server_start(struct ad_server *s, struct ad_sv *sv, const char *path,
    size_t nctx, ad_srv_handler handle, nng_pipe_cb on_pipe, char *err,
    size_t errlen);
/* Close the socket and wait for every context; without sv->mtx.  As
 * ad_chan_close: no context starts an operation once it begins, and the
 * contexts' aios are stopped before the socket closes. */
void ad_server_stop(struct ad_server *s);

/* Answer the current message (sv->mtx held). */
void ad_srv_reply(
    struct ad_srvctx *c, int status, const void *body, size_t len);
/* Answer with a code and one line {"error": "..."} (sv->mtx held). */
void ad_srv_fail(struct ad_srvctx *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An ad_req_done_fn whose arg is the ad_srvctx waiting for it. */
void ad_srv_done(void *arg, int status, const void *body, size_t len);

#endif

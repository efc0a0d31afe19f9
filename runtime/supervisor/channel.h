/*
 * channel.h - an instance's channel: one PAIR socket carrying batches of
 * envelopes both ways.
 *
 * agentd listens at the instance's socket file; its worker connects.
 * What agentd sends waits in the channel's queue while one message is on
 * its way, and envelopes queued meanwhile leave together, in one message
 * of at most max_message_size.  While a received batch is handled
 * (ad_chan_defer on), what it causes to be sent to any channel waits for
 * the batch's end and then leaves in one message per channel.
 *
 * This file owns the socket, its two aios, the send queue and the list of
 * channels with something deferred.  It knows nothing of instances: what
 * arrives goes to the receive function given at open, with the mutex
 * given at open held, as every function here but ad_chan_close expects.
 */
#ifndef AD_CHANNEL_H
#define AD_CHANNEL_H

#include <pthread.h>
#include <stddef.h>

#include <nng/nng.h>

struct ad_chan_defer;

/* One message arrived (buf borrowed, valid until it returns); mtx held. */
typedef void (*ad_chan_recv_fn)(void *arg, const void *buf, size_t len);

struct ad_chan {
	nng_socket            sock;
	nng_aio              *rx_aio;
	nng_aio              *tx_aio;
	pthread_mutex_t      *mtx;
	struct ad_chan_defer *defer;
	size_t                max; /* max_message_size: a batch's bound */
	ad_chan_recv_fn       recv;
	void                 *arg;
	int                   tx_busy; /* a message is on its way */
	nng_msg             **txq;     /* what waits behind it */
	unsigned              txq_n, txq_cap;
	int                   dirty;   /* in defer's list */
	int                   closing; /* ad_chan_close began (mtx) */
};

/* Channels with envelopes held back while a batch is handled. */
struct ad_chan_defer {
	int              on;
	struct ad_chan **v;
	unsigned         n, cap;
};

/*
 * Open a channel (name: for messages) listening at path (mode 0600):
 * receives cap at recvmax,
 * batches bound at max, every connection first offered to on_pipe (arg
 * pipe_arg; NNG_PIPE_EV_ADD_PRE) and its end told to it
 * (NNG_PIPE_EV_REM_POST), what arrives handed to recv (arg).
 * Returns 0 or an agentd_error with one line in err; on failure
 * ad_chan_close still frees what was made.
 */
int ad_chan_open(struct ad_chan *ch, const char *name, const char *path,
    size_t recvmax, size_t max, pthread_mutex_t *mtx,
    struct ad_chan_defer *defer, nng_pipe_cb on_pipe, void *pipe_arg,
    ad_chan_recv_fn recv, void *arg, char *err, size_t errlen);
/*
 * Queue one encoded envelope: it leaves at once when nothing is on its
 * way, else with the others queued meanwhile; while defer is on, at the
 * batch's end.  0 or AGENTD_ENOMEM.
 */
int ad_chan_send(struct ad_chan *ch, const void *env, size_t len);
/*
 * Close the socket and wait for its aios.  WITHOUT mtx: the callbacks
 * being waited for take it.  From the moment it begins, nothing starts a
 * send or a receive on the socket (what is sent meanwhile stays queued
 * for ad_chan_drop): an operation begun on a socket nng is closing can
 * outlive the socket and be cancelled into its freed memory.  Call it
 * once the connection's peer has gone (on_pipe told NNG_PIPE_EV_REM_POST):
 * until then the channel goes on receiving, so that nng reads to the end
 * of the stream, and closing while it reads can stop nng 1.5.2's reaper
 * (conns.h).
 */
void ad_chan_close(struct ad_chan *ch);
/* Drop what was never sent (after ad_chan_close). */
void ad_chan_drop(struct ad_chan *ch);
/* The deferred list's memory (agentd is going). */
void ad_chan_defer_free(struct ad_chan_defer *d);

#endif

/*
 * channel.c - an instance's channel: batches of envelopes both ways
 * (channel.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>

#include "common/nngx.h"
#include "common/util.h"
#include "supervisor/channel.h"

/* Send the next queued batch unless one is on its way (mtx held). */
static void
tx_kick(struct ad_chan *ch)
{
	nng_msg *msg;

	if (ch->closing || ch->tx_busy || ch->txq_n == 0)
		return;
	msg = ch->txq[0];
	memmove(ch->txq, ch->txq + 1, --ch->txq_n * sizeof(*ch->txq));
	ch->tx_busy = 1;
	nng_aio_set_msg(ch->tx_aio, msg);
	nng_send_aio(ch->sock, ch->tx_aio);
}

/* The batch is handled: send what it caused, one message per channel. */
static void
defer_flush(struct ad_chan_defer *d)
{
	unsigned i;

	for (i = 0; i < d->n; i++) {
		d->v[i]->dirty = 0;
		tx_kick(d->v[i]);
	}
	d->n = 0;
}

static void
defer_add(struct ad_chan_defer *d, struct ad_chan *ch)
{
	if (ch->dirty)
		return;
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 8;
		d->v   = ad_xrealloc(d->v, d->cap * sizeof(*d->v));
	}
	d->v[d->n++] = ch;
	ch->dirty    = 1;
}

int
ad_chan_send(struct ad_chan *ch, const void *env, size_t len)
{
	nng_msg *last = ch->txq_n > 0 ? ch->txq[ch->txq_n - 1] : NULL;
	int      rv;

	/* A batch stays within max_message_size; one envelope alone may be
	 * a little over (its body is up to the limit). */
	if (last == NULL || nng_msg_len(last) + len > ch->max) {
		if ((rv = nng_msg_alloc(&last, 0)) != 0)
			return ad_nng_error(rv);
		if (ch->txq_n == ch->txq_cap) {
			ch->txq_cap = ch->txq_cap ? 2 * ch->txq_cap : 4;
			ch->txq     = ad_xrealloc(
			        ch->txq, ch->txq_cap * sizeof(*ch->txq));
		}
		ch->txq[ch->txq_n++] = last;
	}
	if ((rv = ad_msg_append(last, env, len)) != 0)
		return ad_nng_error(rv);
	if (!ch->defer->on)
		tx_kick(ch);
	else
		defer_add(ch->defer, ch);
	return 0;
}

static void
tx_cb(void *arg)
{
	struct ad_chan *ch = arg;
	int             rv = nng_aio_result(ch->tx_aio);

	pthread_mutex_lock(ch->mtx);
	if (rv != 0)
		nng_msg_free(nng_aio_get_msg(ch->tx_aio));
	ch->tx_busy = 0;
	if (rv != NNG_ECLOSED)
		tx_kick(ch);
	pthread_mutex_unlock(ch->mtx);
}

static void
rx_cb(void *arg)
{
	struct ad_chan *ch = arg;
	int             rv = nng_aio_result(ch->rx_aio);
	nng_msg        *msg;

	pthread_mutex_lock(ch->mtx);
	if (rv == 0) {
		msg           = nng_aio_get_msg(ch->rx_aio);
		ch->defer->on = 1;
		ch->recv(ch->arg, nng_msg_body(msg), nng_msg_len(msg));
		ch->defer->on = 0;
		defer_flush(ch->defer);
		nng_msg_free(msg);
	}
	if (rv != NNG_ECLOSED && !ch->closing)
		nng_recv_aio(ch->sock, ch->rx_aio);
	pthread_mutex_unlock(ch->mtx);
}

int
ad_chan_open(struct ad_chan *ch, const char *name, const char *path,
    size_t recvmax, size_t max, pthread_mutex_t *mtx,
    struct ad_chan_defer *defer, nng_pipe_cb on_pipe, void *pipe_arg,
    ad_chan_recv_fn recv, void *arg, char *err, size_t errlen)
{
	int rv;

	ch->mtx   = mtx;
	ch->defer = defer;
	ch->max   = max;
	ch->recv  = recv;
	ch->arg   = arg;
	if ((rv = nng_pair0_open(&ch->sock)) != 0
	    || (rv = nng_socket_set_int(ch->sock, NNG_OPT_SENDBUF, 64)) != 0
	    || (rv = nng_socket_set_int(ch->sock, NNG_OPT_RECVBUF, 64)) != 0
	    || (rv = nng_socket_set_size(ch->sock, NNG_OPT_RECVMAXSZ, recvmax))
	        != 0
	    || (rv = nng_pipe_notify(
	            ch->sock, NNG_PIPE_EV_ADD_PRE, on_pipe, pipe_arg))
	        != 0
	    || (rv = nng_pipe_notify(
	            ch->sock, NNG_PIPE_EV_REM_POST, on_pipe, pipe_arg))
	        != 0) {
		ad_seterr(err, errlen, "cannot open a socket for %s: %s", name,
		    nng_strerror(rv));
		return ad_nng_error(rv);
	}
	if ((rv = ad_nng_listen_ipc(ch->sock, path, 0600, err, errlen)) != 0)
		return rv;
	if ((rv = nng_aio_alloc(&ch->rx_aio, rx_cb, ch)) != 0
	    || (rv = nng_aio_alloc(&ch->tx_aio, tx_cb, ch)) != 0) {
		ad_seterr(err, errlen, "cannot open the channel of %s: %s",
		    name, nng_strerror(rv));
		return ad_nng_error(rv);
	}
	nng_recv_aio(ch->sock, ch->rx_aio);
	return 0;
}

/*
 * nng 1.5.2 does not wait, in nng_close, for the callbacks of the
 * caller's aios: a receive completed just before (and waiting for mtx)
 * could start the next one after the protocol aborted its queue but
 * before the socket is marked closed; that aio would then sit on the
 * freed socket's list, and nng_aio_free would cancel it into freed
 * memory.  So: no new operation once closing is set, then stop the
 * aios (cancel what is under way and wait for its callback), and only
 * then close the socket, with no aio of ours left on it.
 */
void
ad_chan_close(struct ad_chan *ch)
{
	if (ch->mtx != NULL) {
		pthread_mutex_lock(ch->mtx);
		ch->closing = 1;
		pthread_mutex_unlock(ch->mtx);
	}
	nng_aio_stop(ch->rx_aio); /* NULL: nothing */
	nng_aio_stop(ch->tx_aio);
	nng_close(ch->sock);
	nng_aio_free(ch->rx_aio);
	nng_aio_free(ch->tx_aio);
	ch->rx_aio = ch->tx_aio = NULL;
}

void
ad_chan_drop(struct ad_chan *ch)
{
	unsigned i;

	for (i = 0; i < ch->txq_n; i++)
		nng_msg_free(ch->txq[i]);
	free(ch->txq);
	ch->txq   = NULL;
	ch->txq_n = ch->txq_cap = 0;
}

void
ad_chan_defer_free(struct ad_chan_defer *d)
{
	free(d->v);
	memset(d, 0, sizeof(*d));
}

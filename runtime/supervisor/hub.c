#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/pubsub0/pub.h>

#include "common/log.h"
#include "common/nngx.h"
#include "common/util.h"
#include "supervisor/agent.h"
#include "supervisor/hub.h"
#include "supervisor/instance.h"
#include "supervisor/supervisor.h"

/*
 * nng 1.5.2's PULL socket keeps no receive queue: with one receive under
 * way, publishers wait whenever the hub is busy.  Several receives keep
 * them flowing.
 */
#define PUB_RECEIVES 4
/* Batches waiting in an instance's PUSH pipe besides the one being sent. */
#define EV_SENDBUF 8

struct ad_pub_rx {
	struct ad_sv *sv;
	nng_aio      *aio;
};

/* ---- to subscribers ------------------------------------------------------
 */

/*
 * Send what waits for an instance, unless a send is under way: as many
 * queued envelopes as fit in max_message_size, in one message (at least
 * one, which always fits: it was accepted under that limit).  mtx held.
 */
static void
instance_send(struct ad_instance *inst)
{
	size_t            cap  = inst->agent->sv->cfg->global.max_message_size;
	size_t            size = 0;
	struct ad_evitem *it;
	nng_msg          *msg;
	unsigned          n = 0;

	if (inst->ev.sending > 0 || inst->ev.n == 0
	    || inst->state != AD_INST_READY || inst->ev.lost)
		return;
	/* The size first: one allocation for the whole batch. */
	STAILQ_FOREACH(it, &inst->ev.q, link) {
		if (size > 0 && size + it->len > cap)
			break;
		size += it->len;
	}
	if (nng_msg_alloc(&msg, 0) != 0)
		return; /* a later event or completion tries again */
	if (nng_msg_reserve(msg, size) != 0) {
		nng_msg_free(msg);
		return;
	}
	while ((it = STAILQ_FIRST(&inst->ev.q)) != NULL
	    && nng_msg_len(msg) + it->len <= size) {
		nng_msg_append(msg, it->data, it->len); /* reserved */
		STAILQ_REMOVE_HEAD(&inst->ev.q, link);
		free(it);
		n++;
	}
	inst->ev.n -= n;
	inst->ev.sending = n;
	nng_aio_set_msg(inst->ev.aio, msg);
	nng_send_aio(inst->ev.sock, inst->ev.aio);
}

static int
enqueue_event(struct ad_instance *inst, const void *env, size_t len)
{
	struct ad_evitem *it;

	if (inst->ev.n >= AD_EVQ_MAX
	    || (it = malloc(sizeof(*it) + len)) == NULL)
		return AGENTD_EBUSY;
	it->len = len;
	memcpy(it->data, env, len);
	STAILQ_INSERT_TAIL(&inst->ev.q, it, link);
	inst->ev.n++;
	return 0;
}

static void
ev_sent_cb(void *arg)
{
	struct ad_instance *inst = arg;
	struct ad_sv       *sv   = inst->agent->sv;
	int                 rv   = nng_aio_result(inst->ev.aio);

	pthread_mutex_lock(&sv->mtx);
	if (rv == 0) {
		inst->agent->st.events_delivered += inst->ev.sending;
	} else {
		nng_msg_free(nng_aio_get_msg(inst->ev.aio));
		inst->agent->st.events_dropped += inst->ev.sending;
	}
	inst->ev.sending = 0;
	if (rv != NNG_ECLOSED)
		instance_send(inst);
	pthread_mutex_unlock(&sv->mtx);
}

void
ad_hub_instance_kick(struct ad_instance *inst)
{
	instance_send(inst);
}

/* The ready instance of a with the fewest events waiting, or NULL. */
static struct ad_instance *
pick_instance(struct ad_agent *a)
{
	struct ad_instance *i, *best = NULL;

	LIST_FOREACH(i, &a->instances, link) {
		/* Not a generation standing by after a reload, nor one
		 * whose worker's connection is gone (it is exiting). */
		if (i->state != AD_INST_READY || i->ev.lost
		    || (i->gen != a->cur && i->gen != a->next))
			continue;
		if (best == NULL
		    || i->ev.n + i->ev.sending < best->ev.n + best->ev.sending)
			best = i;
	}
	return best;
}

static void
to_tail(struct ad_sv *sv, const char *topic, const void *env, size_t len)
{
	nng_msg *msg;

	/* The topic leads, so SUB's prefix subscriptions select on it. */
	if (nng_msg_alloc(&msg, 0) != 0)
		return;
	if (nng_msg_append(msg, topic, strlen(topic) + 1) != 0
	    || nng_msg_append(msg, env, len) != 0
	    || nng_sendmsg(sv->hub.tail, msg, NNG_FLAG_NONBLOCK) != 0)
		nng_msg_free(msg);
}

/*
 * e as the event envelope subscribers get, from src / src_instance, into
 * *w (caller owns, free with agentd_writer_free), copied to tail.sock and
 * the tap while they have readers.  0, or an agentd_error.
 */
static int
accepted_event(struct ad_sv *sv, const char *src, const char *src_instance,
    const struct ad_envelope *e, agentd_writer **w)
{
	struct ad_envelope out = *e;
	const void        *env;
	size_t             len;

	out.id   = ad_envelope_next_id();
	out.kind = AD_KIND_EVENT;
	snprintf(out.src, sizeof(out.src), "%s", src);
	snprintf(
	    out.src_instance, sizeof(out.src_instance), "%s", src_instance);
	if (agentd_writer_new(w) != 0 || ad_envelope_encode(&out, *w) != 0) {
		agentd_writer_free(*w);
		*w = NULL;
		return AGENTD_ENOMEM;
	}
	env = agentd_writer_data(*w, &len);
	if (sv->hub.open && sv->hub.tail_readers > 0)
		to_tail(sv, out.dst, env, len);
	if (sv->hub.tap != NULL && sv->hub.taps > 0)
		sv->hub.tap(sv->hub.tap_arg, out.dst, env, len);
	return 0;
}

int
ad_hub_deliver_to(
    struct ad_sv *sv, struct ad_agent *a, const struct ad_envelope *e)
{
	struct ad_instance *inst = a->removed ? NULL : pick_instance(a);
	agentd_writer      *w;
	const void         *env;
	size_t              len;
	int                 rv;

	if (inst == NULL)
		return AGENTD_ENOENT;
	if ((rv = accepted_event(sv, "agentd", "", e, &w)) != 0)
		return rv;
	env = agentd_writer_data(w, &len);
	if (enqueue_event(inst, env, len) != 0) {
		a->st.events_dropped++;
		rv = AGENTD_EBUSY;
	} else {
		instance_send(inst);
	}
	agentd_writer_free(w);
	return rv;
}

unsigned
ad_hub_deliver(struct ad_sv *sv, const char *src, const char *src_instance,
    const struct ad_envelope *e)
{
	agentd_writer *w;
	const void    *env;
	size_t         i, len;
	unsigned       n = 0;

	if (accepted_event(sv, src, src_instance, e, &w) != 0)
		return 0;
	env = agentd_writer_data(w, &len);
	for (i = 0; i < sv->nagents; i++) {
		struct ad_agent    *a = sv->agents[i];
		struct ad_instance *inst;

		if (a->removed
		    || !ad_topic_any(
		        a->conf->subscribe, a->conf->nsubscribe, e->dst))
			continue;
		inst = pick_instance(a);
		if (inst == NULL || enqueue_event(inst, env, len) != 0) {
			a->st.events_dropped++;
			continue;
		}
		n++;
		instance_send(inst);
	}
	agentd_writer_free(w);
	return n;
}

/* ---- from publishers -----------------------------------------------------
 */

static void
denied(struct ad_agent *a, const char *topic)
{
	char note[AD_RATELIMIT_NOTE];

	a->st.events_denied++;
	if (!ad_ratelimit(
	        &a->logs.event_denied, ad_now_ms(), note, sizeof(note)))
		return;
	ad_sv_audit(a->sv, a->conf->name, NULL, "event.denied",
	    "event on \"%s\" refused by publish = { } (%llu so far)", topic,
	    (unsigned long long)a->st.events_denied);
	ad_warn("agent %s: event on \"%s\" refused: add it to publish = { } "
	        "in %s if %s should publish it%s",
	    a->conf->name, topic, a->conf->file, a->conf->name, note);
}

/* A worker's report: {busy_ms, handled} (worker/main.c). */
static void
heartbeat(struct ad_instance *inst, const struct ad_envelope *e)
{
	agentd_doc         *doc;
	const agentd_value *root;
	int64_t             busy    = 0;
	uint64_t            handled = 0;
	char                note[AD_RATELIMIT_NOTE];

	if (agentd_parse(e->body, e->body_len, &doc) != 0) {
		if (ad_ratelimit(&inst->agent->logs.bad_heartbeat, ad_now_ms(),
		        note, sizeof(note)))
			ad_warn("agent %s: instance %s sent a malformed "
			        "heartbeat%s",
			    inst->agent->conf->name, inst->id, note);
		return;
	}
	root = agentd_doc_root(doc);
	agentd_get_int(agentd_map_get(root, "busy_ms"), &busy);
	agentd_get_uint(agentd_map_get(root, "handled"), &handled);
	agentd_doc_free(doc);
	ad_instance_heartbeat(inst, busy, handled);
}

static void
take_batch(struct ad_sv *sv, struct ad_instance *inst, nng_msg *msg)
{
	const unsigned char *p   = nng_msg_body(msg);
	size_t               len = nng_msg_len(msg), used;
	struct ad_agent     *a   = inst->agent;
	struct ad_envelope   e;
	char                 note[AD_RATELIMIT_NOTE];

	while (len > 0) {
		if (ad_envelope_decode_prefix(
		        p, len, sv->cfg->global.max_message_size, &e, &used)
		        != 0
		    || (e.kind != AD_KIND_EVENT
		        && (e.kind != AD_KIND_CONTROL
		            || strcmp(e.dst, "heartbeat") != 0))) {
			if (ad_ratelimit(&a->logs.bad_batch, ad_now_ms(), note,
			        sizeof(note)))
				ad_warn("agent %s: instance %s sent a "
				        "malformed event batch%s",
				    a->conf->name, inst->id, note);
			return;
		}
		p += used;
		len -= used;
		if (e.kind == AD_KIND_CONTROL) {
			heartbeat(inst, &e);
			continue;
		}
		if (ad_topic_any(a->conf->publish, a->conf->npublish, e.dst)) {
			a->st.events_published++;
			ad_hub_deliver(sv, a->conf->name, inst->id, &e);
		} else {
			denied(a, e.dst);
		}
	}
}

static void
pub_cb(void *arg)
{
	struct ad_pub_rx   *rx = arg;
	struct ad_sv       *sv = rx->sv;
	struct ad_instance *inst;
	nng_msg            *msg;
	int                 rv = nng_aio_result(rx->aio);

	if (rv == NNG_ECLOSED)
		return;
	if (rv == 0) {
		msg = nng_aio_get_msg(rx->aio);
		pthread_mutex_lock(&sv->mtx);
		if ((inst = ad_sv_pipe_instance(sv, nng_msg_get_pipe(msg)))
		    != NULL)
			take_batch(sv, inst, msg);
		pthread_mutex_unlock(&sv->mtx);
		nng_msg_free(msg);
	}
	nng_recv_aio(sv->hub.publish, rx->aio);
}

/* ---- sockets -------------------------------------------------------------
 */

static int
open_publish(struct ad_sv *sv, char *err, size_t errlen)
{
	char  *path = ad_xasprintf("%s/%s", sv->run_dir, AD_PUBLISH_SOCKET);
	size_t i;
	int    rv;

	if ((rv = nng_pull0_open(&sv->hub.publish)) != 0
	    || (rv = nng_socket_set_size(sv->hub.publish, NNG_OPT_RECVMAXSZ,
	            ad_transport_cap(sv->cfg->global.max_message_size)))
	        != 0
	    || (rv = nng_pipe_notify(sv->hub.publish, NNG_PIPE_EV_ADD_PRE,
	            ad_sv_on_instance_pipe, sv))
	        != 0
	    || (rv = nng_pipe_notify(sv->hub.publish, NNG_PIPE_EV_REM_POST,
	            ad_sv_on_instance_pipe, sv))
	        != 0) {
		ad_seterr(
		    err, errlen, "cannot open %s: %s", path, nng_strerror(rv));
		free(path);
		return ad_nng_error(rv);
	}
	rv = ad_nng_listen_ipc(sv->hub.publish, path, 0600, err, errlen);
	free(path);
	if (rv != 0)
		return rv;
	sv->hub.npubrx = PUB_RECEIVES;
	sv->hub.pubrx  = ad_xcalloc(sv->hub.npubrx, sizeof(*sv->hub.pubrx));
	for (i = 0; i < sv->hub.npubrx; i++) {
		sv->hub.pubrx[i].sv = sv;
		if ((rv = nng_aio_alloc(
		         &sv->hub.pubrx[i].aio, pub_cb, &sv->hub.pubrx[i]))
		    != 0) {
			ad_seterr(err, errlen, "%s", nng_strerror(rv));
			return ad_nng_error(rv);
		}
		nng_recv_aio(sv->hub.publish, sv->hub.pubrx[i].aio);
	}
	return 0;
}

/* Copies go to tail.sock only while someone reads it. */
static void
tail_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct ad_sv *sv = arg;

	/* Every event body passes here: operators only, as control.sock. */
	if (ev == NNG_PIPE_EV_ADD_PRE
	    && ad_peer_check(
	           sv, p, AD_PEER_OPERATOR, AD_TAIL_SOCKET, NULL, NULL)
	        == 0)
		return;
	pthread_mutex_lock(&sv->mtx);
	/* nng reports the removal of a refused pipe too: counted in here,
	 * it is counted out there. */
	if (ev == NNG_PIPE_EV_ADD_POST || ev == NNG_PIPE_EV_ADD_PRE)
		sv->hub.tail_readers++;
	else if (ev == NNG_PIPE_EV_REM_POST && sv->hub.tail_readers > 0)
		sv->hub.tail_readers--;
	pthread_mutex_unlock(&sv->mtx);
	if (ev == NNG_PIPE_EV_ADD_PRE)
		nng_pipe_close(p);
}

int
ad_hub_start(struct ad_sv *sv, char *err, size_t errlen)
{
	char *path;
	int   rv;

	if ((rv = open_publish(sv, err, errlen)) != 0)
		return rv;
	path = ad_xasprintf("%s/%s", sv->run_dir, AD_TAIL_SOCKET);
	if ((rv = nng_pub0_open(&sv->hub.tail)) != 0
	    || (rv = nng_pipe_notify(
	            sv->hub.tail, NNG_PIPE_EV_ADD_PRE, tail_pipe_cb, sv))
	        != 0
	    || (rv = nng_pipe_notify(
	            sv->hub.tail, NNG_PIPE_EV_ADD_POST, tail_pipe_cb, sv))
	        != 0
	    || (rv = nng_pipe_notify(
	            sv->hub.tail, NNG_PIPE_EV_REM_POST, tail_pipe_cb, sv))
	        != 0) {
		ad_seterr(
		    err, errlen, "cannot open %s: %s", path, nng_strerror(rv));
		rv = ad_nng_error(rv);
	} else {
		rv = ad_nng_listen_ipc(sv->hub.tail, path, 0600, err, errlen);
		if (rv == 0)
			rv = ad_sv_open_to_group(sv, path, err, errlen);
	}
	free(path);
	if (rv == 0) {
		pthread_mutex_lock(&sv->mtx);
		sv->hub.open = 1;
		pthread_mutex_unlock(&sv->mtx);
	}
	return rv;
}

void
ad_hub_stop(struct ad_sv *sv)
{
	char  *path;
	size_t i;

	if (sv->hub.pubrx == NULL)
		return;
	pthread_mutex_lock(&sv->mtx);
	sv->hub.open = 0;
	pthread_mutex_unlock(&sv->mtx);
	nng_close(sv->hub.publish);
	nng_close(sv->hub.tail);
	for (i = 0; i < sv->hub.npubrx; i++) {
		if (sv->hub.pubrx[i].aio != NULL)
			nng_aio_free(sv->hub.pubrx[i].aio);
	}
	free(sv->hub.pubrx);
	sv->hub.pubrx = NULL;
	path          = ad_xasprintf("%s/%s", sv->run_dir, AD_PUBLISH_SOCKET);
	unlink(path);
	free(path);
	path = ad_xasprintf("%s/%s", sv->run_dir, AD_TAIL_SOCKET);
	unlink(path);
	free(path);
}

/*
 * nng 1.5.2's PUSH socket can keep a pipe that closed on its list of
 * ready pipes: when a send to it completes while it closes, push0_send_cb
 * puts it back after push0_pipe_close took it off, and the next send on
 * the socket uses it after it was freed.  agentd crashed so, in
 * nng_send_aio, when workers died while events flowed to them
 * (tests/system/last_words.sh).  Each instance has a socket of its own
 * whose one pipe is its worker's, the one ADD_PRE accepted: once that
 * pipe is gone (REM_POST runs before nng frees it, and takes mtx, which
 * every send here holds), nothing is sent on the socket again, and the
 * instance's events go to the agent's other instances.  A worker whose
 * event connection broke while it lives gets no more events (a new
 * connection to the same socket could meet the freed pipe first): a
 * worker only drops it when it exits.
 */
static void
ev_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct ad_instance *inst = arg;
	struct ad_sv       *sv   = inst->agent->sv;

	pthread_mutex_lock(&sv->mtx);
	if (ad_instance_pipe_event(inst, p, ev) && inst->ev.pipe == 0)
		inst->ev.pipe = nng_pipe_id(p); /* ADD_PRE, accepted */
	else if (ev == NNG_PIPE_EV_REM_POST && inst->ev.pipe != 0
	    && nng_pipe_id(p) == inst->ev.pipe)
		inst->ev.lost = 1;
	pthread_mutex_unlock(&sv->mtx);
}

int
ad_hub_instance_open(struct ad_instance *inst, char *err, size_t errlen)
{
	int rv;

	inst->ev.path = ad_xasprintf(
	    "%s/%s-ev.sock", inst->agent->sv->run_dir, inst->id);
	STAILQ_INIT(&inst->ev.q);
	if ((rv = nng_push0_open(&inst->ev.sock)) != 0
	    || (rv = nng_socket_set_int(
	            inst->ev.sock, NNG_OPT_SENDBUF, EV_SENDBUF))
	        != 0
	    || (rv = nng_pipe_notify(
	            inst->ev.sock, NNG_PIPE_EV_ADD_PRE, ev_pipe_cb, inst))
	        != 0
	    || (rv = nng_pipe_notify(
	            inst->ev.sock, NNG_PIPE_EV_REM_POST, ev_pipe_cb, inst))
	        != 0
	    || (rv = nng_aio_alloc(&inst->ev.aio, ev_sent_cb, inst)) != 0) {
		ad_seterr(err, errlen, "cannot open %s: %s", inst->ev.path,
		    nng_strerror(rv));
		return ad_nng_error(rv);
	}
	return ad_nng_listen_ipc(
	    inst->ev.sock, inst->ev.path, 0600, err, errlen);
}

void
ad_hub_instance_close(struct ad_instance *inst)
{
	struct ad_sv     *sv = inst->agent->sv;
	struct ad_evitem *it;

	/* A send under way is cancelled and counted as dropped; the aio is
	 * stopped before the socket closes, as ad_chan_close does (an
	 * exited instance is never sent to again: instance_send). */
	nng_aio_stop(inst->ev.aio);
	nng_close(inst->ev.sock);
	nng_aio_free(inst->ev.aio);
	pthread_mutex_lock(&sv->mtx);
	inst->agent->st.events_dropped += inst->ev.n;
	inst->ev.n = 0;
	while ((it = STAILQ_FIRST(&inst->ev.q)) != NULL) {
		STAILQ_REMOVE_HEAD(&inst->ev.q, link);
		free(it);
	}
	pthread_mutex_unlock(&sv->mtx);
	if (inst->ev.path != NULL)
		unlink(inst->ev.path);
	free(inst->ev.path);
}

unsigned
ad_hub_instance_queued(const struct ad_instance *inst)
{
	return inst->ev.n + inst->ev.sending;
}

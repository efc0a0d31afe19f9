/*
 * nngx.h - the edge between nng and the runtime.
 *
 * nng error codes are translated to agentd codes here and nowhere else; the
 * original text is logged at this edge when it matters.
 */
#ifndef AD_NNGX_H
#define AD_NNGX_H

#include <stddef.h>

#include <nng/nng.h>

#include "bus/envelope.h"

/* nng error -> agentd error (0 stays 0). */
int ad_nng_error(int nng_rv);

/*
 * Listen on ipc://path with the socket file created in the given mode
 * (set before the listener starts, as nng requires), replacing a file left
 * there.  Call only while holding the run directory's lock (ad_sv_lock):
 * probing a socket with connect() instead would trip an nng 1.5.2 bug that
 * leaves the listener unable to accept.
 */
int ad_nng_listen_ipc(
    nng_socket s, const char *path, int mode, char *err, size_t errlen);

/*
 * What a socket accepts at the transport (NNG_OPT_RECVMAXSZ) for a given
 * max_message_size.  nng drops the connection of a peer that sends more,
 * leaving the sender guessing (and Debian's nng 1.5.2 can mishandle that
 * close), so the transport allows four times the limit and the receiver
 * checks the limit itself, where its answer can say what is wrong.  The
 * margin also covers what agentd adds when it forwards a message.
 */
size_t ad_transport_cap(size_t max_message);

/*
 * nng_msg_append, growing m's capacity to at least twice what it was when
 * it must grow.  nng 1.5.2 grows a message to the exact new size on every
 * append (a fresh zeroed buffer and a copy), so a batch built one
 * envelope at a time would copy O(n^2) bytes.
 */
int ad_msg_append(nng_msg *m, const void *data, size_t len);

/* The envelope encoded into a new nng message (caller owns, nng_msg_free). */
int ad_envelope_to_msg(const struct ad_envelope *e, nng_msg **out);

/* Build a reply envelope answering `req` into a new nng message. */
int ad_reply_msg(const struct ad_envelope *req, int status, const void *body,
    size_t len, nng_msg **out);

#endif

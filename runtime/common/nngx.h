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

#endif

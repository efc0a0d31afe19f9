/*
 * agentd's sendmsg(): what a send to a peer that is gone tells nng.
 *
 * nng 1.5.2 writes on an ipc connection only with sendmsg() (in
 * src/platform/posix/posix_ipcconn.c); agentd interposes it for two
 * reasons, one per phase of a connection.
 *
 * During the handshake: a peer that hangs up must not stop a listener.
 * An accepted connection first sends its 8-byte SP header
 * (ipc_pipe_start), before the socket layer knows of it.  If the peer has
 * already closed its end, which happens whenever a client connects and
 * goes away before agentd's poller thread accepted it (a killed agentctl,
 * an nng dialer closed while it redials after a refusal, anyone's
 * connect() and close()), sendmsg() fails with EPIPE, and nng maps EPIPE
 * to NNG_ECLOSED (nni_plat_errno, src/platform/posix/posix_debug.c).
 * ipc_pipe_neg_cb hands that error to the listener's pending accept, and
 * listener_accept_cb (src/core/listener.c) takes NNG_ECLOSED for its own
 * close: it never asks for another connection.  The transport still
 * completes the handshake of every later connection and keeps it waiting
 * for an accept that never comes: clients connect, send, and get no
 * answer ("Timed out"), no pipe callback runs, and every thread is idle.
 * nng fixed this in 1.6.0 (nng issue 1518, commit 9248ed74:
 * ipc_pipe_neg_cb reports NNG_ECONNSHUT instead).  Here EPIPE becomes
 * ECONNRESET, which nng maps to NNG_ECONNRESET, and on which
 * listener_accept_cb asks for the next connection at once.
 * tests/system/refused_peers.sh checks it.
 *
 * After the handshake: a message to a peer that is gone is reported sent.
 * On a send error every protocol closes the pipe from its send callback
 * (rep0_pipe_send_cb, pair0, push0, pub0), and a pipe closed while the
 * peer's last message is being read can stop nng's reaper for good
 * (doc/architecture.md, "What must never wait"): a worker that dies with
 * a call on its way and its answer on ours did exactly that, and every
 * nng_close of agentd waited from then on.  Its bytes could never have
 * been read; reporting them sent leaves the pipe to its receive side,
 * which reads what the peer sent before it went, then the end of the
 * stream, and closes the pipe from its own callback, with no read under
 * way.  Once the peer is gone the kernel says EPIPE, or ECONNRESET once
 * if it left with bytes of ours unread; both mean it.
 *
 * Only agentd has this: agentctl and the worker only dial.  An nng that
 * has the fixes is unaffected.  tests/system/last_words.sh checks it.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>

typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);

static _Atomic(sendmsg_fn) next_sendmsg;

/* The SP header nng's ipc transport sends first (ipc_pipe_start): 0, 'S',
 * 'P', 0, the protocol (2 bytes), 0, 0.  A message's frame begins with
 * its type, 1. */
static int
is_handshake(const struct msghdr *msg)
{
	const unsigned char *b;

	if (msg->msg_iovlen != 1 || msg->msg_iov[0].iov_len != 8)
		return 0;
	b = msg->msg_iov[0].iov_base;
	return b[0] == 0 && b[1] == 'S' && b[2] == 'P' && b[3] == 0;
}

/* One of nng's ipc connections: a Unix stream socket. */
static int
is_ipc(int fd)
{
	int       v;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) != 0
	    || v != AF_UNIX)
		return 0;
	len = sizeof(v);
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) == 0
	    && v == SOCK_STREAM;
}

static ssize_t
length(const struct msghdr *msg)
{
	size_t i, n = 0;

	for (i = 0; i < msg->msg_iovlen; i++)
		n += msg->msg_iov[i].iov_len;
	return (ssize_t)n;
}

__attribute__((visibility("default"))) ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	sendmsg_fn f = atomic_load(&next_sendmsg);
	ssize_t    n;
	int        e;

	if (f == NULL) {
		/* The same answer for every thread: a race only repeats it. */
		*(void **)&f = dlsym(RTLD_NEXT, "sendmsg");
		if (f == NULL) {
			errno = ENOSYS;
			return -1;
		}
		atomic_store(&next_sendmsg, f);
	}
	n = f(fd, msg, flags);
	if (n >= 0 || (errno != EPIPE && errno != ECONNRESET))
		return n;
	e = errno;
	if (is_handshake(msg) || !is_ipc(fd)) {
		errno = e == EPIPE ? ECONNRESET : e;
		return -1;
	}
	errno = e;
	return length(msg);
}

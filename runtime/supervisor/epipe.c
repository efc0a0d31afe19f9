/*
 * A peer that hangs up during nng's handshake must not stop a listener.
 *
 * nng 1.5.2 (src/sp/transport/ipc/ipc.c): an accepted connection first
 * sends its 8-byte SP header (ipc_pipe_start), before the socket layer
 * knows of it.  If the peer has already closed its end, which happens
 * whenever a client connects and goes away before agentd's poller thread
 * accepted it (a killed agentctl, an nng dialer closed while it redials
 * after a refusal, anyone's connect() and close()), sendmsg() fails with
 * EPIPE, and nng maps EPIPE to NNG_ECLOSED (nni_plat_errno,
 * src/platform/posix/posix_debug.c).  ipc_pipe_neg_cb hands that error to
 * the listener's pending accept, and listener_accept_cb
 * (src/core/listener.c) takes NNG_ECLOSED for its own close: it never
 * asks for another connection.  The transport still completes the
 * handshake of every later connection and keeps it waiting for an accept
 * that never comes: clients connect, send, and get no answer ("Timed
 * out"), no pipe callback runs, and every thread is idle.  nng fixed this
 * in 1.6.0 (nng issue 1518, commit 9248ed74: ipc_pipe_neg_cb reports
 * NNG_ECONNSHUT instead).
 *
 * agentd must run on Debian's 1.5.2, so it interposes sendmsg() (nng's
 * only write on ipc connections): EPIPE becomes ECONNRESET, which nng
 * maps to NNG_ECONNRESET, and on which listener_accept_cb asks for the
 * next connection at once.  Both say the peer is gone; on a connection
 * already handed to a protocol, every send error closes the pipe alike.
 * Only agentd has this: agentctl and the worker only dial.  An nng that
 * has the fix is unaffected.  tests/system/refused_peers.sh checks it.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>

typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);

static _Atomic(sendmsg_fn) next_sendmsg;

__attribute__((visibility("default"))) ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	sendmsg_fn f = atomic_load(&next_sendmsg);
	ssize_t    n;

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
	if (n < 0 && errno == EPIPE)
		errno = ECONNRESET;
	return n;
}

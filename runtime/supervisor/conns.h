/*
 * conns.h - the connections of a socket agentd listens on, counted so
 * that the socket is closed only once its peers have gone.
 *
 * nng 1.5.2 can stop its reaper for good when a connection is closed
 * from agentd's side while a message from its peer is being read
 * (doc/architecture.md, "What must never wait").  A socket whose peer
 * has gone has no such read: nng read the peer's last message and the
 * end of the stream, and removed the pipe itself.  So every socket agentd
 * closes counts its pipes from nng's pipe events: added
 * (NNG_PIPE_EV_ADD_PRE) and not yet removed (NNG_PIPE_EV_REM_POST),
 * refused ones too, since nng reports their removal as well.  Once a
 * socket refuses, a new connection is closed at ADD_PRE, before nng has
 * read anything from it, and the count can only go down.
 *
 * This file owns struct ad_conns.  Its users hold their own mutex around
 * every call (sv->mtx in agentd).
 */
#ifndef AD_CONNS_H
#define AD_CONNS_H

#include <nng/nng.h>

struct ad_conns {
	unsigned live;     /* pipes added and not yet removed */
	int      refusing; /* new connections are closed at ADD_PRE */
};

/*
 * Count event ev of pipe p (other events than ADD_PRE and REM_POST are
 * ignored).  Returns 0 when the caller goes on with the event, -1 when p
 * was refused here (closed).
 */
int ad_conns_event(struct ad_conns *c, nng_pipe p, nng_pipe_ev ev);

/* How long agentd waits for a socket's connections to go before it
 * closes the socket anyway (and says so). */
#define AD_CONNS_WAIT_MS 5000

#endif

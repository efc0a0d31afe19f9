/*
 * conns.c - the connections of a socket agentd listens on (conns.h).
 */
#include "config.h"

#include "supervisor/conns.h"

int
ad_conns_event(struct ad_conns *c, nng_pipe p, nng_pipe_ev ev)
{
	if (ev == NNG_PIPE_EV_REM_POST) {
		if (c->live > 0)
			c->live--;
		return 0;
	}
	if (ev != NNG_PIPE_EV_ADD_PRE)
		return 0;
	c->live++;
	if (!c->refusing)
		return 0;
	nng_pipe_close(p); /* not started yet: nothing is being read */
	return -1;
}

/*
 * intruder URL - dial an agentd instance socket as a process agentd did not
 * spawn, and answer any request it sends.  Exits 0 if it was never handed
 * a request within the given time, 1 if it was (identity was not checked).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>

int
main(int argc, char **argv)
{
	nng_socket s;
	nng_msg   *msg;
	int        rv;

	if (argc != 3) {
		fprintf(stderr, "usage: intruder URL MILLISECONDS\n");
		return 2;
	}
	if ((rv = nng_pair0_open(&s)) != 0
	    || (rv = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, atoi(argv[2])))
	        != 0
	    || (rv = nng_dial(s, argv[1], NULL, NNG_FLAG_NONBLOCK)) != 0) {
		fprintf(stderr, "intruder: %s\n", nng_strerror(rv));
		return 2;
	}
	rv = nng_recvmsg(s, &msg, 0);
	if (rv == 0) {
		printf("intruder: was handed a request\n");
		nng_msg_free(msg);
		return 1;
	}
	nng_close(s);
	return 0;
}

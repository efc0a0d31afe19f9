/*
 * raw_child - the child of bench/raw_spawn: the least a supervised
 * instance has to do before it can serve, without agentd.
 *
 *   raw_child PLUGIN URL
 *
 * Loads PLUGIN as agentd's worker does (dlopen RTLD_NOW | RTLD_LOCAL, then
 * the descriptor symbol, whose magic it checks; init is not called: it
 * belongs to the plugin, not to the cost of starting a process), opens an
 * nng REP socket, dials URL (the parent's REQ listener) and answers one
 * request with its own bytes.  Then it waits for end of file on stdin
 * before exiting, so that the reply is not lost to an early close and the
 * parent can read the child's resident memory while it is still there.
 *
 * Exit 0, or 1 after one line on stderr.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include <agentd/agent.h>

#define STR_(x) #x
#define STR(x) STR_(x)

static int
fail(const char *what, const char *why)
{
	fprintf(stderr, "raw_child: %s: %s\n", what, why);
	return 1;
}

int
main(int argc, char **argv)
{
	const struct agentd_plugin *d;
	nng_socket                  s;
	nng_msg                    *msg;
	void                       *dl;
	char                        buf[64];
	int                         rv;

	if (argc != 3) {
		fprintf(stderr, "usage: raw_child PLUGIN URL\n");
		return 2;
	}
	if ((dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL)
		return fail("dlopen", dlerror());
	d = dlsym(dl, STR(AGENTD_PLUGIN_SYMBOL));
	if (d == NULL || d->magic != AGENTD_PLUGIN_MAGIC)
		return fail(argv[1], "no agentd plugin descriptor");
	if ((rv = nng_rep0_open(&s)) != 0)
		return fail("nng_rep0_open", nng_strerror(rv));
	if ((rv = nng_dial(s, argv[2], NULL, 0)) != 0)
		return fail(argv[2], nng_strerror(rv));
	if ((rv = nng_recvmsg(s, &msg, 0)) != 0)
		return fail("nng_recvmsg", nng_strerror(rv));
	/* On success the message belongs to the socket; on failure to us. */
	if ((rv = nng_sendmsg(s, msg, 0)) != 0) {
		nng_msg_free(msg);
		return fail("nng_sendmsg", nng_strerror(rv));
	}
	while (read(0, buf, sizeof(buf)) > 0)
		;
	nng_close(s);
	dlclose(dl);
	return 0;
}

/*
 * sphangup PATH COUNT - listen on the unix socket PATH as an SP REP peer
 * that goes away: for each of COUNT connections, read the dialer's 8-byte
 * SP header, send its own and close, without answering anything.  The
 * dialer's handshake completes, so nng_dial() succeeds, and the pipe dies
 * at once: the client sees an agentd that went away between its dial and
 * its request, or while it waited for the answer.  Then PATH is removed
 * (the client's redials find nothing).  Exits 0 after COUNT connections.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	/* "\0SP\0", protocol 0x31 (rep0), two reserved bytes. */
	static const unsigned char header[8]
	    = { 0, 'S', 'P', 0, 0, 0x31, 0, 0 };
	struct sockaddr_un sa;
	long               i, count = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	int                l;

	if (argc != 3 || count < 1 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: sphangup PATH COUNT\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);
	unlink(argv[1]);
	if ((l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0
	    || bind(l, (struct sockaddr *)&sa, sizeof(sa)) != 0
	    || listen(l, 16) != 0) {
		perror("sphangup");
		return 1;
	}
	for (i = 0; i < count; i++) {
		int fd = accept(l, NULL, NULL);

		if (fd < 0) {
			perror("sphangup: accept");
			return 1;
		}
		unsigned char theirs[8];
		size_t        got = 0;
		ssize_t       n;

		while (got < sizeof(theirs)
		    && (n = read(fd, theirs + got, sizeof(theirs) - got)) > 0)
			got += (size_t)n;
		if (write(fd, header, sizeof(header)) != sizeof(header))
			perror("sphangup: write");
		close(fd);
	}
	unlink(argv[1]);
	close(l);
	return 0;
}

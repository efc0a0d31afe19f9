/*
 * hangup PATH [COUNT] - connect to the unix socket PATH and close the
 * connection at once, COUNT times (default 1): a peer that goes away
 * before the listener has accepted it and sent its handshake, as a killed
 * client does.  Exits 0 if every connect() succeeded, 1 if one failed.
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
	struct sockaddr_un sa;
	long               i, count = argc > 2 ? strtol(argv[2], NULL, 10) : 1;

	if (argc < 2 || argc > 3 || count < 1
	    || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: hangup PATH [COUNT]\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);
	for (i = 0; i < count; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0
		    || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			perror("hangup");
			if (fd >= 0)
				close(fd);
			return 1;
		}
		close(fd);
	}
	return 0;
}

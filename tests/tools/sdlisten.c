/*
 * sdlisten PATH SECONDS - stand in for systemd's notification socket: bind
 * a datagram socket at PATH and print every datagram it receives, one
 * line per VAR=value, until SECONDS pass.  Lines go out as they arrive
 * (stdout is flushed), so a test can wait for READY=1.
 */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_un addr;
	struct pollfd      pfd;
	char               buf[4096];
	ssize_t            n;
	time_t             end;
	int                fd;

	if (argc != 3 || strlen(argv[1]) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "usage: sdlisten PATH SECONDS\n");
		return 2;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, argv[1]);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) < 0
	    || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		perror("sdlisten");
		return 2;
	}
	end        = time(NULL) + atoi(argv[2]);
	pfd.fd     = fd;
	pfd.events = POLLIN;
	while (time(NULL) < end) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if ((n = recv(fd, buf, sizeof(buf) - 1, 0)) <= 0)
			continue;
		buf[n] = '\0';
		printf("%s\n", buf);
		fflush(stdout);
	}
	unlink(argv[1]);
	return 0;
}

/*
 * own_conn.h - for test plugins that play a hostile plugin: the worker's
 * own connection to one of agentd's sockets (the sandbox lets a plugin
 * open no socket, but the process holds these).
 */
#ifndef TEST_OWN_CONN_H
#define TEST_OWN_CONN_H

#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

/* The descriptor connected to a socket file whose path ends in tail
 * ("/calls.sock"), or -1. */
static int
own_connection(const char *tail)
{
	struct sockaddr_un sa;
	socklen_t          len;
	size_t             n;
	int                fd;

	for (fd = 3; fd < 1024; fd++) {
		len = sizeof(sa);
		memset(&sa, 0, sizeof(sa));
		if (getpeername(fd, (struct sockaddr *)&sa, &len) != 0
		    || sa.sun_family != AF_UNIX)
			continue;
		n = strlen(sa.sun_path);
		if (n >= strlen(tail)
		    && strcmp(sa.sun_path + n - strlen(tail), tail) == 0)
			return fd;
	}
	return -1;
}

#endif

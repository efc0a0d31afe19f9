/*
 * sdnotify.c - see sdnotify.h.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/sdnotify.h"

static struct sockaddr_un sd_addr;
static socklen_t          sd_addrlen; /* 0: not under systemd */
static uint64_t           sd_watchdog;

int
ad_sd_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid  = getenv("WATCHDOG_PID");
	size_t      len;

	sd_addrlen  = 0;
	sd_watchdog = 0;
	if (usec != NULL
	    && (pid == NULL || strtol(pid, NULL, 10) == (long)getpid()))
		sd_watchdog = strtoull(usec, NULL, 10);
	/* Workers must not inherit either: they are not the service. */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return 0;
	len = strlen(path);
	if (len >= sizeof(sd_addr.sun_path))
		return 0;
	memset(&sd_addr, 0, sizeof(sd_addr));
	sd_addr.sun_family = AF_UNIX;
	memcpy(sd_addr.sun_path, path, len);
	if (path[0] == '@') /* abstract namespace */
		sd_addr.sun_path[0] = '\0';
	sd_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	return 1;
}

int
ad_sd_notify(const char *fmt, ...)
{
	char    buf[512];
	va_list ap;
	int     fd, n;
	ssize_t sent;

	if (sd_addrlen == 0)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	sent = sendto(fd, buf, (size_t)n, MSG_NOSIGNAL,
	    (struct sockaddr *)&sd_addr, sd_addrlen);
	n    = errno;
	close(fd);
	errno = n;
	return sent < 0 ? -1 : 0;
}

uint64_t
ad_sd_watchdog_usec(void)
{
	return sd_watchdog;
}

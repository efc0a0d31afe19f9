#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/util.h"

void
ad_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int64_t
clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
ad_now_ms(void)
{
	return clock_us(CLOCK_MONOTONIC) / 1000;
}

int64_t
ad_now_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

int64_t
ad_wall_ms(void)
{
	return clock_us(CLOCK_REALTIME) / 1000;
}

/* Out of memory aborts, here as in the SDK's writer. */
#define check_alloc ad_alloc_check

void *
ad_xmalloc(size_t n)
{
	return check_alloc(malloc(n ? n : 1));
}

void *
ad_xcalloc(size_t n, size_t size)
{
	return check_alloc(calloc(n ? n : 1, size ? size : 1));
}

void *
ad_xrealloc(void *p, size_t n)
{
	return check_alloc(realloc(p, n ? n : 1));
}

char *
ad_xstrdup(const char *s)
{
	return check_alloc(strdup(s));
}

char *
ad_xstrndup(const char *s, size_t n)
{
	return check_alloc(strndup(s, n));
}

char *
ad_xstrdup_or_null(const char *s)
{
	return s != NULL ? ad_xstrdup(s) : NULL;
}

char *
ad_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char   *s;
	int     n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		check_alloc(NULL);
	return s;
}

size_t
ad_u64_dec(uint64_t v, char buf[AD_U64_DEC])
{
	char   tmp[AD_U64_DEC];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return n;
}

char *
ad_path_join(const char *dir, const char *rel)
{
	size_t n;

	if (rel[0] == '/' || dir == NULL || dir[0] == '\0')
		return ad_xstrdup(rel);
	n = strlen(dir);
	if (n > 0 && dir[n - 1] == '/')
		return ad_xasprintf("%s%s", dir, rel);
	return ad_xasprintf("%s/%s", dir, rel);
}

char *
ad_abspath(const char *path)
{
	char  cwd[4096];
	char *p;

	/* An existing path is shown without "." or ".." in it. */
	if ((p = realpath(path, NULL)) != NULL)
		return p;
	if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return ad_xstrdup(path);
	return ad_path_join(cwd, path);
}

char *
ad_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return ad_xstrdup(".");
	if (slash == path)
		return ad_xstrdup("/");
	return ad_xstrndup(path, (size_t)(slash - path));
}

int
ad_mkdir_p(const char *path, unsigned mode)
{
	char *p = ad_xstrdup(path);
	char *s;
	int   rv = 0;

	for (s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) != 0 && errno != EEXIST) {
			rv = errno;
			goto out;
		}
		*s = '/';
	}
	if (mkdir(p, mode) != 0 && errno != EEXIST)
		rv = errno;
out:
	free(p);
	return rv;
}

int
ad_topic_match(const char *pattern, const char *topic)
{
	size_t n = strlen(pattern);

	if (strcmp(pattern, "*") == 0)
		return 1;
	return strncmp(pattern, topic, n) == 0
	    && (topic[n] == '\0' || topic[n] == '.');
}

int
ad_topic_any(char *const *patterns, size_t n, const char *topic)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (ad_topic_match(patterns[i], topic))
			return 1;
	}
	return 0;
}

void
ad_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t            i;

	for (i = 0; i < n; i++) {
		out[2 * i]     = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

int
ad_may_switch_users(void)
{
	struct __user_cap_header_struct hdr
	    = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct caps[2];
	uint32_t want = (1u << CAP_SETUID) | (1u << CAP_SETGID);

	if (geteuid() == 0)
		return 1;
	if (syscall(SYS_capget, &hdr, caps) != 0)
		return 0;
	return (caps[0].effective & want) == want;
}

int
ad_parse_listen(
    const char *s, struct sockaddr_storage *ss, unsigned *sslen, int *loopback)
{
	struct sockaddr_storage st;
	char                    host[64];
	const char             *colon, *h = s;
	size_t                  hlen;
	char                   *end;
	long                    port;

	if (s == NULL || (colon = strrchr(s, ':')) == NULL)
		return -1;
	hlen = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hlen < 2 || s[hlen - 1] != ']')
			return -1;
		h = s + 1;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host) || colon[1] == '\0')
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	errno      = 0;
	port       = strtol(colon + 1, &end, 10);
	if (*end != '\0' || errno != 0 || port < 0 || port > 65535
	    || !isdigit((unsigned char)colon[1]))
		return -1;
	memset(&st, 0, sizeof(st));
	if (s[0] != '[') {
		struct sockaddr_in *in = (struct sockaddr_in *)&st;

		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return -1;
		in->sin_family = AF_INET;
		in->sin_port   = htons((uint16_t)port);
		if (loopback != NULL)
			*loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
		if (sslen != NULL)
			*sslen = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&st;

		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -1;
		in6->sin6_family = AF_INET6;
		in6->sin6_port   = htons((uint16_t)port);
		if (loopback != NULL)
			*loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
		if (sslen != NULL)
			*sslen = sizeof(*in6);
	}
	if (ss != NULL)
		*ss = st;
	return 0;
}

int
ad_listen_word(const char *s)
{
	return ad_parse_listen(s, NULL, NULL, NULL) == 0 ? 0 : -1;
}

/* Does the group database list user uid in gid (as its primary group or
 * a supplementary one)?  Any thread. */
int
ad_user_in_group(uid_t uid, gid_t gid)
{
	struct passwd pw, *found = NULL;
	char          buf[16384];
	gid_t         some[64], *groups = some;
	int           n = 64, i, member = 0;

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) != 0
	    || found == NULL)
		return 0;
	if (pw.pw_gid == gid)
		return 1;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0) {
		/* n now says how many there are. */
		groups = ad_xcalloc((size_t)n, sizeof(*groups));
		if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
			n = 0;
	}
	for (i = 0; i < n && !member; i++)
		member = groups[i] == gid;
	if (groups != some)
		free(groups);
	return member;
}

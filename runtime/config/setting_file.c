#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <agentd/error.h>

#include "common/ops.h"
#include "common/util.h"
#include "config/setting_file.h"

int
ad_setting_file_target(const char *key, char *name, size_t namelen)
{
	size_t n = strlen(key), k = strlen(AD_SETTING_FILE_SUFFIX);

	if (n <= k || strcmp(key + n - k, AD_SETTING_FILE_SUFFIX) != 0
	    || n - k >= namelen)
		return -1;
	memcpy(name, key, n - k);
	name[n - k] = '\0';
	return 0;
}

/* What to do about a file that open() refused with errno e. */
static const char *
open_advice(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return "create it, readable by agentd's user (mode 0600), or "
		       "fix the path";
	case EACCES:
	case EPERM:
		return "make it readable by agentd's user (mode 0600 or 0640, "
		       "owned by that user or its group)";
	default:
		return "name a file agentd can read";
	}
}

/* Why the file open on fd cannot hold a value; NULL if it can. */
static const char *
refused_kind(int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return "cannot be examined (fstat failed): name a regular "
		       "file";
	if (!S_ISREG(st.st_mode))
		return "is not a regular file: name the file holding the "
		       "value";
	/* Anyone could put their own key or endpoint in agentd's hands. */
	if (st.st_mode & S_IWOTH)
		return "is writable by every user: chmod o-w it (mode 0600 "
		       "or 0640)";
	if (st.st_size > AD_SETTING_FILE_MAX + 2)
		return "holds more than 65536 bytes: write only the value in "
		       "it";
	return NULL;
}

/* Up to max bytes of fd into buf; how many, or -1 with errno. */
static ssize_t
read_all(int fd, char *buf, size_t max)
{
	size_t  n = 0;
	ssize_t r;

	while (n < max) {
		r = read(fd, buf + n, max - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	return (ssize_t)n;
}

/* Why n bytes of buf cannot be a value (its newline dropped); NULL if
 * they can. */
static const char *
refused_content(const char *buf, size_t n)
{
	if (n == 0)
		return "is empty: write the value in it (an empty value is "
		       "written in settings { } itself)";
	if (n > AD_SETTING_FILE_MAX)
		return "holds more than 65536 bytes: write only the value in "
		       "it";
	if (memchr(buf, '\0', n) != NULL)
		return "holds a NUL byte: a setting's value is text";
	return NULL;
}

/* Room for the largest value, its "\r\n" and one byte more: a file that
 * fills it is too long, whatever its size said. */
#define READ_MAX (AD_SETTING_FILE_MAX + 3)

int
ad_setting_file_read(
    const char *path, char **value, size_t *len, char *err, size_t errlen)
{
	const char *why;
	char       *buf;
	ssize_t     r;
	size_t      n;
	int         fd, e;

	*value = NULL;
	*len   = 0;
	/* O_NONBLOCK: a FIFO must not hang the load before it is refused. */
	fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		ad_seterr(err, errlen, "cannot read %s: %s: %s", path,
		    strerror(e), open_advice(e));
		return AGENTD_ECONFIG;
	}
	if ((why = refused_kind(fd)) != NULL) {
		close(fd);
		ad_seterr(err, errlen, "%s %s", path, why);
		return AGENTD_ECONFIG;
	}
	buf = ad_xmalloc(READ_MAX);
	r   = read_all(fd, buf, READ_MAX);
	e   = errno;
	close(fd);
	if (r < 0) {
		explicit_bzero(buf, READ_MAX);
		free(buf);
		ad_seterr(err, errlen, "cannot read %s: %s: %s", path,
		    strerror(e), "name a file agentd can read");
		return AGENTD_ECONFIG;
	}
	n = (size_t)r;
	if (n > 0 && buf[n - 1] == '\n') {
		n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
	}
	if ((why = refused_content(buf, n)) != NULL) {
		explicit_bzero(buf, READ_MAX);
		free(buf);
		ad_seterr(err, errlen, "%s %s", path, why);
		return AGENTD_ECONFIG;
	}
	*value = ad_xmalloc(n + 1);
	memcpy(*value, buf, n);
	(*value)[n] = '\0';
	*len        = n;
	explicit_bzero(buf, READ_MAX);
	free(buf);
	return 0;
}

void
ad_setting_file_free(char *value)
{
	if (value == NULL)
		return;
	explicit_bzero(value, strlen(value));
	free(value);
}

int
ad_setting_masked(const struct ad_setting_value *v)
{
	return v->file != NULL || ad_setting_is_secret(v->name);
}

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <agentd/error.h>

#include "common/util.h"
#include "plugin/filecheck.h"

#define HASH_CHUNK (64 * 1024)

static int
stat_error(const char *path, int e, char *err, size_t errlen)
{
	if (e == ENOENT)
		ad_seterr(err, errlen,
		    "%s: No such file or directory: check `plugin =` or "
		    "plugin_dir",
		    path);
	else
		ad_seterr(err, errlen, "%s: %s", path, strerror(e));
	if (e == ENOENT)
		return AGENTD_ENOENT;
	return e == EACCES ? AGENTD_EDENIED : AGENTD_EIO;
}

/*
 * stat, not lstat: a symlink to a plugin is fine as long as what it points
 * at passes.  Whoever could write the file (or its folder) could make the
 * daemon run their code, hence the mode and owner rules.
 */
int
ad_plugin_file_check(const char *path, uid_t owner, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return stat_error(path, errno, err, errlen);
	if (!S_ISREG(st.st_mode)) {
		ad_seterr(err, errlen,
		    "%s is not a regular file: point `plugin =` at the .so",
		    path);
		return AGENTD_EDENIED;
	}
	if ((st.st_mode & 022) != 0) {
		ad_seterr(err, errlen,
		    "%s is group- or world-writable: chmod go-w %s", path,
		    path);
		return AGENTD_EDENIED;
	}
	if (st.st_uid != 0 && st.st_uid != owner) {
		ad_seterr(err, errlen,
		    "%s is owned by uid %lu, not root or the user agentd runs "
		    "as (%lu): chown it",
		    path, (unsigned long)st.st_uid, (unsigned long)owner);
		return AGENTD_EDENIED;
	}
	return 0;
}

/* Feed the whole of fd to ctx; 0 or errno. */
static int
hash_fd(int fd, EVP_MD_CTX *ctx)
{
	unsigned char *buf = ad_xmalloc(HASH_CHUNK);
	ssize_t        n;
	int            rv = 0;

	for (;;) {
		n = read(fd, buf, HASH_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rv = n < 0 ? errno : 0;
			break;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			rv = EIO;
			break;
		}
	}
	free(buf);
	return rv;
}

int
ad_file_sha256(
    const char *path, char out[AD_HASH_LEN], char *err, size_t errlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int  mdlen = 0;
	EVP_MD_CTX   *ctx;
	int           fd, rv;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return stat_error(path, errno, err, errlen);
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		close(fd);
		ad_seterr(err, errlen, "%s: out of memory hashing it", path);
		return AGENTD_ENOMEM;
	}
	rv = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 ? hash_fd(fd, ctx)
	                                                     : EIO;
	if (rv == 0 && EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		rv = EIO;
	EVP_MD_CTX_free(ctx);
	close(fd);
	if (rv != 0) {
		ad_seterr(
		    err, errlen, "cannot hash %s: %s", path, strerror(rv));
		return AGENTD_EIO;
	}
	memcpy(out, "sha256:", 7);
	ad_hex(md, mdlen, out + 7);
	return 0;
}

/* Copy in to out, hashing what was copied.  0 or an errno. */
static int
copy_hashing(int in, int out, EVP_MD_CTX *ctx)
{
	char    buf[65536];
	ssize_t n, w, off;

	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
			return EIO;
		for (off = 0; off < n; off += w) {
			w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno != EINTR)
				return errno;
			if (w < 0)
				w = 0;
		}
	}
	return 0;
}

/*
 * Read-only, and readable by the plugin user: a worker opens its copy
 * before it drops to that user and loads it through /proc/self/fd, which
 * checks the file's own mode again (the 0700 folder keeps everyone else
 * out).  A plugin is code, not a secret.
 */
#define STORE_MODE 0555

int
ad_plugin_store(const char *dir, const char *src, const char *want, char **out,
    char *err, size_t errlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int  mdlen = 0;
	char          hash[AD_HASH_LEN];
	char         *tmp = NULL, *path = NULL, *name;
	EVP_MD_CTX   *ctx = NULL;
	int           in = -1, fd = -1, rv;

	*out = NULL;
	if ((rv = ad_mkdir_p(dir, 0700)) != 0) {
		ad_seterr(err, errlen, "cannot create the plugin store %s: %s",
		    dir, strerror(rv));
		return AGENTD_EIO;
	}
	/* Content-addressed: a build stored already is those bytes (every
	 * reload asks for each agent's plugin; copying is for new ones). */
	if (want != NULL && strncmp(want, "sha256:", 7) == 0) {
		struct stat st;

		name = ad_xasprintf("%s.so", want + 7);
		path = ad_path_join(dir, name);
		free(name);
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			/* Stored by an agentd whose workers had its uid. */
			if ((st.st_mode & 07777) != STORE_MODE)
				chmod(path, STORE_MODE);
			*out = path;
			return 0;
		}
		free(path);
		path = NULL;
	}
	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
		return stat_error(src, errno, err, errlen);
	tmp = ad_path_join(dir, ".incoming.XXXXXX");
	if ((fd = mkstemp(tmp)) < 0 || (ctx = EVP_MD_CTX_new()) == NULL
	    || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		rv = fd < 0 ? errno : ENOMEM;
		goto fail;
	}
	/* The copy is what workers load: it must be what was hashed. */
	if ((rv = copy_hashing(in, fd, ctx)) != 0
	    || (rv = EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 ? 0 : EIO) != 0
	    || (rv = fchmod(fd, STORE_MODE) == 0 ? 0 : errno) != 0
	    || (rv = fsync(fd) == 0 ? 0 : errno) != 0)
		goto fail;
	memcpy(hash, "sha256:", 7);
	ad_hex(md, mdlen, hash + 7);
	if (want != NULL && strcmp(hash, want) != 0) {
		ad_seterr(err, errlen,
		    "%s changed while it was being loaded: install plugins by "
		    "writing a new file and renaming it over the old one, "
		    "then reload again",
		    src);
		close(fd);
		unlink(tmp);
		free(tmp);
		close(in);
		EVP_MD_CTX_free(ctx);
		return AGENTD_EIO;
	}
	name = ad_xasprintf("%s.so", hash + 7);
	path = ad_path_join(dir, name);
	free(name);
	/* Content-addressed: a copy already there is the same bytes. */
	if (rename(tmp, path) != 0) {
		rv = errno;
		goto fail;
	}
	close(fd);
	close(in);
	EVP_MD_CTX_free(ctx);
	free(tmp);
	*out = path;
	return 0;
fail:
	ad_seterr(err, errlen, "cannot copy %s into the plugin store %s: %s",
	    src, dir, strerror(rv));
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	close(in);
	EVP_MD_CTX_free(ctx);
	free(tmp);
	free(path);
	return AGENTD_EIO;
}

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/paths.h"
#include "common/util.h"
#include "supervisor/http_route.h"
#include "supervisor/http_static.h"

/* Larger files are not the console's: skipped, with a warning. */
#define STATIC_MAX_FILE (1 << 20)
#define STATIC_MAX_FILES 64

/* Same origin only, no inline script or style: data from the API is
 * text the page sets, never markup (doc/console.md). */
static const char csp[]
    = "default-src 'self'; script-src 'self'; style-src 'self'; "
      "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
      "base-uri 'none'";

struct static_file {
	char       *name; /* "index.html": no slash */
	const char *ctype;
	char       *data;
	size_t      len;
};

struct ad_http_static {
	struct static_file files[STATIC_MAX_FILES];
	unsigned           n;
};

static const struct {
	const char *ext;
	const char *ctype;
} types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".json", "application/json" },
	{ ".txt", "text/plain; charset=utf-8" },
};

/* The Content-Type of a file's name, or NULL: a file of another kind
 * is not served. */
static const char *
ctype_of(const char *name)
{
	size_t n = strlen(name), i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t e = strlen(types[i].ext);

		if (n > e && strcmp(name + n - e, types[i].ext) == 0)
			return types[i].ctype;
	}
	return NULL;
}

/* The console's directory (caller owns, free with free()). */
static char *
console_dir(void)
{
	const char *env = getenv("AGENTD_CONSOLE_DIR");
	char        self[PATH_MAX];
	ssize_t     n;
	char       *dir, *path;
	struct stat sb;

	if (env != NULL && env[0] != '\0')
		return ad_xstrdup(env);
	/* Run from a build tree, the files sit beside agentd. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		dir     = ad_dirname(self);
		path    = ad_path_join(dir, "console");
		free(dir);
		if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			return path;
		free(path);
	}
	return ad_xstrdup(AGENTD_CONSOLEDIR);
}

/* One file of dir into f: 0, or -1 (not a regular file, too large,
 * unreadable: logged). */
static int
read_one(const char *dir, const char *name, struct static_file *f)
{
	char       *path = ad_path_join(dir, name);
	FILE       *fp   = fopen(path, "rb");
	struct stat sb;
	int         rv = -1;

	if (fp == NULL || fstat(fileno(fp), &sb) != 0
	    || !S_ISREG(sb.st_mode)) {
		if (fp != NULL)
			fclose(fp);
		free(path);
		return -1;
	}
	if (sb.st_size > STATIC_MAX_FILE) {
		ad_warn("http: %s: over %d bytes, not served", path,
		    STATIC_MAX_FILE);
	} else {
		f->data = ad_xmalloc((size_t)sb.st_size + 1);
		f->len  = fread(f->data, 1, (size_t)sb.st_size, fp);
		if (ferror(fp)) {
			ad_warn(
			    "http: cannot read %s: %s", path, strerror(errno));
			free(f->data);
			f->data = NULL;
		} else {
			f->name = ad_xstrdup(name);
			rv      = 0;
		}
	}
	fclose(fp);
	free(path);
	return rv;
}

void
ad_http_static_load(struct ad_http_static **out)
{
	struct ad_http_static *st  = ad_xcalloc(1, sizeof(*st));
	char                  *dir = console_dir();
	DIR                   *d   = opendir(dir);
	struct dirent         *de;

	*out = st;
	if (d == NULL) {
		ad_info("http: no console at %s (%s): / answers 404", dir,
		    strerror(errno));
		free(dir);
		return;
	}
	while ((de = readdir(d)) != NULL && st->n < STATIC_MAX_FILES) {
		struct static_file *f = &st->files[st->n];

		if (de->d_name[0] == '.'
		    || (f->ctype = ctype_of(de->d_name)) == NULL)
			continue;
		if (read_one(dir, de->d_name, f) == 0)
			st->n++;
	}
	closedir(d);
	ad_info("http: the console's %u files from %s", st->n, dir);
	free(dir);
}

void
ad_http_static_free(struct ad_http_static *st)
{
	unsigned i;

	if (st == NULL)
		return;
	for (i = 0; i < st->n; i++) {
		free(st->files[i].name);
		free(st->files[i].data);
	}
	free(st);
}

unsigned
ad_http_static_count(const struct ad_http_static *st)
{
	return st != NULL ? st->n : 0;
}

static const struct static_file *
find(const struct ad_http_static *st, const char *url)
{
	const char *name = strcmp(url, "/") == 0 ? "index.html" : url + 1;
	unsigned    i;

	if (st == NULL || !ad_http_path_ok(url) || strchr(name, '/') != NULL)
		return NULL;
	for (i = 0; i < st->n; i++)
		if (strcmp(st->files[i].name, name) == 0)
			return &st->files[i];
	return NULL;
}

static enum MHD_Result
queue(struct MHD_Connection *conn, unsigned code, const char *ctype,
    const void *data, size_t len, const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result      ret;

	resp = MHD_create_response_from_buffer(
	    len, (void *)data, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "Content-Security-Policy", csp);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	if (allow != NULL)
		MHD_add_response_header(resp, "Allow", allow);
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result
ad_http_static_serve(const struct ad_http_static *st,
    struct MHD_Connection *conn, const char *method, const char *url,
    unsigned *code)
{
	static const char not_found[]
	    = "{\"error\":\"ENOENT\",\"message\":\"no such page (the "
	      "console is at /, the API under /v1/: doc/http.md)\"}\n";
	static const char not_allowed[]
	    = "{\"error\":\"EINVAL\",\"message\":\"the console's files "
	      "take GET\"}\n";
	const struct static_file *f;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		*code = MHD_HTTP_METHOD_NOT_ALLOWED;
		return queue(conn, *code, "application/json", not_allowed,
		    sizeof(not_allowed) - 1, "GET, HEAD");
	}
	if ((f = find(st, url)) == NULL) {
		*code = MHD_HTTP_NOT_FOUND;
		return queue(conn, *code, "application/json", not_found,
		    sizeof(not_found) - 1, NULL);
	}
	*code = MHD_HTTP_OK;
	return queue(conn, *code, f->ctype, f->data, f->len, NULL);
}

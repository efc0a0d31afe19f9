#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include <agentd/error.h>

#include "common/util.h"
#include "plugin/describe.h"

extern char **environ;

/* A plugin that takes longer than this to load is treated as hung. */
#define DESCRIBE_TIMEOUT_MS 10000
/* A descriptor is a few KiB; anything this large is not one. */
#define DESCRIBE_MAX_OUTPUT (1024 * 1024)

/* ---- setting types --------------------------------------------------- */

/* ---- schema ---------------------------------------------------------- */

const struct ad_setting_def *
ad_schema_find(const struct ad_schema *s, const char *name)
{
	size_t i;

	for (i = 0; s != NULL && i < s->nsettings; i++)
		if (strcmp(s->settings[i].name, name) == 0)
			return &s->settings[i];
	return NULL;
}

void
ad_schema_free(struct ad_schema *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nsettings; i++) {
		free(s->settings[i].name);
		free(s->settings[i].default_value);
		free(s->settings[i].description);
	}
	free(s->settings);
	for (i = 0; i < s->ncapabilities; i++)
		free(s->capabilities[i]);
	free(s->capabilities);
	free(s->plugin_name);
	free(s->plugin_version);
	free(s->description);
	free(s);
}

struct ad_schema *
ad_schema_dup(const struct ad_schema *s)
{
	struct ad_schema *d = ad_xcalloc(1, sizeof(*d));
	size_t            i;

	d->plugin_name    = ad_xstrdup_or_null(s->plugin_name);
	d->plugin_version = ad_xstrdup_or_null(s->plugin_version);
	d->description    = ad_xstrdup_or_null(s->description);
	d->abi_major      = s->abi_major;
	d->abi_minor      = s->abi_minor;
	d->nsettings      = s->nsettings;
	if (s->nsettings > 0)
		d->settings = ad_xcalloc(s->nsettings, sizeof(*d->settings));
	for (i = 0; i < s->nsettings; i++) {
		d->settings[i].name = ad_xstrdup_or_null(s->settings[i].name);
		d->settings[i].type = s->settings[i].type;
		d->settings[i].default_value
		    = ad_xstrdup_or_null(s->settings[i].default_value);
		d->settings[i].description
		    = ad_xstrdup_or_null(s->settings[i].description);
	}
	d->ncapabilities = s->ncapabilities;
	if (s->ncapabilities > 0)
		d->capabilities
		    = ad_xcalloc(s->ncapabilities, sizeof(*d->capabilities));
	for (i = 0; i < s->ncapabilities; i++)
		d->capabilities[i] = ad_xstrdup(s->capabilities[i]);
	return d;
}

/* ---- descriptor JSON ------------------------------------------------- */

/* An optional string member: NULL when absent; -1 when of another type. */
static int
json_opt_string(json_t *obj, const char *key, char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = ad_xstrdup(json_string_value(v));
	return 0;
}

/*
 * Defaults travel as strings (the SDK declares them so), but a describe
 * mode that prints a typed JSON value is accepted too: the host parses the
 * text with the setting's type either way.
 */
static int
json_default_text(json_t *v, char **out)
{
	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v))
		*out = ad_xstrdup(json_string_value(v));
	else if (json_is_integer(v))
		*out
		    = ad_xasprintf("%" PRId64, (int64_t)json_integer_value(v));
	else if (json_is_real(v))
		*out = ad_xasprintf("%.17g", json_real_value(v));
	else if (json_is_boolean(v))
		*out = ad_xstrdup(json_is_true(v) ? "true" : "false");
	else
		return -1;
	return 0;
}

static int
setting_from_json(
    json_t *j, size_t idx, struct ad_setting_def *d, char *err, size_t errlen)
{
	const char *name = json_string_value(json_object_get(j, "name"));
	const char *type = json_string_value(json_object_get(j, "type"));

	if (!json_is_object(j) || name == NULL || name[0] == '\0') {
		ad_seterr(err, errlen,
		    "plugin descriptor: settings[%zu] has no \"name\": "
		    "rebuild the plugin against this SDK",
		    idx);
		return AGENTD_EPROTO;
	}
	d->name = ad_xstrdup(name);
	d->type = ad_setting_type_parse(type);
	if (d->type == 0) {
		ad_seterr(err, errlen,
		    "plugin descriptor: setting \"%s\" has unknown type "
		    "\"%s\": expected string, int, double or bool",
		    name, type != NULL ? type : "(none)");
		return AGENTD_EPROTO;
	}
	if (json_default_text(json_object_get(j, "default"), &d->default_value)
	        != 0
	    || json_opt_string(j, "description", &d->description) != 0) {
		ad_seterr(err, errlen,
		    "plugin descriptor: setting \"%s\" has a malformed "
		    "default or description: rebuild the plugin against "
		    "this SDK",
		    name);
		return AGENTD_EPROTO;
	}
	return 0;
}

static int
settings_from_json(json_t *arr, struct ad_schema *s, char *err, size_t errlen)
{
	size_t i;
	int    rv;

	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr)) {
		ad_seterr(err, errlen,
		    "plugin descriptor: \"settings\" is not an array");
		return AGENTD_EPROTO;
	}
	s->settings = ad_xcalloc(json_array_size(arr), sizeof(*s->settings));
	for (i = 0; i < json_array_size(arr); i++) {
		struct ad_setting_def *d = &s->settings[i];

		/* Counted first: ad_schema_free() frees a half-filled one. */
		s->nsettings++;
		rv = setting_from_json(
		    json_array_get(arr, i), i, d, err, errlen);
		if (rv != 0)
			return rv;
		if (ad_schema_find(s, d->name) != d) {
			ad_seterr(err, errlen,
			    "plugin descriptor: setting \"%s\" is declared "
			    "twice: fix the plugin's settings table",
			    d->name);
			return AGENTD_EPROTO;
		}
	}
	return 0;
}

/* "capabilities": what the worker checked, checked again (it is read
 * from another process's output). */
static int
caps_from_json(json_t *arr, struct ad_schema *s, char *err, size_t errlen)
{
	size_t i;

	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr)
	    || json_array_size(arr) > AGENTD_CAPABILITIES_MAX) {
		ad_seterr(err, errlen,
		    "plugin descriptor: \"capabilities\" is not an array of "
		    "at most %d names",
		    AGENTD_CAPABILITIES_MAX);
		return AGENTD_EPROTO;
	}
	s->capabilities
	    = ad_xcalloc(json_array_size(arr) + 1, sizeof(*s->capabilities));
	for (i = 0; i < json_array_size(arr); i++) {
		const char *c = json_string_value(json_array_get(arr, i));

		if (!ad_valid_capability(c)) {
			ad_seterr(err, errlen,
			    "plugin descriptor: capabilities[%zu] is not a "
			    "capability: use 1-%d characters of [a-z0-9_.-]",
			    i, AGENTD_NAME_MAX);
			return AGENTD_EPROTO;
		}
		s->capabilities[s->ncapabilities++] = ad_xstrdup(c);
	}
	return 0;
}

static int
abi_from_json(json_t *abi, struct ad_schema *s, char *err, size_t errlen)
{
	json_t *major = json_object_get(abi, "major");
	json_t *minor = json_object_get(abi, "minor");

	if (!json_is_integer(major) || json_integer_value(major) < 0
	    || (minor != NULL && !json_is_integer(minor))
	    || json_integer_value(minor) < 0) {
		ad_seterr(err, errlen,
		    "plugin descriptor: \"abi\" needs integer \"major\" and "
		    "\"minor\"");
		return AGENTD_EPROTO;
	}
	s->abi_major = (unsigned)json_integer_value(major);
	s->abi_minor = (unsigned)json_integer_value(minor);
	return 0;
}

static int
schema_from_object(json_t *root, struct ad_schema *s, char *err, size_t errlen)
{
	if (!json_is_object(root)) {
		ad_seterr(
		    err, errlen, "plugin descriptor is not a JSON object");
		return AGENTD_EPROTO;
	}
	if (json_opt_string(root, "name", &s->plugin_name) != 0
	    || s->plugin_name == NULL || s->plugin_name[0] == '\0') {
		ad_seterr(err, errlen,
		    "plugin descriptor has no \"name\": set .name in the "
		    "plugin's AGENTD_PLUGIN()");
		return AGENTD_EPROTO;
	}
	if (json_opt_string(root, "version", &s->plugin_version) != 0
	    || json_opt_string(root, "description", &s->description) != 0) {
		ad_seterr(err, errlen,
		    "plugin descriptor: \"version\" and \"description\" "
		    "must be strings");
		return AGENTD_EPROTO;
	}
	if (s->plugin_version == NULL)
		s->plugin_version = ad_xstrdup("");
	if (abi_from_json(json_object_get(root, "abi"), s, err, errlen) != 0)
		return AGENTD_EPROTO;
	if (caps_from_json(
	        json_object_get(root, "capabilities"), s, err, errlen)
	    != 0)
		return AGENTD_EPROTO;
	return settings_from_json(
	    json_object_get(root, "settings"), s, err, errlen);
}

int
ad_schema_from_json(
    const char *json, struct ad_schema **out, char *err, size_t errlen)
{
	struct ad_schema *s;
	json_error_t      jerr;
	json_t           *root;
	int               rv;

	*out = NULL;
	root = json_loads(json != NULL ? json : "", 0, &jerr);
	if (root == NULL) {
		ad_seterr(err, errlen,
		    "plugin descriptor is not valid JSON (line %d column %d: "
		    "%s)",
		    jerr.line, jerr.column, jerr.text);
		return AGENTD_EPROTO;
	}
	s  = ad_xcalloc(1, sizeof(*s));
	rv = schema_from_object(root, s, err, errlen);
	json_decref(root);
	if (rv != 0) {
		ad_schema_free(s);
		return rv;
	}
	*out = s;
	return 0;
}

/* ---- running the worker in describe mode ----------------------------- */

struct capture {
	char  *buf;
	size_t len;
};

struct child {
	pid_t          pid;
	int            fd[2]; /* stdout, stderr read ends; -1 at EOF */
	struct capture out[2];
};

/*
 * The pipes are created close-on-exec: the caller is multithreaded, and a
 * worker that another thread spawns meanwhile must not inherit our write
 * ends, or we would wait for an EOF that never comes.  The child's own
 * copies are made by dup2() in the file actions, which clears the flag.
 */
static int
spawn_worker(const char *worker, const char *plugin, struct child *c)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t          attr;
	sigset_t                   none, dfl;
	int                        out[2], errp[2], rv;
	char                      *argv[]
	    = { (char *)worker, (char *)"--describe", (char *)plugin, NULL };

	if (pipe2(out, O_CLOEXEC) != 0)
		return errno;
	if (pipe2(errp, O_CLOEXEC) != 0) {
		rv = errno;
		close(out[0]);
		close(out[1]);
		return rv;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	/* The daemon blocks or ignores signals the worker must not. */
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(
	    &attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rv = posix_spawn(&c->pid, worker, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	close(errp[1]);
	c->fd[0] = out[0];
	c->fd[1] = errp[0];
	if (rv != 0) {
		close(out[0]);
		close(errp[0]);
		c->fd[0] = c->fd[1] = -1;
	}
	return rv;
}

/* 1 at EOF, 0 if more may come, -1 if the output is too large. */
static int
read_some(int fd, struct capture *cap)
{
	char    chunk[4096];
	ssize_t n = read(fd, chunk, sizeof(chunk));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : 1;
	if (n == 0)
		return 1;
	if (cap->len + (size_t)n > DESCRIBE_MAX_OUTPUT)
		return -1;
	cap->buf = ad_xrealloc(cap->buf, cap->len + (size_t)n + 1);
	memcpy(cap->buf + cap->len, chunk, (size_t)n);
	cap->len += (size_t)n;
	cap->buf[cap->len] = '\0';
	return 0;
}

static void
close_fd(struct child *c, int i)
{
	close(c->fd[i]);
	c->fd[i] = -1;
}

/*
 * Read stdout and stderr until both reach EOF.  0, or AGENTD_ETIMEOUT /
 * AGENTD_ETOOBIG (the caller kills the child).
 */
static int
collect_output(struct child *c)
{
	int64_t deadline_ms = ad_now_ms() + DESCRIBE_TIMEOUT_MS;

	while (c->fd[0] >= 0 || c->fd[1] >= 0) {
		struct pollfd pfd[2];
		int64_t       left_ms = deadline_ms - ad_now_ms();
		int           i, n, r;

		if (left_ms <= 0)
			return AGENTD_ETIMEOUT;
		for (i = 0; i < 2; i++) {
			pfd[i].fd      = c->fd[i]; /* poll() skips -1 */
			pfd[i].events  = POLLIN;
			pfd[i].revents = 0;
		}
		n = poll(pfd, 2, (int)left_ms);
		if (n < 0 && errno != EINTR)
			return AGENTD_EIO;
		for (i = 0; n > 0 && i < 2; i++) {
			if (pfd[i].revents == 0)
				continue;
			r = read_some(c->fd[i], &c->out[i]);
			if (r < 0)
				return AGENTD_ETOOBIG;
			if (r > 0)
				close_fd(c, i);
		}
	}
	return 0;
}

static int
reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return errno;
	return 0;
}

/* The last line with something on it, trimmed, control bytes as '?'. */
static void
last_line(const struct capture *cap, char *out, size_t outlen)
{
	const char *s   = cap->buf != NULL ? cap->buf : "";
	size_t      end = cap->len, start, i, n = 0;

	while (end > 0
	    && (s[end - 1] == '\n' || s[end - 1] == '\r' || s[end - 1] == ' '
	        || s[end - 1] == '\t'))
		end--;
	start = end;
	while (start > 0 && s[start - 1] != '\n')
		start--;
	for (i = start; i < end && n + 1 < outlen; i++)
		out[n++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
	if (outlen > 0)
		out[n] = '\0';
}

static int
explain_exit(const struct child *c, int status, const char *worker,
    const char *plugin, char *err, size_t errlen)
{
	last_line(&c->out[1], err, errlen);
	if (err != NULL && errlen > 0 && err[0] != '\0')
		return AGENTD_EPLUGIN;
	if (WIFSIGNALED(status))
		ad_seterr(err, errlen,
		    "agentd-worker was killed by signal %d while describing "
		    "%s: run \"%s --describe %s\" to see why",
		    WTERMSIG(status), plugin, worker, plugin);
	else
		ad_seterr(err, errlen,
		    "agentd-worker exited with status %d while describing %s "
		    "and printed no reason: run \"%s --describe %s\" to see "
		    "why",
		    WEXITSTATUS(status), plugin, worker, plugin);
	return AGENTD_EPLUGIN;
}

/* Why the child was killed, for the one line the caller reports. */
static void
explain_kill(int rv, const char *plugin, char *err, size_t errlen)
{
	if (rv == AGENTD_ETIMEOUT)
		ad_seterr(err, errlen,
		    "agentd-worker did not describe %s within %d s and was "
		    "killed: check that the plugin does not block while "
		    "loading",
		    plugin, DESCRIBE_TIMEOUT_MS / 1000);
	else if (rv == AGENTD_ETOOBIG)
		ad_seterr(err, errlen,
		    "agentd-worker printed more than %d bytes describing %s "
		    "and was killed: check the plugin",
		    DESCRIBE_MAX_OUTPUT, plugin);
	else
		ad_seterr(err, errlen,
		    "cannot read what agentd-worker printed describing %s, "
		    "so it was killed: try again",
		    plugin);
}

static int
finish(struct child *c, int rv, const char *worker, const char *plugin,
    struct ad_schema **out, char *err, size_t errlen)
{
	char why[AD_ERRLEN];
	int  status = 0, werr;

	if (rv != 0)
		kill(c->pid, SIGKILL);
	werr = reap(c->pid, &status);
	if (rv != 0) {
		explain_kill(rv, plugin, err, errlen);
		return rv;
	}
	if (werr != 0) {
		ad_seterr(err, errlen, "cannot wait for %s: %s", worker,
		    strerror(werr));
		return AGENTD_EIO;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return explain_exit(c, status, worker, plugin, err, errlen);
	rv = ad_schema_from_json(c->out[0].buf, out, why, sizeof(why));
	if (rv != 0)
		ad_seterr(err, errlen, "%s: %s", plugin, why);
	return rv;
}

int
ad_plugin_describe(const char *worker_path, const char *plugin_path,
    struct ad_schema **out, char *err, size_t errlen)
{
	struct child c;
	int          rv;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	/*
	 * POSIX lets posix_spawn() report a failed exec as exit status 127
	 * (glibc does so under valgrind): check first, to say why.
	 */
	rv = access(worker_path, X_OK) == 0 ? 0 : errno;
	if (rv == 0)
		rv = spawn_worker(worker_path, plugin_path, &c);
	if (rv != 0) {
		ad_seterr(err, errlen,
		    "cannot run %s: %s: check the installation or the "
		    "worker path",
		    worker_path, strerror(rv));
		return AGENTD_EIO;
	}
	rv = collect_output(&c);
	if (c.fd[0] >= 0)
		close_fd(&c, 0);
	if (c.fd[1] >= 0)
		close_fd(&c, 1);
	rv = finish(&c, rv, worker_path, plugin_path, out, err, errlen);
	free(c.out[0].buf);
	free(c.out[1].buf);
	return rv;
}

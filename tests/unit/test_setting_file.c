/*
 * A setting's value read from a file (config/setting_file.h): the
 * reading function's rules, the mask, and `NAME_file = "PATH"` in an
 * agent's settings { } as the configuration loader applies it.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <agentd/error.h>

#include "common/util.h"
#include "config/conf.h"
#include "config/setting_file.h"
#include "plugin/describe.h"
#include "tap.h"

static char *tmp;

/* ---- scratch files ---------------------------------------------------- */

/* Write len bytes of text to tmp/rel; its path, caller frees. */
static char *
put_bytes(const char *rel, const char *text, size_t len)
{
	char *path = ad_path_join(tmp, rel);
	char *dir  = ad_dirname(path);
	FILE *f;

	ad_mkdir_p(dir, 0755);
	free(dir);
	f = fopen(path, "w");
	if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(99);
	}
	chmod(path, 0600);
	return path;
}

static char *
put(const char *rel, const char *text)
{
	return put_bytes(rel, text, strlen(text));
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* ---- ad_setting_file_target ------------------------------------------ */

static void
test_target(void)
{
	char name[AGENTD_NAME_MAX + 1];
	char longkey[AGENTD_NAME_MAX + 8];

	ok(ad_setting_file_target("api_key_file", name, sizeof(name)) == 0
	        && strcmp(name, "api_key") == 0,
	    "target: api_key_file names api_key");
	ok(ad_setting_file_target("_file", name, sizeof(name)) != 0,
	    "target: _file alone names nothing");
	ok(ad_setting_file_target("file", name, sizeof(name)) != 0
	        && ad_setting_file_target("api_key", name, sizeof(name)) != 0
	        && ad_setting_file_target("key_files", name, sizeof(name))
	            != 0,
	    "target: a key not ending in _file names nothing");
	memset(longkey, 'a', sizeof(longkey));
	memcpy(longkey + sizeof(longkey) - 6, "_file", 6);
	ok(ad_setting_file_target(longkey, name, sizeof(name)) != 0,
	    "target: a name that does not fit is refused, not cut");
}

/* ---- ad_setting_file_read --------------------------------------------- */

/* Reading text as a file gives want (len bytes). */
static void
reads_as(const char *text, size_t tlen, const char *want, size_t wlen,
    const char *name)
{
	char  *path           = put_bytes("value", text, tlen);
	char   err[AD_ERRLEN] = "";
	char  *v              = NULL;
	size_t len            = 0;
	int    rv = ad_setting_file_read(path, &v, &len, err, sizeof(err));

	ok(rv == 0 && len == wlen && v != NULL && memcmp(v, want, wlen) == 0
	        && v[wlen] == '\0',
	    name);
	if (rv != 0)
		diag("  %s", err);
	ad_setting_file_free(v);
	unlink(path);
	free(path);
}

/* Reading path is refused with one line holding what (and the path). */
static void
refused(const char *path, const char *what, const char *name)
{
	char   err[AD_ERRLEN] = "";
	char  *v              = (char *)"untouched";
	size_t len            = 7;
	int    rv = ad_setting_file_read(path, &v, &len, err, sizeof(err));

	ok(rv == AGENTD_ECONFIG && v == NULL && len == 0
	        && strchr(err, '\n') == NULL && strstr(err, path) != NULL,
	    name);
	like(err, what, name);
}

static void
refused_text(const char *text, size_t len, const char *what, const char *name)
{
	char *path = put_bytes("value", text, len);

	refused(path, what, name);
	unlink(path);
	free(path);
}

static void
test_read_content(void)
{
	char *big = ad_xmalloc(AD_SETTING_FILE_MAX + 2);

	reads_as(
	    "sk-123\n", 7, "sk-123", 6, "read: one trailing newline dropped");
	reads_as("sk-123", 6, "sk-123", 6, "read: no newline: as it is");
	reads_as("sk-123\r\n", 8, "sk-123", 6, "read: \\r\\n dropped too");
	reads_as(
	    "sk-123\n\n", 8, "sk-123\n", 7, "read: only one newline dropped");
	reads_as("-----BEGIN-----\nabc\n-----END-----\n", 34,
	    "-----BEGIN-----\nabc\n-----END-----", 33,
	    "read: lines inside a value are kept (a PEM key)");
	reads_as(" spaced \t\n", 10, " spaced \t", 9,
	    "read: other white space is the value's");
	memset(big, 'k', AD_SETTING_FILE_MAX);
	big[AD_SETTING_FILE_MAX]     = '\r';
	big[AD_SETTING_FILE_MAX + 1] = '\n';
	reads_as(big, AD_SETTING_FILE_MAX + 2, big, AD_SETTING_FILE_MAX,
	    "read: 65536 bytes and a newline: the largest value");
	big[AD_SETTING_FILE_MAX] = 'k';
	refused_text(big, AD_SETTING_FILE_MAX + 1, "more than 65536 bytes",
	    "read: 65537 bytes refused");
	free(big);
	refused_text("", 0, "is empty", "read: an empty file refused");
	refused_text("\n", 1, "is empty", "read: a newline alone is empty");
	refused_text("ab\0cd", 5, "NUL byte", "read: a NUL byte refused");
}

static void
test_read_big(void)
{
	char *path = ad_path_join(tmp, "huge");
	FILE *f    = fopen(path, "w");

	/* A sparse 1 GiB file: refused from its size, not read through. */
	if (f == NULL || fseek(f, 1L << 30, SEEK_SET) != 0
	    || fputc('x', f) == EOF || fclose(f) != 0) {
		perror(path);
		exit(99);
	}
	chmod(path, 0600);
	refused(path, "more than 65536 bytes", "read: a huge file refused");
	unlink(path);
	free(path);
}

/*
 * A file agentd's user may not read.  Root reads any mode, so as root
 * the read is made as nobody (the effective ids only, given back after).
 */
static void
unreadable(const char *path)
{
	const char *name = "read: an unreadable file refused, with errno's "
	                   "words";
	int         root = geteuid() == 0;

	if (!root)
		chmod(path, 0000);
	/* The folder may be entered: what is refused is the file (0600). */
	chmod(tmp, 0711);
	if (root && (setegid(65534) != 0 || seteuid(65534) != 0)) {
		perror("seteuid");
		exit(99);
	}
	refused(path, "Permission denied: make it readable by agentd's user",
	    name);
	if (root && (seteuid(0) != 0 || setegid(0) != 0)) {
		perror("seteuid");
		exit(99);
	}
	chmod(tmp, 0700);
}

static void
test_read_kind(void)
{
	char *missing = ad_path_join(tmp, "nosuch");
	char *fifo    = ad_path_join(tmp, "fifo");
	char *target  = put("target", "via-link\n");
	char *link    = ad_path_join(tmp, "link");
	char *wide    = put("wide", "anyone\n");

	refused(missing, "No such file or directory",
	    "read: a missing file refused, with errno's words");
	refused(tmp, "not a regular file", "read: a directory refused");
	if (mkfifo(fifo, 0600) != 0) {
		perror(fifo);
		exit(99);
	}
	/* Would hang here if the FIFO were opened for reading and read. */
	refused(fifo, "not a regular file", "read: a FIFO refused at once");
	if (symlink(target, link) != 0) {
		perror(link);
		exit(99);
	}
	{
		char   err[AD_ERRLEN];
		char  *v = NULL;
		size_t len;

		ok(ad_setting_file_read(link, &v, &len, err, sizeof(err)) == 0
		        && strcmp(v, "via-link") == 0,
		    "read: a symlink to a regular file is read");
		ad_setting_file_free(v);
	}
	chmod(wide, 0666);
	refused(wide, "writable by every user: chmod o-w",
	    "read: a world-writable file refused");
	chmod(wide, 0640);
	{
		char   err[AD_ERRLEN];
		char  *v = NULL;
		size_t len;

		ok(ad_setting_file_read(wide, &v, &len, err, sizeof(err)) == 0,
		    "read: group-readable (0640) is fine");
		ad_setting_file_free(v);
	}
	chmod(wide, 0600);
	unreadable(wide);
	unlink(wide);
	unlink(link);
	unlink(fifo);
	unlink(target);
	free(wide);
	free(link);
	free(target);
	free(fifo);
	free(missing);
}

/* ---- ad_setting_masked ------------------------------------------------ */

static void
test_masked(void)
{
	struct ad_setting_value v
	    = { .name = (char *)"region", .type = AGENTD_SETTING_STRING };

	ok(!ad_setting_masked(&v), "masked: region, written inline: shown");
	v.file = (char *)"/etc/agentd/region.txt";
	ok(ad_setting_masked(&v), "masked: region, read from a file: masked");
	v.file = NULL;
	v.name = (char *)"api_token";
	ok(ad_setting_masked(&v),
	    "masked: api_token, written inline: masked by its name");
}

/* ---- NAME_file in settings { } ----------------------------------------- */

/* greeting and token strings, limit an int, and token_file its own. */
static const char schema_json[]
    = "{\"name\":\"keys\",\"version\":\"1.0.0\",\"description\":\"test\","
      "\"abi\":{\"major\":1,\"minor\":0},\"settings\":["
      "{\"name\":\"greeting\",\"type\":\"string\",\"default\":\"hello\"},"
      "{\"name\":\"limit\",\"type\":\"int\",\"default\":\"1\"},"
      "{\"name\":\"token\",\"type\":\"string\",\"default\":\"\"},"
      "{\"name\":\"token_file\",\"type\":\"string\",\"default\":\"\"}]}";

static int
lookup(void *arg, const struct ad_agent_conf *a, struct ad_schema **schema,
    char *err, size_t errlen)
{
	(void)arg;
	(void)a;
	return ad_schema_from_json(schema_json, schema, err, errlen);
}

/* Load a.conf holding one agent "k" whose settings { } hold body. */
static int
load(const char *body, int tolerant, struct ad_config **c, char *err)
{
	struct ad_config_opts o    = { .default_state_dir = "/var/lib/agentd",
		   .default_run_dir                       = "/run/agentd",
		   .default_plugin_dir                    = "/usr/lib/agentd",
		   .tolerant                              = tolerant };
	char                 *dir  = ad_path_join(tmp, "conf");
	char                 *text = ad_xasprintf("agent \"k\" {\n"
	                                                          "    plugin = \"keys.so\"\n"
	                                                          "    settings {\n"
	                                                          "%s"
	                                                          "    }\n"
	                                                          "}\n",
	                    body);
	char                 *path;
	FILE                 *f;
	int                   rv;

	ad_mkdir_p(dir, 0755);
	path = ad_path_join(dir, "a.conf");
	f    = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(99);
	}
	err[0] = '\0';
	rv     = ad_config_load(dir, &o, lookup, NULL, c, err, AD_ERRLEN);
	free(path);
	free(text);
	free(dir);
	return rv;
}

static const struct ad_setting_value *
setting(const struct ad_config *c, const char *name)
{
	return ad_agent_setting(ad_config_agent(c, "k"), name);
}

static void
test_conf_reads(void)
{
	struct ad_config              *c = NULL;
	const struct ad_setting_value *g, *t;
	struct ad_agent_conf          *d;
	char                           err[AD_ERRLEN];
	char                          *want = ad_path_join(tmp, "conf/g.txt");
	char                          *gf   = put("conf/g.txt", "hi there\n");

	ok(load("        greeting_file = \"g.txt\"\n"
	        "        token_file = \"/run/keys/t\"\n",
	       0, &c, err)
	        == 0,
	    "conf: greeting_file loads");
	if (c == NULL) {
		diag("  %s", err);
		free(gf);
		free(want);
		return;
	}
	g = setting(c, "greeting");
	ok(g != NULL && strcmp(g->v.s, "hi there") == 0,
	    "conf: greeting holds the file's content");
	ok(g != NULL && g->file != NULL && strcmp(g->file, want) == 0,
	    "conf: a relative path starts at the .conf's directory");
	ok(g != NULL && ad_setting_masked(g), "conf: greeting is masked");
	ok(setting(c, "greeting_file") == NULL,
	    "conf: no greeting_file setting reaches the plugin");
	t = setting(c, "token_file");
	ok(t != NULL && strcmp(t->v.s, "/run/keys/t") == 0 && t->file == NULL,
	    "conf: a declared token_file is the plugin's own: as written, "
	    "not read");
	d = ad_agent_conf_dup(ad_config_agent(c, "k"));
	ok(ad_agent_conf_same(d, ad_config_agent(c, "k"))
	        && strcmp(ad_agent_setting(d, "greeting")->file, want) == 0,
	    "conf: a copy keeps the value and its file");
	ad_agent_conf_free(d);
	ad_config_free(c);
	unlink(gf);
	free(gf);
	free(want);
}

/* What a reload compares: the file's bytes and which file. */
static void
test_conf_same(void)
{
	struct ad_config *a = NULL, *b = NULL;
	char              err[AD_ERRLEN];
	char             *g1 = put("conf/g1.txt", "one\n");
	char             *g2 = put("conf/g2.txt", "one");

	load("        greeting_file = \"g1.txt\"\n", 0, &a, err);
	load("        greeting_file = \"g1.txt\"\n", 0, &b, err);
	ok(a != NULL && b != NULL
	        && ad_agent_conf_same(
	            ad_config_agent(a, "k"), ad_config_agent(b, "k")),
	    "same: the file unchanged: the same configuration");
	ad_config_free(b);
	free(put("conf/g1.txt", "two\n"));
	load("        greeting_file = \"g1.txt\"\n", 0, &b, err);
	ok(b != NULL
	        && !ad_agent_conf_same(
	            ad_config_agent(a, "k"), ad_config_agent(b, "k")),
	    "same: the file's content changed: a changed configuration");
	ad_config_free(b);
	load("        greeting_file = \"g2.txt\"\n", 0, &b, err);
	ok(b != NULL
	        && !ad_agent_conf_same(
	            ad_config_agent(a, "k"), ad_config_agent(b, "k")),
	    "same: the same bytes from another file: changed");
	ad_config_free(b);
	load("        greeting = \"one\"\n", 0, &b, err);
	ok(b != NULL
	        && !ad_agent_conf_same(
	            ad_config_agent(a, "k"), ad_config_agent(b, "k")),
	    "same: the same bytes written inline: changed");
	ad_config_free(b);
	ad_config_free(a);
	unlink(g1);
	unlink(g2);
	free(g1);
	free(g2);
}

/* Loading body is refused with one line naming a.conf:line and what. */
static void
conf_refused(
    const char *body, const char *where, const char *what, const char *name)
{
	struct ad_config *c = NULL;
	char              err[AD_ERRLEN];
	int               rv = load(body, 0, &c, err);

	ok(rv == AGENTD_ECONFIG && c == NULL && strchr(err, '\n') == NULL,
	    name);
	like(err, where, name);
	like(err, what, name);
	ad_config_free(c);
}

/* A setting of another type is read from a file too, as its type. */
static void
test_conf_typed(void)
{
	struct ad_config              *c = NULL;
	const struct ad_setting_value *l;
	char                           err[AD_ERRLEN];
	char                          *nf = put("conf/n.txt", "42\n");
	int rv = load("        limit_file = \"n.txt\"\n", 0, &c, err);

	l = rv == 0 ? setting(c, "limit") : NULL;
	ok(l != NULL && l->type == AGENTD_SETTING_INT && l->v.i == 42
	        && l->file != NULL && strstr(l->file, "conf/n.txt") != NULL,
	    "an int setting's file: its integer, and the file kept");
	ad_config_free(c);
	free(nf);
}

static void
test_conf_errors(void)
{
	char *gf = put("conf/g.txt", "hi\n");

	conf_refused("        limit_file = \"g.txt\"\n",
	    "a.conf:4: agent \"k\": setting \"limit_file\": what ",
	    "conf/g.txt holds must be a whole number (the plugin declares "
	    "\"limit\" int)",
	    "errors: an int setting's file that holds no integer");
	conf_refused("        greeting = \"x\"\n"
	             "        greeting_file = \"g.txt\"\n",
	    "a.conf:5: agent \"k\": setting \"greeting_file\"",
	    "and \"greeting\" (line 4) both give \"greeting\": keep one",
	    "errors: NAME and NAME_file both given");
	conf_refused("        greeting_file = \"nosuch.txt\"\n",
	    "a.conf:4: agent \"k\": setting \"greeting_file\": cannot read ",
	    "conf/nosuch.txt: No such file or directory: create it",
	    "errors: a missing file: file:line, agent, setting, path, why");
	conf_refused("        greeting_file = \"\"\n",
	    "a.conf:4: agent \"k\": setting \"greeting_file\" is empty",
	    "name the file holding \"greeting\"", "errors: an empty path");
	conf_refused("        colour_file = \"g.txt\"\n",
	    "a.conf:4: agent \"k\": unknown setting \"colour_file\"",
	    "knows greeting, limit, token, token_file",
	    "errors: NAME_file for a NAME the plugin does not declare");
	unlink(gf);
	free(gf);
}

/* A reload (tolerant) leaves out the agent whose file cannot be read. */
static void
test_conf_tolerant(void)
{
	struct ad_config *c = NULL;
	char              err[AD_ERRLEN];

	ok(load("        greeting_file = \"nosuch.txt\"\n", 1, &c, err) == 0
	        && c != NULL && c->nagents == 0 && c->nproblems == 1
	        && strstr(c->problems[0].err, "nosuch.txt") != NULL,
	    "tolerant: the agent is left out, the problem says why");
	ad_config_free(c);
}

int
main(void)
{
	const char *t = getenv("TMPDIR");

	plan(4 + 29 + 3 + 7 + 4 + 15 + 1 + 1);
	tmp = ad_xasprintf(
	    "%s/test_setting_file.XXXXXX", t != NULL && t[0] ? t : "/tmp");
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	test_target();
	test_read_content();
	test_read_big();
	test_read_kind();
	test_masked();
	test_conf_reads();
	test_conf_same();
	test_conf_typed();
	test_conf_errors();
	test_conf_tolerant();
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(tmp);
	return done_testing();
}

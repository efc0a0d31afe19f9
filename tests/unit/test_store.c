#include "config.h"

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include <agentd/error.h>

#include "common/util.h"
#include "store/store.h"
#include "tap.h"

static char tmp[] = "/tmp/agentd-test-store-XXXXXX";

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static struct ad_agent_record
sample(char *name, char *version)
{
	struct ad_agent_record r = {
		.name           = name,
		.plugin_path    = "/usr/lib/agentd/plugins/pricing.so",
		.plugin_hash    = "sha256:00ff",
		.plugin_version = version,
		.conf_file      = "/etc/agentd/conf.d/pricing.conf",
		.loaded_ms      = 1700000000123LL,
	};
	return r;
}

static struct ad_store *
open_ok(const char *dir, const char *name)
{
	struct ad_store *s              = NULL;
	char             err[AD_ERRLEN] = "";

	if (!ok(ad_store_open(dir, &s, err, sizeof(err)) == 0, name))
		diag("  %s", err);
	return s;
}

static int
mode_of(const char *dir, const char *rel)
{
	char       *p = ad_path_join(dir, rel);
	struct stat st;
	int         m = stat(p, &st) == 0 ? (int)(st.st_mode & 07777) : -1;

	free(p);
	return m;
}

static void
test_round_trip(struct ad_store *s)
{
	struct ad_agent_record  a   = sample("pricing", "1.2.0");
	struct ad_agent_record  b   = sample("ceo", "0.9.1");
	struct ad_agent_record *got = NULL;

	is_int(ad_store_agent_put(s, &a), 0, "put pricing");
	is_int(ad_store_agent_put(s, &b), 0, "put ceo");
	is_int(ad_store_agent_get(s, "pricing", &got), 0, "get pricing");
	if (got == NULL) {
		ok(0, "record read back");
		return;
	}
	is_str(got->name, "pricing", "name read back");
	is_str(got->plugin_path, a.plugin_path, "plugin path read back");
	is_str(got->plugin_hash, a.plugin_hash, "hash read back");
	is_str(got->plugin_version, "1.2.0", "version read back");
	is_str(got->conf_file, a.conf_file, "conf file read back");
	ok(got->loaded_ms == a.loaded_ms, "loaded_ms read back");
	ad_agent_record_free(got);
}

static void
test_missing_and_replace(struct ad_store *s)
{
	struct ad_agent_record  a   = sample("pricing", "1.3.0");
	struct ad_agent_record  bad = sample("no/slash", "1");
	struct ad_agent_record *got = NULL;

	is_int(ad_store_agent_get(s, "nobody", &got), AGENTD_ENOENT,
	    "get of a missing name is ENOENT");
	is_int(ad_store_agent_put(s, &a), 0, "put replaces a record");
	is_int(ad_store_agent_get(s, "pricing", &got), 0, "get replaced");
	is_str(got ? got->plugin_version : NULL, "1.3.0",
	    "the replacement is what reads back");
	ad_agent_record_free(got);
	is_int(ad_store_agent_put(s, &bad), AGENTD_EINVAL,
	    "a name that is not an agent name is refused");
}

static void
test_null_fields(struct ad_store *s)
{
	struct ad_agent_record  r   = { .name = "bare", .loaded_ms = -5 };
	struct ad_agent_record *got = NULL;

	is_int(ad_store_agent_put(s, &r), 0, "put a record of NULL fields");
	is_int(ad_store_agent_get(s, "bare", &got), 0, "get it");
	ok(got && got->plugin_path == NULL && got->plugin_hash == NULL
	        && got->plugin_version == NULL && got->conf_file == NULL
	        && got->loaded_ms == -5,
	    "NULL fields read back as NULL");
	ad_agent_record_free(got);
	is_int(ad_store_agent_del(s, "bare"), 0, "del it");
}

struct walk {
	char             names[256];
	int              stop_at;
	int              seen;
	struct ad_store *s;
};

static int
walk_fn(void *arg, const struct ad_agent_record *r)
{
	struct walk *w = arg;

	strcat(w->names, r->name);
	strcat(w->names, ",");
	if (++w->seen == w->stop_at)
		return 42;
	return 0;
}

/* The store promises fn may write: the walk holds no transaction. */
static int
walk_writes(void *arg, const struct ad_agent_record *r)
{
	struct walk           *w = arg;
	struct ad_agent_record c = *r;

	c.loaded_ms = 7;
	w->seen++;
	return ad_store_agent_put(w->s, &c);
}

static void
test_each(struct ad_store *s)
{
	struct walk             w   = { .stop_at = 0 };
	struct ad_agent_record *got = NULL;

	is_int(ad_store_agent_each(s, walk_fn, &w), 0, "each walks all");
	is_str(w.names, "ceo,pricing,", "each goes in name order");
	memset(&w, 0, sizeof(w));
	w.stop_at = 1;
	is_int(ad_store_agent_each(s, walk_fn, &w), 42,
	    "each returns what stopped it");
	is_str(w.names, "ceo,", "each stops at a non-zero return");
	memset(&w, 0, sizeof(w));
	w.s = s;
	is_int(ad_store_agent_each(s, walk_writes, &w), 0,
	    "fn may put records during each");
	ad_store_agent_get(s, "ceo", &got);
	ok(w.seen == 2 && got && got->loaded_ms == 7,
	    "the writes made during each landed");
	ad_agent_record_free(got);
}

static void
test_del(struct ad_store *s)
{
	struct ad_agent_record *got = NULL;

	is_int(ad_store_agent_del(s, "ceo"), 0, "del ceo");
	is_int(ad_store_agent_get(s, "ceo", &got), AGENTD_ENOENT,
	    "get after del is ENOENT");
	is_int(ad_store_agent_del(s, "ceo"), AGENTD_ENOENT,
	    "del of a missing name is ENOENT");
}

struct worker {
	struct ad_store *s;
	int              id;
	int              failures;
};

static void *
worker_run(void *arg)
{
	struct worker          *w = arg;
	struct ad_agent_record *got;
	char                    name[32];

	snprintf(name, sizeof(name), "worker-%d", w->id);
	for (int i = 0; i < 25; i++) {
		struct ad_agent_record r = sample(name, "1");

		r.loaded_ms = i;
		got         = NULL;
		if (ad_store_agent_put(w->s, &r) != 0
		    || ad_store_agent_get(w->s, name, &got) != 0
		    || got->loaded_ms != i)
			w->failures++;
		ad_agent_record_free(got);
	}
	return NULL;
}

/* The supervisor calls the store from several threads at once. */
static void
test_threads(struct ad_store *s)
{
	struct worker w[4];
	pthread_t     t[4];
	int           failures = 0;
	char          name[32];

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker) { .s = s, .id = i };
		pthread_create(&t[i], NULL, worker_run, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		failures += w[i].failures;
		snprintf(name, sizeof(name), "worker-%d", i);
		ad_store_agent_del(s, name);
	}
	is_int(failures, 0, "four threads put and get without a failure");
}

static void
test_reopen(const char *dir)
{
	struct ad_store        *s    = open_ok(dir, "reopen after close");
	struct ad_agent_record *got  = NULL;
	int                     dead = -1;

	if (s == NULL)
		return;
	is_int(ad_store_agent_get(s, "pricing", &got), 0,
	    "a record survives close and reopen");
	is_str(got ? got->plugin_version : NULL, "1.3.0",
	    "and holds the last value written");
	ad_agent_record_free(got);
	is_int(ad_store_reader_check(s, &dead), 0, "reader_check succeeds");
	is_int(dead, 0, "no dead readers on a clean environment");
	ad_store_close(s);
}

/* A map grown (as the audit writer does) stays grown after a restart. */
static void
test_map_kept(const char *dir)
{
	struct ad_store       *s = open_ok(dir, "open to grow the map");
	MDB_envinfo            info;
	size_t                 big = (size_t)256 << 20;
	struct ad_agent_record r = { .name = "grown", .plugin_path = "/x.so" };

	if (s == NULL)
		return;
	mdb_env_info(ad_store_env(s), &info);
	ok(info.me_mapsize >= ((size_t)64 << 20),
	    "the map is at least 64 MiB");
	pthread_rwlock_wrlock(ad_store_gate(s));
	mdb_env_set_mapsize(ad_store_env(s), big);
	pthread_rwlock_unlock(ad_store_gate(s));
	/* A committed write makes LMDB record the new size in the file. */
	is_int(ad_store_agent_put(s, &r), 0, "a write after growing");
	ad_store_close(s);
	if ((s = open_ok(dir, "reopen after growing")) == NULL)
		return;
	mdb_env_info(ad_store_env(s), &info);
	ok(info.me_mapsize >= big, "the grown map size is kept on reopen");
	ad_store_close(s);
}

static void
test_not_a_dir(const char *dir)
{
	char            *file           = ad_path_join(dir, "plain");
	FILE            *f              = fopen(file, "w");
	struct ad_store *s              = NULL;
	char             err[AD_ERRLEN] = "";

	if (f)
		fclose(f);
	ok(ad_store_open(file, &s, err, sizeof(err)) != 0 && s == NULL,
	    "a state dir that is a regular file is refused");
	like(err, file, "the message names the state dir");
	like(err, "check --state-dir", "the message says what to do");
	diag("%s", err);
	free(file);
}

/* Root ignores modes, so only another user can meet EACCES here. */
static void
test_denied(const char *dir)
{
	char            *ro             = ad_path_join(dir, "ro");
	struct ad_store *s              = NULL;
	char             err[AD_ERRLEN] = "";

	if (geteuid() == 0) {
		for (int i = 0; i < 2; i++)
			printf(
			    "ok %d # SKIP root is never denied\n", ++tap_run_);
		free(ro);
		return;
	}
	mkdir(ro, 0500);
	ok(ad_store_open(ro, &s, err, sizeof(err)) != 0 && s == NULL,
	    "a state dir we cannot write is refused");
	like(err, "Permission denied: check --state-dir or the owner of",
	    "the message says what to do");
	diag("%s", err);
	free(ro);
}

/*
 * Read (bytes == NULL: into *got) or write meta/layout with raw LMDB
 * calls, as a future release might have left it.
 */
static int
raw_layout(const char *dir, const void *bytes, size_t len, int *got)
{
	char    *db  = ad_path_join(dir, "db");
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi  dbi;
	MDB_val  key = { 6, "layout" }, val = { len, (void *)bytes };
	int      rc;

	if ((rc = mdb_env_create(&env)) == 0
	    && (rc = mdb_env_set_maxdbs(env, 16)) == 0
	    && (rc = mdb_env_open(env, db, 0, 0600)) == 0
	    && (rc = mdb_txn_begin(env, NULL, 0, &txn)) == 0) {
		if ((rc = mdb_dbi_open(txn, "meta", 0, &dbi)) == 0)
			rc = bytes ? mdb_put(txn, dbi, &key, &val, 0)
			           : mdb_get(txn, dbi, &key, &val);
		if (rc == 0 && bytes == NULL)
			*got = val.mv_size == 1 ? *(unsigned char *)val.mv_data
			                        : -1;
		if (rc == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	if (env)
		mdb_env_close(env);
	free(db);
	return rc;
}

static int
set_layout(const char *dir, const void *bytes, size_t len)
{
	return raw_layout(dir, bytes, len, NULL);
}

static void
test_layout(const char *dir)
{
	static const unsigned char three[] = { 0x03 }; /* msgpack fixint 3 */
	static const unsigned char junk[]  = { 0xc1 }; /* never used */
	static const unsigned char one[]   = { 0x01 };
	struct ad_store           *s       = NULL;
	char                       err[AD_ERRLEN] = "";
	int                        got            = -1;

	raw_layout(dir, NULL, 0, &got);
	is_int(got, 2, "a new environment records layout 2 (msgpack 0x02)");
	is_int(
	    set_layout(dir, three, sizeof(three)), 0, "raw write of layout 3");
	ok(ad_store_open(dir, &s, err, sizeof(err)) != 0 && s == NULL,
	    "a newer layout is refused");
	like(err, "layout 3", "the message names the layout found");
	diag("%s", err);
	is_int(set_layout(dir, junk, sizeof(junk)), 0, "raw write of junk");
	err[0] = '\0';
	ok(ad_store_open(dir, &s, err, sizeof(err)) != 0 && s == NULL,
	    "an unreadable layout is refused");
	like(err, "unreadable layout", "the message says so");
	diag("%s", err);
	set_layout(dir, one, sizeof(one));
	s = open_ok(dir, "layout 1 opens");
	ad_store_close(s);
	got = -1;
	raw_layout(dir, NULL, 0, &got);
	is_int(got, 2,
	    "and is layout 2 afterwards (an agentd of layout 1 refuses it)");
}

static int
collect_version(void *arg, const struct ad_agent_record *r)
{
	char *seen = arg;

	strcat(seen, r->plugin_version);
	strcat(seen, r->by != NULL ? r->by : "?");
	strcat(seen, ";");
	return 0;
}

/* One record per agent and plugin hash; "price" does not list "pricing". */
static void
test_versions(struct ad_store *s)
{
	struct ad_agent_record a         = sample("pricing", "1.0");
	struct ad_agent_record b         = sample("pricing", "2.0");
	struct ad_agent_record c         = sample("price", "9.9");
	char                   seen[256] = "";

	a.plugin_hash = "sha256:aa";
	a.by          = "agentd start";
	b.plugin_hash = "sha256:bb";
	b.by          = "agentctl (root)";
	c.plugin_hash = "sha256:aa";
	is_int(ad_store_version_put(s, &a), 0, "versions: put 1.0");
	is_int(ad_store_version_put(s, &b), 0, "versions: put 2.0");
	is_int(ad_store_version_put(s, &c), 0, "versions: another agent");
	a.by = "SIGHUP"; /* loaded again: the record is replaced */
	is_int(ad_store_version_put(s, &a), 0, "versions: put 1.0 again");
	is_int(ad_store_version_each(s, "pricing", collect_version, seen), 0,
	    "versions: walk");
	is_str(seen, "1.0SIGHUP;2.0agentctl (root);",
	    "versions: one per hash, latest load, only this agent's");
	seen[0] = '\0';
	ad_store_version_each(s, "price", collect_version, seen);
	is_str(seen, "9.9?;", "versions: price is not pricing");
	a.plugin_hash = NULL;
	is_int(ad_store_version_put(s, &a), AGENTD_EINVAL,
	    "versions: a record without hash is refused");
}

/* The schedules database: a record per agent and schedule. */
static void
test_schedules(struct ad_store *s)
{
	struct ad_schedule_record r = { "every 10m", 1000, 601000 }, got;

	is_int(ad_store_schedule_get(s, "shop", "stock", &got), AGENTD_ENOENT,
	    "schedules: none yet");
	is_int(ad_store_schedule_put(s, "shop", "stock", &r), 0,
	    "schedules: put");
	r.spec = "0 3 * * * Europe/Berlin";
	is_int(ad_store_schedule_put(s, "shop", "nightly", &r), 0,
	    "schedules: another of the same agent");
	r.spec = "every 1s";
	is_int(ad_store_schedule_put(s, "shopx", "stock", &r), 0,
	    "schedules: the same name in another agent");
	ok(ad_store_schedule_get(s, "shop", "stock", &got) == 0
	        && strcmp(got.spec, "every 10m") == 0
	        && got.last_due_ms == 1000 && got.next_due_ms == 601000,
	    "schedules: read back, its own");
	free(got.spec);
	is_int(ad_store_schedule_del(s, "shop", "stock"), 0,
	    "schedules: removed");
	is_int(ad_store_schedule_get(s, "shop", "stock", &got), AGENTD_ENOENT,
	    "schedules: gone");
	is_int(ad_store_schedule_del(s, "shop", "stock"), 0,
	    "schedules: removing what is gone is no error");
	ok(ad_store_schedule_get(s, "shopx", "stock", &got) == 0
	        && strcmp(got.spec, "every 1s") == 0,
	    "schedules: the other agent's stays");
	free(got.spec);
	is_int(ad_store_schedule_put(s, "bad name", "x", &r), AGENTD_EINVAL,
	    "schedules: a bad agent name is refused");
	{
		struct ad_schedule_change v[] = { { "shop", "a", &r },
			{ "shop", "b", &r }, { "bad name", "c", &r } };

		is_int(ad_store_schedule_apply(s, v, 3), AGENTD_EINVAL,
		    "schedules: a batch with a bad name is refused");
		is_int(ad_store_schedule_get(s, "shop", "a", &got),
		    AGENTD_ENOENT, "schedules: and none of it is written");
		is_int(ad_store_schedule_apply(s, v, 2), 0,
		    "schedules: a batch of two in one transaction");
		ok(ad_store_schedule_get(s, "shop", "b", &got) == 0
		        && got.next_due_ms == 601000,
		    "schedules: both written");
		free(got.spec);
	}
}

int
main(void)
{
	struct ad_store *s;

	plan(54 + 8 + 15);
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	s = open_ok(tmp, "open a new state dir");
	if (s == NULL)
		return 1;
	is_int(mode_of(tmp, "db"), 0700, "db folder is mode 0700");
	is_int(mode_of(tmp, "db/data.mdb"), 0600, "data.mdb is mode 0600");
	test_round_trip(s);
	test_missing_and_replace(s);
	test_null_fields(s);
	test_each(s);
	test_del(s);
	test_threads(s);
	test_versions(s);
	test_schedules(s);
	ad_store_close(s);
	test_reopen(tmp);
	test_map_kept(tmp);
	test_not_a_dir(tmp);
	test_denied(tmp);
	test_layout(tmp);
	nftw(tmp, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}

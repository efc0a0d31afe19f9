/*
 * flow - durable workflows, built on the public SDK only.
 *
 * Definitions are the *.flow files of the `definitions` folder, read at
 * init and on {"op": "reload"}; a bad one refuses the whole set and the
 * previous one keeps serving.  Runs are started, read, listed and
 * cancelled by request (doc/workflows.md); their records live in this
 * agent's state, and a new instance resumes those still running.
 * One instance per flow agent: two would both resume the same runs.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "flow.h"

static const struct agentd_setting flow_settings[] = {
	{ "definitions", AGENTD_SETTING_STRING, "/etc/agentd/workflows",
	    "folder of workflow definitions, one NAME.flow file each" },
	{ "events", AGENTD_SETTING_BOOL, "false",
	    "publish each transition as an event of its audit kind "
	    "(flow.step.done, ...); needs publish = { \"flow\" }" },
	{ NULL, 0, NULL, NULL },
};

/* ---- definitions ---------------------------------------------------- */

void
flow_def_unref(struct flow *f, struct flow_def *d)
{
	(void)f;
	if (d != NULL && --d->refs == 0)
		flow_def_free(d);
}

/*
 * Version `version` of workflow `name`: loaded, held by a run, or read
 * back from state (every version a run started with is stored there).
 * A reference for the caller, or NULL.
 */
struct flow_def *
flow_def_find(struct flow *f, const char *name, const char *version)
{
	struct flow_def *d = NULL;
	char             key[256], why[FLOW_ERRLEN], *text;
	void            *val;
	size_t           len, n;
	agentd_doc      *doc;
	const char      *s;

	for (size_t i = 0; i < f->ndefs; i++)
		if (strcmp(f->defs[i]->name, name) == 0
		    && strcmp(f->defs[i]->version, version) == 0)
			d = f->defs[i];
	for (size_t i = 0; d == NULL && i < f->nruns; i++)
		if (strcmp(f->runs[i]->def->name, name) == 0
		    && strcmp(f->runs[i]->def->version, version) == 0)
			d = f->runs[i]->def;
	if (d != NULL) {
		d->refs++;
		return d;
	}
	snprintf(key, sizeof(key), "def/%s/%s", name, version);
	if (f->host->state_get(f->ctx, key, strlen(key), &val, &len) != 0)
		return NULL;
	if (agentd_parse(val, len, &doc) == 0) {
		if (agentd_get_str(agentd_doc_root(doc), &s, &n) == 0
		    && (text = strndup(s, n)) != NULL) {
			if (flow_def_parse(
			        name, key, text, &d, why, sizeof(why))
			    != 0)
				f->host->log(
				    f->ctx, AGENTD_LOG_ERROR, "%s", why);
			else if (strcmp(d->version, version) != 0) {
				flow_def_free(d);
				d = NULL;
			} else
				d->stored = 1;
			free(text);
		}
		agentd_doc_free(doc);
	}
	f->host->free(val);
	return d;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
read_file(const char *path, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	long  n;

	if (fp == NULL) {
		snprintf(err, errlen, "%.400s: cannot be read", path);
		return NULL;
	}
	if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0
	    || n > 1024 * 1024 || fseek(fp, 0, SEEK_SET) != 0
	    || (buf = malloc((size_t)n + 1)) == NULL) {
		fclose(fp);
		snprintf(err, errlen, "%.400s: cannot be read (at most 1 MiB)",
		    path);
		return NULL;
	}
	if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		fclose(fp);
		free(buf);
		snprintf(err, errlen, "%.400s: cannot be read", path);
		return NULL;
	}
	fclose(fp);
	buf[n] = '\0';
	if (strlen(buf) != (size_t)n) {
		free(buf);
		snprintf(err, errlen, "%.400s: holds a NUL byte", path);
		return NULL;
	}
	return buf;
}

/* Every *.flow file of the folder, or none of them (err says why). */
static int
load_all(struct flow *f, char *err, size_t errlen)
{
	DIR              *dir = opendir(f->dir);
	struct dirent    *e;
	char            **names = NULL, path[4096];
	size_t            n = 0, cap = 0, nd = 0;
	struct flow_def **defs;
	int               rv = 0;

	if (dir == NULL) {
		snprintf(err, errlen,
		    "%s: the definitions folder cannot be read (settings "
		    "{ definitions } and paths { read })",
		    f->dir);
		return AGENTD_ECONFIG;
	}
	while ((e = readdir(dir)) != NULL) {
		size_t l = strlen(e->d_name);

		if (l <= 5 || e->d_name[0] == '.'
		    || strcmp(e->d_name + l - 5, ".flow") != 0)
			continue;
		if (n == cap) {
			cap   = cap ? cap * 2 : 8;
			names = realloc(names, cap * sizeof(*names));
			if (names == NULL)
				abort();
		}
		if ((names[n++] = strdup(e->d_name)) == NULL)
			abort();
	}
	closedir(dir);
	qsort(names, n, sizeof(*names), by_name);
	defs = calloc(n + 1, sizeof(*defs));
	if (defs == NULL)
		abort();
	for (size_t i = 0; i < n && rv == 0; i++) {
		char *text, file[300];

		snprintf(path, sizeof(path), "%s/%s", f->dir, names[i]);
		snprintf(file, sizeof(file), "%s", names[i]);
		names[i][strlen(names[i]) - 5] = '\0';
		if ((text = read_file(path, err, errlen)) == NULL) {
			rv = AGENTD_ECONFIG;
			break;
		}
		rv = flow_def_parse(
		    names[i], file, text, &defs[nd], err, errlen);
		/* Messages name the file as the operator knows it. */
		free(text);
		if (rv == 0)
			nd++;
		else {
			char again[FLOW_ERRLEN];

			snprintf(again, sizeof(again), "%s/%s", f->dir, err);
			snprintf(err, errlen, "%s", again);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (rv != 0) {
		for (size_t i = 0; i < nd; i++)
			flow_def_unref(f, defs[i]);
		free(defs);
		return rv;
	}
	for (size_t i = 0; i < f->ndefs; i++)
		flow_def_unref(f, f->defs[i]);
	free(f->defs);
	f->defs  = defs;
	f->ndefs = nd;
	return 0;
}

static struct flow_def *
current(struct flow *f, const char *name)
{
	for (size_t i = 0; i < f->ndefs; i++)
		if (strcmp(f->defs[i]->name, name) == 0)
			return f->defs[i];
	return NULL;
}

/* Serve d (a reference, taken) for new runs of its workflow. */
static void
serve_def(struct flow *f, struct flow_def *d)
{
	for (size_t i = 0; i < f->ndefs; i++)
		if (strcmp(f->defs[i]->name, d->name) == 0) {
			flow_def_unref(f, f->defs[i]);
			f->defs[i] = d;
			return;
		}
	f->defs = realloc(f->defs, (f->ndefs + 1) * sizeof(*f->defs));
	if (f->defs == NULL)
		abort();
	f->defs[f->ndefs++] = d;
}

static int
pin_one(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	struct flow     *f = arg;
	char             name[AGENTD_NAME_MAX + 1], ver[FLOW_VERSION_LEN + 1];
	struct flow_def *d;

	agentd_doc *doc;
	int         rv = -1;

	if (keylen - 4 > AGENTD_NAME_MAX)
		return 0;
	snprintf(name, sizeof(name), "%.*s", (int)(keylen - 4), key + 4);
	if (agentd_parse(val, vallen, &doc) == 0) {
		rv = agentd_get_strcpy(agentd_doc_root(doc), ver, sizeof(ver));
		agentd_doc_free(doc);
	}
	if (rv != 0)
		return 0;
	if ((d = flow_def_find(f, name, ver)) != NULL)
		serve_def(f, d);
	else
		f->host->log(f->ctx, AGENTD_LOG_ERROR,
		    "workflow %s: rolled back to version %s, which is not "
		    "stored: the file's version serves",
		    name, ver);
	return 0;
}

/* After the folder was read: the workflows rolled back (pin/NAME in
 * state) serve the version they were rolled back to. */
static void
apply_pins(struct flow *f)
{
	f->host->state_scan(f->ctx, "pin/", 4, pin_one, f);
}

/* ---- requests ----------------------------------------------------------- */

static int
str_is(const agentd_value *v, const char *s)
{
	const char *p;
	size_t      n;

	return agentd_get_str(v, &p, &n) == 0 && n == strlen(s)
	    && memcmp(p, s, n) == 0;
}

static int
reply_w(struct flow *f, agentd_request *req)
{
	const void *p;
	size_t      len;

	p = agentd_writer_data(f->w, &len);
	return f->host->reply(f->ctx, req, p, len);
}

static int
reply_run(struct flow *f, agentd_request *req, const char *id, int existing,
    const char *state)
{
	agentd_writer_reset(f->w);
	agentd_write_map(f->w, 3);
	agentd_write_str(f->w, "run");
	agentd_write_str(f->w, id);
	agentd_write_str(f->w, "existing");
	agentd_write_bool(f->w, existing);
	agentd_write_str(f->w, "state");
	agentd_write_str(f->w, state);
	return reply_w(f, req);
}

/* The start's record is durable (or not): answered only now, so that
 * a run acknowledged is never lost; then on to its first step. */
static void
start_stored(struct flow *f, struct flow_run *r, int status, void *arg)
{
	agentd_request *req = arg;

	if (status != 0) {
		f->host->reply_error(
		    f->ctx, req, status, "start: the run could not be stored");
		return;
	}
	reply_run(f, req, r->id, 0, "running");
	flow_run_advance(f, r); /* may finish r */
}

/* A start with the key of a run whose own start is not yet durable. */
struct same_key {
	struct flow    *f;
	agentd_request *req;
	char            sk[512];
};

/* Batches commit in order: the first start's is settled by now, and
 * its key is in state if it was stored. */
static void
same_key_settled(void *arg, int status)
{
	struct same_key *k = arg;
	struct flow     *f = k->f;
	void            *val;
	size_t           len;
	char             id[64];

	if (status == 0)
		status = f->host->state_get(
		    f->ctx, k->sk, strlen(k->sk), &val, &len);
	if (status == 0) {
		snprintf(id, sizeof(id), "%.*s", (int)(len < 63 ? len : 63),
		    (char *)val);
		f->host->free(val);
		reply_run(f, k->req, id, 1, "");
	} else
		f->host->reply_error(f->ctx, k->req,
		    status == AGENTD_ENOENT ? AGENTD_EIO : status,
		    "start: the run of that key could not be stored");
	free(k);
}

/* The answer to a start whose key already made a run: that run's id,
 * once its start is durable. */
static int
start_existing(struct flow *f, agentd_request *req, const char *sk,
    const struct flow_run *r)
{
	struct same_key *k;
	int              rv;

	if (r->acked)
		return reply_run(f, req, r->id, 1, "");
	if ((k = calloc(1, sizeof(*k))) == NULL)
		abort();
	k->f   = f;
	k->req = req;
	snprintf(k->sk, sizeof(k->sk), "%s", sk);
	/* An empty batch: its callback runs after the first start's. */
	if ((rv = f->host->state_batch_async(
	         f->ctx, NULL, 0, same_key_settled, k))
	    != 0) {
		free(k);
		return f->host->reply_error(
		    f->ctx, req, rv, "start: state cannot be written");
	}
	return 0;
}

static int
op_start(struct flow *f, agentd_request *req, const agentd_value *root)
{
	char                wf[AGENTD_NAME_MAX + 1], key[256], sk[512];
	const agentd_value *in = agentd_map_get(root, "input"), *kv;
	struct flow_def    *d;
	struct flow_run    *r;
	agentd_writer      *w;
	const void         *p;
	size_t              len;
	void               *val;
	int                 dry = 0, rv;

	if (agentd_get_strcpy(agentd_map_get(root, "workflow"), wf, sizeof(wf))
	    != 0)
		return f->host->reply_error(f->ctx, req, AGENTD_EINVAL,
		    "start: send {\"workflow\": NAME, \"input\": {...}}");
	if ((d = current(f, wf)) == NULL)
		return f->host->reply_error(
		    f->ctx, req, AGENTD_ENOENT, "start: no such workflow");
	if (in != NULL && agentd_type_of(in) != AGENTD_T_MAP)
		return f->host->reply_error(
		    f->ctx, req, AGENTD_EINVAL, "start: input must be a map");
	agentd_get_bool(agentd_map_get(root, "dry_run"), &dry);
	key[0] = '\0';
	if ((kv = agentd_map_get(root, "key")) != NULL
	    && (agentd_get_strcpy(kv, key, sizeof(key)) != 0 || key[0] == '\0'
	        || strchr(key, '/') != NULL))
		return f->host->reply_error(f->ctx, req, AGENTD_EINVAL,
		    "start: key must be 1 to 255 bytes without \"/\"");
	if (key[0] != '\0') {
		snprintf(sk, sizeof(sk), "key/%s/%s", wf, key);
		/* In memory first: its start may not be in state yet. */
		if ((r = flow_run_find_key(f, wf, key)) != NULL)
			return start_existing(f, req, sk, r);
		rv = f->host->state_get(f->ctx, sk, strlen(sk), &val, &len);
		if (rv == 0) {
			char id[64];

			snprintf(id, sizeof(id), "%.*s",
			    (int)(len < 63 ? len : 63), (char *)val);
			f->host->free(val);
			return reply_run(f, req, id, 1, "");
		}
		if (rv != AGENTD_ENOENT)
			return f->host->reply_error(
			    f->ctx, req, rv, "start: state cannot be read");
	}
	agentd_writer_new(&w);
	if (in != NULL)
		agentd_write_value(w, in);
	else
		agentd_write_map(w, 0);
	p  = agentd_writer_data(w, &len);
	rv = flow_run_start(
	    f, d, p, len, key[0] != '\0' ? key : NULL, dry, start_stored, req);
	agentd_writer_free(w);
	if (rv != 0)
		return f->host->reply_error(
		    f->ctx, req, rv, "start: the run could not be stored");
	return 0;
}

static int
op_status(struct flow *f, agentd_request *req, const agentd_value *root)
{
	char             id[64], key[80];
	struct flow_run *r;
	void            *val;
	size_t           len;
	int              rv;

	if (agentd_get_strcpy(agentd_map_get(root, "run"), id, sizeof(id))
	    != 0)
		return f->host->reply_error(f->ctx, req, AGENTD_EINVAL,
		    "send {\"op\": \"status\", \"run\": ID}");
	/* A run ended and not yet committed is read here; one starting is
	 * not acknowledged: for no one yet. */
	if ((r = flow_run_find(f, id)) != NULL && r->acked) {
		agentd_writer_reset(f->w);
		flow_run_encode(r, f->w);
		return reply_w(f, req);
	}
	snprintf(key, sizeof(key), "run/%s", id);
	rv = f->host->state_get(f->ctx, key, strlen(key), &val, &len);
	if (rv != 0)
		return f->host->reply_error(f->ctx, req, rv,
		    rv == AGENTD_ENOENT ? "no such run" : "state unreadable");
	rv = f->host->reply(f->ctx, req, val, len);
	f->host->free(val);
	return rv;
}

/*
 * state_scan of prefix, split into narrower scans (one more character of
 * a run id) while agentd answers ETOOBIG: a scan is one message.  A scan
 * that fn stopped answers 1.
 */
static int
scan_split(struct flow *f, const char *prefix, agentd_scan_fn fn, void *arg)
{
	static const char chars[] = "0123456789abcdef-";
	char              sub[AGENTD_STATE_KEY_MAX + 1];
	size_t            n  = strlen(prefix);
	int               rv = f->host->state_scan(f->ctx, prefix, n, fn, arg);

	if (rv != AGENTD_ETOOBIG || n + 1 >= sizeof(sub))
		return rv;
	for (const char *c = chars; *c != '\0'; c++) {
		snprintf(sub, sizeof(sub), "%s%c", prefix, *c);
		if ((rv = scan_split(f, sub, fn, arg)) != 0)
			return rv;
	}
	return 0;
}

struct list {
	struct flow_blob *items;
	uint32_t          n;
	char              wf[AGENTD_NAME_MAX + 1], state[16];
	int64_t           since, limit;
	char              after[80]; /* "sum/ID": list what comes after */
	int               more;
};

static int
list_one(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	struct list        *l = arg;
	agentd_doc         *doc;
	const agentd_value *root;
	int64_t             created = 0;

	if (l->after[0] != '\0') {
		size_t n = strlen(l->after);
		int    c = memcmp(key, l->after, keylen < n ? keylen : n);

		if (c < 0 || (c == 0 && keylen <= n))
			return 0; /* at or before "after" */
	}
	if (agentd_parse(val, vallen, &doc) != 0)
		return 0;
	root = agentd_doc_root(doc);
	agentd_get_int(agentd_map_get(root, "created_ms"), &created);
	if ((l->wf[0] == '\0'
	        || str_is(agentd_map_get(root, "workflow"), l->wf))
	    && (l->state[0] == '\0'
	        || str_is(agentd_map_get(root, "state"), l->state))
	    && created >= l->since) {
		agentd_writer *w;
		const void    *p;
		size_t         len;

		if (l->limit > 0 && l->n == l->limit) {
			l->more = 1;
			agentd_doc_free(doc);
			return 1;
		}

		agentd_writer_new(&w);
		agentd_write_map(w, (uint32_t)agentd_len(root) + 1);
		agentd_write_str(w, "run");
		agentd_write_strn(w, key + 4, keylen - 4);
		for (size_t i = 0; i < agentd_len(root); i++) {
			agentd_write_value(w, agentd_map_key_at(root, i));
			agentd_write_value(w, agentd_map_value_at(root, i));
		}
		p        = agentd_writer_data(w, &len);
		l->items = realloc(l->items, (l->n + 1) * sizeof(*l->items));
		if (l->items == NULL
		    || (l->items[l->n].p = malloc(len)) == NULL)
			abort();
		memcpy(l->items[l->n].p, p, len);
		l->items[l->n++].len = len;
		agentd_writer_free(w);
	}
	agentd_doc_free(doc);
	return 0;
}

static int
op_list(struct flow *f, agentd_request *req, const agentd_value *root)
{
	struct list l = { 0 };
	int         rv;

	agentd_get_strcpy(
	    agentd_map_get(root, "workflow"), l.wf, sizeof(l.wf));
	agentd_get_strcpy(
	    agentd_map_get(root, "state"), l.state, sizeof(l.state));
	agentd_get_int(agentd_map_get(root, "since_ms"), &l.since);
	agentd_get_int(agentd_map_get(root, "limit"), &l.limit);
	{
		char after[64];

		if (agentd_get_strcpy(
		        agentd_map_get(root, "after"), after, sizeof(after))
		    == 0)
			snprintf(l.after, sizeof(l.after), "sum/%s", after);
	}
	rv = scan_split(f, "sum/", list_one, &l);
	if (rv == 1)
		rv = 0; /* stopped at the limit */
	agentd_writer_reset(f->w);
	agentd_write_map(f->w, 2);
	agentd_write_str(f->w, "more");
	agentd_write_bool(f->w, l.more);
	agentd_write_str(f->w, "runs");
	agentd_write_array(f->w, l.n);
	for (uint32_t i = 0; i < l.n; i++) {
		agentd_write_raw(f->w, l.items[i].p, l.items[i].len);
		free(l.items[i].p);
	}
	free(l.items);
	if (rv != 0)
		return f->host->reply_error(
		    f->ctx, req, rv, "list: state cannot be scanned");
	return reply_w(f, req);
}

struct purge {
	int64_t before;
	char  **ids;
	size_t  n;
};

static int
purge_one(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	struct purge       *pg = arg;
	agentd_doc         *doc;
	const agentd_value *root;
	int64_t             updated = INT64_MAX;

	if (agentd_parse(val, vallen, &doc) != 0)
		return 0;
	root = agentd_doc_root(doc);
	agentd_get_int(agentd_map_get(root, "updated_ms"), &updated);
	if (!str_is(agentd_map_get(root, "state"), "running")
	    && updated < pg->before) {
		pg->ids = realloc(pg->ids, (pg->n + 1) * sizeof(*pg->ids));
		if (pg->ids == NULL
		    || (pg->ids[pg->n] = strndup(key + 4, keylen - 4)) == NULL)
			abort();
		pg->n++;
	}
	agentd_doc_free(doc);
	return 0;
}

/* key/WF/KEY entries whose run is purged go with it. */
static int
purge_key(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	struct purge *pg = arg;

	for (size_t i = 0; i < pg->n; i++)
		if (pg->ids[i][0] != '\0' && strlen(pg->ids[i]) == vallen
		    && memcmp(pg->ids[i], val, vallen) == 0) {
			size_t n = pg->n;

			/* a key's entry after the runs' (freed with them) */
			pg->ids = realloc(pg->ids, (n + 1) * sizeof(*pg->ids));
			if (pg->ids == NULL
			    || (pg->ids[n] = malloc(keylen + 2)) == NULL)
				abort();
			pg->ids[n][0] = '\0'; /* marks a whole key */
			memcpy(pg->ids[n] + 1, key, keylen);
			pg->ids[n][keylen + 1] = '\0';
			pg->n++;
			break;
		}
	return 0;
}

/*
 * {"op": "purge", "before_ms": T}: the records of runs that ended (done,
 * failed, cancelled) and were last updated before T are deleted (run/,
 * sum/ and their start key/), in batches.  Definitions' texts stay.
 */
static int
op_purge(struct flow *f, agentd_request *req, const agentd_value *root)
{
	struct purge           pg = { .before = -1 };
	struct agentd_state_op ops[256];
	char(*keys)[AGENTD_STATE_KEY_MAX + 8] = malloc(256 * sizeof(*keys));
	size_t nops                           = 0, nruns;
	int    rv;

	if (keys == NULL)
		abort();
	if (agentd_get_int(agentd_map_get(root, "before_ms"), &pg.before)
	    != 0) {
		free(keys);
		return f->host->reply_error(f->ctx, req, AGENTD_EINVAL,
		    "purge: send {\"before_ms\": MILLISECONDS}");
	}
	rv    = scan_split(f, "sum/", purge_one, &pg);
	nruns = pg.n;
	if (rv == 0 && nruns > 0)
		rv = scan_split(f, "key/", purge_key, &pg);
	for (size_t i = 0; rv == 0 && i < pg.n; i++) {
		const char *id = pg.ids[i];

		if (id[0] == '\0') {
			snprintf(keys[nops], sizeof(keys[nops]), "%s", id + 1);
			ops[nops] = (struct agentd_state_op) { keys[nops],
				strlen(keys[nops]), NULL, 0 };
			nops++;
		} else {
			for (int k = 0; k < 2; k++) {
				snprintf(keys[nops], sizeof(keys[nops]),
				    k ? "sum/%s" : "run/%s", id);
				ops[nops]
				    = (struct agentd_state_op) { keys[nops],
					      strlen(keys[nops]), NULL, 0 };
				nops++;
			}
		}
		if (nops >= 254 || i + 1 == pg.n) {
			rv   = f->host->state_batch(f->ctx, ops, nops);
			nops = 0;
		}
	}
	for (size_t i = 0; i < pg.n; i++)
		free(pg.ids[i]);
	free(pg.ids);
	free(keys);
	if (rv != 0)
		return f->host->reply_error(
		    f->ctx, req, rv, "purge: state not written");
	agentd_writer_reset(f->w);
	agentd_write_map(f->w, 1);
	agentd_write_str(f->w, "purged");
	agentd_write_int(f->w, (int64_t)nruns);
	return reply_w(f, req);
}

static int
op_cancel(struct flow *f, agentd_request *req, const agentd_value *root)
{
	char             id[64];
	struct flow_run *r;

	if (agentd_get_strcpy(agentd_map_get(root, "run"), id, sizeof(id))
	    != 0)
		return f->host->reply_error(f->ctx, req, AGENTD_EINVAL,
		    "send {\"op\": \"cancel\", \"run\": ID}");
	if ((r = flow_run_find(f, id)) == NULL || r->state != RUN_RUNNING
	    || !r->acked)
		return f->host->reply_error(
		    f->ctx, req, AGENTD_ENOENT, "no running run has that id");
	snprintf(id, sizeof(id), "%s", r->id);
	flow_run_cancel(f, r);
	return reply_run(f, req, id, 1, "cancelled");
}

static void
write_defs(struct flow *f)
{
	agentd_writer_reset(f->w);
	agentd_write_map(f->w, 1);
	agentd_write_str(f->w, "definitions");
	agentd_write_array(f->w, (uint32_t)f->ndefs);
	for (size_t i = 0; i < f->ndefs; i++) {
		const struct flow_def *d = f->defs[i];

		char   key[80];
		void  *val;
		size_t len;
		int    pinned;

		snprintf(key, sizeof(key), "pin/%s", d->name);
		pinned
		    = f->host->state_get(f->ctx, key, strlen(key), &val, &len)
		    == 0;
		if (pinned)
			f->host->free(val);
		agentd_write_map(f->w, 4);
		agentd_write_str(f->w, "rolled_back");
		agentd_write_bool(f->w, pinned);
		agentd_write_str(f->w, "name");
		agentd_write_str(f->w, d->name);
		agentd_write_str(f->w, "version");
		agentd_write_str(f->w, d->version);
		agentd_write_str(f->w, "steps");
		agentd_write_array(f->w, (uint32_t)d->nsteps);
		for (size_t k = 0; k < d->nsteps; k++)
			agentd_write_str(f->w, d->steps[k].name);
	}
}

/*
 * {"op": "rollback", "workflow": W, "version": V}: new runs of W use
 * version V (stored once a run used it) across reloads and restarts;
 * without "version", the file's version serves again.
 */
static int
op_rollback(struct flow *f, agentd_request *req, const agentd_value *root)
{
	char                wf[AGENTD_NAME_MAX + 1], ver[FLOW_VERSION_LEN + 2];
	char                key[80], err[FLOW_ERRLEN + 256];
	const agentd_value *v = agentd_map_get(root, "version");
	struct flow_def    *d;
	int                 rv;

	if (agentd_get_strcpy(agentd_map_get(root, "workflow"), wf, sizeof(wf))
	        != 0
	    || current(f, wf) == NULL)
		return f->host->reply_error(f->ctx, req, AGENTD_ENOENT,
		    "rollback: send a loaded workflow's name");
	snprintf(key, sizeof(key), "pin/%s", wf);
	if (v == NULL) {
		rv = f->host->state_del(f->ctx, key, strlen(key));
		if (rv != 0 && rv != AGENTD_ENOENT)
			return f->host->reply_error(
			    f->ctx, req, rv, "rollback: state not written");
		if ((rv = load_all(f, err, sizeof(err))) != 0)
			return f->host->reply_error(f->ctx, req, rv, err);
		apply_pins(f);
		write_defs(f);
		return reply_w(f, req);
	}
	if (agentd_get_strcpy(v, ver, sizeof(ver)) != 0
	    || strlen(ver) != FLOW_VERSION_LEN
	    || (d = flow_def_find(f, wf, ver)) == NULL)
		return f->host->reply_error(f->ctx, req, AGENTD_ENOENT,
		    "rollback: no such version of the workflow is stored (a "
		    "version is kept once a run used it)");
	{
		const void *p;
		size_t      len;

		agentd_writer_reset(f->w);
		agentd_write_str(f->w, ver);
		p  = agentd_writer_data(f->w, &len);
		rv = f->host->state_put(f->ctx, key, strlen(key), p, len);
	}
	if (rv != 0) {
		flow_def_unref(f, d);
		return f->host->reply_error(
		    f->ctx, req, rv, "rollback: state not written");
	}
	serve_def(f, d);
	write_defs(f);
	return reply_w(f, req);
}

static int
op_reload(struct flow *f, agentd_request *req)
{
	char err[FLOW_ERRLEN + 256];
	int  rv;

	if ((rv = load_all(f, err, sizeof(err))) != 0) {
		f->host->log(
		    f->ctx, AGENTD_LOG_ERROR, "definitions kept: %s", err);
		return f->host->reply_error(f->ctx, req, rv, err);
	}
	apply_pins(f);
	write_defs(f);
	return reply_w(f, req);
}

static int
flow_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct flow        *f = state;
	agentd_doc         *doc;
	const agentd_value *root, *op;
	int                 rv;

	if (agentd_parse(body, len, &doc) != 0)
		return f->host->reply_error(
		    f->ctx, req, AGENTD_EPROTO, "send a msgpack map");
	root = agentd_doc_root(doc);
	op   = agentd_map_get(root, "op");
	if (str_is(op, "start"))
		rv = op_start(f, req, root);
	else if (str_is(op, "status"))
		rv = op_status(f, req, root);
	else if (str_is(op, "list"))
		rv = op_list(f, req, root);
	else if (str_is(op, "cancel"))
		rv = op_cancel(f, req, root);
	else if (str_is(op, "definitions")) {
		write_defs(f);
		rv = reply_w(f, req);
	} else if (str_is(op, "reload"))
		rv = op_reload(f, req);
	else if (str_is(op, "rollback"))
		rv = op_rollback(f, req, root);
	else if (str_is(op, "purge"))
		rv = op_purge(f, req, root);
	else
		rv = f->host->reply_error(f->ctx, req, AGENTD_EINVAL,
		    "op: start, status, list, cancel, purge, definitions, "
		    "reload or rollback");
	agentd_doc_free(doc);
	return rv;
}

/* ---- life cycle -----------------------------------------------------------
 */

struct keys {
	char **ids;
	size_t n;
};

static int
collect(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	struct keys *k = arg;

	(void)val;
	(void)vallen;
	k->ids = realloc(k->ids, (k->n + 1) * sizeof(*k->ids));
	if (k->ids == NULL
	    || (k->ids[k->n] = strndup(key + 7, keylen - 7)) == NULL)
		abort();
	k->n++;
	return 0;
}

/* The runs still running when the last instance stopped. */
static void
resume(struct flow *f)
{
	struct keys k = { 0 };
	char        key[80];
	void       *val;
	size_t      len;
	int         rv;

	rv = scan_split(f, "active/", collect, &k);
	if (rv != 0) {
		f->host->log(f->ctx, AGENTD_LOG_ERROR,
		    "runs not resumed: %s (again at the next tick)",
		    agentd_strerror(rv));
		return;
	}
	for (size_t i = 0; i < k.n; i++) {
		snprintf(key, sizeof(key), "run/%s", k.ids[i]);
		if (f->host->state_get(f->ctx, key, strlen(key), &val, &len)
		    == 0) {
			if (flow_run_resume(f, val, len) != 0)
				f->host->log(f->ctx, AGENTD_LOG_ERROR,
				    "run %s cannot be resumed: its "
				    "definition is gone",
				    k.ids[i]);
			f->host->free(val);
		}
		free(k.ids[i]);
	}
	free(k.ids);
	if (k.n > 0)
		f->host->log(
		    f->ctx, AGENTD_LOG_INFO, "%zu run(s) resumed", k.n);
	f->resumed = 1;
}

static void
flow_tick(void *state)
{
	struct flow *f = state;

	if (!f->resumed)
		resume(f);
	flow_run_tick(f);
}

static void
flow_event(void *state, const char *topic, const void *body, size_t len)
{
	struct flow *f = state;

	if (strncmp(topic, "decision.", 9) != 0)
		return;
	if (!f->resumed)
		resume(f); /* the run waiting on it must be in memory */
	flow_run_decision(f, body, len);
}

static void
flow_fini(void *state)
{
	struct flow *f = state;

	while (f->nruns > 0) {
		struct flow_run *r = f->runs[--f->nruns];

		flow_run_free(f, r);
	}
	free(f->runs);
	flow_pending_free(f);
	for (unsigned i = 0; i < f->nearly; i++)
		free(f->early[i].p);
	for (size_t i = 0; i < f->ndefs; i++)
		flow_def_unref(f, f->defs[i]);
	free(f->defs);
	free(f->dir);
	agentd_writer_free(f->w);
	free(f);
}

static int
flow_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct flow *f = calloc(1, sizeof(*f));
	const char  *dir;
	char         err[FLOW_ERRLEN + 256];
	int          rv;

	if (f == NULL)
		return AGENTD_ENOMEM;
	f->ctx  = ctx;
	f->host = host;
	f->rand = (unsigned)time(NULL) ^ (unsigned)getpid();
	agentd_writer_new(&f->w);
	if ((rv = host->setting_string(ctx, "definitions", &dir)) != 0
	    || (f->dir = strdup(dir)) == NULL) {
		flow_fini(f);
		return rv != 0 ? rv : AGENTD_ENOMEM;
	}
	if ((rv = host->setting_bool(ctx, "events", &f->events)) != 0) {
		flow_fini(f);
		return rv;
	}
	if ((rv = load_all(f, err, sizeof(err))) != 0) {
		host->log(ctx, AGENTD_LOG_ERROR, "%s", err);
		flow_fini(f);
		return rv;
	}
	apply_pins(f);
	*state = f;
	return 0;
}

/* What other agents find it by (host->find_agents). */
static const char *const flow_capabilities[] = { "workflow", NULL };

AGENTD_PLUGIN(.name = "flow", .version = "0.1.0",
    .description = "durable workflows: steps calling agents, with retries, "
                   "branches, loops, parallel groups, approvals, waits "
                   "and dry runs",
    .settings = flow_settings, .init = flow_init, .on_request = flow_request,
    .on_event = flow_event, .on_tick = flow_tick, .tick_ms = 20,
    .fini = flow_fini, .capabilities = flow_capabilities);

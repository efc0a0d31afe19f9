/*
 * pg_audit - bench/run's PostgreSQL audit rows: the same records as
 * agentd's audit log (bench/auditrec.h), inserted into
 *
 *   audit(seq bigserial primary key, ts timestamptz, agent text,
 *         instance text, kind text, summary text, detail bytea,
 *         prev_hash bytea)
 *
 * by CLIENTS threads, each with its own connection, with the server's
 * default durability (fsync on, synchronous_commit on).
 *
 *   pg_audit -H HOST -P PORT [-U USER] [-D DBNAME] [-c CLIENTS]
 *            [-b BATCH] [-d SECONDS] [-W WARMUP]
 *
 * BATCH 1: one INSERT per transaction (autocommit, a prepared statement);
 * latency from sending it to its result.  BATCH > 1: libpq pipeline mode,
 * BEGIN, BATCH prepared INSERTs and COMMIT sent at once, then
 * PQpipelineSync; the records of a batch are acknowledged together, so
 * latency is per batch, from its first send to the sync.  HOST is a unix
 * socket folder (starting with /) or an address.  Rows count when their
 * transaction began after the warm-up and committed within SECONDS after
 * it.  The table is created if missing and emptied first.  Prints
 * (bench/README.md):
 *
 *   audit way=pg conf=1/txn|pipe BATCH/txn clients=C recs=N secs=S
 *       rate=R p50_us=X p99_us=Y per_txn=BATCH
 *
 * Compiled by bench/run with `pkg-config libpq`, because configure does
 * not require libpq.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "auditrec.h"
#include "benchlib.h"

#define INSERT_SQL                                                            \
	"INSERT INTO audit (ts, agent, instance, kind, summary, detail, "     \
	"prev_hash) VALUES (now(), $1, $2, $3, $4, $5, $6)"

static const char *host, *port, *user = "bench", *dbname = "bench";
static int         clients = 8;
static long        batch   = 1;
static double      secs = 2, warm = 0.2;

struct client {
	pthread_t      t;
	int            id;
	PGconn        *conn;
	uint64_t       begin, from, until;
	uint64_t       recs, txns;
	struct samples lat;
	int            failed;
};

static PGconn *
connect_db(void)
{
	const char *keys[]
	    = { "host", "port", "user", "dbname", "application_name", NULL };
	const char *vals[] = { host, port, user, dbname, "pg_audit", NULL };
	PGconn     *c      = PQconnectdbParams(keys, vals, 0);

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pg_audit: connecting: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

static int
exec_ok(PGconn *c, const char *sql)
{
	PGresult *r  = PQexec(c, sql);
	int       ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, "pg_audit: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return ok;
}

/* Every result of the pipeline up to its sync: 0 if all succeeded. */
static int
drain_pipeline(PGconn *c)
{
	PGresult *r;
	int       bad = 0;

	for (;;) {
		if ((r = PQgetResult(c)) == NULL) {
			if (PQstatus(c) == CONNECTION_BAD)
				return 1;
			continue; /* the end of one query's results */
		}
		switch (PQresultStatus(r)) {
		case PGRES_PIPELINE_SYNC:
			PQclear(r);
			return bad;
		case PGRES_COMMAND_OK:
			break;
		default:
			if (!bad)
				fprintf(stderr, "pg_audit: pipeline: %s",
				    PQresultErrorMessage(r));
			bad = 1;
			if (PQstatus(c) == CONNECTION_BAD) {
				PQclear(r);
				return 1;
			}
		}
		PQclear(r);
	}
}

static void *
client_main(void *arg)
{
	struct client *k = arg;
	char           agent[16], instance[24];
	unsigned char  detail[AUDITREC_DETAIL_LEN], prev[AUDITREC_HASH_LEN];
	const char    *vals[6];
	int lens[6] = { 0, 0, 0, 0, AUDITREC_DETAIL_LEN, AUDITREC_HASH_LEN };
	int formats[6] = { 0, 0, 0, 0, 1, 1 };
	uint32_t  seq  = 0;
	uint64_t  t0, t1;
	PGresult *r;
	long      i;

	snprintf(agent, sizeof(agent), "a%d", k->id + 1);
	snprintf(instance, sizeof(instance), "a%d-1", k->id + 1);
	memset(prev, 0x5a, sizeof(prev));
	vals[0] = agent;
	vals[1] = instance;
	vals[2] = AUDITREC_KIND;
	vals[3] = auditrec_summary();
	vals[4] = (const char *)detail;
	vals[5] = (const char *)prev;
	if (batch > 1 && PQenterPipelineMode(k->conn) != 1) {
		fprintf(stderr, "pg_audit: pipeline mode: %s",
		    PQerrorMessage(k->conn));
		k->failed = 1;
		return NULL;
	}
	sleep_until(k->begin);
	while ((t0 = now_ns()) < k->until) {
		if (batch == 1) {
			auditrec_detail(detail, ++seq);
			r = PQexecPrepared(
			    k->conn, "ins", 6, vals, lens, formats, 0);
			if (PQresultStatus(r) != PGRES_COMMAND_OK) {
				fprintf(stderr, "pg_audit: insert: %s",
				    PQerrorMessage(k->conn));
				PQclear(r);
				k->failed = 1;
				return NULL;
			}
			PQclear(r);
		} else {
			int ok = PQsendQueryParams(
			    k->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);

			for (i = 0; ok && i < batch; i++) {
				auditrec_detail(detail, ++seq);
				ok = PQsendQueryPrepared(
				    k->conn, "ins", 6, vals, lens, formats, 0);
			}
			ok = ok
			    && PQsendQueryParams(k->conn, "COMMIT", 0, NULL,
			        NULL, NULL, NULL, 0)
			    && PQpipelineSync(k->conn);
			if (!ok || drain_pipeline(k->conn) != 0) {
				if (!ok)
					fprintf(stderr, "pg_audit: send: %s",
					    PQerrorMessage(k->conn));
				k->failed = 1;
				return NULL;
			}
		}
		t1 = now_ns();
		if (t0 >= k->from && t1 <= k->until) {
			k->recs += (uint64_t)batch;
			k->txns++;
			samples_add(&k->lat, t1 - t0);
		}
	}
	return NULL;
}

static int
usage(void)
{
	fprintf(stderr,
	    "usage: pg_audit -H HOST -P PORT [-U USER] [-D DBNAME] "
	    "[-c CLIENTS] [-b BATCH] [-d SECONDS] [-W WARMUP]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct client *k;
	struct samples all;
	PGconn        *admin;
	PGresult      *r;
	uint64_t       begin, recs = 0, txns = 0;
	size_t         j;
	int            c, i, failed = 0;
	char           conf[32];

	while ((c = getopt(argc, argv, "H:P:U:D:c:b:d:W:")) != -1) {
		switch (c) {
		case 'H':
			host = optarg;
			break;
		case 'P':
			port = optarg;
			break;
		case 'U':
			user = optarg;
			break;
		case 'D':
			dbname = optarg;
			break;
		case 'c':
			clients = atoi(optarg);
			break;
		case 'b':
			batch = atol(optarg);
			break;
		case 'd':
			secs = atof(optarg);
			break;
		case 'W':
			warm = atof(optarg);
			break;
		default:
			return usage();
		}
	}
	if (optind != argc || host == NULL || port == NULL || clients < 1
	    || clients > 1000 || batch < 1 || batch > 100000 || secs <= 0
	    || warm < 0)
		return usage();
	if ((admin = connect_db()) == NULL
	    || !exec_ok(admin, "SET client_min_messages = warning")
	    || !exec_ok(admin,
	        "CREATE TABLE IF NOT EXISTS audit (seq bigserial PRIMARY KEY, "
	        "ts timestamptz, agent text, instance text, kind text, "
	        "summary text, detail bytea, prev_hash bytea)")
	    || !exec_ok(admin, "TRUNCATE audit RESTART IDENTITY"))
		return 1;
	r = PQexec(admin,
	    "SELECT current_setting('fsync') || ' ' || "
	    "current_setting('synchronous_commit')");
	if (PQresultStatus(r) == PGRES_TUPLES_OK
	    && strcmp(PQgetvalue(r, 0, 0), "on on") != 0)
		fprintf(stderr,
		    "pg_audit: warning: fsync, synchronous_commit = %s\n",
		    PQgetvalue(r, 0, 0));
	PQclear(r);
	k = calloc((size_t)clients, sizeof(*k));
	for (i = 0; i < clients; i++) {
		k[i].id = i;
		if ((k[i].conn = connect_db()) == NULL
		    || samples_init(&k[i].lat, (uint64_t)i + 1) != 0)
			return 1;
		r = PQprepare(k[i].conn, "ins", INSERT_SQL, 6, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "pg_audit: prepare: %s",
			    PQerrorMessage(k[i].conn));
			return 1;
		}
		PQclear(r);
	}
	begin = now_ns() + 100000000;
	for (i = 0; i < clients; i++) {
		k[i].begin = begin;
		k[i].from  = begin + (uint64_t)(warm * 1e9);
		k[i].until = k[i].from + (uint64_t)(secs * 1e9);
		if (pthread_create(&k[i].t, NULL, client_main, &k[i]) != 0) {
			fprintf(stderr, "pg_audit: pthread_create\n");
			return 1;
		}
	}
	if (samples_init(&all, 99) != 0)
		return 1;
	for (i = 0; i < clients; i++) {
		pthread_join(k[i].t, NULL);
		failed |= k[i].failed;
		recs += k[i].recs;
		txns += k[i].txns;
		for (j = 0; j < k[i].lat.n; j++)
			samples_add(&all, k[i].lat.v[j]);
		samples_free(&k[i].lat);
		PQfinish(k[i].conn);
	}
	PQfinish(admin);
	free(k);
	if (failed)
		return 1;
	samples_sort(&all);
	if (batch == 1)
		snprintf(conf, sizeof(conf), "1/txn");
	else
		snprintf(conf, sizeof(conf), "pipe%ld/txn", batch);
	printf("audit way=pg conf=%s clients=%d recs=%llu secs=%.3f "
	       "rate=%.0f p50_us=%.1f p99_us=%.1f per_txn=%.1f\n",
	    conf, clients, (unsigned long long)recs, secs, (double)recs / secs,
	    pct_us(&all, 50), pct_us(&all, 99),
	    txns ? (double)recs / (double)txns : 0);
	samples_free(&all);
	return 0;
}

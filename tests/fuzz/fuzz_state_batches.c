/*
 * fuzz_state_batches - libFuzzer harness for agentd's reading and
 * applying of state.batch and state.batches (store/state_msg.c, then
 * store/state.c into a real LMDB environment in a temporary directory),
 * the bodies every worker's host->state_batch and host->state_batch_async
 * send.
 *
 * What must hold for any bytes: the reading answers 0 or AGENTD_EINVAL
 * and never reads outside the input; applied, every batch answers 0 or
 * an AGENTD_ error; and afterwards every key a successful batch wrote
 * holds what the last successful write of it left (its value, or absent
 * when deleted), keys of failed batches left as they were.
 */
#include "config.h"

#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <agentd/error.h>
#include <agentd/msg.h>

#include "store/state.h"
#include "store/state_msg.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define AGENT "fuzz"

static char             dir[256];
static struct ad_store *store;
static struct ad_state *state;

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb, (void)flag, (void)f;
	return remove(path);
}

static void
done(void)
{
	ad_state_close(state);
	ad_store_close(store);
}

/* A store on tmpfs when there is one: each input is a durable commit.
 * Its files are removed once open (LMDB keeps using them), so that an
 * input that aborts leaves nothing behind. */
static void
setup(void)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm"
	    : getenv("TMPDIR") != NULL                   ? getenv("TMPDIR")
	                                                 : "/tmp";
	char        err[256];

	snprintf(dir, sizeof(dir), "%s/fuzz_state.XXXXXX", base);
	if (mkdtemp(dir) == NULL
	    || ad_store_open(dir, &store, err, sizeof(err)) != 0
	    || ad_state_open(store, 0, &state, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_state_batches: %s: %s\n", dir, err);
		abort();
	}
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	atexit(done);
}

/* The last successful write of key among bs[0..n) whose rcs are 0, or
 * NULL when none wrote it. */
static const struct agentd_state_op *
last_write(const struct ad_state_batch *bs, size_t n, const int *rcs,
    const struct agentd_state_op *k)
{
	const struct agentd_state_op *last = NULL;

	for (size_t i = 0; i < n; i++) {
		if (rcs[i] != 0)
			continue;
		for (size_t j = 0; j < bs[i].n; j++) {
			const struct agentd_state_op *o = &bs[i].ops[j];

			if (o->keylen == k->keylen
			    && memcmp(o->key, k->key, k->keylen) == 0)
				last = o;
		}
	}
	return last;
}

static void
check_applied(const struct ad_state_batch *bs, size_t n, const int *rcs)
{
	for (size_t i = 0; i < n; i++) {
		if (rcs[i] < 0 || rcs[i] > AGENTD_EUNAVAIL)
			abort();
		if (rcs[i] != 0)
			continue;
		for (size_t j = 0; j < bs[i].n; j++) {
			const struct agentd_state_op *o
			    = last_write(bs, n, rcs, &bs[i].ops[j]);
			void  *val = NULL;
			size_t len = 0;
			int    rv  = ad_state_get(
			        state, AGENT, o->key, o->keylen, &val, &len);

			if (o->val == NULL ? rv != AGENTD_ENOENT
			                   : rv != 0 || len != o->vallen
			            || memcmp(val, o->val, len) != 0)
				abort();
			free(val);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	agentd_doc             *doc;
	const agentd_value     *root;
	struct ad_state_batch  *bs, one;
	struct agentd_state_op *ops;
	size_t                  n;
	int                     rv, rc, *rcs;

	if (state == NULL)
		setup();
	if (agentd_parse(data, size, &doc) != 0)
		return 0;
	root = agentd_doc_root(doc);
	/* state.batch: {"ops": OPS}, all or nothing. */
	rv = ad_state_ops_read(agentd_map_get(root, "ops"), &ops, &n);
	if (rv != 0 && rv != AGENTD_EINVAL)
		abort();
	if (rv == 0) {
		rc  = ad_state_batch(state, AGENT, ops, n);
		one = (struct ad_state_batch) { ops, n };
		check_applied(&one, 1, &rc);
	}
	free(ops);
	/* state.batches: {"batches": [OPS, ...]}, each all or nothing. */
	rv = ad_state_batches_read(root, &bs, &n);
	if (rv == AGENTD_EINVAL && bs == NULL)
		;
	else if (rv != 0 || n == 0)
		abort();
	else {
		rcs = calloc(n, sizeof(*rcs));
		if (rcs == NULL)
			abort();
		if (ad_state_batches(state, AGENT, bs, n, rcs) == 0)
			check_applied(bs, n, rcs);
		free(rcs);
		ad_state_batches_free(bs, n);
	}
	agentd_doc_free(doc);
	return 0;
}

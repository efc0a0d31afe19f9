/*
 * audit_seal.c - seals of the audit log (audit.h, "Seals"): Ed25519
 * signatures over the chain's head, one key per epoch, each seal
 * announcing the next epoch's public key, each key destroyed once its seal
 * is committed.  Here: the key file and its rotation, writing a seal (on
 * the writer thread, or at open and close), the seal's codec and its
 * signature check.  verify (audit_read.c) walks the seals with the chain.
 *
 * A seal's key file survives a crash at every step:
 *
 *   1. the next key is written to FILE.new and synced;
 *   2. the seal, signed by the current key and naming the next one, is
 *      committed (durably, as records are);
 *   3. FILE is overwritten with zeros and synced, FILE.new renamed over
 *      it, the folder synced.
 *
 * At open, the key kept is the one whose public half the last seal
 * announced, in FILE or FILE.new; the other is destroyed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <agentd/error.h>
#include <agentd/msg.h>

#include "common/log.h"
#include "common/util.h"
#include "store/audit_int.h"

#define KEY_MAGIC "ADSEALK1"
#define KEY_FILE_LEN (8 + 8 + KEY_LEN)
#define SEAL_DOMAIN "agentd audit seal v1"
#define SEAL_MSG_LEN (20 + 8 + 8 + 8 + 1 + HASH_LEN + 2 * KEY_LEN)
#define RETRY_MS 1000 /* after a seal that could not be written */

struct sealer {
	char         *path, *path_new;
	unsigned      every_records;
	int64_t       every_ms;
	EVP_PKEY     *key; /* the private key of epoch */
	unsigned char pub[KEY_LEN];
	uint64_t      epoch;      /* the number of key's seal */
	int           restart;    /* key's seal starts a new chain */
	uint64_t      sealed_seq; /* the last record the last seal covers */
	int64_t       sealed_at;  /* ad_now_ms() then (or at open) */
	int64_t       retry_at;
};

/* ---- keys ------------------------------------------------------------- */

static void
put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = v & 0xff;
}

static uint64_t
get_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The key of a private seed and its public half; 0 or ENOMEM. */
static int
key_of_seed(const unsigned char seed[KEY_LEN], EVP_PKEY **key,
    unsigned char pub[KEY_LEN])
{
	size_t n = KEY_LEN;

	*key = EVP_PKEY_new_raw_private_key(
	    EVP_PKEY_ED25519, NULL, seed, KEY_LEN);
	if (*key == NULL)
		return ENOMEM;
	if (EVP_PKEY_get_raw_public_key(*key, pub, &n) != 1 || n != KEY_LEN) {
		EVP_PKEY_free(*key);
		*key = NULL;
		return ENOMEM;
	}
	return 0;
}

static int
key_new(
    EVP_PKEY **key, unsigned char pub[KEY_LEN], unsigned char seed[KEY_LEN])
{
	if (RAND_priv_bytes(seed, KEY_LEN) != 1)
		return EIO;
	return key_of_seed(seed, key, pub);
}

static int
fsync_parent(const char *path)
{
	char *dir = ad_xstrdup(path), *slash = strrchr(dir, '/');
	int   fd, rc;

	if (slash == NULL)
		strcpy(dir, ".");
	else
		slash[slash == dir] = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = fd >= 0 && fsync(fd) == 0 ? 0 : errno;
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

/* Write the key file (0600, synced); 0 or an errno value. */
static int
key_file_write(
    const char *path, uint64_t epoch, const unsigned char seed[KEY_LEN])
{
	unsigned char buf[KEY_FILE_LEN];
	int           fd, rc = 0;

	fd = open(
	    path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	memcpy(buf, KEY_MAGIC, 8);
	put_be64(buf + 8, epoch);
	memcpy(buf + 16, seed, KEY_LEN);
	if (fchmod(fd, 0600) != 0
	    || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)
	    || fsync(fd) != 0)
		rc = errno ? errno : EIO;
	OPENSSL_cleanse(buf, sizeof(buf));
	if (close(fd) != 0 && rc == 0)
		rc = errno;
	return rc;
}

/* 0, ENOENT, EPROTO (not a key file) or an errno value. */
static int
key_file_read(const char *path, uint64_t *epoch, unsigned char seed[KEY_LEN])
{
	unsigned char buf[KEY_FILE_LEN + 1];
	ssize_t       n;
	int           fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return errno;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n != KEY_FILE_LEN || memcmp(buf, KEY_MAGIC, 8) != 0) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return EPROTO;
	}
	*epoch = get_be64(buf + 8);
	memcpy(seed, buf + 16, KEY_LEN);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

/*
 * Overwrite the file's bytes with zeros and sync, so the key is gone from
 * the disk's blocks and not only from the folder (on a file system that
 * writes in place: doc/state.md), then remove it if asked.
 */
static int
key_file_destroy(const char *path, int remove)
{
	unsigned char zero[256] = { 0 };
	struct stat   st;
	off_t         left;
	int           fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	int           rc = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : errno;
	if (fstat(fd, &st) != 0)
		rc = errno;
	for (left = st.st_size; rc == 0 && left > 0;) {
		size_t k
		    = left > (off_t)sizeof(zero) ? sizeof(zero) : (size_t)left;
		ssize_t w = write(fd, zero, k);

		if (w <= 0)
			rc = w < 0 ? errno : EIO;
		else
			left -= w;
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = errno;
	close(fd);
	if (rc == 0 && remove && unlink(path) != 0)
		rc = errno;
	return rc;
}

/* Keep the key in path_new: destroy the one in path, rename. */
static int
key_promote(struct sealer *z)
{
	int rc;

	if ((rc = key_file_destroy(z->path, 0)) != 0)
		return rc;
	if (rename(z->path_new, z->path) != 0)
		return errno;
	return fsync_parent(z->path);
}

void
ad_audit_key_format(
    const unsigned char pub[AD_AUDIT_KEY_LEN], char out[AD_AUDIT_KEY_STRLEN])
{
	memcpy(out, "ed25519:", 8);
	ad_hex(pub, KEY_LEN, out + 8);
}

static int
hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
ad_audit_key_parse(const char *s, unsigned char out[AD_AUDIT_KEY_LEN])
{
	if (strncmp(s, "ed25519:", 8) == 0)
		s += 8;
	if (strlen(s) != 2 * KEY_LEN)
		return -1;
	for (size_t i = 0; i < KEY_LEN; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* ---- the seal: what is signed, its codec ------------------------------ */

static void
seal_msg(const struct seal *s, unsigned char m[SEAL_MSG_LEN])
{
	unsigned char *p = m;

	memcpy(p, SEAL_DOMAIN, 20);
	p += 20;
	put_be64(p, s->epoch);
	put_be64(p + 8, s->seq);
	put_be64(p + 16, (uint64_t)s->time_ms);
	p += 24;
	*p++ = s->restart ? 1 : 0;
	memcpy(p, s->hash, HASH_LEN);
	p += HASH_LEN;
	memcpy(p, s->pub, KEY_LEN);
	memcpy(p + KEY_LEN, s->next, KEY_LEN);
}

static int
seal_sign(EVP_PKEY *key, struct seal *s)
{
	unsigned char m[SEAL_MSG_LEN];
	EVP_MD_CTX   *ctx = EVP_MD_CTX_new();
	size_t        n   = SIG_LEN;
	int           ok;

	seal_msg(s, m);
	ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1
	    && EVP_DigestSign(ctx, s->sig, &n, m, sizeof(m)) == 1
	    && n == SIG_LEN;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : ENOMEM;
}

int
audit_seal_signed_by(const struct seal *s, const unsigned char *pub)
{
	unsigned char m[SEAL_MSG_LEN];
	EVP_PKEY     *key;
	EVP_MD_CTX   *ctx;
	int           ok;

	if (memcmp(s->pub, pub, KEY_LEN) != 0)
		return 0;
	key = EVP_PKEY_new_raw_public_key(
	    EVP_PKEY_ED25519, NULL, pub, KEY_LEN);
	ctx = EVP_MD_CTX_new();
	seal_msg(s, m);
	ok = key != NULL && ctx != NULL
	    && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1
	    && EVP_DigestVerify(ctx, s->sig, SIG_LEN, m, sizeof(m)) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	return ok;
}

static int
write_kv_bin(agentd_writer *w, const char *k, const void *p, size_t n)
{
	return agentd_write_str(w, k) != 0 || agentd_write_bin(w, p, n) != 0;
}

static int
seal_encode(agentd_writer *w, const struct seal *s)
{
	agentd_writer_reset(w);
	if (agentd_write_map(w, 8) != 0 || agentd_write_str(w, "epoch") != 0
	    || agentd_write_uint(w, s->epoch) != 0
	    || agentd_write_str(w, "seq") != 0
	    || agentd_write_uint(w, s->seq) != 0
	    || agentd_write_str(w, "time_ms") != 0
	    || agentd_write_int(w, s->time_ms) != 0
	    || agentd_write_str(w, "restart") != 0
	    || agentd_write_bool(w, s->restart) != 0
	    || write_kv_bin(w, "hash", s->hash, HASH_LEN) != 0
	    || write_kv_bin(w, "pub", s->pub, KEY_LEN) != 0
	    || write_kv_bin(w, "next", s->next, KEY_LEN) != 0
	    || write_kv_bin(w, "sig", s->sig, SIG_LEN) != 0)
		return ENOMEM;
	return 0;
}

static int
get_fixed(const agentd_value *m, const char *k, unsigned char *out, size_t n)
{
	const void *p;
	size_t      len;

	if (agentd_get_bin(agentd_map_get(m, k), &p, &len) != 0 || len != n)
		return -1;
	memcpy(out, p, n);
	return 0;
}

/* Seals are keyed by their epoch, from 0 (audit_seq_key's encoding, but
 * 0 is a valid key here). */
static uint64_t
key_epoch(const MDB_val *key)
{
	return key->mv_size == 8 ? get_be64(key->mv_data) : UINT64_MAX;
}

static int
seal_parse(const MDB_val *key, const MDB_val *val, struct seal *s)
{
	agentd_doc         *doc;
	const agentd_value *m;
	int                 rc = EPROTO;

	memset(s, 0, sizeof(*s));
	if (agentd_parse(val->mv_data, val->mv_size, &doc) != 0)
		return EPROTO;
	m = agentd_doc_root(doc);
	if (agentd_get_uint(agentd_map_get(m, "epoch"), &s->epoch) == 0
	    && agentd_get_uint(agentd_map_get(m, "seq"), &s->seq) == 0
	    && agentd_get_int(agentd_map_get(m, "time_ms"), &s->time_ms) == 0
	    && agentd_get_bool(agentd_map_get(m, "restart"), &s->restart) == 0
	    && get_fixed(m, "hash", s->hash, HASH_LEN) == 0
	    && get_fixed(m, "pub", s->pub, KEY_LEN) == 0
	    && get_fixed(m, "next", s->next, KEY_LEN) == 0
	    && get_fixed(m, "sig", s->sig, SIG_LEN) == 0
	    && key_epoch(key) == s->epoch)
		rc = 0;
	agentd_doc_free(doc);
	return rc;
}

int
audit_seal_get(MDB_txn *txn, MDB_dbi dbi, uint64_t epoch, struct seal *s)
{
	unsigned char kb[8];
	MDB_val       key, val;
	int           rc;

	audit_seq_key(epoch, kb, &key);
	if ((rc = mdb_get(txn, dbi, &key, &val)) != 0)
		return rc;
	if ((rc = seal_parse(&key, &val, s)) == 0 && s->epoch != epoch)
		rc = EPROTO;
	return rc;
}

int
audit_seal_from(MDB_txn *txn, MDB_dbi dbi, uint64_t epoch, struct seal *s)
{
	MDB_cursor   *cur;
	unsigned char kb[8];
	MDB_val       key, val;
	int           rc;

	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return rc;
	audit_seq_key(epoch, kb, &key);
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	if (rc == 0) {
		rc = seal_parse(&key, &val, s);
		if (rc == EPROTO)
			s->epoch = key_epoch(&key);
	}
	mdb_cursor_close(cur);
	return rc;
}

static int
seal_last(MDB_txn *txn, MDB_dbi dbi, struct seal *s)
{
	MDB_cursor *cur;
	MDB_val     key, val;
	int         rc;

	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return rc;
	if ((rc = mdb_cursor_get(cur, &key, &val, MDB_LAST)) == 0
	    && (rc = seal_parse(&key, &val, s)) == EPROTO)
		s->epoch = key_epoch(&key);
	mdb_cursor_close(cur);
	return rc;
}

/* ---- writing a seal ---------------------------------------------------- */

static int
seal_put(struct ad_audit *a, MDB_txn *txn, void *arg)
{
	const struct seal *s = arg;
	agentd_writer     *w;
	unsigned char      kb[8];
	MDB_val            key, val;
	int                rc;

	if (agentd_writer_new(&w) != 0)
		return ENOMEM;
	audit_seq_key(s->epoch, kb, &key);
	if ((rc = seal_encode(w, s)) == 0) {
		val.mv_data = (void *)agentd_writer_data(w, &val.mv_size);
		rc = mdb_put(txn, a->seals, &key, &val, MDB_NOOVERWRITE);
	}
	agentd_writer_free(w);
	return rc;
}

static void
sealed_account(struct ad_audit *a, int ok)
{
	struct sealer *z = a->sealer;

	pthread_mutex_lock(&a->mtx);
	if (ok) {
		a->st.seals++;
		a->st.sealed_seq = z->sealed_seq;
	} else {
		a->st.seal_fails++;
	}
	a->st.seal_epoch = z->epoch;
	pthread_mutex_unlock(&a->mtx);
}

/*
 * Seal the committed head with the current key, naming a new one, then
 * destroy the current key (the steps at the top of this file).  Only the
 * writer thread calls it once the writer runs.  0 or an agentd code.
 */
static int
seal_now(struct ad_audit *a)
{
	struct sealer *z    = a->sealer;
	EVP_PKEY      *next = NULL;
	unsigned char  seed[KEY_LEN];
	char           hex[2 * HASH_LEN + 1];
	struct seal    s;
	int            rc;

	memset(&s, 0, sizeof(s));
	pthread_mutex_lock(&a->mtx);
	s.seq = a->st.head_seq;
	memcpy(s.hash, a->st.head_hash, HASH_LEN);
	pthread_mutex_unlock(&a->mtx);
	s.epoch   = z->epoch;
	s.time_ms = ad_wall_ms();
	s.restart = z->restart;
	memcpy(s.pub, z->pub, KEY_LEN);
	rc = key_new(&next, s.next, seed);
	if (rc == 0 && (rc = key_file_write(z->path_new, z->epoch + 1, seed)))
		ad_error("audit: cannot write the next sealing key to %s: %s",
		    z->path_new, strerror(rc));
	OPENSSL_cleanse(seed, sizeof(seed));
	if (rc == 0)
		rc = seal_sign(z->key, &s);
	if (rc == 0)
		rc = audit_write_txn(a, seal_put, &s, 4096);
	if (rc != 0) {
		key_file_destroy(z->path_new, 1);
		EVP_PKEY_free(next);
		sealed_account(a, 0);
		return audit_err(a, rc, "writing an audit seal");
	}
	/* Committed: the key of this epoch must go.  If a step fails, the
	 * next open keeps whichever file matches this seal's next. */
	if ((rc = key_promote(z)) != 0)
		ad_error("audit: sealing key %s not replaced: %s; agentd "
		         "recovers it at its next start",
		    z->path, strerror(rc));
	EVP_PKEY_free(z->key); /* OpenSSL clears the private key it frees */
	z->key = next;
	memcpy(z->pub, s.next, KEY_LEN);
	z->epoch++;
	z->restart    = 0;
	z->sealed_seq = s.seq;
	z->sealed_at  = ad_now_ms();
	z->retry_at   = 0;
	sealed_account(a, 1);
	ad_hex(s.hash, HASH_LEN, hex);
	ad_info("audit: seal %" PRIu64 " covers records to %" PRIu64
	        ", head sha256:%s",
	    s.epoch, s.seq, hex);
	return 0;
}

void
audit_seal_maybe(struct ad_audit *a, int closing)
{
	struct sealer *z = a->sealer;
	int64_t        now;
	uint64_t       head;

	if (z == NULL)
		return;
	now = ad_now_ms();
	pthread_mutex_lock(&a->mtx);
	head = a->st.head_seq;
	pthread_mutex_unlock(&a->mtx);
	if (head <= z->sealed_seq || (!closing && now < z->retry_at))
		return;
	if (closing
	    || (z->every_records != 0
	        && head - z->sealed_seq >= z->every_records)
	    || (z->every_ms != 0 && now - z->sealed_at >= z->every_ms)) {
		if (seal_now(a) != 0)
			z->retry_at = now + RETRY_MS;
	}
}

int
audit_seal_until(struct ad_audit *a, struct timespec *until)
{
	struct sealer *z = a->sealer;
	int64_t        due;

	if (z == NULL || z->every_ms == 0 || a->st.head_seq <= z->sealed_seq)
		return 0;
	due = z->sealed_at + z->every_ms;
	if (z->retry_at > due)
		due = z->retry_at;
	due -= ad_now_ms();
	if (due < 0)
		due = 0;
	clock_gettime(CLOCK_REALTIME, until);
	until->tv_sec += due / 1000;
	until->tv_nsec += (long)(due % 1000) * 1000000L;
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
	return 1;
}

/* ---- opening: which key ----------------------------------------------- */

/* The file's key if it is the one announced (or, with none announced,
 * of the epoch due); 1 if so, 0 if not. */
static int
key_candidate(struct sealer *z, const char *path, const unsigned char *want,
    uint64_t epoch)
{
	unsigned char seed[KEY_LEN], pub[KEY_LEN];
	uint64_t      e   = UINT64_MAX;
	EVP_PKEY     *key = NULL;
	int           ok  = 0;

	if (key_file_read(path, &e, seed) != 0)
		return 0;
	if (e == epoch && key_of_seed(seed, &key, pub) == 0
	    && (want == NULL || memcmp(pub, want, KEY_LEN) == 0)) {
		z->key = key;
		memcpy(z->pub, pub, KEY_LEN);
		ok = 1;
	} else {
		EVP_PKEY_free(key);
	}
	OPENSSL_cleanse(seed, sizeof(seed));
	return ok;
}

/* A new key for the epoch due, in the key file; 0 or an errno value. */
static int
key_fresh(struct sealer *z)
{
	unsigned char seed[KEY_LEN];
	int           rc;

	if ((rc = key_new(&z->key, z->pub, seed)) == 0
	    && (rc = key_file_write(z->path_new, z->epoch, seed)) == 0)
		rc = key_promote(z);
	OPENSSL_cleanse(seed, sizeof(seed));
	return rc;
}

/*
 * The key of the epoch due: the one the last seal announced (last_ok),
 * from the key file or, after a crash inside a seal, from FILE.new; with
 * no seal yet, a key of epoch 0 made before a crash.  None of them: a new
 * key, whose first seal is a restart (or seal 0).  *fresh: 1 if a key was
 * made.
 */
static int
key_recover(
    struct ad_audit *a, const struct seal *last, int last_ok, int *fresh)
{
	struct sealer       *z    = a->sealer;
	const unsigned char *want = last_ok ? last->next : NULL;
	char                 pub[AD_AUDIT_KEY_STRLEN];
	int                  rc, had, known = last == NULL || last_ok;

	z->epoch      = last != NULL ? last->epoch + 1 : 0;
	z->sealed_seq = last_ok ? last->seq : 0;
	*fresh        = 0;
	if (known && key_candidate(z, z->path, want, z->epoch))
		return key_file_destroy(z->path_new, 1);
	if (known && key_candidate(z, z->path_new, want, z->epoch))
		return key_promote(z);
	had = access(z->path, F_OK) == 0 || access(z->path_new, F_OK) == 0;
	if (last != NULL || had)
		ad_error(
		    "audit: the sealing key %s is missing or is not the "
		    "one the last seal announced (lost, or the state was "
		    "restored or changed): sealing goes on with a new key "
		    "from seal %" PRIu64
		    ", which agentctl audit verify --key reports",
		    z->path, z->epoch);
	key_file_destroy(z->path_new, 1);
	if ((rc = key_fresh(z)) != 0)
		return rc;
	z->restart = last != NULL;
	*fresh     = 1;
	ad_audit_key_format(z->pub, pub);
	ad_info("audit: %ssealing key %s (seal %" PRIu64
	        "): keep it elsewhere; agentctl audit verify --key %s checks "
	        "the seals",
	    z->restart ? "NEW " : "", pub, z->epoch, pub);
	return 0;
}

static int
seals_open(struct ad_audit *a, MDB_txn *txn, void *arg)
{
	(void)arg;
	return mdb_dbi_open(txn, "seals", MDB_CREATE, &a->seals);
}

int
audit_seal_open(struct ad_audit *a, const struct ad_audit_opts *opts,
    char *err, size_t errlen)
{
	struct sealer *z;
	struct seal    last;
	MDB_txn       *txn;
	int            rc, have = 0, fresh = 0;

	if (opts == NULL || opts->seal_key == NULL)
		return 0;
	z                = ad_xcalloc(1, sizeof(*z));
	z->path          = ad_xstrdup(opts->seal_key);
	z->path_new      = ad_xasprintf("%s.new", opts->seal_key);
	z->every_records = opts->seal_records;
	z->every_ms      = opts->seal_interval_ms;
	a->sealer        = z;
	if ((rc = audit_write_txn(a, seals_open, NULL, 4096)) != 0
	    || (rc = audit_read_begin(a, &txn)) != 0) {
		ad_seterr(err, errlen, "cannot open the audit seals: %s",
		    mdb_strerror(rc));
		return audit_err(a, rc, "opening the audit seals");
	}
	rc = seal_last(txn, a->seals, &last);
	audit_read_end(a, txn);
	if (rc == EPROTO)
		ad_error("audit: the last seal is unreadable: sealing goes on "
		         "with a new key; run agentctl audit verify --key");
	else if (rc != 0 && rc != MDB_NOTFOUND) {
		ad_seterr(err, errlen, "cannot read the audit seals: %s",
		    mdb_strerror(rc));
		return audit_err(a, rc, "reading the audit seals");
	}
	have = rc == 0 || rc == EPROTO;
	if ((rc = key_recover(a, have ? &last : NULL, rc == 0, &fresh)) != 0) {
		ad_seterr(err, errlen, "cannot set up the sealing key %s: %s",
		    z->path, strerror(rc));
		return AGENTD_EIO;
	}
	z->sealed_at     = ad_now_ms();
	a->st.sealed_seq = z->sealed_seq;
	a->st.seal_epoch = z->epoch;
	if (fresh || !have || a->st.head_seq > z->sealed_seq)
		seal_now(a);
	return 0;
}

void
audit_seal_free(struct ad_audit *a)
{
	struct sealer *z = a->sealer;

	if (z == NULL)
		return;
	EVP_PKEY_free(z->key);
	free(z->path);
	free(z->path_new);
	free(z);
	a->sealer = NULL;
}

/* ---- the keys that start a chain of seals ----------------------------- */

int
ad_audit_keys(struct ad_audit *a, ad_audit_key_fn fn, void *arg)
{
	struct ad_audit_key *k = NULL;
	size_t               n = 0, cap = 0, i;
	struct seal          s;
	MDB_txn             *txn;
	MDB_cursor          *cur;
	MDB_val              key, val;
	int                  rc, rv = 0;

	if (a->sealer == NULL)
		return 0;
	if ((rc = audit_read_begin(a, &txn)) != 0)
		return audit_err(a, rc, "reading the audit seals");
	if ((rc = mdb_cursor_open(txn, a->seals, &cur)) == 0) {
		MDB_cursor_op op = MDB_FIRST;

		for (; (rc = mdb_cursor_get(cur, &key, &val, op)) == 0;
		     op = MDB_NEXT) {
			if (seal_parse(&key, &val, &s) != 0
			    || (s.epoch != 0 && !s.restart))
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 4;
				k   = ad_xrealloc(k, cap * sizeof(*k));
			}
			k[n].epoch   = s.epoch;
			k[n].seq     = s.seq;
			k[n].time_ms = s.time_ms;
			k[n].restart = s.restart;
			memcpy(k[n].pub, s.pub, KEY_LEN);
			n++;
		}
		mdb_cursor_close(cur);
	}
	audit_read_end(a, txn);
	if (rc != MDB_NOTFOUND) {
		free(k);
		return audit_err(a, rc, "reading the audit seals");
	}
	/* Outside the transaction, as queries call their callback. */
	for (i = 0; i < n && rv == 0; i++)
		rv = fn(arg, &k[i]);
	free(k);
	return rv;
}

/*
 * auditrec.h - what the audit-append benchmarks (bench/lmdb_audit,
 * bench/agentd_audit with the bench/auditgen plugin, bench/pg_audit) share,
 * so the three write the same record:
 *
 *   kind     "bench.append"
 *   summary  AUDITREC_SUMMARY_LEN (60) bytes of text
 *   detail   AUDITREC_DETAIL_LEN (100) bytes: one msgpack map
 *            {"seq": uint32, "tool": "shell.exec", "args": str8 of 67}
 *
 * and the latency histogram the plugin instances send back to the driver,
 * which adds them up (so percentiles cover every instance's appends).
 *
 * Header only, no library: the plugin links only the SDK, bench/pg_audit
 * is compiled by bench/run with libpq, bench/lmdb_audit with LMDB.
 */
#ifndef BENCH_AUDITREC_H
#define BENCH_AUDITREC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define AUDITREC_KIND "bench.append"
#define AUDITREC_SUMMARY_LEN 60
#define AUDITREC_DETAIL_LEN 100
#define AUDITREC_HASH_LEN 32

/* 60 bytes, no NUL inside: what a plugin would say about one decision. */
static inline const char *
auditrec_summary(void)
{
	static const char s[] = "tool shell.exec allowed for agent a1: policy "
	                        "default-allow .";

	_Static_assert(sizeof(s) - 1 == AUDITREC_SUMMARY_LEN, "summary size");
	return s;
}

/* The detail, exactly AUDITREC_DETAIL_LEN bytes, into buf. */
static inline size_t
auditrec_detail(unsigned char buf[AUDITREC_DETAIL_LEN], uint32_t seq)
{
	static const char args[] = "--cwd /srv/agents/a1 --timeout 30s "
	                           "--env LANG=C.UTF-8 -- ls -l /tmp";
	unsigned char    *p      = buf;

	_Static_assert(sizeof(args) - 1 == 67, "args size");
	*p++ = 0x83;
	memcpy(p, "\xa3seq\xce", 5);
	p += 5;
	*p++ = (unsigned char)(seq >> 24);
	*p++ = (unsigned char)(seq >> 16);
	*p++ = (unsigned char)(seq >> 8);
	*p++ = (unsigned char)seq;
	memcpy(p,
	    "\xa4tool\xaashell.exec\xa4"
	    "args\xd9\x43",
	    23);
	p += 23;
	memcpy(p, args, 67);
	p += 67;
	return (size_t)(p - buf);
}

/* ---- msgpack, as much as auditrec_value() needs ---------------------- */

static inline unsigned char *
auditrec_str(unsigned char *p, const char *s, size_t n)
{
	if (n < 32) {
		*p++ = (unsigned char)(0xa0 | n);
	} else {
		*p++ = 0xd9;
		*p++ = (unsigned char)n;
	}
	memcpy(p, s, n);
	return p + n;
}

static inline unsigned char *
auditrec_key(unsigned char *p, const char *s)
{
	return auditrec_str(p, s, strlen(s));
}

static inline unsigned char *
auditrec_u64(unsigned char *p, uint64_t v)
{
	int i;

	*p++ = 0xcf;
	for (i = 7; i >= 0; i--)
		*p++ = (unsigned char)(v >> (8 * i));
	return p;
}

static inline unsigned char *
auditrec_bin(unsigned char *p, const void *b, size_t n)
{
	*p++ = 0xc4;
	*p++ = (unsigned char)n;
	memcpy(p, b, n);
	return p + n;
}

#define AUDITREC_VALUE_MAX 512

/*
 * The value agentd stores for such a record (runtime/store/audit.h: a map
 * of nine keys), with the hashes left zero: what raw LMDB writes, so its
 * records are as big as agentd's.  Returns the length.
 */
static inline size_t
auditrec_value(unsigned char buf[AUDITREC_VALUE_MAX], uint64_t seq,
    int64_t time_ms, const char *agent, const char *instance)
{
	static const unsigned char zero[AUDITREC_HASH_LEN];
	unsigned char              detail[AUDITREC_DETAIL_LEN];
	unsigned char             *p = buf;

	*p++ = 0x89;
	p    = auditrec_u64(auditrec_key(p, "seq"), seq);
	p    = auditrec_u64(auditrec_key(p, "time_ms"), (uint64_t)time_ms);
	p    = auditrec_key(auditrec_key(p, "agent"), agent);
	p    = auditrec_key(auditrec_key(p, "instance"), instance);
	p    = auditrec_key(auditrec_key(p, "kind"), AUDITREC_KIND);
	p    = auditrec_str(auditrec_key(p, "summary"), auditrec_summary(),
	       AUDITREC_SUMMARY_LEN);
	p    = auditrec_bin(auditrec_key(p, "detail"), detail,
	       auditrec_detail(detail, (uint32_t)seq));
	p    = auditrec_bin(auditrec_key(p, "prev"), zero, AUDITREC_HASH_LEN);
	p    = auditrec_bin(auditrec_key(p, "hash"), zero, AUDITREC_HASH_LEN);
	return (size_t)(p - buf);
}

/* ---- latency histogram ----------------------------------------------- */

/*
 * Microseconds: exact below 256, then 128 buckets per power of two (each
 * under 0.8% wide), up to 2^40 us.  Counts are uint32, little-endian on
 * the wire (a msgpack bin of AUDITREC_HIST_N * 4 bytes).
 */
#define AUDITREC_HIST_N (256 + 33 * 128)

static inline unsigned
auditrec_bucket(uint64_t us)
{
	unsigned e = 0;

	if (us < 256)
		return (unsigned)us;
	while ((us >> e) > 1)
		e++; /* e = floor(log2 us), 8 or more */
	if (e > 40)
		return AUDITREC_HIST_N - 1;
	return 256 + (e - 8) * 128 + (unsigned)((us >> (e - 7)) & 127);
}

/* The middle of bucket b, microseconds. */
static inline double
auditrec_bucket_us(unsigned b)
{
	unsigned e, sub;

	if (b < 256)
		return b;
	e   = 8 + (b - 256) / 128;
	sub = (b - 256) % 128;
	return (double)((uint64_t)(128 + sub) << (e - 7))
	    + (double)((uint64_t)1 << (e - 7)) / 2;
}

/* Nearest rank: the p-quantile (0 to 1) of counts h, microseconds. */
static inline double
auditrec_hist_pct(const uint64_t *h, double p)
{
	uint64_t n = 0, rank, seen = 0;
	unsigned b;

	for (b = 0; b < AUDITREC_HIST_N; b++)
		n += h[b];
	if (n == 0)
		return 0;
	rank = (uint64_t)(p * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	for (b = 0; b < AUDITREC_HIST_N; b++) {
		seen += h[b];
		if (seen >= rank)
			return auditrec_bucket_us(b);
	}
	return auditrec_bucket_us(AUDITREC_HIST_N - 1);
}

#endif

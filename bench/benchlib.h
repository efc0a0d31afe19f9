/*
 * benchlib - what the raw nng and Redis bench programs (nng_rr, nng_pubsub,
 * redis_rr, redis_pubsub) share: the clock, the latency sample, the
 * options they have in common, their two processes, the pub/sub
 * subscriber's report, and the result lines bench/run parses (formats:
 * bench/README.md), so that all four measure and report alike.
 *
 * Nothing here calls nng or hiredis: automake links it into the nng
 * programs, and bench/run compiles it into the Redis clients itself
 * (configure does not require hiredis).  bench/loadgen.c, a plugin built
 * on its own, keeps its own sample code.
 */
#ifndef BENCH_BENCHLIB_H
#define BENCH_BENCHLIB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __GNUC__ /* the compiler checks the format against the arguments */
#define BENCH_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define BENCH_PRINTF(f, a)
#endif

#define SAMPLE_CAP (1u << 20) /* latencies kept: 8 MiB at most */
#define HDR_LEN 24 /* pub/sub: kind, padding, sequence number, send time */

/* ---- time ------------------------------------------------------------ */

/*
 * CLOCK_MONOTONIC, in nanoseconds: on Linux one clock for all processes,
 * so a pub/sub message can carry its send time to the other process.
 */
uint64_t now_ns(void);
void     sleep_until(uint64_t t); /* until now_ns() reaches t */

/* ---- latency sample -------------------------------------------------- */

struct samples {
	uint64_t *v;
	size_t    n;    /* kept */
	uint64_t  seen; /* offered */
	uint64_t  rng;
};

/* Empty, with room for SAMPLE_CAP; rng from seed and the pid.  0 or -1. */
int    samples_init(struct samples *s, uint64_t seed);
void   samples_add(struct samples *s, uint64_t x);
void   samples_sort(struct samples *s);
double pct_us(const struct samples *s, double p);
void   samples_free(struct samples *s);

/* ---- processes and pipes --------------------------------------------- */

/*
 * The measurement's second process, forked with a pipe each way: the
 * child writes to the parent on *up and reads from it on *down (end of
 * file: the parent is done; down NULL: no such pipe).  Each side is left
 * with its own ends only.  The child is killed when the parent dies
 * (Linux).  Returns fork's pid (0 in the child), or -1 after saying why
 * on stderr, as "prog: pipe: ..." or "prog: fork: ...".
 */
pid_t    bench_fork(const char *prog, int *up, int *down);
int      wait_fd(int fd, int ms); /* 1 when fd is readable within ms */
int      write_all(int fd, const char *buf, size_t len);
void     put_u64(unsigned char *p, uint64_t v);
uint64_t get_u64(const unsigned char *p);

/* ---- options --------------------------------------------------------- */

/*
 * The options the programs have in common, with their defaults; each
 * program's getopt string says which of them it takes.
 */
struct bench_args {
	size_t      payload;  /* -p BYTES */
	int         inflight; /* -k requests in flight */
	double      secs;     /* -d seconds measured */
	double      warm;     /* -W seconds of warm-up */
	double      rate;     /* -r messages per second, 0: unpaced */
	int         workers;  /* -w server workers, 0: the default */
	const char *host;     /* -H Redis host */
	int         port;     /* -P Redis port */
};

void bench_args_init(struct bench_args *a);
/*
 * getopt(3) over opts that takes the options above itself: returns the
 * next other one (or '?'), -1 at the end.
 */
int bench_getopt(
    struct bench_args *a, int argc, char **argv, const char *opts);
/*
 * After the options: 0 if no argument is left and the values are in
 * range (payload from min_payload to 16 MiB, inflight from 1 and workers
 * from 0 to max_inflight, ...), and workers 0 becomes the servers'
 * default, 16 or inflight if more.
 */
int bench_args_finish(
    struct bench_args *a, int argc, size_t min_payload, int max_inflight);

/* ---- req/rep: the two processes -------------------------------------- */

/*
 * Forks (before any thread exists: the caller has started none); the
 * child runs server(a, ready_fd, stop_fd), which writes a byte to ready_fd
 * once it serves and serves until stop_fd reads end of file, and exits
 * with its result.  The parent waits at most 10 s for that byte, runs
 * client(a), then lets the server go and reaps it.  Returns client's
 * result, or 1 (the reason on stderr).
 */
int bench_rr(const char *prog, const struct bench_args *a,
    int (*server)(const struct bench_args *a, int ready_fd, int stop_fd),
    int (*client)(const struct bench_args *a));

/* ---- nng's ipc://: a private temporary folder for the socket --------- */

struct ipc_dir {
	char dir[32];
	char path[64]; /* the socket */
	char url[80];  /* ipc://path */
};

/* /tmp/nng_NAME.XXXXXX/NAME.sock; 0, or -1 after saying why on stderr. */
int  ipc_dir_open(struct ipc_dir *d, const char *prog, const char *name);
void ipc_dir_close(struct ipc_dir *d); /* removes the socket and folder */

/* ---- pub/sub: the subscriber's report to the publisher --------------- */

struct ps_result {
	uint64_t delivered;
	uint64_t last; /* now_ns() of the last delivery */
	double   p50, p99;
};

/* Sorts s and writes "delivered last_ns p50_us p99_us\n" to fd.  0 or -1. */
int ps_report(int fd, uint64_t delivered, uint64_t last, struct samples *s);
/* Reads that line, waiting at most ms for each part of it.  0 or -1. */
int ps_collect(int fd, int ms, struct ps_result *r);

/* ---- the result lines (bench/README.md) ------------------------------ */

/* Sorts s; "rr way=WAY payload=... p99_us=Y". */
void print_rr(const char *way, const struct bench_args *a, uint64_t msgs,
    struct samples *s);
/*
 * "ps way=WAY payload=... p99_us=Y", then the program's own fields, tail
 * formatted as by printf (" paced=%.0f ..."), and a newline.  secs (the
 * field) runs from t0, the first send, to the last delivery; the secs
 * argument stands in when nothing was delivered.
 */
void print_ps(const char *way, size_t payload, uint64_t sent, uint64_t t0,
    double secs, const struct ps_result *r, const char *tail, ...)
    BENCH_PRINTF(7, 8);

#endif

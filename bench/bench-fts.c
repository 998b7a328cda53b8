/*
 * bench-fts: the full-text index (lib/index/fts.c) on a large synthetic
 * mailbox. Not part of make check; results in bench/RESULTS.md.
 *
 *   bench/bench-fts [-n messages] [-b batch] [-c cache_kb] [-d dir] [-k] [-p]
 *
 * Text: gen-corpus.py's bodies (paragraphs of 12 words, sizes from its
 * log-normal distribution, up to 200 kB), lower-cased as the casemap
 * leaves them, except that 30% of the words come from a Zipf-distributed
 * vocabulary of 30,000 made-up words (gen-corpus.py has only 42 words,
 * so without them nothing would be rare), plus a header segment.
 * Generated per UID from a seed, never all held in memory.
 *
 * Phases: (1) message records; (2) indexing in transactions of -b
 * messages (default 16), then 1,000 more at one per transaction (the
 * delivery case); (3) sizes of the fts-*.db files; (4) the stored-text
 * codec: zlib levels against raw on a sample; (5) searches, cold (a new
 * environment and the files dropped from the page cache with
 * posix_fadvise) and warm (the same search again). -k keeps the
 * directory (and with -d an existing index is reused for phase 5 only).
 * -p: the mailbox posts token pairs (idx_fts_set_pairs).
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "index/index.h"

static const char *const common[] = {
	"the", "of", "and", "to", "in", "is", "for", "on", "that", "with",
	"as", "are", "this", "be", "by", "from", "at", "mail", "server",
	"client", "folder", "message", "inbox", "sync", "protocol", "update",
	"meeting", "report", "quarterly", "budget", "release", "patch",
	"review", "deploy", "kernel", "network", "storage", "index", "cache",
	"thread", "search", "fetch",
};
#define NCOMMON (sizeof(common) / sizeof(common[0]))
#define NRARE 30000
#define TEXT_MAX (256 * 1024)

static double zipf_cdf[NRARE];

static uint64_t rs;

static uint64_t
rnd64(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static double
rnd01(void)
{
	return (double)(rnd64() >> 11) / 9007199254740992.0;
}

/* The made-up word of a rank: 4-10 letters, fixed by the rank. */
static size_t
rare_word(uint32_t rank, char *out)
{
	uint64_t h = (uint64_t)rank * 0x9e3779b97f4a7c15ull + 77;
	size_t n = 4 + (size_t)(h % 7), i;

	for (i = 0; i < n; i++) {
		h ^= h >> 29;
		h *= 0xbf58476d1ce4e5b9ull;
		out[i] = (char)('a' + (h >> 40) % 26);
	}
	return n;
}

static size_t
word(char *out)
{
	if (rnd01() < 0.7) {
		const char *w = common[rnd64() % NCOMMON];
		size_t n = strlen(w);

		memcpy(out, w, n);
		return n;
	} else {
		double u = rnd01();
		size_t lo = 0, hi = NRARE - 1;

		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (zipf_cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		return rare_word((uint32_t)lo, out);
	}
}

static size_t
gen_text(uint32_t uid, char *t)
{
	size_t n = 0, kb, w, i;
	double g;

	rs = 0x1234567887654321ull ^ ((uint64_t)uid << 20);
	for (i = 0; i < 4; i++)
		(void)rnd64();
	n += (size_t)snprintf(t, TEXT_MAX, "from: user%u <user%u@example%u.org>"
			      "\nto: user%u <user%u@example.org>\nsubject:",
			      (unsigned)(rnd64() % 100), (unsigned)(rnd64() % 100),
			      (unsigned)(rnd64() % 12), (unsigned)(rnd64() % 100),
			      (unsigned)(rnd64() % 100));
	for (w = 0; w < 2 + rnd64() % 7; w++) {
		t[n++] = ' ';
		n += word(t + n);
	}
	t[n++] = '\0';
	/* lognormvariate(1.3, 0.9), Box-Muller */
	g = sqrt(-2.0 * log(1.0 - rnd01())) * cos(2.0 * M_PI * rnd01());
	kb = (size_t)exp(1.3 + 0.9 * g) + 1;
	if (kb > 200)
		kb = 200;
	while (n < kb * 1024 && n < TEXT_MAX - 4096) {
		size_t paras = 2 + rnd64() % 5;

		for (i = 0; i < paras; i++) {
			for (w = 0; w < 12; w++) {
				n += word(t + n);
				t[n++] = w == 11 ? '.' : ' ';
			}
			t[n++] = '\n';
		}
		t[n++] = '\n';
	}
	return n;
}

static double
cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct ctx {
	uint32_t id, first, n;
	char *text;
	const char *needle;
	size_t len;
	struct idx_fts_result res;
	struct idx_fts_info info;
};

static int
create_cb(struct idx_txn *txn, void *arg)
{
	struct ctx *c = arg;
	struct idx_mbox m;
	int r = idx_mbox_create(txn, "INBOX", 0, &m);

	if (r == IDX_EXISTS)
		r = idx_mbox_get(txn, "INBOX", &m);
	c->id = m.id;
	return r;
}

static int
msgs_cb(struct idx_txn *txn, void *arg)
{
	struct ctx *c = arg;
	uint32_t first, i;
	int r;

	if ((r = idx_uid_alloc(txn, c->id, c->n, &first)) != IDX_OK)
		return r;
	for (i = 0; i < c->n; i++) {
		struct idx_msg m;

		memset(&m, 0, sizeof(m));
		m.size = 30000;
		if ((r = idx_msg_put(txn, c->id, first + i, &m, 0)) != IDX_OK)
			return r;
	}
	return IDX_OK;
}

static int
add_cb(struct idx_txn *txn, void *arg)
{
	struct ctx *c = arg;
	int r;

	for (uint32_t u = c->first; u < c->first + c->n; u++) {
		size_t len = gen_text(u, c->text);

		if ((r = idx_fts_add(txn, c->id, u, c->text, len)) != IDX_OK)
			return r;
	}
	return IDX_OK;
}

static int
search_cb(struct idx_txn *txn, void *arg)
{
	struct ctx *c = arg;

	return idx_fts_search(txn, c->id, c->needle, c->len, &c->res);
}

static int
info_cb(struct idx_txn *txn, void *arg)
{
	struct ctx *c = arg;

	return idx_fts_info(txn, c->id, &c->info);
}

static void
die(const char *what, int r)
{
	fprintf(stderr, "bench-fts: %s: %s\n", what, idx_strerror(r));
	exit(1);
}

static off_t
file_size(const char *dir, const char *name)
{
	char p[4096];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0 ? st.st_size : 0;
}

static void
drop_cache(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char p[4096];
		int fd;

		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if ((fd = open(p, O_RDONLY)) >= 0) {
			(void)fdatasync(fd);
			(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			close(fd);
		}
	}
	closedir(d);
}

static void
codec(uint32_t n)
{
	char *t = malloc(TEXT_MAX), *z = malloc(compressBound(TEXT_MAX)),
	     *back = malloc(TEXT_MAX);
	uint64_t raw = 0, z1 = 0, z6 = 0;
	double tc1 = 0, td1 = 0, t0;
	uint32_t u, step = n / 2000 ? n / 2000 : 1, k = 0;

	for (u = 1; u <= n; u += step, k++) {
		size_t len = gen_text(u, t);
		uLongf zl = compressBound(TEXT_MAX), bl = TEXT_MAX;

		raw += len;
		t0 = now();
		compress2((Bytef *)z, &zl, (Bytef *)t, len, 1);
		tc1 += now() - t0;
		z1 += zl;
		t0 = now();
		uncompress((Bytef *)back, &bl, (Bytef *)z, zl);
		td1 += now() - t0;
		zl = compressBound(TEXT_MAX);
		compress2((Bytef *)z, &zl, (Bytef *)t, len, 6);
		z6 += zl;
	}
	printf("codec (%u texts, %.1f MB): zlib-1 %.3f of raw, compress "
	       "%.0f MB/s, inflate %.0f MB/s; zlib-6 %.3f of raw\n", k,
	       (double)raw / 1e6, (double)z1 / (double)raw,
	       (double)raw / 1e6 / tc1, (double)raw / 1e6 / td1,
	       (double)z6 / (double)raw);
	free(t);
	free(z);
	free(back);
}

static unsigned query_cache_kb;

static void
query(struct idx_env **envp, const char *dir, const char *label,
      const char *needle)
{
	struct ctx c = { 0 };
	struct idx_env_opts o = { .watchdog_secs = 600,
				  .cache_kb = query_cache_kb };
	double t0, cold, warm;
	unsigned long read;
	int r;

	idx_env_close(envp);
	drop_cache(dir);
	if ((r = idx_env_open(dir, &o, envp, NULL)) != IDX_OK)
		die("open", r);
	if ((r = idx_txn_run(*envp, 0, create_cb, &c)) != IDX_OK)
		die("mailbox", r);
	c.needle = needle;
	c.len = strlen(needle);
	t0 = now();
	if ((r = idx_txn_run(*envp, IDX_TXN_READ, search_cb, &c)) != IDX_OK)
		die("search", r);
	cold = now() - t0;
	(void)idx_fts_texts_read();
	t0 = now();
	if ((r = idx_txn_run(*envp, IDX_TXN_READ, search_cb, &c)) != IDX_OK)
		die("search", r);
	warm = now() - t0;
	read = idx_fts_texts_read();
	printf("| %s | `%s` | %zu | %zu | %lu | %.1f | %.1f |\n", label,
	       needle, c.len, c.res.count, read, cold * 1e3, warm * 1e3);
	fflush(stdout);
	idx_fts_result_free(&c.res);
}

int
main(int argc, char **argv)
{
	uint32_t n = 100000, batch = 16, single = 1000;
	unsigned cache_kb = 0;
	char tmpl[] = "/tmp/bench-fts.XXXXXX", *dir = NULL, rare[2][16],
	     phrase[40];
	bool keep = false, reuse = false;
	struct idx_env_opts o = { .watchdog_secs = 600 };
	struct idx_env *env = NULL;
	struct ctx c = { 0 };
	double t0, c0, t, sum = 0;
	uint64_t total = 0;
	off_t sz;
	int opt, r;

	while ((opt = getopt(argc, argv, "n:b:d:kc:p")) != -1) {
		switch (opt) {
		case 'n': n = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'b': batch = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'd': dir = optarg; break;
		case 'k': keep = true; break;
		case 'p': idx_fts_set_pairs(true); break;
		case 'c': cache_kb = (unsigned)strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: bench-fts [-n msgs] [-b batch] "
				"[-c cache_kb] [-d dir] [-k] [-p]\n");
			return 2;
		}
	}
	if (batch == 0 || n <= single)
		return 2;
	o.cache_kb = cache_kb;
	query_cache_kb = cache_kb;
	for (size_t i = 0; i < NRARE; i++) {
		sum += 1.0 / (double)(i + 1);
		zipf_cdf[i] = sum;
	}
	for (size_t i = 0; i < NRARE; i++)
		zipf_cdf[i] /= sum;
	if (dir == NULL) {
		if (mkdtemp(tmpl) == NULL)
			return 1;
		dir = tmpl;
	} else {
		reuse = access(dir, F_OK) == 0;
	}
	if ((r = idx_env_open(dir, &o, &env, NULL)) != IDX_OK)
		die("open", r);
	c.text = malloc(TEXT_MAX);
	if ((r = idx_txn_run(env, 0, create_cb, &c)) != IDX_OK)
		die("mailbox", r);
	if (!reuse) {
		t0 = now();
		for (uint32_t done = 0; done < n; done += c.n) {
			c.n = n - done < 1000 ? n - done : 1000;
			if ((r = idx_txn_run(env, 0, msgs_cb, &c)) != IDX_OK)
				die("messages", r);
		}
		printf("messages: %u records in %.1f s\n", n, now() - t0);
		for (uint32_t u = 1; u <= n; u++)
			total += gen_text(u, c.text);
		printf("text: %.1f MB normalized, %.0f bytes per message\n",
		       (double)total / 1e6, (double)total / n);
		t0 = now();
		c0 = cpu();
		for (c.first = 1; c.first <= n - single; c.first += c.n) {
			c.n = n - single + 1 - c.first < batch ?
			      n - single + 1 - c.first : batch;
			if ((r = idx_txn_run(env, 0, add_cb, &c)) != IDX_OK)
				die("add", r);
			idx_env_tick(env);
		}
		t = now() - t0;
		printf("indexing: %u messages, %u per txn: %.1f s, %.2f ms per "
		       "message, CPU %.2f ms (text generation included)\n",
		       n - single, batch, t, t * 1e3 / (n - single),
		       (cpu() - c0) * 1e3 / (n - single));
		t0 = now();
		c0 = cpu();
		for (c.n = 1; c.first <= n; c.first++) {
			if ((r = idx_txn_run(env, 0, add_cb, &c)) != IDX_OK)
				die("add", r);
			idx_env_tick(env);
		}
		t = now() - t0;
		printf("indexing: %u messages, 1 per txn: %.2f ms per message, "
		       "CPU %.2f ms\n", single, t * 1e3 / single,
		       (cpu() - c0) * 1e3 / single);
		t0 = now();
		for (uint32_t u = 1; u <= single; u++)
			(void)gen_text(u, c.text);
		printf("  (text generation alone: %.3f ms per message)\n",
		       (now() - t0) * 1e3 / single);
		(void)idx_env_checkpoint(env);
	}
	if ((r = idx_txn_run(env, IDX_TXN_READ, info_cb, &c)) != IDX_OK)
		die("info", r);
	printf("state: %u docs, %u in the tail, %u scanned, %u segments\n",
	       c.info.docs, c.info.tail, c.info.scan, c.info.segments);
	sz = file_size(dir, "fts-post.db");
	printf("fts-post.db: %.1f MB, %.0f bytes per message\n", sz / 1e6,
	       (double)sz / c.info.docs);
	sz = file_size(dir, "fts-text.db");
	printf("fts-text.db: %.1f MB, %.0f bytes per message\n", sz / 1e6,
	       (double)sz / c.info.docs);
	sz = file_size(dir, "fts-state.db");
	printf("fts-state.db: %.1f MB\n", sz / 1e6);
	codec(n);
	rare_word(5000, rare[0]);
	rare[0][rare_word(5000, rare[0])] = 0;
	rare[1][rare_word(29000, rare[1])] = 0;
	printf("state: %u with runs over the token cap\n", c.info.longs);
	printf("\n| query | needle | bytes | matches | texts read | cold ms | "
	       "warm ms |\n|---|---|---|---|---|---|---|\n");
	query(&env, dir, "typical word", "message");
	query(&env, dir, "typical word", "quarterly");
	query(&env, dir, "typical word", "meeting");
	query(&env, dir, "inside a word", "essag");
	query(&env, dir, "word prefix", "quarter");
	query(&env, dir, "rare word (rank 5000)", rare[0]);
	query(&env, dir, "rare word (rank 29000)", rare[1]);
	snprintf(phrase, sizeof(phrase), "the %s", rare[0]);
	query(&env, dir, "phrase, common + rare", phrase);
	query(&env, dir, "phrase, two common", "meeting report");
	query(&env, dir, "1 byte", "q");
	query(&env, dir, "2 bytes", "zq");
	query(&env, dir, "3 bytes", "the");
	query(&env, dir, "8 bytes", "budget r");
	query(&env, dir, "20 bytes", "kernel network stora");
	query(&env, dir, "phrase, three common", "review the patch");
	query(&env, dir, "phrase, name in a header", "user42 <user42");
	query(&env, dir, "absent", "xylophone");
	query(&env, dir, "absent 20 bytes", "mail server kernelzz");
	query(&env, dir, "header", "user42@example");
	idx_env_close(&env);
	free(c.text);
	if (!keep && dir == tmpl) {
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
		if (system(cmd) != 0)
			return 1;
	}
	return 0;
}

/*
 * idx-pss: memory of a process that has the index open and has read a
 * mailbox's records, as a session would after SELECT. Linked like
 * imap/imap (static PIE when the build allows), so it also shows that a
 * program with libmoatindex and Berkeley DB links that way.
 *
 *   idx-pss DIR MESSAGES
 *   idx-pss - 0		(the same process without the index: baseline)
 *
 * Creates INBOX with MESSAGES records in the index at DIR if it is not
 * there, reads them all, then for each byte read from stdin prints one
 * line "pss=<kB> private=<kB> regions=<kB> heap=<kB> base=<kB>
 * base_private=<kB> text=<kB> base_text=<kB>" (base: before the index
 * was opened; text: mapped program and library files, which every
 * session on the machine shares) and exits at EOF. Used by
 * test-memory.c, which keeps many of them alive at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/index.h"

struct mem {
	unsigned long pss, priv, regions, heap, text;
};

static void
measure(struct mem *m)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	enum { OTHER, REGION, HEAP, TEXT } kind = OTHER;

	memset(m, 0, sizeof(*m));
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long v;

		/* Mapping lines start with a lower-case hex address,
		 * field lines with an upper-case name. */
		if (((line[0] >= '0' && line[0] <= '9') ||
		     (line[0] >= 'a' && line[0] <= 'f')) &&
		    strchr(line, '-') != NULL) {
			kind = strstr(line, "/__db.") ? REGION :
			       strstr(line, "[heap]") ? HEAP :
			       strchr(line, '/') ? TEXT : OTHER;
			continue;
		}
		if (sscanf(line, "Pss: %lu kB", &v) == 1) {
			m->pss += v;
			if (kind == REGION)
				m->regions += v;
			else if (kind == HEAP)
				m->heap += v;
			else if (kind == TEXT)
				m->text += v;
		} else if (sscanf(line, "Private_Clean: %lu kB", &v) == 1 ||
			   sscanf(line, "Private_Dirty: %lu kB", &v) == 1) {
			m->priv += v;
		}
	}
	fclose(f);
}

struct fill {
	uint32_t n;
};

static int
fill_cb(struct idx_txn *txn, void *ctx)
{
	struct fill *f = ctx;
	struct idx_mbox mb;
	uint32_t first, i;
	int r;

	r = idx_mbox_get(txn, "INBOX", &mb);
	if (r == IDX_OK)
		return IDX_OK;
	if (r != IDX_NOTFOUND ||
	    (r = idx_mbox_create(txn, "INBOX", 0, &mb)) != IDX_OK ||
	    (r = idx_uid_alloc(txn, mb.id, f->n, &first)) != IDX_OK)
		return r;
	for (i = 0; i < f->n; i++) {
		struct idx_msg m;

		memset(&m, 0, sizeof(m));
		m.size = 2000 + i;
		m.internaldate = 1700000000 + i;
		m.blob_len = (uint16_t)snprintf((char *)m.blob, IDX_BLOB_MAX,
						"1700000000.M%uP1Q1.host,S=%u",
						i, 2000 + i);
		if ((r = idx_msg_put(txn, mb.id, first + i, &m, 0)) != IDX_OK)
			return r;
	}
	return IDX_OK;
}

static int
count_msg(uint32_t uid, const struct idx_msg *m, void *ctx)
{
	(void)uid;
	*(uint64_t *)ctx += m->size;
	return 0;
}

static int
read_cb(struct idx_txn *txn, void *ctx)
{
	struct idx_mbox mb;
	int r;

	*(uint64_t *)ctx = 0;
	if ((r = idx_mbox_get(txn, "INBOX", &mb)) != IDX_OK)
		return r;
	return idx_msg_foreach(txn, mb.id, 1, UINT32_MAX, count_msg, ctx);
}

int
main(int argc, char **argv)
{
	struct idx_env *env = NULL;
	struct fill f;
	struct mem base, m;
	uint64_t sum;
	int r;
	char c;

	if (argc != 3) {
		fprintf(stderr, "usage: idx-pss DIR MESSAGES\n");
		return 2;
	}
	f.n = (uint32_t)strtoul(argv[2], NULL, 10);
	measure(&base);
	if (strcmp(argv[1], "-") == 0) {
		env = NULL;
	} else if ((r = idx_env_open(argv[1], NULL, &env, NULL)) != IDX_OK ||
	    (r = idx_txn_run(env, IDX_TXN_SYNC, fill_cb, &f)) != IDX_OK ||
	    (r = idx_txn_run(env, IDX_TXN_READ, read_cb, &sum)) != IDX_OK) {
		fprintf(stderr, "idx-pss: %s\n", idx_strerror(r));
		return 1;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	while (read(0, &c, 1) == 1) {
		measure(&m);
		printf("pss=%lu private=%lu regions=%lu heap=%lu base=%lu "
		       "base_private=%lu text=%lu base_text=%lu\n", m.pss,
		       m.priv, m.regions, m.heap, base.pss, base.priv, m.text,
		       base.text);
	}
	idx_env_close(&env);
	return 0;
}

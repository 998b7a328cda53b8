/*
 * libFuzzer harness for imap/msgfields-keys.c, the SORT kind's cache
 * record (and the DATE kind's, the same bytes decoded as one): a record
 * read back from the user's index is untrusted. For
 * any input the decoder stays in bounds (ASan); when it accepts, the
 * record is canonical (encoding what it decoded gives the same bytes),
 * and a decode of only some fields gives those fields the same.
 * abort() on a broken invariant.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/pool.h"
#include "imap/imap-msgfields.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ALL (MSGF_DATE | MSGF_SUBJECT | MSGF_FROM | MSGF_TO | MSGF_CC | \
	     MSGF_DISPLAYFROM | MSGF_DISPLAYTO | MSGF_REFS)

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
init(struct msgfields *f)
{
	memset(f, 0, sizeof(*f));
	f->subject = f->from = f->to = f->cc = "";
	f->displayfrom = f->displayto = "";
	f->date = 12345;	/* INTERNALDATE stands in */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pool *pool = pool_new(4096);
	struct msgfields f, g;
	struct buf *again;
	bool have_date;

	/* the same bytes as a DATE record: canonical when accepted */
	init(&f);
	if (msgfields_date_decode(data, size, &f, &have_date) == 0) {
		check(have_date || f.date == 12345);
		again = msgfields_date_encode(have_date, f.date);
		check(buf_len(again) == size &&
		      memcmp(buf_data(again), data, size) == 0);
		buf_free(&again);
	}
	init(&f);
	if (msgfields_keys_decode(data, size, ALL, pool, &f, &have_date) == 0) {
		check(have_date || f.date == 12345);
		again = msgfields_keys_encode(&f, have_date);
		check(again != NULL);
		check(buf_len(again) == size &&
		      memcmp(buf_data(again), data, size) == 0);
		buf_free(&again);
		init(&g);
		check(msgfields_keys_decode(data, size, MSGF_DATE | MSGF_FROM,
					    pool, &g, NULL) == 0);
		check(g.date == f.date && strcmp(g.from, f.from) == 0);
		check(g.subject[0] == '\0' && g.n_refs == 0 &&
		      g.msgid == NULL);
	}
	pool_free(&pool);
	return 0;
}

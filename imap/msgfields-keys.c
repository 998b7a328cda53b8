/*
 * msgfields-keys: the SORT kind's cache record (see imap-msgfields.h),
 * the compared keys of one message, and the DATE kind's, its date. Input of the decoder: a record read
 * from the user's index, checked as untrusted (exact lengths, bounded
 * fields, no NUL in a key), fuzzed by fuzz/fuzz-sort-keys.
 *
 * Layout (after the store's stamp): u8 version | u8 flags | u64 sent
 * date (0 without one) | six keys (subject, from, to, cc, displayfrom,
 * displayto), each u16 length and bytes | if flagged, u16 Message-ID
 * length and bytes | u8 references count, each u16 length and bytes.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/pool.h"
#include "imap/imap-msgfields.h"
#include "mail/thread.h"

#define KEYS_VERSION 1
#define KEYS_HAS_DATE 1u
#define KEYS_REPLY 2u
#define KEYS_HAS_MSGID 4u
#define KEYS_FLAGS (KEYS_HAS_DATE | KEYS_REPLY | KEYS_HAS_MSGID)
#define KEYS_N 6
_Static_assert(MSGFIELDS_KEYS_REC_MAX >= 10 + KEYS_N * (2 + MSGFIELDS_KEY_MAX) +
	       2 + MAIL_MSGID_MAX + 1 + 2 * MAIL_THREAD_MAX_REFS +
	       MSGFIELDS_REFS_BYTES, "the largest record fits");

struct buf *
msgfields_keys_encode(const struct msgfields *f, bool have_date)
{
	const char *keys[KEYS_N] = { f->subject, f->from, f->to, f->cc,
				     f->displayfrom, f->displayto };
	struct buf *b = buf_new(MSGFIELDS_KEYS_REC_MAX);
	uint8_t flags = (have_date ? KEYS_HAS_DATE : 0) |
		(f->reply ? KEYS_REPLY : 0) |
		(f->msgid != NULL ? KEYS_HAS_MSGID : 0);
	size_t ref_bytes = 0;
	int bad = 0;

	/* what the decoder would refuse is not written */
	for (int i = 0; i < KEYS_N; i++)
		if (strlen(keys[i]) > MSGFIELDS_KEY_MAX)
			bad = -1;
	if (f->msgid != NULL && (f->msgid[0] == '\0' ||
				 strlen(f->msgid) > MAIL_MSGID_MAX))
		bad = -1;
	if (f->n_refs > MAIL_THREAD_MAX_REFS)
		bad = -1;
	for (size_t i = 0; bad == 0 && i < f->n_refs; i++)
		if (f->refs[i][0] == '\0' ||
		    (ref_bytes += strlen(f->refs[i])) > MSGFIELDS_REFS_BYTES)
			bad = -1;
	if (bad != 0) {
		buf_free(&b);
		return NULL;
	}
	bad |= buf_put_u8(b, KEYS_VERSION);
	bad |= buf_put_u8(b, flags);
	bad |= buf_put_u64(b, have_date ? (uint64_t)f->date : 0);
	for (int i = 0; i < KEYS_N; i++) {
		bad |= buf_put_u16(b, (uint16_t)strlen(keys[i]));
		bad |= buf_append_str(b, keys[i]);
	}
	if (f->msgid != NULL) {
		bad |= buf_put_u16(b, (uint16_t)strlen(f->msgid));
		bad |= buf_append_str(b, f->msgid);
	}
	bad |= buf_put_u8(b, (uint8_t)f->n_refs);
	for (size_t i = 0; i < f->n_refs; i++) {
		bad |= buf_put_u16(b, (uint16_t)strlen(f->refs[i]));
		bad |= buf_append_str(b, f->refs[i]);
	}
	if (bad != 0)
		buf_free(&b);
	return b;
}

/* One string of a record: at most max bytes, no NUL (the keys are C
 * strings); copied to pool when out is not NULL. */
static int
keys_str(struct rd *rd, size_t n, size_t max, struct pool *pool,
	 const char **out)
{
	const uint8_t *p;

	if (n > max || rd_get_bytes(rd, &p, n) < 0 || memchr(p, 0, n) != NULL)
		return -1;
	if (out != NULL)
		*out = pool_strndup(pool, (const char *)p, n);
	return 0;
}

int
msgfields_keys_decode(const uint8_t *data, size_t len, unsigned int want,
		      struct pool *pool, struct msgfields *f, bool *have_date)
{
	static const unsigned int key_want[KEYS_N] = {
		MSGF_SUBJECT, MSGF_FROM, MSGF_TO, MSGF_CC, MSGF_DISPLAYFROM,
		MSGF_DISPLAYTO };
	const char **keys[KEYS_N] = { &f->subject, &f->from, &f->to, &f->cc,
				      &f->displayfrom, &f->displayto };
	bool refs = (want & MSGF_REFS) != 0;
	struct rd rd;
	uint8_t version, flags, n_refs;
	uint64_t date;
	uint16_t n16;
	size_t ref_bytes = 0;

	rd_init(&rd, data, len);
	if (rd_get_u8(&rd, &version) < 0 || version != KEYS_VERSION ||
	    rd_get_u8(&rd, &flags) < 0 || (flags & ~KEYS_FLAGS) != 0 ||
	    rd_get_u64(&rd, &date) < 0)
		return -1;
	if (flags & KEYS_HAS_DATE)
		f->date = (time_t)(int64_t)date;
	else if (date != 0)
		return -1;
	if (have_date != NULL)
		*have_date = (flags & KEYS_HAS_DATE) != 0;
	f->reply = (flags & KEYS_REPLY) != 0;
	for (int i = 0; i < KEYS_N; i++)
		if (rd_get_u16(&rd, &n16) < 0 ||
		    keys_str(&rd, n16, MSGFIELDS_KEY_MAX, pool,
			     (want & key_want[i]) ? keys[i] : NULL) < 0)
			return -1;
	if ((flags & KEYS_HAS_MSGID) &&
	    (rd_get_u16(&rd, &n16) < 0 || n16 == 0 ||
	     keys_str(&rd, n16, MAIL_MSGID_MAX, pool,
		      refs ? &f->msgid : NULL) < 0))
		return -1;
	if (rd_get_u8(&rd, &n_refs) < 0 || n_refs > MAIL_THREAD_MAX_REFS)
		return -1;
	if (refs) {
		f->refs = pool_alloc(pool, (n_refs + 1u) * sizeof(*f->refs));
		f->n_refs = n_refs;
	}
	for (size_t i = 0; i < n_refs; i++) {
		if (rd_get_u16(&rd, &n16) < 0 || n16 == 0 ||
		    (ref_bytes += n16) > MSGFIELDS_REFS_BYTES ||
		    keys_str(&rd, n16, MSGFIELDS_REFS_BYTES, pool,
			     refs ? &f->refs[i] : NULL) < 0)
			return -1;
	}
	return rd_empty(&rd) ? 0 : -1;
}

#define DATE_VERSION 1

struct buf *
msgfields_date_encode(bool have_date, time_t date)
{
	struct buf *b = buf_new(MSGFIELDS_DATE_REC_LEN);

	(void)buf_put_u8(b, DATE_VERSION);
	(void)buf_put_u8(b, have_date ? 1 : 0);
	(void)buf_put_u64(b, have_date ? (uint64_t)(int64_t)date : 0);
	return b;
}

int
msgfields_date_decode(const uint8_t *data, size_t len, struct msgfields *f,
		      bool *have_date)
{
	struct rd rd;
	uint8_t version, has;
	uint64_t date;

	rd_init(&rd, data, len);
	if (rd_get_u8(&rd, &version) < 0 || version != DATE_VERSION ||
	    rd_get_u8(&rd, &has) < 0 || has > 1 ||
	    rd_get_u64(&rd, &date) < 0 || !rd_empty(&rd) ||
	    (has == 0 && date != 0))
		return -1;
	if (has)
		f->date = (time_t)(int64_t)date;
	if (have_date != NULL)
		*have_date = has != 0;
	return 0;
}

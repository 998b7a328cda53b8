/* Tests for lib/index/record.c: the mailbox and message value layouts
 * round-trip, and every truncated, oversized or malformed value is
 * rejected without reading past its end (run under ASan too). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "index/index.h"

static struct idx_mbox
sample_mbox(void)
{
	struct idx_mbox m;

	memset(&m, 0, sizeof(m));
	m.id = 7;
	m.uidvalidity = 1700000000u;
	m.uidnext = 4242;
	m.recent_uid = 4000;
	m.highestmodseq = 0x0102030405060708ull;
	m.messages = 100;
	m.unseen = 40;
	m.deleted = 3;
	m.size = 0x1122334455ull;
	m.stamp_len = 5;
	memcpy(m.stamp, "stamp", 5);
	return m;
}

static struct idx_msg
sample_msg(void)
{
	struct idx_msg m;

	memset(&m, 0, sizeof(m));
	m.modseq = 99;
	m.keywords = 0x8000000000000001ull;
	m.internaldate = -5;	/* before 1970 must survive */
	m.savedate = 1700000001;
	m.size = 12345;
	m.flags = IDX_F_SEEN | IDX_F_DRAFT;
	m.blob_len = 3;
	memcpy(m.blob, "abc", 3);
	return m;
}

Test(record, mbox_round_trip)
{
	struct idx_mbox m = sample_mbox(), d;
	uint8_t buf[IDX_MBOX_REC_MAX];
	size_t len = idx_mbox_encode(&m, buf, sizeof(buf));

	cr_assert_eq(len, IDX_MBOX_FIXED + 5, "got %zu, want %d", len,
		     IDX_MBOX_FIXED + 5);
	/* Big-endian on disk: the id is bytes 2..5. */
	cr_assert_eq(buf[0], 1);
	cr_assert(buf[2] == 0 && buf[3] == 0 && buf[4] == 0 && buf[5] == 7);
	cr_assert_eq(idx_mbox_decode(buf, len, &d), IDX_OK);
	cr_assert_eq(memcmp(&m, &d, sizeof(m)), 0);
}

Test(record, mbox_full_stamp)
{
	struct idx_mbox m = sample_mbox(), d;
	uint8_t buf[IDX_MBOX_REC_MAX];
	size_t len;

	m.stamp_len = IDX_STAMP_MAX;
	memset(m.stamp, 0xab, IDX_STAMP_MAX);
	len = idx_mbox_encode(&m, buf, sizeof(buf));
	cr_assert_eq(len, IDX_MBOX_REC_MAX);
	cr_assert_eq(idx_mbox_decode(buf, len, &d), IDX_OK);
	cr_assert_eq(memcmp(&m, &d, sizeof(m)), 0);
	m.stamp_len = IDX_STAMP_MAX + 1;
	cr_assert_eq(idx_mbox_encode(&m, buf, sizeof(buf)), 0);
}

Test(record, mbox_encode_small_buffer)
{
	struct idx_mbox m = sample_mbox();
	uint8_t buf[IDX_MBOX_FIXED + 4];

	cr_assert_eq(idx_mbox_encode(&m, buf, sizeof(buf)), 0);
}

/* Every prefix of a valid value is rejected; so is one extra byte. The
 * value is copied to an exact-size heap block so ASan sees any
 * overread. */
Test(record, mbox_truncated_and_oversized)
{
	struct idx_mbox m = sample_mbox(), d;
	uint8_t buf[IDX_MBOX_REC_MAX + 1];
	size_t len = idx_mbox_encode(&m, buf, sizeof(buf)), i;

	for (i = 0; i < len; i++) {
		uint8_t *p = malloc(i ? i : 1);

		memcpy(p, buf, i);
		cr_assert_eq(idx_mbox_decode(p, i, &d), IDX_CORRUPT,
			     "prefix of %zu bytes accepted", i);
		free(p);
	}
	buf[len] = 0;
	cr_assert_eq(idx_mbox_decode(buf, len + 1, &d), IDX_CORRUPT);
}

Test(record, mbox_bad_fields)
{
	static const struct {
		size_t off;
		uint8_t val;
		const char *what;
	} rows[] = {
		{ 0, 2, "layout version 2" },
		{ 0, 0, "layout version 0" },
		{ 1, 1, "reserved byte set" },
		{ 46, 0xff, "stamp length beyond the value" },
	};
	struct idx_mbox m = sample_mbox(), d;
	uint8_t buf[IDX_MBOX_REC_MAX];
	size_t len = idx_mbox_encode(&m, buf, sizeof(buf)), i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint8_t copy[IDX_MBOX_REC_MAX];

		memcpy(copy, buf, len);
		copy[rows[i].off] = rows[i].val;
		cr_assert_eq(idx_mbox_decode(copy, len, &d), IDX_CORRUPT,
			     "%s accepted", rows[i].what);
	}
}

Test(record, mbox_invariants)
{
	struct idx_mbox m, d;
	uint8_t buf[IDX_MBOX_REC_MAX];
	size_t len;

	m = sample_mbox();
	m.uidvalidity = 0;
	len = idx_mbox_encode(&m, buf, sizeof(buf));
	cr_assert_eq(idx_mbox_decode(buf, len, &d), IDX_CORRUPT, "uidvalidity 0");
	m = sample_mbox();
	m.uidnext = 0;
	len = idx_mbox_encode(&m, buf, sizeof(buf));
	cr_assert_eq(idx_mbox_decode(buf, len, &d), IDX_CORRUPT, "uidnext 0");
	m = sample_mbox();
	m.id = 0;
	len = idx_mbox_encode(&m, buf, sizeof(buf));
	cr_assert_eq(idx_mbox_decode(buf, len, &d), IDX_CORRUPT, "id 0");
	m = sample_mbox();
	m.unseen = m.messages + 1;
	len = idx_mbox_encode(&m, buf, sizeof(buf));
	cr_assert_eq(idx_mbox_decode(buf, len, &d), IDX_CORRUPT, "unseen");
	m = sample_mbox();
	m.deleted = m.messages + 1;
	len = idx_mbox_encode(&m, buf, sizeof(buf));
	cr_assert_eq(idx_mbox_decode(buf, len, &d), IDX_CORRUPT, "deleted");
}

Test(record, msg_round_trip)
{
	struct idx_msg m = sample_msg(), d;
	uint8_t buf[IDX_MSG_REC_MAX];
	size_t len = idx_msg_encode(&m, buf, sizeof(buf));

	cr_assert_eq(len, IDX_MSG_FIXED + 3);
	cr_assert_eq(idx_msg_decode(buf, len, &d), IDX_OK);
	cr_assert_eq(d.modseq, m.modseq);
	cr_assert_eq(d.keywords, m.keywords);
	cr_assert_eq(d.internaldate, -5);
	cr_assert_eq(d.savedate, m.savedate);
	cr_assert_eq(d.size, m.size);
	cr_assert_eq(d.flags, m.flags);
	cr_assert_eq(d.blob_len, 3);
	cr_assert_eq(memcmp(d.blob, "abc", 3), 0);
}

Test(record, msg_full_blob)
{
	struct idx_msg m = sample_msg(), d;
	uint8_t buf[IDX_MSG_REC_MAX];
	size_t len;

	m.blob_len = IDX_BLOB_MAX;
	memset(m.blob, 'x', IDX_BLOB_MAX);
	len = idx_msg_encode(&m, buf, sizeof(buf));
	cr_assert_eq(len, IDX_MSG_REC_MAX);
	cr_assert_eq(idx_msg_decode(buf, len, &d), IDX_OK);
	cr_assert_eq(memcmp(d.blob, m.blob, IDX_BLOB_MAX), 0);
	m.blob_len = IDX_BLOB_MAX + 1;
	cr_assert_eq(idx_msg_encode(&m, buf, sizeof(buf)), 0);
}

Test(record, msg_truncated_and_oversized)
{
	struct idx_msg m = sample_msg(), d;
	uint8_t buf[IDX_MSG_REC_MAX + 1];
	size_t len = idx_msg_encode(&m, buf, sizeof(buf)), i;

	for (i = 0; i < len; i++) {
		uint8_t *p = malloc(i ? i : 1);

		memcpy(p, buf, i);
		cr_assert_eq(idx_msg_decode(p, i, &d), IDX_CORRUPT,
			     "prefix of %zu bytes accepted", i);
		free(p);
	}
	buf[len] = 'y';
	cr_assert_eq(idx_msg_decode(buf, len + 1, &d), IDX_CORRUPT);
}

Test(record, msg_bad_fields)
{
	struct idx_msg m = sample_msg(), d;
	uint8_t buf[IDX_MSG_REC_MAX], copy[IDX_MSG_REC_MAX];
	size_t len = idx_msg_encode(&m, buf, sizeof(buf));

	memcpy(copy, buf, len);
	copy[0] = 2;
	cr_assert_eq(idx_msg_decode(copy, len, &d), IDX_CORRUPT, "version 2");
	memcpy(copy, buf, len);
	copy[1] = 0x20;	/* a flag bit that does not exist */
	cr_assert_eq(idx_msg_decode(copy, len, &d), IDX_CORRUPT, "flag 0x20");
	memcpy(copy, buf, len);
	copy[42] = 0xff;	/* blob length high byte */
	cr_assert_eq(idx_msg_decode(copy, len, &d), IDX_CORRUPT, "blob len");
	m.flags = 0x40;
	cr_assert_eq(idx_msg_encode(&m, buf, sizeof(buf)), 0,
		     "unknown flags encoded");
}

/* Random bytes of every length up to the maximum never crash the
 * decoders (and are nearly always rejected). */
Test(record, random_values)
{
	unsigned seed = 12345;
	int i;

	for (i = 0; i < 20000; i++) {
		size_t len = (size_t)rand_r(&seed) % (IDX_MSG_REC_MAX + 2);
		uint8_t *p = malloc(len ? len : 1);
		struct idx_mbox mb;
		struct idx_msg ms;
		size_t j;

		for (j = 0; j < len; j++)
			p[j] = (uint8_t)rand_r(&seed);
		if (len > 0)
			p[0] = 1;	/* get past the version check */
		(void)idx_mbox_decode(p, len, &mb);
		(void)idx_msg_decode(p, len, &ms);
		free(p);
	}
}

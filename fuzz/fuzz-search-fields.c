/*
 * libFuzzer harness for the SEARCH kind's cache record
 * (imap/search-fields.c):
 *   - input byte 0 even: the rest is a record as read from the index
 *     (untrusted); an accepted one's segments cover it exactly, each
 *     with a non-empty name;
 *   - odd: the rest is a header block; its record, when one is made,
 *     decodes, and its segments are exactly what mail_textnorm_run gives
 *     for the block (names and every value's bytes, in order), which is
 *     what makes a match on the record a match on the block.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/search-fields.h"
#include "mail/textnorm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

struct replay {
	const struct search_fields *f;
	size_t pos;              /* the next segment */
	struct search_fields_seg seg;
	size_t at;               /* bytes of its value seen */
};

static int
replay_cb(void *ctx, enum mail_textnorm_event ev,
	  const struct mail_textnorm_seg *seg, const uint8_t *d, size_t len)
{
	struct replay *r = ctx;

	switch (ev) {
	case MAIL_TEXTNORM_START:
		check(search_fields_next(r->f, &r->pos, &r->seg));
		check(r->seg.name_len == seg->name_len &&
		      memcmp(r->seg.name, seg->name, seg->name_len) == 0);
		r->at = 0;
		break;
	case MAIL_TEXTNORM_DATA:
		check(len <= r->seg.value_len - r->at &&
		      memcmp(r->seg.value + r->at, d, len) == 0);
		r->at += len;
		break;
	case MAIL_TEXTNORM_END:
		check(r->at == r->seg.value_len);
		break;
	}
	return MAIL_TEXTNORM_CONTINUE;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct search_fields f;
	struct search_fields_seg seg;
	struct buf *val;
	size_t pos = 0, covered = 0;

	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		if (search_fields_decode(data + 1, size - 1, &f) == 0) {
			while (search_fields_next(&f, &pos, &seg)) {
				check(seg.name_len > 0);
				covered += 1 + seg.name_len + 4 +
					seg.value_len;
			}
			check(covered == f.len && pos == f.len);
			check(f.date_state == 1 || f.date_state == 2);
		}
		return 0;
	}
	if (search_fields_make(data + 1, size - 1, (data[0] & 2) ? 1 : 2,
			       (int64_t)size * 86400, &val) == 0) {
		struct mail_textnorm_src src = { .fd = -1, .data = data + 1,
						 .size = size - 1 };
		struct replay r = { .f = &f };

		check(search_fields_decode(buf_data(val), buf_len(val),
					   &f) == 0);
		check(mail_textnorm_run(&src, NULL, MAIL_TEXTNORM_HEADER,
					replay_cb, &r) == 0);
		check(!search_fields_next(&f, &r.pos, &seg));
		buf_free(&val);
	}
	return 0;
}

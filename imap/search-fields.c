/*
 * search-fields: the SEARCH kind's cache record (see search-fields.h).
 */
#include "config.h"

#include <string.h>

#include "imap/search-fields.h"
#include "mail/textnorm.h"
#include "storage/store.h"

/* the layout (1) and the normalization the text is in: a record of
 * another textnorm version is made again */
#define FIELDS_VERSION (0x10 | MAIL_TEXTNORM_VERSION)
_Static_assert(MAIL_TEXTNORM_VERSION < 0x10, "the version fits its nibble");
#define FIELDS_HEAD 10          /* version, date state, day */
#define NAME_MAX_LEN 255

struct collect {
	struct buf *out;
	size_t len_at;          /* the open segment's u32 length */
	bool unfit;             /* too big, or a name the layout cannot hold */
};

static bool
name_ok(const uint8_t *name, size_t len)
{
	if (len == 0 || len > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '\0' || name[i] == '\r' || name[i] == '\n' ||
		    name[i] == ':')
			return false;
	return true;
}

static int
collect_cb(void *ctx, enum mail_textnorm_event ev,
	   const struct mail_textnorm_seg *seg, const uint8_t *data,
	   size_t len)
{
	struct collect *c = ctx;

	switch (ev) {
	case MAIL_TEXTNORM_START:
		if (!name_ok(seg->name, seg->name_len) ||
		    buf_put_u8(c->out, (uint8_t)seg->name_len) < 0 ||
		    buf_append(c->out, seg->name, seg->name_len) < 0 ||
		    buf_put_u32(c->out, 0) < 0) {
			c->unfit = true;
			return MAIL_TEXTNORM_STOP;
		}
		c->len_at = buf_len(c->out) - 4;
		return MAIL_TEXTNORM_CONTINUE;
	case MAIL_TEXTNORM_DATA:
		if (buf_append(c->out, data, len) < 0) {
			c->unfit = true;
			return MAIL_TEXTNORM_STOP;
		}
		return MAIL_TEXTNORM_CONTINUE;
	case MAIL_TEXTNORM_END: {
		uint8_t *p = buf_data_mut(c->out) + c->len_at;
		uint32_t n = (uint32_t)(buf_len(c->out) - c->len_at - 4);

		p[0] = (uint8_t)(n >> 24);
		p[1] = (uint8_t)(n >> 16);
		p[2] = (uint8_t)(n >> 8);
		p[3] = (uint8_t)n;
		break;
	}
	}
	return MAIL_TEXTNORM_CONTINUE;
}

int
search_fields_make(const uint8_t *blk, size_t len, int date_state,
		   int64_t day, struct buf **val)
{
	struct mail_textnorm_src src = { .fd = -1, .data = blk, .size = len };
	struct collect c = { .out = buf_new(STORE_CACHE_MAX) };

	*val = NULL;
	(void)buf_put_u8(c.out, FIELDS_VERSION);
	(void)buf_put_u8(c.out, date_state == 1 ? 1 : 2);
	(void)buf_put_u64(c.out, date_state == 1 ? (uint64_t)day : 0);
	if (mail_textnorm_run(&src, NULL, MAIL_TEXTNORM_HEADER, collect_cb,
			      &c) < 0) {
		buf_free(&c.out);
		return -1;
	}
	if (c.unfit) {
		buf_free(&c.out);
		return 1;
	}
	*val = c.out;
	return 0;
}

bool
search_fields_next(const struct search_fields *f, size_t *pos,
		   struct search_fields_seg *seg)
{
	const uint8_t *p = f->segs + *pos;
	size_t left = f->len - *pos, n;

	if (left == 0)
		return false;
	/* the decoder checked the whole layout */
	seg->name_len = p[0];
	seg->name = p + 1;
	p += 1 + seg->name_len;
	n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	seg->value = p + 4;
	seg->value_len = n;
	*pos += 1 + seg->name_len + 4 + n;
	return true;
}

int
search_fields_decode(const uint8_t *val, size_t len, struct search_fields *f)
{
	struct rd r;
	uint8_t ver, state;
	uint64_t day;

	memset(f, 0, sizeof(*f));
	rd_init(&r, val, len);
	if (rd_get_u8(&r, &ver) < 0 || ver != FIELDS_VERSION ||
	    rd_get_u8(&r, &state) < 0 || (state != 1 && state != 2) ||
	    rd_get_u64(&r, &day) < 0 || (state == 2 && day != 0))
		return -1;
	while (!rd_empty(&r)) {
		const uint8_t *name, *value;
		uint8_t nlen;
		uint32_t vlen;

		if (rd_get_u8(&r, &nlen) < 0 ||
		    rd_get_bytes(&r, &name, nlen) < 0 ||
		    !name_ok(name, nlen) || rd_get_u32(&r, &vlen) < 0 ||
		    rd_get_bytes(&r, &value, vlen) < 0 ||
		    memchr(value, '\0', vlen) != NULL)
			return -1;
	}
	f->segs = val + FIELDS_HEAD;
	f->len = len - FIELDS_HEAD;
	f->date_state = state;
	f->day = (int64_t)day;
	return 0;
}

/*
 * libFuzzer harness for lib/mail/textnorm.c: a hostile message. The
 * first byte picks the segment kinds and the byte limit of the collected
 * form. Checked for every input (abort() reports a violation):
 *   - every piece the callback gets is valid UTF-8 without a NUL, inside
 *     a START ... END pair;
 *   - the collected form is valid UTF-8, at most the limit, and either
 *     empty or NUL-terminated (NUL only between segments);
 *   - unlimited, the collected form is the streamed pieces joined, one
 *     NUL after each segment (header segments prefixed "NAME: ");
 *   - truncated is set only when the unlimited form is longer;
 *   - the HTML stage alone, fed in two pieces, gives valid UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mail/casemap.h"
#include "mail/textnorm.h"
#include "mail/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

struct st {
	struct buf *joined;
	bool open;
};

static int
cb(void *ctx, enum mail_textnorm_event ev, const struct mail_textnorm_seg *seg,
   const uint8_t *d, size_t len)
{
	struct st *s = ctx;

	switch (ev) {
	case MAIL_TEXTNORM_START:
		check(!s->open);
		s->open = true;
		if (seg->name != NULL) {
			check(mail_casemap(seg->name, seg->name_len,
					   s->joined) == 0);
			check(buf_append_str(s->joined, ": ") == 0);
		}
		break;
	case MAIL_TEXTNORM_DATA:
		check(s->open && len > 0);
		check(memchr(d, 0, len) == NULL);
		check(mail_utf8_valid(d, len));
		check(buf_append(s->joined, d, len) == 0);
		break;
	case MAIL_TEXTNORM_END:
		check(s->open);
		s->open = false;
		check(buf_append_byte(s->joined, 0) == 0);
		break;
	}
	return MAIL_TEXTNORM_CONTINUE;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t limits[] = { 0, 1, 7, 64, 1000 };
	struct mail_textnorm_src src = { .fd = -1 };
	struct st s = { 0 };
	struct buf *out;
	struct mail_html2text h;
	unsigned int want;
	size_t limit;
	bool tr;

	if (size < 1)
		return 0;
	want = (data[0] & 7) == 0 ? MAIL_TEXTNORM_ALL : data[0] & 7;
	limit = limits[(data[0] >> 3) % 5];
	src.data = data + 1;
	src.size = size - 1;

	s.joined = buf_new(64u << 20);
	check(mail_textnorm_run(&src, NULL, want, cb, &s) == 0);
	check(!s.open);

	out = buf_new(64u << 20);
	check(mail_textnorm_collect(&src, NULL, want, SIZE_MAX, out, &tr) == 0);
	check(!tr);
	check(buf_len(out) == buf_len(s.joined) &&
	      memcmp(buf_data(out), buf_data(s.joined), buf_len(out)) == 0);

	buf_reset(out);
	check(mail_textnorm_collect(&src, NULL, want, limit, out, &tr) == 0);
	check(buf_len(out) <= limit);
	check(mail_utf8_valid(buf_data(out), buf_len(out)));
	check(buf_len(out) == 0 || buf_data(out)[buf_len(out) - 1] == 0);
	check(tr == (buf_len(s.joined) > buf_len(out)));
	if (!tr)
		check(buf_len(out) == buf_len(s.joined));

	/* the HTML stage on UTF-8 input, split in the middle */
	buf_reset(out);
	buf_reset(s.joined);
	check(mail_utf8_sanitize(data + 1, size - 1, s.joined) == 0);
	mail_html2text_init(&h);
	check(mail_html2text_push(&h, buf_data(s.joined), buf_len(s.joined) / 2,
				  out) == 0);
	check(mail_html2text_push(&h, buf_data(s.joined) + buf_len(s.joined) / 2,
				  buf_len(s.joined) - buf_len(s.joined) / 2,
				  out) == 0);
	check(mail_html2text_finish(&h, out) == 0);
	buf_free(&out);
	buf_free(&s.joined);
	return 0;
}

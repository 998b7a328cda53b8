/*
 * libFuzzer harness for lib/mail/header.c and param.c: a hostile header
 * block. Checked for every input (abort() reports a violation):
 *   - every field lies inside the input and inside the header block,
 *     fields come in order and do not overlap, names are non-empty
 *     ftext, values lie inside their field;
 *   - unfolding never grows a value and leaves no CR LF in it;
 *   - HEADER.FIELDS and HEADER.FIELDS.NOT of the same names together
 *     hold every field once (their sizes add up);
 *   - Content-Type / Content-Disposition / token parsing of every value
 *     gives NUL-free strings and at most MAIL_PARAM_MAX parameters;
 *   - the CTE decoders, fed the input whole and in pieces, agree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/pool.h"
#include "mail/cte.h"
#include "mail/header.h"
#include "mail/param.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
check_params(const struct mail_param *ps, size_t n)
{
	check(n <= MAIL_PARAM_MAX);
	for (size_t i = 0; i < n; i++) {
		check(ps[i].name != NULL && ps[i].name[0] != '\0');
		check(ps[i].value != NULL);
		check(strchr(ps[i].value, '\r') == NULL);
		check(strchr(ps[i].value, '\n') == NULL);
	}
}

static void
check_values(struct pool *pool, const uint8_t *v, size_t len)
{
	struct mail_ctype ct;
	struct mail_disposition d;

	if (mail_ctype_parse(pool, v, len, &ct) == 0) {
		check(ct.type[0] != '\0' && ct.subtype[0] != '\0');
		for (const char *p = ct.type; *p; p++)
			check(!(*p >= 'A' && *p <= 'Z'));
	}
	check_params(ct.params, ct.n_params);
	if (mail_disposition_parse(pool, v, len, &d) == 0)
		check_params(d.params, d.n_params);
	(void)mail_token_parse(pool, v, len);
}

static void
check_cte(const uint8_t *data, size_t size, enum mail_cte cte)
{
	struct mail_decoder a, b;
	struct buf *oa = buf_new(4 * size + 16), *ob = buf_new(4 * size + 16);

	mail_decoder_init(&a, cte);
	mail_decoder_init(&b, cte);
	check(mail_decoder_push(&a, data, size, oa) == 0);
	check(mail_decoder_finish(&a, oa) == 0);
	for (size_t o = 0, step = 1; o < size; o += step, step = step * 2 + 1)
		check(mail_decoder_push(&b, data + o,
					size - o < step ? size - o : step,
					ob) == 0);
	check(mail_decoder_finish(&b, ob) == 0);
	check(buf_len(oa) == buf_len(ob));
	check(memcmp(buf_data(oa), buf_data(ob), buf_len(oa)) == 0);
	check(a.out_total == buf_len(oa));
	check(buf_len(oa) <= size + 1);
	check(mail_decoded_size(cte, data, size) == (int64_t)buf_len(oa));
	buf_free(&oa);
	buf_free(&ob);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "subject", "Content-Type", "x" };
	struct pool *pool = pool_new(4096);
	struct mail_header_iter it;
	struct mail_header_field f;
	size_t block = mail_header_block_len(data, size), last_end = 0;
	size_t total = 0, nf = 0;
	struct buf *u = buf_new(size + 1), *yes, *no;

	check(block <= size);
	mail_header_iter_init(&it, data, size);
	while (mail_header_next(&it, &f)) {
		size_t start = (size_t)(f.raw - data);

		check(start >= last_end && start + f.raw_len <= block);
		check(f.name == f.raw && f.name_len > 0);
		for (size_t i = 0; i < f.name_len; i++)
			check(f.name[i] > 32 && f.name[i] < 127 && f.name[i] != ':');
		check(f.value > f.name && f.value + f.value_len <= f.raw + f.raw_len);
		buf_reset(u);
		check(mail_header_unfold(u, f.value, f.value_len) == 0);
		check(buf_len(u) <= f.value_len);
		for (size_t i = 0; i + 1 < buf_len(u); i++)
			check(!(buf_data(u)[i] == '\r' && buf_data(u)[i + 1] == '\n'));
		check_values(pool, f.value, f.value_len);
		last_end = start + f.raw_len;
		total += f.raw_len + (f.raw[f.raw_len - 1] == '\n' ? 0 : 2);
		nf++;
	}
	check(nf <= MAIL_HEADER_MAX_FIELDS);
	yes = buf_new(2 * size + 16);
	no = buf_new(2 * size + 16);
	check(mail_header_filter(yes, data, size, names, 3, false) == 0);
	check(mail_header_filter(no, data, size, names, 3, true) == 0);
	check(buf_len(yes) + buf_len(no) == total + 4);
	check_values(pool, data, size);
	check_cte(data, size, MAIL_CTE_BASE64);
	check_cte(data, size, MAIL_CTE_QP);
	buf_free(&u);
	buf_free(&yes);
	buf_free(&no);
	pool_free(&pool);
	return 0;
}

/*
 * libFuzzer harness for lib/imap/reader.c + parser.c: a hostile client's
 * byte stream. The first bytes of the input choose the reader limits and
 * seed the sizes of the reads the rest is cut into, so the reader sees
 * the same commands split at every kind of boundary. Every framed
 * command is parsed (fresh pool state per command), its argument tree
 * walked with every accessor, ID arguments checked and strings written
 * back with the writer. After AUTHENTICATE the next line is read in raw
 * line mode, as imap-login does for SASL responses; a header bit also
 * interleaves raw lines at random. Invariants that must hold for any
 * input are checked with abort() so the fuzzer reports them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/pool.h"
#include "imap/id.h"
#include "imap/parser.h"
#include "imap/reader.h"
#include "imap/writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 4

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
walk(const struct imap_arg *args, size_t n, struct buf *out, size_t depth)
{
	check(depth <= IMAP_PARSE_MAX_DEPTH);
	for (size_t i = 0; i < n; i++) {
		const struct imap_arg *a = &args[i], *l;
		const char *s;
		size_t ln;

		switch (a->type) {
		case IMAP_ARG_ATOM:
			/* Atoms never hold NUL, and are never empty. */
			check(a->len > 0 && strlen(a->str) == a->len);
			check(imap_arg_get_atom(a, &s) && s == a->str);
			break;
		case IMAP_ARG_QUOTED:
			check(strlen(a->str) == a->len);
			check(imap_arg_get_string(a, &s));
			break;
		case IMAP_ARG_LITERAL:
			check(a->str[a->len] == '\0');
			break;
		case IMAP_ARG_LIST:
			check(imap_arg_get_list(a, &l, &ln));
			check(ln == a->list_n);
			walk(l, ln, out, depth + 1);
			continue;
		default:
			abort();
		}
		if (imap_arg_get_astring(a, &s)) {
			check(strlen(s) == a->len);
			(void)imap_write_astring(out, s, a->len);
		}
		if (imap_arg_get_string(a, &s))
			(void)imap_write_string(out, s, a->len);
		(void)imap_arg_is_nil(a);
	}
}

/* xorshift32: cheap, deterministic read sizes from the seed bytes. */
static uint32_t
next_rand(uint32_t *st)
{
	uint32_t x = *st;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*st = x;
	return x;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_reader_limits lim;
	struct imap_reader *r;
	struct pool *pool;
	struct buf *in, *out;
	uint32_t st;
	size_t pos = 0, max_chunk;
	bool want_line = false, random_lines;

	if (size < HDR)
		return 0;
	lim.max_line = 8 + (size_t)(data[0] & 0x3f) * 8;        /* 8..512 */
	lim.max_literal = (data[0] & 0x40) ? 64 : 8192;
	lim.max_command = (data[1] & 0x01) ? 256 : 65536;
	lim.literal_minus = (data[0] & 0x80) != 0;
	random_lines = (data[1] & 0x02) != 0;
	max_chunk = 1 + (size_t)(data[1] >> 2) * 4;              /* 1..253 */
	st = (uint32_t)data[2] << 8 | data[3];
	if (st == 0)
		st = 0x9e37;
	data += HDR;
	size -= HDR;

	r = imap_reader_new(&lim);
	pool = pool_new(1024);
	in = buf_new(size + 1);
	out = buf_new(1 << 20);

	while (pos < size) {
		size_t n = 1 + next_rand(&st) % max_chunk;

		if (n > size - pos)
			n = size - pos;
		check(buf_append(in, data + pos, n) == 0);
		pos += n;

		for (;;) {
			enum imap_reader_result res;
			const uint8_t *cmd_data, *line;
			struct imap_command cmd;
			const char *error, *tag, *logtext;
			size_t len;
			bool too_long;

			if (want_line || (random_lines && !imap_reader_busy(r) &&
					  next_rand(&st) % 8 == 0)) {
				if (!imap_reader_line(r, in, &line, &len,
						      &too_long))
					break;
				want_line = false;
				if (too_long) {
					/* Final: the caller closes. */
					check(line == NULL && len == 0);
					check(imap_reader_line(r, in, &line,
							       &len,
							       &too_long) &&
					      too_long);
					goto done;
				} else {
					check(line != NULL);
					check(len <= lim.max_line);
					check(memchr(line, '\n', len) == NULL);
				}
				continue;
			}

			res = imap_reader_step(r, in);
			tag = imap_reader_tag(r);
			if (tag != NULL)
				check(imap_tag_valid(tag, strlen(tag)));
			if (res == IMAP_RD_MORE) {
				check(buf_len(in) == 0);
				break;
			}
			if (res == IMAP_RD_FATAL_TOO_BIG ||
			    res == IMAP_RD_LINE_TOO_LONG) {
				/* Final results: the caller closes. */
				size_t left = buf_len(in);

				check(imap_reader_step(r, in) == res);
				check(buf_len(in) == left);
				check(!imap_reader_busy(r));
				goto done;
			}
			if (res != IMAP_RD_COMMAND) {
				check(imap_reader_command(r, &len) == NULL);
				continue;
			}
			cmd_data = imap_reader_command(r, &len);
			check(cmd_data != NULL && len > 0 &&
			      len <= lim.max_command);
			check(cmd_data[len - 1] == '\n');
			check(!imap_reader_busy(r));

			pool_clear(pool);
			if (imap_parse_command(pool, cmd_data, len, &cmd,
					       &error) < 0) {
				check(error != NULL && *error != '\0');
				check(cmd.args == NULL && cmd.n_args == 0);
				/* The reader and the parser agree on the tag. */
				if (cmd.tag != NULL)
					check(tag != NULL &&
					      strcmp(tag, cmd.tag) == 0);
				continue;
			}
			check(cmd.tag != NULL && cmd.name != NULL);
			check(tag != NULL && strcmp(tag, cmd.tag) == 0);
			check(cmd.n_args <= IMAP_PARSE_MAX_ARGS);
			buf_reset(out);
			walk(cmd.args, cmd.n_args, out, 0);
			if (strcmp(cmd.name, "ID") == 0 &&
			    imap_id_parse(pool, cmd.args, cmd.n_args, &logtext,
					  &error) == 0) {
				for (const char *p = logtext; *p != '\0'; p++)
					check(*p >= 0x20 && *p < 0x7f);
			}
			if (strcmp(cmd.name, "AUTHENTICATE") == 0)
				want_line = true;
		}
	}
done:
	buf_free(&out);
	buf_free(&in);
	pool_free(&pool);
	imap_reader_free(&r);
	return 0;
}

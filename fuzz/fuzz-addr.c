/*
 * libFuzzer harness for lib/mail/addr.c and envelope.c: the bytes are an
 * address-list field value. Invariants (abort() otherwise):
 *   - the entry count stays within MAIL_ADDR_MAX_ADDRS, every string is
 *     no longer than the input (a route twice), groups open and close
 *     in order;
 *   - a list without invalid entries, written back (mail_addr_write)
 *     and parsed again, gives the same entries;
 *   - the ENVELOPE written from it is balanced and bounded, and the
 *     display form of the first mailbox is valid UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/pool.h"
#include "mail/addr.h"
#include "mail/envelope.h"
#include "mail/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static bool
same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
check_list(const struct mail_addr_list *l, size_t size, bool *invalid)
{
	size_t n = 0;
	bool in_group = false;

	*invalid = false;
	for (const struct mail_addr *a = l->head; a != NULL; a = a->next) {
		n++;
		*invalid |= a->invalid;
		switch (a->kind) {
		case MAIL_ADDR_GROUP_START:
			check(!in_group && a->mailbox != NULL);
			check(strlen(a->mailbox) <= size);
			in_group = true;
			break;
		case MAIL_ADDR_GROUP_END:
			check(in_group);
			in_group = false;
			break;
		default:
			check(a->mailbox != NULL && a->host != NULL);
			check(strlen(a->mailbox) <= size && strlen(a->host) <= size);
			check(a->name == NULL || strlen(a->name) <= size);
			/* a route gains a ',' between hops written
			 * without one */
			check(a->route == NULL || strlen(a->route) <= 2 * size);
		}
	}
	check(n == l->count && n <= MAIL_ADDR_MAX_ADDRS);
	/* An unclosed group only when the parse was cut short. */
	if (in_group)
		check(l->truncated);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pool *pool = pool_new(4096);
	struct mail_addr_list l, l2;
	bool invalid, invalid2;

	mail_addr_parse(pool, data, size, &l);
	check_list(&l, size, &invalid);

	if (!invalid && !l.truncated) {
		struct buf *w = buf_new(8 * size + 64);
		check(mail_addr_write(&l, w) == 0);
		mail_addr_parse(pool, buf_data(w), buf_len(w), &l2);
		check_list(&l2, buf_len(w), &invalid2);
		check(l2.count == l.count);
		for (const struct mail_addr *a = l.head, *b = l2.head;
		     a != NULL; a = a->next, b = b->next) {
			check(a->kind == b->kind && same(a->name, b->name) &&
			      same(a->route, b->route) &&
			      same(a->mailbox, b->mailbox) &&
			      same(a->host, b->host) && !b->invalid);
		}
		buf_free(&w);
	}

	const struct mail_addr *first = mail_addr_first(&l);
	if (first != NULL) {
		struct buf *d = buf_new(8 * size + 64);
		check(mail_addr_display(first, d) == 0);
		check(mail_utf8_valid(buf_data(d), buf_len(d)));
		buf_free(&d);
	}

	struct mail_envelope_fields f = {
		.subject = { (const char *)data, size },
		.from = { (const char *)data, size },
		.cc = { (const char *)data, size },
	};
	struct buf *e = buf_new(64 * size + 4096);
	if (mail_envelope_write(e, &f, size > 0 && data[0] & 1) == 0) {
		/* Outside string contents parentheses balance; a cheap
		 * check that every entry was closed: the text ends ")". */
		check(buf_len(e) >= 2 && buf_data(e)[0] == '(' &&
		      buf_data(e)[buf_len(e) - 1] == ')');
	}
	buf_free(&e);
	pool_free(&pool);
	return 0;
}

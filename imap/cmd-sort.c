/*
 * SORT and UID SORT (RFC 5256 §3, with DISPLAYFROM and DISPLAYTO of RFC
 * 5957): "SORT (criteria) charset search-program". The program is the
 * SEARCH one (imap-search.c); the fields come from imap-msgfields.c.
 * Strings compare as i;unicode-casemap keys (octets of the casemapped
 * form); messages equal on every criterion go by sequence number,
 * ascending whatever REVERSE says (§3: "ascending order by their
 * sequence number").
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-commands.h"
#include "imap/imap-msgfields.h"
#include "imap/imap-search.h"

/* Each criterion at most once matters; more than this is not a client. */
#define SORT_MAX_CRITERIA 16

enum sort_key {
	SORT_ARRIVAL, SORT_CC, SORT_DATE, SORT_FROM, SORT_SIZE, SORT_SUBJECT,
	SORT_TO, SORT_DISPLAYFROM, SORT_DISPLAYTO,
};

static const struct {
	const char *name;
	enum sort_key key;
	unsigned int want;
} sort_names[] = {
	{ "ARRIVAL", SORT_ARRIVAL, MSGF_ARRIVAL },
	{ "CC", SORT_CC, MSGF_CC },
	{ "DATE", SORT_DATE, MSGF_DATE },
	{ "FROM", SORT_FROM, MSGF_FROM },
	{ "SIZE", SORT_SIZE, MSGF_SIZE },
	{ "SUBJECT", SORT_SUBJECT, MSGF_SUBJECT },
	{ "TO", SORT_TO, MSGF_TO },
	{ "DISPLAYFROM", SORT_DISPLAYFROM, MSGF_DISPLAYFROM },
	{ "DISPLAYTO", SORT_DISPLAYTO, MSGF_DISPLAYTO },
};

struct criterion {
	enum sort_key key;
	bool reverse;
};

static struct criterion sort_crit[SORT_MAX_CRITERIA];
static size_t sort_n_crit;     /* qsort has no context argument */

static int
cmp_num(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b ? 1 : 0;
}

static int
cmp_time(time_t a, time_t b)
{
	return a < b ? -1 : a > b ? 1 : 0;
}

static int
cmp_hits(const void *pa, const void *pb)
{
	const struct msgfields_hit *a = pa, *b = pb;

	for (size_t i = 0; i < sort_n_crit; i++) {
		int c = 0;

		switch (sort_crit[i].key) {
		case SORT_ARRIVAL:
			c = cmp_time(a->f.arrival, b->f.arrival);
			break;
		case SORT_DATE:
			c = cmp_time(a->f.date, b->f.date);
			break;
		case SORT_SIZE:
			c = cmp_num(a->f.size, b->f.size);
			break;
		case SORT_CC:
			c = strcmp(a->f.cc, b->f.cc);
			break;
		case SORT_FROM:
			c = strcmp(a->f.from, b->f.from);
			break;
		case SORT_TO:
			c = strcmp(a->f.to, b->f.to);
			break;
		case SORT_SUBJECT:
			c = strcmp(a->f.subject, b->f.subject);
			break;
		case SORT_DISPLAYFROM:
			c = strcmp(a->f.displayfrom, b->f.displayfrom);
			break;
		case SORT_DISPLAYTO:
			c = strcmp(a->f.displayto, b->f.displayto);
			break;
		}
		if (c != 0)
			return sort_crit[i].reverse ? -c : c;
	}
	return cmp_num(a->seq, b->seq);
}

/* sort-criteria = "(" sort-criterion *(SP sort-criterion) ")";
 * sort-criterion = ["REVERSE" SP] sort-key. */
static int
parse_criteria(const struct imap_arg *a, struct criterion *out, size_t *n,
	       unsigned int *want, const char **error)
{
	const struct imap_arg *l;
	size_t ln;
	bool reverse = false;

	*n = 0;
	*want = 0;
	if (!imap_arg_get_list(a, &l, &ln) || ln == 0) {
		*error = "Expected a list of sort criteria.";
		return -1;
	}
	for (size_t i = 0; i < ln; i++) {
		const char *s;
		size_t k;

		if (!imap_arg_get_atom(&l[i], &s)) {
			*error = "Expected a sort criterion.";
			return -1;
		}
		if (str_eq_ci(s, "REVERSE")) {
			if (reverse) {
				*error = "REVERSE REVERSE.";
				return -1;
			}
			reverse = true;
			continue;
		}
		for (k = 0; k < sizeof(sort_names) / sizeof(sort_names[0]); k++)
			if (str_eq_ci(s, sort_names[k].name))
				break;
		if (k == sizeof(sort_names) / sizeof(sort_names[0])) {
			*error = "Unknown sort criterion.";
			return -1;
		}
		if (*n == SORT_MAX_CRITERIA) {
			*error = "Too many sort criteria.";
			return -1;
		}
		out[*n].key = sort_names[k].key;
		out[*n].reverse = reverse;
		(*n)++;
		*want |= sort_names[k].want;
		reverse = false;
	}
	if (reverse) {
		*error = "REVERSE without a sort key.";
		return -1;
	}
	return 0;
}

void
cmd_sort(struct client_command *cmd)
{
	struct search_program *p = pool_alloc(cmd->pool, sizeof(*p));
	struct criterion crit[SORT_MAX_CRITERIA];
	struct msgfields_hit *hits;
	struct buf *text;
	const char *error;
	unsigned int want;
	size_t n_crit, n;
	bool failed;

	if (cmd->n_args < 1 ||
	    parse_criteria(&cmd->args[0], crit, &n_crit, &want, &error) < 0) {
		imap_reply_bad(cmd, "%s", cmd->n_args < 1 ?
			       "Expected sort criteria." : error);
		return;
	}
	if (msgfields_parse_program(cmd, cmd->args + 1, cmd->n_args - 1,
				    p) < 0)
		return;
	hits = msgfields_collect(cmd, p, want, &n, &failed);
	memcpy(sort_crit, crit, n_crit * sizeof(*crit));
	sort_n_crit = n_crit;
	qsort(hits, n, sizeof(*hits), cmp_hits);
	/* 11 bytes a number at most. */
	text = buf_new(11 * n + 16);
	for (size_t i = 0; i < n; i++)
		(void)buf_printf(text, " %" PRIu32, hits[i].num);
	msgfields_send(cmd, "SORT", text, failed);
}

/*
 * imap-args: see imap-args.h. Everything here reads client bytes: each
 * function checks the full syntax of what it accepts and bounds what it
 * allocates (a sequence set never yields more numbers than the mailbox
 * has messages).
 */
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-args.h"
#include "imap/imap-commands.h"
#include "imap/mailbox-name.h"
#include "imap/seqset.h"
#include "imap/writer.h"
#include "storage/store.h"

const char *
imap_args_mailbox(struct client_command *cmd, const struct imap_arg *a,
		  enum imap_mbname_use use)
{
	struct buf *name;
	enum mbname_error err = MBNAME_OK;
	const char *wire, *out = NULL;
	size_t len;

	if (!imap_arg_get_astring(a, &wire)) {
		imap_reply_bad(cmd, "Invalid mailbox name argument.");
		return NULL;
	}
	len = strlen(wire);
	name = buf_new(MBNAME_MAX_LEN * 2);
	/* A string may carry a NUL (imap_arg_get_astring refuses it) or be
	 * longer than any name can be; either is simply not valid. */
	if (len > MBNAME_WIRE_MAX)
		err = MBNAME_TOO_LONG;
	else if (mbname_from_wire(wire, len, cmd->client->utf8,
				  STORE_SEPARATOR,
				  use == IMAP_MBNAME_NEW ? MBNAME_FOR_CREATE : 0,
				  name, &err) == 0)
		out = pool_strdup(cmd->pool, buf_str(name));
	buf_free(&name);
	if (out == NULL && err == MBNAME_BAD_UTF8 && cmd->client->utf8)
		/* RFC 6855 §3: ill-formed UTF-8 in a quoted string is BAD
		 * once UTF8=ACCEPT is on. */
		imap_reply_bad(cmd, "%s.", mbname_error_str(err));
	else if (out == NULL)
		imap_reply_no(cmd, "[%s] %s.",
			      use == IMAP_MBNAME_EXISTING ? "NONEXISTENT" :
			      "CANNOT", mbname_error_str(err));
	return out;
}

bool
imap_args_list_mailbox(const struct imap_arg *a, const char **s)
{
	if (a == NULL)
		return false;
	if (a->type == IMAP_ARG_ATOM) {
		/* list-char = ATOM-CHAR / list-wildcards / resp-specials */
		for (size_t i = 0; i < a->len; i++) {
			char ch = a->str[i];

			if (!imap_is_atom_char((uint8_t)ch) && ch != '%' &&
			    ch != '*' && ch != ']')
				return false;
		}
		*s = a->str;
		return true;
	}
	return imap_arg_get_string(a, s);
}

static const struct {
	const char *name;
	unsigned int bit;
} system_flags[] = {
	{ "\\Seen", STORE_F_SEEN },
	{ "\\Answered", STORE_F_ANSWERED },
	{ "\\Flagged", STORE_F_FLAGGED },
	{ "\\Deleted", STORE_F_DELETED },
	{ "\\Draft", STORE_F_DRAFT },
};

int
imap_args_flags(struct pool *pool, const struct imap_arg *list, size_t n,
		struct imap_flags *out, const char **error)
{
	const char *s;

	memset(out, 0, sizeof(*out));
	out->keywords = pool_alloc(pool, (n + 1) * sizeof(*out->keywords));
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		if (!imap_arg_get_atom(&list[i], &s)) {
			*error = "Invalid flag.";
			return -1;
		}
		if (s[0] == '\\') {
			for (size_t j = 0; j < sizeof(system_flags) /
				     sizeof(system_flags[0]); j++) {
				if (str_eq_ci(s, system_flags[j].name)) {
					out->flags |= system_flags[j].bit;
					found = true;
				}
			}
			if (!found) {
				*error = str_eq_ci(s, "\\Recent") ?
					"\\Recent cannot be set." :
					"Unknown system flag.";
				return -1;
			}
			continue;
		}
		if (!imap_is_atom(s, list[i].len)) {
			*error = "Invalid keyword.";
			return -1;
		}
		if (list[i].len > IMAP_ARGS_KEYWORD_MAX) {
			*error = "Keyword too long.";
			return -1;
		}
		for (size_t j = 0; j < out->n_keywords && !found; j++)
			found = str_eq_ci(out->keywords[j], s);
		if (found)
			continue;
		if (out->n_keywords == IMAP_ARGS_MAX_KEYWORDS) {
			*error = "Too many keywords.";
			return -1;
		}
		out->keywords[out->n_keywords++] = s;
	}
	out->keywords[out->n_keywords] = NULL;
	return 0;
}

/* Two digits at s, into *v. */
static bool
digits(const char *s, size_t n, int *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

int
imap_args_date_time(const char *s, size_t len, time_t *out)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	int day, year, hh, mm, ss, zh, zm, mon = -1, mdays;
	struct tm tm;
	time_t t;

	/* "dd-Mon-yyyy hh:mm:ss +zzzz": 26 bytes, day may be " d". */
	if (len != 26 || s[2] != '-' || s[6] != '-' || s[11] != ' ' ||
	    s[14] != ':' || s[17] != ':' || s[20] != ' ' ||
	    (s[21] != '+' && s[21] != '-'))
		return -1;
	if (s[0] == ' ' ? !digits(s + 1, 1, &day) : !digits(s, 2, &day))
		return -1;
	for (int i = 0; i < 12; i++) {
		if (strncasecmp(s + 3, months + 3 * i, 3) == 0)
			mon = i;
	}
	if (mon < 0 || !digits(s + 7, 4, &year) || !digits(s + 12, 2, &hh) ||
	    !digits(s + 15, 2, &mm) || !digits(s + 18, 2, &ss) ||
	    !digits(s + 22, 2, &zh) || !digits(s + 24, 2, &zm))
		return -1;
	mdays = (mon == 1) ? ((year % 4 == 0 && year % 100 != 0) ||
			      year % 400 == 0 ? 29 : 28) :
		(mon == 3 || mon == 5 || mon == 8 || mon == 10) ? 30 : 31;
	/* 60 seconds: a leap second. */
	if (day < 1 || day > mdays || year < 1900 || hh > 23 || mm > 59 ||
	    ss > 60 || zm > 59)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	t = timegm(&tm);
	if (t == (time_t)-1 && year != 1969)
		return -1;
	/* The zone says how far ahead of UTC the time was written. */
	t -= (time_t)(s[21] == '+' ? 1 : -1) * (zh * 3600 + zm * 60);
	*out = t;
	return 0;
}

uint32_t
imap_args_uid_to_seq(struct client_command *cmd, uint32_t uid)
{
	const struct mailbox_view *v = mailbox_view(cmd->client->mailbox);
	size_t lo = 0, hi = v->n;

	if (hi > cmd->client->known_exists)
		hi = cmd->client->known_exists;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < v->n && lo < cmd->client->known_exists &&
	    v->msgs[lo].uid == uid)
		return (uint32_t)(lo + 1);
	return 0;
}

/* RFC 5182 "$": the saved result's messages (kept as UIDs, so one
 * expunged meanwhile is simply not there) merged into the ascending,
 * unique seqs[0..n-1]; seqs has room for every message. */
static size_t
add_saved(struct client_command *cmd, uint32_t *seqs, size_t n)
{
	const struct client *c = cmd->client;
	uint32_t *merged, seq;
	size_t i = 0, m = 0;

	if (c->n_search_saved == 0)
		return n;
	merged = pool_alloc(cmd->pool, (n + c->n_search_saved) *
			    sizeof(*merged));
	for (size_t k = 0; k < c->n_search_saved; k++) {
		seq = imap_args_uid_to_seq(cmd, c->search_saved[k]);
		if (seq == 0)
			continue;
		while (i < n && seqs[i] < seq)
			merged[m++] = seqs[i++];
		if (i < n && seqs[i] == seq)
			i++;
		merged[m++] = seq;
	}
	while (i < n)
		merged[m++] = seqs[i++];
	memcpy(seqs, merged, m * sizeof(*seqs));
	return m;
}

int
imap_args_seqs(struct client_command *cmd, const struct imap_arg *a,
	       uint32_t **seqs_out, size_t *n_out, const char **error)
{
	const struct mailbox_view *v = mailbox_view(cmd->client->mailbox);
	/* Sequence numbers are what the client was told, not what the
	 * view may already hold beyond that. */
	size_t exists = v->n < cmd->client->known_exists ? v->n :
		cmd->client->known_exists;
	struct seqset *parsed, *set;
	struct seqset_iter it;
	uint32_t *seqs, val;
	size_t n = 0;
	const char *s;

	*seqs_out = NULL;
	*n_out = 0;
	if (!imap_arg_get_atom(a, &s)) {
		*error = "Invalid sequence set.";
		return -1;
	}
	parsed = seqset_parse(cmd->pool, s, a->len, SEQSET_MAX_RANGES, error);
	if (parsed == NULL)
		return -1;
	if (!cmd->uid) {
		set = seqset_resolve_seq(cmd->pool, parsed, (uint32_t)exists,
					 error);
		if (set == NULL)
			return -1;
		seqs = pool_alloc(cmd->pool, (exists + 1) * sizeof(*seqs));
		seqset_iter_init(&it, set);
		while (n < exists && seqset_iter_next(&it, &val))
			seqs[n++] = val;
	} else {
		uint32_t highest = exists > 0 ? v->msgs[exists - 1].uid : 0;

		set = seqset_resolve_uid(cmd->pool, parsed, highest,
					 v->uidnext);
		seqs = pool_alloc(cmd->pool, (exists + 1) * sizeof(*seqs));
		/* Walk the view once per range rather than every UID of
		 * "1:4294967295". */
		for (size_t r = 0; r < set->n; r++) {
			size_t lo = 0, hi = exists;

			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;

				if (v->msgs[mid].uid < set->r[r].lo)
					lo = mid + 1;
				else
					hi = mid;
			}
			for (; lo < exists && v->msgs[lo].uid <= set->r[r].hi;
			     lo++)
				seqs[n++] = (uint32_t)(lo + 1);
		}
	}
	if (parsed->has_last)
		n = add_saved(cmd, seqs, n);
	*seqs_out = seqs;
	*n_out = n;
	return 0;
}

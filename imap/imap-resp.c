/*
 * imap-resp: see imap-resp.h. Keyword names come from the store, which
 * accepted them only as IMAP atoms (STORE, APPEND), so they are written
 * as they are.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "imap/client.h"
#include "imap/imap-resp.h"
#include "imap/mailbox-name.h"
#include "imap/writer.h"
#include "storage/store.h"

static const struct {
	unsigned int bit;
	const char *name;
} system_flags[] = {
	{ STORE_F_ANSWERED, "\\Answered" },
	{ STORE_F_FLAGGED, "\\Flagged" },
	{ STORE_F_DELETED, "\\Deleted" },
	{ STORE_F_SEEN, "\\Seen" },
	{ STORE_F_DRAFT, "\\Draft" },
};

#define N_SYSTEM_FLAGS (sizeof(system_flags) / sizeof(system_flags[0]))

int
imap_resp_msg_flags(struct buf *b, const struct mailbox_view *v,
		    const struct store_msg *m)
{
	const char *sep = "";
	int rc = buf_append_byte(b, '(');

	for (size_t i = 0; i < N_SYSTEM_FLAGS && rc == 0; i++) {
		if ((m->flags & system_flags[i].bit) != 0) {
			rc = buf_printf(b, "%s%s", sep, system_flags[i].name);
			sep = " ";
		}
	}
	for (size_t i = 0; i < v->n_keywords && i < 64 && rc == 0; i++) {
		if ((m->keywords & (UINT64_C(1) << i)) != 0 &&
		    v->keywords[i] != NULL) {
			rc = buf_printf(b, "%s%s", sep, v->keywords[i]);
			sep = " ";
		}
	}
	if (m->recent && rc == 0)
		rc = buf_printf(b, "%s\\Recent", sep);
	if (rc == 0)
		rc = buf_append_byte(b, ')');
	return rc;
}

/* "\Answered ... \Draft kw1 kw2" */
static int
all_flags(struct buf *b, const struct mailbox_view *v)
{
	int rc = 0;

	for (size_t i = 0; i < N_SYSTEM_FLAGS && rc == 0; i++)
		rc = buf_printf(b, "%s%s", i > 0 ? " " : "",
				system_flags[i].name);
	for (size_t i = 0; i < v->n_keywords && rc == 0; i++) {
		if (v->keywords[i] != NULL)
			rc = buf_printf(b, " %s", v->keywords[i]);
	}
	return rc;
}

void
imap_resp_flags_lines(struct client *c)
{
	const struct mailbox_view *v = mailbox_view(c->mailbox);
	size_t mark = buf_len(c->out);
	int rc;

	rc = buf_append_str(c->out, "* FLAGS (");
	if (rc == 0)
		rc = all_flags(c->out, v);
	if (rc == 0)
		rc = buf_append_str(c->out, ")\r\n* OK [PERMANENTFLAGS (");
	if (rc == 0 && !c->readonly) {
		rc = all_flags(c->out, v);
		if (rc == 0 && v->n_keywords < STORE_KEYWORDS_MAX)
			rc = buf_append_str(c->out, " \\*");
	}
	if (rc == 0)
		rc = buf_append_str(c->out, c->readonly ?
				    ")] No permanent flags permitted.\r\n" :
				    ")] Flags permitted.\r\n");
	if (rc < 0)
		buf_truncate(c->out, mark);
	client_out_check(c, rc);
}

int
imap_resp_mailbox(struct buf *b, const char *name, bool utf8)
{
	struct buf *w = buf_new(MBNAME_WIRE_MAX * 2);
	int rc = mbname_to_wire(name, utf8, w);

	if (rc == 0)
		rc = utf8 ? imap_write_utf8_string(b, buf_data(w), buf_len(w)) :
			imap_write_string(b, buf_data(w), buf_len(w));
	buf_free(&w);
	return rc;
}

int
imap_resp_uidset(struct buf *b, const uint32_t *uids, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; ) {
		size_t j = i;

		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (j == i)
			rc = buf_printf(b, "%s%" PRIu32, i > 0 ? "," : "",
					uids[i]);
		else
			rc = buf_printf(b, "%s%" PRIu32 ":%" PRIu32,
					i > 0 ? "," : "", uids[i], uids[j]);
		i = j + 1;
	}
	return rc;
}

int
imap_resp_date(struct buf *b, time_t t)
{
	static const char months[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	struct tm tm;

	/* A date the grammar cannot carry (4-digit years) is shown as the
	 * epoch rather than as garbage. */
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 0) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	return buf_printf(b, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"",
			  tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
			  tm.tm_hour, tm.tm_min, tm.tm_sec);
}

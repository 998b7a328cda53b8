/*
 * imap-search-text: SEARCH's text keys on the normalized text of a
 * message (lib/mail/textnorm: decoded, UTF-8, i;unicode-casemap'ed; see
 * imap-search-text.h). Callers: imap-search.c. Input: message bytes from
 * the store (untrusted mail) and needles from the client (UTF-8 after
 * the CHARSET conversion, bounded by SEARCH_MAX_STRING).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "imap/fetch-cache.h"
#include "imap/imap-search-text.h"
#include "imap/imap-search.h"
#include "imap/search-fields.h"
#include "mail/casemap.h"
#include "mail/date.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "mail/textnorm.h"
#include "storage/store.h"

/* i;unicode-casemap grows a string at most 18 code points per input
 * character (U+FDFA); the needle's normalized form is bounded by that. */
#define TEXT_NEEDLE_MAX (SEARCH_MAX_STRING * 24 + 64)
#define TEXT_DATE_MAX 256
/* A message up to this size is read into memory (no converted copy of
 * an LF Maildir file) */
#define TEXT_MEM_MAX (1024u * 1024u)
struct search_text {
	struct store *store;
	struct mailbox *mb;
	/* The needle, normalized, and its KMP failure table; key is the
	 * search key they were made for. */
	const struct search_key *key;
	struct buf *needle;
	uint32_t *fail;
	size_t fail_cap;

	/* The message open for the keys of one sequence number: in mem
	 * (in_mem; up to TEXT_MEM_MAX) or at off of fd. */
	uint32_t seq;                 /* 0: none */
	int fd;
	off_t off;
	uint64_t size;
	bool in_mem;
	struct buf *mem;
	struct mail_tree *tree;       /* parsed on the first text key */
	bool gone;                    /* expunged: nothing matches */
	bool failed;
	/* The Date header, parsed once per message: 0 unknown, 1 parsed,
	 * 2 missing or unreadable. */
	int date_state;
	int64_t sent_day;
	/* The FETCH cache's record of the open message, for the header
	 * keys of the fields it keeps (fetch_cache_field_kept): 0 not
	 * looked at, 1 meta holds a block with the fields the scan sees
	 * (top_exact), 2 none (the scan reads the file). */
	int meta_state;
	struct fetch_meta meta;
	struct buf *top;         /* meta_state 1: the block */
	/* The SEARCH kind's record of the open message (search-fields.h):
	 * 0 not looked at, 1 fields holds it (in rec), 2 none. */
	int fields_state;
	struct search_fields fields;
	uint8_t *rec;            /* STORE_CACHE_MAX, made at first use */
	/* cache records this SEARCH made, put in batches */
	struct fetch_cache_batch batch[STORE_CACHE_KINDS];
	char error[256];
};

struct search_text *
search_text_new(struct pool *pool, struct store *store, struct mailbox *mb)
{
	struct search_text *t = pool_alloc(pool, sizeof(*t));

	t->store = store;
	t->mb = mb;
	t->needle = buf_new(TEXT_NEEDLE_MAX);
	t->fd = -1;
	for (int k = 0; k < STORE_CACHE_KINDS; k++)
		t->batch[k].kind = (enum store_cache_kind)k;
	return t;
}

static void
close_msg(struct search_text *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->in_mem = false;
	t->seq = 0;
	t->gone = t->failed = false;
	t->date_state = 0;
	if (t->tree != NULL)
		mail_tree_free(&t->tree);
	t->meta_state = 0;
	fetch_meta_clear(&t->meta);
	buf_free(&t->top);
	t->fields_state = 0;
}

static void
flush_cache(struct search_text *t)
{
	for (int k = 0; k < STORE_CACHE_KINDS; k++)
		fetch_cache_batch_flush(t->store, t->mb, &t->batch[k],
					"SEARCH");
}

void
search_text_end(struct search_text *t)
{
	if (t == NULL)
		return;
	close_msg(t);
	flush_cache(t);
	buf_free(&t->needle);
	free(t->fail);
	t->fail = NULL;
	t->fail_cap = 0;
	free(t->rec);
	t->rec = NULL;
	buf_free(&t->mem);
}

const char *
search_text_error(const struct search_text *t)
{
	return t->error;
}

static void
read_failed(struct search_text *t)
{
	snprintf(t->error, sizeof(t->error), "read: %s", strerror(errno));
	t->failed = true;
}

/* Makes seq the message the keys are about (nothing opened yet). */
static void
select_msg(struct search_text *t, uint32_t seq)
{
	if (t->seq == seq)
		return;
	close_msg(t);
	t->seq = seq;
}

/* Opens seq unless it is the message already open. */
static int
open_msg(struct search_text *t, uint32_t seq)
{
	const struct store_error *err;

	select_msg(t, seq);
	if (t->gone || t->failed)
		return -1;
	if (t->fd >= 0 || t->in_mem)
		return 0;
	if (t->mem == NULL)
		t->mem = buf_new(2 * TEXT_MEM_MAX);
	if (mailbox_msg_read(t->mb, seq, TEXT_MEM_MAX, &t->fd, &t->off,
			     t->mem, &t->size) == 0) {
		t->in_mem = t->fd < 0;
		return 0;
	}
	t->fd = -1;
	err = store_error(t->store);
	if (err->code == STORE_ERR_EXPUNGED) {
		t->gone = true;
	} else {
		t->failed = true;
		snprintf(t->error, sizeof(t->error), "%s", err->detail);
	}
	return -1;
}

/* --- the needle: normalized like the text, matched with KMP ---------- */

static void
needle_set(struct search_text *t, const struct search_key *key)
{
	const uint8_t *n;
	size_t len, k = 0;

	if (t->key == key)
		return;
	t->key = key;
	buf_reset(t->needle);
	/* Cannot fail: bounded above. */
	(void)mail_casemap(key->str, key->str_len, t->needle);
	n = buf_data(t->needle);
	len = buf_len(t->needle);
	if (len == 0)
		return;
	if (len > t->fail_cap) {
		t->fail = xreallocarray(t->fail, len, sizeof(*t->fail));
		t->fail_cap = len;
	}
	t->fail[0] = 0;
	for (size_t i = 1; i < len; i++) {
		while (k > 0 && n[i] != n[k])
			k = t->fail[k - 1];
		if (n[i] == n[k])
			k++;
		t->fail[i] = (uint32_t)k;
	}
}

struct match {
	const struct search_text *t;
	const struct search_key *key;
	const uint8_t *n;
	size_t n_len;
	size_t state;
	bool found;
};

/* Feeds bytes of one segment; true once the needle has been seen. */
static bool
match_feed(struct match *m, const uint8_t *s, size_t len)
{
	const uint32_t *fail = m->t->fail;
	size_t k = m->state;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = s[i];

		while (k > 0 && m->n[k] != c)
			k = fail[k - 1];
		if (m->n[k] == c)
			k++;
		if (k == m->n_len) {
			m->found = true;
			return true;
		}
	}
	m->state = k;
	return false;
}

static bool
name_is(const struct mail_textnorm_seg *seg, const char *name)
{
	size_t len = strlen(name);

	if (seg->name_len != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		uint8_t a = seg->name[i], b = (uint8_t)name[i];

		if (a >= 'A' && a <= 'Z')
			a = (uint8_t)(a + 32);
		if (b >= 'A' && b <= 'Z')
			b = (uint8_t)(b + 32);
		if (a != b)
			return false;
	}
	return true;
}

static int
match_cb(void *ctx, enum mail_textnorm_event ev,
	 const struct mail_textnorm_seg *seg, const uint8_t *data, size_t len)
{
	struct match *m = ctx;

	switch (ev) {
	case MAIL_TEXTNORM_START:
		m->state = 0;   /* no match spans two segments */
		if (m->key->type == SEARCH_KEY_HEADER) {
			if (!name_is(seg, m->key->field))
				return MAIL_TEXTNORM_SKIP;
			if (m->n_len == 0) {
				m->found = true;   /* the field exists */
				return MAIL_TEXTNORM_STOP;
			}
		} else if (m->key->type == SEARCH_KEY_TEXT && seg->name != NULL) {
			/* TEXT sees "NAME: value" exactly as the collected
			 * form the full-text index stores has it (the name
			 * casemapped the same way), so that the index's
			 * answer for TEXT is this scan's. */
			struct buf *nb = buf_new(seg->name_len + 8);
			bool hit;

			(void)mail_casemap(seg->name, seg->name_len, nb);
			hit = match_feed(m, buf_data(nb), buf_len(nb));
			buf_free(&nb);
			if (hit)
				return MAIL_TEXTNORM_STOP;
			if (match_feed(m, (const uint8_t *)": ", 2))
				return MAIL_TEXTNORM_STOP;
		}
		return MAIL_TEXTNORM_CONTINUE;
	case MAIL_TEXTNORM_DATA:
		return match_feed(m, data, len) ? MAIL_TEXTNORM_STOP :
			MAIL_TEXTNORM_CONTINUE;
	case MAIL_TEXTNORM_END:
		break;
	}
	return MAIL_TEXTNORM_CONTINUE;
}

/* A match of key's needle from its start. */
static void
match_init(struct search_text *t, const struct search_key *key,
	   struct match *m)
{
	needle_set(t, key);
	memset(m, 0, sizeof(*m));
	m->t = t;
	m->key = key;
	m->n = buf_data(t->needle);
	m->n_len = buf_len(t->needle);
}

/* blk: the message's header fields from the cache (HEADER keys), or
 * NULL to read the message. */
static int
text_key(struct search_text *t, const struct search_key *key,
	 const struct buf *blk)
{
	struct mail_textnorm_src src = { .fd = t->fd, .offset = t->off,
		.size = t->size, .data = t->in_mem ? buf_data(t->mem) : NULL };
	struct match m;
	unsigned int want;

	match_init(t, key, &m);
	/* An empty string is in every body and every text. */
	if (m.n_len == 0 && key->type != SEARCH_KEY_HEADER)
		return 1;
	/* Header keys read only the header (textnorm needs no tree). */
	if (t->tree == NULL && key->type != SEARCH_KEY_HEADER) {
		t->tree = t->in_mem ?
			mail_mime_parse(buf_data(t->mem), buf_len(t->mem)) :
			mail_mime_parse_fd(t->fd, t->off, t->size);
		if (t->tree == NULL) {
			read_failed(t);
			return -1;
		}
	}
	if (blk != NULL) {
		src.fd = -1;
		src.offset = 0;
		src.data = buf_data(blk);
		src.size = buf_len(blk);
	}
	want = key->type == SEARCH_KEY_HEADER ? MAIL_TEXTNORM_HEADER :
		key->type == SEARCH_KEY_BODY ? MAIL_TEXTNORM_BODY :
		MAIL_TEXTNORM_ALL;
	if (mail_textnorm_run(&src, t->tree, want, match_cb, &m) < 0) {
		read_failed(t);
		return -1;
	}
	return m.found;
}

/* --- the FETCH cache's header fields -------------------------------------- */

/* The block of the message's own ENVELOPE fields, every occurrence, as
 * the scan would see them (fetch_meta.top_exact), from the FETCH cache,
 * or made now from the file and cached for the next SEARCH, SORT or
 * FETCH (a big message too: the scan would read all of it anyway, to
 * serve it with CRLF). NULL: scan. */
static const struct buf *
top_block(struct search_text *t, uint32_t seq)
{
	const struct buf *e;

	select_msg(t, seq);
	if (t->meta_state == 0) {
		t->meta_state = 2;
		if (fetch_cache_top(t->mb, seq, FETCH_TOP_SEARCH,
				    &t->top) == 0) {
			t->meta_state = 1;
			return t->top;
		}
		if (open_msg(t, seq) == 0 &&
		    fetch_cache_fill_from(t->fd, t->off, t->in_mem ?
					  buf_data(t->mem) : NULL, t->size,
					  true, &t->meta) == 0 &&
		    t->meta.value != NULL) {
			fetch_cache_batch_queue(t->store, t->mb,
						&t->batch[STORE_CACHE_STRUCT],
						seq, t->meta.value, "SEARCH");
			t->meta.value = NULL;
		}
		e = t->meta.tree != NULL && t->meta.top_exact ?
			fetch_meta_envelope(&t->meta, 0) : NULL;
		if (e != NULL) {
			t->top = buf_new(buf_len(e));
			(void)buf_append(t->top, buf_data(e), buf_len(e));
			t->meta_state = 1;
		}
		fetch_meta_clear(&t->meta);
	}
	return t->meta_state == 1 ? t->top : NULL;
}

/* --- the SEARCH kind's record ----------------------------------------------- */

/* The sent date of a header block: 1 with *day, 2 none or unreadable. */
static int
block_date(const uint8_t *blk, size_t len, int64_t *day)
{
	struct mail_header_field f;

	return mail_header_find(blk, len, "Date", &f) &&
		search_text_parse_date((const char *)f.value,
				       f.value_len > TEXT_DATE_MAX ?
				       TEXT_DATE_MAX : f.value_len,
				       day) == 0 ? 1 : 2;
}

/* The normalized header fields of seq (search-fields.h): from the cache,
 * or made from the header block (top_block) and cached. NULL: none (a
 * block too big for a record, or no block: the caller goes on without). */
static const struct search_fields *
fields_get(struct search_text *t, uint32_t seq)
{
	const struct buf *blk;
	struct buf *val;
	size_t len;
	int64_t day = 0;
	int state;

	select_msg(t, seq);
	if (t->fields_state != 0)
		return t->fields_state == 1 ? &t->fields : NULL;
	t->fields_state = 2;
	if (t->rec == NULL)
		t->rec = xmalloc(STORE_CACHE_MAX);
	if (mailbox_msg_cache_get(t->mb, STORE_CACHE_SEARCH, seq, t->rec,
				  STORE_CACHE_MAX, &len) == 0) {
		if (search_fields_decode(t->rec, len, &t->fields) == 0) {
			t->fields_state = 1;
			return &t->fields;
		}
		log_warn("SEARCH: ignoring a malformed cache record of "
			 "message %u", seq);
	}
	if ((blk = top_block(t, seq)) == NULL)
		return NULL;
	state = block_date(buf_data(blk), buf_len(blk), &day);
	if (search_fields_make(buf_data(blk), buf_len(blk), state, day,
			       &val) != 0)
		return NULL;
	/* kept here: the batch frees val once it is put */
	memcpy(t->rec, buf_data(val), buf_len(val));
	if (search_fields_decode(t->rec, buf_len(val), &t->fields) < 0) {
		buf_free(&val);
		return NULL;
	}
	fetch_cache_batch_queue(t->store, t->mb, &t->batch[STORE_CACHE_SEARCH],
				seq, val, "SEARCH");
	t->fields_state = 1;
	return &t->fields;
}

/* A header key on the record: what text_key gives on the block (one
 * segment per field, no match across two). */
static int
fields_key(struct search_text *t, const struct search_fields *f,
	   const struct search_key *key)
{
	struct search_fields_seg seg;
	struct match m;

	match_init(t, key, &m);
	for (size_t pos = 0; search_fields_next(f, &pos, &seg);) {
		struct mail_textnorm_seg ts = {
			.kind = MAIL_TEXTNORM_HEADER,
			.name = seg.name,
			.name_len = seg.name_len,
		};

		if (!name_is(&ts, key->field))
			continue;
		if (m.n_len == 0)
			return 1;	/* the field exists */
		m.state = 0;
		if (match_feed(&m, seg.value, seg.value_len))
			return 1;
	}
	return 0;
}

/* --- dates ---------------------------------------------------------------- */

int
search_text_parse_date(const char *s, size_t len, int64_t *day)
{
	struct mail_date d;
	int64_t local;

	if (mail_date_parse(s, len, &d) < 0)
		return -1;
	/* The day as the sender wrote it: RFC 9051 §6.4.4 disregards
	 * time and timezone. */
	local = (int64_t)d.t + (int64_t)d.tz_min * 60;
	*day = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
	return 0;
}

static int
sent_day(struct search_text *t, int64_t *day)
{
	const struct search_fields *fields;
	const struct buf *blk;
	size_t len;
	uint8_t *h;

	if (t->date_state == 0 && (fields = fields_get(t, t->seq)) != NULL) {
		t->date_state = fields->date_state;
		t->sent_day = fields->day;
	}
	if (t->date_state == 0 && (blk = top_block(t, t->seq)) != NULL)
		t->date_state = block_date(buf_data(blk), buf_len(blk),
					   &t->sent_day);
	if (t->date_state == 0) {
		if (open_msg(t, t->seq) < 0)
			return -1;
		len = t->size < MAIL_TEXTNORM_HEADER_MAX ? (size_t)t->size :
			MAIL_TEXTNORM_HEADER_MAX;
		h = xmalloc(len + 1);
		if (t->in_mem)
			memcpy(h, buf_data(t->mem), len);
		else if (len > 0 && pread(t->fd, h, len, t->off) !=
			 (ssize_t)len) {
			if (errno == 0)
				errno = EIO;
			read_failed(t);
			free(h);
			return -1;
		}
		len = mail_header_block_len(h, len);
		t->date_state = block_date(h, len, &t->sent_day);
		free(h);
	}
	*day = t->sent_day;
	return t->date_state == 1 ? 1 : 0;
}

/* --- the one entry point --------------------------------------------------- */

int
search_text_match(struct search_text *t, uint32_t seq,
		  const struct search_key *key, bool *expunged)
{
	const struct search_fields *fields;
	const struct buf *blk;
	int64_t day;
	bool kept;
	int r;

	*expunged = false;
	select_msg(t, seq);
	switch (key->type) {
	case SEARCH_KEY_SENTBEFORE:
	case SEARCH_KEY_SENTON:
	case SEARCH_KEY_SENTSINCE:
		errno = 0;
		r = sent_day(t, &day);
		if (r < 0 && (t->gone || t->failed)) {
			*expunged = t->gone;
			return t->gone ? 0 : -1;
		}
		if (r < 0)
			return r;
		if (r == 0)
			return SEARCH_TEXT_NO_DATE;
		if (key->type == SEARCH_KEY_SENTBEFORE)
			return day < key->day;
		if (key->type == SEARCH_KEY_SENTON)
			return day == key->day;
		return day >= key->day;
	case SEARCH_KEY_HEADER:
	case SEARCH_KEY_BODY:
	case SEARCH_KEY_TEXT:
		kept = key->type == SEARCH_KEY_HEADER &&
			fetch_cache_field_kept(key->field);
		if (kept && (fields = fields_get(t, seq)) != NULL)
			return fields_key(t, fields, key);
		blk = kept ? top_block(t, seq) : NULL;
		if (blk == NULL && open_msg(t, seq) < 0) {
			*expunged = t->gone;
			return t->gone ? 0 : -1;
		}
		return text_key(t, key, blk);
	default:
		return 0;
	}
}

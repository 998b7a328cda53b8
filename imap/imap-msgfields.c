/*
 * imap-msgfields: SORT/THREAD fields of one message (see the header).
 * Input: the message's header bytes (untrusted mail), read once per
 * message into one reusable buffer.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "imap/client.h"
#include "imap/fetch-cache.h"
#include "imap/imap-commands.h"
#include "imap/imap-condstore.h"
#include "imap/imap-msgfields.h"
#include "imap/imap-search-text.h"
#include "imap/imap-search.h"
#include "mail/addr.h"
#include "mail/casemap.h"
#include "mail/date.h"
#include "mail/header.h"
#include "mail/subject.h"
#include "mail/thread.h"
#include "storage/store.h"

/* The cache's block of a message's header stands for the bytes read
 * here only if both read as much. */
_Static_assert(MSGFIELDS_HEADER_MAX == FETCH_CACHE_SORT_HEADER_MAX,
	       "SORT/THREAD's header bound is the FETCH cache's");

_Static_assert(MSGFIELDS_KEYS_REC_MAX <= STORE_CACHE_MAX,
	       "every SORT record can be cached");

/* Fields that come from the header (the rest from the index). */
#define MSGF_HEADER (MSGF_DATE | MSGF_SUBJECT | MSGF_FROM | MSGF_TO | \
		     MSGF_CC | MSGF_DISPLAYFROM | MSGF_DISPLAYTO | MSGF_REFS)

struct msgfields_reader {
	struct store *store;
	struct mailbox *mb;
	uint8_t *hdr;            /* MSGFIELDS_HEADER_MAX bytes */
	struct buf *tmp, *key;
	struct buf *blk;         /* the message's header fields (cache) */
	struct pool *scratch;    /* address parses, cleared per message */
	struct pool *parsed;     /* fields parsed from a header, per message */
	uint8_t *rec;            /* a SORT record read */
	/* cache records made here, put in batches, one per kind */
	struct fetch_cache_batch batch[STORE_CACHE_KINDS];
	char error[256];
};

/* Queues val (taken over) as message seq's record of kind. */
static void
queue_put(struct msgfields_reader *r, enum store_cache_kind kind, uint32_t seq,
	  struct buf *val)
{
	fetch_cache_batch_queue(r->store, r->mb, &r->batch[kind], seq, val,
				"SORT/THREAD");
}

static void
flush_cache(struct msgfields_reader *r)
{
	for (int k = 0; k < STORE_CACHE_KINDS; k++)
		fetch_cache_batch_flush(r->store, r->mb, &r->batch[k],
					"SORT/THREAD");
}

struct msgfields_reader *
msgfields_reader_new(struct pool *pool, struct store *store,
		     struct mailbox *mb)
{
	struct msgfields_reader *r = pool_alloc(pool, sizeof(*r));

	r->store = store;
	r->mb = mb;
	r->hdr = xmalloc(MSGFIELDS_HEADER_MAX);
	r->tmp = buf_new(MSGFIELDS_HEADER_MAX);
	r->key = buf_new(4 * MSGFIELDS_HEADER_MAX);
	r->scratch = pool_new(16384);
	r->parsed = pool_new(16384);
	r->rec = xmalloc(MSGFIELDS_KEYS_REC_MAX);
	for (int k = 0; k < STORE_CACHE_KINDS; k++)
		r->batch[k].kind = (enum store_cache_kind)k;
	return r;
}

void
msgfields_reader_free(struct msgfields_reader **rp)
{
	struct msgfields_reader *r = *rp;

	if (r == NULL)
		return;
	flush_cache(r);
	buf_free(&r->blk);
	free(r->hdr);
	buf_free(&r->tmp);
	buf_free(&r->key);
	pool_free(&r->scratch);
	pool_free(&r->parsed);
	free(r->rec);
	*rp = NULL;
}

const char *
msgfields_error(const struct msgfields_reader *r)
{
	return r->error;
}

/* The key in r->key, cut to MSGFIELDS_KEY_MAX bytes at a character
 * boundary, copied to pool. */
static const char *
key_dup(struct msgfields_reader *r, struct pool *pool)
{
	size_t n = buf_len(r->key);
	const uint8_t *d = buf_data(r->key);

	if (n > MSGFIELDS_KEY_MAX) {
		n = MSGFIELDS_KEY_MAX;
		while (n > 0 && (d[n] & 0xc0) == 0x80)
			n--;
	}
	return pool_strndup(pool, (const char *)d, n);
}

static int
read_header(struct msgfields_reader *r, uint32_t seq, size_t *len)
{
	const struct store_error *err;
	uint64_t size;
	off_t off;
	size_t got = 0, want;
	int fd;

	if (mailbox_msg_open(r->mb, seq, &fd, &off, &size) < 0) {
		err = store_error(r->store);
		if (err->code == STORE_ERR_EXPUNGED)
			return 1;
		snprintf(r->error, sizeof(r->error), "%s", err->detail);
		return -1;
	}
	want = size < MSGFIELDS_HEADER_MAX ? (size_t)size :
		MSGFIELDS_HEADER_MAX;
	while (got < want) {
		ssize_t n = pread(fd, r->hdr + got, want - got,
				  off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(r->error, sizeof(r->error), "read: %s",
				 strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*len = mail_header_block_len(r->hdr, got);
	return 0;
}

/* The message's header fields as SORT/THREAD read them, from the FETCH
 * cache (every occurrence of the ones kept there, which are all that
 * SORT and THREAD use), or parsed now from the file and cached: a second
 * SORT, or one after a FETCH, reads no message. 0 with r->blk set, 1 not
 * usable (read the header), -1 an error, 2 expunged. */
static int
cached_header(struct msgfields_reader *r, uint32_t seq)
{
	const struct store_error *err;
	struct fetch_meta m;
	const struct buf *e;
	uint64_t size;
	off_t off;
	int fd, rc;

	buf_free(&r->blk);
	if (fetch_cache_top(r->mb, seq, FETCH_TOP_SORT, &r->blk) == 0)
		return 0;
	if (mailbox_msg_open(r->mb, seq, &fd, &off, &size) < 0) {
		err = store_error(r->store);
		if (err->code == STORE_ERR_EXPUNGED)
			return 2;
		snprintf(r->error, sizeof(r->error), "%s", err->detail);
		return -1;
	}
	rc = fetch_cache_fill(fd, off, size, &m);
	close(fd);
	if (rc < 0)
		return 1;	/* the plain read reports it */
	if (m.value != NULL) {
		queue_put(r, STORE_CACHE_STRUCT, seq, m.value);
		m.value = NULL;
	}
	e = m.top_sort ? fetch_meta_envelope(&m, 0) : NULL;
	if (e != NULL) {
		r->blk = buf_new(buf_len(e));
		(void)buf_append(r->blk, buf_data(e), buf_len(e));
	}
	fetch_meta_clear(&m);
	return r->blk != NULL ? 0 : 1;
}

/* The first mailbox of an address field: its local part (RFC 5256
 * §2.2 addr-mailbox) or its RFC 5957 display form, as a key. */
static const char *
addr_key(struct msgfields_reader *r, struct pool *pool,
	 const struct mail_header_field *f, bool display)
{
	struct mail_addr_list list;
	const struct mail_addr *a;

	buf_reset(r->tmp);
	buf_reset(r->key);
	pool_clear(r->scratch);
	if (mail_header_unfold(r->tmp, f->value, f->value_len) < 0)
		return "";
	mail_addr_parse(r->scratch, buf_data(r->tmp), buf_len(r->tmp), &list);
	a = mail_addr_first(&list);
	if (a == NULL)
		return "";
	if (display) {
		struct buf *d = buf_new(MSGFIELDS_HEADER_MAX);

		if (mail_addr_display(a, d) == 0)
			(void)mail_casemap(buf_data(d), buf_len(d), r->key);
		buf_free(&d);
	} else {
		(void)mail_casemap(a->mailbox, strlen(a->mailbox), r->key);
	}
	return key_dup(r, pool);
}

/* The references kept: the last MAIL_THREAD_MAX_REFS msg-ids (the
 * nearest ancestors) within MSGFIELDS_REFS_BYTES. They are parsed into
 * the scratch pool and only those kept are copied, so a References
 * field of thousands of IDs costs nothing per message afterwards. */
static void
refs_read(struct msgfields_reader *r, struct pool *pool,
	  const struct mail_header_field *f, struct msgfields *out)
{
	const char *ids[MAIL_THREAD_MAX_REFS];
	const char *s = (const char *)f->value, *id;
	size_t n = 0, pos = 0, total = 0, bytes = 0;

	pool_clear(r->scratch);
	while ((id = mail_msgid_next(r->scratch, s, f->value_len, &pos)) !=
	       NULL) {
		ids[total % MAIL_THREAD_MAX_REFS] = id;
		total++;
	}
	/* From the newest back, as many as the byte budget takes. */
	while (n < total && n < MAIL_THREAD_MAX_REFS) {
		size_t len = strlen(ids[(total - 1 - n) % MAIL_THREAD_MAX_REFS]);

		if (bytes + len > MSGFIELDS_REFS_BYTES)
			break;
		bytes += len;
		n++;
	}
	out->refs = pool_alloc(pool, (n + 1) * sizeof(*out->refs));
	for (size_t i = 0; i < n; i++)
		out->refs[i] = pool_strdup(pool,
			ids[(total - n + i) % MAIL_THREAD_MAX_REFS]);
	out->n_refs = n;
	pool_clear(r->scratch);
}

/* The header fields in want of message seq, parsed from its header
 * (the FETCH cache's block of it, or the file), strings from pool;
 * f->date stays as it is unless a Date parses (*have_date then). 0; 1
 * expunged; -1 an error. */
static int
parse_fields(struct msgfields_reader *r, struct pool *pool, uint32_t seq,
	     unsigned int want, struct msgfields *f, bool *have_date_out)
{
	struct mail_header_iter it;
	struct mail_header_field hf, irt = { 0 };
	bool have_date = false, have_refs = false, have_irt = false;
	bool seen_from = false, seen_to = false, seen_cc = false;
	bool seen_subject = false, seen_id = false;
	size_t len = 0;
	int rc;

	*have_date_out = false;
	rc = cached_header(r, seq);
	if (rc == 2)
		return 1;
	if (rc < 0)
		return rc;
	if (rc == 1 && (rc = read_header(r, seq, &len)) != 0)
		return rc;
	if (r->blk != NULL)
		mail_header_iter_init(&it, buf_data(r->blk), buf_len(r->blk));
	else
		mail_header_iter_init(&it, r->hdr, len);
	while (mail_header_next(&it, &hf)) {
		if ((want & MSGF_DATE) && !have_date &&
		    mail_header_name_is(&hf, "Date")) {
			struct mail_date d;

			have_date = true;
			if (mail_date_parse(hf.value, hf.value_len, &d) == 0) {
				f->date = d.t;
				*have_date_out = true;
			}
		} else if ((want & MSGF_SUBJECT) && !seen_subject &&
			   mail_header_name_is(&hf, "Subject")) {
			seen_subject = true;
			buf_reset(r->key);
			(void)mail_subject_key(hf.value, hf.value_len, r->key,
					       &f->reply);
			f->subject = key_dup(r, pool);
		} else if ((want & (MSGF_FROM | MSGF_DISPLAYFROM)) &&
			   !seen_from && mail_header_name_is(&hf, "From")) {
			seen_from = true;
			if (want & MSGF_FROM)
				f->from = addr_key(r, pool, &hf, false);
			if (want & MSGF_DISPLAYFROM)
				f->displayfrom = addr_key(r, pool, &hf, true);
		} else if ((want & (MSGF_TO | MSGF_DISPLAYTO)) && !seen_to &&
			   mail_header_name_is(&hf, "To")) {
			seen_to = true;
			if (want & MSGF_TO)
				f->to = addr_key(r, pool, &hf, false);
			if (want & MSGF_DISPLAYTO)
				f->displayto = addr_key(r, pool, &hf, true);
		} else if ((want & MSGF_CC) && !seen_cc &&
			   mail_header_name_is(&hf, "Cc")) {
			seen_cc = true;
			f->cc = addr_key(r, pool, &hf, false);
		} else if ((want & MSGF_REFS) && !seen_id &&
			   mail_header_name_is(&hf, "Message-ID")) {
			size_t pos = 0;

			seen_id = true;
			f->msgid = mail_msgid_next(pool, (const char *)hf.value,
						   hf.value_len, &pos);
		} else if ((want & MSGF_REFS) && !have_refs &&
			   mail_header_name_is(&hf, "References")) {
			refs_read(r, pool, &hf, f);
			/* References without a valid ID: In-Reply-To. */
			have_refs = f->n_refs > 0;
		} else if ((want & MSGF_REFS) && !have_irt &&
			   mail_header_name_is(&hf, "In-Reply-To")) {
			have_irt = true;
			irt = hf;
		}
	}
	if ((want & MSGF_REFS) && !have_refs && have_irt) {
		size_t pos = 0;
		const char *id = mail_msgid_next(pool, (const char *)irt.value,
						 irt.value_len, &pos);

		if (id != NULL) {
			f->refs = pool_alloc(pool, sizeof(*f->refs));
			f->refs[0] = id;
			f->n_refs = 1;
		}
	}
	return 0;
}

/* Empty keys, no references, the sent date INTERNALDATE. */
static void
fields_init(struct msgfields *f, time_t arrival, uint64_t size)
{
	memset(f, 0, sizeof(*f));
	f->subject = f->from = f->to = f->cc = "";
	f->displayfrom = f->displayto = "";
	f->date = f->arrival = arrival;
	f->size = size;
}

int
msgfields_read(struct msgfields_reader *r, struct pool *pool, uint32_t seq,
	       unsigned int want, struct msgfields *f)
{
	struct msgfields all;
	struct buf *val;
	time_t arrival;
	uint64_t size;
	bool have_date, date_only;
	size_t len;
	int rc;

	fields_init(f, 0, 0);
	if (mailbox_msg_info(r->mb, seq, &arrival, &size) < 0) {
		const struct store_error *err = store_error(r->store);

		if (err->code == STORE_ERR_EXPUNGED)
			return 1;
		snprintf(r->error, sizeof(r->error), "%s", err->detail);
		return -1;
	}
	fields_init(f, arrival, size);
	if ((want & MSGF_HEADER) == 0)
		return 0;
	date_only = (want & MSGF_HEADER) == MSGF_DATE;
	if (date_only) {
		rc = mailbox_msg_cache_get(r->mb, STORE_CACHE_DATE, seq,
					   r->rec, MSGFIELDS_KEYS_REC_MAX,
					   &len);
		if (rc == 0 && msgfields_date_decode(r->rec, len, f,
						     NULL) == 0)
			return 0;
		if (rc == 0)
			log_warn("SORT/THREAD: ignoring a malformed cache "
				 "record of message %" PRIu32, seq);
	}
	rc = mailbox_msg_cache_get(r->mb, STORE_CACHE_SORT, seq, r->rec,
				   MSGFIELDS_KEYS_REC_MAX, &len);
	if (rc == 0 && msgfields_keys_decode(r->rec, len, want, pool, f,
					     &have_date) == 0) {
		if (date_only)
			queue_put(r, STORE_CACHE_DATE, seq,
				  msgfields_date_encode(have_date, f->date));
		return 0;
	}
	if (rc == 0) {
		log_warn("SORT/THREAD: ignoring a malformed cache record of "
			 "message %" PRIu32, seq);
		fields_init(f, arrival, size);
	}
	/* Every key, parsed once, then answered through the record as a
	 * later SORT will be: both read the same bytes. */
	pool_clear(r->parsed);
	fields_init(&all, arrival, size);
	if ((rc = parse_fields(r, r->parsed, seq, MSGF_HEADER, &all,
			       &have_date)) != 0)
		return rc;
	val = msgfields_keys_encode(&all, have_date);
	if (val == NULL ||
	    msgfields_keys_decode(buf_data(val), buf_len(val), want,
				  pool, f, NULL) < 0) {
		buf_free(&val);
		fields_init(f, arrival, size);
		snprintf(r->error, sizeof(r->error),
			 "the SORT keys do not encode");
		return -1;
	}
	queue_put(r, STORE_CACHE_SORT, seq, val);
	if (date_only)
		queue_put(r, STORE_CACHE_DATE, seq,
			  msgfields_date_encode(have_date, f->date));
	pool_clear(r->parsed);
	return 0;
}

/* --- what SORT and THREAD share ------------------------------------- */

int
msgfields_parse_program(struct client_command *cmd,
			const struct imap_arg *args, size_t n,
			struct search_program *p)
{
	const char *charset, *error;
	int r;

	if (n < 2 || !imap_arg_get_astring(&args[0], &charset) ||
	    charset[0] == '\0') {
		imap_reply_bad(cmd, "Expected a charset and a search program.");
		return -1;
	}
	if (cmd->client->utf8 && !str_eq_ci(charset, "UTF-8")) {
		/* RFC 6855 §3: after ENABLE UTF8=ACCEPT, UTF-8 only. */
		imap_reply_bad(cmd, "Only UTF-8 after ENABLE UTF8=ACCEPT.");
		return -1;
	}
	r = search_parse_charset(cmd->pool, charset, args + 1, n - 1, p,
				 &error);
	if (r == -1) {
		imap_reply_bad(cmd, "%s", error);
		return -1;
	}
	if (r == -2) {
		imap_reply_no(cmd, "[BADCHARSET (" SEARCH_CHARSETS ")] %s",
			      error);
		return -1;
	}
	if (p->uses_modseq)
		condstore_enable(cmd->client);
	return 0;
}

struct msgfields_hit *
msgfields_collect(struct client_command *cmd, struct search_program *p,
		  unsigned int want, size_t *np, bool *failed)
{
	struct client *c = cmd->client;
	const struct mailbox_view *v = mailbox_view(c->mailbox);
	struct msgfields_reader *rd;
	struct msgfields_hit *hits;
	struct search_env env;
	size_t n = 0;

	memset(&env, 0, sizeof(env));
	env.store = c->store;
	env.mb = c->mailbox;
	env.view = v;
	env.n = v->n < c->known_exists ? v->n : c->known_exists;
	env.saved = c->search_saved;
	env.n_saved = c->n_search_saved;
	env.now = time(NULL);
	env.text = search_text_new(cmd->pool, c->store, c->mailbox);
	search_prepare(cmd->pool, &env, p);
	rd = msgfields_reader_new(cmd->pool, c->store, c->mailbox);
	hits = pool_alloc(cmd->pool, (env.n + 1) * sizeof(*hits));
	*failed = false;
	for (size_t i = 0; i < env.n; i++) {
		uint32_t seq = (uint32_t)(i + 1);
		struct msgfields_hit *h = &hits[n];
		int r;

		if (!search_match(&env, p, seq))
			continue;
		h->seq = seq;
		h->num = cmd->uid ? v->msgs[i].uid : seq;
		r = msgfields_read(rd, cmd->pool, seq, want, &h->f);
		if (r < 0) {
			if (!*failed)
				log_error("SORT/THREAD: message %" PRIu32
					  ": %s", seq, msgfields_error(rd));
			*failed = true;
		}
		/* An expunged message still answers, with empty fields
		 * (RFC 9051 §7.5.1: its number stays valid). */
		n++;
	}
	search_text_end(env.text);
	c->search_index_msgs += env.n_index;
	c->search_read_msgs += env.n_read;
	if (env.failed)
		*failed = true;
	msgfields_reader_free(&rd);
	*np = n;
	return hits;
}

struct send_state {
	const char *name;
	struct buf *text;
	size_t pos;
	bool head_done, failed;
};

static void
send_cleanup(struct client_command *cmd)
{
	struct send_state *st = cmd->ctx;

	if (st != NULL)
		buf_free(&st->text);
}

static void
send_resume(struct client_command *cmd)
{
	struct send_state *st = cmd->ctx;
	struct client *c = cmd->client;

	if (!st->head_done) {
		client_out_check(c, buf_printf(c->out, "* %s", st->name));
		st->head_done = true;
	}
	while (st->pos < buf_len(st->text)) {
		size_t left = buf_len(st->text) - st->pos;
		size_t k = left < 16384 ? left : 16384;

		if (client_output_full(c) || c->out_overflow) {
			cmd->resume = send_resume;
			return;
		}
		client_out_check(c, buf_append(c->out, buf_data(st->text) +
					       st->pos, k));
		st->pos += k;
	}
	client_out_check(c, buf_append_str(c->out, "\r\n"));
	buf_free(&st->text);
	if (st->failed)
		imap_reply_no(cmd, "[SERVERBUG] Some messages could not be "
			      "read, see the server log.");
	else
		imap_reply_ok(cmd, "%s%s completed.", cmd->uid ? "UID " : "",
			      st->name);
}

void
msgfields_send(struct client_command *cmd, const char *name,
	       struct buf *text, bool failed)
{
	struct send_state *st = pool_alloc(cmd->pool, sizeof(*st));

	memset(st, 0, sizeof(*st));
	st->name = name;
	st->text = text;
	st->failed = failed;
	cmd->ctx = st;
	cmd->cleanup = send_cleanup;
	send_resume(cmd);
}

/*
 * imap-msgfields: the per-message facts SORT and THREAD compare (RFC
 * 5256 §2.2, RFC 5957): sent date, base subject, the first address of
 * From/To/Cc, Message-ID and references, each in the form that is
 * compared (i;unicode-casemap keys, normalized msg-ids). Callers:
 * cmd-sort.c, cmd-thread.c.
 *
 * msgfields_read() is the one place that gets them: from the message's
 * SORT cache record (its DATE record for the date alone), else from its
 * header (the FETCH cache's block of
 * it, else the file, at most MSGFIELDS_HEADER_MAX bytes, one message at
 * a time, so memory is bounded by what is kept per message).
 */
#ifndef MOAT_IMAP_MSGFIELDS_H
#define MOAT_IMAP_MSGFIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/pool.h"
#include "imap/parser.h"

struct mailbox;
struct store;

/* Header bytes read per message: real headers are a few kB; a field
 * past this point is taken as missing. */
#define MSGFIELDS_HEADER_MAX (256u * 1024)
/* What is kept per message is bounded, since all of a mailbox's
 * messages are held at once: each key (a longer subject or address
 * sorts and threads by its first MSGFIELDS_KEY_MAX bytes) and the
 * references' bytes (the nearest ancestors first). */
#define MSGFIELDS_KEY_MAX 512
#define MSGFIELDS_REFS_BYTES 2048

enum {
	MSGF_DATE = 1u << 0,     /* Date, INTERNALDATE fallback */
	MSGF_ARRIVAL = 1u << 1,  /* INTERNALDATE */
	MSGF_SIZE = 1u << 2,
	MSGF_SUBJECT = 1u << 3,
	MSGF_FROM = 1u << 4,
	MSGF_TO = 1u << 5,
	MSGF_CC = 1u << 6,
	MSGF_DISPLAYFROM = 1u << 7,
	MSGF_DISPLAYTO = 1u << 8,
	MSGF_REFS = 1u << 9,     /* Message-ID, References, In-Reply-To */
};

struct msgfields {
	time_t date, arrival;
	uint64_t size;
	/* Keys, "" when the field is missing (never NULL once read). */
	const char *subject, *from, *to, *cc, *displayfrom, *displayto;
	bool reply;              /* RFC 5256 §2.1 reply or forward */
	const char *msgid;       /* NULL: none or not valid */
	const char **refs;       /* oldest first, n_refs */
	size_t n_refs;
};

struct msgfields_reader;

struct msgfields_reader *msgfields_reader_new(struct pool *pool,
					      struct store *store,
					      struct mailbox *mb);
void msgfields_reader_free(struct msgfields_reader **r);

/* Fills *f with the fields in want (MSGF_*) of message seq, strings
 * from pool. Returns 0; 1 if the message is gone (expunged: *f then
 * holds empty keys and INTERNALDATE 0); -1 if it could not be read
 * (the detail in msgfields_error). */
int msgfields_read(struct msgfields_reader *r, struct pool *pool,
		   uint32_t seq, unsigned int want, struct msgfields *f);
const char *msgfields_error(const struct msgfields_reader *r);

/* The fields SORT and THREAD compare have a cache record of their own
 * (STORE_CACHE_SORT), so a SORT or THREAD reads a few hundred bytes per
 * message, not the FETCH record's header fields, and parses nothing.
 * msgfields_read makes it from the parsed header the first time, then
 * answers through it both times, so a cached and a fresh answer are
 * the same by construction (imap/msgfields-keys.c). */
/* The record of f, whose MSGF_DATE..MSGF_REFS fields were all read
 * (have_date: a Date parsed, f->date is it); NULL if a field does not
 * fit the layout (then nothing is cached). */
struct buf *msgfields_keys_encode(const struct msgfields *f, bool have_date);
/* The largest record either allows (six cut keys, a Message-ID, the
 * references' budget). */
#define MSGFIELDS_KEYS_REC_MAX 8192
/* Fills the fields in want of *f from a record (strings from pool; the
 * sent date only if the record has one, so f->date should hold
 * INTERNALDATE before); *have_date (if not NULL) says which. 0, or -1
 * if it does not decode exactly (f may then hold some of it). */
int msgfields_keys_decode(const uint8_t *data, size_t len, unsigned int want,
			  struct pool *pool, struct msgfields *f,
			  bool *have_date);
/* SORT by the sent date alone reads a record of the date alone
 * (STORE_CACHE_DATE: 10 bytes, a sixth of the keys' record), made from
 * the keys the first time: u8 version | u8 has date | u64 date (0
 * without one). */
#define MSGFIELDS_DATE_REC_LEN 10
struct buf *msgfields_date_encode(bool have_date, time_t date);
/* As msgfields_keys_decode for the date: f->date set only if the record
 * has one. 0, or -1 if it is not exactly one record. */
int msgfields_date_decode(const uint8_t *data, size_t len,
			  struct msgfields *f, bool *have_date);

#endif

/* --- what SORT and THREAD share ------------------------------------- */

struct client_command;
struct search_program;

/* One searched message and its fields. */
struct msgfields_hit {
	uint32_t seq, num;       /* num: seq, or the UID for UID SORT/THREAD */
	struct msgfields f;
};

/* Parses "charset search-program" from args[0..n-1] (RFC 5256 §3) into
 * *p. Returns 0; or -1 after answering BAD or NO [BADCHARSET]. */
int msgfields_parse_program(struct client_command *cmd,
			    const struct imap_arg *args, size_t n,
			    struct search_program *p);

/* Runs p over the messages the client knows and reads the fields in
 * want of each match. Returns the hits (from cmd->pool) and *n; *failed
 * when a message could not be read (the caller answers NO
 * [SERVERBUG]). */
struct msgfields_hit *msgfields_collect(struct client_command *cmd,
					struct search_program *p,
					unsigned int want, size_t *n,
					bool *failed);

/* Sends "* <name><text>\r\n" (text from the caller's heap buf, which is
 * freed) in pieces as the client reads, then the tagged OK. */
void msgfields_send(struct client_command *cmd, const char *name,
		    struct buf *text, bool failed);

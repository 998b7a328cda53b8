/*
 * mbox_parse: a streaming splitter for mbox files (RFC 4155; Debian's
 * /var/mail spools and ~/mail folders), the From_ line writer and the
 * body quoting for APPEND.
 *
 * Message boundaries. A line starting "From " begins a new message when
 * the rest of it is a plausible From_ line (a sender, which may be
 * empty, then an asctime-like date: "Www Mmm dd hh:mm[:ss] [zone] yyyy
 * [zone] [more]"; at most MBOX_FROM_LINE_MAX bytes), and
 *   (a) it is the first line the parser sees (start of file, or the
 *       start offset of an incremental parse), or
 *   (b) the line before it is empty ("\n" or "\r\n"), or
 *   (c) it starts exactly where the previous message's Content-Length
 *       header says its body ends (mboxcl writers that omit the blank
 *       line).
 * Debian's MDAs (postfix local, procmail, exim) end every message with a
 * blank line and escape body lines as ">From ", so every real boundary
 * passes (b). mutt (is_from() on every "From " line) and Dovecot
 * (istream-raw-mbox.c: any "\nFrom " whose line mbox_from_parse()
 * accepts) also split after a non-blank line; Moat does not, because an
 * unescaped "From " line in a body that happens to carry a date would be
 * cut into two messages, while the blank-line rule at worst joins two
 * messages of a broken writer into one, which loses nothing. RFC 4155 §2
 * notes writers that escape only lines "immediately preceded by a blank
 * line" that "appear to contain an email address and a timestamp": this
 * rule is the one they all agree on. Content-Length is never trusted to
 * skip over text: it only adds (c).
 *
 * For each message the parser reports (struct mbox_msg):
 *   - from_offset: where its From_ line starts; offset: the byte after
 *     the From_ line; length: the message (excluding the From_ line and
 *     the blank separator line before the next From_ line or at EOF);
 *     hdr_len: the header block with its terminating empty line, capped
 *     at length (a header that runs into the separator has none);
 *     end: the offset of the next From_ line, or EOF;
 *   - a fingerprint: the first 16 bytes of SHA-256 over the From_ line
 *     and the header block (every field line with its line break) except
 *     the fields that mutt, UW-IMAP and Dovecot rewrite in place: Status,
 *     X-Status, X-Keywords, X-UID, X-IMAP, X-IMAPbase, Content-Length and
 *     Lines. SHA-256 rather than SipHash: the index matches messages by
 *     it, and anyone who can mail the user chooses the headers, so it
 *     must be collision-resistant under a key that is not secret;
 *   - the flags in Status (R \Seen, O not \Recent) and X-Status
 *     (A \Answered, F \Flagged, T \Draft, D \Deleted), X-UID, X-Keywords,
 *     and X-IMAPbase / X-IMAP (uidvalidity, last UID, keywords) for
 *     migration from Dovecot or UW-IMAP. These headers come from whoever
 *     sent the mail as much as from the MUA: the caller trusts X-IMAPbase
 *     only in the first message of a file and sanity-checks every value.
 *   Each header field is used once (the first occurrence); folded values
 *   are unfolded; captured values are capped at MBOX_VALUE_MAX bytes.
 *
 * Bounded memory: the parser keeps one From_ line, one header value per
 * interesting field and a hash state (a few KB, whatever the input). A
 * line of any length streams through; only its first MBOX_FROM_LINE_MAX
 * bytes are looked at. Offsets are absolute file offsets, so a parse can
 * start at any message's from_offset (append detection parses only the
 * tail) and gives for the messages after it exactly what a parse of the
 * whole file gives; how the input is cut into feeds never matters.
 *
 * Callers: the mbox backend (scan, append detection, expunge), migration.
 * Inputs are mail files other programs write: untrusted.
 */
#ifndef MOAT_STORAGE_MBOX_PARSE_H
#define MOAT_STORAGE_MBOX_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"

#define MBOX_FINGERPRINT_LEN 16
/* Longest From_ line that can separate messages (with its line break). */
#define MBOX_FROM_LINE_MAX 1024
/* Cap on a captured header value (X-Keywords, X-IMAPbase, ...). */
#define MBOX_VALUE_MAX 4096

enum {
	MBOX_FLAG_SEEN     = 1 << 0,   /* Status: R */
	MBOX_FLAG_OLD      = 1 << 1,   /* Status: O (not \Recent) */
	MBOX_FLAG_ANSWERED = 1 << 2,   /* X-Status: A */
	MBOX_FLAG_FLAGGED  = 1 << 3,   /* X-Status: F */
	MBOX_FLAG_DRAFT    = 1 << 4,   /* X-Status: T */
	MBOX_FLAG_DELETED  = 1 << 5,   /* X-Status: D */
};

/* The date of a From_ line as written (asctime has no zone: it is the
 * writer's local time unless has_tz). */
struct mbox_from_date {
	int year, mon, mday, hour, min, sec;   /* mon 1..12 */
	bool has_tz;
	int tz_min;                            /* east of UTC, if has_tz */
};

struct mbox_msg {
	uint64_t from_offset;
	uint64_t offset;
	uint64_t length;
	uint64_t hdr_len;
	uint64_t end;
	bool crlf;                      /* the From_ line ends in CRLF */
	/* Borrowed, valid during the callback only. */
	const char *from_line;          /* without its line break */
	size_t from_line_len;
	const char *sender;             /* inside from_line; may be empty */
	size_t sender_len;
	struct mbox_from_date date;
	uint8_t fingerprint[MBOX_FINGERPRINT_LEN];

	unsigned flags;                 /* MBOX_FLAG_* */
	bool has_status, has_xstatus;
	uint32_t uid;                   /* X-UID, 0 if absent or invalid */
	const char *keywords;           /* X-Keywords value; NULL if none */
	size_t keywords_len;
	bool keywords_truncated;
	bool has_imapbase;              /* X-IMAPbase or X-IMAP parsed */
	bool imapbase_pseudo;           /* it was X-IMAP (a pseudo-message) */
	uint32_t uidvalidity, last_uid;
	const char *base_keywords;      /* keywords after the two numbers */
	size_t base_keywords_len;
	bool has_content_length;
	uint64_t content_length;
};

/* Called once per message, in file order. Return 0 to go on; any other
 * value stops the parser, and feed/finish return it. */
typedef int mbox_parse_cb(void *ctx, const struct mbox_msg *msg);

struct mbox_parser;

/* A parser for input starting at absolute offset start. Rule (a) makes
 * the first line a boundary, so to agree with a full parse start must be
 * 0, a message's from_offset, or an old end of file that a blank line
 * preceded (the last message had end > offset + length). Appending after
 * a file that ended without one needs a full rescan: a full parse would
 * join the new message to the last one. */
struct mbox_parser *mbox_parser_new(uint64_t start, mbox_parse_cb *cb,
				    void *ctx);
void mbox_parser_free(struct mbox_parser **p);

/* Feeds the next len bytes. Returns 0, or the callback's non-zero value
 * (the parser then ignores further input and keeps returning it). */
int mbox_parser_feed(struct mbox_parser *p, const void *data, size_t len);

/* End of input: reports the last message. Returns like feed. */
int mbox_parser_finish(struct mbox_parser *p);

/* Bytes before the first message (not an mbox, or a start offset that is
 * not a message boundary). */
uint64_t mbox_parser_junk(const struct mbox_parser *p);

/* Parses fd from offset start to EOF with pread() through a window of
 * window bytes (at least 4096 are used), whatever the file's size.
 * Returns 0, the callback's non-zero value, or -1 with errno for a read
 * error. *junk (may be NULL) gets mbox_parser_junk(). */
int mbox_parse_fd(int fd, uint64_t start, size_t window, mbox_parse_cb *cb,
		  void *ctx, uint64_t *junk);

/* Parses one From_ line (without its line break) as the splitter does.
 * Returns true and fills the outputs when it is plausible. */
bool mbox_parse_from_line(const char *line, size_t len, const char **sender,
			  size_t *sender_len, struct mbox_from_date *date);

/* Appends "From <sender> <asctime of t in UTC>\n" for a message Moat
 * writes (APPEND). sender NULL or "" gives "MAILER-DAEMON"; otherwise it
 * must be 1..256 bytes without whitespace or control characters. Writes
 * UTC as Dovecot does (asctime carries no zone; the index keeps the exact
 * internal date anyway). Returns 0 or -1 (EINVAL: bad sender or a year
 * outside 1900..9999; EMSGSIZE); out unchanged on error. */
int mbox_parse_from_line_build(struct buf *out, const char *sender,
			       time_t t);

/* Body quoting for writing a message into an mbox: mboxo, as Debian's
 * MDAs do. Every line that starts with "From " gets a ">" in front; lines
 * that already start with ">From " stay as they are (mboxrd would add a
 * ">" there too, but Moat never unquotes, and mutt, Dovecot and the MDAs
 * sharing the file do not either, so mboxrd would only change more of
 * the message than the one convention everyone reads needs). Every
 * "From " line is quoted, not only the plausible ones after a blank line:
 * simpler readers (Python's mailbox, formail, grep) split on any.
 * Streaming: feed the message in pieces of any size.
 *
 * With strip_cr, each CRLF becomes LF (IMAP literals are CRLF, Debian's
 * mbox files LF); a CR not followed by LF is kept, and so is the CR of
 * "\r\r\n" (its LF already follows a CR, so mbox_serve leaves it alone
 * and the message comes back byte for byte). */
struct mbox_quote {
	bool strip_cr;
	bool bol;         /* at the beginning of a line */
	uint8_t match;    /* bytes of "From " matched at bol, held back */
	bool cr;          /* a CR held back (strip_cr) */
	bool prev_cr;     /* the last byte fed was a CR */
};
void mbox_parse_quote_init(struct mbox_quote *q, bool strip_cr);
/* Appends the quoted form of len bytes. Returns 0 or -1 (EMSGSIZE) with
 * out and *q unchanged. */
int mbox_parse_quote(struct mbox_quote *q, const void *data, size_t len,
		     struct buf *out);
/* Flushes what is held back at the end of the message. */
int mbox_parse_quote_finish(struct mbox_quote *q, struct buf *out);

#endif

/*
 * mail addr: RFC 5322 §3.4 address lists (with the obsolete syntax of
 * §4.4 and RFC 6532 UTF-8) parsed into the shape IMAP's ENVELOPE sends
 * (RFC 9051 §7.5.2, RFC 3501 §7.4.2): a list of mailboxes, with a group
 * written as a start marker, its members, and an end marker.
 */
#ifndef MOAT_MAIL_ADDR_H
#define MOAT_MAIL_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include "core/buf.h"
#include "core/pool.h"

/* Limits: a list stops after this many entries (markers included), and
 * a comment nested deeper than this ends the parse of the field. */
#define MAIL_ADDR_MAX_ADDRS 10000
#define MAIL_ADDR_MAX_COMMENT_DEPTH 64

enum mail_addr_kind {
	MAIL_ADDR_MAILBOX,
	MAIL_ADDR_GROUP_START,   /* mailbox = the group's display name */
	MAIL_ADDR_GROUP_END,
};

struct mail_addr {
	struct mail_addr *next;
	enum mail_addr_kind kind;
	/* The display name as written (quotes removed, quoted-pairs
	 * unescaped, words joined by one space, comments dropped; RFC 2047
	 * words NOT decoded: ENVELOPE sends them raw). If there is no
	 * display name but the address is followed by a comment
	 * ("john@x (John Doe)"), the comment's text. NULL if neither. */
	const char *name;
	/* obs-route (§4.4) "@a,@b", the ENVELOPE "adl"; NULL if none. */
	const char *route;
	/* Local part, unquoted; "" if missing. Group start: group name. */
	const char *mailbox;
	/* Domain (a domain literal keeps its brackets); "" if missing. */
	const char *host;
	/* Something was wrong: no domain, unbalanced quote/bracket/paren,
	 * junk after the address. The fields are the best reading. */
	bool invalid;
};

struct mail_addr_list {
	struct mail_addr *head;
	size_t count;            /* entries, markers included */
	bool truncated;          /* MAIL_ADDR_MAX_ADDRS or nesting hit */
};

/* Parses the value of an address field (From, To, Cc, ...: unfolded or
 * not). Strings are allocated from pool. Empty elements (", ,") are
 * skipped. Never fails: an unparseable value gives fewer addresses. */
void mail_addr_parse(struct pool *pool, const void *s, size_t len,
		     struct mail_addr_list *list);

/* The first mailbox of the list (skipping group markers), or NULL. */
const struct mail_addr *mail_addr_first(const struct mail_addr_list *l);

/* Appends the RFC 5957 §3 display form of a: its display name, RFC 2047
 * decoded to UTF-8, if that is not empty; otherwise the addr-spec
 * "mailbox@host" (just the mailbox if there is no host). SORT
 * DISPLAYFROM/DISPLAYTO compare this with i;unicode-casemap. Returns 0
 * or -1 (out full). */
int mail_addr_display(const struct mail_addr *a, struct buf *out);

/* Appends a in RFC 5322 form (for tests and fuzzers: parse -> write ->
 * parse gives the same fields). Groups are written "name:" and ";". */
int mail_addr_write(const struct mail_addr_list *l, struct buf *out);

#endif

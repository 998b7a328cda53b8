/*
 * mbname: mailbox names from clients, checked before they name anything,
 * and their mapping to the names Maildir++ and mbox stores use on disk.
 *
 * A mailbox name here is UTF-8 (what mUTF-7 decodes to, or what a client
 * sends after ENABLE UTF8=ACCEPT), split into components by a hierarchy
 * separator the caller chooses (a single ASCII punctuation character,
 * e.g. '/' or '.'). A valid name
 *   - is well-formed UTF-8 without NUL, C0/C1 control characters or DEL
 *     (RFC 9051 §5.1 lets servers refuse CTLs; they would break log
 *     lines and clients' displays);
 *   - is 1..MBNAME_MAX_LEN bytes and has at most MBNAME_MAX_DEPTH
 *     components;
 *   - has no empty component: no leading separator (an absolute path),
 *     no trailing one, none doubled;
 *   - has no "." or ".." component (path traversal on any store), and
 *     no first component starting with "~" (UW-IMAP and Pine read
 *     "~user/..." as another user's mail; here it is never that).
 * Nothing is unescaped: "%2e%2e" is those six characters, never "..".
 * The first component is INBOX if it equals "INBOX" in any case (RFC 3501
 * §5.1, RFC 9051 §5.1: INBOX is case-insensitive); it is rewritten to
 * "INBOX", so "inbox" and "Inbox/Sub" name INBOX and its child "Sub"
 * (as Dovecot does). Other components keep their case.
 *
 * MBNAME_MAX_LEN is 255 bytes because Maildir++ keeps the whole name of a
 * folder in one directory name, and Linux file systems cap a directory
 * entry at NAME_MAX (255) bytes: a longer name could never be stored.
 * The mapping functions check the encoded on-disk length again (mUTF-7
 * is longer than UTF-8 for most non-ASCII text). MBNAME_MAX_DEPTH (16)
 * bounds the work of hierarchy operations (RENAME, DELETE, LIST) and the
 * directory depth of an mbox tree; no mail client nests deeper.
 *
 * Mapping to disk (Dovecot's and Courier's conventions, so that a store
 * they served keeps its folders):
 *   - Maildir++: "Sub/Folder" -> ".Sub.Folder" with each component in
 *     modified UTF-7; INBOX is the Maildir root itself, and "INBOX/Sub"
 *     is ".INBOX.Sub" (Dovecot's layout without a namespace prefix; a
 *     Courier-style "INBOX." namespace is the caller's to strip before
 *     mapping). A component that
 *     contains '.' cannot be stored (Maildir++ uses '.' as its own
 *     separator) and is refused, as is one containing '/'.
 *   - mbox: "Sub/Folder" -> "<root>/Sub/Folder", components in modified
 *     UTF-7. INBOX is the location's INBOX= file (the spool), so it has no
 *     path here. Components that start with "." are refused (an mbox root
 *     may be the home directory: ".ssh/authorized_keys" must not become a
 *     mailbox), and so are components ending in ".lock" (the dotlock of a
 *     sibling mbox, which a folder of that name would hold forever).
 *
 * Callers: the IMAP commands that take a mailbox name, LIST, and the
 * storage backends. Inputs are untrusted (client names, directory entries
 * other programs created). Results go to a buf with a maximum.
 */
#ifndef MOAT_IMAP_MAILBOX_NAME_H
#define MOAT_IMAP_MAILBOX_NAME_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

#define MBNAME_MAX_LEN 255
#define MBNAME_MAX_DEPTH 16
/* Longest wire form accepted before decoding: the modified UTF-7 of a
 * MBNAME_MAX_LEN-byte name is at most about 3 times longer. */
#define MBNAME_WIRE_MAX 1024

enum mbname_error {
	MBNAME_OK = 0,
	MBNAME_EMPTY,             /* "" */
	MBNAME_TOO_LONG,          /* > MBNAME_MAX_LEN (or on-disk name too long) */
	MBNAME_TOO_DEEP,          /* > MBNAME_MAX_DEPTH components */
	MBNAME_BAD_MUTF7,         /* not canonical modified UTF-7 */
	MBNAME_BAD_UTF8,          /* not well-formed UTF-8, or NUL */
	MBNAME_CONTROL,           /* a control character */
	MBNAME_ABSOLUTE,          /* starts with the separator */
	MBNAME_EMPTY_COMPONENT,   /* "a//b" or a trailing separator */
	MBNAME_DOT_COMPONENT,     /* a "." or ".." component */
	MBNAME_TILDE,             /* first component starts with "~" */
	MBNAME_WILDCARD,          /* '%' or '*' in a name to create */
	MBNAME_UNSTORABLE,        /* a component the store cannot hold */
	MBNAME_IS_INBOX,          /* INBOX has no path in this mapping */
};

/* Flags for mbname_check() and mbname_from_wire(). */
enum {
	/* A name for CREATE or RENAME's target: the LIST wildcards '%' and
	 * '*' are refused too (RFC 9051 §5.1 note 3: such a mailbox cannot
	 * be listed by name). Existing names may contain them. */
	MBNAME_FOR_CREATE = 1 << 0,
};

/* A short English reason for a NO response or a log line. */
const char *mbname_error_str(enum mbname_error err);

/* Checks the UTF-8 name (len bytes, need not be NUL-terminated) against
 * the rules above for separator sep. Returns MBNAME_OK or the first rule
 * broken. INBOX spelling is not checked here (any case is valid). sep
 * must be printable ASCII punctuation other than '&' (a caller's bug
 * otherwise: panics). */
enum mbname_error mbname_check(const char *name, size_t len, char sep,
			       unsigned flags);

/* The full path from the wire: decodes wire (len bytes) from modified
 * UTF-7, or takes it as UTF-8 when utf8 is true (UTF8=ACCEPT enabled,
 * RFC 6855 §3), checks it, normalises INBOX, and appends the canonical
 * UTF-8 name to out. Returns 0, or -1 with *err set; out is then
 * unchanged. */
int mbname_from_wire(const char *wire, size_t len, bool utf8, char sep,
		     unsigned flags, struct buf *out, enum mbname_error *err);

/* Appends the wire form of a canonical name (modified UTF-7, or the UTF-8
 * itself when utf8 is true). Returns 0 or -1 (errno EMSGSIZE; EINVAL if
 * name is not valid UTF-8); out unchanged on error. */
int mbname_to_wire(const char *name, bool utf8, struct buf *out);

/* True when the canonical name is INBOX itself (not a child). */
bool mbname_is_inbox(const char *name);

/* Maps a canonical name (from mbname_from_wire) to its Maildir++
 * directory name relative to the Maildir root: "" for INBOX,
 * ".Sub.Folder" otherwise. Returns 0, or -1 with *err (MBNAME_UNSTORABLE,
 * MBNAME_TOO_LONG, or any check failure); out unchanged on error. */
int mbname_to_maildir(const char *name, char sep, struct buf *out,
		      enum mbname_error *err);

/* The reverse, for directory entries found under a Maildir root: ".Sub.
 * Folder" -> "Sub<sep>Folder" (canonical UTF-8). Refuses what
 * mbname_to_maildir would not produce (no leading '.', "..", empty or
 * bad mUTF-7 components, a component containing sep, ...). */
int mbname_from_maildir(const char *dirname, size_t len, char sep,
			struct buf *out, enum mbname_error *err);

/* Maps a canonical name to an mbox path: root (may be "", else joined
 * with '/'; give it without a trailing '/') followed by the components
 * in modified UTF-7 separated by '/'. INBOX itself gives MBNAME_IS_INBOX. Returns 0 or -1 with *err;
 * out unchanged on error. */
int mbname_to_mbox_path(const char *name, char sep, const char *root,
			struct buf *out, enum mbname_error *err);

/* The reverse, for a path relative to the mbox root found by walking the
 * tree ("Sub/Folder" -> "Sub<sep>Folder"). Refuses what
 * mbname_to_mbox_path would not produce. */
int mbname_from_mbox_path(const char *relpath, size_t len, char sep,
			  struct buf *out, enum mbname_error *err);

#endif

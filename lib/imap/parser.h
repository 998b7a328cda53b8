/*
 * imap parser: turns one framed command (from imap_reader) into a tag, a
 * command name and an argument tree (RFC 9051 §9 grammar: atoms, quoted
 * strings, literals incl. literal8, parenthesized lists, NIL as an atom).
 * Nesting is capped (IMAP_PARSE_MAX_DEPTH) so a hostile list cannot
 * exhaust the stack or memory of the login process. All memory comes
 * from the caller's pool.
 *
 * Atoms may contain a bracketed section with spaces and lists inside, as
 * FETCH needs: BODY[HEADER.FIELDS (FROM TO)]<0.100> is one atom.
 *
 * Inputs are untrusted network bytes.
 */
#ifndef MOAT_IMAP_PARSER_H
#define MOAT_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/pool.h"

#define IMAP_PARSE_MAX_DEPTH 16
#define IMAP_PARSE_MAX_ARGS 10000
#define IMAP_TAG_MAX 64

enum imap_arg_type {
	IMAP_ARG_ATOM,
	IMAP_ARG_QUOTED,
	IMAP_ARG_LITERAL,   /* {N} or {N+}/{N-}; literal8 sets ->binary */
	IMAP_ARG_LIST,
};

struct imap_arg {
	enum imap_arg_type type;
	/* ATOM/QUOTED/LITERAL: the value, NUL-terminated (pool memory);
	 * len excludes the NUL; a literal may contain NUL bytes. */
	const char *str;
	size_t len;
	bool binary;        /* literal8 (~{N}) */
	/* LIST: the elements. */
	struct imap_arg *list;
	size_t list_n;
};

struct imap_command {
	const char *tag;    /* NULL if no valid tag was found */
	const char *name;   /* uppercased; NULL if missing */
	struct imap_arg *args;
	size_t n_args;
};

/* Parses data (a command as framed by imap_reader, CRLF included).
 * Returns 0, or -1 with *error set to a short text for a BAD reply; on
 * error cmd->tag is still set if the tag was valid. */
int imap_parse_command(struct pool *pool, const uint8_t *data, size_t len,
		       struct imap_command *cmd, const char **error);

/* Accessors: return true and set *s when the argument has that shape. */
/* astring: atom (astring-chars), quoted or literal without NUL bytes. */
bool imap_arg_get_astring(const struct imap_arg *a, const char **s);
/* string: quoted or literal without NUL bytes. */
bool imap_arg_get_string(const struct imap_arg *a, const char **s);
bool imap_arg_get_atom(const struct imap_arg *a, const char **s);
bool imap_arg_is_nil(const struct imap_arg *a);
bool imap_arg_get_list(const struct imap_arg *a, const struct imap_arg **l,
		       size_t *n);

/* RFC 9051 ATOM-CHAR: any 7-bit CHAR except the atom-specials
 * ( ) { SP CTL % * " \ ]. The one definition for the parser's strict
 * checks and the writer's choice of atom vs quoted. */
bool imap_is_atom_char(uint8_t c);

/* RFC 9051 tag syntax: 1*<ASTRING-CHAR except "+">. */
bool imap_tag_valid(const char *tag, size_t len);

#endif

/*
 * imap-settings: the limits of an authenticated session.
 *
 * The imap process reads no configuration (doc/design.md, "Process
 * start-up conventions" and "Session settings"): max_line, max_literal,
 * idle_timeout, max_message_size and output_timeout come in SESSION_INIT, which
 * session.c checks against the ranges below (the same as config.c's).
 * The IMAP_DEFAULT_* values are config.c's defaults, for sessions built
 * without moatd (the tests); keep them in step.
 *
 * The rest bound this process's own memory: the benchmark counts the
 * proportional set size of every idle session, so buffers start small
 * and grow only while a command needs them.
 */
#ifndef MOAT_IMAP_SETTINGS_H
#define MOAT_IMAP_SETTINGS_H

#include "core/ipc-proto.h"

/* Longest command line (the text between literals), config max_line. */
#define IMAP_DEFAULT_MAX_LINE (64u * 1024u)
#define IMAP_MAX_LINE_MIN 1024u
#define IMAP_MAX_LINE_MAX (16u * 1024u * 1024u)
/* Largest literal, config max_literal. Literal data is collected in
 * memory, so this is also the largest a single command can make us
 * allocate (plus the slack of IMAP_MAX_COMMAND_LINES lines). */
#define IMAP_DEFAULT_MAX_LITERAL (64u * 1024u * 1024u)
#define IMAP_MAX_LITERAL_MIN 1u
#define IMAP_MAX_LITERAL_MAX (2ull * 1024u * 1024u * 1024u)
/* A whole command: one maximal literal plus this many lines around it. */
#define IMAP_MAX_COMMAND_LINES 16u
/* Authenticated idle timeout, config idle_timeout (RFC 9051 §5.4 asks
 * for at least 30 minutes). */
#define IMAP_DEFAULT_IDLE_TIMEOUT_MS (30u * 60u * 1000u)
#define IMAP_IDLE_TIMEOUT_MAX_MS (24ull * 3600u * 1000u)
/* A client that takes none of our pending output for this long is
 * dropped, config output_timeout (same range as idle_timeout). */
#define IMAP_DEFAULT_OUTPUT_TIMEOUT_MS (5u * 60u * 1000u)
/* Largest message APPEND takes, config max_message_size (APPENDLIMIT is
 * the smaller of it and max_literal). */
#define IMAP_DEFAULT_MAX_MESSAGE_SIZE (64u * 1024u * 1024u)
#define IMAP_MAX_MESSAGE_SIZE_MIN 1024u
#define IMAP_MAX_MESSAGE_SIZE_MAX (2ull * 1024u * 1024u * 1024u)

/* Pending output. Command processing pauses once this much waits for
 * the client (so a client that pipelines without reading gets TCP
 * back-pressure, not our memory) ... */
#define IMAP_OUTPUT_PAUSE (64u * 1024u)
/* ... and a single response that would push it past this disconnects
 * the client: it is not reading what we send. */
#define IMAP_OUTPUT_MAX (1024u * 1024u)
/* Bytes read from the socket per read(2); read onto the stack and copied,
 * so the input buffer grows only as large as what actually arrived. */
#define IMAP_READ_CHUNK 4096u
/* Unprocessed input: the pipelined bytes of SESSION_INIT plus a read. */
#define IMAP_INPUT_MAX (IPC_PIPELINED_MAX + 2u * IMAP_READ_CHUNK)
/* Block size of the per-command pool (its first block is kept). */
#define IMAP_CMD_POOL_BLOCK 1024u
/* Buffers that grew past this while a command ran are given back once
 * they are empty again, so one large response does not stay resident
 * for the rest of an idle session. */
#define IMAP_BUF_SHRINK 16384u

/* Process limits (session_restrict; doc/design.md, "imap's own
 * hardening"). Descriptors: a session holds its client, moatd's socket,
 * its log pipe and what its storage opens (index environment, a few
 * files per open mailbox), far below this; 1024 also keeps every
 * descriptor select()-safe, and moatd's limit, raised for thousands of
 * connections, is not the session's. Processes: imap never forks; the
 * limit bounds what a compromised session could fork (a fork bomb from a
 * mail-only account). It is checked against every process of the uid,
 * the user's other sessions included, so it is not 0 and not small: a
 * helper a session may one day run must still start while its user has
 * many sessions open. (It does not stop moatd starting sessions: the
 * drop is checked against moatd's limit, which imap still has then.) */
#define IMAP_RLIMIT_NOFILE 1024u
#define IMAP_RLIMIT_NPROC 1024u

/* What works after login: advertise exactly that (RFC 9051 §7.2.2).
 * "APPENDLIMIT=<n>" follows, with the session's limit
 * (client_capabilities). */
#define IMAP_CAPABILITIES "IMAP4rev1 LITERAL+ ID ENABLE UIDPLUS MOVE " \
	"UNSELECT NAMESPACE CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE " \
	"CREATE-SPECIAL-USE MULTIAPPEND STATUS=SIZE UTF8=ACCEPT ESEARCH " \
	"SEARCHRES WITHIN SAVEDATE COMPRESS=DEFLATE CONDSTORE QRESYNC IDLE " \
	"SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES BINARY " \
	"PREVIEW"

#endif

/*
 * THREAD and UID THREAD (RFC 5256 §3): "THREAD algorithm charset
 * search-program" with ORDEREDSUBJECT and REFERENCES (lib/mail/thread.c
 * does the algorithms and the §4 output). The fields come from
 * imap-msgfields.c.
 */
#include "config.h"

#include <string.h>

#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-commands.h"
#include "imap/imap-msgfields.h"
#include "imap/imap-search.h"
#include "mail/thread.h"

/* The answer: numbers (11 bytes) and parentheses (at most 4 per
 * message), for any mailbox the index takes. */
#define THREAD_OUT_PER_MSG 16

void
cmd_thread(struct client_command *cmd)
{
	struct search_program *p = pool_alloc(cmd->pool, sizeof(*p));
	enum mail_thread_alg alg;
	struct mail_thread_msg *tm;
	struct msgfields_hit *hits;
	struct buf *text;
	const char *s;
	size_t n;
	bool failed;

	if (cmd->n_args < 1 || !imap_arg_get_atom(&cmd->args[0], &s)) {
		imap_reply_bad(cmd, "Expected a threading algorithm.");
		return;
	}
	if (str_eq_ci(s, "ORDEREDSUBJECT")) {
		alg = MAIL_THREAD_ORDEREDSUBJECT;
	} else if (str_eq_ci(s, "REFERENCES")) {
		alg = MAIL_THREAD_REFERENCES;
	} else {
		imap_reply_bad(cmd, "Unknown threading algorithm.");
		return;
	}
	if (msgfields_parse_program(cmd, cmd->args + 1, cmd->n_args - 1,
				    p) < 0)
		return;
	hits = msgfields_collect(cmd, p, MSGF_DATE | MSGF_SUBJECT |
				 (alg == MAIL_THREAD_REFERENCES ? MSGF_REFS :
				  0), &n, &failed);
	tm = pool_alloc(cmd->pool, (n + 1) * sizeof(*tm));
	for (size_t i = 0; i < n; i++) {
		const struct msgfields *f = &hits[i].f;

		tm[i] = (struct mail_thread_msg){
			.seq = hits[i].seq, .num = hits[i].num,
			.date = f->date, .subject = f->subject,
			.reply = f->reply, .msgid = f->msgid,
			.refs = f->refs, .n_refs = f->n_refs,
		};
	}
	text = buf_new(THREAD_OUT_PER_MSG * n + 16);
	if (n > 0)
		(void)buf_append_byte(text, ' ');
	if (mail_thread(alg, tm, n, text) < 0) {
		buf_free(&text);
		imap_reply_no(cmd, "[SERVERBUG] THREAD answer too large.");
		return;
	}
	msgfields_send(cmd, "THREAD", text, failed);
}

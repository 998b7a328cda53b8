/*
 * test-deliver: lmtp/deliver.c against real stores in a temporary home:
 * the message lands in INBOX with Return-Path and Delivered-To in front,
 * the index knows it (the next UID), limits and bad input are refused.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmtp/deliver.h"
#include "storage/store.h"

static char home[256];

static void
setup(void)
{
	strcpy(home, "/tmp/test-deliver-XXXXXX");
	cr_assert_not_null(mkdtemp(home));
}

static void
teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	cr_assert_eq(system(cmd), 0);
}

static struct deliver_req
req(const char *mail, const char *body)
{
	struct deliver_req rq;

	memset(&rq, 0, sizeof(rq));
	rq.user = "tester";
	rq.home = home;
	rq.mail = mail;
	rq.index = "~/.moat/index";
	rq.fsync = false;
	rq.max_size = 1024 * 1024;
	rq.sender = "from@example.org";
	rq.rcpt = "tester@example.org";
	rq.data = body;
	rq.len = strlen(body);
	return rq;
}

/* INBOX's status through the store, as the next SELECT sees it. */
static struct store_status
inbox_status(const char *mail)
{
	struct store_settings set;
	struct store_error err;
	struct store_status st;
	struct store *s = NULL;
	char *loc = deliver_expand(mail, home, "tester");
	char *idx = deliver_expand("~/.moat/index", home, "tester");

	memset(&set, 0, sizeof(set));
	set.location = loc;
	set.index_dir = idx;
	set.user = "tester";
	set.max_message_size = 1 << 20;
	cr_assert_eq(store_open(&set, &s, &err), 0, "%s", err.detail);
	cr_assert_eq(store_status(s, "INBOX", &st), 0);
	store_free(&s);
	free(loc);
	free(idx);
	return st;
}

static void
delivers_twice(const char *mail)
{
	struct deliver_req rq = req(mail, "Subject: one\r\n\r\nhello\r\n");
	struct store_status st;
	char why[256];

	cr_assert_eq(deliver_message(&rq, why, sizeof(why)), DELIVER_OK,
		     "%s", why);
	cr_assert_eq(deliver_message(&rq, why, sizeof(why)), DELIVER_OK,
		     "%s", why);
	cr_assert(strstr(why, "uid=2 ") != NULL, "%s", why);
	st = inbox_status(mail);
	cr_assert_eq(st.messages, 2);
	cr_assert_eq(st.uidnext, 3);
}

Test(deliver, maildir, .init = setup, .fini = teardown)
{
	char path[700], buf[512];
	struct dirent *de;
	DIR *d;
	FILE *f;
	size_t n;

	delivers_twice("maildir:~/Maildir");
	snprintf(path, sizeof(path), "%s/Maildir/cur", home);
	d = opendir(path);
	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL && de->d_name[0] == '.')
		;
	cr_assert_not_null(de);
	snprintf(path, sizeof(path), "%s/Maildir/cur/%s", home, de->d_name);
	closedir(d);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	/* Stored with LF line ends, the Maildir convention. */
	cr_assert_str_eq(buf, "Return-Path: <from@example.org>\n"
			 "Delivered-To: <tester@example.org>\n"
			 "Subject: one\n\nhello\n");
}

Test(deliver, mbox, .init = setup, .fini = teardown)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/inbox", home);
	fclose(fopen(path, "w"));
	delivers_twice("mbox:~/mail:INBOX=~/inbox");
	{
		char buf[64] = "";
		FILE *f = fopen(path, "r");

		cr_assert_not_null(f);
		cr_assert_not_null(fgets(buf, sizeof(buf), f));
		fclose(f);
		/* The envelope sender in the From_ line, as MDAs write it. */
		cr_assert(strncmp(buf, "From from@example.org ", 22) == 0,
			  "%s", buf);
	}
}

Test(deliver, too_big, .init = setup, .fini = teardown)
{
	struct deliver_req rq = req("maildir:~/Maildir", "Subject: x\r\n\r\n"
				    "0123456789\r\n");
	char why[256];

	rq.max_size = 10;
	cr_assert_eq(deliver_message(&rq, why, sizeof(why)), DELIVER_TOOBIG);
}

/* A missing folder: INBOX gets the message (dovecot-lda's default). */
Test(deliver, missing_folder_goes_to_inbox, .init = setup, .fini = teardown)
{
	struct deliver_req rq = req("maildir:~/Maildir", "Subject: x\r\n\r\n");
	char why[256];

	rq.folder = "Lists/none";
	cr_assert_eq(deliver_message(&rq, why, sizeof(why)), DELIVER_OK,
		     "%s", why);
	cr_assert_eq(inbox_status("maildir:~/Maildir").messages, 1);
}

/* A CR or LF in the sender would add a header line of its own. */
Test(deliver, header_injection_refused, .init = setup, .fini = teardown)
{
	struct deliver_req rq = req("maildir:~/Maildir", "Subject: x\r\n\r\n");
	char why[256];

	rq.sender = "a@b\r\nX-Evil: 1";
	cr_assert_neq(deliver_message(&rq, why, sizeof(why)), DELIVER_OK);
}

Test(deliver, expand)
{
	char *s = deliver_expand("mbox:~/mail:INBOX=/var/mail/%u", "/home/u/",
				 "u");

	cr_assert_str_eq(s, "mbox:/home/u/mail:INBOX=/var/mail/u");
	free(s);
	cr_assert_null(deliver_expand("/idx/%u", "/h", "a:b"));
}

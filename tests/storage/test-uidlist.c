/* Tests for lib/storage/uidlist.c: dovecot-uidlist v1/v3 (Dovecot's
 * "Maildir Mailbox Format" and maildir-uidlist.c), courierimapuiddb
 * (Courier's imapscanclient.c) and dovecot-keywords. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "storage/uidlist.h"

#define MAXE 32

struct got {
	size_t n;
	uint32_t uid[MAXE];
	char name[MAXE][300];
	char base[MAXE][300];
	struct uidlist_entry e[MAXE];
	int stop_at;
};

static int
collect(void *ctx, const struct uidlist_entry *e)
{
	struct got *g = ctx;
	size_t i = g->n++;

	cr_assert_lt(i, MAXE);
	g->uid[i] = e->uid;
	g->e[i] = *e;
	memcpy(g->name[i], e->filename, e->filename_len);
	g->name[i][e->filename_len] = '\0';
	memcpy(g->base[i], e->filename, e->base_len);
	g->base[i][e->base_len] = '\0';
	return g->stop_at != 0 && (int)g->n == g->stop_at ? 5 : 0;
}

Test(uidlist, dovecot_v3)
{
	/* The example from Dovecot's documentation, plus lines to skip. */
	static const char s[] =
		"3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1 X9\n"
		"25006 :1276528487.M364837P9451.kurkku,S=1355,W=1394:2,\n"
		"25017 W2481 :1276533073.M242911P3632.kurkku:2,F\n"
		"25018 S100 W104 Zjunk :1276533074.M1P1.kurkku\n"
		"25018 :1276533078.M1P1.kurkku\n"          /* same UID */
		"25010 :1276533075.M1P1.kurkku\n"          /* not increasing */
		"25017 :1276533076.M1P1.kurkku\n"          /* repeat */
		"garbage\n"
		"25019 1276533077.M1P1.kurkku\n"           /* no ':' */
		"25020 :\n"                                /* no name */
		"25021 :.hidden\n"
		"25022 :../x\n"
		"0 :1.M1P1.h\n"
		"4294967295 :2.M1P1.h\n"
		"4294967296 :3.M1P1.h\n"
		"25030 :name with spaces\n"
		"25031 :partial";                          /* no newline */
	struct uidlist_header h;
	struct uidlist_stats st;
	struct got g = { 0 };

	cr_assert_eq(uidlist_parse_dovecot(s, sizeof(s) - 1, &h, collect, &g,
					   &st), 0);
	cr_assert_eq(h.version, 3);
	cr_assert_eq(h.uidvalidity, 1275660208);
	cr_assert_eq(h.nextuid, 25031);             /* raised past 25030 */
	cr_assert(h.has_guid);
	cr_assert_eq(h.guid[0], 0x30);
	cr_assert_eq(h.guid[15], 0xc1);
	cr_assert_eq(g.n, 4);
	cr_assert_eq(g.uid[0], 25006);
	cr_assert_str_eq(g.base[0], "1276528487.M364837P9451.kurkku,S=1355,"
			 "W=1394");
	cr_assert_str_eq(g.name[0], "1276528487.M364837P9451.kurkku,S=1355,"
			 "W=1394:2,");
	cr_assert_eq(g.uid[1], 25017);
	cr_assert(g.e[1].has_vsize && g.e[1].vsize == 2481 &&
		  !g.e[1].has_size);
	cr_assert_str_eq(g.base[1], "1276533073.M242911P3632.kurkku");
	cr_assert_eq(g.uid[2], 25018);
	cr_assert(g.e[2].has_size && g.e[2].size == 100);
	cr_assert(g.e[2].has_vsize && g.e[2].vsize == 104);
	cr_assert_str_eq(g.name[2], "1276533074.M1P1.kurkku");
	cr_assert_eq(g.uid[3], 25030);
	cr_assert_str_eq(g.name[3], "name with spaces");
	cr_assert_eq(st.entries, 4);
	cr_assert_eq(st.out_of_order, 3);
	cr_assert_eq(st.bad_lines, 8);
	cr_assert(st.partial_tail);
}

Test(uidlist, dovecot_v1_and_courier)
{
	static const char v1[] =
		"1 1000000005 7\n"
		"3 1000000001.M1P1.host:2,S\n"
		"5   1000000002.M1P1.host\n"
		"9 1000000003.M1P1.host\n";
	struct uidlist_header h;
	struct uidlist_stats st;
	struct got g = { 0 };

	cr_assert_eq(uidlist_parse_dovecot(v1, sizeof(v1) - 1, &h, collect, &g,
					   &st), 0);
	cr_assert_eq(h.version, 1);
	cr_assert_eq(h.uidvalidity, 1000000005);
	cr_assert_eq(h.nextuid, 10);               /* 9 was in the file */
	cr_assert(!h.has_guid);
	cr_assert_eq(g.n, 3);
	cr_assert_str_eq(g.base[0], "1000000001.M1P1.host");
	cr_assert_str_eq(g.name[1], "1000000002.M1P1.host");  /* spaces skipped */
	cr_assert(!st.partial_tail);

	/* Courier: everything after the first space is the name, and only
	 * version 1 exists. */
	memset(&g, 0, sizeof(g));
	cr_assert_eq(uidlist_parse_courier(v1, sizeof(v1) - 1, &h, collect, &g,
					   &st), 0);
	cr_assert_eq(g.n, 3);
	cr_assert_str_eq(g.name[1], "  1000000002.M1P1.host");
	cr_assert_eq(g.uid[2], 9);
	{
		static const char c[] = "1 1234 3\n1 a.M1.h\n2 b.M1.h\n";

		memset(&g, 0, sizeof(g));
		cr_assert_eq(uidlist_parse_courier(c, sizeof(c) - 1, &h,
						   collect, &g, NULL), 0);
		cr_assert_eq(g.n, 2);
		cr_assert_eq(h.nextuid, 3);
		cr_assert_eq(h.uidvalidity, 1234);
	}
	{
		static const char v3[] = "3 V1 N2\n1 :a\n";

		cr_assert_eq(uidlist_parse_courier(v3, sizeof(v3) - 1, &h,
						   collect, &g, NULL), -1);
		cr_assert_eq(errno, EINVAL);
	}
}

Test(uidlist, bad_headers)
{
	static const char *const bad[] = {
		"",
		"\n",
		"1 1000 5",                  /* no newline: may be half-written */
		"2 1000 5\n",                /* development format */
		"4 V1 N1\n",
		"1 0 5\n",                   /* UIDVALIDITY 0 */
		"1 1000 0\n",
		"1 1000\n",
		"1 x 5\n",
		"1 4294967296 5\n",
		"3 N5\n",                    /* no V */
		"3 V5\n",                    /* no N */
		"3 V0 N5\n",
		"3 V5 N5 V6\n",
		"3 V5 N5 Gxyz\n",
		"3 V5 N5 G3085f01b7f11094c501100008c4a11c\n",
		"3 V5 N5 G3085f01b7f11094c501100008c4a11cz\n",
		"3 V N5\n",
		"13 V1 N1\n",
		"V1 N1\n",
	};
	struct uidlist_header h;
	struct got g = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		cr_assert_eq(uidlist_parse_dovecot(bad[i], strlen(bad[i]), &h,
						   collect, &g, NULL), -1,
			     "row %zu \"%s\": accepted", i, bad[i]);
		cr_assert_eq(errno, EINVAL);
		cr_assert_eq(g.n, 0);
		cr_assert_eq(h.uidvalidity, 0);
	}
}

/* Values another program (or the user) wrote that would hurt if
 * believed: a UIDVALIDITY so high the index could never hand out a
 * greater one after a reset (it would refuse every later CREATE), a
 * NEXTUID or UID at or above 2^31 (the UID space used up: no new mail
 * could get a UID; and clients that keep UIDs signed). The header makes
 * the file unusable; a line is skipped. */
Test(uidlist, hostile_values_not_trusted)
{
	static const char *const bad[] = {
		"3 V4294967295 N5\n",
		"3 V4026531840 N5\n",              /* 0xf0000000 */
		"3 V5 N4294967295\n",
		"3 V5 N2147483649\n",
		"1 4294967295 5\n",
		"1 5 2147483649\n",
	};
	static const char lines[] =
		"3 V4026531839 N2147483648\n"
		"7 :a.M1.h\n"
		"2147483647 :b.M1.h\n"
		"2147483648 :c.M1.h\n"
		"4294967294 :d.M1.h\n";
	struct uidlist_header h;
	struct uidlist_stats st;
	struct got g = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(uidlist_parse_dovecot(bad[i], strlen(bad[i]), &h,
						   collect, &g, NULL), -1,
			     "row %zu \"%s\": accepted", i, bad[i]);
		cr_assert_eq(uidlist_parse_courier(bad[i], strlen(bad[i]), &h,
						   collect, &g, NULL),
			     -1, "row %zu (courier)", i);
	}
	cr_assert_eq(uidlist_parse_dovecot(lines, sizeof(lines) - 1, &h,
					   collect, &g, &st), 0);
	cr_assert_eq(h.uidvalidity, 4026531839u);
	cr_assert_eq(g.n, 2);
	cr_assert_eq(g.uid[1], 2147483647u);
	cr_assert_eq(st.bad_lines, 2);
	cr_assert_eq(h.nextuid, 2147483648u, "never above 2^31");
}

Test(uidlist, limits_and_stop)
{
	char line[UIDLIST_LINE_MAX + 64];
	struct uidlist_header h;
	struct uidlist_stats st;
	struct got g = { 0 };
	size_t n;

	/* A line over UIDLIST_LINE_MAX is skipped, not truncated. */
	n = (size_t)snprintf(line, sizeof(line), "1 5 1\n2 ");
	memset(line + n, 'x', UIDLIST_LINE_MAX);
	n += UIDLIST_LINE_MAX;
	n += (size_t)snprintf(line + n, sizeof(line) - n, "\n3 ok\n");
	cr_assert_eq(uidlist_parse_dovecot(line, n, &h, collect, &g, &st), 0);
	cr_assert_eq(g.n, 1);
	cr_assert_eq(g.uid[0], 3);
	cr_assert_eq(st.bad_lines, 1);
	/* Only len bytes are read. */
	memset(&g, 0, sizeof(g));
	cr_assert_eq(uidlist_parse_dovecot("1 5 1\n2 a\n3 b\n", 11, &h,
					   collect, &g, &st), 0);
	cr_assert_eq(g.n, 1);
	cr_assert(st.partial_tail);
	/* The callback stops the parse. */
	memset(&g, 0, sizeof(g));
	g.stop_at = 1;
	cr_assert_eq(uidlist_parse_dovecot("1 5 1\n2 a\n3 b\n", 14, &h,
					   collect, &g, &st), 5);
	cr_assert_eq(g.n, 1);
	/* A NUL in a name is a bad line. */
	memset(&g, 0, sizeof(g));
	cr_assert_eq(uidlist_parse_dovecot("1 5 1\n2 a\0b\n3 c\n", 16, &h,
					   collect, &g, &st), 0);
	cr_assert_eq(g.n, 1);
	cr_assert_eq(g.uid[0], 3);
}

struct kw {
	size_t n;
	unsigned id[32];
	char name[32][UIDLIST_KEYWORD_MAX + 1];
};

static int
kw_collect(void *ctx, unsigned id, const char *name, size_t len)
{
	struct kw *k = ctx;

	cr_assert_lt(k->n, 32);
	k->id[k->n] = id;
	memcpy(k->name[k->n], name, len);
	k->name[k->n][len] = '\0';
	k->n++;
	return 0;
}

Test(uidlist, keywords)
{
	static const char s[] =
		"0 $Junk\n"
		"1 $NonJunk\n"
		"25 $Label5\n"
		"26 TooHigh\n"          /* only a..z */
		"1 Again\n"             /* id repeated: the first wins */
		"2 two words\n"
		"3 \\Seen\n"            /* a system flag is not a keyword */
		"4 (paren\n"
		"5 \n"
		"x Bad\n"
		"6 \x01" "ctl\n"
		"7 \xc3\xa9t\xc3\xa9\n" /* 8-bit is not an atom */
		"8 brack]et\n"
		"9 Work\n"
		"10 Partial";
	struct kw k = { 0 };
	struct uidlist_stats st;

	cr_assert_eq(uidlist_parse_keywords(s, sizeof(s) - 1, kw_collect, &k,
					    &st), 0);
	cr_assert_eq(k.n, 4);
	cr_assert_eq(k.id[0], 0);
	cr_assert_str_eq(k.name[0], "$Junk");
	cr_assert_eq(k.id[1], 1);
	cr_assert_str_eq(k.name[1], "$NonJunk");
	cr_assert_eq(k.id[2], 25);
	cr_assert_eq(k.id[3], 9);
	cr_assert_str_eq(k.name[3], "Work");
	cr_assert_eq(st.entries, 4);
	cr_assert_eq(st.out_of_order, 1);
	cr_assert_eq(st.bad_lines, 9);
	cr_assert(st.partial_tail);
	{
		char longk[UIDLIST_KEYWORD_MAX + 8];

		memset(&k, 0, sizeof(k));
		longk[0] = '0';
		longk[1] = ' ';
		memset(longk + 2, 'k', UIDLIST_KEYWORD_MAX + 1);
		longk[UIDLIST_KEYWORD_MAX + 3] = '\n';
		cr_assert_eq(uidlist_parse_keywords(longk, UIDLIST_KEYWORD_MAX + 4,
						    kw_collect, &k, &st), 0);
		cr_assert_eq(k.n, 0);
		cr_assert_eq(uidlist_parse_keywords(longk + 1, 0, kw_collect,
						    &k, &st), 0);
	}
}

/*
 * mail charset: MIME charset labels -> UTF-8 via iconv, one-shot and
 * streaming. Callers: encword.c, rfc2231.c, the body decoders and SEARCH
 * CHARSET. Labels and text are untrusted: a label must look like a
 * charset name before it reaches iconv_open (no '/', which glibc parses
 * as //TRANSLIT-style suffixes), and iconv handles are cached because
 * iconv_open costs tens of microseconds (a module load the first time).
 */
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"
#include "mail/charset.h"
#include "mail/utf8.h"

enum conv_kind { KIND_UTF8, KIND_UNDECLARED, KIND_ICONV };

/* A sequence longer than this that iconv still calls incomplete is
 * treated as invalid (the longest real ones, GB18030 and ISO-2022 escapes
 * plus a character, are well below). */
#define CARRY_MAX 16

struct mail_charset_conv {
	enum conv_kind kind;
	iconv_t cd;
	char name[MAIL_CHARSET_NAME_MAX + 1];
	uint8_t carry[CARRY_MAX];
	size_t carry_len;
};

struct alias {
	const char *label;
	const char *iconv;   /* NULL: UTF-8; "": undeclared */
};

/* Labels seen in real mail that glibc spells differently or that are
 * better read as their Windows superset. */
static const struct alias aliases[] = {
	{ "utf-8", NULL }, { "utf8", NULL }, { "unicode-1-1-utf-8", NULL },
	{ "x-unicode20utf8", NULL },
	{ "us-ascii", "" }, { "ascii", "" }, { "ansi_x3.4-1968", "" },
	{ "iso646-us", "" }, { "x-unknown", "" }, { "unknown-8bit", "" },
	{ "unknown", "" }, { "x-user-defined", "" }, { "default", "" },
	{ "iso-8859-1", "WINDOWS-1252" }, { "iso8859-1", "WINDOWS-1252" },
	{ "iso_8859-1", "WINDOWS-1252" }, { "latin1", "WINDOWS-1252" },
	{ "l1", "WINDOWS-1252" }, { "cp819", "WINDOWS-1252" },
	{ "iso_8859-1:1987", "WINDOWS-1252" }, { "x-cp1252", "WINDOWS-1252" },
	{ "iso-8859-9", "WINDOWS-1254" }, { "latin5", "WINDOWS-1254" },
	{ "iso-8859-8-i", "ISO-8859-8" }, { "iso-8859-8-e", "ISO-8859-8" },
	{ "iso-8859-6-i", "ISO-8859-6" }, { "iso-8859-6-e", "ISO-8859-6" },
	{ "windows-874", "CP874" }, { "x-windows-874", "CP874" },
	{ "tis-620", "CP874" }, { "iso-8859-11", "CP874" },
	{ "ks_c_5601-1987", "CP949" }, { "ks_c_5601", "CP949" },
	{ "ksc5601", "CP949" }, { "ksc_5601", "CP949" }, { "euc-kr", "CP949" },
	{ "x-euc-kr", "CP949" }, { "windows-949", "CP949" },
	{ "gb2312", "GB18030" }, { "gbk", "GB18030" }, { "cp936", "GB18030" },
	{ "x-gbk", "GB18030" }, { "euc-cn", "GB18030" },
	{ "x-euc-cn", "GB18030" }, { "gb_2312-80", "GB18030" },
	{ "csgb2312", "GB18030" }, { "windows-936", "GB18030" },
	{ "big5", "BIG5-HKSCS" }, { "x-big5", "BIG5-HKSCS" },
	{ "cn-big5", "BIG5-HKSCS" }, { "csbig5", "BIG5-HKSCS" },
	{ "shift_jis", "CP932" }, { "shift-jis", "CP932" },
	{ "sjis", "CP932" }, { "x-sjis", "CP932" }, { "ms_kanji", "CP932" },
	{ "windows-31j", "CP932" }, { "csshiftjis", "CP932" },
	{ "euc-jp", "EUC-JP-MS" }, { "x-euc-jp", "EUC-JP-MS" },
	{ "utf-7", "UTF-7" }, { "unicode-1-1-utf-7", "UTF-7" },
	{ "x-mac-roman", "MACINTOSH" }, { "mac", "MACINTOSH" },
	{ "x-mac", "MACINTOSH" },
};

/* Maps a label to the kind and iconv name; false if it cannot be a
 * charset name at all. */
static bool
resolve(const char *name, size_t len, enum conv_kind *kind,
	char iname[MAIL_CHARSET_NAME_MAX + 1])
{
	char low[MAIL_CHARSET_NAME_MAX + 1];

	if (name == NULL) {
		*kind = KIND_UNDECLARED;
		return true;
	}
	/* Tolerate quotes and spaces that sloppy senders leave around the
	 * label (charset=" utf-8"). */
	while (len > 0 && (*name == ' ' || *name == '\t' || *name == '"'))
		name++, len--;
	while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t' ||
			   name[len - 1] == '"'))
		len--;
	if (len == 0 || len > MAIL_CHARSET_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.' || c == ':' || c == '+'))
			return false;
		low[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	low[len] = '\0';
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		if (strcmp(aliases[i].label, low) != 0)
			continue;
		if (aliases[i].iconv == NULL) {
			*kind = KIND_UTF8;
		} else if (aliases[i].iconv[0] == '\0') {
			*kind = KIND_UNDECLARED;
		} else {
			*kind = KIND_ICONV;
			str_copy(iname, aliases[i].iconv,
				 MAIL_CHARSET_NAME_MAX + 1);
		}
		return true;
	}
	*kind = KIND_ICONV;
	memcpy(iname, low, len + 1);
	return true;
}

/* A few open iconv handles, reset and reused: real mailboxes use a
 * handful of charsets, and a session converts thousands of headers. */
#define CACHE_SLOTS 8
static struct {
	char name[MAIL_CHARSET_NAME_MAX + 1];
	iconv_t cd;
	bool used;
} cache[CACHE_SLOTS];
static unsigned cache_next;

static iconv_t
cd_get(const char *iname)
{
	for (unsigned i = 0; i < CACHE_SLOTS; i++) {
		if (cache[i].used && strcmp(cache[i].name, iname) == 0) {
			cache[i].used = false;
			return cache[i].cd;
		}
	}
	return iconv_open("UTF-8", iname);
}

static void
cd_put(const char *iname, iconv_t cd)
{
	unsigned slot = CACHE_SLOTS;

	(void)iconv(cd, NULL, NULL, NULL, NULL);
	for (unsigned i = 0; i < CACHE_SLOTS; i++) {
		if (!cache[i].used) {
			slot = i;
			break;
		}
	}
	if (slot == CACHE_SLOTS) {
		slot = cache_next++ % CACHE_SLOTS;
		iconv_close(cache[slot].cd);
	}
	str_copy(cache[slot].name, iname, sizeof(cache[slot].name));
	cache[slot].cd = cd;
	cache[slot].used = true;
}

static struct mail_charset_conv *
conv_new(const char *name, size_t len)
{
	struct mail_charset_conv *c = xcalloc(1, sizeof(*c));

	if (!resolve(name, len, &c->kind, c->name)) {
		free(c);
		return NULL;
	}
	if (c->kind == KIND_ICONV) {
		c->cd = cd_get(c->name);
		if (c->cd == (iconv_t)-1) {
			free(c);
			return NULL;
		}
	}
	return c;
}

struct mail_charset_conv *
mail_charset_conv_new(const char *name)
{
	return conv_new(name, name == NULL ? 0 : strlen(name));
}

void
mail_charset_conv_free(struct mail_charset_conv **cp)
{
	struct mail_charset_conv *c = *cp;

	if (c == NULL)
		return;
	if (c->kind == KIND_ICONV)
		cd_put(c->name, c->cd);
	free(c);
	*cp = NULL;
}

bool
mail_charset_supported(const char *name)
{
	struct mail_charset_conv *c;

	if (name == NULL)
		return false;
	c = mail_charset_conv_new(name);
	if (c == NULL)
		return false;
	mail_charset_conv_free(&c);
	return true;
}

bool
mail_charset_is_utf8(const char *name)
{
	enum conv_kind kind;
	char iname[MAIL_CHARSET_NAME_MAX + 1];

	return name != NULL && resolve(name, strlen(name), &kind, iname) &&
	       kind != KIND_ICONV;
}

static int
put_repl(struct buf *out)
{
	return buf_append_str(out, MAIL_UTF8_REPLACEMENT);
}

/* Converts UTF-8 or undeclared bytes; returns the bytes consumed (an
 * incomplete tail is left unless final), -1 if out is full. */
static long
run_utf8(struct mail_charset_conv *c, const uint8_t *p, size_t n,
	 struct buf *out, bool final)
{
	size_t i = 0, run = 0;
	uint32_t cp;

	while (i < n) {
		if (p[i] < 0x80) {
			i++, run++;
			continue;
		}
		int k = mail_utf8_decode(p + i, n - i, &cp);
		if (k > 0) {
			i += (size_t)k, run += (size_t)k;
			continue;
		}
		if (buf_append(out, p + i - run, run) < 0)
			return -1;
		run = 0;
		if (k == 0 && !final)
			return (long)i;
		if ((c->kind == KIND_UTF8 ? put_repl(out) :
		     mail_utf8_append_cp1252(p[i], out)) < 0)
			return -1;
		i++;
	}
	if (buf_append(out, p + i - run, run) < 0)
		return -1;
	return (long)i;
}

/* After an EILSEQ that came with progress: did the converter consume the
 * bad sequence itself? glibc does for some (CP949: the step that fails
 * comes after the one that read the bytes), so ip may be past it, or at
 * a next bad byte. Converting the consumed bytes again with a fresh
 * handle tells: they fail only if the bad sequence is among them. Each
 * call re-reads only what the failed call consumed: linear overall. */
static bool
converter_skipped(const struct mail_charset_conv *c, char *from, size_t n)
{
	iconv_t cd = cd_get(c->name);
	char tmp[1024];
	bool skipped = false;

	if (cd == (iconv_t)-1)
		return false;
	while (n > 0) {
		char *op = tmp;
		size_t ol = sizeof(tmp);

		if (iconv(cd, &from, &n, &op, &ol) != (size_t)-1)
			continue;
		skipped = errno == EILSEQ;
		if (errno != E2BIG)
			break;
	}
	cd_put(c->name, cd);
	return skipped;
}

static long
run_iconv(struct mail_charset_conv *c, const uint8_t *p, size_t n,
	  struct buf *out, bool final)
{
	char tmp[4096];
	char *ip = (char *)p;
	size_t il = n;

	while (il > 0) {
		char *op = tmp, *ip0 = ip;
		size_t ol = sizeof(tmp);
		size_t r = iconv(c->cd, &ip, &il, &op, &ol);
		int err = r == (size_t)-1 ? errno : 0;

		if (buf_append(out, tmp, (size_t)(op - tmp)) < 0)
			return -1;
		if (err == 0 || err == E2BIG)
			continue;
		if (err == EINVAL && !final && il < CARRY_MAX)
			break;
		/* EILSEQ, or an incomplete sequence that cannot be
		 * completed: one replacement, skip one byte, resync. */
		if (put_repl(out) < 0)
			return -1;
		if (il == 0)
			break;
		/* No progress: the bad byte is at ip, and skipping it is
		 * what makes the loop end. */
		if (ip == ip0 || err != EILSEQ ||
		    !converter_skipped(c, ip0, (size_t)(ip - ip0)))
			ip++, il--;
	}
	if (final) {
		char *op = tmp;
		size_t ol = sizeof(tmp);
		(void)iconv(c->cd, NULL, NULL, &op, &ol);
		if (buf_append(out, tmp, (size_t)(op - tmp)) < 0)
			return -1;
	}
	return (long)(n - il);
}

static long
run(struct mail_charset_conv *c, const uint8_t *p, size_t n,
    struct buf *out, bool final)
{
	if (c->kind == KIND_ICONV)
		return run_iconv(c, p, n, out, final);
	return run_utf8(c, p, n, out, final);
}

static int
set_emsgsize(void)
{
	errno = EMSGSIZE;
	return -1;
}

int
mail_charset_conv_feed(struct mail_charset_conv *c, const void *in,
		       size_t len, struct buf *out)
{
	const uint8_t *p = in;
	long k;

	while (c->carry_len > 0) {
		/* Complete the cut sequence with the first new bytes. */
		size_t add = sizeof(c->carry) - c->carry_len;
		size_t total, old = c->carry_len;

		if (len == 0)
			return 0;
		if (add > len)
			add = len;
		memcpy(c->carry + old, p, add);
		total = old + add;
		k = run(c, c->carry, total, out, false);
		if (k < 0)
			return set_emsgsize();
		if ((size_t)k >= old) {
			c->carry_len = 0;
			p += (size_t)k - old;
			len -= (size_t)k - old;
			break;
		}
		/* Still inside the old bytes: keep what is left, go on. */
		memmove(c->carry, c->carry + k, total - (size_t)k);
		c->carry_len = total - (size_t)k;
		p += add;
		len -= add;
	}
	k = run(c, p, len, out, false);
	if (k < 0)
		return set_emsgsize();
	c->carry_len = len - (size_t)k;
	memcpy(c->carry, p + k, c->carry_len);
	return 0;
}

int
mail_charset_conv_finish(struct mail_charset_conv *c, struct buf *out)
{
	size_t n = c->carry_len;

	c->carry_len = 0;
	if (run(c, c->carry, n, out, true) < 0)
		return set_emsgsize();
	return 0;
}

int
mail_charset_n_to_utf8(const char *name, size_t name_len, const void *in,
		       size_t len, struct buf *out)
{
	struct mail_charset_conv *c = conv_new(name, name_len);
	long k;

	if (c == NULL) {
		errno = EINVAL;
		return -1;
	}
	k = run(c, in, len, out, true);
	mail_charset_conv_free(&c);
	return k < 0 ? set_emsgsize() : 0;
}

int
mail_charset_to_utf8(const char *name, const void *in, size_t len,
		     struct buf *out)
{
	return mail_charset_n_to_utf8(name, name == NULL ? 0 : strlen(name),
				      in, len, out);
}

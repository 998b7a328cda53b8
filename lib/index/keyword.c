/*
 * index keywords: per mailbox, keyword name <-> id (0..63, the bits of
 * idx_msg.keywords), and the journal records kept in meta. Callers: the
 * storage layer, inside idx_txn_run. Keyword names come from clients
 * through the command layer, which checks the IMAP syntax; here length
 * and control characters are checked again because they end up in keys.
 *
 * keywords.db keys: be32(id) 'n' folded-name -> u8 kw | name
 *                   be32(id) 'i' u8 kw       -> name
 * Names are folded to ASCII lower case for lookup and keep the spelling
 * first stored. Ids are never reused while the mailbox exists.
 */
#include <string.h>

#include "core/log.h"
#include "core/str.h"
#include "index/private.h"

#define KW_KEY_MAX (5 + IDX_KEYWORD_LEN_MAX)

static int
kw_check(const char *name, size_t *len)
{
	if (name == NULL)
		return IDX_INVAL;
	*len = strlen(name);
	if (*len == 0 || *len > IDX_KEYWORD_LEN_MAX || str_has_ctl(name))
		return IDX_INVAL;
	return IDX_OK;
}

static size_t
byname_key(uint8_t *key, uint32_t id, const char *name, size_t len)
{
	size_t i;

	idx_be32_put(key, id);
	key[4] = IDX_KW_BYNAME;
	for (i = 0; i < len; i++) {
		uint8_t c = (uint8_t)name[i];

		key[5 + i] = c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
	}
	return 5 + len;
}

static size_t
byid_key(uint8_t key[6], uint32_t id, unsigned kw)
{
	idx_be32_put(key, id);
	key[4] = IDX_KW_BYID;
	key[5] = (uint8_t)kw;
	return 6;
}

int
idx_kw_lookup(struct idx_txn *txn, uint32_t id, const char *name,
	      unsigned *kw)
{
	uint8_t key[KW_KEY_MAX], val[1 + IDX_KEYWORD_LEN_MAX];
	size_t len, vlen;
	int r;

	if ((r = kw_check(name, &len)) != IDX_OK)
		return r;
	r = idx_get(txn, IDX_DB_KEYWORDS, key, byname_key(key, id, name, len),
		    val, sizeof(val), &vlen, 0);
	if (r == IDX_LIMIT || (r == IDX_OK &&
			       (vlen < 2 || val[0] >= IDX_KEYWORDS_MAX))) {
		log_error("index: keyword record of mailbox %u is corrupt", id);
		return IDX_CORRUPT;
	}
	if (r == IDX_OK)
		*kw = val[0];
	return r;
}

struct max_ctx {
	int max;
};

static int
max_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
       void *ctx)
{
	struct max_ctx *mc = ctx;

	(void)val;
	(void)vlen;
	if (klen != 6)
		return IDX_CORRUPT;
	if (key[5] > mc->max)
		mc->max = key[5];
	return IDX_OK;
}

int
idx_kw_intern(struct idx_txn *txn, uint32_t id, const char *name,
	      unsigned *kw)
{
	uint8_t key[KW_KEY_MAX], prefix[5], val[1 + IDX_KEYWORD_LEN_MAX];
	struct max_ctx mc = { -1 };
	size_t len;
	int r;

	r = idx_kw_lookup(txn, id, name, kw);
	if (r != IDX_NOTFOUND)
		return r;
	if ((r = idx_require_write(txn)) != IDX_OK ||
	    (r = kw_check(name, &len)) != IDX_OK)
		return r;
	idx_be32_put(prefix, id);
	prefix[4] = IDX_KW_BYID;
	if ((r = idx_walk(txn, IDX_DB_KEYWORDS, prefix, 5, 5, max_cb,
			  &mc)) != IDX_OK)
		return r;
	if (mc.max + 1 >= IDX_KEYWORDS_MAX)
		return IDX_LIMIT;
	*kw = (unsigned)(mc.max + 1);
	val[0] = (uint8_t)*kw;
	memcpy(val + 1, name, len);
	if ((r = idx_put(txn, IDX_DB_KEYWORDS, key,
			 byname_key(key, id, name, len), val, len + 1,
			 DB_NOOVERWRITE)) != IDX_OK)
		return r;
	return idx_put(txn, IDX_DB_KEYWORDS, key, byid_key(key, id, *kw), name,
		       len, DB_NOOVERWRITE);
}

int
idx_kw_name(struct idx_txn *txn, uint32_t id, unsigned kw, char *buf,
	    size_t cap)
{
	uint8_t key[6];
	char name[IDX_KEYWORD_LEN_MAX + 1];
	size_t len;
	int r;

	if (kw >= IDX_KEYWORDS_MAX)
		return IDX_INVAL;
	r = idx_get(txn, IDX_DB_KEYWORDS, key, byid_key(key, id, kw), name,
		    IDX_KEYWORD_LEN_MAX, &len, 0);
	if (r == IDX_LIMIT || (r == IDX_OK &&
			       (len == 0 || memchr(name, '\0', len)))) {
		log_error("index: keyword record of mailbox %u is corrupt", id);
		return IDX_CORRUPT;
	}
	if (r != IDX_OK)
		return r;
	name[len] = '\0';
	return str_copy(buf, name, cap) < 0 ? IDX_LIMIT : IDX_OK;
}

struct list_ctx {
	idx_kw_cb *cb;
	void *ctx;
};

static int
list_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
	void *ctx)
{
	struct list_ctx *lc = ctx;
	char name[IDX_KEYWORD_LEN_MAX + 1];

	if (klen != 6 || key[5] >= IDX_KEYWORDS_MAX || vlen == 0 ||
	    vlen > IDX_KEYWORD_LEN_MAX || memchr(val, '\0', vlen)) {
		log_error("index: a keyword record is corrupt");
		return IDX_CORRUPT;
	}
	memcpy(name, val, vlen);
	name[vlen] = '\0';
	return lc->cb(key[5], name, lc->ctx);
}

int
idx_kw_list(struct idx_txn *txn, uint32_t id, idx_kw_cb *cb, void *ctx)
{
	struct list_ctx lc = { cb, ctx };
	uint8_t prefix[5];

	idx_be32_put(prefix, id);
	prefix[4] = IDX_KW_BYID;
	return idx_walk(txn, IDX_DB_KEYWORDS, prefix, 5, 5, list_cb, &lc);
}

/* ---- journal (in meta) ------------------------------------------------- */

static int
journal_key(uint8_t *key, const void *k, size_t klen, size_t *len)
{
	if (k == NULL || klen == 0 || klen > IDX_JOURNAL_KEY_MAX)
		return IDX_INVAL;
	key[0] = IDX_META_JOURNAL;
	memcpy(key + 1, k, klen);
	*len = klen + 1;
	return IDX_OK;
}

int
idx_journal_put(struct idx_txn *txn, const void *k, size_t klen,
		const void *data, size_t len)
{
	uint8_t key[1 + IDX_JOURNAL_KEY_MAX];
	size_t kl;
	int r;

	if ((r = journal_key(key, k, klen, &kl)) != IDX_OK)
		return r;
	if (len > IDX_JOURNAL_MAX)
		return IDX_LIMIT;
	return idx_put(txn, IDX_DB_META, key, kl, data, len, 0);
}

int
idx_journal_get(struct idx_txn *txn, const void *k, size_t klen, void *buf,
		size_t cap, size_t *len)
{
	uint8_t key[1 + IDX_JOURNAL_KEY_MAX];
	size_t kl;
	int r;

	if ((r = journal_key(key, k, klen, &kl)) != IDX_OK)
		return r;
	return idx_get(txn, IDX_DB_META, key, kl, buf, cap, len, 0);
}

int
idx_journal_delete(struct idx_txn *txn, const void *k, size_t klen)
{
	uint8_t key[1 + IDX_JOURNAL_KEY_MAX];
	size_t kl;
	int r;

	if ((r = journal_key(key, k, klen, &kl)) != IDX_OK)
		return r;
	return idx_del(txn, IDX_DB_META, key, kl);
}

struct jlist_ctx {
	idx_journal_cb *cb;
	void *ctx;
};

static int
jlist_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
	 void *ctx)
{
	struct jlist_ctx *jc = ctx;

	if (klen < 2 || klen > 1 + IDX_JOURNAL_KEY_MAX || vlen > IDX_JOURNAL_MAX)
		return IDX_CORRUPT;
	return jc->cb(key + 1, klen - 1, val, vlen, jc->ctx);
}

int
idx_journal_list(struct idx_txn *txn, idx_journal_cb *cb, void *ctx)
{
	struct jlist_ctx jc = { cb, ctx };
	uint8_t prefix = IDX_META_JOURNAL;

	return idx_walk(txn, IDX_DB_META, &prefix, 1, 1, jlist_cb, &jc);
}

int
idx_journal_walk(struct idx_txn *txn, const void *prefix, size_t plen,
		 idx_journal_cb *cb, void *ctx)
{
	struct jlist_ctx jc = { cb, ctx };
	uint8_t key[1 + IDX_JOURNAL_KEY_MAX];
	size_t kl;
	int r;

	if ((r = journal_key(key, prefix, plen, &kl)) != IDX_OK)
		return r;
	return idx_walk(txn, IDX_DB_META, key, kl, kl, jlist_cb, &jc);
}

/*
 * mail_cte: streaming base64 / quoted-printable decoders (see cte.h).
 * Callers: FETCH BINARY[] / BINARY.SIZE, SEARCH BODY/TEXT, PREVIEW.
 * Input is untrusted part bodies; state is fixed-size per decoder.
 * The base64 alphabet comes from lib/core/base64.c (SASL's strict
 * decoder); the tolerance MIME needs is here.
 */
#include <string.h>

#include "core/base64.h"
#include "core/str.h"
#include "mail/cte.h"

enum qp_state { QP_TEXT, QP_CR, QP_EQ, QP_EQ1, QP_EQWSP, QP_EQCR };

/* lib/core's alphabet as a byte table: a call per character made the
 * decoder run at a third of the speed. Filled once (idempotent). */
static int8_t b64_table[256];
static bool b64_table_ready;

static void
b64_table_init(void)
{
	if (b64_table_ready)
		return;
	for (int c = 0; c < 256; c++)
		b64_table[c] = (int8_t)base64_char_value((char)c);
	b64_table_ready = true;
}

enum mail_cte
mail_cte_from_name(const char *name)
{
	if (name == NULL || *name == '\0' || str_eq_ci(name, "7bit"))
		return MAIL_CTE_7BIT;
	if (str_eq_ci(name, "8bit"))
		return MAIL_CTE_8BIT;
	if (str_eq_ci(name, "binary"))
		return MAIL_CTE_BINARY;
	if (str_eq_ci(name, "base64"))
		return MAIL_CTE_BASE64;
	if (str_eq_ci(name, "quoted-printable"))
		return MAIL_CTE_QP;
	return MAIL_CTE_UNKNOWN;
}

const char *
mail_cte_name(enum mail_cte cte)
{
	switch (cte) {
	case MAIL_CTE_7BIT: return "7bit";
	case MAIL_CTE_8BIT: return "8bit";
	case MAIL_CTE_BINARY: return "binary";
	case MAIL_CTE_BASE64: return "base64";
	case MAIL_CTE_QP: return "quoted-printable";
	case MAIL_CTE_UNKNOWN: break;
	}
	return NULL;
}

int
mail_decoder_init(struct mail_decoder *d, enum mail_cte cte)
{
	memset(d, 0, sizeof(*d));
	d->cte = cte;
	b64_table_init();
	return cte == MAIL_CTE_UNKNOWN ? -1 : 0;
}

static int
emit(struct mail_decoder *d, struct buf *out, const void *p, size_t n)
{
	if (out != NULL && buf_append(out, p, n) < 0)
		return -1;
	d->out_total += n;
	return 0;
}

static int
emit1(struct mail_decoder *d, struct buf *out, uint8_t c)
{
	return emit(d, out, &c, 1);
}

/* Bytes of a partial base64 group of d->n characters. */
static int
b64_flush(struct mail_decoder *d, struct buf *out)
{
	uint8_t b[2];
	int rc = 0;

	if (d->n == 2) {
		b[0] = (uint8_t)(d->acc >> 4);
		rc = emit(d, out, b, 1);
	} else if (d->n == 3) {
		b[0] = (uint8_t)(d->acc >> 10);
		b[1] = (uint8_t)(d->acc >> 2);
		rc = emit(d, out, b, 2);
	} else if (d->n == 1) {
		d->broken = true;
	}
	d->n = 0;
	d->acc = 0;
	return rc;
}

static int
b64_push(struct mail_decoder *d, const uint8_t *in, size_t len,
	 struct buf *out)
{
	uint8_t tmp[768];
	size_t t = 0;

	for (size_t i = 0; i < len; i++) {
		int v = b64_table[in[i]];

		if (v < 0) {
			if (in[i] == '=') {
				if (emit(d, out, tmp, t) < 0)
					return -1;
				t = 0;
				if (b64_flush(d, out) < 0)
					return -1;
			} else if (in[i] != '\r' && in[i] != '\n' &&
				   in[i] != ' ' && in[i] != '\t') {
				d->broken = true;
			}
			continue;
		}
		d->acc = d->acc << 6 | (uint32_t)v;
		if (++d->n == 4) {
			tmp[t++] = (uint8_t)(d->acc >> 16);
			tmp[t++] = (uint8_t)(d->acc >> 8);
			tmp[t++] = (uint8_t)d->acc;
			d->n = 0;
			d->acc = 0;
			if (t == sizeof(tmp)) {
				if (emit(d, out, tmp, t) < 0)
					return -1;
				t = 0;
			}
		}
	}
	return emit(d, out, tmp, t);
}

static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
qp_flush_wsp(struct mail_decoder *d, struct buf *out)
{
	int rc = emit(d, out, d->wsp, d->n_wsp);

	d->n_wsp = 0;
	return rc;
}

/* Leaves a "=" sequence that turned out not to be an escape: "=" and
 * what followed it are literal text. */
static int
qp_literal_eq(struct mail_decoder *d, struct buf *out)
{
	d->broken = true;
	if (emit1(d, out, '=') < 0)
		return -1;
	if (d->state == QP_EQ1 && emit1(d, out, d->hi) < 0)
		return -1;
	if ((d->state == QP_EQWSP || d->state == QP_EQCR) &&
	    qp_flush_wsp(d, out) < 0)
		return -1;
	if (d->state == QP_EQCR && emit1(d, out, '\r') < 0)
		return -1;
	d->state = QP_TEXT;
	return 0;
}

static int
qp_byte(struct mail_decoder *d, uint8_t c, struct buf *out)
{
	for (;;) {
		switch ((enum qp_state)d->state) {
		case QP_TEXT:
			if (c == ' ' || c == '\t') {
				if (d->n_wsp == sizeof(d->wsp) &&
				    qp_flush_wsp(d, out) < 0)
					return -1;
				d->wsp[d->n_wsp++] = c;
				return 0;
			}
			if (c == '\r') {
				d->state = QP_CR;
				return 0;
			}
			if (c == '\n') {
				d->n_wsp = 0;   /* trailing whitespace */
				return emit1(d, out, '\n');
			}
			if (qp_flush_wsp(d, out) < 0)
				return -1;
			if (c == '=') {
				d->state = QP_EQ;
				return 0;
			}
			return emit1(d, out, c);
		case QP_CR:
			d->state = QP_TEXT;
			if (c == '\n') {
				d->n_wsp = 0;
				return emit(d, out, "\r\n", 2);
			}
			if (qp_flush_wsp(d, out) < 0 || emit1(d, out, '\r') < 0)
				return -1;
			continue;
		case QP_EQ:
			if (hexval(c) >= 0) {
				d->hi = c;
				d->state = QP_EQ1;
				return 0;
			}
			if (c == ' ' || c == '\t') {
				d->state = QP_EQWSP;
				continue;
			}
			if (c == '\r') {
				d->state = QP_EQCR;
				return 0;
			}
			if (c == '\n') {
				d->state = QP_TEXT;     /* soft line break */
				return 0;
			}
			if (qp_literal_eq(d, out) < 0)
				return -1;
			continue;
		case QP_EQ1:
			if (hexval(c) >= 0) {
				d->state = QP_TEXT;
				return emit1(d, out, (uint8_t)(hexval(d->hi) << 4 |
							       hexval(c)));
			}
			if (qp_literal_eq(d, out) < 0)
				return -1;
			continue;
		case QP_EQWSP:
			if ((c == ' ' || c == '\t') &&
			    d->n_wsp < sizeof(d->wsp)) {
				d->wsp[d->n_wsp++] = c;
				return 0;
			}
			if (c == '\r') {
				d->state = QP_EQCR;
				return 0;
			}
			if (c == '\n') {
				d->n_wsp = 0;
				d->state = QP_TEXT;
				return 0;
			}
			if (qp_literal_eq(d, out) < 0)
				return -1;
			continue;
		case QP_EQCR:
			if (c == '\n') {
				d->n_wsp = 0;
				d->state = QP_TEXT;
				return 0;
			}
			if (qp_literal_eq(d, out) < 0)
				return -1;
			continue;
		}
		return 0;
	}
}

int
mail_decoder_push(struct mail_decoder *d, const void *in, size_t len,
		  struct buf *out)
{
	const uint8_t *p = in;

	switch (d->cte) {
	case MAIL_CTE_BASE64:
		return b64_push(d, p, len, out);
	case MAIL_CTE_QP:
		for (size_t i = 0; i < len; i++) {
			/* Plain text runs go out in one append. */
			if (d->state == QP_TEXT && d->n_wsp == 0) {
				size_t j = i;

				while (j < len && p[j] != '=' && p[j] != ' ' &&
				       p[j] != '\t' && p[j] != '\r' &&
				       p[j] != '\n')
					j++;
				if (j > i) {
					if (emit(d, out, p + i, j - i) < 0)
						return -1;
					i = j - 1;
					continue;
				}
			}
			if (qp_byte(d, p[i], out) < 0)
				return -1;
		}
		return 0;
	case MAIL_CTE_UNKNOWN:
		return -1;
	default:
		return emit(d, out, p, len);
	}
}

int
mail_decoder_finish(struct mail_decoder *d, struct buf *out)
{
	int rc = 0;

	if (d->cte == MAIL_CTE_BASE64)
		return b64_flush(d, out);
	if (d->cte != MAIL_CTE_QP)
		return 0;
	switch ((enum qp_state)d->state) {
	case QP_CR:
		rc = emit1(d, out, '\r');
		break;
	case QP_EQ1:
		rc = qp_literal_eq(d, out);
		break;
	default:
		break;  /* trailing whitespace or a final soft break */
	}
	d->n_wsp = 0;
	d->state = QP_TEXT;
	return rc;
}

int64_t
mail_decoded_size(enum mail_cte cte, const void *data, size_t len)
{
	struct mail_decoder d;

	if (mail_decoder_init(&d, cte) < 0)
		return -1;
	(void)mail_decoder_push(&d, data, len, NULL);
	(void)mail_decoder_finish(&d, NULL);
	return (int64_t)d.out_total;
}

/*
 * base64: RFC 4648 §4 base64, used for SASL (AUTHENTICATE PLAIN/LOGIN,
 * SASL-IR) in imap-login. Decode input comes straight from the client,
 * so it is validated strictly before OpenSSL sees it: EVP_DecodeBlock
 * itself skips surrounding whitespace and reports the length of the
 * padding bytes as data, neither of which we want.
 */
#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/base64.h"

/* Chunk sizes that keep OpenSSL's int lengths small and whole groups
 * together: 3 input bytes per 4 output characters. */
#define ENC_CHUNK (3 * 4096)
#define DEC_CHUNK (4 * 1024)

size_t
base64_encoded_len(size_t n)
{
	return (n / 3 + (n % 3 != 0)) * 4;
}

void
base64_encode(char *dst, const void *src, size_t n)
{
	const unsigned char *s = src;
	unsigned char *d = (unsigned char *)dst;

	while (n > 0) {
		size_t take = n < ENC_CHUNK ? n : ENC_CHUNK;
		int w = EVP_EncodeBlock(d, s, (int)take);

		d += w;
		s += take;
		n -= take;
	}
	*d = '\0';
}

/* Checks the whole input; returns the number of '=' (0-2) or -1. */
static int
b64_validate(const char *src, size_t len)
{
	size_t pad = 0;

	if (len % 4 != 0)
		return -1;
	if (len == 0)
		return 0;
	if (src[len - 1] == '=')
		pad = src[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len - pad; i++)
		if (base64_char_value(src[i]) < 0)
			return -1;
	/* Canonical encoding only (RFC 4648 §3.5): the bits the padding
	 * leaves unused must be zero, so each text has one encoding. */
	if (pad == 2 && (base64_char_value(src[len - 3]) & 0x0f) != 0)
		return -1;
	if (pad == 1 && (base64_char_value(src[len - 2]) & 0x03) != 0)
		return -1;
	return (int)pad;
}

long
base64_decode(uint8_t *dst, size_t dstsize, const char *src, size_t len)
{
	unsigned char tmp[DEC_CHUNK / 4 * 3];
	size_t out = 0, outlen;
	int pad;

	pad = b64_validate(src, len);
	if (pad < 0 || len / 4 * 3 > LONG_MAX)
		return -1;
	outlen = len / 4 * 3 - (size_t)pad;
	if (outlen > dstsize)
		return -1;
	while (len > 0) {
		size_t take = len < DEC_CHUNK ? len : DEC_CHUNK;
		int w = EVP_DecodeBlock(tmp, (const unsigned char *)src,
					(int)take);
		size_t use;

		if (w < 0 || (size_t)w != take / 4 * 3) {
			explicit_bzero(tmp, sizeof(tmp));
			return -1;
		}
		/* The padding bytes decode as zeros: drop them. */
		use = (size_t)w;
		if (take == len)
			use -= (size_t)pad;
		memcpy(dst + out, tmp, use);
		out += use;
		src += take;
		len -= take;
	}
	/* SASL payloads carry passwords. */
	explicit_bzero(tmp, sizeof(tmp));
	return (long)out;
}

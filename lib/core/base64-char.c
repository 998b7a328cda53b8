/*
 * base64_char_value: the base64 alphabet (RFC 4648 §4), apart from
 * base64.c so that lib/mail's MIME decoder does not pull OpenSSL into
 * the static session binary.
 */
#include "core/base64.h"

int
base64_char_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

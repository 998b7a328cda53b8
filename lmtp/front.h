/*
 * front: one LMTP connection, spoken by an unprivileged process (uid
 * login_user, chrooted, NO_NEW_PRIVS) that can do nothing with mail but
 * ask its root monitor (lmtp/main.c) over mon: "is this a user?" and
 * "deliver this sealed message to that user". RFC 2033 with PIPELINING
 * (RFC 2920: replies are queued while more commands are waiting and
 * sent before the front blocks for input), ENHANCEDSTATUSCODES,
 * 8BITMIME and SIZE.
 */
#ifndef MOAT_LMTP_FRONT_H
#define MOAT_LMTP_FRONT_H

#include <stdint.h>

struct front_settings {
	uint64_t max_size;        /* max_message_size */
	unsigned int max_rcpts;   /* lmtp_max_recipients */
	uint64_t timeout_ms;      /* lmtp_timeout, per read */
	const char *hostname;
};

/* Serves the connection on fd until QUIT, EOF, a timeout or an error. */
void front_run(int fd, int mon, const struct front_settings *set);

#endif

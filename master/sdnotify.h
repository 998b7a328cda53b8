/*
 * sdnotify: tells systemd how moatd is doing (sd_notify(3)'s protocol,
 * without libsystemd): one datagram to the AF_UNIX socket named by
 * $NOTIFY_SOCKET, which a Type=notify unit sets (debian/moat.service).
 * Without it, or when not under systemd, every call does nothing.
 */
#ifndef MOAT_MASTER_SDNOTIFY_H
#define MOAT_MASTER_SDNOTIFY_H

/* Sends STATE ("READY=1", "RELOADING=1", "STOPPING=1", lines joined by
 * '\n'). Best effort: a failure is logged once per call, never fatal. */
void sdnotify_send(const char *state);
/* "READY=1" with MAINPID (ours, which -D changed). */
void sdnotify_ready(void);

#endif

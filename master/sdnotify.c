/*
 * sdnotify: systemd's readiness protocol (sdnotify.h). The socket path
 * comes from the environment systemd gave moatd, which is root's; it is
 * still checked for length and form. An abstract socket is written
 * "@name". moatd's children never see the variable (import_environment
 * filters it), so only moatd can report.
 */
#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "master/sdnotify.h"

void
sdnotify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len < 2 || len >= sizeof(sa.sun_path)) {
		log_warn("NOTIFY_SOCKET is too long or too short: not telling "
			 "systemd \"%s\"", state);
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("sd_notify: socket: %m");
		return;
	}
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
		   (const struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		log_warn("sd_notify %s: %m", path);
	close(fd);
}

void
sdnotify_ready(void)
{
	char state[64];

	snprintf(state, sizeof(state), "READY=1\nMAINPID=%ld", (long)getpid());
	sdnotify_send(state);
}

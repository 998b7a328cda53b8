/* Tests for lib/core/fdio.c: whole transfers, short ones retried, EOF
 * is an error (EIO), not a silent short read. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fdio.h"

static int
tmpfile_fd(void)
{
	char path[] = "/tmp/moat-fdio-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	return fd;
}

Test(fdio, pwrite_then_pread_round_trip)
{
	int fd = tmpfile_fd();
	char big[200000], back[200000];

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7);
	cr_assert_eq(fd_pwrite_full(fd, big, sizeof(big), 5), 0);
	cr_assert_eq(lseek(fd, 0, SEEK_END), (off_t)sizeof(big) + 5);
	cr_assert_eq(fd_pread_full(fd, back, sizeof(back), 5), 0);
	cr_assert_eq(memcmp(big, back, sizeof(big)), 0);
	close(fd);
}

Test(fdio, pread_past_the_end_is_eio)
{
	int fd = tmpfile_fd();
	char b[10];

	cr_assert_eq(fd_write_full(fd, "12345", 5), 0);
	errno = 0;
	cr_assert_eq(fd_pread_full(fd, b, 6, 0), -1, "a short file");
	cr_assert_eq(errno, EIO);
	cr_assert_eq(fd_pread_full(fd, b, 5, 0), 0);
	cr_assert_eq(memcmp(b, "12345", 5), 0);
	close(fd);
}

Test(fdio, write_to_a_closed_pipe_fails)
{
	int p[2];

	cr_assert_eq(pipe(p), 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	errno = 0;
	cr_assert_eq(fd_write_full(p[1], "x", 1), -1);
	cr_assert_eq(errno, EPIPE);
	close(p[1]);
}

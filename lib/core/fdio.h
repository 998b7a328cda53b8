/*
 * fdio: whole reads and writes on a file descriptor, retried across
 * EINTR and short transfers (the loops every writer of a file needs).
 */
#ifndef MOAT_FDIO_H
#define MOAT_FDIO_H

#include <stddef.h>
#include <stdint.h>

/* All n bytes at off, or -1 with errno (EIO if the file ends first). */
int fd_pread_full(int fd, void *p, size_t n, uint64_t off);
/* All n bytes at off, or -1 with errno. */
int fd_pwrite_full(int fd, const void *p, size_t n, uint64_t off);
/* All n bytes at the file position, or -1 with errno. */
int fd_write_full(int fd, const void *p, size_t n);

#endif

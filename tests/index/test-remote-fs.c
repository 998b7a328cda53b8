/* The index refuses a directory on a network file system (design.md
 * "Index layout": Berkeley DB's shared regions and fcntl locks do not
 * work over NFS or SMB). No such mount is available to a test, so this
 * program supplies its own statfs(2): being defined here, it is the one
 * the static library's call binds to, and it reports the file system
 * type the test asks for while the directory itself is real. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "index/index.h"
#include "util.h"

static long fake_type = -1;	/* -1: report the real one */

int
statfs(const char *path, struct statfs *buf)
{
	long rc = syscall(SYS_statfs, path, buf);

	if (rc == 0 && fake_type >= 0)
		buf->f_type = fake_type;
	return (int)rc;
}

static int
open_with_type(long type)
{
	struct idx_env_opts o = { .watchdog_secs = 20 };
	struct idx_env *env = NULL;
	bool rebuilt = false;
	char *base = tu_tmpdir(), *dir = tu_path(base, "idx");
	int rc;

	fake_type = type;
	rc = idx_env_open(dir, &o, &env, &rebuilt);
	fake_type = -1;
	if (rc == IDX_OK)
		idx_env_close(&env);
	tu_rmrf(base);
	free(dir);
	free(base);
	return rc;
}

Test(remote_fs, local_file_system_opens, .timeout = 60)
{
	cr_assert_eq(open_with_type(-1), IDX_OK);
	cr_assert_eq(open_with_type(0xEF53), IDX_OK);	/* ext4 */
	cr_assert_eq(open_with_type(0x01021994), IDX_OK);	/* tmpfs */
}

Test(remote_fs, network_file_systems_are_refused, .timeout = 60)
{
	static const long remote[] = {
		0x6969,		/* NFS */
		0x517B,		/* SMB */
		0xFE534D42,	/* SMB2 */
		0xFF534D42,	/* CIFS */
		0x5346414F,	/* AFS */
		0x73757245,	/* Coda */
		0x01021997,	/* 9p */
	};

	for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++)
		cr_expect_eq(open_with_type(remote[i]), IDX_INVAL,
			     "f_type %#lx was accepted", remote[i]);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* One live daemon per directory: the claim, its refusal, and its release. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kern/dirlock.h"
#include "tap.h"

static char root[64];

/* A child that claims dir, says so on the pipe, holds it hold_ms, and exits without closing. */
static pid_t holder(const char *dir, unsigned int hold_ms)
{
	int fds[2];
	char c;
	pid_t pid;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (pid == 0) {
		int fd = sl_dirlock_take(dir, 0);

		c = fd >= 0 ? 'y' : 'n';
		if (write(fds[1], &c, 1) != 1)
			_exit(2);
		usleep(hold_ms * 1000);
		_exit(fd >= 0 ? 0 : 1);
	}
	close(fds[1]);
	if (pid < 0 || read(fds[0], &c, 1) != 1 || c != 'y')
		pid = -1;
	close(fds[0]);
	return pid;
}

int main(void)
{
	char dir[128], file[128];
	struct stat st;
	int fd, status;
	pid_t pid;

	snprintf(root, sizeof(root), "/tmp/sluice-test-dirlock-XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/a/b/c", root);
	TAP_OK(sl_mkdir_p(dir, 0700) == 0 && stat(dir, &st) == 0 && S_ISDIR(st.st_mode),
	       "sl_mkdir_p creates the missing parents");
	TAP_OK(sl_mkdir_p(dir, 0700) == 0, "an existing directory is not an error");
	TAP_OK((st.st_mode & 0777) == 0700, "with the mode asked for");

	fd = sl_dirlock_take(dir, 0);
	TAP_OK(fd >= 0, "a free directory is claimed");
	/* A second open file description conflicts as a second process would. */
	TAP_OK(sl_dirlock_take(dir, 0) == -EWOULDBLOCK, "a held one is refused at once");
	TAP_OK(sl_dirlock_take(dir, 100) == -EWOULDBLOCK, "and after waiting for it");
	close(fd);
	fd = sl_dirlock_take(dir, 0);
	TAP_OK(fd >= 0, "closing the fd releases the claim");
	close(fd);

	/* A holder that dies without closing (kill -9 alike) leaves nothing behind. */
	pid = holder(dir, 0);
	TAP_OK(pid > 0, "a child claims the directory");
	waitpid(pid, &status, 0);
	fd = sl_dirlock_take(dir, 0);
	TAP_OK(fd >= 0, "its claim ends with it");
	close(fd);

	pid = holder(dir, 200);
	TAP_OK(pid > 0, "a child holds the directory for a moment");
	fd = sl_dirlock_take(dir, 10000);
	TAP_OK(fd >= 0, "a claim that waits gets it once the holder is gone");
	if (fd >= 0)
		close(fd);
	waitpid(pid, &status, 0);
	TAP_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child had the claim until then");

	snprintf(file, sizeof(file), "%s/file", root);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	if (fd >= 0)
		close(fd);
	TAP_OK(sl_dirlock_take(file, 0) == -ENOTDIR, "a file is not a directory to claim");
	snprintf(file, sizeof(file), "%s/missing", root);
	TAP_OK(sl_dirlock_take(file, 0) == -ENOENT, "nor is a missing path");
	snprintf(file, sizeof(file), "%s/file/sub", root);
	TAP_OK(sl_mkdir_p(file, 0700) == -ENOTDIR, "sl_mkdir_p under a file says so");

	snprintf(file, sizeof(file), "%s/file", root);
	unlink(file);
	rmdir(dir);
	snprintf(dir, sizeof(dir), "%s/a/b", root);
	rmdir(dir);
	snprintf(dir, sizeof(dir), "%s/a", root);
	rmdir(dir);
	rmdir(root);
	return tap_done();
}

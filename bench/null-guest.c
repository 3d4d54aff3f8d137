/* SPDX-License-Identifier: MIT */
/*
 * pikaci-bench-null-guest - the least a guest can do: be exec'd, fork `bash --noprofile
 * --norc -lc <command>` ([X1]), wait for it and exit with its code. No request, no files.
 *
 *   pikaci-bench-null-guest COMMAND
 *
 * Run beside the reference guest, it shows what of the guest's cost over bash is the shape
 * every guest has (one more process) and what is the reference guest's own work.
 */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int status;
	pid_t pid;

	if (argc != 2) {
		fprintf(stderr, "usage: pikaci-bench-null-guest COMMAND\n");
		return 2;
	}
	pid = fork();
	if (pid < 0)
		return 125;
	if (pid == 0) {
		execl("/bin/bash", "bash", "--noprofile", "--norc", "-lc", argv[1], (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return 125;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

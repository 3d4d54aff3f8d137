/* SPDX-License-Identifier: MIT */
/*
 * corpus-path.c - the default corpus of an installed runner is the installed one; the build
 * tree's runner uses the source tree's, so a change to a case is tested before it is installed.
 */
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corpus-path.h"

static bool is_directory(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether the running program lives under the build tree it was built in. */
static bool running_uninstalled(void)
{
	static const char build_root[] = PIKACI_BUILD_ROOT "/";
	char self[PATH_MAX];
	ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (length < 0)
		return false;
	self[length] = '\0';
	return strncmp(self, build_root, sizeof(build_root) - 1) == 0;
}

const char *corpus_default_path(void)
{
	if (running_uninstalled() && is_directory(PIKACI_SOURCE_FIXTURES))
		return PIKACI_SOURCE_FIXTURES;
	if (is_directory(PIKACI_INSTALLED_FIXTURES))
		return PIKACI_INSTALLED_FIXTURES;
	/*
	 * Neither: a runner started through a wrapper (valgrind's /proc/self/exe is the tool) from
	 * an uninstalled build. The source tree is the only corpus there is.
	 */
	return is_directory(PIKACI_SOURCE_FIXTURES) ? PIKACI_SOURCE_FIXTURES
	                                            : PIKACI_INSTALLED_FIXTURES;
}

/* SPDX-License-Identifier: MIT */
/* transport-incus-none.c - the `incus` transport of a build without libcurl: not available. */
#include <errno.h>
#include <stdio.h>

#include "transport.h"

int pikaci_transport_incus_new(const struct pikaci_incus_options *options,
                               struct pikaci_transport **ret, char *errbuf, size_t errsize)
{
	(void)options;
	(void)ret;
	snprintf(errbuf, errsize,
	         "the incus transport is not available: pikaci was built without libcurl "
	         "(meson option -Dincus=enabled needs libcurl's development files)");
	return -ENOTSUP;
}

int pikaci_incus_reaper_start(const struct pikaci_incus_options *options, char *errbuf,
                              size_t errsize)
{
	(void)options;
	(void)errbuf;
	(void)errsize;
	return 0;
}

void pikaci_incus_reap(void)
{
}

int pikaci_incus_pool_new(const struct pikaci_incus_options *options, size_t n, char ***ret_names,
                          char *errbuf, size_t errsize)
{
	(void)options;
	(void)n;
	(void)ret_names;
	snprintf(errbuf, errsize, "the incus transport is not available: built without libcurl");
	return -ENOTSUP;
}

void pikaci_incus_pool_free(const struct pikaci_incus_options *options, char **names)
{
	(void)options;
	(void)names;
}

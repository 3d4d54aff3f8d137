/* SPDX-License-Identifier: MIT */
/*
 * fuzz-incus-config.c - the reader of the user's Incus client configuration
 * (src/host/incus-config.c) on arbitrary config.yml bytes: the file is the user's, edited by
 * hand or by any tool.
 *
 * Properties: the codes are the documented ones; a refusal names "config.yml:" and says why
 * in valid UTF-8; a parsed configuration has the built-in `local`, a default remote, and for
 * every remote a name, an addr of a known scheme, a known protocol and a line within the
 * input; resolving each remote as a server and as an image source returns a documented code;
 * nothing leaks.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "incus-config.h"

static bool utf8_valid(const char *text)
{
	json_t *string = json_string(text);

	json_decref(string);
	return string != NULL;
}

static void check_remote(const struct pikaci_incus_config *config,
                         const struct pikaci_incus_remote *remote, size_t size)
{
	struct pikaci_incus_connection connection;
	struct pikaci_incus_image image;
	char errbuf[512] = "", *spec = NULL;
	int r;

	FUZZ_CHECK(remote->name && remote->addr && remote->protocol);
	FUZZ_CHECK(strncmp(remote->addr, "unix:", 5) == 0 ||
	           strncmp(remote->addr, "https://", 8) == 0);
	FUZZ_CHECK(strcmp(remote->protocol, "incus") == 0 ||
	           strcmp(remote->protocol, "simplestreams") == 0);
	FUZZ_CHECK(remote->line <= size + 1);
	FUZZ_CHECK(pikaci_incus_config_remote(config, remote->name) != NULL);

	memset(&connection, 0, sizeof(connection));
	r = pikaci_incus_connection_resolve(config, remote->name, &connection, errbuf,
	                                    sizeof(errbuf));
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	if (r == 0)
		FUZZ_CHECK(!connection.socket != !connection.url);
	else
		FUZZ_CHECK(errbuf[0] && utf8_valid(errbuf));
	pikaci_incus_connection_clear(&connection);

	if (asprintf(&spec, "%s:alias", remote->name) < 0)
		return;
	memset(&image, 0, sizeof(image));
	r = pikaci_incus_image_resolve(config, "local", spec, NULL, NULL, &image, errbuf,
	                               sizeof(errbuf));
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOENT || r == -ENOMEM);
	if (r == 0)
		FUZZ_CHECK(image.alias && (!image.server || image.protocol));
	pikaci_incus_image_clear(&image);
	free(spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pikaci_incus_config config;
	char errbuf[512] = "";
	int r;

	memset(&config, 0x5a, sizeof(config));
	r = pikaci_incus_config_parse((const char *)data, size, "config.yml", &config, errbuf,
	                              sizeof(errbuf));
	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EFBIG || r == -ENOMEM);
	if (r < 0) {
		FUZZ_CHECK(r == -ENOMEM || strncmp(errbuf, "config.yml:", 11) == 0);
		FUZZ_CHECK(utf8_valid(errbuf));
		return 0;
	}
	FUZZ_CHECK(config.default_remote && config.n_remotes >= 1);
	FUZZ_CHECK(pikaci_incus_config_remote(&config, "local") != NULL);
	for (size_t i = 0; i < config.n_remotes; i++)
		check_remote(&config, &config.remotes[i], size);
	pikaci_incus_config_clear(&config);
	return 0;
}

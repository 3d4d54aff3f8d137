/* SPDX-License-Identifier: MIT */
/*
 * test-incus-config.c - the user's Incus client configuration read as the incus CLI reads it
 * (src/host/incus-config.c): config.yml as `incus remote add` writes it and as people edit
 * it, every refusal with FILE:LINE, the certificates of an https remote (client.crt/key, the
 * pinned servercerts/NAME.crt), unix:// sockets, image sources (REMOTE:ALIAS, --image-server),
 * --target round-robin and the options that do not go together. No Incus needed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "incus-config.h"

struct fixture {
	struct pikaci_incus_config config;
	struct pikaci_incus_connection connection;
	struct pikaci_incus_image image;
	char dir[64];
	char errbuf[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/pikaci-incus-conf-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	unsetenv("INCUS_REMOTE");
	unsetenv("INCUS_SOCKET");
	unsetenv("INCUS_DIR");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char command[128];

	pikaci_incus_config_clear(&f->config);
	pikaci_incus_connection_clear(&f->connection);
	pikaci_incus_image_clear(&f->image);
	snprintf(command, sizeof(command), "rm -rf '%s'", f->dir);
	if (system(command) != 0)
		return -1;
	free(f);
	return 0;
}

static int parse(struct fixture *f, const char *text)
{
	pikaci_incus_config_clear(&f->config);
	f->errbuf[0] = '\0';
	return pikaci_incus_config_parse(text, strlen(text), "config.yml", &f->config, f->errbuf,
	                                 sizeof(f->errbuf));
}

/* Writes dir/name (folders made) with text. */
static void file_write(const struct fixture *f, const char *name, const char *text)
{
	char path[256];
	FILE *out;

	snprintf(path, sizeof(path), "%s/servercerts", f->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	out = fopen(path, "w");
	assert_non_null(out);
	fputs(text, out);
	assert_int_equal(fclose(out), 0);
}

/* --- config.yml ------------------------------------------------------------------------------ */

/* As `incus remote add` leaves it (yaml.v2's output), with the default remotes. */
static const char written_by_cli[] = "default-remote: cluster\n"
                                     "remotes:\n"
                                     "  cluster:\n"
                                     "    addr: https://10.0.0.5:8443\n"
                                     "    auth_type: tls\n"
                                     "    project: ci\n"
                                     "    protocol: incus\n"
                                     "    public: false\n"
                                     "  images:\n"
                                     "    addr: https://images.example.org\n"
                                     "    protocol: simplestreams\n"
                                     "    public: true\n"
                                     "  local:\n"
                                     "    addr: unix://\n"
                                     "    public: false\n"
                                     "aliases: {}\n";

static void test_written_by_cli(void **state)
{
	struct fixture *f = *state;
	const struct pikaci_incus_remote *r;

	assert_int_equal(parse(f, written_by_cli), 0);
	assert_string_equal(f->config.default_remote, "cluster");
	assert_int_equal(f->config.n_remotes, 3);
	r = pikaci_incus_config_remote(&f->config, "cluster");
	assert_non_null(r);
	assert_string_equal(r->addr, "https://10.0.0.5:8443");
	assert_string_equal(r->protocol, "incus");
	assert_string_equal(r->project, "ci");
	assert_string_equal(r->auth_type, "tls");
	assert_false(r->public);
	assert_int_equal(r->line, 3);
	r = pikaci_incus_config_remote(&f->config, "images");
	assert_non_null(r);
	assert_string_equal(r->protocol, "simplestreams");
	assert_true(r->public);
	assert_null(r->project);
	assert_null(pikaci_incus_config_remote(&f->config, "nowhere"));
}

/* Edited by hand: comments, quotes, other indentation, CRLF, a BOM, unknown keys kept out. */
static void test_edited_by_hand(void **state)
{
	struct fixture *f = *state;
	const struct pikaci_incus_remote *r;

	assert_int_equal(parse(f, "\xef\xbb\xbf---\r\n"
	                          "# my remotes\r\n"
	                          "remotes:\r\n"
	                          "    'lab #1':    # the lab\r\n"
	                          "        addr: \"https://lab.example:8443\"  # port\r\n"
	                          "        protocol: 'incus'\r\n"
	                          "\r\n"
	                          "        extra:\r\n"
	                          "            nested: kept out\r\n"
	                          "    quoted:\r\n"
	                          "        addr: 'unix:///run/it''s/unix.socket'\r\n"
	                          "        public: false\r\n"
	                          "aliases:\r\n"
	                          "  ls: list -c ns\r\n"
	                          "something-new: 1\r\n"),
	                 0);
	assert_string_equal(f->config.default_remote, "local");
	r = pikaci_incus_config_remote(&f->config, "lab #1");
	assert_non_null(r);
	assert_string_equal(r->addr, "https://lab.example:8443");
	r = pikaci_incus_config_remote(&f->config, "quoted");
	assert_non_null(r);
	assert_string_equal(r->addr, "unix:///run/it's/unix.socket");
	/* local is built in when the file has none. */
	r = pikaci_incus_config_remote(&f->config, "local");
	assert_non_null(r);
	assert_string_equal(r->addr, "unix://");
	assert_int_equal(r->line, 0);
	/* An empty file is the built-in local only. */
	assert_int_equal(parse(f, ""), 0);
	assert_int_equal(f->config.n_remotes, 1);
	assert_string_equal(f->config.default_remote, "local");
	assert_int_equal(parse(f, "remotes: {}\n"), 0);
	assert_int_equal(f->config.n_remotes, 1);
	assert_int_equal(parse(f, "remotes:\n  a:\n    addr: \"unix://\\\"q\\\\\\/\\t\"\n"), 0);
	assert_string_equal(pikaci_incus_config_remote(&f->config, "a")->addr, "unix://\"q\\/\t");
}

/* Every refusal names the file and the line, and why. */
static void test_refusals(void **state)
{
	static const struct {
		const char *text;
		int code;
		const char *where, *why;
	} cases[] = {
		{ "remotes:\n\tlocal:\n", -EBADMSG, "config.yml:2:", "tab" },
		{ "remotes:\n  - local\n", -EBADMSG, "config.yml:2:", "list item" },
		{ "remotes:\n  a:\n    addr: unix://\n   b: x\n", -EBADMSG,
		  "config.yml:4:", "indentation" },
		{ "remotes:\n  a:\n    addr: unix://\n      more\n", -EBADMSG,
		  "config.yml:4:", "indentation" },
		{ "remotes:\n  a:\n    addr: unix://\n  a:\n    addr: unix://\n", -EBADMSG,
		  "config.yml:4:", "twice" },
		{ "default-remote: 'open\n", -EBADMSG, "config.yml:1:", "not closed" },
		{ "default-remote: \"\\x41\"\n", -EBADMSG, "config.yml:1:", "escape" },
		{ "default-remote: &anchor x\n", -EBADMSG, "config.yml:1:", "anchors" },
		{ "default-remote: [a, b]\n", -EBADMSG, "config.yml:1:", "lists" },
		{ "default-remote: |\n  x\n", -EBADMSG, "config.yml:1:", "block scalars" },
		{ "default-remote: 'a' b\n", -EBADMSG, "config.yml:1:", "after a quoted" },
		{ "default-remote: {} x\n", -EBADMSG, "config.yml:1:", "after {}" },
		{ "default-remote:\n", -EBADMSG, "config.yml:1:", "name a remote" },
		{ "just words\n", -EBADMSG, "config.yml:1:", "key: value" },
		{ ": x\n", -EBADMSG, "config.yml:1:", "key: value" },
		{ "a: 1\n---\n", -EBADMSG, "config.yml:2:", "second YAML document" },
		{ "remotes: many\n", -EBADMSG, "config.yml:1:", "mapping of names" },
		{ "remotes:\n  a: unix://\n", -EBADMSG, "config.yml:2:", "must be a mapping" },
		{ "remotes:\n  a:\n    public: true\n", -EBADMSG, "config.yml:2:", "without addr" },
		{ "remotes:\n  a:\n    addr: ftp://x\n", -EBADMSG, "config.yml:2:", "unix://" },
		{ "remotes:\n  a:\n    addr: unix://\n    protocol: lxd\n", -EBADMSG,
		  "config.yml:4:", "incus or simplestreams" },
		{ "remotes:\n  a:\n    addr: unix://\n    public: yes\n", -EBADMSG,
		  "config.yml:4:", "true or false" },
		{ "remotes:\n  a:\n    addr:\n      x: y\n", -EBADMSG,
		  "config.yml:3:", "must be a scalar" },
		{ "a:\n b:\n  c:\n   d:\n    e:\n     f:\n      g:\n       h:\n        i: 1\n",
		  -EFBIG, "config.yml:9:", "deeper" },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(f, cases[i].text), cases[i].code);
		printf("# -> %s\n", f->errbuf);
		assert_non_null(strstr(f->errbuf, cases[i].where));
		assert_non_null(strstr(f->errbuf, cases[i].why));
	}
}

/* The bounds: a line, the whole file, the number of entries, a NUL byte. */
static void test_bounds(void **state)
{
	struct fixture *f = *state;
	size_t big = PIKACI_INCUS_CONFIG_MAX + 1, n = 0;
	char *text = malloc(big + 1);

	assert_non_null(text);
	memset(text, 'a', PIKACI_INCUS_CONFIG_LINE_MAX + 1);
	memcpy(text + PIKACI_INCUS_CONFIG_LINE_MAX + 1, ": 1\n", 5);
	assert_int_equal(parse(f, text), -EFBIG);
	assert_non_null(strstr(f->errbuf, "config.yml:1: a line longer"));
	memset(text, '#', big);
	text[big] = '\0';
	assert_int_equal(parse(f, text), -EFBIG);
	for (int i = 0; i <= PIKACI_INCUS_CONFIG_NODES_MAX; i++)
		n += (size_t)sprintf(text + n, "k%d: v\n", i);
	assert_int_equal(parse(f, text), -EFBIG);
	assert_non_null(strstr(f->errbuf, "more than"));
	free(text);
	assert_int_equal(pikaci_incus_config_parse("a: b\0c\n", 7, "config.yml", &f->config,
	                                           f->errbuf, sizeof(f->errbuf)),
	                 -EBADMSG);
	assert_non_null(strstr(f->errbuf, "config.yml:1: a NUL byte"));
	assert_int_equal(parse(f, "a: b\nremotes:\n  \xff:\n    addr: unix://\n"), -EBADMSG);
	assert_non_null(strstr(f->errbuf, "config.yml:3: a line that is not UTF-8"));
}

/* $INCUS_CONF, $INCUS_REMOTE, a missing file. */
static void test_load(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(pikaci_incus_config_load(f->dir, &f->config, f->errbuf, sizeof(f->errbuf)),
	                 0);
	assert_false(f->config.from_file);
	assert_string_equal(f->config.default_remote, "local");
	pikaci_incus_config_clear(&f->config);
	file_write(f, "config.yml", written_by_cli);
	setenv("INCUS_CONF", f->dir, 1);
	assert_int_equal(pikaci_incus_config_load(NULL, &f->config, f->errbuf, sizeof(f->errbuf)),
	                 0);
	assert_true(f->config.from_file);
	assert_string_equal(f->config.dir, f->dir);
	assert_string_equal(f->config.default_remote, "cluster");
	pikaci_incus_config_clear(&f->config);
	setenv("INCUS_REMOTE", "images", 1);
	assert_int_equal(pikaci_incus_config_load(NULL, &f->config, f->errbuf, sizeof(f->errbuf)),
	                 0);
	assert_string_equal(f->config.default_remote, "images");
	pikaci_incus_config_clear(&f->config);
	unsetenv("INCUS_REMOTE");
	file_write(f, "config.yml", "remotes:\n  x:\n    addr: gopher://\n");
	assert_int_equal(pikaci_incus_config_load(NULL, &f->config, f->errbuf, sizeof(f->errbuf)),
	                 -EBADMSG);
	assert_non_null(strstr(f->errbuf, "/config.yml:2: addr must be"));
	unsetenv("INCUS_CONF");
}

/* --- Connections ------------------------------------------------------------------------------ */

static void test_unix_remotes(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "remotes:\n  there:\n    addr: unix:///srv/incus.socket\n"
	                          "    project: p\n"),
	                 0);
	assert_int_equal(pikaci_incus_connection_resolve(&f->config, "there", &f->connection,
	                                                 f->errbuf, sizeof(f->errbuf)),
	                 0);
	assert_string_equal(f->connection.socket, "/srv/incus.socket");
	assert_null(f->connection.url);
	assert_string_equal(f->connection.project, "p");
	pikaci_incus_connection_clear(&f->connection);
	assert_int_equal(pikaci_incus_connection_resolve(&f->config, "local", &f->connection,
	                                                 f->errbuf, sizeof(f->errbuf)),
	                 0);
	assert_string_equal(f->connection.socket, "/var/lib/incus/unix.socket");
	pikaci_incus_connection_clear(&f->connection);
	setenv("INCUS_DIR", "/opt/incus", 1);
	assert_int_equal(pikaci_incus_connection_resolve(&f->config, "local", &f->connection,
	                                                 f->errbuf, sizeof(f->errbuf)),
	                 0);
	assert_string_equal(f->connection.socket, "/opt/incus/unix.socket");
	pikaci_incus_connection_clear(&f->connection);
	setenv("INCUS_SOCKET", "/run/incus.sock", 1);
	assert_int_equal(pikaci_incus_connection_resolve(&f->config, "local", &f->connection,
	                                                 f->errbuf, sizeof(f->errbuf)),
	                 0);
	assert_string_equal(f->connection.socket, "/run/incus.sock");
	assert_int_equal(pikaci_incus_connection_resolve(&f->config, "nowhere", &f->connection,
	                                                 f->errbuf, sizeof(f->errbuf)),
	                 -ENOENT);
	assert_non_null(strstr(f->errbuf, "no remote called \"nowhere\""));
}

/* https: the client certificate and key, the pinned server certificate, else client.ca. */
static void test_https_remotes(void **state)
{
	struct fixture *f = *state;
	char path[256];

	file_write(f, "config.yml", written_by_cli);
	assert_int_equal(pikaci_incus_config_load(f->dir, &f->config, f->errbuf, sizeof(f->errbuf)),
	                 0);
	assert_int_equal(pikaci_incus_connection_resolve(&f->config, "cluster", &f->connection,
	                                                 f->errbuf, sizeof(f->errbuf)),
	                 -EINVAL);
	assert_non_null(strstr(f->errbuf, "client.crt"));
	file_write(f, "client.crt", "CERT");
	file_write(f, "client.key", "KEY");
	assert_int_equal(pikaci_incus_connection_resolve(&f->config, "cluster", &f->connection,
	                                                 f->errbuf, sizeof(f->errbuf)),
	                 0);
	assert_string_equal(f->connection.url, "https://10.0.0.5:8443");
	snprintf(path, sizeof(path), "%s/client.crt", f->dir);
	assert_string_equal(f->connection.cert, path);
	snprintf(path, sizeof(path), "%s/client.key", f->dir);
	assert_string_equal(f->connection.key, path);
	assert_null(f->connection.ca);
	assert_false(f->connection.pinned);
	assert_string_equal(f->connection.project, "ci");
	pikaci_incus_connection_clear(&f->connection);
	file_write(f, "client.ca", "CA");
	assert_int_equal(pikaci_incus_connection_resolve(&f->config, "cluster", &f->connection,
	                                                 f->errbuf, sizeof(f->errbuf)),
	                 0);
	snprintf(path, sizeof(path), "%s/client.ca", f->dir);
	assert_string_equal(f->connection.ca, path);
	assert_false(f->connection.pinned);
	pikaci_incus_connection_clear(&f->connection);
	file_write(f, "servercerts/cluster.crt", "SERVER");
	assert_int_equal(pikaci_incus_connection_resolve(&f->config, "cluster", &f->connection,
	                                                 f->errbuf, sizeof(f->errbuf)),
	                 0);
	snprintf(path, sizeof(path), "%s/servercerts/cluster.crt", f->dir);
	assert_string_equal(f->connection.ca, path);
	assert_true(f->connection.pinned);
	pikaci_incus_connection_clear(&f->connection);
	/* An image server is not an instance server; OIDC is not supported. */
	assert_int_equal(pikaci_incus_connection_resolve(&f->config, "images", &f->connection,
	                                                 f->errbuf, sizeof(f->errbuf)),
	                 -EINVAL);
	assert_non_null(strstr(f->errbuf, "config.yml:9: remote \"images\" is an image server"));
	pikaci_incus_config_clear(&f->config);
	assert_int_equal(parse(f, "remotes:\n  o:\n    addr: https://o\n    auth_type: oidc\n"), 0);
	assert_int_equal(pikaci_incus_connection_resolve(&f->config, "o", &f->connection, f->errbuf,
	                                                 sizeof(f->errbuf)),
	                 -EINVAL);
	assert_non_null(strstr(f->errbuf, "oidc"));
}

/* --- Images ------------------------------------------------------------------------------------
 */

static void test_images(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, written_by_cli), 0);
	/* An alias of the connected server. */
	assert_int_equal(pikaci_incus_image_resolve(&f->config, NULL, "pikaci-lane", NULL, NULL,
	                                            &f->image, f->errbuf, sizeof(f->errbuf)),
	                 0);
	assert_string_equal(f->image.alias, "pikaci-lane");
	assert_null(f->image.server);
	pikaci_incus_image_clear(&f->image);
	/* REMOTE:ALIAS on an image server: pulled from there. */
	assert_int_equal(pikaci_incus_image_resolve(&f->config, "cluster", "images:debian/12", NULL,
	                                            NULL, &f->image, f->errbuf, sizeof(f->errbuf)),
	                 0);
	assert_string_equal(f->image.alias, "debian/12");
	assert_string_equal(f->image.server, "https://images.example.org");
	assert_string_equal(f->image.protocol, "simplestreams");
	pikaci_incus_image_clear(&f->image);
	/* REMOTE:ALIAS on the server connected to: its own alias. */
	assert_int_equal(pikaci_incus_image_resolve(&f->config, "cluster", "cluster:lane", NULL,
	                                            NULL, &f->image, f->errbuf, sizeof(f->errbuf)),
	                 0);
	assert_string_equal(f->image.alias, "lane");
	assert_null(f->image.server);
	pikaci_incus_image_clear(&f->image);
	/* A private Incus server cannot be pulled from without a secret. */
	assert_int_equal(pikaci_incus_image_resolve(&f->config, "local", "cluster:lane", NULL, NULL,
	                                            &f->image, f->errbuf, sizeof(f->errbuf)),
	                 -EINVAL);
	assert_non_null(strstr(f->errbuf, "config.yml:3: remote \"cluster\" is a private"));
	assert_int_equal(pikaci_incus_image_resolve(&f->config, NULL, "nowhere:lane", NULL, NULL,
	                                            &f->image, f->errbuf, sizeof(f->errbuf)),
	                 -ENOENT);
	assert_non_null(strstr(f->errbuf, "no remote called \"nowhere\""));
	assert_int_equal(pikaci_incus_image_resolve(&f->config, NULL, "images:", NULL, NULL,
	                                            &f->image, f->errbuf, sizeof(f->errbuf)),
	                 -EINVAL);
	/* --image-server and its protocol. */
	assert_int_equal(pikaci_incus_image_resolve(NULL, NULL, "nixos/25.05",
	                                            "https://mirror.example", NULL, &f->image,
	                                            f->errbuf, sizeof(f->errbuf)),
	                 0);
	assert_string_equal(f->image.server, "https://mirror.example");
	assert_string_equal(f->image.protocol, "simplestreams");
	pikaci_incus_image_clear(&f->image);
	assert_int_equal(pikaci_incus_image_resolve(NULL, NULL, "lane", "https://other:8443",
	                                            "incus", &f->image, f->errbuf,
	                                            sizeof(f->errbuf)),
	                 0);
	assert_string_equal(f->image.protocol, "incus");
	pikaci_incus_image_clear(&f->image);
	assert_int_equal(pikaci_incus_image_resolve(&f->config, NULL, "images:x",
	                                            "https://mirror.example", NULL, &f->image,
	                                            f->errbuf, sizeof(f->errbuf)),
	                 -EINVAL);
	assert_non_null(strstr(f->errbuf, "two servers"));
	assert_false(pikaci_incus_image_has_remote(":x"));
	assert_false(pikaci_incus_image_has_remote("x"));
	assert_true(pikaci_incus_image_has_remote("r:x"));
}

/* --- Options -----------------------------------------------------------------------------------
 */

/* --target round-robin, shared with forked workers. */
static void test_targets(void **state)
{
	struct pikaci_incus_options options = { 0 };
	const char *expected[] = { "m1", "@gpu", "m1", "@gpu" };
	int status;
	pid_t pid;

	(void)state;
	assert_null(pikaci_incus_target_next(&options));
	pikaci_incus_option_set(&options, PIKACI_INCUS_OPTION_TARGET, "m1");
	pikaci_incus_option_set(&options, PIKACI_INCUS_OPTION_TARGET, "@gpu");
	assert_int_equal(options.n_targets, 2);
	assert_null(pikaci_incus_options_problem(&options));
	assert_string_equal(pikaci_incus_target_next(&options), expected[0]);
	/* A worker takes the next turn; the program sees that it was taken. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(strcmp(pikaci_incus_target_next(&options), expected[1]) == 0 ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_string_equal(pikaci_incus_target_next(&options), expected[2]);
	assert_string_equal(pikaci_incus_target_next(&options), expected[3]);
	for (int i = 2; i <= PIKACI_INCUS_TARGETS_MAX; i++)
		pikaci_incus_option_set(&options, PIKACI_INCUS_OPTION_TARGET, "m");
	assert_string_equal(pikaci_incus_options_problem(&options), "at most 64 --target");
	assert_null(pikaci_incus_target_next(&options));
}

static void test_option_problems(void **state)
{
	static const struct {
		int which;
		const char *value;
		const char *problem;
	} cases[] = {
		{ PIKACI_INCUS_OPTION_INSTANCE_TYPE, "vm", "container or virtual-machine" },
		{ PIKACI_INCUS_OPTION_IMAGE_PROTOCOL, "lxd", "simplestreams or incus" },
		{ PIKACI_INCUS_OPTION_IMAGE_PROTOCOL, "incus", "goes with --image-server" },
		{ PIKACI_INCUS_OPTION_IMAGE_SERVER, "http://plain", "https:// URL" },
		{ PIKACI_INCUS_OPTION_SOCKET, "/s", "--remote names the server" },
		{ PIKACI_INCUS_OPTION_TARGET, "", "cluster member or @group" },
		{ PIKACI_INCUS_OPTION_TARGET, "@", "cluster member or @group" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pikaci_incus_options options = { 0 };

		if (cases[i].which == PIKACI_INCUS_OPTION_SOCKET)
			options.remote = "r";
		pikaci_incus_option_set(&options, cases[i].which, cases[i].value);
		assert_non_null(pikaci_incus_options_problem(&options));
		assert_non_null(strstr(pikaci_incus_options_problem(&options), cases[i].problem));
		assert_true(pikaci_incus_options_given(&options));
	}
	{
		struct pikaci_incus_options options = { .instance = "c1",
			                                .instance_type = "container" };

		assert_non_null(strstr(pikaci_incus_options_problem(&options), "existing one"));
	}
}

/* The options resolved: --remote to a socket, its project unless --project says otherwise. */
static void test_resolve(void **state)
{
	struct fixture *f = *state;
	struct pikaci_incus_options options = { .remote = "there", .image = "images:debian/12" };
	struct pikaci_incus_options resolved;

	file_write(f, "config.yml",
	           "default-remote: there\n"
	           "remotes:\n"
	           "  there:\n"
	           "    addr: unix:///srv/incus.socket\n"
	           "    project: p\n"
	           "  images:\n"
	           "    addr: https://images.example.org\n"
	           "    protocol: simplestreams\n"
	           "    public: true\n");
	setenv("INCUS_CONF", f->dir, 1);
	assert_int_equal(pikaci_incus_options_resolve(&options, &resolved, &f->connection,
	                                              &f->image, f->errbuf, sizeof(f->errbuf)),
	                 0);
	assert_string_equal(resolved.socket, "/srv/incus.socket");
	assert_string_equal(resolved.project, "p");
	assert_string_equal(resolved.image, "debian/12");
	assert_string_equal(f->image.server, "https://images.example.org");
	pikaci_incus_connection_clear(&f->connection);
	pikaci_incus_image_clear(&f->image);
	/* No --remote: the default remote, as the incus CLI; --project wins. */
	options.remote = NULL;
	options.project = "mine";
	options.image = "lane";
	assert_int_equal(pikaci_incus_options_resolve(&options, &resolved, &f->connection,
	                                              &f->image, f->errbuf, sizeof(f->errbuf)),
	                 0);
	assert_string_equal(resolved.socket, "/srv/incus.socket");
	assert_string_equal(resolved.project, "mine");
	pikaci_incus_connection_clear(&f->connection);
	pikaci_incus_image_clear(&f->image);
	/* --socket: the configuration is not used. */
	options.socket = "/given.socket";
	assert_int_equal(pikaci_incus_options_resolve(&options, &resolved, &f->connection,
	                                              &f->image, f->errbuf, sizeof(f->errbuf)),
	                 0);
	assert_string_equal(resolved.socket, "/given.socket");
	pikaci_incus_connection_clear(&f->connection);
	pikaci_incus_image_clear(&f->image);
	options.socket = NULL;
	options.remote = "missing";
	assert_int_equal(pikaci_incus_options_resolve(&options, &resolved, &f->connection,
	                                              &f->image, f->errbuf, sizeof(f->errbuf)),
	                 -ENOENT);
	assert_non_null(strstr(f->errbuf, "no remote called \"missing\""));
	unsetenv("INCUS_CONF");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_written_by_cli, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edited_by_hand, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unix_remotes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_https_remotes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_images, setup, teardown),
		cmocka_unit_test_setup_teardown(test_targets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_option_problems, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

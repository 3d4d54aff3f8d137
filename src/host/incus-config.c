/* SPDX-License-Identifier: MIT */
/*
 * incus-config.c - the user's Incus client configuration (config.yml, certificates) read as the
 * `incus` CLI reads it, image sources and cluster placement. No HTTP here: the transport asks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "incus-config.h"
#include "shared.h"

#define DEFAULT_SOCKET "/var/lib/incus/unix.socket"

static int fail(int code, char *errbuf, size_t errsize, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int fail(int code, char *errbuf, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	if (errbuf && errsize) {
		va_start(ap, fmt);
		vsnprintf(errbuf, errsize, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* --- A YAML subset: block mappings of scalars ---------------------------------------------- */

/* One "key: value" or "key:" line; a node with no value is a mapping of the lines under it. */
struct node {
	char *key;
	char *value; /* NULL: a mapping (its children follow it, deeper) */
	int parent;  /* index of the parent node, -1 for the top level */
	int indent;  /* of its own line; for a mapping, children_indent is that of its children */
	int children_indent;
	unsigned line;
};

struct tree {
	struct node *nodes;
	size_t count, capacity;
};

static void tree_clear(struct tree *tree)
{
	for (size_t i = 0; i < tree->count; i++) {
		free(tree->nodes[i].key);
		free(tree->nodes[i].value);
	}
	free(tree->nodes);
	memset(tree, 0, sizeof(*tree));
}

/* Where the parser is, for its errors. */
struct cursor {
	const char *file;
	unsigned line;
	char *errbuf;
	size_t errsize;
};

static int syntax(const struct cursor *c, const char *why)
{
	return fail(-EBADMSG, c->errbuf, c->errsize, "%s:%u: %s", c->file, c->line, why);
}

/*
 * A scalar starting at *p (up to end): plain (to a " #" comment or the end), 'single' ('' is
 * a quote) or "double" (\\ \" \n \t \/ escapes) quoted. In a key, plain stops at ": " or a
 * final ':'. *p moves past it. A copy in *ret, or a negative code (said).
 */
static int scalar_parse(const struct cursor *c, const char **p, const char *end, bool key,
                        char **ret)
{
	struct buffer out = { 0 };
	const char *s = *p;
	int r = 0;

	if (s < end && (*s == '\'' || *s == '"')) {
		char quote = *s++;

		for (;;) {
			if (s >= end) {
				r = syntax(c, "a quoted scalar is not closed on its line");
				goto out;
			}
			if (*s == quote && quote == '\'' && s + 1 < end && s[1] == '\'') {
				r = buffer_append(&out, "'", 1);
				s += 2;
			} else if (*s == quote) {
				s++;
				break;
			} else if (quote == '"' && *s == '\\') {
				static const char from[] = "\\\"/nt", to[] = "\\\"/\n\t";
				const char *which = s + 1 < end ? memchr(from, s[1], 5) : NULL;

				if (!which) {
					r = syntax(c,
					           "an escape in a double-quoted scalar that this "
					           "reader does not know");
					goto out;
				}
				r = buffer_append(&out, &to[which - from], 1);
				s += 2;
			} else {
				r = buffer_append(&out, s++, 1);
			}
			if (r < 0)
				goto out;
		}
	} else {
		const char *start = s, *stop;

		while (s < end && !(*s == '#' && s > start && (s[-1] == ' ' || s[-1] == '\t')) &&
		       !(key && *s == ':' && (s + 1 == end || s[1] == ' ' || s[1] == '\t')))
			s++;
		stop = s;
		while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
			stop--;
		if (stop > start && strchr("[]{}&*!|>%@`", *start)) {
			r = syntax(c,
			           "lists, flow collections, anchors, tags and block scalars are "
			           "not read here (only mappings of plain or quoted scalars)");
			goto out;
		}
		r = buffer_append(&out, start, (size_t)(stop - start));
	}
	/* No NUL can be in it: lines holding one are refused before they are read. */
	if (r == 0 && !out.data)
		r = buffer_append(&out, "", 0);
	if (r < 0)
		goto out;
	*p = s;
	*ret = buffer_steal(&out, NULL);
	return 0;
out:
	buffer_clear(&out);
	return r == -ENOMEM ? fail(-ENOMEM, c->errbuf, c->errsize, "out of memory") : r;
}

/* Skips blanks; true when only a comment or nothing is left. */
static bool rest_empty(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	return *p == end || **p == '#';
}

/* The top level's indentation: that of its first key (0 when there is none yet). */
static int top_indent(const struct tree *tree)
{
	for (size_t i = 0; i < tree->count; i++)
		if (tree->nodes[i].parent < 0)
			return tree->nodes[i].indent;
	return 0;
}

/*
 * The mapping a line indented by `indent` belongs to (-1: the top level), from the last line
 * read: the mapping that line opened when this one is deeper, else the innermost mapping whose
 * children sit at exactly this indentation. -EBADMSG when there is none.
 */
static int tree_parent(struct tree *tree, int indent, int *ret_parent)
{
	int last = (int)tree->count - 1, parent;

	if (last >= 0 && !tree->nodes[last].value && tree->nodes[last].children_indent < 0 &&
	    indent > tree->nodes[last].indent) {
		tree->nodes[last].children_indent = indent;
		*ret_parent = last;
		return 0;
	}
	parent = last >= 0 ? tree->nodes[last].parent : -1;
	while (parent >= 0 && indent < tree->nodes[parent].children_indent)
		parent = tree->nodes[parent].parent;
	if (indent != (parent >= 0 ? tree->nodes[parent].children_indent : top_indent(tree)))
		return -EBADMSG;
	*ret_parent = parent;
	return 0;
}

/* One non-empty line (without its newline) into the tree. */
static int line_parse(const struct cursor *c, const char *s, const char *end, struct tree *tree)
{
	struct node node = { .parent = -1, .children_indent = -1, .line = c->line };
	const char *p = s, *after;
	int indent, parent, depth = 0, r;

	while (p < end && *p == ' ')
		p++;
	if (p < end && *p == '\t')
		return syntax(c, "a tab in the indentation (YAML indents with spaces)");
	indent = (int)(p - s);
	after = p + 3;
	if (indent == 0 && end - p >= 3 && memcmp(p, "---", 3) == 0 && rest_empty(&after, end))
		return tree->count == 0 ? 0 : syntax(c, "a second YAML document");
	if (tree_parent(tree, indent, &parent) < 0)
		return syntax(c, "the indentation matches no mapping above (a value cannot "
		                 "continue on the next line)");
	for (int up = parent; up >= 0; up = tree->nodes[up].parent)
		depth++;
	if (depth >= PIKACI_INCUS_CONFIG_DEPTH_MAX)
		return fail(-EFBIG, c->errbuf, c->errsize, "%s:%u: nested deeper than %d mappings",
		            c->file, c->line, PIKACI_INCUS_CONFIG_DEPTH_MAX);
	if (p < end && *p == '-' && (p + 1 == end || p[1] == ' '))
		return syntax(c, "a list item (config.yml has none where this reader looks)");
	r = scalar_parse(c, &p, end, true, &node.key);
	if (r < 0)
		return r;
	if (p >= end || *p != ':' || node.key[0] == '\0') {
		free(node.key);
		return syntax(c, "not a \"key: value\" line");
	}
	p++;
	for (size_t i = 0; i < tree->count; i++)
		if (tree->nodes[i].parent == parent && strcmp(tree->nodes[i].key, node.key) == 0) {
			free(node.key);
			return syntax(c, "a key given twice in one mapping");
		}
	if (!rest_empty(&p, end)) {
		if (end - p >= 2 && p[0] == '{' && p[1] == '}') {
			p += 2;
			if (!rest_empty(&p, end)) {
				free(node.key);
				return syntax(c, "text after {}");
			}
		} else {
			r = scalar_parse(c, &p, end, false, &node.value);
			if (r == 0 && !rest_empty(&p, end))
				r = syntax(c, "text after a quoted scalar");
			if (r < 0) {
				free(node.key);
				free(node.value);
				return r;
			}
		}
	}
	if (tree->count >= PIKACI_INCUS_CONFIG_NODES_MAX) {
		free(node.key);
		free(node.value);
		return fail(-EFBIG, c->errbuf, c->errsize, "%s:%u: more than %d entries", c->file,
		            c->line, PIKACI_INCUS_CONFIG_NODES_MAX);
	}
	if (ARRAY_GROW(tree->nodes, tree->capacity, tree->count + 1) < 0) {
		free(node.key);
		free(node.value);
		return fail(-ENOMEM, c->errbuf, c->errsize, "out of memory");
	}
	node.parent = parent;
	node.indent = indent;
	tree->nodes[tree->count] = node;
	tree->count++;
	return 0;
}

static int tree_parse(const char *text, size_t length, struct cursor *c, struct tree *tree)
{
	const char *p = text, *end = text + length;
	int r;

	if (length > PIKACI_INCUS_CONFIG_MAX)
		return fail(-EFBIG, c->errbuf, c->errsize, "%s: larger than %u bytes", c->file,
		            PIKACI_INCUS_CONFIG_MAX);
	/* A UTF-8 byte order mark is allowed, as YAML allows it. */
	if (length >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	for (c->line = 1; p < end; c->line++) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *q = p;
		size_t n;

		eol = eol ? eol : end;
		n = (size_t)(eol - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > PIKACI_INCUS_CONFIG_LINE_MAX)
			return fail(-EFBIG, c->errbuf, c->errsize,
			            "%s:%u: a line longer than %d bytes", c->file, c->line,
			            PIKACI_INCUS_CONFIG_LINE_MAX);
		if (memchr(p, '\0', n))
			return syntax(c, "a NUL byte");
		/* YAML is UTF-8, and what it holds goes into messages: jansson checks it. */
		if (n > 0) {
			json_t *probe = json_stringn(p, n);

			if (!probe)
				return syntax(c, "a line that is not UTF-8");
			json_decref(probe);
		}
		if (!rest_empty(&q, p + n)) {
			r = line_parse(c, p, p + n, tree);
			if (r < 0)
				return r;
		}
		p = eol < end ? eol + 1 : end;
	}
	return 0;
}

/* --- config.yml --------------------------------------------------------------------------- */

static void remote_clear(struct pikaci_incus_remote *remote)
{
	free(remote->name);
	free(remote->addr);
	free(remote->protocol);
	free(remote->project);
	free(remote->auth_type);
	memset(remote, 0, sizeof(*remote));
}

void pikaci_incus_config_clear(struct pikaci_incus_config *config)
{
	if (!config)
		return;
	for (size_t i = 0; i < config->n_remotes; i++)
		remote_clear(&config->remotes[i]);
	free(config->remotes);
	free(config->dir);
	free(config->path);
	free(config->default_remote);
	memset(config, 0, sizeof(*config));
}

const struct pikaci_incus_remote *pikaci_incus_config_remote(const struct pikaci_incus_config *c,
                                                             const char *name)
{
	for (size_t i = 0; c && name && i < c->n_remotes; i++)
		if (strcmp(c->remotes[i].name, name) == 0)
			return &c->remotes[i];
	return NULL;
}

static int dup_or_null(const char *value, char **ret)
{
	*ret = value ? strdup(value) : NULL;
	return value && !*ret ? -ENOMEM : 0;
}

/* One remote: NAME: {addr, protocol, public, project, auth_type} (others are the CLI's). */
static int remote_read(const struct tree *tree, int index, struct cursor *c,
                       struct pikaci_incus_remote *ret)
{
	const struct node *remote = &tree->nodes[index];
	const char *addr = NULL, *protocol = "incus", *project = NULL, *auth_type = NULL;
	struct pikaci_incus_remote out = { .line = remote->line };
	int r;

	c->line = remote->line;
	if (remote->value)
		return syntax(c, "a remote must be a mapping (addr:, protocol:, ...)");
	for (size_t i = 0; i < tree->count; i++) {
		const struct node *n = &tree->nodes[i];

		if (n->parent != index)
			continue;
		c->line = n->line;
		if (strcmp(n->key, "addr") == 0 || strcmp(n->key, "protocol") == 0 ||
		    strcmp(n->key, "public") == 0 || strcmp(n->key, "project") == 0 ||
		    strcmp(n->key, "auth_type") == 0) {
			if (!n->value)
				return syntax(c, "this member of a remote must be a scalar");
		}
		if (strcmp(n->key, "addr") == 0) {
			addr = n->value;
		} else if (strcmp(n->key, "protocol") == 0) {
			protocol = n->value;
			if (strcmp(protocol, "incus") != 0 &&
			    strcmp(protocol, "simplestreams") != 0)
				return syntax(c, "protocol must be incus or simplestreams");
		} else if (strcmp(n->key, "public") == 0) {
			if (strcmp(n->value, "true") == 0)
				out.public = true;
			else if (strcmp(n->value, "false") != 0)
				return syntax(c, "public must be true or false");
		} else if (strcmp(n->key, "project") == 0) {
			project = n->value[0] ? n->value : NULL;
		} else if (strcmp(n->key, "auth_type") == 0) {
			auth_type = n->value[0] ? n->value : NULL;
		}
	}
	c->line = remote->line;
	if (!addr || !addr[0])
		return syntax(c, "a remote without addr:");
	if (strncmp(addr, "unix:", 5) != 0 && strncmp(addr, "https://", 8) != 0)
		return syntax(c, "addr must be unix://[PATH] or https://HOST[:PORT]");
	r = dup_or_null(remote->key, &out.name);
	if (r == 0)
		r = dup_or_null(addr, &out.addr);
	if (r == 0)
		r = dup_or_null(protocol, &out.protocol);
	if (r == 0)
		r = dup_or_null(project, &out.project);
	if (r == 0)
		r = dup_or_null(auth_type, &out.auth_type);
	if (r < 0) {
		remote_clear(&out);
		return fail(-ENOMEM, c->errbuf, c->errsize, "out of memory");
	}
	*ret = out;
	return 0;
}

int pikaci_incus_config_parse(const char *text, size_t length, const char *file,
                              struct pikaci_incus_config *ret_config, char *errbuf, size_t errsize)
{
	struct cursor c = { .file = file ? file : "config.yml",
		            .errbuf = errbuf,
		            .errsize = errsize };
	struct pikaci_incus_config config = { 0 };
	struct tree tree = { 0 };
	size_t capacity = 0;
	int remotes = -1, r;

	r = tree_parse(text, length, &c, &tree);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < tree.count; i++) {
		const struct node *n = &tree.nodes[i];

		if (n->parent >= 0)
			continue;
		c.line = n->line;
		if (strcmp(n->key, "default-remote") == 0) {
			if (!n->value || !n->value[0]) {
				r = syntax(&c, "default-remote must name a remote");
				goto out;
			}
			free(config.default_remote);
			if (dup_or_null(n->value, &config.default_remote) < 0) {
				r = fail(-ENOMEM, errbuf, errsize, "out of memory");
				goto out;
			}
		} else if (strcmp(n->key, "remotes") == 0) {
			if (n->value && n->value[0]) {
				r = syntax(&c, "remotes must be a mapping of names to remotes");
				goto out;
			}
			remotes = (int)i;
		}
	}
	for (size_t i = 0; remotes >= 0 && i < tree.count; i++) {
		if (tree.nodes[i].parent != remotes)
			continue;
		if (ARRAY_GROW(config.remotes, capacity, config.n_remotes + 1) < 0) {
			r = fail(-ENOMEM, errbuf, errsize, "out of memory");
			goto out;
		}
		r = remote_read(&tree, (int)i, &c, &config.remotes[config.n_remotes]);
		if (r < 0)
			goto out;
		config.n_remotes++;
	}
	if (!pikaci_incus_config_remote(&config, "local")) {
		struct pikaci_incus_remote local = { 0 };

		if (ARRAY_GROW(config.remotes, capacity, config.n_remotes + 1) < 0 ||
		    dup_or_null("local", &local.name) < 0 ||
		    dup_or_null("unix://", &local.addr) < 0 ||
		    dup_or_null("incus", &local.protocol) < 0) {
			remote_clear(&local);
			r = fail(-ENOMEM, errbuf, errsize, "out of memory");
			goto out;
		}
		config.remotes[config.n_remotes++] = local;
	}
	if (!config.default_remote && dup_or_null("local", &config.default_remote) < 0) {
		r = fail(-ENOMEM, errbuf, errsize, "out of memory");
		goto out;
	}
	*ret_config = config;
	memset(&config, 0, sizeof(config));
	r = 0;
out:
	pikaci_incus_config_clear(&config);
	tree_clear(&tree);
	return r;
}

/* The configuration folder as the CLI finds it; NULL when there is no home to look in. */
static char *config_dir_new(void)
{
	const char *conf = getenv("INCUS_CONF"), *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char *dir = NULL;

	if (conf && conf[0])
		return strdup(conf);
	if (xdg && xdg[0] == '/')
		return asprintf(&dir, "%s/incus", xdg) < 0 ? NULL : dir;
	if (home && home[0])
		return asprintf(&dir, "%s/.config/incus", home) < 0 ? NULL : dir;
	return NULL;
}

int pikaci_incus_config_load(const char *dir, struct pikaci_incus_config *ret_config, char *errbuf,
                             size_t errsize)
{
	struct pikaci_incus_config config = { 0 };
	const char *remote = getenv("INCUS_REMOTE");
	char *folder = dir ? strdup(dir) : config_dir_new(), *path = NULL, *text = NULL;
	size_t length = 0;
	int r;

	if (!folder) {
		r = dir ? fail(-ENOMEM, errbuf, errsize, "out of memory")
		        : fail(-ENOENT, errbuf, errsize,
		               "no Incus client configuration: neither $INCUS_CONF nor $HOME is "
		               "set");
		goto out;
	}
	if (asprintf(&path, "%s/config.yml", folder) < 0) {
		path = NULL;
		r = fail(-ENOMEM, errbuf, errsize, "out of memory");
		goto out;
	}
	r = read_file(path, PIKACI_INCUS_CONFIG_MAX + 1, &text, &length);
	if (r == -ENOENT) {
		text = NULL;
		length = 0;
	} else if (r < 0) {
		r = fail(r == -EFBIG ? r : -EIO, errbuf, errsize, "%s: %s", path,
		         r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
		goto out;
	}
	r = pikaci_incus_config_parse(text ? text : "", length, path, &config, errbuf, errsize);
	if (r < 0)
		goto out;
	if (remote && remote[0]) {
		free(config.default_remote);
		config.default_remote = strdup(remote);
		if (!config.default_remote) {
			r = fail(-ENOMEM, errbuf, errsize, "out of memory");
			goto out;
		}
	}
	config.from_file = text != NULL;
	config.dir = folder;
	config.path = path;
	folder = path = NULL;
	*ret_config = config;
	memset(&config, 0, sizeof(config));
	r = 0;
out:
	pikaci_incus_config_clear(&config);
	free(folder);
	free(path);
	free(text);
	return r;
}

/* --- Connections ---------------------------------------------------------------------------- */

void pikaci_incus_connection_clear(struct pikaci_incus_connection *connection)
{
	if (!connection)
		return;
	free(connection->name);
	free(connection->socket);
	free(connection->url);
	free(connection->cert);
	free(connection->key);
	free(connection->ca);
	free(connection->project);
	memset(connection, 0, sizeof(*connection));
}

/* A copy of dir/name when it exists (*ret NULL when not); -ENOMEM. */
static int config_file(const char *dir, const char *name, char **ret)
{
	char *path = NULL;

	*ret = NULL;
	if (asprintf(&path, "%s/%s", dir ? dir : ".", name) < 0)
		return -ENOMEM;
	if (access(path, R_OK) == 0)
		*ret = path;
	else
		free(path);
	return 0;
}

static int unix_socket_new(const char *addr, char **ret)
{
	const char *path = addr + strlen("unix:"), *env = getenv("INCUS_SOCKET");
	const char *incus_dir = getenv("INCUS_DIR");

	if (strncmp(path, "//", 2) == 0)
		path += 2;
	if (path[0])
		*ret = strdup(path);
	else if (env && env[0])
		*ret = strdup(env);
	else if (incus_dir && incus_dir[0])
		return asprintf(ret, "%s/unix.socket", incus_dir) < 0 ? -ENOMEM : 0;
	else
		*ret = strdup(DEFAULT_SOCKET);
	return *ret ? 0 : -ENOMEM;
}

int pikaci_incus_connection_resolve(const struct pikaci_incus_config *config, const char *name,
                                    struct pikaci_incus_connection *ret, char *errbuf,
                                    size_t errsize)
{
	const struct pikaci_incus_remote *remote = pikaci_incus_config_remote(config, name);
	struct pikaci_incus_connection out = { 0 };
	const char *file = config && config->path ? config->path : "config.yml";
	char *servercert = NULL;
	int r;

	if (!remote)
		return fail(-ENOENT, errbuf, errsize, "%s: no remote called \"%s\"", file,
		            name ? name : "");
	if (remote->public || strcmp(remote->protocol, "simplestreams") == 0)
		return fail(-EINVAL, errbuf, errsize,
		            "%s:%u: remote \"%s\" is an image server, not an Incus server to run "
		            "instances on (use it as --incus-image %s:ALIAS)",
		            file, remote->line, remote->name, remote->name);
	if (remote->auth_type && strcmp(remote->auth_type, "tls") != 0)
		return fail(-EINVAL, errbuf, errsize,
		            "%s:%u: remote \"%s\" authenticates with %s; only tls (a client "
		            "certificate) is supported",
		            file, remote->line, remote->name, remote->auth_type);
	if (dup_or_null(remote->name, &out.name) < 0 ||
	    dup_or_null(remote->project, &out.project) < 0)
		goto out;
	if (strncmp(remote->addr, "unix:", 5) == 0) {
		r = unix_socket_new(remote->addr, &out.socket);
		if (r < 0)
			goto out;
	} else {
		char *servercert_name = NULL;

		if (dup_or_null(remote->addr, &out.url) < 0 ||
		    config_file(config->dir, "client.crt", &out.cert) < 0 ||
		    config_file(config->dir, "client.key", &out.key) < 0 ||
		    asprintf(&servercert_name, "servercerts/%s.crt", remote->name) < 0)
			goto out;
		r = config_file(config->dir, servercert_name, &servercert);
		free(servercert_name);
		if (r < 0)
			goto out;
		if (!out.cert || !out.key) {
			r = fail(-EINVAL, errbuf, errsize,
			         "remote \"%s\" (%s) needs the client certificate and key "
			         "%s/client.crt "
			         "and %s/client.key (incus remote add makes them)",
			         remote->name, remote->addr, config->dir ? config->dir : ".",
			         config->dir ? config->dir : ".");
			goto clear;
		}
		if (servercert) {
			out.ca = servercert;
			out.pinned = true;
			servercert = NULL;
		} else if (config_file(config->dir, "client.ca", &out.ca) < 0) {
			goto out;
		}
	}
	*ret = out;
	return 0;
out:
	r = fail(-ENOMEM, errbuf, errsize, "out of memory");
clear:
	free(servercert);
	pikaci_incus_connection_clear(&out);
	return r;
}

/* --- Images --------------------------------------------------------------------------------- */

void pikaci_incus_image_clear(struct pikaci_incus_image *image)
{
	if (!image)
		return;
	free(image->alias);
	free(image->server);
	free(image->protocol);
	memset(image, 0, sizeof(*image));
}

bool pikaci_incus_image_has_remote(const char *image)
{
	const char *colon = image ? strchr(image, ':') : NULL;

	return colon && colon > image;
}

static int image_set(const char *alias, const char *server, const char *protocol,
                     struct pikaci_incus_image *ret, char *errbuf, size_t errsize)
{
	struct pikaci_incus_image out = { 0 };

	if (!alias[0])
		return fail(-EINVAL, errbuf, errsize, "the image has no alias after its remote");
	if (dup_or_null(alias, &out.alias) < 0 || dup_or_null(server, &out.server) < 0 ||
	    dup_or_null(server ? protocol : NULL, &out.protocol) < 0) {
		pikaci_incus_image_clear(&out);
		return fail(-ENOMEM, errbuf, errsize, "out of memory");
	}
	*ret = out;
	return 0;
}

int pikaci_incus_image_resolve(const struct pikaci_incus_config *config, const char *connected,
                               const char *image, const char *image_server,
                               const char *image_protocol, struct pikaci_incus_image *ret,
                               char *errbuf, size_t errsize)
{
	const struct pikaci_incus_remote *remote;
	const char *colon;
	char *name = NULL;
	int r;

	if (!image)
		return fail(-EINVAL, errbuf, errsize, "no image");
	if (image_server)
		return pikaci_incus_image_has_remote(image)
		               ? fail(-EINVAL, errbuf, errsize,
		                      "--image-server %s and the image %s name two servers",
		                      image_server, image)
		               : image_set(image, image_server,
		                           image_protocol ? image_protocol : "simplestreams", ret,
		                           errbuf, errsize);
	if (!pikaci_incus_image_has_remote(image))
		return image_set(image, NULL, NULL, ret, errbuf, errsize);
	colon = strchr(image, ':');
	name = strndup(image, (size_t)(colon - image));
	if (!name)
		return fail(-ENOMEM, errbuf, errsize, "out of memory");
	remote = pikaci_incus_config_remote(config, name);
	if (!remote) {
		r = fail(-ENOENT, errbuf, errsize, "%s: no remote called \"%s\" (for the image %s)",
		         config && config->path ? config->path : "the Incus client configuration",
		         name, image);
	} else if (connected && strcmp(connected, name) == 0) {
		r = image_set(colon + 1, NULL, NULL, ret, errbuf, errsize);
	} else if (!remote->public && strcmp(remote->protocol, "simplestreams") != 0) {
		r = fail(-EINVAL, errbuf, errsize,
		         "%s:%u: remote \"%s\" is a private Incus server: the daemon cannot pull "
		         "from it without a secret (copy the image first: incus image copy %s "
		         "TARGET:)",
		         config->path ? config->path : "config.yml", remote->line, name, image);
	} else if (strncmp(remote->addr, "https://", 8) != 0) {
		r = fail(-EINVAL, errbuf, errsize, "remote \"%s\" (%s) is not an image server URL",
		         name, remote->addr);
	} else {
		r = image_set(colon + 1, remote->addr, remote->protocol, ret, errbuf, errsize);
	}
	free(name);
	return r;
}

/* --- Cluster placement ---------------------------------------------------------------------- */

void pikaci_incus_target_add(struct pikaci_incus_options *options, const char *target)
{
	if (!options->target_counter) {
		/* Forked workers share it: the program's cases are dealt out in turn. */
		void *shared = mmap(NULL, sizeof(unsigned), PROT_READ | PROT_WRITE,
		                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

		if (shared != MAP_FAILED)
			options->target_counter = shared;
	}
	if (options->n_targets < PIKACI_INCUS_TARGETS_MAX)
		options->targets[options->n_targets] = target;
	options->n_targets++;
}

const char *pikaci_incus_target_next(const struct pikaci_incus_options *options)
{
	static unsigned local_counter;
	unsigned *counter = options->target_counter ? options->target_counter : &local_counter;
	size_t n = options->n_targets;

	if (n == 0 || n > PIKACI_INCUS_TARGETS_MAX)
		return NULL;
	return options->targets[__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED) % n];
}

const char *pikaci_incus_placement_problem(const struct pikaci_incus_options *options)
{
	if (options->instance_type && strcmp(options->instance_type, "container") != 0 &&
	    strcmp(options->instance_type, "virtual-machine") != 0)
		return "--instance-type must be container or virtual-machine";
	if (options->image_protocol && strcmp(options->image_protocol, "simplestreams") != 0 &&
	    strcmp(options->image_protocol, "incus") != 0)
		return "--image-protocol must be simplestreams or incus";
	if (options->image_protocol && !options->image_server)
		return "--image-protocol goes with --image-server";
	if (options->image_server && strncmp(options->image_server, "https://", 8) != 0)
		return "--image-server must be an https:// URL";
	if (options->remote &&
	    (options->socket || options->url || options->cert || options->key || options->ca))
		return "--remote names the server and its certificates: not with --socket, --url, "
		       "--cert, --key or --ca";
	if (options->n_targets > PIKACI_INCUS_TARGETS_MAX)
		return "at most 64 --target";
	for (size_t i = 0; i < options->n_targets && i < PIKACI_INCUS_TARGETS_MAX; i++)
		if (!options->targets[i][0] || strcmp(options->targets[i], "@") == 0)
			return "--target needs a cluster member or @group";
	if (options->instance &&
	    (options->instance_type || options->image_server || options->n_targets > 0))
		return "--instance-type, --image-server and --target make a new instance: not with "
		       "an existing one (--incus)";
	return NULL;
}

/* --- The options, resolved ------------------------------------------------------------------ */

int pikaci_incus_options_resolve(const struct pikaci_incus_options *options,
                                 struct pikaci_incus_options *ret_resolved,
                                 struct pikaci_incus_connection *ret_connection,
                                 struct pikaci_incus_image *ret_image, char *errbuf, size_t errsize)
{
	struct pikaci_incus_options resolved = *options;
	struct pikaci_incus_connection connection = { 0 };
	struct pikaci_incus_image image = { 0 };
	struct pikaci_incus_config config = { 0 };
	bool given = options->socket || options->url;
	const char *remote = options->remote;
	int r = 0;

	if (remote || !given || pikaci_incus_image_has_remote(options->image)) {
		r = pikaci_incus_config_load(NULL, &config, errbuf, errsize);
		/* No home to look in: only a named remote needs one. */
		if (r == -ENOENT && !remote && !pikaci_incus_image_has_remote(options->image))
			r = 0;
		if (r < 0)
			goto out;
	}
	if (!remote && !given && config.from_file)
		remote = config.default_remote;
	if (remote) {
		r = pikaci_incus_connection_resolve(&config, remote, &connection, errbuf, errsize);
		if (r < 0)
			goto out;
		resolved.socket = connection.socket;
		resolved.url = connection.url;
		resolved.cert = connection.cert;
		resolved.key = connection.key;
		resolved.ca = connection.ca;
		resolved.ca_pinned = connection.pinned;
		if (!resolved.project)
			resolved.project = connection.project;
	}
	if (options->image) {
		/* Over the default socket, "local:ALIAS" is an alias of the server used. */
		r = pikaci_incus_image_resolve(&config,
		                               remote  ? remote
		                               : given ? NULL
		                                       : "local",
		                               options->image, options->image_server,
		                               options->image_protocol, &image, errbuf, errsize);
		if (r < 0)
			goto out;
		resolved.image = image.alias;
	}
	*ret_resolved = resolved;
	*ret_connection = connection;
	*ret_image = image;
	memset(&connection, 0, sizeof(connection));
	memset(&image, 0, sizeof(image));
out:
	pikaci_incus_connection_clear(&connection);
	pikaci_incus_image_clear(&image);
	pikaci_incus_config_clear(&config);
	return r;
}

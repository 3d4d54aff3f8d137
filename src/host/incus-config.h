/* SPDX-License-Identifier: MIT */
/*
 * incus-config.h - the user's Incus client configuration, read the way the `incus` CLI reads it,
 * and what the transport makes of it: which server, with which certificates, which image source
 * and which cluster member.
 *
 * The configuration folder is $INCUS_CONF, else $XDG_CONFIG_HOME/incus, else
 * ~/.config/incus. It holds config.yml (default-remote, remotes: NAME: {addr, protocol,
 * public, project, auth_type}), the client certificate client.crt and key client.key, and one
 * pinned server certificate per remote, servercerts/NAME.crt. config.yml is parsed by a small
 * YAML subset reader for exactly that shape: block mappings by indentation, plain, 'single'
 * and "double" quoted scalars, comments, and {} for an empty mapping; anything else (lists,
 * anchors, multi-line scalars, tabs in indentation) is refused with FILE:LINE and why.
 *
 * Ownership: _parse and _load fill a caller's struct, freed by _clear; out structs are
 * untouched on failure. Errors are negative codes with a sentence in errbuf.
 */
#ifndef PIKACI_INCUS_CONFIG_H
#define PIKACI_INCUS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "incus-api.h"
#include "transport.h"

/* Bounds of what is read: the file, a line, the nesting, the entries, the remotes. */
#define PIKACI_INCUS_CONFIG_MAX       (1u << 20)
#define PIKACI_INCUS_CONFIG_LINE_MAX  4096
#define PIKACI_INCUS_CONFIG_DEPTH_MAX 8
#define PIKACI_INCUS_CONFIG_NODES_MAX 4096

struct pikaci_incus_remote {
	char *name;
	char *addr;      /* "unix://", "unix:///path", "https://host:8443" */
	char *protocol;  /* "incus" (also when not given) or "simplestreams" */
	char *project;   /* NULL when not given */
	char *auth_type; /* NULL when not given */
	bool public;
	unsigned line; /* where it is defined; 0 for the built-in `local` */
};

struct pikaci_incus_config {
	char *dir;            /* the configuration folder */
	char *path;           /* its config.yml */
	char *default_remote; /* default-remote, or "local" */
	bool from_file;       /* config.yml was there (else only the built-in `local`) */
	struct pikaci_incus_remote *remotes;
	size_t n_remotes;
};

/*
 * Parses config.yml's text (length bytes, no NUL needed; `file` names it in errors). The
 * built-in remote `local` (unix://) is added unless the file defines it. -EBADMSG when the text
 * is not such a file (errbuf says "FILE:LINE: why"), -EFBIG beyond the bounds, -ENOMEM.
 */
int pikaci_incus_config_parse(const char *text, size_t length, const char *file,
                              struct pikaci_incus_config *ret_config, char *errbuf, size_t errsize);
/*
 * Reads the configuration folder (dir; NULL: found as the CLI does): its config.yml when there
 * is one, else only the built-in `local`. $INCUS_REMOTE overrides default-remote. 0, or
 * -ENOENT (none to read and dir was NULL), -EBADMSG, -EFBIG, -EIO, -ENOMEM.
 */
int pikaci_incus_config_load(const char *dir, struct pikaci_incus_config *ret_config, char *errbuf,
                             size_t errsize);
void pikaci_incus_config_clear(struct pikaci_incus_config *config);
/* The remote called name, borrowed, or NULL. */
const struct pikaci_incus_remote *pikaci_incus_config_remote(const struct pikaci_incus_config *c,
                                                             const char *name);

/* Where and how to reach an Incus server, as the transport's options say it. */
struct pikaci_incus_connection {
	char *name; /* the remote's name; NULL when given by --socket/--url */
	char *socket, *url, *cert, *key, *ca;
	bool pinned;   /* ca is the server's own certificate: any host name it carries will do */
	char *project; /* the remote's project unless --project said otherwise */
};

/*
 * The server of a remote of config: a unix:// one is a socket ($INCUS_SOCKET, else
 * $INCUS_DIR/unix.socket, else /var/lib/incus/unix.socket for "unix://"), an https:// one
 * needs client.crt and client.key in the folder and pins servercerts/NAME.crt when there is one
 * (else client.ca, else the system's CAs). An image server (public or simplestreams) or an
 * OIDC remote is refused. 0, -ENOENT (no such remote), -EINVAL (errbuf says why), -ENOMEM.
 */
int pikaci_incus_connection_resolve(const struct pikaci_incus_config *config, const char *name,
                                    struct pikaci_incus_connection *ret, char *errbuf,
                                    size_t errsize);
void pikaci_incus_connection_clear(struct pikaci_incus_connection *connection);

/* What an image argument ("ALIAS", "REMOTE:ALIAS") and --image-server/--image-protocol give. */
struct pikaci_incus_image {
	char *alias;
	char *server;   /* NULL: the connected server's own images */
	char *protocol; /* with server */
};

/*
 * Resolves an image: with image_server, ALIAS from that server (protocol: image_protocol, else
 * "simplestreams"); with "REMOTE:ALIAS", ALIAS on REMOTE of config (which needs a config), or
 * on the connected server when REMOTE is the one connected to (connected: its name, or NULL).
 * An image remote must be public or simplestreams: a private Incus server cannot serve a pull
 * without a secret. 0, -ENOENT (unknown remote), -EINVAL (errbuf says why), -ENOMEM.
 */
int pikaci_incus_image_resolve(const struct pikaci_incus_config *config, const char *connected,
                               const char *image, const char *image_server,
                               const char *image_protocol, struct pikaci_incus_image *ret,
                               char *errbuf, size_t errsize);
void pikaci_incus_image_clear(struct pikaci_incus_image *image);
/* Whether an image argument names a remote ("REMOTE:ALIAS"). */
bool pikaci_incus_image_has_remote(const char *image);

/*
 * --target: adds a cluster member or "@group" to options (up to PIKACI_INCUS_TARGETS_MAX; a
 * further one is refused by pikaci_incus_options_problem()). The first adds a counter shared
 * with the program's forked workers.
 */
void pikaci_incus_target_add(struct pikaci_incus_options *options, const char *target);
/*
 * The target of the next instance: round-robin over the options' targets in the order
 * instances are created across the program and its workers; NULL when there are none.
 */
const char *pikaci_incus_target_next(const struct pikaci_incus_options *options);

/*
 * What the transport connects to and creates, from options: a copy of them in *ret_resolved
 * with socket, url, cert, key, ca, ca_pinned and project set from the remote (--remote NAME;
 * without --remote, --socket or --url, the configuration's default remote when config.yml
 * exists; else as given), pointing into *ret_connection, and the image source in *ret_image.
 * The configuration is read only when a remote is named or config.yml exists. 0, or a
 * negative code with errbuf saying why; free both with their _clear.
 */
int pikaci_incus_options_resolve(const struct pikaci_incus_options *options,
                                 struct pikaci_incus_options *ret_resolved,
                                 struct pikaci_incus_connection *ret_connection,
                                 struct pikaci_incus_image *ret_image, char *errbuf,
                                 size_t errsize);

/* NULL when the options of this file go together, else what is wrong with them. */
const char *pikaci_incus_placement_problem(const struct pikaci_incus_options *options);

#endif

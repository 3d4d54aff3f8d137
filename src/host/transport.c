/* SPDX-License-Identifier: MIT */
/* transport.c - the exchange every transport shares: deliver, run, collect ([D1]-[D3]). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pikaci-contract.h"
#include "shared.h"
#include "incus-config.h"
#include "transport.h"

int pikaci_transport_fail(struct pikaci_transport *t, int code, const char *fmt, ...)
{
	va_list ap;

	/* The text may quote a server or a guest: valid UTF-8, cut on a character boundary. */
	va_start(ap, fmt);
	error_vformat(t->error, sizeof(t->error), code, fmt, ap);
	va_end(ap);
	return code;
}

const char *pikaci_transport_error(const struct pikaci_transport *t)
{
	return t->error;
}

void pikaci_transport_free(struct pikaci_transport *t)
{
	if (t)
		t->ops->free(t);
}

void pikaci_transport_result_clear(struct pikaci_transport_result *result)
{
	if (!result)
		return;
	free(result->out);
	free(result->err);
	memset(result, 0, sizeof(*result));
}

void pikaci_changes_free(struct pikaci_change *changes, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(changes[i].path);
	free(changes);
}

const char *pikaci_file_path(enum pikaci_file file)
{
	static const char *const paths[_PIKACI_FILE_MAX] = {
		[PIKACI_FILE_LOG] = PIKACI_LOG_PATH,
		[PIKACI_FILE_STATUS] = PIKACI_STATUS_PATH,
		[PIKACI_FILE_EVENTS] = PIKACI_EVENTS_PATH,
		[PIKACI_FILE_RESULT] = PIKACI_RESULT_PATH,
	};

	return (unsigned)file < _PIKACI_FILE_MAX ? paths[file] : NULL;
}

void pikaci_exchange_clear(struct pikaci_exchange *exchange)
{
	if (!exchange)
		return;
	pikaci_transport_result_clear(&exchange->run);
	for (int i = 0; i < _PIKACI_FILE_MAX; i++)
		free(exchange->files[i].bytes);
	memset(exchange, 0, sizeof(*exchange));
}

int pikaci_exchange(struct pikaci_transport *t, enum pikaci_delivery delivery, const char *request,
                    size_t request_length, char *const guest_argv[], double deadline,
                    pikaci_output_fn output, void *userdata, struct pikaci_exchange *ret)
{
	struct pikaci_exchange exchange = { 0 };
	char **argv = NULL;
	size_t argc = 0;
	int r;

	/* [D1]: the request at its fixed path (its folder made as needed). */
	switch (delivery) {
	case PIKACI_DELIVER_FILE:
		r = t->ops->deliver(t, PIKACI_REQUEST_PATH, request, request_length);
		break;
	case PIKACI_DELIVER_DIRECTORY:
		r = t->ops->make_dir(t, PIKACI_REQUEST_PATH);
		break;
	default:
		r = t->ops->make_dir(t, PIKACI_STATE_DIR);
		break;
	}
	if (r < 0)
		return r;

	/* [D2]: the guest command line, then the request path. */
	while (guest_argv[argc])
		argc++;
	argv = calloc(argc + 2, sizeof(*argv));
	if (!argv)
		return pikaci_transport_fail(t, -ENOMEM, "out of memory");
	memcpy(argv, guest_argv, argc * sizeof(*argv));
	if (delivery != PIKACI_DELIVER_NO_ARGUMENT)
		argv[argc] = PIKACI_REQUEST_PATH;
	r = t->ops->run(t, argv, deadline, output, userdata, &exchange.run);
	free(argv);
	if (r < 0)
		return r;

	/* [D3]: exactly these four files come back; a missing one is recorded, not fatal. */
	for (int i = 0; i < _PIKACI_FILE_MAX; i++) {
		exchange.files[i].error = t->ops->collect(
		        t, pikaci_file_path((enum pikaci_file)i), PIKACI_COLLECT_MAX,
		        &exchange.files[i].bytes, &exchange.files[i].length);
		if (exchange.files[i].error == -ENOMEM) {
			pikaci_exchange_clear(&exchange);
			return pikaci_transport_fail(t, -ENOMEM, "out of memory");
		}
	}
	*ret = exchange;
	return 0;
}

void pikaci_incus_option_set(struct pikaci_incus_options *options, int which, const char *value)
{
	const char **slots[_PIKACI_INCUS_OPTION_MAX] = {
		[PIKACI_INCUS_OPTION_SOCKET] = &options->socket,
		[PIKACI_INCUS_OPTION_URL] = &options->url,
		[PIKACI_INCUS_OPTION_CERT] = &options->cert,
		[PIKACI_INCUS_OPTION_KEY] = &options->key,
		[PIKACI_INCUS_OPTION_CA] = &options->ca,
		[PIKACI_INCUS_OPTION_PROJECT] = &options->project,
		[PIKACI_INCUS_OPTION_INSTANCE_TYPE] = &options->instance_type,
		[PIKACI_INCUS_OPTION_REMOTE] = &options->remote,
		[PIKACI_INCUS_OPTION_IMAGE_SERVER] = &options->image_server,
		[PIKACI_INCUS_OPTION_IMAGE_PROTOCOL] = &options->image_protocol,
		[PIKACI_INCUS_OPTION_ISOLATION] = &options->isolation_name,
	};

	if (which == PIKACI_INCUS_OPTION_TARGET)
		pikaci_incus_target_add(options, value);
	else if (which == PIKACI_INCUS_OPTION_INSTANCE_CONFIG) {
		/* Too many are counted: pikaci_incus_options_problem() says so. */
		if (options->n_instance_config < PIKACI_INCUS_INSTANCE_CONFIG_MAX)
			options->instance_config[options->n_instance_config] = value;
		options->n_instance_config++;
	} else if (which == PIKACI_INCUS_OPTION_ISOLATION) {
		/* One not known stays in isolation_name: pikaci_incus_options_problem() says so. */
		options->isolation_name = value;
		pikaci_incus_isolation_parse(value, &options->isolation);
	} else if (which >= 0 && which < _PIKACI_INCUS_OPTION_MAX)
		*slots[which] = value;
}

/* What is wrong with the --instance-config words, naming the bad one; NULL: nothing. */
static const char *instance_config_problem(const struct pikaci_incus_options *options)
{
	static const char key_characters[] = "abcdefghijklmnopqrstuvwxyz0123456789._-";
	static char problem[320];

	if (options->n_instance_config > PIKACI_INCUS_INSTANCE_CONFIG_MAX)
		return "at most 32 --instance-config";
	if (options->n_instance_config > 0 && options->instance)
		return "--instance-config makes a new instance: not with an existing one (--incus)";
	for (size_t i = 0; i < options->n_instance_config; i++) {
		const char *word = options->instance_config[i];
		const char *equals = strchr(word, '=');
		size_t key_length = equals ? (size_t)(equals - word) : 0;

		if (!equals)
			snprintf(problem, sizeof(problem),
			         "--instance-config '%.200s' is not KEY=VALUE", word);
		else if (key_length == 0)
			snprintf(problem, sizeof(problem), "--instance-config '%.200s' has no key",
			         word);
		else if (strspn(word, key_characters) != key_length)
			snprintf(problem, sizeof(problem),
			         "--instance-config '%.200s': a key is of a-z, 0-9, '.', '_' and "
			         "'-'",
			         word);
		else
			continue;
		return problem;
	}
	return NULL;
}

const char *pikaci_incus_options_problem(const struct pikaci_incus_options *options)
{
	const char *config_problem = instance_config_problem(options);

	if (config_problem)
		return config_problem;
	if (options->socket && options->url)
		return "give --socket or --url, not both";
	if (options->url && (!options->cert || !options->key))
		return "--url needs --cert and --key (a client certificate)";
	if (options->isolation_name &&
	    pikaci_incus_isolation_parse(options->isolation_name,
	                                 &(enum pikaci_incus_isolation){ 0 }) < 0)
		return "--incus-isolation must be overlay or container";
	if (options->isolation_name && options->instance)
		return "--incus-isolation goes with --incus-image, not an existing instance "
		       "(--incus)";
	return pikaci_incus_placement_problem(options);
}

int pikaci_incus_isolation_parse(const char *text, enum pikaci_incus_isolation *ret)
{
	if (strcmp(text, "overlay") == 0)
		*ret = PIKACI_INCUS_OVERLAY;
	else if (strcmp(text, "container") == 0)
		*ret = PIKACI_INCUS_CONTAINER;
	else
		return -EINVAL;
	return 0;
}

bool pikaci_incus_options_given(const struct pikaci_incus_options *options)
{
	return options->socket || options->url || options->cert || options->key || options->ca ||
	       options->project || options->instance_type || options->remote ||
	       options->image_server || options->image_protocol || options->n_targets > 0 ||
	       options->isolation_name || options->n_instance_config > 0;
}

const char *pikaci_incus_option_given_name(const struct pikaci_incus_options *options)
{
	const struct {
		const char *name;
		bool given;
	} all[] = {
		{ "--socket", options->socket },
		{ "--url", options->url },
		{ "--cert", options->cert },
		{ "--key", options->key },
		{ "--ca", options->ca },
		{ "--project", options->project },
		{ "--instance-type", options->instance_type },
		{ "--remote", options->remote },
		{ "--image-server", options->image_server },
		{ "--image-protocol", options->image_protocol },
		{ "--target", options->n_targets > 0 },
		{ "--incus-isolation", options->isolation_name },
		{ "--instance-config", options->n_instance_config > 0 },
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i].given)
			return all[i].name;
	return NULL;
}

void pikaci_guest_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* Appends a copy of length bytes of word to *argv (NULL-terminated, *n words so far). */
static int argv_push(char ***argv, size_t *n, size_t *capacity, const char *word, size_t length)
{
	char *copy;

	if (ARRAY_GROW(*argv, *capacity, *n + 2) < 0)
		return -ENOMEM;
	copy = strndup(word, length);
	if (!copy)
		return -ENOMEM;
	(*argv)[(*n)++] = copy;
	(*argv)[*n] = NULL;
	return 0;
}

int pikaci_guest_argv_new(const char *wrapper, char *const command[], size_t n_command,
                          char ***ret_argv)
{
	static const char separators[] = " \t";
	char **argv = NULL;
	size_t n = 0, capacity = 0;
	int r = ARRAY_GROW(argv, capacity, 1);

	if (r < 0)
		return r;
	argv[0] = NULL;
	for (const char *p = wrapper ? wrapper : ""; r == 0 && *p;) {
		size_t length;

		p += strspn(p, separators);
		length = strcspn(p, separators);
		if (length > 0)
			r = argv_push(&argv, &n, &capacity, p, length);
		p += length;
	}
	for (size_t i = 0; r == 0 && i < n_command; i++)
		r = argv_push(&argv, &n, &capacity, command[i], strlen(command[i]));
	if (r < 0) {
		pikaci_guest_argv_free(argv);
		return r;
	}
	*ret_argv = argv;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * schema.c - table-driven validation of a JSON object: the version member first, then members
 * the table does not know, then each member of the table (presence, kind, range).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "contract-private.h"

/* Members of a table remembered from the pass over the object; beyond, looked up again. */
#define SCHEMA_FIELDS_MAX 16

static const char *kind_name(enum pikaci_kind kind)
{
	switch (kind) {
	case PIKACI_KIND_INTEGER:
		return "an integer";
	case PIKACI_KIND_STRING:
		return "a string";
	case PIKACI_KIND_BOOLEAN:
		return "a boolean (true or false)";
	case PIKACI_KIND_OBJECT:
		return "an object";
	}
	return "?";
}

static const struct pikaci_field *field_find(const struct pikaci_schema *schema, const char *name)
{
	for (size_t i = 0; i < schema->n_fields; i++)
		if (strcmp(schema->fields[i].name, name) == 0)
			return &schema->fields[i];
	return NULL;
}

static bool kind_matches(enum pikaci_kind kind, const json_t *value, bool sentinels)
{
	long long ignored;
	bool overflow;

	switch (kind) {
	case PIKACI_KIND_INTEGER:
		return pikaci_json_integer(value, sentinels, &ignored, &overflow);
	case PIKACI_KIND_STRING:
		/* A too-large integer stands in the tree as a string: it is still no string. */
		return json_is_string(value) && !(sentinels && pikaci_overflow_sentinel(value));
	case PIKACI_KIND_BOOLEAN:
		return json_is_boolean(value);
	case PIKACI_KIND_OBJECT:
		return json_is_object(value);
	}
	return false;
}

static int check_version(const struct pikaci_schema *schema, const json_t *object, bool sentinels,
                         struct pikaci_error *err)
{
	const json_t *value = json_object_get(object, schema->version_member);
	char shown[48];
	long long version;
	bool overflow, is_integer;

	if (!value) {
		pikaci_error_set(err, PIKACI_REASON_MISSING_FIELD, schema->version_member, -1,
		                 "%s has no \"%s\"; this implementation speaks version %lld",
		                 schema->what, schema->version_member, schema->version);
		return -EINVAL;
	}
	is_integer = pikaci_json_integer(value, sentinels, &version, &overflow);
	if (is_integer && !overflow && version == schema->version)
		return 0;

	pikaci_json_render(value, sentinels, shown, sizeof(shown));
	if (is_integer)
		pikaci_error_set(err, PIKACI_REASON_UNSUPPORTED_SCHEMA_VERSION,
		                 schema->version_member, -1,
		                 "%s is version %s; this implementation speaks version %lld only",
		                 schema->what, shown, schema->version);
	else
		pikaci_error_set(err, PIKACI_REASON_UNSUPPORTED_SCHEMA_VERSION,
		                 schema->version_member, -1,
		                 "%s has \"%s\": %s, which is %s; version %lld is the integer %lld",
		                 schema->what, schema->version_member, shown,
		                 pikaci_json_kind_name(value), schema->version, schema->version);
	return -EINVAL;
}

static void stored_free(const struct pikaci_schema *schema, void *ret)
{
	for (size_t i = 0; i < schema->n_fields; i++) {
		const struct pikaci_field *f = &schema->fields[i];

		if (f->offset != PIKACI_NO_STORE && f->kind == PIKACI_KIND_STRING) {
			char **slot = (char **)((char *)ret + f->offset);

			free(*slot);
			*slot = NULL;
		}
	}
}

static int field_store(const struct pikaci_field *f, const json_t *value, bool sentinels, void *ret)
{
	void *slot = (char *)ret + f->offset;
	long long integer;
	bool overflow;
	char *copy;

	switch (f->kind) {
	case PIKACI_KIND_INTEGER:
		pikaci_json_integer(value, sentinels, &integer, &overflow);
		*(long long *)slot = integer;
		return 0;
	case PIKACI_KIND_STRING:
		copy = strdup(json_string_value(value));
		if (!copy)
			return -ENOMEM;
		*(char **)slot = copy;
		return 0;
	case PIKACI_KIND_BOOLEAN:
		*(bool *)slot = json_is_true(value);
		return 0;
	case PIKACI_KIND_OBJECT:
		break;
	}
	return 0;
}

int pikaci_schema_validate(const struct pikaci_schema *schema, const json_t *object, bool sentinels,
                           void *ret, struct pikaci_error *err)
{
	json_t *found[SCHEMA_FIELDS_MAX] = { NULL };
	size_t name_length;
	const char *name;
	json_t *value;
	int r;

	if (!json_is_object(object)) {
		pikaci_error_set(err, PIKACI_REASON_NOT_AN_OBJECT, NULL, -1,
		                 "%s must be a JSON object, not %s", schema->what,
		                 object ? pikaci_json_kind_name(object) : "nothing");
		return -EINVAL;
	}

	/* [R1]: the version decides how the rest is read, so a mismatch is reported as such. */
	r = check_version(schema, object, sentinels, err);
	if (r < 0)
		return r;

	/* One pass finds the table's members too: no hash lookup per member afterwards (bench/). */
	json_object_keylen_foreach((json_t *)object, name, name_length, value)
	{
		const struct pikaci_field *known = field_find(schema, name);
		const char *hint;

		if (known) {
			/* Only the exact name, as json_object_get() would find it. */
			if (known - schema->fields < SCHEMA_FIELDS_MAX &&
			    name_length == strlen(known->name))
				found[known - schema->fields] = value;
			continue;
		}
		hint = schema->unknown_hint ? schema->unknown_hint(name) : NULL;
		pikaci_error_set(err, PIKACI_REASON_UNKNOWN_FIELD, name, -1,
		                 "%s has unknown member \"%s\"%s", schema->what, name,
		                 hint ? hint : "");
		return -EINVAL;
	}

	for (size_t i = 0; i < schema->n_fields; i++) {
		const struct pikaci_field *f = &schema->fields[i];
		char shown[48];

		value = i < SCHEMA_FIELDS_MAX ? found[i] : json_object_get(object, f->name);
		if (!value) {
			if (!f->required)
				continue;
			pikaci_error_set(err, PIKACI_REASON_MISSING_FIELD, f->name, -1,
			                 "%s has no \"%s\" (%s is required)", schema->what, f->name,
			                 kind_name(f->kind));
			goto fail;
		}
		if (!kind_matches(f->kind, value, sentinels)) {
			bool too_big = sentinels && pikaci_overflow_sentinel(value);

			pikaci_json_render(value, sentinels, shown, sizeof(shown));
			if (too_big)
				pikaci_error_set(err, PIKACI_REASON_INVALID_TYPE, f->name, -1,
				                 "\"%s\" must be %s, not %s", f->name,
				                 kind_name(f->kind), shown);
			else
				pikaci_error_set(err, PIKACI_REASON_INVALID_TYPE, f->name, -1,
				                 "\"%s\" must be %s, not %s (%s)", f->name,
				                 kind_name(f->kind), pikaci_json_kind_name(value),
				                 shown);
			goto fail;
		}
		if (f->check && f->check(f, value, err) < 0)
			goto fail;
		if (ret && f->offset != PIKACI_NO_STORE) {
			r = field_store(f, value, sentinels, ret);
			if (r < 0) {
				stored_free(schema, ret);
				return r;
			}
		}
	}
	return 0;

fail:
	if (ret)
		stored_free(schema, ret);
	return -EINVAL;
}

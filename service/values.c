/*
 * values.c - Helm values on the JSON side: RFC 7386 merge patch, the check,
 * and render (check, emit, read back, compare) before anything is committed;
 * plus the helpers the values files share (values_int.h).
 *
 * Reading YAML is values_read.c, writing it values_write.c, and the go-yaml
 * v2 rules both follow are yamlscalar.c.
 */
#include "values.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "values_int.h"

/* How much of a key or anchor name goes into an error message. */
#define MSG_SNIPPET 60

int pv_values__oom(void)
{
	return pv_error_set(PV_ERROR, NULL, "out of memory");
}

int pv_values__snippet_len(const char *s, size_t len)
{
	size_t n = len < MSG_SNIPPET ? len : MSG_SNIPPET;

	if (n < len)
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	return (int)n;
}

static json_t *merge_patch(const json_t *target, const json_t *patch)
{
	json_t *result, *value, *patch_value, *merged;
	const char *key;
	size_t key_len;

	if (!json_is_object(patch))
		return json_deep_copy(patch);
	if (!(result = json_object()))
		return NULL;

	/* Target's members first, in target's order */
	if (json_is_object(target)) {
		json_object_keylen_foreach((json_t *)target, key, key_len, value) {
			patch_value = json_object_getn(patch, key, key_len);
			if (patch_value && json_is_null(patch_value))
				continue;
			merged = patch_value ? merge_patch(value, patch_value)
					     : json_deep_copy(value);
			if (!merged || json_object_setn_new(result, key, key_len, merged) < 0)
				goto fail;
		}
	}
	/* then members new in patch, in patch's order */
	json_object_keylen_foreach((json_t *)patch, key, key_len, patch_value) {
		if (json_is_null(patch_value))
			continue;
		if (json_is_object(target) && json_object_getn(target, key, key_len))
			continue;
		if (!(merged = merge_patch(NULL, patch_value)) ||
		    json_object_setn_new(result, key, key_len, merged) < 0)
			goto fail;
	}
	return result;

fail:
	json_decref(result);
	return NULL;
}

json_t *pv_values_merge_patch(const json_t *target, const json_t *patch)
{
	json_t *result;

	if (!patch) {
		pv_error_set(PV_ERROR, NULL, "pv_values_merge_patch: patch is NULL");
		return NULL;
	}
	if (!(result = merge_patch(target, patch)))
		pv_values__oom();
	return result;
}

static int check_value(const json_t *v, size_t depth, size_t max_depth)
{
	const char *key;
	json_t *item;
	size_t key_len, i;
	int error;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (depth > max_depth)
			goto too_deep;
		json_object_keylen_foreach((json_t *)v, key, key_len, item) {
			if (memchr(key, '\0', key_len))
				return pv_error_set(PV_EINVAL, "values",
					"values contain a key with a NUL character");
			if ((error = check_value(item, depth + 1, max_depth)) < 0)
				return error;
		}
		return 0;
	case JSON_ARRAY:
		if (depth > max_depth)
			goto too_deep;
		json_array_foreach(v, i, item)
			if ((error = check_value(item, depth + 1, max_depth)) < 0)
				return error;
		return 0;
	case JSON_REAL:
		if (!isfinite(json_real_value(v)))
			return pv_error_set(PV_EINVAL, "values",
					    "values contain a non-finite number");
		return 0;
	case JSON_STRING:
		if (memchr(json_string_value(v), '\0', json_string_length(v)))
			return pv_error_set(PV_EINVAL, "values",
					    "values contain a string with a NUL character");
		return 0;
	default:
		return 0;
	}

too_deep:
	return pv_error_set(PV_EINVAL, "values",
			    "values nested deeper than %zu levels", max_depth);
}

int pv_values_check(const json_t *values, size_t max_depth)
{
	if (!json_is_object(values))
		return pv_error_set(PV_EINVAL, "values", "values must be a JSON object");
	return check_value(values, 1, max_depth);
}

int pv_values_render(char **out, size_t *out_len, json_t **normalized,
		     const json_t *values, size_t max_bytes)
{
	char *yaml = NULL;
	size_t len = 0;
	json_t *back = NULL;
	int error;

	if (!out)
		return pv_error_set(PV_ERROR, NULL, "pv_values_render: invalid arguments");
	*out = NULL;
	if (out_len)
		*out_len = 0;
	if (normalized)
		*normalized = NULL;

	if ((error = pv_values_check(values, PV_VALUES_MAX_DEPTH)) < 0 ||
	    (error = pv_values_to_yaml(&yaml, &len, values)) < 0)
		goto cleanup;
	if (len > max_bytes) {
		error = pv_error_set(PV_ETOOBIG, NULL,
			"rendered values are %zu bytes, more than the limit of %zu",
			len, max_bytes);
		goto cleanup;
	}
	if ((error = pv_values_from_yaml(&back, yaml, len)) < 0)
		goto cleanup;
	if (!json_equal(back, values)) {
		error = pv_error_set(PV_ERROR, NULL, "values do not round-trip through YAML");
		goto cleanup;
	}

	*out = yaml;
	yaml = NULL;
	if (out_len)
		*out_len = len;
	if (normalized) {
		*normalized = back;
		back = NULL;
	}

cleanup:
	free(yaml);
	json_decref(back);
	return error;
}

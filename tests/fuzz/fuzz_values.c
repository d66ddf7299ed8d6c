/*
 * fuzz_values.c - libFuzzer target for service/values.c.
 *
 * The bytes are a values.yaml.  Whatever parses must render, read back as
 * exactly what was parsed, render again to the same bytes, and survive
 * merge patches derived from itself, which pv_values_fit() judges (a
 * document fits itself; a misfit is a PV_EINVAL whose field and message are
 * UTF-8); anything else aborts.  Errors must be
 * the documented codes, leave *out NULL, and carry a message that is valid
 * UTF-8 (it ends up in a JSON problem response).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iservice \
 *     service/values*.c service/yamlscalar.c service/strbuf.c \
 *     service/array.c service/error.c tests/fuzz/fuzz_values.c \
 *     -ljansson -lyaml -o fuzz_values
 *   cp -r tests/fuzz/corpus/values /tmp/corpus && ./fuzz_values /tmp/corpus
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "values.h"

#define RENDER_LIMIT ((size_t)4 * 1024 * 1024)

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: check failed: %s (last error %d: %s)\n", \
				__FILE__, __LINE__, #cond, pv_error_last()->code, \
				pv_error_last()->message);                   \
			abort();                                             \
		}                                                            \
	} while (0)

/* The RFC 7386 meaning of a patch applied to nothing: objects lose their
 * null members, everything else is copied.  Written independently of
 * values.c so the two can disagree. */
static json_t *strip_nulls(const json_t *v)
{
	const char *key;
	json_t *item, *out;

	if (!json_is_object(v))
		return json_deep_copy(v);
	out = json_object();
	CHECK(out);
	json_object_foreach((json_t *)v, key, item) {
		if (!json_is_null(item))
			CHECK(json_object_set_new(out, key, strip_nulls(item)) == 0);
	}
	return out;
}

static void check_error(int error)
{
	const struct pv_error_info *info = pv_error_last();
	json_t *msg;

	CHECK(error == PV_EINVAL || error == PV_ETOOBIG);
	CHECK(info->code == error);
	/* json_string() refuses invalid UTF-8 */
	msg = json_string(info->message);
	CHECK(msg);
	json_decref(msg);
}

/* Render v, require the round trip and stable output. */
static void check_render(const json_t *v)
{
	char *yaml = NULL, *again = NULL;
	size_t len = 0, again_len = 0;
	json_t *normalized = NULL;
	int error;

	error = pv_values_render(&yaml, &len, &normalized, v, RENDER_LIMIT);
	if (error == PV_ETOOBIG) {
		CHECK(!yaml && !normalized);
		return;
	}
	CHECK(error == 0);
	CHECK(yaml && normalized);
	CHECK(len == strlen(yaml));
	CHECK(len >= strlen(PV_VALUES_HEADER) + 1);
	CHECK(memcmp(yaml, PV_VALUES_HEADER, strlen(PV_VALUES_HEADER)) == 0);
	CHECK(yaml[len - 1] == '\n');
	CHECK(json_equal(normalized, v));

	/* emitting what was read back gives the same bytes */
	CHECK(pv_values_to_yaml(&again, &again_len, normalized) == 0);
	CHECK(again_len == len && memcmp(again, yaml, len) == 0);

	free(again);
	free(yaml);
	json_decref(normalized);
}

/* pv_values_fit of patch over doc: fits, or one misfit named in UTF-8. */
static void check_fit(const json_t *doc, const json_t *patch, int must_fit)
{
	struct pv_values_misfit m;
	int error = pv_values_fit(doc, patch, "the base fuzz", &m);
	json_t *s;

	if (must_fit || error == 0) {
		CHECK(error == 0 && m.kind == PV_VALUES_FITS && m.path[0] == '\0');
		return;
	}
	CHECK(error == PV_EINVAL && pv_error_last()->code == PV_EINVAL);
	CHECK(m.kind == PV_VALUES_UNKNOWN_KEY || m.kind == PV_VALUES_TYPE_CHANGE);
	CHECK(strncmp(pv_error_last()->field, "values", 6) == 0);
	CHECK((s = json_string(pv_error_last()->field)));
	json_decref(s);
	CHECK((s = json_string(pv_error_last()->message)));
	json_decref(s);
	CHECK((s = json_string(m.path)));
	json_decref(s);
}

static void check_merge_patch(const json_t *doc)
{
	json_t *doc_copy = json_deep_copy(doc), *patch, *expected, *result, *again;
	const char *key;
	json_t *item;
	size_t i = 0;

	CHECK(doc_copy);

	/* a document patched with itself loses its nulls and nothing else */
	check_fit(doc, doc, 1);
	result = pv_values_merge_patch(doc, doc);
	expected = strip_nulls(doc);
	CHECK(result && expected);
	CHECK(json_equal(result, expected));
	/* merge patch is idempotent */
	again = pv_values_merge_patch(result, doc);
	CHECK(again && json_equal(again, result));
	json_decref(again);
	json_decref(expected);
	json_decref(result);

	/* a patch derived from the document: delete every third member,
	 * replace every third with a scalar, re-apply the rest to itself */
	patch = json_object();
	expected = json_deep_copy(doc);
	CHECK(patch && expected);
	json_object_foreach((json_t *)doc, key, item) {
		switch (i++ % 3) {
		case 0:
			CHECK(json_object_set_new(patch, key, json_null()) == 0);
			CHECK(json_object_del(expected, key) == 0);
			break;
		case 1:
			CHECK(json_object_set_new(patch, key, json_deep_copy(item)) == 0);
			if (json_is_null(item))
				CHECK(json_object_del(expected, key) == 0);
			else
				CHECK(json_object_set_new(expected, key, strip_nulls(item)) == 0);
			break;
		default:
			CHECK(json_object_set_new(patch, key, json_string("patched")) == 0);
			CHECK(json_object_set_new(expected, key, json_string("patched")) == 0);
		}
	}
	CHECK(json_object_set_new(patch, "added-by-fuzzer", json_integer((json_int_t)i)) == 0);
	CHECK(json_object_set_new(expected, "added-by-fuzzer",
				  json_integer((json_int_t)i)) == 0);
	check_fit(doc, patch, 0);
	/* the key added is one the document lacks, unless it has it */
	if (!json_object_get(doc, "added-by-fuzzer"))
		CHECK(pv_values_fit(doc, patch, NULL, NULL) == PV_EINVAL);
	result = pv_values_merge_patch(doc, patch);
	CHECK(result);
	CHECK(json_equal(result, expected));
	check_render(result);

	/* inputs untouched */
	CHECK(json_equal(doc, doc_copy));

	json_decref(result);
	json_decref(expected);
	json_decref(patch);
	json_decref(doc_copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = (json_t *)0x1;
	int error;

	error = pv_values_from_yaml(&doc, (const char *)data, size);
	if (error < 0) {
		CHECK(doc == NULL);
		check_error(error);
		return 0;
	}
	CHECK(json_is_object(doc));
	CHECK(pv_values_check(doc, PV_VALUES_MAX_DEPTH) == 0);

	check_render(doc);
	check_merge_patch(doc);

	json_decref(doc);
	return 0;
}

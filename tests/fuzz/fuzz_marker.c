/*
 * Fuzz target: the ownership check of a previewd.json found in Git
 * (planner.c, pv_plan_owns).  The file comes from the repository, where
 * people and other tools write too, so it is outside input.  The contract
 * checked beyond "no crash": a marker that is not a JSON object naming the
 * record's folder and previewd as its writer never owns anything.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "planner.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char instance[] = "0123456789abcdef0123456789abcdef";
	struct pv_env r = { .id = 7, .created_at = 1764547200 };
	char *s = malloc(size + 1);
	json_t *m;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	strcpy(r.name, "t1");
	strcpy(r.owner, "alice");
	if (pv_plan_owns(s, instance, &r)) {
		const char *name, *by;
		m = json_loads(s, 0, NULL);
		name = json_string_value(json_object_get(m, "name"));
		by = json_string_value(json_object_get(m, "managed_by"));
		if (!json_is_object(m) || !name || strcmp(name, "t1") != 0 || !by || strcmp(by, "previewd") != 0)
			abort();
		json_decref(m);
	}
	free(s);
	return 0;
}

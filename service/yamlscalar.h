/*
 * yamlscalar.h - how Helm reads a YAML scalar: go-yaml v2 (YAML 1.1)
 * resolution of plain and tagged scalars, and the strings mapping keys
 * become.  Internal to the values module (values_int.h); callers outside it
 * use values.h, whose contract comment lists the rules.
 *
 * DESIGN
 *
 * Scalar resolution mirrors gopkg.in/yaml.v2 resolve.go (the reader Helm
 * uses), including its corners: underscores are stripped anywhere before an
 * integer is tried, "08" is not octal and so is the float 8.0, an
 * overflowing float stays a string.  Key conversion mirrors sigs.k8s.io/yaml,
 * which Helm uses to turn go-yaml's map[interface{}]interface{} into JSON.
 *
 * The writer's question (may a string go out plain?) is answered here too,
 * next to the words and number forms that make the answer "no".
 *
 * Errors: error.h, field "values", positions taken from the event.  Threads:
 * no state; every function is reentrant.
 */
#ifndef PV_YAMLSCALAR_H
#define PV_YAMLSCALAR_H

#include <stddef.h>

#include <jansson.h>
#include <yaml.h>

#include "error.h"

enum pv_yamlscalar_kind {
	PV_YAMLSCALAR_STR,
	PV_YAMLSCALAR_NULL,
	PV_YAMLSCALAR_BOOL,
	PV_YAMLSCALAR_INT,
	PV_YAMLSCALAR_UINT,     /* beyond int64, inside uint64 */
	PV_YAMLSCALAR_FLOAT
};

/* A resolved scalar: kind says which member holds the value (none for STR
 * and NULL; a STR's text is the event's). */
struct pv_yamlscalar {
	enum pv_yamlscalar_kind kind;
	int boolean;
	long long integer;
	unsigned long long uinteger;
	double real;            /* may be infinite or NaN for .inf/.nan */
};

/*
 * Resolve the scalar event ev as go-yaml v2 does: quoted and block scalars,
 * !!str and unknown tags are strings; plain scalars and the tags !!int
 * !!float !!bool !!null resolve by the YAML 1.1 rules.
 *
 * Returns 0; PV_EINVAL if the value does not fit an explicit tag; PV_ERROR
 * on out-of-memory.
 */
int pv_yamlscalar_resolve(struct pv_yamlscalar *out, const yaml_event_t *ev) PV_WARN_UNUSED;

/*
 * The JSON value of sc, resolved from the scalar event ev.  On success *out
 * is a new reference.  A UINT becomes a real (Helm holds every number as a
 * float64 anyway).
 *
 * Returns 0; PV_EINVAL for .inf/.nan or a string holding NUL; PV_ERROR on
 * out-of-memory.
 */
int pv_yamlscalar_to_json(json_t **out, const struct pv_yamlscalar *sc,
			  const yaml_event_t *ev) PV_WARN_UNUSED;

/*
 * The string key Helm sees for the scalar key event ev, resolved as sc: a
 * JSON string (*out, a new reference) so that its length travels with it.
 * `yes:` is "true", `0x10:` is "16", `1e6:` is "1e+06".
 *
 * A string key comes back as written, NUL included: the reader refuses
 * those itself, with the key's line.
 *
 * Returns 0; PV_EINVAL for a null key or an integer key beyond int64;
 * PV_ERROR on out-of-memory.
 */
int pv_yamlscalar_key(json_t **out, const struct pv_yamlscalar *sc,
		      const yaml_event_t *ev) PV_WARN_UNUSED;

/*
 * The same for a key that is an alias: the string the already-built value v
 * becomes as a key.  line (1-based) goes into error messages.
 *
 * Returns 0; PV_EINVAL if v is null or not a scalar; PV_ERROR on
 * out-of-memory.
 */
int pv_yamlscalar_key_from_json(json_t **out, const json_t *v, size_t line) PV_WARN_UNUSED;

/*
 * May the string s (len bytes) be written as a plain scalar and read back
 * as the same string by YAML 1.1 and 1.2 readers alike?  1 or 0.
 */
int pv_yamlscalar_plain_safe(const char *s, size_t len);

#endif

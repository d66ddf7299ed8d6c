/*
 * values.h - an environment's Helm values: parse YAML, merge JSON, emit YAML.
 *
 * Base values come from a people-written values.yaml in Git; callers send
 * JSON; previewd writes the merged result back as YAML that Helm and Argo CD
 * read.  Helm reads values with go-yaml v2 (YAML 1.1 rules) and then turns
 * the result into JSON, so this module reads YAML the same way:
 *
 *  - plain scalars resolve as go-yaml v2 resolves them: y/yes/on/true and
 *    n/no/off/false (in the capitalisations go-yaml lists) are booleans,
 *    ~/null/empty are null, integers may be decimal, 0x hex, 0o or leading-0
 *    octal, 0b binary, with '_' separators anywhere; a plain integer outside
 *    int64 but inside uint64, or a decimal beyond int64, becomes a JSON real
 *    (Helm itself ends up with a float64 for every number, so nothing is lost
 *    that Helm would keep); a hex/octal/binary integer beyond uint64 or a
 *    float that overflows a double stays a string, as in go-yaml v2;
 *    .inf/.nan are rejected because JSON cannot carry them;
 *  - quoted and block scalars are strings; the tags !!str !!int !!float
 *    !!bool !!null are honoured (a value that does not fit its tag is an
 *    error); any other tag leaves the scalar a string; a string holding
 *    U+0000 (a "\0" escape) is rejected, because jansson's reader refuses
 *    it by default and previewd reads stored values back with it;
 *  - mapping keys must be scalars and become strings the way Helm makes them
 *    strings: a plain key `yes:` or `y:` is the boolean true and so the key
 *    "true", `0x10:` is "16", `1e6:` is "1e+06" (float32 formatting); a null
 *    key, one beyond int64, or one containing NUL (jansson's JSON reader
 *    refuses those, and json_object_get() cannot find them) is rejected, as
 *    are duplicate keys;
 *  - anchors, aliases and the merge key `<<` (a mapping or a sequence of
 *    mappings, go-yaml v2 semantics: entries land where the `<<` stands and
 *    later keys override them) are supported.  Aliases are copied, so the
 *    result is a plain tree; the total number of nodes after expansion is
 *    capped at PV_VALUES_MAX_NODES, which stops "billion laughs" early;
 *  - limits: input at most PV_VALUES_MAX_YAML bytes (PV_ETOOBIG), nesting at
 *    most PV_VALUES_MAX_DEPTH levels of mappings/sequences (the top-level
 *    mapping is level 1; scalars add no level), one document per stream.
 *
 * Emitting writes a block mapping that parses back to the same JSON under
 * both YAML 1.1 and 1.2: a string is plain only if it matches
 * [A-Za-z_/][A-Za-z0-9_./-]* and is not y/n/yes/no/on/off/true/false/null
 * in any capitalisation, otherwise it is double-quoted; integers are decimal;
 * reals use the shortest digits that round-trip and always carry a '.'
 * ("100.0", "1.0e+20"); keys follow the string rule; object keys keep
 * jansson's insertion order (jansson >= 2.8 iterates objects in insertion
 * order; previewd builds with 2.14), so a base file's key order survives
 * merge and emit.
 *
 * Error convention: error.h.  Validation errors carry the field "values";
 * callers may override the field when they know better.
 *
 * Ownership: every json_t handed back (through an out-parameter or as a
 * return value) is a new reference owned by the caller, who json_decref()s
 * it; every char * handed back is malloc'd, NUL-terminated, and freed by the
 * caller with free().  Inputs are never modified and no reference to them is
 * kept.  On failure, out-parameters are left NULL.
 *
 * Threads: all functions are thread-safe and reentrant; the module keeps no
 * global state (libyaml parser and emitter live on each call's stack).
 * Number formatting and parsing use snprintf/strtod and so assume the
 * process never changes LC_NUMERIC from "C" (previewd never calls
 * setlocale).
 */
#ifndef PV_VALUES_H
#define PV_VALUES_H

#include <stddef.h>

#include <jansson.h>

#include "error.h"

/* Largest values.yaml accepted by pv_values_from_yaml(). */
#define PV_VALUES_MAX_YAML ((size_t)1024 * 1024)
/* Deepest nesting of mappings/sequences; the top-level mapping is level 1. */
#define PV_VALUES_MAX_DEPTH 32
/* Most nodes (scalars, mappings, sequences, after alias expansion) in one
 * parsed document. */
#define PV_VALUES_MAX_NODES 100000

/* First line of every file pv_values_to_yaml() writes. */
#define PV_VALUES_HEADER "# Managed by previewd: changes made here are overwritten.\n"

/*
 * Parse one YAML document (len bytes at yaml, need not be NUL-terminated)
 * into a JSON object.  An empty or comment-only document, or one whose root
 * is null, gives {}.  On success *out is a new object owned by the caller.
 *
 * Returns 0; PV_EINVAL if the root is not a mapping, on a syntax error (the
 * message gives line and column), on a duplicate or non-scalar key, on
 * .inf/.nan or NUL, on a value that does not fit its tag, on an unknown or
 * self-containing alias, when nesting exceeds PV_VALUES_MAX_DEPTH, when
 * nodes exceed PV_VALUES_MAX_NODES, or for more than one document;
 * PV_ETOOBIG if len > PV_VALUES_MAX_YAML; PV_ERROR on out-of-memory.
 */
int pv_values_from_yaml(json_t **out, const char *yaml, size_t len) PV_WARN_UNUSED;

/*
 * Emit the object values as UTF-8 YAML: PV_VALUES_HEADER, then a block
 * mapping with 2-space indentation and no line folding, empty objects and
 * arrays as {} and [], ending in "\n".  No "---" or "..." markers.
 * On success *out is malloc'd and NUL-terminated (caller frees) and, if
 * out_len is not NULL, *out_len is its length without the NUL.
 *
 * Returns 0; PV_EINVAL if values is not an object (or holds a non-finite
 * real, or nests more than 1000 levels); PV_ERROR on out-of-memory or if
 * libyaml refuses (e.g. a string built with json_string_nocheck that is not
 * UTF-8).  Does not check PV_VALUES_MAX_DEPTH: pv_values_render() does.
 */
int pv_values_to_yaml(char **out, size_t *out_len, const json_t *values) PV_WARN_UNUSED;

/*
 * RFC 7386 JSON merge patch: the result of applying patch to target.
 * target may be NULL (treated as absent); patch must not be NULL.  Neither
 * input is modified, and the result shares no values with them (it is a deep
 * copy), so the caller may change it freely.  Keys keep target's order, with
 * keys new from patch appended in patch's order.
 *
 * Returns a new reference owned by the caller, or NULL if patch is NULL or
 * memory runs out (PV_ERROR is then set).
 */
json_t *pv_values_merge_patch(const json_t *target, const json_t *patch) PV_WARN_UNUSED;

/* What pv_values_fit() found: the first misfit's kind and path. */
enum { PV_VALUES_FITS = 0, PV_VALUES_UNKNOWN_KEY = 1, PV_VALUES_TYPE_CHANGE = 2 };

struct pv_values_misfit {
	int kind;        /* PV_VALUES_FITS, _UNKNOWN_KEY or _TYPE_CHANGE */
	char path[160];  /* "image.tag", `ingress.annotations["a.b/c"]`; cut with "..." */
};

/*
 * Whether the merge patch patch fits target, the values it is applied to
 * (PREVIEWD_VALUES_STRICT), walked in patch's order:
 *
 *  - every key of patch must be one target has (null included: a null
 *    deletes a key target has, and one it does not have is a typo);
 *  - a value may not change shape, mapping vs list vs scalar; scalars of
 *    different JSON types (string, number, boolean) are one shape, since
 *    Helm values turn "1" into 1 and the template decides what it reads;
 *  - below a null or an empty mapping in target anything goes (a
 *    placeholder left for the user, a free-form map such as
 *    podAnnotations: {}); lists replace lists wholesale, items unchecked.
 *
 * what names target in the message ("the base dev", "the environment web").
 * Returns 0 when it fits; PV_EINVAL for the first misfit, with the field
 * "values." and its path (cut to the field's size) and a message such as
 * "values.image.tagg: the base dev has no such key (its keys here:
 * repository, tag)"; PV_ERROR when either is not an object.  out, if not
 * NULL, gets the kind and the path.
 */
int pv_values_fit(const json_t *target, const json_t *patch, const char *what,
		  struct pv_values_misfit *out) PV_WARN_UNUSED;

/*
 * Validate a values document: it must be an object, nest at most max_depth
 * levels (the object itself is level 1), hold no NaN or infinite real and
 * no key or string containing NUL.  Returns 0 or PV_EINVAL.
 */
int pv_values_check(const json_t *values, size_t max_depth) PV_WARN_UNUSED;

/*
 * Everything needed before committing values to Git: pv_values_check() with
 * PV_VALUES_MAX_DEPTH, pv_values_to_yaml(), then parse the YAML back with
 * pv_values_from_yaml() and require it to equal values, so previewd never
 * commits a file that Helm or Argo CD would read differently.
 *
 * On success *out (malloc'd, caller frees) holds the YAML, *out_len (if not
 * NULL) its length, and *normalized (if normalized is not NULL) a new object
 * owned by the caller: the values as read back from the YAML.
 *
 * Returns 0; PV_EINVAL from the check (or from parsing back, e.g. over
 * PV_VALUES_MAX_NODES); PV_ETOOBIG if the YAML is longer than max_bytes (or
 * than PV_VALUES_MAX_YAML); PV_ERROR "values do not round-trip through YAML"
 * if the parsed-back document differs, or on out-of-memory.
 */
int pv_values_render(char **out, size_t *out_len, json_t **normalized,
		     const json_t *values, size_t max_bytes) PV_WARN_UNUSED;

#endif

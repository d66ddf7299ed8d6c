/*
 * values_fit.c - whether a request's values fit the values they patch
 * (PREVIEWD_VALUES_STRICT): the first key the target does not have, or the
 * first value whose shape the patch changes, named by its path.
 *
 * The rules, and why (values.h says the same for callers):
 *
 *  - a key the target does not have is refused: a chart does not read a key
 *    its values never had, so `image.tagg` (or `image.tag` for a chart that
 *    reads `frontend.tag`) would be committed and change nothing;
 *  - null deletes a key the target has; a null for a key it does not have
 *    is refused too, as the same typo aimed at a deletion;
 *  - a value's shape is mapping, sequence or scalar, and the patch may not
 *    change it (a string where the target has a mapping, a mapping where it
 *    has a list): templates that range over a mapping fail on a string;
 *  - scalars of different JSON types (string, number, boolean) are the same
 *    shape: Helm values turn "1" into 1 and back all the time, and the
 *    template decides (quote, int) what it gets;
 *  - a null in the target is a placeholder ("affinity:" left empty for the
 *    user) and takes any shape; an empty mapping in the target ("podAnnotations:
 *    {}") is a free-form map the chart ranges over, so any keys go under it;
 *  - sequences are replaced wholesale by a merge patch, so only that a
 *    sequence replaces a sequence is checked, never their items.
 */
#include "values.h"

#include <stdio.h>
#include <string.h>

#include "values_int.h"

/* Room for the path and for the target's keys in a message; with the rest
 * of it they stay inside pv_error_info's 512 bytes. */
#define PATH_MAX_BYTES 160
#define KEYS_MAX_BYTES 200

struct walk {
	char path[PATH_MAX_BYTES];  /* "image.tag", ["a.b"] for keys that are not plain */
	size_t len;
	int cut;         /* the path did not fit: it ends in "..." */
};

static const char *shape_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "mapping";
	case JSON_ARRAY:
		return "list";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	default:
		return "null";
	}
}

/* 0 mapping, 1 sequence, 2 scalar: the shapes a patch may not change. */
static int shape(const json_t *v)
{
	return json_is_object(v) ? 0 : json_is_array(v) ? 1 : 2;
}

static int plain_key(const char *key, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

/* Append one byte if it fits with room left for "..."; 0 when it did not. */
static int put(struct walk *w, char c)
{
	if (w->cut || w->len + 4 >= sizeof(w->path))
		return 0;
	w->path[w->len++] = c;
	w->path[w->len] = '\0';
	return 1;
}

/* The longest prefix of s (len bytes) that does not end inside a UTF-8
 * sequence: a path cut short still goes into JSON as text. */
static size_t utf8_whole(const char *s, size_t len)
{
	size_t i = len, want;
	unsigned char lead;

	while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return len;
	lead = (unsigned char)s[i - 1];
	if (lead < 0xC0)
		return len;
	want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
	return len - (i - 1) >= want ? len : i - 1;
}

static void cut(struct walk *w)
{
	w->len = utf8_whole(w->path, w->len);
	memcpy(w->path + w->len, "...", 4);
	w->len += 3;
	w->cut = 1;
}

/* Append key to the path as ".key" (none at the root), or ["key"] when it
 * holds a dot, a bracket or anything else that would read as two keys. */
static void push(struct walk *w, const char *key, size_t len)
{
	int plain = plain_key(key, len);
	size_t start = w->len;

	if (w->cut)
		return;
	if (plain && start > 0 && !put(w, '.'))
		goto full;
	if (!plain && (!put(w, '[') || !put(w, '"')))
		goto full;
	for (size_t i = 0; i < len; i++) {
		if (!plain && (key[i] == '"' || key[i] == '\\') && !put(w, '\\'))
			goto full;
		if (!put(w, key[i] ? key[i] : '?'))
			goto full;
	}
	if (!plain && (!put(w, '"') || !put(w, ']')))
		goto full;
	return;
full:
	cut(w);
}

/* The misfit as PV_EINVAL: the field is "values." and the path (cut to the
 * field's size on a character boundary), the message says what is wrong. */
static int misfit(struct pv_values_misfit *out, int kind, const struct walk *w, const char *fmt_detail,
	const char *what, const char *a, const char *b)
{
	char field[sizeof(((struct pv_error_info *)0)->field)];
	size_t n;

	if (out) {
		out->kind = kind;
		snprintf(out->path, sizeof(out->path), "%s", w->path);
	}
	n = (size_t)snprintf(field, sizeof(field), "values%s%s", w->path[0] == '[' ? "" : ".", w->path);
	if (n >= sizeof(field))
		field[utf8_whole(field, sizeof(field) - 1)] = '\0';
	if (kind == PV_VALUES_UNKNOWN_KEY)
		return pv_error_set(PV_EINVAL, field, "values%s%s: %s has no such key (%s%s)",
			w->path[0] == '[' ? "" : ".", w->path, what, fmt_detail, a);
	return pv_error_set(PV_EINVAL, field, "values%s%s: %s has a %s here, not a %s",
		w->path[0] == '[' ? "" : ".", w->path, what, a, b);
}

/* The target's keys, comma separated, as many as fit; "..." for the rest. */
static void key_list(char *buf, size_t size, const json_t *target)
{
	const char *key;
	json_t *v;
	size_t key_len, len = 0;

	buf[0] = '\0';
	json_object_keylen_foreach((json_t *)target, key, key_len, v) {
		int n = pv_values__snippet_len(key, key_len);

		(void)v;
		if (len + 2 + (size_t)n + 5 >= size) {
			snprintf(buf + len, size - len, "%s...", len ? ", " : "");
			return;
		}
		len += (size_t)snprintf(buf + len, size - len, "%s%.*s", len ? ", " : "", n, key);
	}
}

static int walk(struct walk *w, const json_t *target, const json_t *patch, const char *what,
	struct pv_values_misfit *out)
{
	const char *key;
	json_t *pv, *tv;
	size_t key_len, saved = w->len;
	int saved_cut = w->cut, error;
	char keys[KEYS_MAX_BYTES];

	json_object_keylen_foreach((json_t *)patch, key, key_len, pv) {
		tv = json_object_getn(target, key, key_len);
		push(w, key, key_len);
		if (!tv) {
			key_list(keys, sizeof(keys), target);
			return misfit(out, PV_VALUES_UNKNOWN_KEY, w, keys[0] ? "its keys here: " : "it has no keys here",
				what, keys, NULL);
		}
		if (json_is_null(pv) || json_is_null(tv))
			goto next;
		if (shape(pv) != shape(tv))
			return misfit(out, PV_VALUES_TYPE_CHANGE, w, NULL, what, shape_name(tv), shape_name(pv));
		if (json_is_object(pv) && json_object_size(tv) > 0 && (error = walk(w, tv, pv, what, out)) < 0)
			return error;
next:
		w->len = saved;
		w->path[saved] = '\0';
		w->cut = saved_cut;
	}
	return 0;
}

int pv_values_fit(const json_t *target, const json_t *patch, const char *what, struct pv_values_misfit *out)
{
	struct walk w = { { 0 }, 0, 0 };

	if (out) {
		out->kind = PV_VALUES_FITS;
		out->path[0] = '\0';
	}
	if (!json_is_object(target) || !json_is_object(patch))
		return pv_error_set(PV_ERROR, NULL, "pv_values_fit: target and patch must be objects");
	return walk(&w, target, patch, what ? what : "the base", out);
}

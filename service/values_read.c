/*
 * values_read.c - YAML -> JSON: pv_values_from_yaml() (values.h).
 *
 * DESIGN
 *
 * Reading uses libyaml's event API and builds jansson values directly, one
 * recursive call per YAML node.  Recursion is bounded because every mapping
 * or sequence start checks the nesting limit before descending.  Anchors are
 * kept in a table (name -> index, the latest definition wins, as YAML wants)
 * and an alias is a deep copy of the anchored value: the caller gets a plain
 * tree it may modify.  Before copying, the anchored subtree's node count is
 * added to a budget, so an alias bomb fails after at most
 * PV_VALUES_MAX_NODES nodes of work instead of exhausting memory.  An anchor
 * is registered when its node starts, with no value yet, so an alias to a
 * node from inside that node is detected rather than followed forever.
 *
 * What a scalar or a key resolves to is yamlscalar.c's business; this file
 * owns the structure: documents, mappings, sequences, anchors, aliases, the
 * merge key and the limits.
 */
#include "values.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "array.h"
#include "values_int.h"
#include "yamlscalar.h"

#define MERGE_TAG "tag:yaml.org,2002:merge"

struct anchor {
	json_t *value;          /* NULL while the anchored node is being built */
	size_t height;          /* mapping/sequence levels in value, 0 for a scalar */
	size_t nodes;           /* nodes a copy of value costs */
};

struct parse_ctx {
	yaml_parser_t parser;
	json_t *anchor_names;   /* anchor name -> index into anchors */
	struct anchor *anchors;
	size_t anchor_count;
	size_t anchor_alloc;    /* pv_array_reserve's capacity */
	size_t nodes;           /* nodes built so far, aliases expanded */
};

static int syntax_error(const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "unknown problem";

	if (p->error == YAML_MEMORY_ERROR)
		return pv_values__oom();
	if (p->error == YAML_READER_ERROR)
		return pv_error_set(PV_EINVAL, "values",
			"invalid YAML input at byte %zu: %s", p->problem_offset, problem);
	if (p->context)
		return pv_error_set(PV_EINVAL, "values",
			"YAML syntax error at line %zu, column %zu: %s (%s started at line %zu)",
			p->problem_mark.line + 1, p->problem_mark.column + 1,
			problem, p->context, p->context_mark.line + 1);
	return pv_error_set(PV_EINVAL, "values",
		"YAML syntax error at line %zu, column %zu: %s",
		p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
}

static int next_event(struct parse_ctx *ctx, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&ctx->parser, ev))
		return syntax_error(&ctx->parser);
	return 0;
}

static int too_deep(const yaml_event_t *ev)
{
	return pv_error_set(PV_EINVAL, "values",
		"values nested deeper than %d levels (line %zu)",
		PV_VALUES_MAX_DEPTH, ev->start_mark.line + 1);
}

static int add_nodes(struct parse_ctx *ctx, size_t n)
{
	if (n > PV_VALUES_MAX_NODES - ctx->nodes)
		return pv_error_set(PV_EINVAL, "values",
			"values have more than %d nodes once aliases are expanded",
			PV_VALUES_MAX_NODES);
	ctx->nodes += n;
	return 0;
}

/* Start an anchor: it is known from here on, but has no value until
 * anchor_end().  *idx is SIZE_MAX when name is NULL. */
static int anchor_begin(struct parse_ctx *ctx, size_t *idx, const yaml_char_t *name)
{
	*idx = SIZE_MAX;
	if (!name)
		return 0;
	if (pv_array_reserve(&ctx->anchors, &ctx->anchor_alloc, ctx->anchor_count + 1,
			     sizeof(*ctx->anchors)) < 0)
		return PV_ERROR;
	if (json_object_set_new(ctx->anchor_names, (const char *)name,
				json_integer((json_int_t)ctx->anchor_count)) < 0)
		return pv_values__oom();
	memset(&ctx->anchors[ctx->anchor_count], 0, sizeof(struct anchor));
	*idx = ctx->anchor_count++;
	return 0;
}

static void anchor_end(struct parse_ctx *ctx, size_t idx, json_t *value,
		       size_t height, size_t nodes)
{
	if (idx == SIZE_MAX)
		return;
	ctx->anchors[idx].value = json_incref(value);
	ctx->anchors[idx].height = height;
	ctx->anchors[idx].nodes = nodes;
}

/* The anchor an alias event names, complete.  Returns 0 or PV_EINVAL. */
static int anchor_lookup(struct parse_ctx *ctx, const struct anchor **out,
			 const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	json_t *idx = json_object_get(ctx->anchor_names, name);

	*out = NULL;
	if (!idx)
		return pv_error_set(PV_EINVAL, "values",
			"unknown anchor *%.*s at line %zu",
			pv_values__snippet_len(name, strlen(name)), name, ev->start_mark.line + 1);
	*out = &ctx->anchors[json_integer_value(idx)];
	if (!(*out)->value)
		return pv_error_set(PV_EINVAL, "values",
			"alias *%.*s at line %zu is inside the node it refers to",
			pv_values__snippet_len(name, strlen(name)), name, ev->start_mark.line + 1);
	return 0;
}

/* Mapping/sequence levels in v: 0 for a scalar.  Only used on trees that
 * already passed the depth limit, so the recursion is bounded. */
static size_t json_height(const json_t *v)
{
	size_t h = 0, child;
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, item)
			if ((child = json_height(item)) > h)
				h = child;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
			if ((child = json_height(item)) > h)
				h = child;
	} else {
		return 0;
	}
	return h + 1;
}

static int parse_node(struct parse_ctx *ctx, const yaml_event_t *ev,
		      size_t depth, json_t **out, size_t *height);

static int is_merge_key(const yaml_event_t *ev)
{
	const char *tag = (const char *)ev->data.scalar.tag;

	return ev->type == YAML_SCALAR_EVENT && ev->data.scalar.length == 2 &&
		memcmp(ev->data.scalar.value, "<<", 2) == 0 &&
		(ev->data.scalar.plain_implicit || (tag && strcmp(tag, MERGE_TAG) == 0));
}

/* Parse the key event ev into the string key Helm would see, as a JSON
 * string (*out) so that its length travels with it.  Mappings and
 * sequences as keys are refused. */
static int parse_key(struct parse_ctx *ctx, const yaml_event_t *ev,
		     json_t **out)
{
	const struct anchor *anchor;
	struct pv_yamlscalar sc;
	json_t *value = NULL;
	size_t idx;
	int error = 0;

	*out = NULL;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if ((error = pv_yamlscalar_resolve(&sc, ev)) < 0)
			goto cleanup;
		if (ev->data.scalar.anchor) {
			/* `&k key:` may be aliased as a value later */
			if ((error = pv_yamlscalar_to_json(&value, &sc, ev)) < 0 ||
			    (error = anchor_begin(ctx, &idx, ev->data.scalar.anchor)) < 0)
				goto cleanup;
			anchor_end(ctx, idx, value, 0, 1);
		}
		error = pv_yamlscalar_key(out, &sc, ev);
		break;
	case YAML_ALIAS_EVENT:
		if ((error = anchor_lookup(ctx, &anchor, ev)) < 0)
			goto cleanup;
		error = pv_yamlscalar_key_from_json(out, anchor->value, ev->start_mark.line + 1);
		break;
	default:
		error = pv_error_set(PV_EINVAL, "values",
			"mapping key at line %zu is not a scalar", ev->start_mark.line + 1);
	}

cleanup:
	json_decref(value);
	return error;
}

/* Apply a `<<` value to map, go-yaml v2 style: the source's entries
 * overwrite what is there; for a sequence, earlier mappings win, so they are
 * applied last. */
static int apply_merge(json_t *map, json_t **explicit_keys, const json_t *src,
		       size_t line)
{
	const char *key;
	size_t key_len;
	json_t *item;

	if (json_is_array(src)) {
		for (size_t i = json_array_size(src); i > 0; i--) {
			if (!json_is_object(json_array_get(src, i - 1)))
				goto want_map;
		}
		for (size_t i = json_array_size(src); i > 0; i--) {
			int error = apply_merge(map, explicit_keys,
						json_array_get(src, i - 1), line);

			if (error < 0)
				return error;
		}
		return 0;
	}
	if (!json_is_object(src))
		goto want_map;

	/* From the first merge on, "already in map" no longer means "written
	 * twice", so remember which keys were written explicitly. */
	if (!*explicit_keys) {
		if (!(*explicit_keys = json_object()))
			return pv_values__oom();
		json_object_keylen_foreach(map, key, key_len, item)
			if (json_object_setn_new(*explicit_keys, key, key_len, json_true()) < 0)
				return pv_values__oom();
	}
	json_object_keylen_foreach((json_t *)src, key, key_len, item)
		if (json_object_setn(map, key, key_len, item) < 0)
			return pv_values__oom();
	return 0;

want_map:
	return pv_error_set(PV_EINVAL, "values",
		"merge key << at line %zu needs a mapping or a sequence of mappings", line);
}

/* What a mapping and a sequence start with: the depth and node limits, the
 * empty container (*container, a new reference), and its anchor, if any. */
static int collection_begin(struct parse_ctx *ctx, const yaml_event_t *start,
			    size_t depth, json_t **container, size_t *anchor)
{
	int is_map = start->type == YAML_MAPPING_START_EVENT, error;

	*container = NULL;
	if (depth > PV_VALUES_MAX_DEPTH)
		return too_deep(start);
	if ((error = add_nodes(ctx, 1)) < 0)
		return error;
	if (!(*container = is_map ? json_object() : json_array()))
		return pv_values__oom();
	if ((error = anchor_begin(ctx, anchor, is_map ? start->data.mapping_start.anchor
						       : start->data.sequence_start.anchor)) < 0) {
		json_decref(*container);
		*container = NULL;
		return error;
	}
	return 0;
}

static int parse_mapping(struct parse_ctx *ctx, const yaml_event_t *start,
			 size_t depth, json_t **out, size_t *height)
{
	json_t *map = NULL, *explicit_keys = NULL, *key = NULL, *child = NULL;
	size_t nodes_before = ctx->nodes, anchor, child_height, max_child = 0;
	size_t key_line;
	yaml_event_t ev;
	int have_ev = 0, merged = 0, error;

	*out = NULL;
	if ((error = collection_begin(ctx, start, depth, &map, &anchor)) < 0)
		return error;

	for (;;) {
		if ((error = next_event(ctx, &ev)) < 0)
			goto cleanup;
		have_ev = 1;
		if (ev.type == YAML_MAPPING_END_EVENT)
			break;
		key_line = ev.start_mark.line + 1;

		if (is_merge_key(&ev)) {
			yaml_event_delete(&ev);
			have_ev = 0;
			if ((error = next_event(ctx, &ev)) < 0)
				goto cleanup;
			have_ev = 1;
			if ((error = parse_node(ctx, &ev, depth + 1, &child, &child_height)) < 0 ||
			    (error = apply_merge(map, &explicit_keys, child, key_line)) < 0)
				goto cleanup;
			json_decref(child);
			child = NULL;
			merged = 1;
			yaml_event_delete(&ev);
			have_ev = 0;
			continue;
		}

		if ((error = parse_key(ctx, &ev, &key)) < 0)
			goto cleanup;
		yaml_event_delete(&ev);
		have_ev = 0;

		/* jansson's JSON reader refuses such keys, and json_equal() and
		 * json_object_get() cannot see them: keep them out. */
		if (memchr(json_string_value(key), '\0', json_string_length(key))) {
			error = pv_error_set(PV_EINVAL, "values",
				"mapping key at line %zu contains a NUL character", key_line);
			goto cleanup;
		}
		if (json_object_getn(explicit_keys ? explicit_keys : map,
				     json_string_value(key), json_string_length(key))) {
			error = pv_error_set(PV_EINVAL, "values",
				"duplicate key \"%.*s\" at line %zu",
				pv_values__snippet_len(json_string_value(key), json_string_length(key)),
				json_string_value(key), key_line);
			goto cleanup;
		}

		if ((error = next_event(ctx, &ev)) < 0)
			goto cleanup;
		have_ev = 1;
		if ((error = parse_node(ctx, &ev, depth + 1, &child, &child_height)) < 0)
			goto cleanup;
		yaml_event_delete(&ev);
		have_ev = 0;

		if (child_height > max_child)
			max_child = child_height;
		if (explicit_keys &&
		    json_object_setn_new(explicit_keys, json_string_value(key),
					 json_string_length(key), json_true()) < 0) {
			error = pv_values__oom();
			goto cleanup;
		}
		if (json_object_setn_new(map, json_string_value(key),
					 json_string_length(key), child) < 0) {
			child = NULL;
			error = pv_values__oom();
			goto cleanup;
		}
		child = NULL;
		json_decref(key);
		key = NULL;
	}

	/* Merged entries may be deeper than any explicit one, or may have been
	 * overridden: walk once rather than track it. */
	*height = merged ? json_height(map) : max_child + 1;
	anchor_end(ctx, anchor, map, *height, ctx->nodes - nodes_before);
	*out = map;
	map = NULL;

cleanup:
	if (have_ev)
		yaml_event_delete(&ev);
	json_decref(map);
	json_decref(explicit_keys);
	json_decref(key);
	json_decref(child);
	return error;
}

static int parse_sequence(struct parse_ctx *ctx, const yaml_event_t *start,
			  size_t depth, json_t **out, size_t *height)
{
	json_t *arr = NULL, *child = NULL;
	size_t nodes_before = ctx->nodes, anchor, child_height, max_child = 0;
	yaml_event_t ev;
	int have_ev = 0, error;

	*out = NULL;
	if ((error = collection_begin(ctx, start, depth, &arr, &anchor)) < 0)
		return error;

	for (;;) {
		if ((error = next_event(ctx, &ev)) < 0)
			goto cleanup;
		have_ev = 1;
		if (ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		if ((error = parse_node(ctx, &ev, depth + 1, &child, &child_height)) < 0)
			goto cleanup;
		yaml_event_delete(&ev);
		have_ev = 0;
		if (child_height > max_child)
			max_child = child_height;
		if (json_array_append_new(arr, child) < 0) {
			child = NULL;
			error = pv_values__oom();
			goto cleanup;
		}
		child = NULL;
	}

	*height = max_child + 1;
	anchor_end(ctx, anchor, arr, *height, ctx->nodes - nodes_before);
	*out = arr;
	arr = NULL;

cleanup:
	if (have_ev)
		yaml_event_delete(&ev);
	json_decref(arr);
	json_decref(child);
	return error;
}

/*
 * Build the node that starts with event ev (which the caller still owns and
 * deletes).  depth is the level a mapping or sequence here would have.  On
 * success *out is a new reference and *height its mapping/sequence levels.
 */
static int parse_node(struct parse_ctx *ctx, const yaml_event_t *ev,
		      size_t depth, json_t **out, size_t *height)
{
	const struct anchor *anchor;
	struct pv_yamlscalar sc;
	size_t idx;
	int error;

	*out = NULL;
	*height = 0;

	switch (ev->type) {
	case YAML_MAPPING_START_EVENT:
		return parse_mapping(ctx, ev, depth, out, height);
	case YAML_SEQUENCE_START_EVENT:
		return parse_sequence(ctx, ev, depth, out, height);
	case YAML_SCALAR_EVENT:
		if ((error = add_nodes(ctx, 1)) < 0 ||
		    (error = pv_yamlscalar_resolve(&sc, ev)) < 0 ||
		    (error = pv_yamlscalar_to_json(out, &sc, ev)) < 0 ||
		    (error = anchor_begin(ctx, &idx, ev->data.scalar.anchor)) < 0) {
			json_decref(*out);
			*out = NULL;
			return error;
		}
		anchor_end(ctx, idx, *out, 0, 1);
		return 0;
	case YAML_ALIAS_EVENT:
		if ((error = anchor_lookup(ctx, &anchor, ev)) < 0)
			return error;
		if (anchor->height > 0 && depth + anchor->height - 1 > PV_VALUES_MAX_DEPTH)
			return too_deep(ev);
		/* Count before copying: this is what stops an alias bomb. */
		if ((error = add_nodes(ctx, anchor->nodes)) < 0)
			return error;
		if (!(*out = json_deep_copy(anchor->value)))
			return pv_values__oom();
		*height = anchor->height;
		return 0;
	default:
		/* libyaml only gives node events here */
		return pv_error_set(PV_ERROR, NULL, "unexpected YAML event %d", (int)ev->type);
	}
}

/* Is ev a scalar that resolves to null (`~`, `null`, empty, `!!null`)? */
static int is_null_scalar(const yaml_event_t *ev, int *out)
{
	struct pv_yamlscalar sc;
	int error;

	*out = 0;
	if (ev->type != YAML_SCALAR_EVENT)
		return 0;
	if ((error = pv_yamlscalar_resolve(&sc, ev)) < 0)
		return error;
	*out = sc.kind == PV_YAMLSCALAR_NULL;
	return 0;
}

int pv_values_from_yaml(json_t **out, const char *yaml, size_t len)
{
	struct parse_ctx ctx;
	yaml_event_t ev;
	json_t *root = NULL;
	size_t height;
	int have_ev = 0, is_null, error = 0;

	if (!out || (!yaml && len))
		return pv_error_set(PV_ERROR, NULL, "pv_values_from_yaml: invalid arguments");
	*out = NULL;
	if (len > PV_VALUES_MAX_YAML)
		return pv_error_set(PV_ETOOBIG, NULL,
			"values YAML is %zu bytes, more than the limit of %zu",
			len, PV_VALUES_MAX_YAML);

	memset(&ctx, 0, sizeof(ctx));
	if (!yaml_parser_initialize(&ctx.parser))
		return pv_values__oom();
	if (!(ctx.anchor_names = json_object())) {
		error = pv_values__oom();
		goto cleanup;
	}
	yaml_parser_set_input_string(&ctx.parser,
		(const unsigned char *)(yaml ? yaml : ""), len);

	/* STREAM-START, then a document or the end of an empty stream */
	if ((error = next_event(&ctx, &ev)) < 0)
		goto cleanup;
	yaml_event_delete(&ev);
	if ((error = next_event(&ctx, &ev)) < 0)
		goto cleanup;
	have_ev = 1;
	if (ev.type == YAML_STREAM_END_EVENT) {
		if (!(root = json_object()))
			error = pv_values__oom();
		goto done;
	}
	yaml_event_delete(&ev);
	have_ev = 0;

	/* the document's root node */
	if ((error = next_event(&ctx, &ev)) < 0)
		goto cleanup;
	have_ev = 1;
	if (ev.type == YAML_MAPPING_START_EVENT) {
		if ((error = parse_node(&ctx, &ev, 1, &root, &height)) < 0)
			goto cleanup;
	} else {
		if ((error = is_null_scalar(&ev, &is_null)) < 0)
			goto cleanup;
		if (!is_null) {
			error = pv_error_set(PV_EINVAL, "values", "values must be a YAML mapping");
			goto cleanup;
		}
		/* `~` or `null` alone: go-yaml leaves Helm's map empty */
		if (!(root = json_object())) {
			error = pv_values__oom();
			goto cleanup;
		}
	}
	yaml_event_delete(&ev);
	have_ev = 0;

	/* DOCUMENT-END, then nothing but STREAM-END */
	if ((error = next_event(&ctx, &ev)) < 0)
		goto cleanup;
	yaml_event_delete(&ev);
	if ((error = next_event(&ctx, &ev)) < 0)
		goto cleanup;
	have_ev = 1;
	if (ev.type != YAML_STREAM_END_EVENT) {
		error = pv_error_set(PV_EINVAL, "values",
			"values must be a single YAML document (another starts at line %zu)",
			ev.start_mark.line + 1);
		goto cleanup;
	}

done:
	if (error == 0) {
		*out = root;
		root = NULL;
	}

cleanup:
	if (have_ev)
		yaml_event_delete(&ev);
	for (size_t i = 0; i < ctx.anchor_count; i++)
		json_decref(ctx.anchors[i].value);
	free(ctx.anchors);
	json_decref(ctx.anchor_names);
	json_decref(root);
	yaml_parser_delete(&ctx.parser);
	return error;
}

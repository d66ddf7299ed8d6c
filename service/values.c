/*
 * values.c - Helm values: YAML (go-yaml v2 / YAML 1.1 reading) <-> JSON.
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
 * Scalar resolution mirrors gopkg.in/yaml.v2 resolve.go (the reader Helm
 * uses), including its corners: underscores are stripped anywhere before an
 * integer is tried, "08" is not octal and so is the float 8.0, an
 * overflowing float stays a string.  Key conversion mirrors sigs.k8s.io/yaml,
 * which Helm uses to turn go-yaml's map[interface{}]interface{} into JSON.
 *
 * Writing uses libyaml's emitter with every scalar's style chosen here, so
 * the output does not depend on libyaml's own plain-scalar heuristics (which
 * follow YAML 1.1 only loosely and would let "on" or "1e3" through plain).
 */
#include "values.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "array.h"
#include "strbuf.h"

#define MERGE_TAG "tag:yaml.org,2002:merge"

/* to_yaml is usable without a depth check; this only keeps its recursion
 * bounded on absurd input. */
#define EMIT_MAX_DEPTH 1000

/* How much of a key or anchor name goes into an error message. */
#define MSG_SNIPPET 60

static int oom(void)
{
	return pv_error_set(PV_ERROR, NULL, "out of memory");
}

/* Length of the longest prefix of s (at most MSG_SNIPPET bytes) that does
 * not end inside a UTF-8 sequence, so error messages stay valid UTF-8 for
 * the JSON problem responses they end up in. */
static int snippet_len(const char *s, size_t len)
{
	size_t n = len < MSG_SNIPPET ? len : MSG_SNIPPET;

	if (n < len)
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	return (int)n;
}

/* ------------------------------------------------------------------------
 * Scalar resolution (go-yaml v2, YAML 1.1)
 */

enum scalar_kind { S_STR, S_NULL, S_BOOL, S_INT, S_UINT, S_FLOAT };

struct scalar {
	enum scalar_kind kind;
	int boolean;
	long long integer;
	unsigned long long uinteger;
	double real;            /* may be infinite or NaN for .inf/.nan */
};

enum tag_kind { TAG_NONE, TAG_STR, TAG_INT, TAG_FLOAT, TAG_BOOL, TAG_NULL, TAG_OTHER };

static const struct {
	const char *word;
	enum scalar_kind kind;
	int value;              /* bool value, or sign of .inf, 0 for .nan */
} special_words[] = {
	{ "y", S_BOOL, 1 }, { "Y", S_BOOL, 1 }, { "yes", S_BOOL, 1 },
	{ "Yes", S_BOOL, 1 }, { "YES", S_BOOL, 1 }, { "true", S_BOOL, 1 },
	{ "True", S_BOOL, 1 }, { "TRUE", S_BOOL, 1 }, { "on", S_BOOL, 1 },
	{ "On", S_BOOL, 1 }, { "ON", S_BOOL, 1 },
	{ "n", S_BOOL, 0 }, { "N", S_BOOL, 0 }, { "no", S_BOOL, 0 },
	{ "No", S_BOOL, 0 }, { "NO", S_BOOL, 0 }, { "false", S_BOOL, 0 },
	{ "False", S_BOOL, 0 }, { "FALSE", S_BOOL, 0 }, { "off", S_BOOL, 0 },
	{ "Off", S_BOOL, 0 }, { "OFF", S_BOOL, 0 },
	{ "~", S_NULL, 0 }, { "null", S_NULL, 0 }, { "Null", S_NULL, 0 },
	{ "NULL", S_NULL, 0 },
	{ ".nan", S_FLOAT, 0 }, { ".NaN", S_FLOAT, 0 }, { ".NAN", S_FLOAT, 0 },
	{ ".inf", S_FLOAT, 1 }, { ".Inf", S_FLOAT, 1 }, { ".INF", S_FLOAT, 1 },
	{ "+.inf", S_FLOAT, 1 }, { "+.Inf", S_FLOAT, 1 }, { "+.INF", S_FLOAT, 1 },
	{ "-.inf", S_FLOAT, -1 }, { "-.Inf", S_FLOAT, -1 }, { "-.INF", S_FLOAT, -1 },
};

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* strconv.ParseUint(s, base, 64) for base 0 (prefix decides) or 2.  s is
 * NUL-terminated and free of underscores.  Returns 1 if it parses. */
static int go_parse_uint(const char *s, int base, unsigned long long *out)
{
	unsigned long long n = 0;
	size_t len = strlen(s);

	if (len == 0)
		return 0;
	if (base == 0) {
		base = 10;
		if (s[0] == '0') {
			if (len >= 3 && lower(s[1]) == 'b') {
				base = 2;
				s += 2;
			} else if (len >= 3 && lower(s[1]) == 'o') {
				base = 8;
				s += 2;
			} else if (len >= 3 && lower(s[1]) == 'x') {
				base = 16;
				s += 2;
			} else {
				base = 8;
				s += 1;
			}
		}
	}
	for (; *s; s++) {
		int d;

		if (is_digit(*s))
			d = *s - '0';
		else if (lower(*s) >= 'a' && lower(*s) <= 'z')
			d = lower(*s) - 'a' + 10;
		else
			return 0;
		if (d >= base)
			return 0;
		if (n > (ULLONG_MAX - (unsigned)d) / (unsigned)base)
			return 0;
		n = n * (unsigned)base + (unsigned)d;
	}
	*out = n;
	return 1;
}

/* strconv.ParseInt(s, base, 64): optional sign, then go_parse_uint. */
static int go_parse_int(const char *s, int base, long long *out)
{
	unsigned long long un;
	int neg = 0;

	if (*s == '+') {
		s++;
	} else if (*s == '-') {
		neg = 1;
		s++;
	}
	if (!go_parse_uint(s, base, &un))
		return 0;
	if (!neg && un > (unsigned long long)LLONG_MAX)
		return 0;
	if (neg && un > (unsigned long long)LLONG_MAX + 1)
		return 0;
	if (neg)
		*out = un == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)un;
	else
		*out = (long long)un;
	return 1;
}

/* Advance *p over [0-9]*; returns how many digits it passed. */
static size_t skip_digits(const char **p)
{
	size_t n = 0;

	while (is_digit(**p)) {
		(*p)++;
		n++;
	}
	return n;
}

/* go-yaml v2's yamlStyleFloat:
 * ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static int yaml_style_float(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (*s == '.') {
		s++;
		if (!skip_digits(&s))
			return 0;
	} else {
		if (!skip_digits(&s))
			return 0;
		if (*s == '.') {
			s++;
			skip_digits(&s);
		}
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!skip_digits(&s))
			return 0;
	}
	return *s == '\0';
}

/* strconv's underscoreOK for a decimal literal: every '_' sits between two
 * digits. */
static int underscores_ok(const char *s)
{
	char saw = '^';

	for (; *s; s++) {
		if (is_digit(*s)) {
			saw = '0';
		} else if (*s == '_') {
			if (saw != '0')
				return 0;
			saw = '_';
		} else {
			if (saw == '_')
				return 0;
			saw = '!';
		}
	}
	return saw != '_';
}

/* Remove every '_' from the NUL-terminated s, in place. */
static void strip_underscores(char *s)
{
	char *w = s;

	for (; *s; s++)
		if (*s != '_')
			*w++ = *s;
	*w = '\0';
}

/* A float that strtod parses exactly as Go's ParseFloat does (callers have
 * checked the syntax); overflow is an error in Go, so it is here. */
static int parse_finite(const char *s, double *out)
{
	double d = strtod(s, NULL);

	if (isinf(d))
		return 0;
	*out = d;
	return 1;
}

/* Resolve a plain scalar (or one with a resolvable tag) the way go-yaml v2
 * resolve() does with an empty tag.  Returns 0 or PV_ERROR (memory). */
static int resolve_implicit(struct scalar *out, const char *s, size_t len)
{
	char hint, *plain = NULL;

	memset(out, 0, sizeof(*out));
	out->kind = S_STR;

	if (len == 0) {
		out->kind = S_NULL;
		return 0;
	}
	/* Plain scalars cannot hold NUL, but tagged quoted ones can, and no
	 * special word or number contains one. */
	if (memchr(s, '\0', len))
		return 0;

	switch (s[0]) {
	case '+': case '-':
		hint = 'S';
		break;
	case '.':
		hint = '.';
		break;
	case 'y': case 'Y': case 'n': case 'N': case 't': case 'T':
	case 'f': case 'F': case 'o': case 'O': case '~':
		hint = 'M';
		break;
	default:
		hint = is_digit(s[0]) ? 'D' : 0;
	}
	if (!hint)
		return 0;

	for (size_t i = 0; i < sizeof(special_words) / sizeof(special_words[0]); i++) {
		if (strlen(special_words[i].word) != len ||
		    memcmp(special_words[i].word, s, len) != 0)
			continue;
		out->kind = special_words[i].kind;
		if (out->kind == S_BOOL)
			out->boolean = special_words[i].value;
		else if (out->kind == S_FLOAT)
			out->real = special_words[i].value ?
				special_words[i].value * HUGE_VAL : NAN;
		return 0;
	}

	if (hint == 'M')
		return 0;

	if (hint == '.') {
		/* strconv.ParseFloat(in) on the text as written, which allows
		 * '_' only between digits */
		if (!(plain = malloc(len + 1)))
			return oom();
		memcpy(plain, s, len);
		plain[len] = '\0';
		if (underscores_ok(plain)) {
			strip_underscores(plain);
			if (yaml_style_float(plain) && parse_finite(plain, &out->real))
				out->kind = S_FLOAT;
		}
		goto cleanup;
	}

	/* 'D' or 'S': go-yaml strips every underscore, then tries ParseInt,
	 * ParseUint, its float regexp, and finally a 0b prefix (a leftover from
	 * Go versions whose ParseInt did not know 0b; it also accepts "0b-1"). */
	if (!(plain = malloc(len + 1)))
		return oom();
	memcpy(plain, s, len);
	plain[len] = '\0';
	strip_underscores(plain);

	if (go_parse_int(plain, 0, &out->integer)) {
		out->kind = S_INT;
	} else if (go_parse_uint(plain, 0, &out->uinteger)) {
		out->kind = S_UINT;
	} else if (yaml_style_float(plain) && parse_finite(plain, &out->real)) {
		out->kind = S_FLOAT;
	} else if (strncmp(plain, "0b", 2) == 0) {
		if (go_parse_int(plain + 2, 2, &out->integer))
			out->kind = S_INT;
		else if (go_parse_uint(plain + 2, 2, &out->uinteger))
			out->kind = S_UINT;
	} else if (strncmp(plain, "-0b", 3) == 0) {
		/* ParseInt("-" + plain[3:], 2): reuse the buffer, shifted */
		plain[2] = '-';
		if (go_parse_int(plain + 2, 2, &out->integer))
			out->kind = S_INT;
	}

cleanup:
	free(plain);
	return 0;
}

static enum tag_kind classify_tag(const char *tag)
{
	if (!tag)
		return TAG_NONE;
	if (strcmp(tag, YAML_STR_TAG) == 0)
		return TAG_STR;
	if (strcmp(tag, YAML_INT_TAG) == 0)
		return TAG_INT;
	if (strcmp(tag, YAML_FLOAT_TAG) == 0)
		return TAG_FLOAT;
	if (strcmp(tag, YAML_BOOL_TAG) == 0)
		return TAG_BOOL;
	if (strcmp(tag, YAML_NULL_TAG) == 0)
		return TAG_NULL;
	return TAG_OTHER;
}

static const char *tag_name(enum tag_kind t)
{
	switch (t) {
	case TAG_INT: return "!!int";
	case TAG_FLOAT: return "!!float";
	case TAG_BOOL: return "!!bool";
	case TAG_NULL: return "!!null";
	default: return "!!str";
	}
}

/* Resolve a scalar event.  Returns 0, PV_EINVAL if the value does not fit
 * an explicit tag, or PV_ERROR. */
static int resolve_scalar(struct scalar *out, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	enum tag_kind tag = classify_tag((const char *)ev->data.scalar.tag);
	int error, ok;

	memset(out, 0, sizeof(*out));
	out->kind = S_STR;

	/* Quoted and block scalars without a tag are strings; so is anything
	 * tagged !!str or with a tag we do not resolve (including "!"). */
	if ((tag == TAG_NONE && !ev->data.scalar.plain_implicit) ||
	    tag == TAG_STR || tag == TAG_OTHER)
		return 0;

	if ((error = resolve_implicit(out, s, len)) < 0)
		return error;

	switch (tag) {
	case TAG_INT:
		ok = out->kind == S_INT || out->kind == S_UINT;
		break;
	case TAG_FLOAT:
		/* go-yaml converts an integer to the float asked for */
		if (out->kind == S_INT) {
			out->real = (double)out->integer;
			out->kind = S_FLOAT;
		} else if (out->kind == S_UINT) {
			out->real = (double)out->uinteger;
			out->kind = S_FLOAT;
		}
		ok = out->kind == S_FLOAT;
		break;
	case TAG_BOOL:
		ok = out->kind == S_BOOL;
		break;
	case TAG_NULL:
		ok = out->kind == S_NULL;
		break;
	default:
		ok = 1;
	}
	if (!ok)
		return pv_error_set(PV_EINVAL, "values",
			"cannot read \"%.*s\" as %s at line %zu, column %zu",
			snippet_len(s, len), s, tag_name(tag),
			ev->start_mark.line + 1, ev->start_mark.column + 1);
	return 0;
}

/* The JSON value of a resolved scalar.  Returns 0, PV_EINVAL for .inf/.nan,
 * or PV_ERROR. */
static int scalar_to_json(json_t **out, const struct scalar *sc,
			  const yaml_event_t *ev)
{
	*out = NULL;

	switch (sc->kind) {
	case S_NULL:
		*out = json_null();
		break;
	case S_BOOL:
		*out = json_boolean(sc->boolean);
		break;
	case S_INT:
		*out = json_integer((json_int_t)sc->integer);
		break;
	case S_UINT:
		/* Beyond json_int_t; Helm holds every number as a float64 anyway. */
		*out = json_real((double)sc->uinteger);
		break;
	case S_FLOAT:
		if (!isfinite(sc->real))
			return pv_error_set(PV_EINVAL, "values",
				"%s at line %zu, column %zu cannot be stored: JSON has no infinity or NaN",
				isnan(sc->real) ? ".nan" : ".inf",
				ev->start_mark.line + 1, ev->start_mark.column + 1);
		*out = json_real(sc->real);
		break;
	case S_STR:
		/* A "\0" escape: jansson's reader (which reads these values back
		 * from the store) refuses U+0000 by default, so refuse it here. */
		if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length))
			return pv_error_set(PV_EINVAL, "values",
				"string at line %zu, column %zu contains a NUL character",
				ev->start_mark.line + 1, ev->start_mark.column + 1);
		*out = json_stringn((const char *)ev->data.scalar.value,
				    ev->data.scalar.length);
		break;
	}
	return *out ? 0 : oom();
}

/* strconv.FormatFloat(d, 'g', -1, 32), which sigs.k8s.io/yaml uses for
 * float keys: round to float32, take the shortest digits that read back as
 * that float32, and use the exponent form when the exponent is < -4 or >= 6
 * (strconv's rule for 'g' at shortest precision), so `1e6:` is "1e+06". */
static void format_go_float32(char *buf, size_t size, double d)
{
	char digits[32];
	float f;
	int prec, exp10;
	char *e;

	if (isnan(d)) {
		snprintf(buf, size, ".nan");
		return;
	}
	/* 0x1.ffffffp127 is halfway between FLT_MAX and the next power of two;
	 * from there on float32 rounding gives infinity.  Checked by hand
	 * because converting an out-of-range double to float is undefined. */
	if (fabs(d) >= 0x1.ffffffp127) {
		snprintf(buf, size, d > 0 ? ".inf" : "-.inf");
		return;
	}
	f = (float)d;
	for (prec = 1; prec < 9; prec++) {
		snprintf(digits, sizeof(digits), "%.*e", prec - 1, (double)f);
		if (strtof(digits, NULL) == f)
			break;
	}
	snprintf(digits, sizeof(digits), "%.*e", prec - 1, (double)f);
	e = strchr(digits, 'e');
	exp10 = e ? atoi(e + 1) : 0;
	if (exp10 < -4 || exp10 >= 6)
		snprintf(buf, size, "%s", digits);
	else
		snprintf(buf, size, "%.*f",
			 prec - 1 - exp10 > 0 ? prec - 1 - exp10 : 0, (double)f);
}

/* The string a mapping key becomes once Helm has turned go-yaml's map into
 * JSON (sigs.k8s.io/yaml convertToJSONableObject).  line is 1-based. */
static int key_from_json(json_t **out, const json_t *v, size_t line)
{
	char buf[64];

	*out = NULL;
	switch (json_typeof(v)) {
	case JSON_STRING:
		*out = json_stringn(json_string_value(v), json_string_length(v));
		break;
	case JSON_TRUE:
		*out = json_string("true");
		break;
	case JSON_FALSE:
		*out = json_string("false");
		break;
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		*out = json_string(buf);
		break;
	case JSON_REAL:
		format_go_float32(buf, sizeof(buf), json_real_value(v));
		*out = json_string(buf);
		break;
	case JSON_NULL:
		return pv_error_set(PV_EINVAL, "values",
			"mapping key at line %zu is null; Helm cannot use it", line);
	default:
		return pv_error_set(PV_EINVAL, "values",
			"mapping key at line %zu is not a scalar", line);
	}
	return *out ? 0 : oom();
}

/* ------------------------------------------------------------------------
 * Parsing
 */

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
		return oom();
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
		return oom();
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
			snippet_len(name, strlen(name)), name, ev->start_mark.line + 1);
	*out = &ctx->anchors[json_integer_value(idx)];
	if (!(*out)->value)
		return pv_error_set(PV_EINVAL, "values",
			"alias *%.*s at line %zu is inside the node it refers to",
			snippet_len(name, strlen(name)), name, ev->start_mark.line + 1);
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
	struct scalar sc;
	json_t *value = NULL;
	size_t idx;
	int error = 0;

	*out = NULL;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if ((error = resolve_scalar(&sc, ev)) < 0)
			goto cleanup;
		if (ev->data.scalar.anchor) {
			/* `&k key:` may be aliased as a value later */
			if ((error = scalar_to_json(&value, &sc, ev)) < 0 ||
			    (error = anchor_begin(ctx, &idx, ev->data.scalar.anchor)) < 0)
				goto cleanup;
			anchor_end(ctx, idx, value, 0, 1);
		}
		if (sc.kind == S_STR) {
			*out = json_stringn((const char *)ev->data.scalar.value,
					    ev->data.scalar.length);
			error = *out ? 0 : oom();
		} else if (sc.kind == S_UINT) {
			/* sigs.k8s.io/yaml refuses uint64 keys */
			error = pv_error_set(PV_EINVAL, "values",
				"mapping key at line %zu is out of range",
				ev->start_mark.line + 1);
		} else if (sc.kind == S_FLOAT) {
			/* .inf/.nan are fine as keys: they become strings */
			char buf[64];

			format_go_float32(buf, sizeof(buf), sc.real);
			*out = json_string(buf);
			error = *out ? 0 : oom();
		} else {
			json_t *tmp = NULL;

			if ((error = scalar_to_json(&tmp, &sc, ev)) < 0)
				goto cleanup;
			error = key_from_json(out, tmp, ev->start_mark.line + 1);
			json_decref(tmp);
		}
		break;
	case YAML_ALIAS_EVENT:
		if ((error = anchor_lookup(ctx, &anchor, ev)) < 0)
			goto cleanup;
		error = key_from_json(out, anchor->value, ev->start_mark.line + 1);
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
			return oom();
		json_object_keylen_foreach(map, key, key_len, item)
			if (json_object_setn_new(*explicit_keys, key, key_len, json_true()) < 0)
				return oom();
	}
	json_object_keylen_foreach((json_t *)src, key, key_len, item)
		if (json_object_setn(map, key, key_len, item) < 0)
			return oom();
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
		return oom();
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
				snippet_len(json_string_value(key), json_string_length(key)),
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
			error = oom();
			goto cleanup;
		}
		if (json_object_setn_new(map, json_string_value(key),
					 json_string_length(key), child) < 0) {
			child = NULL;
			error = oom();
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
			error = oom();
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
	struct scalar sc;
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
		    (error = resolve_scalar(&sc, ev)) < 0 ||
		    (error = scalar_to_json(out, &sc, ev)) < 0 ||
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
			return oom();
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
	struct scalar sc;
	int error;

	*out = 0;
	if (ev->type != YAML_SCALAR_EVENT)
		return 0;
	if ((error = resolve_scalar(&sc, ev)) < 0)
		return error;
	*out = sc.kind == S_NULL;
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
		return oom();
	if (!(ctx.anchor_names = json_object())) {
		error = oom();
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
			error = oom();
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
			error = oom();
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

/* ------------------------------------------------------------------------
 * Emitting
 */

/* libyaml's output callback: 1 on success, 0 to fail the emitter */
static int write_handler(void *data, unsigned char *buffer, size_t size)
{
	return pv_strbuf_add(data, buffer, size) == 0;
}

/* May s be written as a plain scalar and read back as the same string by
 * YAML 1.1 and 1.2 readers alike?  Deliberately narrow: no digits, signs,
 * dots or '~' first (numbers, .inf, null), none of the YAML 1.1 boolean or
 * null words in any capitalisation, no indicator characters at all. */
static int plain_safe(const char *s, size_t len)
{
	static const char *const reserved[] = {
		"y", "n", "yes", "no", "on", "off", "true", "false", "null",
	};
	char c;

	if (len == 0)
		return 0;
	c = s[0];
	if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '/'))
		return 0;
	for (size_t i = 1; i < len; i++) {
		c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) ||
		      c == '_' || c == '.' || c == '/' || c == '-'))
			return 0;
	}
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		size_t j, n = strlen(reserved[i]);

		if (n != len)
			continue;
		for (j = 0; j < n && lower(s[j]) == reserved[i][j]; j++)
			;
		if (j == n)
			return 0;
	}
	return 1;
}

/* The shortest decimal that reads back as d, always with a '.' in the
 * mantissa so every YAML reader sees a float: "100.0", "0.1", "1.0e+20". */
static void format_real(char *buf, size_t size, double d)
{
	char digits[40], mant[40];
	const char *e;
	int prec, exp10;

	for (prec = 1; prec < 17; prec++) {
		snprintf(digits, sizeof(digits), "%.*e", prec - 1, d);
		if (strtod(digits, NULL) == d)
			break;
	}
	snprintf(digits, sizeof(digits), "%.*e", prec - 1, d);
	e = strchr(digits, 'e');
	exp10 = atoi(e + 1);

	if (exp10 >= -4 && exp10 < 16) {
		snprintf(buf, size, "%.*f", prec - 1 - exp10 > 0 ? prec - 1 - exp10 : 0, d);
		if (!strchr(buf, '.'))
			strncat(buf, ".0", size - strlen(buf) - 1);
		return;
	}
	/* "1e+20" -> "1.0e+20": strict YAML 1.1 floats need the dot */
	snprintf(mant, sizeof(mant), "%.*s", (int)(e - digits), digits);
	snprintf(buf, size, "%s%s%s", mant, strchr(mant, '.') ? "" : ".0", e);
}

static int emit(yaml_emitter_t *em, yaml_event_t *ev)
{
	/* yaml_emitter_emit owns the event from here, success or not */
	if (!yaml_emitter_emit(em, ev))
		return pv_error_set(PV_ERROR, NULL, "YAML emitter failed: %s",
				    em->problem ? em->problem : "out of memory");
	return 0;
}

static int emit_scalar(yaml_emitter_t *em, const char *s, size_t len, int quoted)
{
	yaml_event_t ev;

	if (len > INT_MAX)
		return pv_error_set(PV_EINVAL, "values", "string too long to emit");
	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)len,
			!quoted, quoted,
			quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE))
		return pv_error_set(PV_ERROR, NULL,
			"YAML emitter refused a scalar (not UTF-8?)");
	return emit(em, &ev);
}

static int emit_string(yaml_emitter_t *em, const char *s, size_t len)
{
	return emit_scalar(em, s, len, !plain_safe(s, len));
}

static int emit_value(yaml_emitter_t *em, const json_t *v, size_t depth)
{
	yaml_event_t ev;
	char buf[64];
	const char *key;
	size_t key_len, i;
	json_t *item;
	int error, flow;

	if (depth > EMIT_MAX_DEPTH)
		return pv_error_set(PV_EINVAL, "values",
			"values nested deeper than %d levels", EMIT_MAX_DEPTH);

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		flow = json_object_size(v) == 0;
		if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
				flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE))
			return oom();
		if ((error = emit(em, &ev)) < 0)
			return error;
		json_object_keylen_foreach((json_t *)v, key, key_len, item) {
			if ((error = emit_string(em, key, key_len)) < 0 ||
			    (error = emit_value(em, item, depth + 1)) < 0)
				return error;
		}
		if (!yaml_mapping_end_event_initialize(&ev))
			return oom();
		return emit(em, &ev);
	case JSON_ARRAY:
		flow = json_array_size(v) == 0;
		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
				flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE))
			return oom();
		if ((error = emit(em, &ev)) < 0)
			return error;
		json_array_foreach(v, i, item) {
			if ((error = emit_value(em, item, depth + 1)) < 0)
				return error;
		}
		if (!yaml_sequence_end_event_initialize(&ev))
			return oom();
		return emit(em, &ev);
	case JSON_STRING:
		return emit_string(em, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return emit_scalar(em, buf, strlen(buf), 0);
	case JSON_REAL:
		if (!isfinite(json_real_value(v)))
			return pv_error_set(PV_EINVAL, "values",
					    "values contain a non-finite number");
		format_real(buf, sizeof(buf), json_real_value(v));
		return emit_scalar(em, buf, strlen(buf), 0);
	case JSON_TRUE:
		return emit_scalar(em, "true", 4, 0);
	case JSON_FALSE:
		return emit_scalar(em, "false", 5, 0);
	case JSON_NULL:
		return emit_scalar(em, "null", 4, 0);
	}
	return pv_error_set(PV_ERROR, NULL, "unknown JSON type");
}

int pv_values_to_yaml(char **out, size_t *out_len, const json_t *values)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	struct pv_strbuf buf = PV_STRBUF_INIT;
	size_t body, end;
	int error = 0;

	if (!out)
		return pv_error_set(PV_ERROR, NULL, "pv_values_to_yaml: invalid arguments");
	*out = NULL;
	if (out_len)
		*out_len = 0;
	if (!json_is_object(values))
		return pv_error_set(PV_EINVAL, "values", "values must be a JSON object");

	if (!yaml_emitter_initialize(&em))
		return oom();
	if ((error = pv_strbuf_add(&buf, PV_VALUES_HEADER, strlen(PV_VALUES_HEADER))) < 0)
		goto cleanup;
	body = buf.len;
	yaml_emitter_set_output(&em, write_handler, &buf);
	yaml_emitter_set_encoding(&em, YAML_UTF8_ENCODING);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_indent(&em, 2);
	yaml_emitter_set_width(&em, -1);
	yaml_emitter_set_break(&em, YAML_LN_BREAK);

	if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ||
	    (error = emit(&em, &ev)) < 0)
		goto emit_failed;
	if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) ||
	    (error = emit(&em, &ev)) < 0)
		goto emit_failed;
	if ((error = emit_value(&em, values, 1)) < 0)
		goto cleanup;
	if (!yaml_document_end_event_initialize(&ev, 1) ||
	    (error = emit(&em, &ev)) < 0)
		goto emit_failed;
	if (!yaml_stream_end_event_initialize(&ev) ||
	    (error = emit(&em, &ev)) < 0)
		goto emit_failed;
	if (!yaml_emitter_flush(&em)) {
		error = oom();
		goto cleanup;
	}

	/* libyaml may open with "---" and close with "..."; the file reads the
	 * same without them and a human editing it expects neither. */
	if (buf.len - body >= 4 && memcmp(buf.buf + body, "---", 3) == 0 &&
	    (buf.buf[body + 3] == '\n' || buf.buf[body + 3] == ' ')) {
		memmove(buf.buf + body, buf.buf + body + 4, buf.len - body - 4 + 1);
		buf.len -= 4;
	}
	end = buf.len;
	if (end - body >= 4 && memcmp(buf.buf + end - 4, "...\n", 4) == 0 &&
	    (end - body == 4 || buf.buf[end - 5] == '\n')) {
		buf.len -= 4;
		buf.buf[buf.len] = '\0';
	}
	if ((buf.len == 0 || buf.buf[buf.len - 1] != '\n') &&
	    (error = pv_strbuf_add(&buf, "\n", 1)) < 0)
		goto cleanup;

	*out = pv_strbuf_take(&buf, out_len);
	goto cleanup;

emit_failed:
	if (error == 0)
		error = oom();
cleanup:
	yaml_emitter_delete(&em);
	pv_strbuf_dispose(&buf);
	return error;
}

/* ------------------------------------------------------------------------
 * Merge patch, check, render
 */

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
		oom();
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

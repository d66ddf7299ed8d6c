/*
 * yamlscalar.c - go-yaml v2 scalar resolution and sigs.k8s.io/yaml key
 * conversion; the DESIGN comment is in yamlscalar.h.
 */
#include "yamlscalar.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "values_int.h"

enum tag_kind { TAG_NONE, TAG_STR, TAG_INT, TAG_FLOAT, TAG_BOOL, TAG_NULL, TAG_OTHER };

static const struct {
	const char *word;
	enum pv_yamlscalar_kind kind;
	int value;              /* bool value, or sign of .inf, 0 for .nan */
} special_words[] = {
	{ "y", PV_YAMLSCALAR_BOOL, 1 }, { "Y", PV_YAMLSCALAR_BOOL, 1 },
	{ "yes", PV_YAMLSCALAR_BOOL, 1 }, { "Yes", PV_YAMLSCALAR_BOOL, 1 },
	{ "YES", PV_YAMLSCALAR_BOOL, 1 }, { "true", PV_YAMLSCALAR_BOOL, 1 },
	{ "True", PV_YAMLSCALAR_BOOL, 1 }, { "TRUE", PV_YAMLSCALAR_BOOL, 1 },
	{ "on", PV_YAMLSCALAR_BOOL, 1 }, { "On", PV_YAMLSCALAR_BOOL, 1 },
	{ "ON", PV_YAMLSCALAR_BOOL, 1 }, { "n", PV_YAMLSCALAR_BOOL, 0 },
	{ "N", PV_YAMLSCALAR_BOOL, 0 }, { "no", PV_YAMLSCALAR_BOOL, 0 },
	{ "No", PV_YAMLSCALAR_BOOL, 0 }, { "NO", PV_YAMLSCALAR_BOOL, 0 },
	{ "false", PV_YAMLSCALAR_BOOL, 0 }, { "False", PV_YAMLSCALAR_BOOL, 0 },
	{ "FALSE", PV_YAMLSCALAR_BOOL, 0 }, { "off", PV_YAMLSCALAR_BOOL, 0 },
	{ "Off", PV_YAMLSCALAR_BOOL, 0 }, { "OFF", PV_YAMLSCALAR_BOOL, 0 },
	{ "~", PV_YAMLSCALAR_NULL, 0 }, { "null", PV_YAMLSCALAR_NULL, 0 },
	{ "Null", PV_YAMLSCALAR_NULL, 0 }, { "NULL", PV_YAMLSCALAR_NULL, 0 },
	{ ".nan", PV_YAMLSCALAR_FLOAT, 0 }, { ".NaN", PV_YAMLSCALAR_FLOAT, 0 },
	{ ".NAN", PV_YAMLSCALAR_FLOAT, 0 }, { ".inf", PV_YAMLSCALAR_FLOAT, 1 },
	{ ".Inf", PV_YAMLSCALAR_FLOAT, 1 }, { ".INF", PV_YAMLSCALAR_FLOAT, 1 },
	{ "+.inf", PV_YAMLSCALAR_FLOAT, 1 }, { "+.Inf", PV_YAMLSCALAR_FLOAT, 1 },
	{ "+.INF", PV_YAMLSCALAR_FLOAT, 1 }, { "-.inf", PV_YAMLSCALAR_FLOAT, -1 },
	{ "-.Inf", PV_YAMLSCALAR_FLOAT, -1 }, { "-.INF", PV_YAMLSCALAR_FLOAT, -1 },
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
static int resolve_implicit(struct pv_yamlscalar *out, const char *s, size_t len)
{
	char hint, *plain = NULL;

	memset(out, 0, sizeof(*out));
	out->kind = PV_YAMLSCALAR_STR;

	if (len == 0) {
		out->kind = PV_YAMLSCALAR_NULL;
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
		if (out->kind == PV_YAMLSCALAR_BOOL)
			out->boolean = special_words[i].value;
		else if (out->kind == PV_YAMLSCALAR_FLOAT)
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
			return pv_values__oom();
		memcpy(plain, s, len);
		plain[len] = '\0';
		if (underscores_ok(plain)) {
			strip_underscores(plain);
			if (yaml_style_float(plain) && parse_finite(plain, &out->real))
				out->kind = PV_YAMLSCALAR_FLOAT;
		}
		goto cleanup;
	}

	/* 'D' or 'S': go-yaml strips every underscore, then tries ParseInt,
	 * ParseUint, its float regexp, and finally a 0b prefix (a leftover from
	 * Go versions whose ParseInt did not know 0b; it also accepts "0b-1"). */
	if (!(plain = malloc(len + 1)))
		return pv_values__oom();
	memcpy(plain, s, len);
	plain[len] = '\0';
	strip_underscores(plain);

	if (go_parse_int(plain, 0, &out->integer)) {
		out->kind = PV_YAMLSCALAR_INT;
	} else if (go_parse_uint(plain, 0, &out->uinteger)) {
		out->kind = PV_YAMLSCALAR_UINT;
	} else if (yaml_style_float(plain) && parse_finite(plain, &out->real)) {
		out->kind = PV_YAMLSCALAR_FLOAT;
	} else if (strncmp(plain, "0b", 2) == 0) {
		if (go_parse_int(plain + 2, 2, &out->integer))
			out->kind = PV_YAMLSCALAR_INT;
		else if (go_parse_uint(plain + 2, 2, &out->uinteger))
			out->kind = PV_YAMLSCALAR_UINT;
	} else if (strncmp(plain, "-0b", 3) == 0) {
		/* ParseInt("-" + plain[3:], 2): reuse the buffer, shifted */
		plain[2] = '-';
		if (go_parse_int(plain + 2, 2, &out->integer))
			out->kind = PV_YAMLSCALAR_INT;
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
int pv_yamlscalar_resolve(struct pv_yamlscalar *out, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	enum tag_kind tag = classify_tag((const char *)ev->data.scalar.tag);
	int error, ok;

	memset(out, 0, sizeof(*out));
	out->kind = PV_YAMLSCALAR_STR;

	/* Quoted and block scalars without a tag are strings; so is anything
	 * tagged !!str or with a tag we do not resolve (including "!"). */
	if ((tag == TAG_NONE && !ev->data.scalar.plain_implicit) ||
	    tag == TAG_STR || tag == TAG_OTHER)
		return 0;

	if ((error = resolve_implicit(out, s, len)) < 0)
		return error;

	switch (tag) {
	case TAG_INT:
		ok = out->kind == PV_YAMLSCALAR_INT || out->kind == PV_YAMLSCALAR_UINT;
		break;
	case TAG_FLOAT:
		/* go-yaml converts an integer to the float asked for */
		if (out->kind == PV_YAMLSCALAR_INT) {
			out->real = (double)out->integer;
			out->kind = PV_YAMLSCALAR_FLOAT;
		} else if (out->kind == PV_YAMLSCALAR_UINT) {
			out->real = (double)out->uinteger;
			out->kind = PV_YAMLSCALAR_FLOAT;
		}
		ok = out->kind == PV_YAMLSCALAR_FLOAT;
		break;
	case TAG_BOOL:
		ok = out->kind == PV_YAMLSCALAR_BOOL;
		break;
	case TAG_NULL:
		ok = out->kind == PV_YAMLSCALAR_NULL;
		break;
	default:
		ok = 1;
	}
	if (!ok)
		return pv_error_set(PV_EINVAL, "values",
			"cannot read \"%.*s\" as %s at line %zu, column %zu",
			pv_values__snippet_len(s, len), s, tag_name(tag),
			ev->start_mark.line + 1, ev->start_mark.column + 1);
	return 0;
}

/* The JSON value of a resolved scalar.  Returns 0, PV_EINVAL for .inf/.nan,
 * or PV_ERROR. */
int pv_yamlscalar_to_json(json_t **out, const struct pv_yamlscalar *sc,
			  const yaml_event_t *ev)
{
	*out = NULL;

	switch (sc->kind) {
	case PV_YAMLSCALAR_NULL:
		*out = json_null();
		break;
	case PV_YAMLSCALAR_BOOL:
		*out = json_boolean(sc->boolean);
		break;
	case PV_YAMLSCALAR_INT:
		*out = json_integer((json_int_t)sc->integer);
		break;
	case PV_YAMLSCALAR_UINT:
		/* Beyond json_int_t; Helm holds every number as a float64 anyway. */
		*out = json_real((double)sc->uinteger);
		break;
	case PV_YAMLSCALAR_FLOAT:
		if (!isfinite(sc->real))
			return pv_error_set(PV_EINVAL, "values",
				"%s at line %zu, column %zu cannot be stored: JSON has no infinity or NaN",
				isnan(sc->real) ? ".nan" : ".inf",
				ev->start_mark.line + 1, ev->start_mark.column + 1);
		*out = json_real(sc->real);
		break;
	case PV_YAMLSCALAR_STR:
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
	return *out ? 0 : pv_values__oom();
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
int pv_yamlscalar_key_from_json(json_t **out, const json_t *v, size_t line)
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
	return *out ? 0 : pv_values__oom();
}

int pv_yamlscalar_key(json_t **out, const struct pv_yamlscalar *sc,
		      const yaml_event_t *ev)
{
	json_t *tmp = NULL;
	char buf[64];
	int error;

	*out = NULL;
	if (sc->kind == PV_YAMLSCALAR_STR) {
		*out = json_stringn((const char *)ev->data.scalar.value,
				    ev->data.scalar.length);
		return *out ? 0 : pv_values__oom();
	}
	if (sc->kind == PV_YAMLSCALAR_UINT)
		/* sigs.k8s.io/yaml refuses uint64 keys */
		return pv_error_set(PV_EINVAL, "values",
			"mapping key at line %zu is out of range",
			ev->start_mark.line + 1);
	if (sc->kind == PV_YAMLSCALAR_FLOAT) {
		/* .inf/.nan are fine as keys: they become strings */
		format_go_float32(buf, sizeof(buf), sc->real);
		*out = json_string(buf);
		return *out ? 0 : pv_values__oom();
	}
	if ((error = pv_yamlscalar_to_json(&tmp, sc, ev)) < 0)
		return error;
	error = pv_yamlscalar_key_from_json(out, tmp, ev->start_mark.line + 1);
	json_decref(tmp);
	return error;
}

/* May s be written as a plain scalar and read back as the same string by
 * YAML 1.1 and 1.2 readers alike?  Deliberately narrow: no digits, signs,
 * dots or '~' first (numbers, .inf, null), none of the YAML 1.1 boolean or
 * null words in any capitalisation, no indicator characters at all. */
int pv_yamlscalar_plain_safe(const char *s, size_t len)
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

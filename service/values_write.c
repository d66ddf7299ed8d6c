/*
 * values_write.c - JSON -> YAML: pv_values_to_yaml() (values.h).
 *
 * DESIGN
 *
 * Writing uses libyaml's emitter with every scalar's style chosen here, so
 * the output does not depend on libyaml's own plain-scalar heuristics (which
 * follow YAML 1.1 only loosely and would let "on" or "1e3" through plain).
 * Which strings may go out plain is yamlscalar.c's rule, next to the reading
 * rules it must agree with.
 */
#include "values.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "strbuf.h"
#include "values_int.h"
#include "yamlscalar.h"

/* to_yaml is usable without a depth check; this only keeps its recursion
 * bounded on absurd input. */
#define EMIT_MAX_DEPTH 1000

/* libyaml's output callback: 1 on success, 0 to fail the emitter */
static int write_handler(void *data, unsigned char *buffer, size_t size)
{
	return pv_strbuf_add(data, buffer, size) == 0;
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
	return emit_scalar(em, s, len, !pv_yamlscalar_plain_safe(s, len));
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
			return pv_values__oom();
		if ((error = emit(em, &ev)) < 0)
			return error;
		json_object_keylen_foreach((json_t *)v, key, key_len, item) {
			if ((error = emit_string(em, key, key_len)) < 0 ||
			    (error = emit_value(em, item, depth + 1)) < 0)
				return error;
		}
		if (!yaml_mapping_end_event_initialize(&ev))
			return pv_values__oom();
		return emit(em, &ev);
	case JSON_ARRAY:
		flow = json_array_size(v) == 0;
		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
				flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE))
			return pv_values__oom();
		if ((error = emit(em, &ev)) < 0)
			return error;
		json_array_foreach(v, i, item) {
			if ((error = emit_value(em, item, depth + 1)) < 0)
				return error;
		}
		if (!yaml_sequence_end_event_initialize(&ev))
			return pv_values__oom();
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
		return pv_values__oom();
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
		error = pv_values__oom();
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
		error = pv_values__oom();
cleanup:
	yaml_emitter_delete(&em);
	pv_strbuf_dispose(&buf);
	return error;
}

/*
 * cost.c - quantities, the estimate and the hours asleep (see cost.h).
 */
#include "cost.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUANTITY_MAX 64  /* longer is not a request anyone writes */

static const char *const what_names[PV_COST_WHATS] = { "replicas", "cpu", "memory" };
static const char *const what_defaults[PV_COST_WHATS] = {
	"replicaCount", "resources.requests.cpu", "resources.requests.memory" };

/* ---- quantities --------------------------------------------------------- */

/* The multiplier of a suffix, 0 if it is none Kubernetes knows. */
static double suffix_scale(const char *s, size_t len)
{
	static const struct { const char *sfx; double scale; } table[] = {
		{ "", 1 }, { "Ki", 0x1p10 }, { "Mi", 0x1p20 }, { "Gi", 0x1p30 }, { "Ti", 0x1p40 },
		{ "Pi", 0x1p50 }, { "Ei", 0x1p60 }, { "n", 1e-9 }, { "u", 1e-6 }, { "m", 1e-3 },
		{ "k", 1e3 }, { "M", 1e6 }, { "G", 1e9 }, { "T", 1e12 }, { "P", 1e15 }, { "E", 1e18 },
	};
	int sign = 1, exp = 0;
	size_t i = 1;

	for (size_t t = 0; t < sizeof(table) / sizeof(table[0]); t++)
		if (strlen(table[t].sfx) == len && memcmp(table[t].sfx, s, len) == 0)
			return table[t].scale;
	/* a decimal exponent: e or E, a sign, one to three digits */
	if (len < 2 || (s[0] != 'e' && s[0] != 'E'))
		return 0;
	if (s[1] == '+' || s[1] == '-') {
		sign = s[1] == '-' ? -1 : 1;
		i = 2;
	}
	if (len - i < 1 || len - i > 3)
		return 0;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		exp = exp * 10 + (s[i] - '0');
	}
	return pow(10.0, sign * exp);
}

int pv_cost_quantity(double *out, const char *s, size_t len)
{
	char num[QUANTITY_MAX + 1];
	size_t i = 0, digits = 0;
	double scale, v;

	*out = 0;
	if (!s || len == 0 || len > QUANTITY_MAX)
		return pv_error_set(PV_EINVAL, "values", "a quantity must be 1 to %d characters", QUANTITY_MAX);
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	if (i < len && s[i] == '.')
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
	if (digits == 0)
		return pv_error_set(PV_EINVAL, "values", "'%.*s' is not a quantity (such as 250m, 0.5, 512Mi or 1G)",
			(int)len, s);
	/* "1e3" reads as 1 with the exponent e3: the number part never holds one */
	if ((scale = suffix_scale(s + i, len - i)) == 0)
		return pv_error_set(PV_EINVAL, "values", "'%.*s' has a suffix Kubernetes does not know", (int)len, s);
	memcpy(num, s, i);
	num[i] = '\0';
	v = strtod(num, NULL) * scale;
	if (!isfinite(v))
		return pv_error_set(PV_EINVAL, "values", "'%.*s' is out of range", (int)len, s);
	*out = v;
	return 0;
}

int pv_cost_quantity_json(double *out, const json_t *v)
{
	*out = 0;
	if (json_is_number(v)) {
		double d = json_number_value(v);
		if (!(d >= 0) || !isfinite(d))
			return pv_error_set(PV_EINVAL, "values", "a quantity must not be negative");
		*out = d;
		return 0;
	}
	if (json_is_string(v))
		return pv_cost_quantity(out, json_string_value(v), json_string_length(v));
	return pv_error_set(PV_EINVAL, "values", "a quantity must be a number or a string such as \"250m\"");
}

/* ---- the model ---------------------------------------------------------- */

/* The next comma-separated item of *p into buf, blanks dropped (they
 * never belong in a price or a path); 0 at the end, -1 when it does not
 * fit. */
static int next_item(const char **p, char *buf, size_t len)
{
	const char *s = *p;
	size_t n = 0;

	while (*s == ' ' || *s == '\t' || *s == ',')
		s++;
	if (!*s)
		return 0;
	for (; *s && *s != ','; s++) {
		if (*s == ' ' || *s == '\t')
			continue;
		if (n + 1 >= len) {
			buf[0] = '\0';
			return -1;
		}
		buf[n++] = *s;
	}
	buf[n] = '\0';
	*p = *s ? s + 1 : s;
	return 1;
}

/* A dotted path: non-empty segments, no blanks. */
static int path_ok(const char *s)
{
	if (!*s || *s == '.' || s[strlen(s) - 1] == '.' || strstr(s, ".."))
		return 0;
	return strchr(s, '=') == NULL;
}

static int parse_rates(struct pv_cost_model *m, const char *rates)
{
	const char *p = rates ? rates : "";
	char item[PV_COST_PATH_MAX], *eq, *end;
	int seen_cpu = 0, seen_mem = 0, r;

	while ((r = next_item(&p, item, sizeof(item))) != 0) {
		double v;
		if (r < 0 || !(eq = strchr(item, '=')))
			return pv_error_set(PV_EINVAL, "PREVIEWD_COST_RATES",
				"PREVIEWD_COST_RATES must be a list such as cpu=0.04,memory=0.005");
		*eq = '\0';
		v = strtod(eq + 1, &end);
		if (end == eq + 1 || *end || !isfinite(v) || v < 0)
			return pv_error_set(PV_EINVAL, "PREVIEWD_COST_RATES",
				"PREVIEWD_COST_RATES: %s must be a price of zero or more, not '%s'", item, eq + 1);
		if (strcmp(item, "cpu") == 0 && !seen_cpu++)
			m->cpu_hour = v;
		else if (strcmp(item, "memory") == 0 && !seen_mem++)
			m->gib_hour = v;
		else
			return pv_error_set(PV_EINVAL, "PREVIEWD_COST_RATES",
				"PREVIEWD_COST_RATES: '%s' is not cpu or memory, or is given twice", item);
	}
	return 0;
}

static int parse_paths(struct pv_cost_model *m, const char *paths)
{
	const char *p = paths ? paths : "";
	char item[PV_COST_PATH_MAX + 16], *eq;
	int seen[PV_COST_WHATS] = { 0 }, r;

	for (int w = 0; w < PV_COST_WHATS; w++)
		snprintf(m->paths[w], sizeof(m->paths[w]), "%s", what_defaults[w]);
	while ((r = next_item(&p, item, sizeof(item))) != 0) {
		int w;
		if (r < 0 || !(eq = strchr(item, '=')))
			return pv_error_set(PV_EINVAL, "PREVIEWD_COST_PATHS",
				"PREVIEWD_COST_PATHS must be a list such as replicas=replicaCount,cpu=resources.requests.cpu");
		*eq = '\0';
		for (w = 0; w < PV_COST_WHATS && strcmp(item, what_names[w]) != 0; w++)
			;
		if (w == PV_COST_WHATS || seen[w]++)
			return pv_error_set(PV_EINVAL, "PREVIEWD_COST_PATHS",
				"PREVIEWD_COST_PATHS: '%s' is not replicas, cpu or memory, or is given twice", item);
		if (!path_ok(eq + 1) || strlen(eq + 1) >= PV_COST_PATH_MAX)
			return pv_error_set(PV_EINVAL, "PREVIEWD_COST_PATHS",
				"PREVIEWD_COST_PATHS: '%s' is not a dotted path such as resources.requests.cpu", eq + 1);
		snprintf(m->paths[w], sizeof(m->paths[w]), "%s", eq + 1);
	}
	return 0;
}

static int parse_components(struct pv_cost_model *m, const char *components)
{
	const char *p = components ? components : "";
	char item[PV_COST_PATH_MAX];
	int r;

	m->ncomponents = 0;
	while ((r = next_item(&p, item, sizeof(item))) != 0) {
		size_t n = r > 0 ? strlen(item) : 0;
		if (n > 1 && item[n - 1] == '.')
			item[--n] = '\0';
		if (strcmp(item, ".") == 0)
			item[0] = '\0';
		else if (r < 0 || !path_ok(item))
			return pv_error_set(PV_EINVAL, "PREVIEWD_COST_COMPONENTS",
				"PREVIEWD_COST_COMPONENTS: '%s' is not a dotted prefix such as frontend.", item);
		if (m->ncomponents == PV_COST_MAX_COMPONENTS)
			return pv_error_set(PV_EINVAL, "PREVIEWD_COST_COMPONENTS",
				"PREVIEWD_COST_COMPONENTS lists more than %d components", PV_COST_MAX_COMPONENTS);
		snprintf(m->components[m->ncomponents++], PV_COST_PATH_MAX, "%s", item);
	}
	if (m->ncomponents == 0)
		m->components[m->ncomponents++][0] = '\0';
	return 0;
}

int pv_cost_model_parse(struct pv_cost_model *m, const char *rates, const char *paths, const char *components)
{
	int error;

	memset(m, 0, sizeof(*m));
	if ((error = parse_rates(m, rates)) < 0 || (error = parse_paths(m, paths)) < 0 ||
	    (error = parse_components(m, components)) < 0)
		return error;
	return 0;
}

/* ---- the estimate ------------------------------------------------------- */

/* The child of o named by the segment [s, s + n), or NULL. */
static const json_t *child(const json_t *o, const char *s, size_t n)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o))
		return NULL;
	json_object_foreach((json_t *)o, key, v)
		if (strlen(key) == n && memcmp(key, s, n) == 0)
			return v;
	return NULL;
}

static const json_t *walk(const json_t *o, const char *path)
{
	while (o && *path) {
		size_t n = strcspn(path, ".");
		o = child(o, path, n);
		path += n + (path[n] == '.');
	}
	return o;
}

const json_t *pv_cost_lookup(const json_t *root, const char *prefix, const char *path)
{
	const json_t *base = prefix && *prefix ? walk(root, prefix) : root;

	return base ? walk(base, path) : NULL;
}

int pv_cost_per_day(const struct pv_cost_model *m, const json_t *values, double *out)
{
	double total = 0;

	*out = 0;
	for (size_t c = 0; c < m->ncomponents; c++) {
		const char *prefix = m->components[c];
		const json_t *v;
		double replicas = 1, cpu = 0, mem = 0;

		/* a component the values do not have is not deployed */
		if (*prefix && !json_is_object(walk(values, prefix)))
			continue;
		if ((v = pv_cost_lookup(values, prefix, m->paths[PV_COST_REPLICAS])) && !json_is_null(v)) {
			/* Helm reads replicaCount "2" as a string; Kubernetes needs an integer */
			if (pv_cost_quantity_json(&replicas, v) < 0 || replicas != floor(replicas))
				return pv_error_set(PV_EINVAL, "values", "%s%s%s must be a whole number of replicas", prefix,
					*prefix ? "." : "", m->paths[PV_COST_REPLICAS]);
		}
		if ((v = pv_cost_lookup(values, prefix, m->paths[PV_COST_CPU])) && !json_is_null(v) &&
		    pv_cost_quantity_json(&cpu, v) < 0)
			return PV_EINVAL;
		if ((v = pv_cost_lookup(values, prefix, m->paths[PV_COST_MEMORY])) && !json_is_null(v) &&
		    pv_cost_quantity_json(&mem, v) < 0)
			return PV_EINVAL;
		total += replicas * (cpu * m->cpu_hour + mem / 0x1p30 * m->gib_hour);
	}
	total *= 24;
	/* bounded so that the rounding's scaling stays finite too */
	if (!isfinite(total) || total > PV_COST_MAX_DAY)
		return pv_error_set(PV_EINVAL, "values", "the requests in the values are out of range");
	*out = pv_cost_round(total);
	return 0;
}

int pv_cost_per_day_text(const struct pv_cost_model *m, const char *values_json, double *out)
{
	json_t *v = values_json ? json_loads(values_json, 0, NULL) : NULL;
	int error;

	*out = 0;
	if (!v)
		return pv_error_set(PV_EINVAL, "values", "the recorded values are not JSON");
	error = pv_cost_per_day(m, v, out);
	json_decref(v);
	return error;
}

/* ---- sleeping ----------------------------------------------------------- */

void pv_cost_sleep_init(struct pv_cost_sleep *s, int64_t from, int64_t to)
{
	s->from = from;
	s->to = to > from ? to : from;
	s->since = from;
	s->total = 0;
	s->asleep = 0;
}

void pv_cost_sleep_change(struct pv_cost_sleep *s, int64_t at, int asleep)
{
	/* a change outside the window counts at its edge: one before it sets
	 * the state the window starts in */
	if (at < s->from)
		at = s->from;
	if (at > s->to)
		at = s->to;
	if (s->asleep && at > s->since)
		s->total += at - s->since;
	if (at > s->since)
		s->since = at;
	s->asleep = asleep != 0;
}

int64_t pv_cost_sleep_end(struct pv_cost_sleep *s)
{
	pv_cost_sleep_change(s, s->to, s->asleep);
	return s->total;
}

int64_t pv_cost_asleep_seconds(const struct pv_cost_change *ch, size_t n, int64_t from, int64_t to)
{
	struct pv_cost_sleep s;

	pv_cost_sleep_init(&s, from, to);
	for (size_t i = 0; i < n; i++)
		pv_cost_sleep_change(&s, ch[i].at, ch[i].asleep);
	return pv_cost_sleep_end(&s);
}

double pv_cost_round(double v)
{
	const double scale = 1e4;  /* 10^PV_COST_DIGITS */

	return round(v * scale) / scale;
}

double pv_cost_saved(double per_day, int64_t asleep_seconds)
{
	return pv_cost_round(per_day / 24.0 * ((double)asleep_seconds / 3600.0));
}

/*
 * prrules.c - PREVIEWD_PR_RULES read and checked, and the templates filled
 * (see prrules.h).
 */
#include "prrules.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "values.h"

#define RULES_MAX_BYTES (1024 * 1024)

static void rule_dispose(struct pv_prrule *r)
{
	free(r->forge);
	free(r->repo);
	free(r->name);
	free(r->base);
	json_decref(r->values);
	for (size_t i = 0; i < r->nlabels; i++)
		free(r->labels[i]);
	free(r->labels);
	for (size_t i = 0; i < r->nbranches; i++)
		free(r->branches[i]);
	free(r->branches);
	for (size_t i = 0; i < r->ncommenters; i++)
		free(r->commenters[i]);
	free(r->commenters);
	free(r->ttl);
	if (r->secret)
		memset(r->secret, 0, strlen(r->secret));
	free(r->secret);
}

void pv_prrules_free(struct pv_prrules *rules)
{
	if (!rules)
		return;
	for (size_t i = 0; i < rules->n; i++)
		rule_dispose(&rules->v[i]);
	free(rules->v);
	free(rules);
}

/* ---- templates ---------------------------------------------------------- */

void pv_prrules_slug(char *out, size_t max, const char *s)
{
	size_t o = 0;

	for (; s && *s && o < max; s++) {
		unsigned char c = (unsigned char)tolower((unsigned char)*s);
		if (!isalnum(c) || c >= 0x80)
			c = '-';
		if (c == '-' && (o == 0 || out[o - 1] == '-'))
			continue;
		out[o++] = (char)c;
	}
	while (o > 0 && out[o - 1] == '-')
		o--;
	out[o] = '\0';
}

static const char *last_segment(const char *repo)
{
	const char *slash = repo ? strrchr(repo, '/') : NULL;

	return slash ? slash + 1 : repo ? repo : "";
}

int pv_prrules_fill(char *out, size_t len, const char *tmpl, const struct pv_prvars *vars)
{
	size_t o = 0;
	char num[24], slug[PV_NAME_MAX + 1], sha7[8];

	snprintf(num, sizeof(num), "%lld", vars->number);
	pv_prrules_slug(slug, PV_NAME_MAX, vars->branch);
	snprintf(sha7, sizeof(sha7), "%.7s", vars->sha ? vars->sha : "");
	for (const char *p = tmpl; *p;) {
		const char *v = NULL, *end;
		size_t n;
		if (*p != '{') {
			if (o + 1 >= len)
				return pv_error_set(PV_ETOOBIG, NULL, "the filled template is longer than %zu bytes", len - 1);
			out[o++] = *p++;
			continue;
		}
		if (!(end = strchr(p, '}')))
			return pv_error_set(PV_EINVAL, NULL, "an unclosed '{' in \"%.80s\"", tmpl);
		n = (size_t)(end - p - 1);
#define IS(k) (n == sizeof(k) - 1 && memcmp(p + 1, k, n) == 0)
		if (IS("repo"))
			v = last_segment(vars->repo);
		else if (IS("number"))
			v = num;
		else if (IS("branch"))
			v = vars->branch;
		else if (IS("branch_slug"))
			v = slug;
		else if (IS("sha"))
			v = vars->sha;
		else if (IS("sha7"))
			v = sha7;
		else if (IS("author"))
			v = vars->author;
		else
			return pv_error_set(PV_EINVAL, NULL,
				"unknown placeholder {%.*s}: {repo}, {number}, {branch}, {branch_slug}, {sha}, {sha7} or {author}",
				(int)(n > 40 ? 40 : n), p + 1);
#undef IS
		if (!v)
			v = "";
		if (o + strlen(v) >= len)
			return pv_error_set(PV_ETOOBIG, NULL, "the filled template is longer than %zu bytes", len - 1);
		memcpy(out + o, v, strlen(v));
		o += strlen(v);
		p = end + 1;
	}
	out[o] = '\0';
	return 0;
}

int pv_prrules_name(char out[PV_NAME_MAX + 1], const char *tmpl, const struct pv_prvars *vars)
{
	char filled[1024], slug[sizeof(filled)], hex[7];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const char *s;
	int error;

	if ((error = pv_prrules_fill(filled, sizeof(filled), tmpl, vars)) < 0)
		return error;
	pv_prrules_slug(slug, sizeof(slug) - 1, filled);
	/* a DNS label starts with a letter: "123-x" becomes "pr-123-x" */
	s = slug;
	if (*s && !isalpha((unsigned char)*s)) {
		memmove(slug + 3, slug, strlen(slug) + 1 > sizeof(slug) - 3 ? sizeof(slug) - 4 : strlen(slug) + 1);
		slug[sizeof(slug) - 1] = '\0';
		memcpy(slug, "pr-", 3);
	}
	if (!*slug)
		snprintf(slug, sizeof(slug), "pr-%lld", vars->number);
	if (strlen(slug) <= PV_NAME_MAX) {
		memcpy(out, slug, strlen(slug) + 1);
		return 0;
	}
	/* cut, and a hash of the whole: the cut part still tells names apart */
	if (!EVP_Digest(filled, strlen(filled), md, &mdlen, EVP_sha256(), NULL))
		return pv_error_set(PV_ERROR, NULL, "SHA-256 failed");
	snprintf(hex, sizeof(hex), "%02x%02x%02x", md[0], md[1], md[2]);
	memcpy(out, slug, PV_NAME_MAX - 7);
	out[PV_NAME_MAX - 7] = '\0';
	for (size_t n = strlen(out); n > 0 && out[n - 1] == '-'; n--)
		out[n - 1] = '\0';
	strcat(out, "-");
	strcat(out, hex);
	return 0;
}

int pv_prrules_values(json_t **out, const json_t *tmpl, const struct pv_prvars *vars)
{
	char buf[4096];
	const char *key;
	json_t *v, *copy;
	size_t i;
	int error;

	*out = NULL;
	if (json_is_string(tmpl)) {
		if ((error = pv_prrules_fill(buf, sizeof(buf), json_string_value(tmpl), vars)) < 0)
			return error;
		*out = json_string(buf);
	} else if (json_is_object(tmpl)) {
		*out = json_object();
		json_object_foreach((json_t *)tmpl, key, v) {
			if ((error = pv_prrules_values(&copy, v, vars)) < 0) {
				json_decref(*out);
				*out = NULL;
				return error;
			}
			json_object_set_new(*out, key, copy);
		}
	} else if (json_is_array(tmpl)) {
		*out = json_array();
		json_array_foreach(tmpl, i, v) {
			if ((error = pv_prrules_values(&copy, v, vars)) < 0) {
				json_decref(*out);
				*out = NULL;
				return error;
			}
			json_array_append_new(*out, copy);
		}
	} else {
		*out = json_deep_copy(tmpl);
	}
	return *out ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}

/* ---- the file ----------------------------------------------------------- */

static int bad(const char *path, size_t i, const char *key, const char *why)
{
	return pv_error_set(PV_EINVAL, NULL, "%s: repositories[%zu].%s %s", path, i, key, why);
}

static int get_str(char **out, const json_t *rule, const char *key, const char *path, size_t i, int required)
{
	const json_t *v = json_object_get(rule, key);

	if (!v)
		return required ? bad(path, i, key, "is required") : 0;
	if (!json_is_string(v) || !*json_string_value(v))
		return bad(path, i, key, "must be a non-empty string");
	if (!(*out = strdup(json_string_value(v))))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	return 0;
}

static int get_list(char ***out, size_t *n, const json_t *rule, const char *key, const char *path, size_t i)
{
	const json_t *v = json_object_get(rule, key), *e;
	size_t k;

	if (!v)
		return 0;
	if (json_is_string(v)) /* one label may be written without brackets */
		v = json_pack("[O]", v);
	else
		json_incref((json_t *)v);
	if (!json_is_array(v)) {
		json_decref((json_t *)v);
		return bad(path, i, key, "must be a list of strings");
	}
	if (!(*out = calloc(json_array_size(v) + 1, sizeof(**out)))) {
		json_decref((json_t *)v);
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	json_array_foreach(v, k, e) {
		if (!json_is_string(e) || !*json_string_value(e)) {
			json_decref((json_t *)v);
			return bad(path, i, key, "must be a list of non-empty strings");
		}
		if (!((*out)[(*n)++] = strdup(json_string_value(e)))) {
			json_decref((json_t *)v);
			return pv_error_set(PV_ERROR, NULL, "out of memory");
		}
	}
	json_decref((json_t *)v);
	return 0;
}

static int read_file(char **out, size_t *len, const char *path, size_t max)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	*out = NULL;
	if (!f)
		return pv_error_set(PV_EINVAL, NULL, "%s: %s", path, strerror(errno));
	if (!(*out = malloc(max + 1))) {
		fclose(f);
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	n = fread(*out, 1, max + 1, f);
	fclose(f);
	if (n > max) {
		free(*out);
		*out = NULL;
		return pv_error_set(PV_EINVAL, NULL, "%s is larger than %zu bytes", path, max);
	}
	(*out)[n] = '\0';
	*len = n;
	return 0;
}

/* Check one placeholder-bearing string by filling it with sample values. */
static int check_template(const char *s, const char *path, size_t i, const char *key)
{
	static const struct pv_prvars sample = { "org/repo", 1, "main", "0123456789abcdef0123456789abcdef01234567", "author" };
	char buf[4096];

	if (pv_prrules_fill(buf, sizeof(buf), s, &sample) < 0)
		return bad(path, i, key, pv_error_last()->message);
	return 0;
}

static int check_values(const json_t *v, const char *path, size_t i)
{
	const char *key;
	json_t *e;
	size_t k;
	int error;

	if (json_is_string(v))
		return check_template(json_string_value(v), path, i, "values");
	if (json_is_object(v))
		json_object_foreach((json_t *)v, key, e) if ((error = check_values(e, path, i)) < 0) return error;
	if (json_is_array(v))
		json_array_foreach(v, k, e) if ((error = check_values(e, path, i)) < 0) return error;
	return 0;
}

static int parse_rule(struct pv_prrule *r, const json_t *rule, const char *path, size_t i)
{
	static const char *const keys[] = { "repo", "forge", "name", "base", "values", "labels", "branches", "idle_ttl",
		"ttl", "commenters", "secret_file", NULL };
	char *secret_file = NULL, name[PV_NAME_MAX + 1];
	const char *key;
	json_t *v;
	int error;

	if (!json_is_object(rule))
		return pv_error_set(PV_EINVAL, NULL, "%s: repositories[%zu] must be a mapping", path, i);
	json_object_foreach((json_t *)rule, key, v) {
		size_t k = 0;
		while (keys[k] && strcmp(keys[k], key) != 0)
			k++;
		if (!keys[k])
			return bad(path, i, key, "is not a key of a rule: repo, forge, name, base, values, labels, branches, "
						 "idle_ttl, ttl, commenters, secret_file");
	}
	if ((error = get_str(&r->repo, rule, "repo", path, i, 1)) < 0 ||
	    (error = get_str(&r->forge, rule, "forge", path, i, 1)) < 0 ||
	    (error = get_str(&r->name, rule, "name", path, i, 0)) < 0 ||
	    (error = get_str(&r->base, rule, "base", path, i, 0)) < 0 ||
	    (error = get_str(&r->ttl, rule, "ttl", path, i, 0)) < 0 ||
	    (error = get_str(&secret_file, rule, "secret_file", path, i, 0)) < 0 ||
	    (error = get_list(&r->labels, &r->nlabels, rule, "labels", path, i)) < 0 ||
	    (error = get_list(&r->branches, &r->nbranches, rule, "branches", path, i)) < 0 ||
	    (error = get_list(&r->commenters, &r->ncommenters, rule, "commenters", path, i)) < 0)
		goto out;
	if (strcmp(r->forge, "github") != 0 && strcmp(r->forge, "gitlab") != 0 && strcmp(r->forge, "gitea") != 0) {
		error = bad(path, i, "forge", "must be github, gitlab or gitea");
		goto out;
	}
	if (!r->name && !(r->name = strdup("{repo}-pr-{number}"))) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto out;
	}
	if ((error = check_template(r->name, path, i, "name")) < 0)
		goto out;
	{
		static const struct pv_prvars sample = { "org/repo", 1, "main", "0123456789abcdef", "author" };
		if (pv_prrules_name(name, r->name, &sample) < 0 || pv_valid_name(name, "name") < 0) {
			error = bad(path, i, "name", "does not make an environment name");
			goto out;
		}
	}
	if (r->base && (error = pv_valid_name(r->base, "base")) < 0) {
		error = bad(path, i, "base", "must be an environment name");
		goto out;
	}
	if ((v = json_object_get(rule, "values")) != NULL) {
		if (!json_is_object(v)) {
			error = bad(path, i, "values", "must be a mapping");
			goto out;
		}
		if ((error = check_values(v, path, i)) < 0)
			goto out;
		r->values = json_incref(v);
	}
	if ((v = json_object_get(rule, "idle_ttl")) != NULL) {
		char buf[32];
		const char *s = json_is_string(v) ? json_string_value(v) : buf;
		if (json_is_integer(v))
			snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		else if (!json_is_string(v)) {
			error = bad(path, i, "idle_ttl", "must be a duration such as 2d");
			goto out;
		}
		if (pv_valid_duration(&r->idle_ttl, s, "idle_ttl") < 0) {
			error = bad(path, i, "idle_ttl", pv_error_last()->message);
			goto out;
		}
	}
	if (r->ttl && strcmp(r->ttl, "never") != 0) {
		long long secs;
		if (pv_valid_duration(&secs, r->ttl, "ttl") < 0) {
			error = bad(path, i, "ttl", pv_error_last()->message);
			goto out;
		}
	}
	if (secret_file) {
		size_t n = 0;
		if ((error = read_file(&r->secret, &n, secret_file, 4096)) < 0) {
			error = bad(path, i, "secret_file", pv_error_last()->message);
			goto out;
		}
		/* editors end files with a newline; a secret does not */
		while (n > 0 && (r->secret[n - 1] == '\n' || r->secret[n - 1] == '\r'))
			r->secret[--n] = '\0';
		if (n == 0) {
			error = bad(path, i, "secret_file", "is empty");
			goto out;
		}
	}
out:
	free(secret_file);
	return error;
}

int pv_prrules_parse(struct pv_prrules **out, const char *yaml, size_t len, const char *path)
{
	struct pv_prrules *rules;
	json_t *doc = NULL, *repos, *rule;
	size_t i;
	int error;

	*out = NULL;
	if ((error = pv_values_from_yaml(&doc, yaml, len)) < 0)
		return pv_error_set(PV_EINVAL, NULL, "%s: %s", path, pv_error_last()->message);
	repos = json_object_get(doc, "repositories");
	if (json_object_size(doc) != 1 || !json_is_array(repos)) {
		json_decref(doc);
		return pv_error_set(PV_EINVAL, NULL, "%s: the file holds one key, repositories: a list of rules", path);
	}
	if (!(rules = calloc(1, sizeof(*rules))) ||
	    !(rules->v = calloc(json_array_size(repos) + 1, sizeof(*rules->v)))) {
		free(rules);
		json_decref(doc);
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	json_array_foreach(repos, i, rule) {
		rules->n++;
		if ((error = parse_rule(&rules->v[i], rule, path, i)) < 0)
			goto fail;
		for (size_t k = 0; k < i; k++)
			if (strcmp(rules->v[k].forge, rules->v[i].forge) == 0 &&
			    strcasecmp(rules->v[k].repo, rules->v[i].repo) == 0) {
				error = bad(path, i, "repo", "repeats an earlier rule's forge and repo");
				goto fail;
			}
	}
	json_decref(doc);
	*out = rules;
	return 0;
fail:
	json_decref(doc);
	pv_prrules_free(rules);
	return error;
}

int pv_prrules_load(struct pv_prrules **out, const char *path)
{
	char *yaml;
	size_t len = 0;
	int error;

	*out = NULL;
	if ((error = read_file(&yaml, &len, path, RULES_MAX_BYTES)) < 0)
		return error;
	error = pv_prrules_parse(out, yaml, len, path);
	free(yaml);
	return error;
}

const struct pv_prrule *pv_prrules_find(const struct pv_prrules *rules, const char *forge, const char *repo)
{
	for (size_t i = 0; rules && forge && repo && i < rules->n; i++)
		if (strcmp(rules->v[i].forge, forge) == 0 && strcasecmp(rules->v[i].repo, repo) == 0)
			return &rules->v[i];
	return NULL;
}

int pv_prrules_has_secret(const struct pv_prrules *rules)
{
	for (size_t i = 0; rules && i < rules->n; i++)
		if (rules->v[i].secret)
			return 1;
	return 0;
}

/*
 * cli_env.c - `previewd env ...` (see cli_env.h): arguments, one HTTP
 * exchange per step, the tables.
 */
#include "cli_env.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"
#include "valid.h"
#include "values.h"

#ifndef PREVIEWD_VERSION
#define PREVIEWD_VERSION "0.1.0"
#endif

#define DEFAULT_URL "http://127.0.0.1:8080"
#define DEFAULT_WAIT (10 * 60)
#define MAX_ANSWER ((size_t)16 << 20)   /* a list page with values is megabytes at most */
#define MAX_TOKEN_FILE 4096
#define MAX_VALUES_FILE ((size_t)4 << 20)
#define MAX_PAGES 100                   /* 20,000 environments */

static const char usage_text[] =
	"usage: previewd env COMMAND [ARGS] [-o table|json]\n"
	"\n"
	"  create [NAME] [--owner OWNER] [--base BASE] [--ttl TTL]\n"
	"         [--set KEY=VALUE]... [--values FILE] [--wait[=DURATION]]\n"
	"                          request an environment (NAME defaults to OWNER)\n"
	"  list [--owner OWNER] [--status STATUS]\n"
	"                          environments, newest first (deleted ones stay as history)\n"
	"  get NAME [--wait[=DURATION]]\n"
	"                          one environment\n"
	"  extend NAME TTL         expire TTL from now (\"4h\", \"1d\", \"90m\")\n"
	"  delete NAME             remove it now\n"
	"  sleep NAME              put it to sleep (its sleeping values go to Git)\n"
	"  wake NAME               wake it (its own values go back to Git)\n"
	"  events NAME             its history, oldest first\n"
	"\n"
	"  -o, --output FORMAT     table (default) or json (the API's answer as is)\n"
	"  --wait[=DURATION]       until the environment is active, or ready where\n"
	"                          previewd reads Argo CD (default 10m)\n"
	"  --set KEY=VALUE         a value, dotted (image.tag=pr-42); true, false, null\n"
	"                          and integers as such, else a string; repeatable,\n"
	"                          applied over --values\n"
	"  --values FILE           values as YAML or JSON\n"
	"\n"
	"environment:\n"
	"  PREVIEWD_URL            previewd's address (default " DEFAULT_URL ")\n"
	"  PREVIEWD_TOKEN          the API token, or PREVIEWD_TOKEN_FILE: a file holding it\n"
	"\n"
	"exit status: 0 done, 1 not the outcome asked for (--wait ran out, the\n"
	"environment failed), 2 usage, 3 refused by previewd (its problem on stderr),\n"
	"4 previewd unreachable\n";

struct cli {
	char url[2048];     /* PREVIEWD_URL without a trailing slash */
	char *token;        /* NULL in open mode; never printed */
	int json;
	CURL *curl;
};

struct opts {
	const char *pos[3];
	int npos;
	const char *owner, *base, *ttl, *status, *values_file;
	const char *sets[256];
	int nsets;
	int wait;
	long long wait_secs;
};

/* what an exchange brought back: the status and the body (raw and parsed) */
struct answer {
	long status;
	struct pv_strbuf raw;
	json_t *body;
};

static int usage_error(const char *fmt, ...) PV_PRINTF(1, 2);

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "previewd env: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see previewd env --help)\n");
	return PV_CLI_USAGE;
}

/* ---- values ------------------------------------------------------------- */

static json_t *set_value(const char *s)
{
	const char *p = s;
	char *end;
	long long n;

	if (strcmp(s, "true") == 0)
		return json_true();
	if (strcmp(s, "false") == 0)
		return json_false();
	if (strcmp(s, "null") == 0)
		return json_null();
	if (*p == '-')
		p++;
	/* integers as Helm reads them; "007" and "1.27" stay strings */
	if (*p >= '1' && *p <= '9' ? p[strspn(p, "0123456789")] == '\0' : strcmp(p, "0") == 0) {
		errno = 0;
		n = strtoll(s, &end, 10);
		if (errno == 0 && *end == '\0')
			return json_integer(n);
	}
	return json_string(s);
}

int pv_cli_env_set(json_t *values, const char *assignment)
{
	const char *eq = strchr(assignment, '='), *part = assignment, *dot;
	json_t *node = values, *child, *leaf;
	char key[256];
	size_t n;

	if (!eq || eq == assignment)
		return pv_error_set(PV_EINVAL, "--set", "--set wants KEY=VALUE, not '%s'", assignment);
	/* the whole key first: a refused --set changes nothing */
	for (const char *p = assignment; p <= eq; p = dot + 1) {
		dot = memchr(p, '.', (size_t)(eq - p));
		if (!dot)
			dot = eq;
		if (dot == p || (size_t)(dot - p) >= sizeof(key))
			return pv_error_set(PV_EINVAL, "--set", "--set: an empty or overlong key part in '%s'", assignment);
	}
	for (;;) {
		dot = memchr(part, '.', (size_t)(eq - part));
		n = (size_t)((dot ? dot : eq) - part);
		memcpy(key, part, n);
		key[n] = '\0';
		if (!dot)
			break;
		child = json_object_get(node, key);
		if (!json_is_object(child)) {
			child = json_object();
			if (!child || json_object_set_new(node, key, child) < 0)
				return pv_error_set(PV_ERROR, NULL, "out of memory");
		}
		node = child;
		part = dot + 1;
	}
	if (!(leaf = set_value(eq + 1)) || json_object_set_new(node, key, leaf) < 0)
		return pv_error_set(PV_EINVAL, "--set", "--set: '%s' is not UTF-8", assignment);
	return 0;
}

/* A file of values: JSON when it reads as JSON, else YAML as Helm reads it. */
static int read_values(json_t **out, const char *path)
{
	FILE *f = fopen(path, "rb");
	struct pv_strbuf b = PV_STRBUF_INIT_MAX(MAX_VALUES_FILE);
	char chunk[8192];
	size_t n;
	int error = 0;

	*out = NULL;
	if (!f)
		return pv_error_set(PV_EINVAL, "--values", "cannot read %s: %s", path, strerror(errno));
	while (error == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		error = pv_strbuf_add(&b, chunk, n);
	fclose(f);
	if (error < 0) {
		pv_strbuf_dispose(&b);
		return pv_error_set(PV_EINVAL, "--values", "%s is over %zu bytes", path, MAX_VALUES_FILE);
	}
	if ((*out = json_loadb(b.buf ? b.buf : "", b.len, JSON_REJECT_DUPLICATES, NULL)) && !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		error = pv_error_set(PV_EINVAL, "--values", "%s: the values must be an object", path);
	} else if (!*out && pv_values_from_yaml(out, b.buf ? b.buf : "", b.len) < 0) {
		error = pv_error_set(PV_EINVAL, "--values", "%s: %s", path, pv_error_last()->message);
	}
	pv_strbuf_dispose(&b);
	return error;
}

/* ---- HTTP --------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct pv_strbuf *b = ctx;

	return pv_strbuf_add(b, data, size * nmemb) < 0 ? 0 : size * nmemb;
}

static void answer_dispose(struct answer *a)
{
	pv_strbuf_dispose(&a->raw);
	json_decref(a->body);
	a->body = NULL;
	a->status = 0;
}

/* What previewd said no with: the problem's title and detail (and field). */
static int refused(const struct answer *a)
{
	const char *title = json_string_value(json_object_get(a->body, "title"));
	const char *detail = json_string_value(json_object_get(a->body, "detail"));
	const char *field = json_string_value(json_object_get(a->body, "field"));

	if (title || detail) {
		fprintf(stderr, "previewd: %ld %s: %s", a->status, title ? title : "", detail ? detail : "");
		if (field && *field)
			fprintf(stderr, " (field %s)", field);
		fputc('\n', stderr);
	} else {
		fprintf(stderr, "previewd: HTTP %ld with no problem document\n", a->status);
	}
	return PV_CLI_REFUSED;
}

/*
 * One request: METHOD url+path with body (NULL: none).  On 2xx a->body is
 * the parsed answer and PV_CLI_OK is returned; otherwise the exit status
 * (refused, unreachable, failed) with its message printed.
 */
static int exchange(struct cli *cli, struct answer *a, const char *method, const char *path, const json_t *body)
{
	struct curl_slist *h = NULL;
	char url[4096], auth[MAX_TOKEN_FILE + 32], errbuf[CURL_ERROR_SIZE] = "";
	char *payload = NULL;
	CURLcode cc;
	int rc = PV_CLI_OK;

	a->status = 0;
	a->body = NULL;
	a->raw = (struct pv_strbuf)PV_STRBUF_INIT_MAX(MAX_ANSWER);
	snprintf(url, sizeof(url), "%s%s", cli->url, path);
	curl_easy_reset(cli->curl);
	h = curl_slist_append(h, "Accept: application/json");
	if (cli->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cli->token);
		h = curl_slist_append(h, auth);
		explicit_bzero(auth, sizeof(auth));
	}
	if (body) {
		h = curl_slist_append(h, "Content-Type: application/json");
		if (!(payload = json_dumps(body, JSON_COMPACT))) {
			curl_slist_free_all(h);
			fprintf(stderr, "previewd: out of memory\n");
			return PV_CLI_FAILED;
		}
		curl_easy_setopt(cli->curl, CURLOPT_POSTFIELDS, payload);
	}
	curl_easy_setopt(cli->curl, CURLOPT_URL, url);
	curl_easy_setopt(cli->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(cli->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(cli->curl, CURLOPT_USERAGENT, "previewd-cli/" PREVIEWD_VERSION);
	curl_easy_setopt(cli->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(cli->curl, CURLOPT_WRITEDATA, &a->raw);
	curl_easy_setopt(cli->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(cli->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cli->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	/* a write waits for its push, up to PREVIEWD_WAIT_MS on the server */
	curl_easy_setopt(cli->curl, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(cli->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	cc = curl_easy_perform(cli->curl);
	curl_slist_free_all(h);
	free(payload);
	if (cc == CURLE_WRITE_ERROR) {
		fprintf(stderr, "previewd: the answer of %s is over %zu bytes\n", path, MAX_ANSWER);
		rc = PV_CLI_FAILED;
		goto out;
	}
	if (cc != CURLE_OK) {
		/* the URL, never a header: the token stays out of the message */
		fprintf(stderr, "previewd: cannot reach %s: %s\n", cli->url, *errbuf ? errbuf : curl_easy_strerror(cc));
		rc = PV_CLI_UNREACHABLE;
		goto out;
	}
	curl_easy_getinfo(cli->curl, CURLINFO_RESPONSE_CODE, &a->status);
	a->body = a->raw.len ? json_loadb(a->raw.buf, a->raw.len, 0, NULL) : NULL;
	if (a->status < 200 || a->status > 299) {
		rc = refused(a);
		goto out;
	}
	if (!a->body) {
		fprintf(stderr, "previewd: the answer of %s %s (HTTP %ld) is not JSON\n", method, path, a->status);
		rc = PV_CLI_FAILED;
	}
out:
	return rc;
}

/* path of one environment (or below it), the name escaped */
static int env_path(struct cli *cli, char *out, size_t len, const char *name, const char *tail)
{
	char *esc = curl_easy_escape(cli->curl, name, 0);

	if (!esc)
		return -1;
	snprintf(out, len, "/v1/environments/%s%s", esc, tail);
	curl_free(esc);
	return 0;
}

/* ---- tables ------------------------------------------------------------- */

void pv_cli_env_format_left(char *buf, size_t len, long long secs)
{
	if (secs < 0)
		secs = 0;
	/* to the nearest minute: an environment made for 8h shows 8h, not the
	 * 7h59m it has a second later */
	if (secs >= 60)
		secs = (secs + 30) / 60 * 60;
	/* two units at most, the second left out when zero: "1d", "3h59m" */
	if (secs >= 86400 && secs % 86400 / 3600)
		snprintf(buf, len, "%lldd%lldh", secs / 86400, secs % 86400 / 3600);
	else if (secs >= 86400)
		snprintf(buf, len, "%lldd", secs / 86400);
	else if (secs >= 3600 && secs % 3600 / 60)
		snprintf(buf, len, "%lldh%lldm", secs / 3600, secs % 3600 / 60);
	else if (secs >= 3600)
		snprintf(buf, len, "%lldh", secs / 3600);
	else if (secs >= 60)
		snprintf(buf, len, "%lldm", secs / 60);
	else
		snprintf(buf, len, "%llds", secs);
}

static const char *str_of(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s ? s : "-";
}

#define ENV_COLS 5

/* One environment's cells: name, status, url, expires in, owner.  The status
 * carries what else decides whether it works: Argo CD's health, a Git error. */
static void env_cells(const json_t *env, char cells[ENV_COLS][256])
{
	const json_t *ttl = json_object_get(env, "ttl_seconds");
	const json_t *argocd = json_object_get(env, "argocd");
	const char *status = str_of(env, "status");
	char left[64];
	int ended = strcmp(status, "deleted") == 0 || strcmp(status, "failed") == 0;

	snprintf(cells[0], 256, "%s", str_of(env, "name"));
	snprintf(cells[1], 256, "%s%s%s%s", status, json_is_object(argocd) ? ", " : "",
		json_is_object(argocd) ? str_of(argocd, "health") : "",
		json_is_string(json_object_get(json_object_get(env, "git"), "error")) ? ", git error" : "");
	snprintf(cells[2], 256, "%s", str_of(env, "url"));
	if (ended)
		snprintf(left, sizeof(left), "-");
	else if (json_is_integer(ttl))
		pv_cli_env_format_left(left, sizeof(left), json_integer_value(ttl));
	else
		snprintf(left, sizeof(left), "never");
	snprintf(cells[3], 256, "%s", left);
	snprintf(cells[4], 256, "%s", str_of(env, "owner"));
}

static void print_envs(const json_t *const *envs, size_t n)
{
	static const char *const head[ENV_COLS] = { "NAME", "STATUS", "URL", "EXPIRES IN", "OWNER" };
	char (*cells)[ENV_COLS][256] = calloc(n ? n : 1, sizeof(*cells));
	int width[ENV_COLS];

	if (!cells)
		return;
	for (int c = 0; c < ENV_COLS; c++)
		width[c] = (int)strlen(head[c]);
	for (size_t i = 0; i < n; i++) {
		env_cells(envs[i], cells[i]);
		for (int c = 0; c < ENV_COLS; c++)
			if ((int)strlen(cells[i][c]) > width[c])
				width[c] = (int)strlen(cells[i][c]);
	}
	printf("%-*s  %-*s  %-*s  %-*s  %s\n", width[0], head[0], width[1], head[1], width[2], head[2], width[3],
		head[3], head[4]);
	for (size_t i = 0; i < n; i++)
		printf("%-*s  %-*s  %-*s  %-*s  %s\n", width[0], cells[i][0], width[1], cells[i][1], width[2],
			cells[i][2], width[3], cells[i][3], cells[i][4]);
	free(cells);
}

static void print_env(const struct cli *cli, const struct answer *a)
{
	const char *git_error = json_string_value(json_object_get(json_object_get(a->body, "git"), "error"));

	if (cli->json) {
		fwrite(a->raw.buf, 1, a->raw.len, stdout);
		if (a->raw.len && a->raw.buf[a->raw.len - 1] != '\n')
			putchar('\n');
		return;
	}
	print_envs((const json_t *const[]){ a->body }, 1);
	if (git_error)
		printf("\ngit error: %s\n", git_error);
}

static void print_events(const json_t *items)
{
	size_t i, w_kind = 4, w_actor = 5;
	json_t *ev;

	json_array_foreach(items, i, ev) {
		if (strlen(str_of(ev, "kind")) > w_kind)
			w_kind = strlen(str_of(ev, "kind"));
		if (strlen(str_of(ev, "actor")) > w_actor)
			w_actor = strlen(str_of(ev, "actor"));
	}
	printf("%-20s  %-*s  %-*s  %s\n", "AT", (int)w_kind, "KIND", (int)w_actor, "ACTOR", "DETAIL");
	json_array_foreach(items, i, ev) {
		const json_t *detail = json_object_get(ev, "detail");
		char *d = json_is_object(detail) ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		printf("%-20s  %-*s  %-*s  %s\n", str_of(ev, "at"), (int)w_kind, str_of(ev, "kind"), (int)w_actor,
			str_of(ev, "actor"), d ? d : "-");
		free(d);
	}
}

/* ---- --wait ------------------------------------------------------------- */

/* 1 done, 0 not yet, -1 never (failed, deleted); *why what it is waiting on */
static int env_done(const json_t *env, const char **why)
{
	const char *status = str_of(env, "status");
	const json_t *argocd = json_object_get(env, "argocd");

	*why = status;
	if (strcmp(status, "failed") == 0 || strcmp(status, "deleting") == 0 || strcmp(status, "deleted") == 0)
		return -1;
	if (strcmp(status, "active") != 0)
		return 0;
	/* previewd reads Argo CD: active is only pushed, ready is deployed */
	if (!json_is_object(argocd))
		return 1;
	*why = "Argo CD: not Synced and Healthy yet";
	return strcmp(str_of(argocd, "sync"), "Synced") == 0 && strcmp(str_of(argocd, "health"), "Healthy") == 0;
}

/* Poll the environment of a until done; a->body is replaced at each look,
 * so name must not point into it. */
static int wait_env(struct cli *cli, struct answer *a, const char *name, long long secs)
{
	char path[1024];
	const char *why = "";
	time_t end = time(NULL) + (time_t)secs;
	int done, rc;

	if (env_path(cli, path, sizeof(path), name, "") < 0)
		return PV_CLI_FAILED;
	for (;;) {
		if ((done = env_done(a->body, &why)) > 0)
			return PV_CLI_OK;
		if (done < 0) {
			fprintf(stderr, "previewd: %s is %s: it will not become active\n", name, why);
			return PV_CLI_FAILED;
		}
		if (time(NULL) >= end) {
			fprintf(stderr, "previewd: %s not active within the wait (%s)\n", name, why);
			return PV_CLI_FAILED;
		}
		sleep(1);
		answer_dispose(a);
		if ((rc = exchange(cli, a, "GET", path, NULL)) != PV_CLI_OK)
			return rc;
	}
}

/* ---- the commands ------------------------------------------------------- */

static int cmd_create(struct cli *cli, const struct opts *o)
{
	json_t *req = json_object(), *values = NULL;
	struct answer a = { 0 };
	int rc;

	if (o->values_file && read_values(&values, o->values_file) < 0) {
		json_decref(req);
		return usage_error("%s", pv_error_last()->message);
	}
	for (int i = 0; i < o->nsets; i++) {
		if (!values)
			values = json_object();
		if (pv_cli_env_set(values, o->sets[i]) < 0) {
			json_decref(req);
			json_decref(values);
			return usage_error("%s", pv_error_last()->message);
		}
	}
	if (o->npos)
		json_object_set_new(req, "name", json_string(o->pos[0]));
	if (o->owner)
		json_object_set_new(req, "owner", json_string(o->owner));
	if (o->base)
		json_object_set_new(req, "base", json_string(o->base));
	if (o->ttl)
		json_object_set_new(req, "ttl", json_string(o->ttl));
	if (values)
		json_object_set_new(req, "values", values);
	rc = exchange(cli, &a, "POST", "/v1/environments", req);
	if (rc == PV_CLI_OK && o->wait) {
		/* a copy: each look replaces the body the name was read from */
		char *name = strdup(str_of(a.body, "name"));
		rc = name ? wait_env(cli, &a, name, o->wait_secs) : PV_CLI_FAILED;
		free(name);
	}
	if (a.body && a.status >= 200 && a.status <= 299)
		print_env(cli, &a);
	json_decref(req);
	answer_dispose(&a);
	return rc;
}

static int cmd_get(struct cli *cli, const struct opts *o)
{
	struct answer a = { 0 };
	char path[1024];
	int rc;

	if (env_path(cli, path, sizeof(path), o->pos[0], "") < 0)
		return PV_CLI_FAILED;
	rc = exchange(cli, &a, "GET", path, NULL);
	if (rc == PV_CLI_OK && o->wait)
		rc = wait_env(cli, &a, o->pos[0], o->wait_secs);
	if (a.body && (a.status >= 200 && a.status <= 299))
		print_env(cli, &a);
	answer_dispose(&a);
	return rc;
}

static int cmd_extend(struct cli *cli, const struct opts *o)
{
	json_t *req = json_pack("{s:s}", "ttl", o->pos[1]);
	struct answer a = { 0 };
	char path[1024];
	int rc = PV_CLI_FAILED;

	if (req && env_path(cli, path, sizeof(path), o->pos[0], "") == 0 &&
	    (rc = exchange(cli, &a, "PATCH", path, req)) == PV_CLI_OK)
		print_env(cli, &a);
	json_decref(req);
	answer_dispose(&a);
	return rc;
}

static int cmd_delete(struct cli *cli, const struct opts *o)
{
	struct answer a = { 0 };
	char path[1024];
	int rc = PV_CLI_FAILED;

	if (env_path(cli, path, sizeof(path), o->pos[0], "") == 0 &&
	    (rc = exchange(cli, &a, "DELETE", path, NULL)) == PV_CLI_OK)
		print_env(cli, &a);
	answer_dispose(&a);
	return rc;
}

static int post_to(struct cli *cli, const struct opts *o, const char *what)
{
	struct answer a = { 0 };
	char path[1024];
	int rc = PV_CLI_FAILED;

	if (env_path(cli, path, sizeof(path), o->pos[0], what) == 0 &&
	    (rc = exchange(cli, &a, "POST", path, NULL)) == PV_CLI_OK)
		print_env(cli, &a);
	answer_dispose(&a);
	return rc;
}

static int cmd_sleep(struct cli *cli, const struct opts *o)
{
	return post_to(cli, o, "/sleep");
}

static int cmd_wake(struct cli *cli, const struct opts *o)
{
	return post_to(cli, o, "/wake");
}

static int cmd_events(struct cli *cli, const struct opts *o)
{
	struct answer a = { 0 };
	char path[1024];
	int rc = PV_CLI_FAILED;

	if (env_path(cli, path, sizeof(path), o->pos[0], "/events") == 0 &&
	    (rc = exchange(cli, &a, "GET", path, NULL)) == PV_CLI_OK) {
		if (cli->json)
			print_env(cli, &a);
		else
			print_events(json_object_get(a.body, "items"));
	}
	answer_dispose(&a);
	return rc;
}

static int add_query(struct cli *cli, struct pv_strbuf *q, const char *key, const char *value)
{
	char *esc;
	int error;

	if (!value)
		return 0;
	if (!(esc = curl_easy_escape(cli->curl, value, 0)))
		return PV_ERROR;
	error = pv_strbuf_printf(q, "&%s=%s", key, esc);
	curl_free(esc);
	return error;
}

/* Every page, following next_cursor; -o json prints them as one page. */
static int cmd_list(struct cli *cli, const struct opts *o)
{
	json_t *all = json_array(), *items;
	struct pv_strbuf q = PV_STRBUF_INIT;
	struct answer a = { 0 };
	const char *cursor = NULL;
	char *cur = NULL;
	int rc = PV_CLI_OK, pages = 0;

	do {
		pv_strbuf_reset(&q);
		if (pv_strbuf_printf(&q, "/v1/environments?limit=200") < 0 || add_query(cli, &q, "owner", o->owner) < 0 ||
		    add_query(cli, &q, "status", o->status) < 0 || add_query(cli, &q, "cursor", cursor) < 0) {
			rc = PV_CLI_FAILED;
			break;
		}
		answer_dispose(&a);
		if ((rc = exchange(cli, &a, "GET", q.buf, NULL)) != PV_CLI_OK)
			break;
		items = json_object_get(a.body, "items");
		if (!json_is_array(items) || json_array_extend(all, items) < 0) {
			fprintf(stderr, "previewd: the list's answer has no items\n");
			rc = PV_CLI_FAILED;
			break;
		}
		free(cur);
		cur = json_is_string(json_object_get(a.body, "next_cursor"))
			? strdup(json_string_value(json_object_get(a.body, "next_cursor"))) : NULL;
		cursor = cur;
	} while (cursor && ++pages < MAX_PAGES);
	if (rc == PV_CLI_OK && cli->json) {
		/* one page's shape: the API's JSON, all pages' items */
		json_t *page = json_pack("{s:O, s:o, s:O}", "items", all, "next_cursor",
			cursor ? json_string(cursor) : json_null(), "limit", json_object_get(a.body, "limit"));
		char *s = page ? json_dumps(page, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		if (s)
			puts(s);
		free(s);
		json_decref(page);
	} else if (rc == PV_CLI_OK) {
		size_t n = json_array_size(all);
		const json_t **envs = calloc(n ? n : 1, sizeof(*envs));
		for (size_t i = 0; envs && i < n; i++)
			envs[i] = json_array_get(all, i);
		if (envs)
			print_envs(envs, n);
		free((void *)envs);
	}
	free(cur);
	answer_dispose(&a);
	pv_strbuf_dispose(&q);
	json_decref(all);
	return rc;
}

/* ---- arguments ---------------------------------------------------------- */

static const struct command {
	const char *name;
	int npos_min, npos_max;
	const char *flags;       /* the flags it takes, space-separated */
	int (*run)(struct cli *, const struct opts *);
	const char *synopsis;
} commands[] = {
	{ "create", 0, 1, "owner base ttl set values wait", cmd_create, "create [NAME] [flags]" },
	{ "list", 0, 0, "owner status", cmd_list, "list [--owner OWNER] [--status STATUS]" },
	{ "get", 1, 1, "wait", cmd_get, "get NAME [--wait[=DURATION]]" },
	{ "extend", 2, 2, "", cmd_extend, "extend NAME TTL" },
	{ "delete", 1, 1, "", cmd_delete, "delete NAME" },
	{ "sleep", 1, 1, "", cmd_sleep, "sleep NAME" },
	{ "wake", 1, 1, "", cmd_wake, "wake NAME" },
	{ "events", 1, 1, "", cmd_events, "events NAME" },
};

static int takes(const struct command *c, const char *flag)
{
	size_t n = strlen(flag);

	for (const char *p = c->flags; (p = strstr(p, flag)) != NULL; p += n)
		if ((p == c->flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return 1;
	return 0;
}

/* Flags and positionals of argv[i..] for command c. */
static int parse(const struct command *c, struct opts *o, struct cli *cli, int argc, char **argv)
{
	static const struct { const char *flag, *key; size_t off; } valued[] = {
		{ "--owner", "owner", offsetof(struct opts, owner) },
		{ "--base", "base", offsetof(struct opts, base) },
		{ "--ttl", "ttl", offsetof(struct opts, ttl) },
		{ "--status", "status", offsetof(struct opts, status) },
		{ "--values", "values", offsetof(struct opts, values_file) },
	};
	int dashdash = 0;

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i], *val = NULL, *eq;
		size_t flen;
		int known = 0;

		if (dashdash || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (o->npos >= c->npos_max)
				return usage_error("one argument too many: '%s'", arg);
			o->pos[o->npos++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			dashdash = 1;
			continue;
		}
		eq = strchr(arg, '=');
		flen = eq ? (size_t)(eq - arg) : strlen(arg);
		if ((flen == 2 && strncmp(arg, "-o", 2) == 0) || (flen == 8 && strncmp(arg, "--output", 8) == 0)) {
			if (!(val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL)))
				return usage_error("%s wants table or json", arg);
			if (strcmp(val, "json") == 0)
				cli->json = 1;
			else if (strcmp(val, "table") == 0)
				cli->json = 0;
			else
				return usage_error("-o wants table or json, not '%s'", val);
			continue;
		}
		if (flen == 6 && strncmp(arg, "--wait", 6) == 0 && takes(c, "wait")) {
			o->wait = 1;
			o->wait_secs = DEFAULT_WAIT;
			if (eq && pv_valid_duration(&o->wait_secs, eq + 1, "--wait") < 0)
				return usage_error("--wait=DURATION: '%s' is not a duration (\"90s\", \"5m\")", eq + 1);
			continue;
		}
		if (flen == 5 && strncmp(arg, "--set", 5) == 0 && takes(c, "set")) {
			if (!(val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL)))
				return usage_error("%s wants KEY=VALUE", "--set");
			if (o->nsets >= (int)(sizeof(o->sets) / sizeof(o->sets[0])))
				return usage_error("more than %d --set", 256);
			o->sets[o->nsets++] = val;
			continue;
		}
		for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++) {
			if (strlen(valued[k].flag) != flen || strncmp(arg, valued[k].flag, flen) != 0 || !takes(c, valued[k].key))
				continue;
			if (!(val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL)))
				return usage_error("%s wants a value", valued[k].flag);
			*(const char **)(void *)((char *)o + valued[k].off) = val;
			known = 1;
		}
		if (!known)
			return usage_error("unknown option '%s' for %s", arg, c->name);
	}
	if (o->npos < c->npos_min)
		return usage_error("usage: previewd env %s", c->synopsis);
	return PV_CLI_OK;
}

/* PREVIEWD_TOKEN, or the first line of PREVIEWD_TOKEN_FILE. */
static int load_token(struct cli *cli)
{
	const char *tok = getenv("PREVIEWD_TOKEN"), *file = getenv("PREVIEWD_TOKEN_FILE");
	char buf[MAX_TOKEN_FILE];
	size_t n;
	FILE *f;

	if (tok && *tok && file && *file)
		return usage_error("%s", "set PREVIEWD_TOKEN or PREVIEWD_TOKEN_FILE, not both");
	if (tok && *tok) {
		if (strlen(tok) >= MAX_TOKEN_FILE || strpbrk(tok, "\r\n"))
			return usage_error("%s", "PREVIEWD_TOKEN is not one line of fewer than 4096 bytes");
		cli->token = strdup(tok);
		return cli->token ? PV_CLI_OK : PV_CLI_FAILED;
	}
	if (!file || !*file)
		return PV_CLI_OK;
	if (!(f = fopen(file, "r")))
		return usage_error("cannot read PREVIEWD_TOKEN_FILE: %s", strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!*buf)
		return usage_error("PREVIEWD_TOKEN_FILE %s holds no token", file);
	cli->token = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return cli->token ? PV_CLI_OK : PV_CLI_FAILED;
}

static int load_url(struct cli *cli)
{
	const char *url = getenv("PREVIEWD_URL");
	size_t n;

	if (!url || !*url)
		url = DEFAULT_URL;
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return usage_error("PREVIEWD_URL must start with http:// or https://, not '%s'", url);
	if ((n = strlen(url)) >= sizeof(cli->url))
		return usage_error("%s", "PREVIEWD_URL is too long");
	memcpy(cli->url, url, n + 1);
	while (n > 0 && cli->url[n - 1] == '/')
		cli->url[--n] = '\0';
	return PV_CLI_OK;
}

int pv_cli_env_is(int argc, char **argv)
{
	return argc > 1 && strcmp(argv[1], "env") == 0;
}

int pv_cli_env(int argc, char **argv)
{
	struct cli cli = { .json = 0 };
	struct opts o = { .npos = 0 };
	const struct command *c = NULL;
	int rc;

	if (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0 ||
	    strcmp(argv[2], "help") == 0) {
		fputs(usage_text, argc < 3 ? stderr : stdout);
		return argc < 3 ? PV_CLI_USAGE : PV_CLI_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[2], commands[i].name) == 0)
			c = &commands[i];
	if (!c)
		return usage_error("no command '%s' (create, list, get, extend, delete, sleep, wake, events)", argv[2]);
	for (int i = 3; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage_text, stdout);
			return PV_CLI_OK;
		}
	if ((rc = parse(c, &o, &cli, argc - 3, argv + 3)) != PV_CLI_OK || (rc = load_url(&cli)) != PV_CLI_OK ||
	    (rc = load_token(&cli)) != PV_CLI_OK)
		goto out;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!(cli.curl = curl_easy_init())) {
		fprintf(stderr, "previewd: cannot start libcurl\n");
		rc = PV_CLI_FAILED;
	} else {
		rc = c->run(&cli, &o);
		curl_easy_cleanup(cli.curl);
	}
	curl_global_cleanup();
out:
	if (cli.token) {
		explicit_bzero(cli.token, strlen(cli.token));
		free(cli.token);
	}
	return rc;
}

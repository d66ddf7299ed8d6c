/* Unit tests for config.c: defaults, environment and flags, bounds, refusals
 * and secrets read from files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tmpdir.h"

extern char **environ;

struct fixture {
	char dir[64];
	struct pv_config cfg;
	int help, version;
};

/* No PREVIEWD_* variable from the caller's environment leaks in. */
static void clear_env(void)
{
	for (;;) {
		char name[128];
		size_t i, n;

		for (i = 0; environ[i] && strncmp(environ[i], "PREVIEWD_", 9) != 0; i++)
			;
		if (!environ[i])
			return;
		n = strcspn(environ[i], "=");
		snprintf(name, sizeof(name), "%.*s", (int)n, environ[i]);
		unsetenv(name);
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (pv_test_mkdtemp(f->dir, sizeof(f->dir), "config") < 0)
		return -1;
	clear_env();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pv_config_dispose(&f->cfg);
	clear_env();
	if (pv_test_rmtree(f->dir) < 0)
		return -1;
	free(f);
	return 0;
}

static int load(struct fixture *f, int argc, char **argv)
{
	pv_config_dispose(&f->cfg);
	pv_error_clear();
	return pv_config_load(&f->cfg, argc, argv, &f->help, &f->version);
}

static int load_env(struct fixture *f)
{
	char *argv[] = { "previewd", NULL };

	return load(f, 1, argv);
}

/* the refusal is PV_EINVAL and its message contains `want` */
static void assert_refused(struct fixture *f, int error, const char *want)
{
	(void)f;
	assert_int_equal(error, PV_EINVAL);
	if (!strstr(pv_error_last()->message, want))
		fail_msg("message \"%s\" does not contain \"%s\"", pv_error_last()->message, want);
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void defaults(void **state)
{
	struct fixture *f = *state;
	struct pv_config *c = &f->cfg;
	char cwd[1024], want[1200];

	assert_int_equal(load_env(f), 0);
	assert_int_equal(f->help, 0);
	assert_int_equal(f->version, 0);
	assert_string_equal(c->listen, "127.0.0.1:8080");
	assert_string_equal(c->listen_host, "127.0.0.1");
	assert_int_equal(c->listen_port, 8080);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	/* the data dir is made absolute, and the default Git URL is inside it */
	snprintf(want, sizeof(want), "%s/previewd-data", cwd);
	assert_string_equal(c->data_dir, want);
	snprintf(want, sizeof(want), "file://%s/previewd-data/gitops.git", cwd);
	assert_string_equal(c->git_url, want);
	assert_int_equal(c->git_url_is_default, 1);
	assert_string_equal(c->argocd_repo_url, c->git_url);
	assert_string_equal(c->public_url, "http://127.0.0.1:8080");
	assert_string_equal(c->git_branch, "main");
	assert_string_equal(c->env_dir, "env");
	assert_string_equal(c->base_env, "dev");
	assert_string_equal(c->domain, "env.my");
	assert_int_equal(c->default_ttl, 8 * 3600);
	assert_int_equal(c->max_ttl, 7 * 86400);
	assert_int_equal(c->min_ttl, 60);
	assert_int_equal(c->max_lifetime, 0);
	assert_int_equal(c->wait_ms, 5000);
	assert_int_equal(c->max_body, 65536);
	assert_int_equal(c->http_threads, 4);
	assert_int_equal(c->log_level, PV_LOG_INFO);
	assert_int_equal(c->allow_never, 0);
	assert_int_equal(c->log_json, 0);
	assert_string_equal(c->webhook_url, "");
	assert_string_equal(c->webhook_format, "json");
	assert_int_equal(c->webhook_backoff_max, 300);
	assert_int_equal(c->conn_timeout, 30);
	/* safe by default: quotas and a create rate are on unless turned off */
	assert_int_equal(c->max_envs_per_owner, 10);
	assert_int_equal(c->max_envs, 1000);
	assert_int_equal(c->create_rate, 60);
	assert_int_equal(c->create_burst, 20);
	assert_int_equal(c->argocd_poll, 10);
	assert_int_equal(c->warn_count, 2);
	assert_int_equal(c->warn_leads[0], 3600);
	assert_int_equal(c->warn_leads[1], 600);
	assert_int_equal(c->reserved_count, 0);
	assert_null(c->git_password);
	assert_null(c->webhook_secret);
	assert_int_equal(c->check_only, 0);
}

static void env_and_flag_precedence(void **state)
{
	struct fixture *f = *state;
	char *flag_space[] = { "previewd", "--wait-ms", "42", NULL };
	char *flag_eq[] = { "previewd", "--wait-ms=43", "--domain=preview.example", NULL };
	char *last_wins[] = { "previewd", "--wait-ms=1", "--wait-ms", "2", NULL };

	setenv("PREVIEWD_WAIT_MS", "1234", 1);
	setenv("PREVIEWD_DOMAIN", "from.env", 1);
	assert_int_equal(load_env(f), 0);
	assert_int_equal(f->cfg.wait_ms, 1234);
	assert_string_equal(f->cfg.domain, "from.env");
	/* a flag beats the variable, in either spelling */
	assert_int_equal(load(f, 3, flag_space), 0);
	assert_int_equal(f->cfg.wait_ms, 42);
	assert_string_equal(f->cfg.domain, "from.env");
	assert_int_equal(load(f, 3, flag_eq), 0);
	assert_int_equal(f->cfg.wait_ms, 43);
	assert_string_equal(f->cfg.domain, "preview.example");
	assert_int_equal(load(f, 4, last_wins), 0);
	assert_int_equal(f->cfg.wait_ms, 2);
}

static void kinds(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "previewd", "--allow-never", "yes", "--log-level", "debug", "--max-lifetime", "30d", NULL };

	setenv("PREVIEWD_DEFAULT_TTL", "1h30m", 1);
	setenv("PREVIEWD_MIN_TTL", "90", 1); /* a bare number is seconds */
	setenv("PREVIEWD_LOG_JSON", "1", 1);
	setenv("PREVIEWD_LISTEN", "[::1]:9090", 1);
	assert_int_equal(load(f, 7, argv), 0);
	assert_int_equal(f->cfg.default_ttl, 5400);
	assert_int_equal(f->cfg.min_ttl, 90);
	assert_int_equal(f->cfg.max_lifetime, 30 * 86400);
	assert_int_equal(f->cfg.allow_never, 1);
	assert_int_equal(f->cfg.log_json, 1);
	assert_int_equal(f->cfg.log_level, PV_LOG_DEBUG);
	assert_string_equal(f->cfg.listen_host, "::1");
	assert_int_equal(f->cfg.listen_port, 9090);
	assert_string_equal(f->cfg.public_url, "http://[::1]:9090");
}

static void bounds(void **state)
{
	struct fixture *f = *state;
	char *too_many_threads[] = { "previewd", "--http-threads", "257", NULL };
	char *negative[] = { "previewd", "--wait-ms=-5", NULL };
	char *negative_space[] = { "previewd", "--wait-ms", "-5", NULL };
	char *too_long[] = { "previewd", "--max-body=1000000000", NULL };
	char *edge[] = { "previewd", "--http-threads", "256", "--max-body", "256", NULL };

	setenv("PREVIEWD_MAX_BODY", "100", 1);
	assert_refused(f, load_env(f), "PREVIEWD_MAX_BODY: 100 is out of range [256, 16777216]");
	assert_string_equal(pv_error_last()->field, "PREVIEWD_MAX_BODY");
	unsetenv("PREVIEWD_MAX_BODY");
	/* a flag's error names the flag */
	assert_refused(f, load(f, 3, too_many_threads), "--http-threads: 257 is out of range [1, 256]");
	assert_string_equal(pv_error_last()->field, "--http-threads");
	assert_refused(f, load(f, 2, negative), "--wait-ms: -5 is out of range [0, 600000]");
	assert_refused(f, load(f, 3, negative_space), "--wait-ms: -5 is out of range [0, 600000]");
	assert_refused(f, load(f, 2, too_long), "--max-body: 1000000000 is out of range");
	assert_int_equal(load(f, 5, edge), 0);
	assert_int_equal(f->cfg.http_threads, 256);
	assert_int_equal(f->cfg.max_body, 256);
	setenv("PREVIEWD_CONN_TIMEOUT", "2h", 1);
	assert_refused(f, load_env(f), "PREVIEWD_CONN_TIMEOUT: 7200 is out of range [1, 3600]");
	unsetenv("PREVIEWD_CONN_TIMEOUT");
	/* 0 is "off" only where the minimum allows it */
	setenv("PREVIEWD_MIN_TTL", "0", 1);
	assert_refused(f, load_env(f), "PREVIEWD_MIN_TTL must be a positive duration");
}

/* PREVIEWD_SLEEP_SCHEDULE read at start, the zone known to the zone data,
 * the activity query over {namespaces} */
static void sleep_settings(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load_env(f), 0);
	assert_int_equal(f->cfg.schedule.n, 0);
	assert_string_equal(f->cfg.timezone, "UTC");
	assert_int_equal(f->cfg.idle_sleep, 0);
	assert_int_equal(f->cfg.activity_poll, 60);
	assert_int_equal(f->cfg.activity_window, 300);
	setenv("PREVIEWD_SLEEP_SCHEDULE", "Mon-Fri 19:00-08:00; Sat-Sun", 1);
	setenv("PREVIEWD_TIMEZONE", "Europe/Berlin", 1);
	setenv("PREVIEWD_IDLE_SLEEP", "2h", 1);
	assert_int_equal(load_env(f), 0);
	assert_int_equal(f->cfg.schedule.n, 2);
	assert_int_equal(f->cfg.idle_sleep, 7200);
	setenv("PREVIEWD_SLEEP_SCHEDULE", "Mon-Fri 7pm", 1);
	assert_refused(f, load_env(f), "PREVIEWD_SLEEP_SCHEDULE: '7pm' is not a time range");
	unsetenv("PREVIEWD_SLEEP_SCHEDULE");
	setenv("PREVIEWD_TIMEZONE", "Europe/Atlantis", 1);
	assert_refused(f, load_env(f), "PREVIEWD_TIMEZONE 'Europe/Atlantis' is not a zone");
	setenv("PREVIEWD_TIMEZONE", "../../etc/passwd", 1);
	assert_refused(f, load_env(f), "is not a zone");
	unsetenv("PREVIEWD_TIMEZONE");
	setenv("PREVIEWD_ACTIVITY_QUERY", "sum(rate(nginx_ingress_controller_requests[5m]))", 1);
	assert_refused(f, load_env(f), "{namespaces}");
	unsetenv("PREVIEWD_ACTIVITY_QUERY");
	setenv("PREVIEWD_PROMETHEUS_URL", "prometheus:9090", 1);
	assert_refused(f, load_env(f), "PREVIEWD_PROMETHEUS_URL must be an http:// or https:// URL");
	unsetenv("PREVIEWD_PROMETHEUS_URL");
	unsetenv("PREVIEWD_IDLE_SLEEP");
}

static void bad_values_refused(void **state)
{
	struct fixture *f = *state;
	char *unknown[] = { "previewd", "--no-such-thing", "1", NULL };
	char *no_value[] = { "previewd", "--wait-ms", NULL };
	char *stray[] = { "previewd", "serve", NULL };
	char *level[] = { "previewd", "--log-level", "loud", NULL };

	setenv("PREVIEWD_WAIT_MS", "soon", 1);
	assert_refused(f, load_env(f), "PREVIEWD_WAIT_MS: 'soon' is not an integer");
	setenv("PREVIEWD_WAIT_MS", "12abc", 1);
	assert_refused(f, load_env(f), "'12abc' is not an integer");
	unsetenv("PREVIEWD_WAIT_MS");
	setenv("PREVIEWD_ALLOW_NEVER", "maybe", 1);
	assert_refused(f, load_env(f), "PREVIEWD_ALLOW_NEVER: 'maybe' is not true or false");
	unsetenv("PREVIEWD_ALLOW_NEVER");
	setenv("PREVIEWD_DEFAULT_TTL", "8 hours", 1);
	assert_refused(f, load_env(f), "PREVIEWD_DEFAULT_TTL must be a positive duration");
	unsetenv("PREVIEWD_DEFAULT_TTL");
	assert_refused(f, load(f, 3, unknown), "unknown option '--no-such-thing'");
	assert_refused(f, load(f, 2, no_value), "option '--wait-ms' needs a value");
	assert_refused(f, load(f, 2, stray), "unexpected argument 'serve'");
	assert_refused(f, load(f, 3, level), "unknown log level 'loud'");
	setenv("PREVIEWD_LISTEN", "localhost", 1);
	assert_refused(f, load_env(f), "PREVIEWD_LISTEN 'localhost' must be HOST:PORT");
	setenv("PREVIEWD_LISTEN", "127.0.0.1:70000", 1);
	assert_refused(f, load_env(f), "must be HOST:PORT");
	unsetenv("PREVIEWD_LISTEN");
	setenv("PREVIEWD_WEBHOOK_FORMAT", "xml", 1);
	assert_refused(f, load_env(f), "PREVIEWD_WEBHOOK_FORMAT must be json, slack, mattermost or teams");
	unsetenv("PREVIEWD_WEBHOOK_FORMAT");
	setenv("PREVIEWD_WEBHOOK_URL", "ftp://example.com/hook", 1);
	assert_refused(f, load_env(f), "PREVIEWD_WEBHOOK_URL must be an http:// or https:// URL");
	unsetenv("PREVIEWD_WEBHOOK_URL");
	setenv("PREVIEWD_GIT_BRANCH", "a b", 1);
	assert_refused(f, load_env(f), "PREVIEWD_GIT_BRANCH 'a b' is not a valid branch name");
	unsetenv("PREVIEWD_GIT_BRANCH");
	setenv("PREVIEWD_ENV_DIR", "../outside", 1);
	assert_refused(f, load_env(f), "must be a relative path inside the repository");
	unsetenv("PREVIEWD_ENV_DIR");
}

static void settings_checked_together(void **state)
{
	struct fixture *f = *state;

	setenv("PREVIEWD_DEFAULT_TTL", "8d", 1);
	assert_refused(f, load_env(f), "PREVIEWD_DEFAULT_TTL is larger than PREVIEWD_MAX_TTL");
	setenv("PREVIEWD_DEFAULT_TTL", "2h", 1);
	setenv("PREVIEWD_MAX_LIFETIME", "1h", 1);
	assert_refused(f, load_env(f), "PREVIEWD_DEFAULT_TTL is larger than PREVIEWD_MAX_LIFETIME");
	unsetenv("PREVIEWD_MAX_LIFETIME");
	setenv("PREVIEWD_MIN_TTL", "3h", 1);
	assert_refused(f, load_env(f), "PREVIEWD_MIN_TTL is larger than PREVIEWD_DEFAULT_TTL");
	unsetenv("PREVIEWD_MIN_TTL");
	unsetenv("PREVIEWD_DEFAULT_TTL");
	setenv("PREVIEWD_ARGOCD_URL", "https://argocd.example", 1);
	assert_refused(f, load_env(f), "PREVIEWD_ARGOCD_URL needs PREVIEWD_ARGOCD_TOKEN");
	setenv("PREVIEWD_ARGOCD_TOKEN", "tok", 1);
	assert_int_equal(load_env(f), 0);
	assert_string_equal(f->cfg.argocd_token, "tok");
}

static void secrets_from_files(void **state)
{
	struct fixture *f = *state;
	char path[128], missing[128], dump[4096] = "";
	FILE *mem;

	snprintf(path, sizeof(path), "%s/secret", f->dir);
	/* the trailing newline an editor or `echo` leaves is not the secret's */
	write_file(path, "s3cret-value\r\n");
	setenv("PREVIEWD_WEBHOOK_SECRET", "from-env", 1);
	setenv("PREVIEWD_WEBHOOK_SECRET_FILE", path, 1);
	setenv("PREVIEWD_GIT_PASSWORD_FILE", path, 1);
	setenv("PREVIEWD_ARGOCD_URL", "https://argocd.example", 1);
	setenv("PREVIEWD_ARGOCD_TOKEN_FILE", path, 1);
	assert_int_equal(load_env(f), 0);
	/* the file wins over the variable */
	assert_string_equal(f->cfg.webhook_secret, "s3cret-value");
	assert_string_equal(f->cfg.git_password, "s3cret-value");
	assert_string_equal(f->cfg.argocd_token, "s3cret-value");
	/* the dump shows that a secret is set, never its value */
	mem = fmemopen(dump, sizeof(dump) - 1, "w");
	assert_non_null(mem);
	pv_config_dump(&f->cfg, mem);
	fclose(mem);
	assert_non_null(strstr(dump, "PREVIEWD_WEBHOOK_SECRET=(set, redacted)\n"));
	assert_non_null(strstr(dump, "PREVIEWD_GIT_PASSWORD=(set, redacted)\n"));
	assert_non_null(strstr(dump, "PREVIEWD_ARGOCD_TOKEN=(set, redacted)\n"));
	assert_null(strstr(dump, "s3cret"));
	assert_null(strstr(dump, "from-env"));
	assert_non_null(strstr(dump, "PREVIEWD_WAIT_MS=5000\n"));
	assert_non_null(strstr(dump, "PREVIEWD_DEFAULT_TTL=8h\n"));

	snprintf(missing, sizeof(missing), "%s/no-such-file", f->dir);
	setenv("PREVIEWD_WEBHOOK_SECRET_FILE", missing, 1);
	assert_refused(f, load_env(f), "cannot open PREVIEWD_WEBHOOK_SECRET_FILE");
	assert_non_null(strstr(pv_error_last()->message, missing));
	assert_string_equal(pv_error_last()->field, "PREVIEWD_WEBHOOK_SECRET_FILE");
}

static void lists(void **state)
{
	struct fixture *f = *state;
	char names[2048] = "", one[16];

	setenv("PREVIEWD_RESERVED_NAMES", "admin, www,x-*", 1);
	setenv("PREVIEWD_WARN_BEFORE", "10m,1d,30s", 1);
	assert_int_equal(load_env(f), 0);
	assert_int_equal(f->cfg.reserved_count, 3);
	assert_string_equal(f->cfg.reserved[0], "admin");
	assert_string_equal(f->cfg.reserved[1], "www");
	assert_string_equal(f->cfg.reserved[2], "x-*");
	/* lead times largest first, whatever the order given */
	assert_int_equal(f->cfg.warn_count, 3);
	assert_int_equal(f->cfg.warn_leads[0], 86400);
	assert_int_equal(f->cfg.warn_leads[1], 600);
	assert_int_equal(f->cfg.warn_leads[2], 30);

	/* a list longer than the array's first allocation */
	for (int i = 0; i < 100; i++) {
		snprintf(one, sizeof(one), "%sn%d", i ? "," : "", i);
		strcat(names, one);
	}
	setenv("PREVIEWD_RESERVED_NAMES", names, 1);
	setenv("PREVIEWD_WARN_BEFORE", "", 1);
	assert_int_equal(load_env(f), 0);
	assert_int_equal(f->cfg.reserved_count, 100);
	assert_string_equal(f->cfg.reserved[0], "n0");
	assert_string_equal(f->cfg.reserved[99], "n99");
	assert_int_equal(f->cfg.warn_count, 0);

	setenv("PREVIEWD_WARN_BEFORE", "1m,2m,3m,4m,5m,6m,7m,8m,9m", 1);
	assert_refused(f, load_env(f), "PREVIEWD_WARN_BEFORE lists more than 8 lead times");
}

static void derived_values(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "previewd", "--check-config", "--help", "--version", NULL };

	setenv("PREVIEWD_DATA_DIR", f->dir, 1);
	setenv("PREVIEWD_ENV_DIR", "/helm-env/env/", 1);
	setenv("PREVIEWD_GIT_URL", "https://user:pw@git.example/org/gitops.git", 1);
	setenv("PREVIEWD_PUBLIC_URL", "https://previewd.example", 1);
	assert_int_equal(load(f, 4, argv), 0);
	assert_int_equal(f->cfg.check_only, 1);
	assert_int_equal(f->help, 1);
	assert_int_equal(f->version, 1);
	assert_string_equal(f->cfg.data_dir, f->dir);
	assert_string_equal(f->cfg.env_dir, "helm-env/env");
	assert_int_equal(f->cfg.git_url_is_default, 0);
	assert_string_equal(f->cfg.argocd_repo_url, "https://user:pw@git.example/org/gitops.git");
	assert_string_equal(f->cfg.public_url, "https://previewd.example");
}

static void usage_lists_every_flag(void **state)
{
	char text[16384] = "";
	FILE *mem = fmemopen(text, sizeof(text) - 1, "w");

	(void)state;
	assert_non_null(mem);
	pv_config_usage(mem);
	fclose(mem);
	assert_non_null(strstr(text, "--wait-ms"));
	assert_non_null(strstr(text, "PREVIEWD_WAIT_MS"));
	assert_non_null(strstr(text, "[5000]"));
	assert_non_null(strstr(text, "--argocd-poll"));
	assert_non_null(strstr(text, "--check-config, -n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(env_and_flag_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_values_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(settings_checked_together, setup, teardown),
		cmocka_unit_test_setup_teardown(secrets_from_files, setup, teardown),
		cmocka_unit_test_setup_teardown(lists, setup, teardown),
		cmocka_unit_test_setup_teardown(derived_values, setup, teardown),
		cmocka_unit_test_setup_teardown(sleep_settings, setup, teardown),
		cmocka_unit_test(usage_lists_every_flag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * main.c - start-up and shutdown order, and who owns what.
 *
 * Threads (ps -L and gdb show the names; the background ones run the one
 * loop of worker.h):
 *
 *   main thread    config, the migration-running SQLite connection, signals
 *   HTTP workers   libmicrohttpd's pool; one SQLite connection each (http.c,
 *                  api.c, store.c)
 *   pv-http-timer  ends request waits whose window closed (http.c)
 *   pv-gitops      the Git writer: the libgit2 repository, its own SQLite
 *                  connection (gitops.c, with planner.c, gitrepo.c, pusher.c)
 *   pv-reaper      expiries and warnings, its own SQLite connection (reaper.c)
 *   pv-retention   prunes what ended longer ago than PREVIEWD_RETENTION and
 *                  gives the pages back, its own SQLite connection
 *                  (retention.c); not with PREVIEWD_RETENTION=0
 *   pv-notify      delivers the outbox to the webhook, its own CURL handle and
 *                  SQLite connection (notify.c); only with PREVIEWD_WEBHOOK_URL
 *   pv-chat-reply  posts chat button outcomes to Slack's response_url, its own
 *                  CURL handle (chatreply.c); only with PREVIEWD_SLACK_SIGNING_SECRET
 *   pv-argocd      push webhooks to Argo CD and its Applications' status, its
 *                  own CURL handle and SQLite connection (argocd.c); only with
 *                  PREVIEWD_ARGOCD_WEBHOOK_URL or PREVIEWD_ARGOCD_URL
 *   pv-forge       each pull request's environment shown on GitHub, GitLab or
 *                  Gitea, its own CURL handle and SQLite connection (forge.c);
 *                  only with a forge token
 *   pv-opencost    each namespace's cost read from OpenCost, its own CURL
 *                  handle and SQLite connection (opencost.c); only with
 *                  PREVIEWD_OPENCOST_URL
 *   pv-sleeper     sleep on a schedule and when idle, through the env rules
 *                  on its own connection, its own CURL handle for Prometheus
 *                  (sleeper.c, activity.c)
 *
 * Start: config -> database (migrations) -> retention (its one-time rebuild
 * of an older database runs before any other thread) -> notifier -> forge
 * reporter -> OpenCost reader -> Argo CD poller -> HTTP object -> Git writer -> reaper -> API ->
 * sleeper -> HTTP timer and listen.  TZ is set from PREVIEWD_TIMEZONE before any thread.
 * Stop (SIGINT/SIGTERM): stop listening, answer waiting requests and stop the
 * HTTP timer -> sleeper -> reaper -> the writer after its push in flight -> free the
 * HTTP object -> Argo CD poller -> forge reporter -> OpenCost reader -> notifier -> retention -> API -> close the
 * database.
 * Each thread is stopped only after every thread that kicks it.
 * Nothing acknowledged is lost at any point: it is in SQLite before the
 * answer, and the writer picks up every dirty row at the next start.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "api.h"
#include "appset.h"
#include "auth.h"
#include "check.h"
#include "prrules.h"
#include "cli_admin.h"
#include "cli_env.h"
#include "config.h"
#include "gitops.h"
#include "http.h"
#include "argocd.h"
#include "forge.h"
#include "log.h"
#include "chatreply.h"
#include "notify.h"
#include "opencost.h"
#include "reaper.h"
#include "recover.h"
#include "retention.h"
#include "schedule.h"
#include "sleeper.h"
#include "store.h"
#include "stream.h"
#include "url.h"

#ifndef PREVIEWD_VERSION
#define PREVIEWD_VERSION "0.1.0"
#endif

/*
 * One previewd per data dir: its clone, its queue and its lock-file cleanup
 * assume no other writer.  The lock is released by the kernel when the
 * process ends, however it ends.
 */
static int lock_data_dir(const char *dir)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/previewd.lock", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0)
		return pv_error_set(PV_EUNAVAIL, NULL, "cannot open %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return pv_error_set(PV_ECONFLICT, NULL, "another previewd is using the data dir %s", dir);
	}
	return fd; /* kept open for the life of the process */
}

/* A command-line command works on a server's database: with
 * PREVIEWD_DATA_DIR unset and no ./previewd-data it would make an empty one
 * here and answer from it (no tokens, nothing to recover into) as if all
 * were well.  The server still defaults to ./previewd-data and creates it. */
static int cli_data_dir(const struct pv_config *cfg, const char *command)
{
	const char *given = getenv("PREVIEWD_DATA_DIR");
	struct stat sb;

	if ((given && *given) || stat(cfg->data_dir, &sb) == 0)
		return 0;
	return pv_error_set(PV_EINVAL, "PREVIEWD_DATA_DIR",
		"PREVIEWD_DATA_DIR is not set and there is no %s: `previewd %s` works on the data dir of a previewd; "
		"set PREVIEWD_DATA_DIR to it", cfg->data_dir, command);
}

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0750) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	}
	return mkdir(buf, 0750) < 0 && errno != EEXIST ? -1 : 0;
}

/* Who to wake when the desired state changed; filled in start-up order,
 * read-only once the HTTP server listens. */
struct wakeups {
	struct pv_http *http;
	struct pv_gitops *git;
	struct pv_reaper *reaper;
	struct pv_notify *notify;
	struct pv_argocd *argocd;
	struct pv_retention *retention;
	struct pv_forge *forge;
	struct pv_sleeper *sleeper;
};

static void forge_kick_cb(void *ctx)
{
	struct wakeups *w = ctx;

	if (w->forge)
		pv_forge_kick(w->forge);
}

static void status_cb(void *ctx, int *known, int *reachable, char *error, size_t error_len, int64_t *last_push_at)
{
	struct wakeups *w = ctx;
	struct pv_gitops_status s;

	pv_gitops_status(w->git, &s);
	*known = s.have_tip;
	*reachable = s.reachable;
	snprintf(error, error_len, "%s", s.last_error);
	*last_push_at = s.last_push_at;
}

static int folder_cb(void *ctx, const char *name, int *exists, int *managed, char **values_yaml, size_t *values_len)
{
	return pv_gitops_folder(((struct wakeups *)ctx)->git, name, exists, managed, values_yaml, values_len);
}

static int settings_cb(void *ctx, const char *name, int *found, char **yaml, size_t *yaml_len)
{
	return pv_gitops_settings(((struct wakeups *)ctx)->git, name, found, yaml, yaml_len);
}

static void argocd_status_cb(void *ctx, int *enabled, int *reachable, char *error, size_t error_len, int64_t *last_poll_at)
{
	struct pv_argocd_status s;

	pv_argocd_status(((struct wakeups *)ctx)->argocd, &s);
	*enabled = s.enabled;
	*reachable = s.reachable;
	snprintf(error, error_len, "%s", s.error);
	*last_poll_at = s.last_poll_at;
}

static int bases_cb(void *ctx, json_t *out)
{
	return pv_gitops_bases(((struct wakeups *)ctx)->git, out);
}

static void fetch_cb(void *ctx)
{
	pv_gitops_fetch_soon(((struct wakeups *)ctx)->git);
}

static void tip_cb(void *ctx, char *out, size_t len)
{
	struct pv_gitops_status s;

	pv_gitops_status(((struct wakeups *)ctx)->git, &s);
	snprintf(out, len, "%s", s.have_tip ? s.tip : "");
}

static int metrics_cb(void *ctx, struct pv_strbuf *out)
{
	struct wakeups *w = ctx;
	int error = pv_gitops_metrics(w->git, out);

	if (error == 0 && w->reaper)
		error = pv_reaper_metrics(w->reaper, out);
	if (error == 0 && w->notify)
		error = pv_notify_metrics(w->notify, out);
	if (error == 0)
		error = pv_retention_metrics(w->retention, out);
	if (error == 0)
		error = pv_sleeper_metrics(w->sleeper, out);
	return error;
}

/* a request changed something: push it, re-plan expiries, deliver events */
static void kick_cb(void *ctx)
{
	struct wakeups *w = ctx;

	pv_gitops_kick(w->git);
	pv_reaper_kick(w->reaper);
	pv_notify_kick(w->notify);
	pv_forge_kick(w->forge);
	pv_sleeper_kick(w->sleeper);
}

/* the reaper expired or warned: push removals, deliver events */
static void reaped_cb(void *ctx)
{
	struct wakeups *w = ctx;

	pv_gitops_kick(w->git);
	pv_notify_kick(w->notify);
	pv_forge_kick(w->forge);
}

/* a push landed: tell Argo CD */
static void pushed_cb(const char *before, const char *after, const json_t *changes, void *ctx)
{
	pv_argocd_pushed(((struct wakeups *)ctx)->argocd, before, after, changes);
}

/* Argo CD reported Applications Healthy: deliver the ready events */
static void argocd_cb(void *ctx)
{
	pv_notify_kick(((struct wakeups *)ctx)->notify);
	pv_forge_kick(((struct wakeups *)ctx)->forge);
}

/* the writer finished a round: answer waiting requests, deliver events */
static void landed_cb(const struct pv_gitops_landed *items, size_t n, void *ctx)
{
	struct wakeups *w = ctx;

	pv_http_landed(items, n, w->http);
	pv_notify_kick(w->notify);
	pv_forge_kick(w->forge);
}

int main(int argc, char **argv)
{
	struct pv_config cfg;
	struct pv_store *st = NULL;
	struct pv_http *http = NULL;
	struct pv_stream *stream = NULL;
	struct pv_gitops *git = NULL;
	struct pv_api *api = NULL;
	struct pv_prrules *pr_rules = NULL;
	struct pv_api_git api_git;
	struct pv_reaper *reaper = NULL;
	struct pv_notify *notify = NULL;
	struct pv_argocd *argocd = NULL;
	struct pv_retention *retention = NULL;
	struct pv_forge *forge = NULL;
	struct pv_opencost *opencost = NULL;
	struct pv_sleeper *sleeper = NULL;
	struct pv_gitops_hooks hooks;
	struct wakeups wake = { 0 };
	char db_path[4096];
	struct pv_store_settings db;
	int want_help, want_version, sig, rc = 1;
	sigset_t signals;

	/* `previewd env ...` is a client of a previewd's API: no server
	 * configuration, only PREVIEWD_URL and the token (cli_env.h) */
	if (pv_cli_env_is(argc, argv))
		return pv_cli_env(argc, argv);
	/* `previewd token ...` manages API tokens in the database of the
	 * configured data dir (PREVIEWD_DATA_DIR) and exits */
	if (argc > 1 && strcmp(argv[1], "token") == 0) {
		if (pv_config_load(&cfg, 1, argv, &want_help, &want_version) < 0 || cli_data_dir(&cfg, "token") < 0 ||
		    mkdir_p(cfg.data_dir) < 0) {
			fprintf(stderr, "previewd: %s\n", pv_error_last()->message);
			pv_config_dispose(&cfg);
			return 2;
		}
		snprintf(db_path, sizeof(db_path), "%s/previewd.db", cfg.data_dir);
		pv_log_threshold = PV_LOG_WARN;
		rc = pv_auth_cli(argc, argv, db_path);
		pv_config_dispose(&cfg);
		return rc;
	}
	/* `previewd reaper release` and `previewd backup FILE` work on the
	 * database beside a running previewd (cli_admin.h) */
	if (pv_cli_admin_is(argc, argv)) {
		if (pv_config_load(&cfg, 1, argv, &want_help, &want_version) < 0) {
			fprintf(stderr, "previewd: %s\n", pv_error_last()->message);
			pv_config_dispose(&cfg);
			return 2;
		}
		snprintf(db_path, sizeof(db_path), "%s/previewd.db", cfg.data_dir);
		pv_log_threshold = PV_LOG_WARN;
		rc = pv_cli_admin(argc, argv, db_path);
		pv_config_dispose(&cfg);
		return rc;
	}
	/* `previewd recover` and `previewd print-applicationset`: one-shot
	 * commands on the configuration from the environment */
	if ((argc == 2 && (strcmp(argv[1], "recover") == 0 || strcmp(argv[1], "print-applicationset") == 0)) ||
	    (argc == 3 && strcmp(argv[1], "recover") == 0 && strcmp(argv[2], "--adopt-foreign") == 0)) {
		if (pv_config_load(&cfg, 1, argv, &want_help, &want_version) < 0) {
			fprintf(stderr, "previewd: %s\n", pv_error_last()->message);
			pv_config_dispose(&cfg);
			return 2;
		}
		pv_log_threshold = cfg.log_level;
		if (strcmp(argv[1], "print-applicationset") == 0) {
			struct pv_strbuf out = PV_STRBUF_INIT;
			struct pv_appset_repo seen;
			git_libgit2_init();
			rc = pv_appset_read_repo(&cfg, &seen) < 0 || pv_appset_print(&cfg, &seen, &out) < 0 ? 1 : 0;
			if (rc == 0)
				fputs(out.buf, stdout);
			else
				fprintf(stderr, "previewd: print-applicationset: %s\n", pv_error_last()->message);
			pv_strbuf_dispose(&out);
			git_libgit2_shutdown();
		} else {
			/* what is skipped, and what is adopted from elsewhere, goes to
			 * stderr line by line; the tally to stdout */
			struct pv_recover_opts opts = { .adopt_foreign = argc == 3, .report = stderr };
			struct pv_recover_result res;
			git_libgit2_init();
			snprintf(db_path, sizeof(db_path), "%s/previewd.db", cfg.data_dir);
			rc = cli_data_dir(&cfg, "recover") < 0 || mkdir_p(cfg.data_dir) < 0 || lock_data_dir(cfg.data_dir) < 0 ||
			     pv_recover(&cfg, db_path, &opts, &res) < 0 ? 1 : 0;
			if (rc == 0 && res.skipped)
				printf("recovered %d environment(s) from Git; %d already known; %d skipped\n", res.restored,
					res.known, res.skipped);
			else if (rc == 0)
				printf("recovered %d environment(s) from Git; %d already known\n", res.restored, res.known);
			else
				fprintf(stderr, "previewd: recover: %s\n", pv_error_last()->message);
			git_libgit2_shutdown();
		}
		pv_config_dispose(&cfg);
		return rc;
	}
	/* `previewd check` (alias `--check-config --online`): the Git remote as
	 * the writer sees it, one line per step */
	if ((argc == 2 && strcmp(argv[1], "check") == 0) ||
	    (argc == 3 && strcmp(argv[1], "--check-config") == 0 && strcmp(argv[2], "--online") == 0)) {
		if (pv_config_load(&cfg, 1, argv, &want_help, &want_version) < 0) {
			fprintf(stderr, "previewd: %s\n", pv_error_last()->message);
			pv_config_dispose(&cfg);
			return 2;
		}
		pv_log_threshold = cfg.log_level;
		git_libgit2_init();
		rc = pv_check_run(&cfg, stdout);
		git_libgit2_shutdown();
		pv_config_dispose(&cfg);
		return rc;
	}
	if (pv_config_load(&cfg, argc, argv, &want_help, &want_version) < 0) {
		fprintf(stderr, "previewd: %s\n", pv_error_last()->message);
		pv_config_dispose(&cfg);
		return 2;
	}
	if (want_help) {
		pv_config_usage(stdout);
		pv_config_dispose(&cfg);
		return 0;
	}
	if (want_version) {
		printf("previewd %s\n", PREVIEWD_VERSION);
		pv_config_dispose(&cfg);
		return 0;
	}
	pv_log_threshold = cfg.log_level;
	pv_log_json = cfg.log_json;
	if (cfg.check_only) {
		pv_config_dump(&cfg, stdout);
		printf("configuration OK\n");
		pv_config_dispose(&cfg);
		return 0;
	}

	/* schedules are wall-clock times in one zone, set while no other
	 * thread can read it (schedule.h) */
	setenv("TZ", cfg.timezone, 1);
	tzset();
	{
		/* test-only: the schedule's clock shifted, to cross weekends and
		 * daylight-saving changes without waiting (schedule.h) */
		const char *off = getenv("PREVIEWD_NOW_OFFSET");
		if (off && *off) {
			pv_schedule_set_offset(strtoll(off, NULL, 10));
			log_warn("PREVIEWD_NOW_OFFSET=%s: schedules and idle sleep run on a shifted clock (tests only)", off);
		}
	}

	/* threads inherit this mask: only the main thread takes these signals */
	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	git_libgit2_init();
	/* Every tree previewd writes is its base tree plus blobs it has just
	 * written: checking that each of a tree's entries exists (libgit2's
	 * default) costs a lookup per env folder on every commit - 40 ms at
	 * 10,000 environments - and proves nothing here. */
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
	/* memory stays flat as the repository grows: a small object cache and
	 * bounded pack windows (libgit2's defaults allow 256 MiB and 8 GiB) */
	git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)(4 << 20));
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)(4 << 20));
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)(1 << 20));
	/* one malloc arena per thread would keep freed memory per thread */
	mallopt(M_ARENA_MAX, 2);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (mkdir_p(cfg.data_dir) < 0) {
		log_error("cannot create the data dir %s: %s", cfg.data_dir, strerror(errno));
		goto out;
	}
	if (lock_data_dir(cfg.data_dir) < 0) {
		log_error("%s", pv_error_last()->message);
		goto out;
	}
	snprintf(db_path, sizeof(db_path), "%s/previewd.db", cfg.data_dir);
	pv_store_settings_init(&db, &cfg, db_path);
	if (pv_store_open(&st, &db) < 0 || pv_store_warn_refresh(st) < 0) {
		log_error("%s", pv_error_last()->message);
		goto out;
	}
	{
		long long tokens = 0;
		if (pv_store_token_count(st, &tokens) == 0 && tokens == 0)
			log_warn("no API tokens: previewd is open and answers only loopback clients "
				 "(create one with: previewd token create NAME --role writer)");
		else
			log_info("%lld API token(s): every /v1 route needs one", tokens);
	}
	if (pv_retention_start(&retention, &cfg, db_path) < 0) {
		log_error("%s", pv_error_last()->message);
		goto out;
	}
	wake.retention = retention;
	if (*cfg.webhook_url) {
		if (pv_notify_start(&notify, &cfg, db_path) < 0) {
			log_error("%s", pv_error_last()->message);
			goto out;
		}
		wake.notify = notify;
	}
	if (pv_forge_wanted(&cfg)) {
		if (pv_forge_start(&forge, &cfg, db_path) < 0) {
			log_error("%s", pv_error_last()->message);
			goto out;
		}
		wake.forge = forge;
	}
	if (*cfg.opencost_url && pv_opencost_start(&opencost, &cfg, db_path) < 0) {
		log_error("%s", pv_error_last()->message);
		goto out;
	}
	if (cfg.slack_signing_secret && *cfg.slack_signing_secret && pv_chatreply_start(&cfg) < 0) {
		log_error("%s", pv_error_last()->message);
		goto out;
	}
	if ((cfg.argocd_webhook_url[0] || cfg.argocd_url[0]) &&
	    pv_argocd_start(&argocd, &cfg, db_path, argocd_cb, &wake) < 0) {
		log_error("%s", pv_error_last()->message);
		goto out;
	}
	wake.argocd = argocd;
	hooks = (struct pv_gitops_hooks){ .landed = landed_cb, .pushed = pushed_cb, .ctx = &wake };
	if (pv_http_new(&http, &cfg) < 0 ||
	    (wake.http = http, pv_gitops_start(&git, &cfg, db_path, &hooks)) < 0 ||
	    (wake.git = git, pv_reaper_start(&reaper, &cfg, db_path, reaped_cb, &wake)) < 0) {
		log_error("%s", pv_error_last()->message);
		goto out;
	}
	wake.reaper = reaper;
	api_git = (struct pv_api_git){ .folder = folder_cb, .kick = kick_cb, .settings = settings_cb, .status = status_cb,
		.metrics = metrics_cb, .bases = bases_cb, .argocd = argocd_status_cb, .fetch = fetch_cb, .tip = tip_cb,
		.ctx = &wake };
	if (*cfg.pr_rules && pv_prrules_load(&pr_rules, cfg.pr_rules) < 0) {
		log_error("PREVIEWD_PR_RULES: %s", pv_error_last()->message);
		goto out;
	}
	if (pr_rules)
		log_info("pull requests: %zu rule(s) from %s", pr_rules->n, cfg.pr_rules);
	if (pv_api_new(&api, &cfg, &db, &api_git) < 0 ||
	    pv_stream_new(&stream, &cfg, pv_api_envs(api)) < 0 || pv_stream_start(stream) < 0) {
		log_error("%s", pv_error_last()->message);
		goto out;
	}
	pv_api_pullreq(api, pr_rules, forge_kick_cb, &wake);
	if (pv_sleeper_new(&sleeper, &cfg, pv_api_envs(api)) < 0 ||
	    (wake.sleeper = sleeper, pv_sleeper_start(sleeper)) < 0) {
		log_error("%s", pv_error_last()->message);
		goto out;
	}
	/* every commit that records history wakes the stream */
	pv_store_set_events_hook(pv_stream_kick, stream);
	pv_http_set_stream(http, stream);
	if (pv_http_start(http, api) < 0) {
		log_error("%s", pv_error_last()->message);
		goto out;
	}
	{
		char repo[1024];
		pv_url_redact(repo, sizeof(repo), cfg.git_url);
		log_info("previewd %s listening on %s:%u, GitOps repository %s branch %s, env folder %s/",
			PREVIEWD_VERSION, cfg.listen_host, pv_http_port(http), repo, cfg.git_branch, cfg.env_dir);
	}

	while (sigwait(&signals, &sig) == 0 && sig != SIGINT && sig != SIGTERM)
		;
	log_info("shutting down on signal %d", sig);
	rc = 0;
out:
	pv_http_stop(http);   /* first: no new work, waiting requests answered */
	pv_sleeper_free(sleeper); /* it writes through the env rules and kicks the writer */
	wake.sleeper = NULL;
	pv_reaper_free(reaper);
	pv_gitops_free(git);  /* then the writer, after its push in flight */
	pv_http_free(http);   /* only now: the writer's last round may still call pv_http_landed */
	pv_argocd_free(argocd);
	pv_forge_free(forge);
	pv_opencost_free(opencost);
	pv_notify_free(notify);
	pv_retention_free(retention);
	pv_chatreply_stop();
	pv_store_set_events_hook(NULL, NULL);
	pv_stream_free(stream); /* after the server and every writer: responses and the hook point into it */
	pv_api_free(api);
	pv_prrules_free(pr_rules);
	pv_store_free(st);
	git_libgit2_shutdown();
	curl_global_cleanup();
	pv_config_dispose(&cfg);
	return rc;
}

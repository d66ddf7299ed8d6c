/*
 * main.c - start-up and shutdown order, and who owns what.
 *
 *   main thread   config, the migration-running SQLite connection, signals
 *   Git writer    the libgit2 repository, its own SQLite connection (gitops.c)
 *   HTTP workers  libmicrohttpd's pool; one SQLite connection each (store.c)
 *   HTTP timer    ends request waits whose window closed (http.c)
 *
 * Start: config -> database (migrations) -> HTTP object -> Git writer ->
 * API -> listen.  Stop (SIGINT/SIGTERM): stop listening and answer waiting
 * requests -> stop the writer after its push in flight -> close the database.
 * Nothing acknowledged is lost at any point: it is in SQLite before the
 * answer, and the writer picks up every dirty row at the next start.
 */
#include <errno.h>
#include <git2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "api.h"
#include "config.h"
#include "gitops.h"
#include "http.h"
#include "log.h"
#include "store.h"

#ifndef PREVIEWD_VERSION
#define PREVIEWD_VERSION "0.1.0"
#endif

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

static void status_cb(void *ctx, int *known, int *reachable, char *error, size_t error_len, int64_t *last_push_at)
{
	struct pv_gitops_status s;

	pv_gitops_status(ctx, &s);
	*known = s.have_tip;
	*reachable = s.reachable;
	snprintf(error, error_len, "%s", s.last_error);
	*last_push_at = s.last_push_at;
}

static int folder_cb(void *ctx, const char *name, int *exists, int *managed, char **values_yaml, size_t *values_len)
{
	return pv_gitops_folder(ctx, name, exists, managed, values_yaml, values_len);
}

static int metrics_cb(void *ctx, char **buf, size_t *len, size_t *cap)
{
	return pv_gitops_metrics(ctx, buf, len, cap);
}

static void kick_cb(void *ctx)
{
	pv_gitops_kick(ctx);
}

int main(int argc, char **argv)
{
	struct pv_config cfg;
	struct pv_store *st = NULL;
	struct pv_http *http = NULL;
	struct pv_gitops *git = NULL;
	struct pv_api *api = NULL;
	struct pv_api_git api_git;
	char db_path[4096];
	int want_help, want_version, sig, rc = 1;
	sigset_t signals;

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
	if (cfg.check_only) {
		pv_config_dump(&cfg, stdout);
		printf("configuration OK\n");
		pv_config_dispose(&cfg);
		return 0;
	}

	/* threads inherit this mask: only the main thread takes these signals */
	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	git_libgit2_init();
	if (mkdir_p(cfg.data_dir) < 0) {
		log_error("cannot create the data dir %s: %s", cfg.data_dir, strerror(errno));
		goto out;
	}
	snprintf(db_path, sizeof(db_path), "%s/previewd.db", cfg.data_dir);
	if (pv_store_open(&st, db_path) < 0) {
		log_error("%s", pv_error_last()->message);
		goto out;
	}
	pv_store_set_default_path(db_path);
	if (pv_http_new(&http, &cfg) < 0 ||
	    pv_gitops_start(&git, &cfg, db_path, pv_http_landed, http) < 0) {
		log_error("%s", pv_error_last()->message);
		goto out;
	}
	api_git = (struct pv_api_git){ .folder = folder_cb, .kick = kick_cb, .status = status_cb,
		.metrics = metrics_cb, .ctx = git };
	if (pv_api_new(&api, &cfg, &api_git) < 0 || pv_http_start(http, api) < 0) {
		log_error("%s", pv_error_last()->message);
		goto out;
	}
	log_info("previewd %s listening on %s:%u, GitOps repository %s branch %s, env folder %s/",
		PREVIEWD_VERSION, cfg.listen_host, pv_http_port(http), cfg.git_url, cfg.git_branch, cfg.env_dir);

	while (sigwait(&signals, &sig) == 0 && sig != SIGINT && sig != SIGTERM)
		;
	log_info("shutting down on signal %d", sig);
	rc = 0;
out:
	pv_http_free(http);   /* first: no new work, waiting requests answered */
	pv_gitops_free(git);  /* then the writer, after its push in flight */
	pv_api_free(api);
	pv_store_free(st);
	pv_store_set_default_path(NULL);
	git_libgit2_shutdown();
	pv_config_dispose(&cfg);
	return rc;
}

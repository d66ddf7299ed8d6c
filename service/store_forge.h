/*
 * store_forge.h - the pull_requests rows as the forge reporter reads and
 * writes them (forge.h), with the state of each one's environment.
 *
 * The rows are written by the pull-request lifecycle (one per pull request
 * or merge request); the reporter writes only its own columns: comment_id,
 * deployment_id, deployment_sha, reported and next_attempt_at.  It never
 * writes envs.
 */
#ifndef PV_STORE_FORGE_H
#define PV_STORE_FORGE_H

#include <stdint.h>

#include "store.h"

/* One pull request and its environment's latest record. */
struct pv_pr {
	int64_t id;
	char forge[16];          /* github | gitlab | gitea */
	char repo[256];
	char project_id[32];     /* GitLab's numeric id, "" when not known */
	int64_t number;
	char env_name[64];
	char state[16];          /* open | closed */
	char head_sha[72];
	char author[128];
	char reply[1024];        /* "" for none */
	int64_t reply_gen;
	char comment_id[32], deployment_id[32], deployment_sha[72]; /* "" until made */
	char reported[2048];     /* JSON, "" until a forge accepted one */
	/* the environment: env_status "" when there is no record of env_name */
	char env_status[16];
	int64_t expires_at;
	char health[24], sync[24];
	char git_error[512];
	int dirty;               /* its latest change is not in Git yet */
};

/* Each row with id > after_id whose next_attempt_at has come (<= now), in
 * id order, at most limit of them.  The callback's error ends the walk. */
int pv_store_pr_due(struct pv_store *st, int64_t after_id, int64_t now, int limit,
	int (*cb)(const struct pv_pr *pr, void *payload), void *payload) PV_WARN_UNUSED;

/* The forge accepted the report: row id's reported becomes it, and any
 * backoff ends. */
int pv_store_pr_reported(struct pv_store *st, int64_t id, const char *reported) PV_WARN_UNUSED;

/* What the forge made for row id (a sticky comment, a deployment for a
 * commit), recorded at once so that a retry edits it instead of making
 * another.  NULL leaves a column as it is. */
int pv_store_pr_made(struct pv_store *st, int64_t id, const char *comment_id, const char *deployment_id,
	const char *deployment_sha) PV_WARN_UNUSED;

/* No attempt for row id before at. */
int pv_store_pr_retry(struct pv_store *st, int64_t id, int64_t at) PV_WARN_UNUSED;

/* The forge is rate-limited: no attempt for any of its rows before at. */
int pv_store_pr_hold_forge(struct pv_store *st, const char *forge, int64_t at) PV_WARN_UNUSED;

/* The earliest next_attempt_at after now into *out (0 when none). */
int pv_store_pr_next(struct pv_store *st, int64_t now, int64_t *out) PV_WARN_UNUSED;

#endif

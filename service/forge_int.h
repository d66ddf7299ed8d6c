/*
 * forge_int.h - what the reporter's loop (forge.c) shares with each forge's
 * REST calls (forge_github.c, forge_gitlab.c, forge_gitea.c); not for the
 * rest of previewd.
 */
#ifndef PV_FORGE_INT_H
#define PV_FORGE_INT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdint.h>

#include "config.h"
#include "store_forge.h"

/* One forge's API for the pass: the handle is the thread's. */
struct pv_forge_api {
	const char *forge;       /* github | gitlab | gitea */
	const char *base;        /* e.g. https://api.github.com, https://gitlab.example.com/api/v4 */
	char auth[600];          /* the one header carrying the token */
	CURL *curl;
	struct pv_store *store;
	const struct pv_config *cfg;
	int64_t hold_until;      /* set by a rate-limited answer: wall-clock seconds */
};

/* The report the pull request should show (forge.h). */
struct pv_forge_report {
	const char *status;      /* pending | active | ready | failed | deleted */
	char url[320];
	char health[24];
	int64_t expires_at;
	char sha[72];
	int64_t reply_gen;
	const char *reason;      /* failed: why; else "" */
};

/* Fill api for forge from cfg: its base URL (into base) and its token's
 * header.  1 when the forge has a token and a URL, 0 when it has not (api
 * stays off), or a pv_error code.  The handle and store are the caller's. */
int pv_forge__api_setup(struct pv_forge_api *api, const struct pv_config *cfg, const char *forge, char *base,
	size_t base_len) PV_WARN_UNUSED;

/*
 * method base+path with body (NULL for none) as JSON; 0 on a 2xx with the
 * answer parsed into *answer when answer is not NULL (NULL when it is not
 * JSON), else PV_EUNAVAIL ("METHOD PATH: the forge answered N: message")
 * with *status_out the HTTP status (0 without an answer).  A rate-limited
 * answer also sets api->hold_until.
 */
int pv_forge__call(struct pv_forge_api *api, const char *method, const char *path, json_t *body, json_t **answer,
	long *status_out) PV_WARN_UNUSED;

/*
 * A forge's answer is outside input.  What its headers say about a rate
 * limit, read one header line at a time (curl's header callback), and what
 * it comes to; pure, for the unit tests and fuzz_forge.
 */
struct pv_forge_limits {
	long long retry_after;   /* Retry-After seconds; -1: none */
	long long reset;         /* X-RateLimit-Reset / RateLimit-Reset; -1: none */
	int remaining_zero;      /* X-RateLimit-Remaining / RateLimit-Remaining: 0 */
};
#define PV_FORGE_LIMITS_INIT { -1, -1, 0 }
#define PV_FORGE_HOLD_MAX_S 3600 /* the longest hold any answer can ask for */

/* One header line of n bytes (its CRLF included or not) into l. */
void pv_forge__header(struct pv_forge_limits *l, const char *line, size_t n);

/* When a refused answer (status, l, the NUL-terminated body or NULL) is a
 * rate limit, the wall-clock second the hold ends, in (now, now +
 * PV_FORGE_HOLD_MAX_S]; 0 when it is none. */
int64_t pv_forge__hold(long status, const struct pv_forge_limits *l, const char *body, int64_t now);

/* The "message" of an error body, printable ASCII, into out ("" when none). */
void pv_forge__message(char *out, size_t len, const char *body, size_t blen);

/* The "id" member of a forge's answer as text into out: a positive integer
 * or a string of digits, as the three forges make them; "" for anything
 * else (the id goes into the next request's path). */
void pv_forge__id(const json_t *answer, char *out, size_t len);

/* The sticky comment's Markdown (malloc'd). */
char *pv_forge__comment(const struct pv_config *cfg, const struct pv_pr *pr, const struct pv_forge_report *r);

/*
 * The sticky comment: created with POST create_path when pr has none (its
 * id recorded at once), else edited with edit_method on edit_path (built
 * from pr->comment_id by the caller); a comment someone deleted (404) is
 * made again.
 */
int pv_forge__sticky(struct pv_forge_api *api, struct pv_pr *pr, const char *create_path, const char *edit_path,
	const char *edit_method, const char *text) PV_WARN_UNUSED;

/* Whether the status or the commit differ from the report was (NULL:
 * nothing reported yet). */
int pv_forge__moved(const json_t *was, const struct pv_forge_report *want);

/* 1 when repo is "owner/name" in the characters GitHub and Gitea allow. */
int pv_forge__repo_ok(const char *repo);

/* Send want to each forge; 0 when it took all of it. */
int pv_forge_github_report(struct pv_forge_api *api, struct pv_pr *pr, const struct pv_forge_report *want,
	const json_t *was) PV_WARN_UNUSED;
int pv_forge_gitlab_report(struct pv_forge_api *api, struct pv_pr *pr, const struct pv_forge_report *want,
	const json_t *was) PV_WARN_UNUSED;
int pv_forge_gitea_report(struct pv_forge_api *api, struct pv_pr *pr, const struct pv_forge_report *want,
	const json_t *was) PV_WARN_UNUSED;

#endif

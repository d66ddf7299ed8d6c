/*
 * gitops.c - the Git writer thread and its rounds (see the DESIGN comment in
 * gitops.h).
 *
 * Layout: state and status; one round (plan, commit, push, record); the
 * thread loop; life cycle and the calls other threads make.
 */
#include "gitops.h"

#include <git2.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "check.h"
#include "drift.h"
#include "gitrepo.h"
#include "log.h"
#include "planner.h"
#include "pusher.h"
#include "snapshot.h"
#include "store.h"
#include "values.h"
#include "worker.h"

#define ROUND_LIMIT 500             /* rows per commit (bounds a round's memory); the rest go in the next round */
#define REJECT_FAST_RETRIES 5       /* rebuild-and-push at once this many times before backing off */
#define MEMPACK_MAX_BYTES (2 << 20) /* new objects held in memory before they are written as a pack */
#define MEMPACK_MAX_ROUNDS 32       /* ... or after this many rounds */
#define MEMPACK_IDLE_MS 2000        /* ... or once the writer has been idle this long */
#define IDLE_POLL_MS 60000          /* an idle writer looks at the queue this often anyway */
#define ROUND_LINGER_MS 4           /* pause between back-to-back rounds, to batch more */
#define DRIFT_VALUES_MAX_DEPTH 32   /* what the API accepts (env.c) */
#define RECORD_BACKOFF_MAX_MS 5000  /* cap of the backoff while the database refuses the record (a full disk) */
#define STATE_LOG_EVERY_MS 30000    /* a failure that lasts as long as a state (a full disk) is logged this often */

/* ---- state -------------------------------------------------------------- */

struct pv_gitops {
	const struct pv_config *cfg;
	char *db_path;
	struct pv_gitops_hooks hooks;
	struct pv_worker worker;

	/* writer thread only */
	struct pv_gitrepo *repo;
	struct pv_pusher *pusher;
	struct pv_store *store;
	char instance[PV_INSTANCE_LEN]; /* written into every previewd.json */
	int need_fetch;
	int64_t last_fetch_ms;   /* monotonic time of the last fetch attempt, for PREVIEWD_GIT_POLL */
	enum pv_drift_mode on_drift;
	git_oid checked;         /* the tip the last drift comparison was made at, or at start the last run's ... */
	int checked_valid;       /* ... which is why the first fetch always compares */
	unsigned int failures;   /* consecutive failed rounds, for the backoff */
	unsigned int rejections; /* consecutive rejected pushes */
	unsigned int unrecorded; /* consecutive rounds whose push landed but whose record failed */
	unsigned int rand_state;
	int tree_checked;        /* the env folder and the base were looked for after the first fetch */

	/* shared with other threads */
	atomic_int fetch_asked;  /* pv_gitops_fetch_soon: fetch at the next turn (a flag: requests coalesce) */
	pthread_mutex_t lock;    /* guards status, inflight, push_failing */
	struct pv_gitops_status status;
	const char *inflight;    /* "fetch", "push" or NULL: what the writer waits for now ... */
	int64_t inflight_since;  /* ... since this monotonic time (ms) */
	int push_failing;        /* the last push failed: a fetch that works does not make Git ok */
	struct pv_snapshot snap; /* its own lock */
};

/* What a round came to, for the thread loop.  ROUND_UNRECORDED: Git has the
 * round but SQLite refused its record (a full disk): the next round finds
 * the tree unchanged and records it, after a backoff. */
enum round { ROUND_IDLE, ROUND_DONE, ROUND_MORE, ROUND_REJECTED, ROUND_FAILED, ROUND_UNRECORDED };

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* A fetch that works after a push that failed (a hook that declines, a
 * deadline) leaves the push's reason standing: the writes still do not
 * land.  Only a push that lands, or nothing left to push, clears it. */
static void status_ok(struct pv_gitops *g, int pushed)
{
	pthread_mutex_lock(&g->lock);
	if (pushed)
		g->push_failing = 0;
	if (!g->push_failing) {
		g->status.reachable = 1;
		g->status.last_error[0] = '\0';
	}
	git_oid_tostr(g->status.tip, sizeof(g->status.tip), &g->repo->tip);
	if (pushed) {
		g->status.pushes++;
		g->status.last_push_at = (int64_t)time(NULL);
	}
	pthread_mutex_unlock(&g->lock);
}

static void status_fail(struct pv_gitops *g, const char *msg, int rejected)
{
	pthread_mutex_lock(&g->lock);
	g->push_failing = 0;
	g->status.reachable = rejected; /* a rejection proves the server answers */
	snprintf(g->status.last_error, sizeof(g->status.last_error), "%s", msg);
	if (rejected)
		g->status.rejections++;
	else
		g->status.push_failures++;
	pthread_mutex_unlock(&g->lock);
}

/* What the writer is waiting for, for /readyz (pv_gitops_status). */
static void status_inflight(struct pv_gitops *g, const char *what)
{
	pthread_mutex_lock(&g->lock);
	g->inflight = what;
	g->inflight_since = pv_monotonic_ms();
	pthread_mutex_unlock(&g->lock);
}

static void observe_push(struct pv_gitops *g, double seconds)
{
	size_t b = 0;

	while (b < PV_GITOPS_PUSH_BOUNDS && seconds > pv_gitops_push_bounds[b])
		b++;
	pthread_mutex_lock(&g->lock);
	g->status.push_buckets[b]++;
	g->status.push_seconds_sum += seconds;
	g->status.push_count++;
	pthread_mutex_unlock(&g->lock);
}

/* Describe the env folder at the tip for the other threads. */
static int publish_snapshot(struct pv_gitops *g)
{
	git_commit *c = NULL;
	git_tree *root = NULL, *env = NULL;
	int error;

	if ((error = pv_gitrepo_tip_trees(g->repo, &c, &root, &env)) == 0 &&
	    (error = pv_snapshot_rebuild(&g->snap, g->repo->repo, root, g->cfg->env_dir)) == 0) {
		pthread_mutex_lock(&g->lock);
		g->status.have_tip = 1;
		pthread_mutex_unlock(&g->lock);
	}
	git_tree_free(env);
	git_tree_free(root);
	git_commit_free(c);
	return error;
}

/* ---- drift (drift.h) ---------------------------------------------------- */

/* One active row and how its folder on the tip compares. */
struct drift_row {
	struct pv_env_pushed p;
	struct pv_drift_folder f;
	enum pv_drift_change change;
};

/* The rows to act on: those that differ, and all after a rewrite. */
struct drift_scan {
	git_repository *repo;
	const git_tree *env;
	int rewritten;
	struct drift_row *v;
	size_t n, cap;
};

static int scan_row(const struct pv_env_pushed *row, void *payload)
{
	struct drift_scan *d = payload;
	struct drift_row r;
	int error;

	r.p = *row;
	if ((error = pv_drift_folder_read(&r.f, d->repo, d->env, row->name)) < 0)
		return error;
	r.change = pv_drift_compare(&r.f, row->values_oid, row->meta_oid);
	if (r.change == PV_DRIFT_NONE && !d->rewritten)
		return 0;
	if ((error = pv_array_reserve(&d->v, &d->cap, d->n + 1, sizeof(*d->v))) < 0)
		return error;
	d->v[d->n++] = r;
	return 0;
}

/* The values.yaml of r's folder at the tip as the record's values_json
 * (malloc'd), as the API would take them; NULL with why set when they
 * cannot be. */
static char *adoptable_values(struct pv_gitops *g, const struct drift_row *r, char *why, size_t why_len)
{
	git_blob *blob = NULL;
	json_t *parsed = NULL, *normalized = NULL;
	char *yaml = NULL, *out = NULL;
	size_t yaml_len;

	if (git_blob_lookup(&blob, g->repo->repo, &r->f.values) < 0) {
		(void)pv_git_fail("reading values.yaml");
		goto out;
	}
	if (pv_values_from_yaml(&parsed, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob)) < 0 ||
	    pv_values_check(parsed, DRIFT_VALUES_MAX_DEPTH) < 0 ||
	    pv_values_render(&yaml, &yaml_len, &normalized, parsed, (size_t)g->cfg->max_values_bytes) < 0)
		goto out;
	if (!(out = json_dumps(normalized, JSON_COMPACT | JSON_PRESERVE_ORDER)))
		(void)pv_error_set(PV_ERROR, NULL, "out of memory");
out:
	if (!out)
		snprintf(why, why_len, "%s", pv_error_last()->message);
	free(yaml);
	json_decref(normalized);
	json_decref(parsed);
	git_blob_free(blob);
	return out;
}

/* Whether r's folder holds exactly what the next round would write for env
 * (a row still dirty because previewd stopped between a push and its
 * record): then nothing changed outside previewd. */
static int holds_desired(const struct pv_gitops *g, const struct drift_row *r, const struct pv_env *env)
{
	char want[2][GIT_OID_HEXSZ + 1], got[2][GIT_OID_HEXSZ + 1];
	json_t *values = json_loads(pv_env_git_values(env), 0, NULL);
	char *yaml = NULL, *meta = NULL;
	size_t len = 0;
	int same = 0;

	if (r->f.has_values && r->f.has_meta && values && pv_values_to_yaml(&yaml, &len, values) == 0 &&
	    (meta = pv_plan_meta(env, g->instance)) && pv_drift_blob_id(want[0], yaml, len) == 0 &&
	    pv_drift_blob_id(want[1], meta, strlen(meta)) == 0) {
		git_oid_tostr(got[0], sizeof(got[0]), &r->f.values);
		git_oid_tostr(got[1], sizeof(got[1]), &r->f.meta);
		same = strcmp(want[0], got[0]) == 0 && strcmp(want[1], got[1]) == 0;
	}
	free(meta);
	free(yaml);
	json_decref(values);
	return same;
}

/* Act on one drifted row inside the transaction: the event, and the change
 * to the record.  *counted: it was drift (not a baseline). */
static int drift_act(struct pv_gitops *g, const struct drift_row *r, const char *tip, const char *before,
	int rewritten, int64_t now, int *counted)
{
	enum pv_drift_action a = pv_drift_decide(r->change, g->on_drift, r->p.gen > r->p.pushed_gen);
	char values_hex[GIT_OID_HEXSZ + 1], meta_hex[GIT_OID_HEXSZ + 1], why[256] = "";
	struct pv_env env;
	char *values_json = NULL, *detail = NULL;
	const char *done = "restored";
	json_t *d = NULL;
	int changed = 0, error = 0;

	*counted = 0;
	if (a == PV_DRIFT_KEEP)
		/* after a rewrite the tip holds the row's state, but its commit may
		 * be off the branch */
		return rewritten && strcmp(r->p.git_commit, tip) != 0 ? pv_store_set_commit(g->store, r->p.id, tip) : 0;
	if (a == PV_DRIFT_TAKE_BASELINE) {
		git_oid_tostr(values_hex, sizeof(values_hex), &r->f.values);
		git_oid_tostr(meta_hex, sizeof(meta_hex), &r->f.meta);
		if ((error = pv_store_set_blobs(g->store, r->p.id, values_hex, meta_hex)) == 0 && rewritten)
			error = pv_store_set_commit(g->store, r->p.id, tip);
		return error;
	}
	if ((error = pv_store_env_get_id(g->store, &env, r->p.id)) < 0)
		return error;
	if (env.gen > env.pushed_gen && holds_desired(g, r, &env)) {
		error = rewritten ? pv_store_set_commit(g->store, r->p.id, tip) : 0;
		goto out;
	}
	if (a == PV_DRIFT_DO_ADOPT && !(values_json = adoptable_values(g, r, why, sizeof(why))))
		a = PV_DRIFT_DO_RESTORE;  /* what cannot be adopted is put back */
	if (a == PV_DRIFT_DO_DELETE) {
		if ((error = pv_store_drift_deleted(g->store, r->p.id, tip, now, &changed)) < 0)
			goto out;
		if (changed) {
			done = "accepted";
			snprintf(env.status, sizeof(env.status), "%s", PV_STATUS_DELETED);
		}
	} else if (a == PV_DRIFT_DO_ADOPT) {
		git_oid_tostr(values_hex, sizeof(values_hex), &r->f.values);
		if ((error = pv_store_drift_adopt(g->store, r->p.id, values_json, tip, values_hex, now, &changed)) < 0)
			goto out;
		if (changed)
			done = "accepted";
	}
	/* a row that became dirty since the scan is written back all the same */
	if (!changed && (error = pv_store_drift_restore(g->store, r->p.id, &changed)) < 0)
		goto out;
	d = json_pack("{s:s, s:s, s:s, s:s, s:b}", "change", pv_drift_change_name(r->change), "action", done,
		"commit", tip, "previous", before, "rewritten", rewritten);
	if (d && why[0])
		json_object_set_new(d, "error", json_string(why));
	if (!d || !(detail = json_dumps(d, JSON_COMPACT))) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto out;
	}
	if ((error = pv_store_event_add(g->store, &env, "drift", "previewd", NULL, now, detail)) < 0)
		goto out;
	log_warn("gitops: drift: %s/%s %s outside previewd at %.12s%s; %s", g->cfg->env_dir, r->p.name,
		r->change == PV_DRIFT_VALUES ? "edited" : pv_drift_change_name(r->change), tip,
		rewritten ? " (history rewritten)" : "", done);
	*counted = 1;
out:
	json_decref(d);
	free(detail);
	free(values_json);
	pv_env_dispose(&env);
	return error;
}

/* Compare every active environment's folder on the tip with what previewd
 * pushed (drift.h), and act on what differs.  g->checked is the tip of the
 * last comparison (at start, the last run's tip): the new tip not
 * descending from it is a history rewrite. */
static int check_drift(struct pv_gitops *g)
{
	struct drift_scan d = { 0 };
	git_commit *c = NULL;
	git_tree *root = NULL, *env = NULL;
	char tip[GIT_OID_HEXSZ + 1], before[GIT_OID_HEXSZ + 1] = "";
	int64_t now = (int64_t)time(NULL);
	unsigned int drifts = 0;
	int rewritten = 0, counted, error;
	size_t i;

	if (!git_oid_is_zero(&g->checked)) {
		pv_drift_rewritten(g->repo->repo, &g->checked, &g->repo->tip, &rewritten);
		git_oid_tostr(before, sizeof(before), &g->checked);
	}
	git_oid_tostr(tip, sizeof(tip), &g->repo->tip);
	if (rewritten)
		log_warn("gitops: the branch was rewritten: %.12s does not descend from %.12s", tip, before);
	if ((error = pv_gitrepo_tip_trees(g->repo, &c, &root, &env)) < 0)
		goto out;
	d = (struct drift_scan){ g->repo->repo, env, rewritten, NULL, 0, 0 };
	if ((error = pv_store_drift_rows(g->store, scan_row, &d)) < 0)
		goto out;
	if (d.n == 0)  /* the usual case: nothing to write */
		goto done;
	if ((error = pv_store_begin(g->store)) < 0)
		goto out;
	for (i = 0; i < d.n; i++) {
		if ((error = drift_act(g, &d.v[i], tip, before, rewritten, now, &counted)) < 0) {
			pv_store_rollback(g->store);
			goto out;
		}
		drifts += (unsigned int)counted;
	}
	if ((error = pv_store_commit(g->store)) < 0)
		goto out;
done:
	g->checked = g->repo->tip;
	g->checked_valid = 1;
	pthread_mutex_lock(&g->lock);
	g->status.drifts += drifts;
	pthread_mutex_unlock(&g->lock);
out:
	free(d.v);
	git_tree_free(env);
	git_tree_free(root);
	git_commit_free(c);
	return error;
}

/* Say once, after the first fetch, what the configuration names that the
 * branch does not hold. */
static void warn_missing(struct pv_gitops *g)
{
	struct pv_check_tree t;
	git_commit *c = NULL;
	git_tree *root = NULL, *env = NULL;

	if (git_oid_is_zero(&g->repo->tip)) {
		log_warn("gitops: the branch %s does not exist on the Git server yet; previewd's first push creates it",
			g->cfg->git_branch);
		return;
	}
	if (pv_gitrepo_tip_trees(g->repo, &c, &root, &env) == 0 && pv_check_tree(&t, g->repo->repo, root, g->cfg) == 0) {
		if (!t.env_dir)
			log_warn("gitops: PREVIEWD_ENV_DIR %s/ does not exist on the branch %s", g->cfg->env_dir,
				g->cfg->git_branch);
		else if (!t.base)
			log_warn("gitops: PREVIEWD_BASE_ENV %s: %s", g->cfg->base_env, t.base_why);
	}
	git_tree_free(env);
	git_tree_free(root);
	git_commit_free(c);
}

static int fetch(struct pv_gitops *g)
{
	git_oid old = g->repo->tip;
	int error;

	g->last_fetch_ms = pv_monotonic_ms();
	status_inflight(g, "fetch");
	error = pv_pusher_fetch(g->pusher, g->repo);
	status_inflight(g, NULL);
	if (error < 0)
		return error;
	g->need_fetch = 0;
	if (!g->tree_checked) {
		/* a typo in PREVIEWD_ENV_DIR or PREVIEWD_BASE_ENV shows here, not
		 * at the first create */
		g->tree_checked = 1;
		warn_missing(g);
	}
	if ((!git_oid_equal(&old, &g->repo->tip) || !g->snap.valid) && (error = publish_snapshot(g)) < 0)
		return error;
	if (!g->checked_valid || !git_oid_equal(&g->checked, &g->repo->tip))
		/* the round goes on: what it pushes was wanted either way, and the
		 * next fetch compares again */
		if (check_drift(g) < 0)
			log_warn("gitops: comparing the tip with the records failed: %s", pv_error_last()->message);
	return 0;
}

/* ---- one round ---------------------------------------------------------- */

/* The planner's view of the tip: the env folder's tree. */
struct tip_view {
	git_repository *repo;
	const git_tree *env;  /* NULL: no env folder */
	const char *env_dir;
};

static int lookup_folder(const char *name, struct pv_plan_folder *out, void *payload)
{
	const struct tip_view *v = payload;
	const git_tree_entry *e;
	git_tree *folder = NULL;
	size_t len;
	int error;

	if (!v->env || !(e = git_tree_entry_byname(v->env, name)))
		return 0;
	out->exists = 1;
	if (git_tree_entry_type(e) != GIT_OBJECT_TREE)
		return 0;
	if (git_tree_lookup(&folder, v->repo, git_tree_entry_id(e)) < 0) {
		char what[600];
		snprintf(what, sizeof(what), "reading %s/%s", v->env_dir, name);
		return pv_git_fail(what);
	}
	out->has_values = git_tree_entry_byname(folder, PV_PLAN_VALUES_FILE) != NULL;
	error = pv_git_read_blob(v->repo, folder, PV_PLAN_MANAGED_FILE, &out->marker, &len);
	out->others = git_tree_entrycount(folder) - (size_t)out->has_values -
		      (git_tree_entry_byname(folder, PV_PLAN_MANAGED_FILE) != NULL);
	git_tree_free(folder);
	return error;
}

/* A removal that left people's files behind: logged, and named in the
 * event's detail, where an owner looks for what became of the folder. */
static void leftover_detail(char *buf, size_t len, const struct pv_env *r, const struct pv_plan_row *p,
	const char *commit)
{
	json_t *d = json_pack("{s:s, s:I, s:s}", "commit", commit, "gen", (json_int_t)r->gen, "leftover", p->why);
	char *s = d ? json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	log_warn("gitops: %s: %s", r->name, p->why);
	if (s)
		snprintf(buf, len, "%s", s);
	free(s);
	json_decref(d);
}

/* The update of plan that writes path, looked for from *cursor on (the
 * planner appends them in the order of the rows); NULL when none does. */
static const struct pv_plan_update *find_write(const struct pv_plan *plan, size_t *cursor, const char *path)
{
	for (size_t k = 0; k < plan->n_updates; k++) {
		size_t i = (*cursor + k) % plan->n_updates;
		const struct pv_plan_update *u = &plan->updates[i];

		if (!u->remove && strcmp(u->path, path) == 0) {
			*cursor = i + 1;
			return u;
		}
	}
	return NULL;
}

/* Record the blob ids a write of env put in Git, for the drift comparison. */
static int record_blobs(struct pv_gitops *g, const struct pv_plan *plan, size_t *cursor, const struct pv_env *env)
{
	static const char *const files[2] = { PV_PLAN_VALUES_FILE, PV_PLAN_MANAGED_FILE };
	char hex[2][GIT_OID_HEXSZ + 1], path[600];
	const struct pv_plan_update *u;
	int error;

	for (size_t f = 0; f < 2; f++) {
		snprintf(path, sizeof(path), "%s/%s/%s", g->cfg->env_dir, env->name, files[f]);
		if (!(u = find_write(plan, cursor, path)))
			return 0;  /* nothing to compare with: the next comparison takes a baseline */
		if ((error = pv_drift_blob_id(hex[f], u->data, u->len)) < 0)
			return error;
	}
	return pv_store_set_blobs(g->store, env->id, hex[0], hex[1]);
}

/* The history row of a push that landed after one that failed with why. */
static int git_recovered(struct pv_gitops *g, const struct pv_env *r, const char *why, const char *commit, int64_t now)
{
	json_t *detail = json_pack("{s:s, s:s}", "error", why, "commit", commit);
	char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	int error = d ? pv_store_event_add(g->store, r, "git_recovered", "previewd", NULL, now, d)
		      : pv_error_set(PV_ERROR, NULL, "out of memory");

	free(d);
	json_decref(detail);
	return error;
}

/* Record the round in SQLite and tell the HTTP side. */
static int record_round(struct pv_gitops *g, const struct pv_env_list *rows, const struct pv_plan *plan, const char *commit)
{
	struct pv_gitops_landed *landed = NULL;
	int64_t now = (int64_t)time(NULL);
	size_t cursor = 0;
	char detail[512];
	int error;

	if ((error = pv_store_begin(g->store)) < 0)
		return error;
	for (size_t i = 0; i < rows->n; i++) {
		const struct pv_plan_row *p = &plan->rows[i];
		/* events describe the environment as it is after this round */
		struct pv_env after = rows->v[i];
		const struct pv_env *r = &after;

		if (p->action == PV_PLAN_FAIL)
			snprintf(after.status, sizeof(after.status), "%s", PV_STATUS_FAILED);
		else if (strcmp(after.status, PV_STATUS_PENDING) == 0)
			snprintf(after.status, sizeof(after.status), "%s", PV_STATUS_ACTIVE);
		if (p->action == PV_PLAN_FAIL) {
			json_t *why = json_pack("{s:s}", "error", p->why);
			char *why_s = why ? json_dumps(why, JSON_COMPACT) : NULL;

			log_warn("gitops: %s failed: %s", r->name, p->why);
			error = pv_store_mark_failed(g->store, r->id, r->gen, p->why, now);
			if (error == 0)
				error = pv_store_event_add(g->store, r, "failed", "previewd", NULL, now, why_s);
			free(why_s);
			json_decref(why);
		} else {
			snprintf(detail, sizeof(detail), "{\"commit\":\"%s\",\"gen\":%lld}", commit, (long long)r->gen);
			if (p->leftover)
				leftover_detail(detail, sizeof(detail), r, p, commit);
			error = pv_store_mark_pushed(g->store, r->id, r->gen, commit, now);
			if (error == 0 && p->action == PV_PLAN_WRITE)
				error = record_blobs(g, plan, &cursor, r);
			/* the end of a "git_error", before the push's own row: the
			 * stream and the page show it ended, and why this landed now */
			if (error == 0 && rows->v[i].git_error)
				error = git_recovered(g, r, rows->v[i].git_error, commit, now);
			if (error == 0) {
				/* with Argo CD's status at hand, "ready" waits for Healthy */
				const char *kind = strcmp(rows->v[i].status, PV_STATUS_DELETING) == 0 ? "deleted"
						 : strcmp(rows->v[i].status, PV_STATUS_PENDING) == 0 && !g->cfg->argocd_url[0]
						 ? "ready" : "pushed";
				/* nothing changes a deleting row, so its pushed removal is final */
				if (strcmp(kind, "deleted") == 0)
					snprintf(after.status, sizeof(after.status), "%s", PV_STATUS_DELETED);
				error = pv_store_event_add(g->store, r, kind, "previewd", NULL, now, detail);
			}
		}
		if (error < 0) {
			pv_store_rollback(g->store);
			return error;
		}
	}
	if ((error = pv_store_commit(g->store)) < 0)
		return error;
	if (g->hooks.landed && (landed = calloc(rows->n, sizeof(*landed))) != NULL) {
		for (size_t i = 0; i < rows->n; i++) {
			landed[i].id = rows->v[i].id;
			landed[i].gen = rows->v[i].gen;
		}
		g->hooks.landed(landed, rows->n, g->hooks.ctx);
		free(landed);
	}
	return 0;
}

/* Hand the paths a push changed to the hook (Argo CD's webhook). */
static void tell_pushed(struct pv_gitops *g, git_commit *parent, const char *after, const struct pv_env_list *rows,
	const struct pv_plan *plan)
{
	json_t *changes = pv_plan_changes(plan, g->cfg->env_dir, rows->v);
	char before[GIT_OID_HEXSZ + 1] = "";

	if (!changes)
		return;
	if (parent)
		git_oid_tostr(before, sizeof(before), git_commit_id(parent));
	g->hooks.pushed(before, after, changes, g->hooks.ctx);
	json_decref(changes);
}

static enum round run_round(struct pv_gitops *g)
{
	struct pv_env_list rows = PV_ENV_LIST_INIT;
	struct pv_plan plan = PV_PLAN_INIT;
	struct pv_oidlist news = { 0 };
	git_commit *tip_commit = NULL;
	git_tree *tip_tree = NULL, *env_tree = NULL;
	struct tip_view view;
	git_oid commit_oid;
	char commit_hex[GIT_OID_HEXSZ + 1], msg[sizeof(pv_error_last()->message)];
	enum round result = ROUND_FAILED;
	enum pv_push_result pushed;
	double t_start = now_ms(), t_built, t_pushed;
	int unchanged, advance, push_failed = 0;

	if (pv_gitrepo_ensure_open(g->repo) < 0) /* a flush or repack could not reopen it */
		goto fail;
	if (g->need_fetch) {
		if (fetch(g) < 0)
			goto fail;
		status_ok(g, 0);
	}
	if (pv_store_dirty(g->store, ROUND_LIMIT, pv_env_list_add, &rows) < 0)
		goto fail;
	if (rows.n == 0) {
		/* nothing waits any more: a push that failed holds nothing back */
		pthread_mutex_lock(&g->lock);
		if (g->push_failing) {
			g->push_failing = 0;
			g->status.reachable = 1;
			g->status.last_error[0] = '\0';
		}
		pthread_mutex_unlock(&g->lock);
		result = ROUND_IDLE;
		goto out;
	}

	/* plan */
	if (pv_gitrepo_tip_trees(g->repo, &tip_commit, &tip_tree, &env_tree) < 0) {
		g->need_fetch = 1;
		goto fail;
	}
	view = (struct tip_view){ g->repo->repo, env_tree, g->cfg->env_dir };
	if (pv_plan_build(&plan, g->cfg->env_dir, g->instance, rows.v, rows.n, lookup_folder, &view) < 0)
		goto fail;

	/* commit */
	if (pv_gitrepo_commit(g->repo, tip_commit, tip_tree, env_tree, &plan, &commit_oid, &news, &unchanged) < 0)
		goto fail;
	if (unchanged) {
		/* Git already holds this state: nothing to push, only to record */
		git_oid_tostr(commit_hex, sizeof(commit_hex), &g->repo->tip);
		goto record;
	}

	/* push */
	t_built = now_ms();
	status_inflight(g, "push");
	pushed = pv_pusher_push(g->pusher, g->repo, &g->repo->tip, &commit_oid, &news);
	status_inflight(g, NULL);
	t_pushed = now_ms();
	observe_push(g, (t_pushed - t_built) / 1000);
	if (pushed == PV_PUSH_REJECTED) {
		log_info("gitops: push rejected (%s); fetching and rebuilding", pv_error_last()->message);
		status_fail(g, pv_error_last()->message, 1);
		g->need_fetch = 1;
		result = ROUND_REJECTED;
		goto out;
	}
	if (pushed == PV_PUSH_FAILED) {
		push_failed = 1;
		goto fail;
	}
	/* previewd's own commit on a compared tip needs no comparison */
	advance = g->checked_valid && git_oid_equal(&g->checked, &g->repo->tip);
	pv_gitrepo_pushed(g->repo, &commit_oid, &news);
	if (advance)
		g->checked = commit_oid;
	git_oid_tostr(commit_hex, sizeof(commit_hex), &commit_oid);
	if (g->hooks.pushed)
		tell_pushed(g, tip_commit, commit_hex, &rows, &plan);
	pthread_mutex_lock(&g->lock);
	g->status.commits++;
	pthread_mutex_unlock(&g->lock);
	log_info("gitops: pushed %.12s with %zu change(s)", commit_hex, rows.n);
	log_debug("gitops: round: build %.1f ms, push %.1f ms", t_built - t_start, t_pushed - t_built);

record:
	pv_snapshot_apply(&g->snap, &plan, rows.v);
	status_ok(g, 1);
	if (record_round(g, &rows, &plan, commit_hex) < 0) {
		/* Git has it; the rows stay dirty and a later round finds the tree
		 * unchanged and records it then.  Going round at once would only
		 * fail again as long as the database refuses writes. */
		log_error_every(STATE_LOG_EVERY_MS, "gitops: recording the push failed: %s; retrying with backoff",
			pv_error_last()->message);
		result = ROUND_UNRECORDED;
		goto out;
	}
	result = rows.n == ROUND_LIMIT ? ROUND_MORE : ROUND_DONE;
	goto out;

fail:
	/* the slot is read by what follows, which may set errors of its own */
	snprintf(msg, sizeof(msg), "%s", pv_error_last()->message);
	log_warn("gitops: %s", msg);
	status_fail(g, msg, 0);
	if (push_failed) {
		pthread_mutex_lock(&g->lock);
		g->push_failing = 1;
		pthread_mutex_unlock(&g->lock);
	}
	g->need_fetch = 1;
	if (pv_store_set_dirty_error(g->store, msg, (int64_t)time(NULL), ROUND_LIMIT) < 0)
		log_warn_every(STATE_LOG_EVERY_MS, "gitops: %s", pv_error_last()->message);
out:
	pv_oidlist_dispose(&news);
	pv_plan_dispose(&plan);
	git_tree_free(env_tree);
	git_tree_free(tip_tree);
	git_commit_free(tip_commit);
	pv_env_list_dispose(&rows);
	return result;
}

/* ---- the thread --------------------------------------------------------- */

static long long backoff_ms(struct pv_gitops *g, unsigned int failures, long long cap)
{
	long long d = 100;

	for (unsigned int i = 1; i < failures && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	/* full jitter on the upper half: many previewd instances must not retry in step */
	return d / 2 + (long long)(rand_r(&g->rand_state) % (unsigned int)(d / 2 + 1));
}

/* New objects to disk as a pack now and then (and when idle), and all packs
 * into one by commits or by the number of packs. */
static void keep_clone_bounded(struct pv_gitops *g, enum round r, int64_t idle_ms)
{
	struct pv_gitrepo *repo = g->repo;

	if (((r == ROUND_IDLE && idle_ms >= MEMPACK_IDLE_MS) || repo->mem_bytes >= MEMPACK_MAX_BYTES ||
		    repo->mem_rounds >= MEMPACK_MAX_ROUNDS) &&
	    pv_gitrepo_flush(repo) < 0)
		/* an idle writer tries every MEMPACK_IDLE_MS: a full disk fails each */
		log_warn_every(STATE_LOG_EVERY_MS, "gitops: %s", pv_error_last()->message);
	if ((r == ROUND_DONE || r == ROUND_IDLE) && pv_gitrepo_repack_due(repo) && pv_gitrepo_repack(repo) < 0)
		log_warn("gitops: %s", pv_error_last()->message);
}

/* Whether PREVIEWD_GIT_POLL has passed since the last fetch. */
static int poll_due(const struct pv_gitops *g)
{
	return g->cfg->git_poll > 0 && pv_monotonic_ms() - g->last_fetch_ms >= g->cfg->git_poll * 1000;
}

static long long idle_wait_ms(const struct pv_gitops *g)
{
	long long ms = g->repo->mem_rounds ? MEMPACK_IDLE_MS : IDLE_POLL_MS, until_poll;

	if (g->cfg->git_poll > 0) {
		until_poll = g->cfg->git_poll * 1000 - (pv_monotonic_ms() - g->last_fetch_ms);
		if (until_poll < ms)
			ms = until_poll < 1 ? 1 : until_poll;
	}
	return ms;
}

static void writer_run(struct pv_worker *w, void *arg)
{
	struct pv_gitops *g = arg;
	long long wait_ms = 0;  /* > 0: a pause that kicks do not shorten */
	int again = 1;          /* the first round fetches and pushes whatever a previous run left */
	int64_t last_work = 0;

	for (;;) {
		enum pv_worker_wake why;
		enum round r;

		if (wait_ms > 0)
			why = pv_worker_sleep(w, wait_ms);
		else if (!again)
			/* idle: look at the queue now and then, soon when new objects
			 * wait in memory, and fetch every PREVIEWD_GIT_POLL */
			why = pv_worker_wait(w, idle_wait_ms(g));
		else
			why = pv_worker_stopping(w) ? PV_WORKER_STOP : PV_WORKER_KICKED;
		if (why == PV_WORKER_STOP) {
			if (pv_gitrepo_flush(g->repo) < 0)
				log_warn("gitops: %s", pv_error_last()->message);
			break;
		}

		if (poll_due(g) || atomic_exchange(&g->fetch_asked, 0))
			g->need_fetch = 1;
		r = run_round(g);
		if (r != ROUND_IDLE)
			last_work = pv_monotonic_ms();
		keep_clone_bounded(g, r, pv_monotonic_ms() - last_work);
		again = 1;
		switch (r) {
		case ROUND_IDLE:
			g->failures = g->rejections = g->unrecorded = 0;
			wait_ms = 0;
			again = 0;
			break;
		case ROUND_DONE:
		case ROUND_MORE:
			g->failures = g->rejections = g->unrecorded = 0;
			/* the clients answered by this round send their next requests
			 * within a millisecond or two: lingering briefly lets them join
			 * the next commit instead of trailing it in one more round.  A
			 * writer that was idle starts at once (sequential latency).
			 * Whatever arrived during the push goes out in the next commit. */
			wait_ms = r == ROUND_MORE ? 0 : ROUND_LINGER_MS;
			break;
		case ROUND_REJECTED:
			/* another writer won the race: fetch and rebuild at once, but a
			 * server that keeps refusing gets the backoff too */
			g->rejections++;
			wait_ms = g->rejections <= REJECT_FAST_RETRIES ? 0 : backoff_ms(g, g->rejections - REJECT_FAST_RETRIES, g->cfg->push_backoff_max_ms);
			break;
		case ROUND_FAILED:
			g->failures++;
			wait_ms = backoff_ms(g, g->failures, g->cfg->push_backoff_max_ms);
			break;
		case ROUND_UNRECORDED:
			/* Git is fine, the database is not: its own backoff, capped
			 * low, so that the record follows soon after space is freed */
			g->failures = g->rejections = 0;
			g->unrecorded++;
			wait_ms = backoff_ms(g, g->unrecorded, g->cfg->push_backoff_max_ms < RECORD_BACKOFF_MAX_MS
				? g->cfg->push_backoff_max_ms : RECORD_BACKOFF_MAX_MS);
			break;
		}
		if (wait_ms > 0)
			log_debug("gitops: next attempt in %lld ms", wait_ms);
	}
}

/* ---- life cycle --------------------------------------------------------- */

int pv_gitops_start(struct pv_gitops **out, const struct pv_config *cfg, const char *db_path,
	const struct pv_gitops_hooks *hooks)
{
	struct pv_gitops *g;
	int error;

	*out = NULL;
	if (!(g = calloc(1, sizeof(*g))))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	g->cfg = cfg;
	if (hooks)
		g->hooks = *hooks;
	g->rand_state = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	pthread_mutex_init(&g->lock, NULL);
	pv_snapshot_init(&g->snap);
	if ((error = pv_drift_mode_parse(&g->on_drift, cfg->on_drift)) < 0)
		goto fail;
	if (!(g->db_path = strdup(db_path))) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto fail;
	}
	if (cfg->git_url_is_default && (error = pv_gitrepo_seed_default(cfg)) < 0)
		goto fail;
	if ((error = pv_gitrepo_open(&g->repo, cfg)) < 0 || (error = pv_pusher_new(&g->pusher, cfg)) < 0)
		goto fail;
	/* what the last run saw serves requests until the first fetch */
	if (g->repo->tip_known && (error = publish_snapshot(g)) < 0)
		goto fail;
	g->need_fetch = 1;
	g->checked = g->repo->tip;  /* what the last run saw: a rewrite since is found by the first fetch */
	if ((error = pv_store_open_config(&g->store, cfg, g->db_path)) < 0 || (error = pv_store_relax(g->store)) < 0 ||
	    (error = pv_store_instance(g->store, g->instance)) < 0)
		goto fail;
	if ((error = pv_worker_start(&g->worker, "pv-gitops", writer_run, g)) < 0)
		goto fail;
	*out = g;
	return 0;
fail:
	pv_gitops_free(g);
	return error;
}

void pv_gitops_kick(struct pv_gitops *g)
{
	pv_worker_kick(&g->worker);
}

void pv_gitops_fetch_soon(struct pv_gitops *g)
{
	atomic_store(&g->fetch_asked, 1);
	pv_worker_kick(&g->worker);
}

void pv_gitops_free(struct pv_gitops *g)
{
	if (!g)
		return;
	pv_worker_stop(&g->worker);  /* finishes the round in flight, then flushes */
	pv_store_free(g->store);
	pv_pusher_free(g->pusher);
	pv_gitrepo_free(g->repo);
	pv_snapshot_dispose(&g->snap);
	pthread_mutex_destroy(&g->lock);
	free(g->db_path);
	free(g);
}

/* How long a fetch or push may be in flight before /readyz says so: half of
 * PREVIEWD_GIT_TIMEOUT, at most a minute. */
static int64_t stuck_after_ms(const struct pv_config *cfg)
{
	int64_t ms = (int64_t)cfg->git_timeout * 500;

	return ms > 60000 ? 60000 : ms;
}

void pv_gitops_status(struct pv_gitops *g, struct pv_gitops_status *out)
{
	int64_t busy;

	pthread_mutex_lock(&g->lock);
	*out = g->status;
	busy = g->inflight ? pv_monotonic_ms() - g->inflight_since : 0;
	if (g->inflight && busy >= stuck_after_ms(g->cfg)) {
		/* the writer is stuck in one operation: whatever the last one said,
		 * nothing lands now */
		out->reachable = 0;
		snprintf(out->last_error, sizeof(out->last_error),
			"a %s to the Git server has been in flight for %lld s (PREVIEWD_GIT_TIMEOUT %lld s)%s%.160s",
			g->inflight, (long long)(busy / 1000), (long long)g->cfg->git_timeout,
			g->status.last_error[0] ? "; before: " : "", g->status.last_error);
	}
	pthread_mutex_unlock(&g->lock);
}

int pv_gitops_folder(struct pv_gitops *g, const char *name, int *exists, int *managed, char **values_yaml,
	size_t *values_len)
{
	char why[sizeof(g->status.last_error)];
	int error = pv_snapshot_folder(&g->snap, name, exists, managed, values_yaml, values_len);

	if (error != PV_EUNAVAIL)
		return error;
	/* never reached: say why, so that a wrong password or URL shows in the
	 * answer to the first create, not only in /readyz */
	pthread_mutex_lock(&g->lock);
	snprintf(why, sizeof(why), "%s", g->status.last_error);
	pthread_mutex_unlock(&g->lock);
	if (!why[0])
		return error;
	return pv_error_set(PV_EUNAVAIL, NULL, "the GitOps repository has not been reached: %s; previewd keeps retrying", why);
}

int pv_gitops_settings(struct pv_gitops *g, const char *name, int *found, char **yaml, size_t *yaml_len)
{
	return pv_snapshot_settings(&g->snap, name, found, yaml, yaml_len);
}

int pv_gitops_bases(struct pv_gitops *g, json_t *out)
{
	return pv_snapshot_bases(&g->snap, out);
}

/*
 * gitmetrics.c - the Git writer's counters in Prometheus text format
 * (pv_gitops_metrics in gitops.h).  Any thread: it reads a copy of the
 * status.
 */
#include "gitops.h"

const double pv_gitops_push_bounds[PV_GITOPS_PUSH_BOUNDS] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5 };

int pv_gitops_metrics(struct pv_gitops *g, struct pv_strbuf *out)
{
	struct pv_gitops_status s;
	uint64_t cum = 0;
	int error;

	pv_gitops_status(g, &s);
	error = pv_strbuf_printf(out,
		"# HELP previewd_git_pushes_total Pushes the Git server accepted.\n"
		"# TYPE previewd_git_pushes_total counter\n"
		"previewd_git_pushes_total %llu\n"
		"# HELP previewd_git_push_failures_total Fetches or pushes that failed (transport, credentials).\n"
		"# TYPE previewd_git_push_failures_total counter\n"
		"previewd_git_push_failures_total %llu\n"
		"# HELP previewd_git_push_rejections_total Pushes the server rejected (then rebuilt on a fresh fetch).\n"
		"# TYPE previewd_git_push_rejections_total counter\n"
		"previewd_git_push_rejections_total %llu\n"
		"# HELP previewd_git_commits_total Commits previewd created.\n"
		"# TYPE previewd_git_commits_total counter\n"
		"previewd_git_commits_total %llu\n"
		"# HELP previewd_drift_total Env folders found deleted or changed outside previewd (then restored or accepted).\n"
		"# TYPE previewd_drift_total counter\n"
		"previewd_drift_total %llu\n"
		"# HELP previewd_git_reachable 1 when the last fetch or push reached the Git server.\n"
		"# TYPE previewd_git_reachable gauge\n"
		"previewd_git_reachable %d\n"
		"# HELP previewd_git_last_push_timestamp_seconds Time of the last accepted push.\n"
		"# TYPE previewd_git_last_push_timestamp_seconds gauge\n"
		"previewd_git_last_push_timestamp_seconds %lld\n"
		"# HELP previewd_git_push_duration_seconds Time a push took, accepted or not.\n"
		"# TYPE previewd_git_push_duration_seconds histogram\n",
		(unsigned long long)s.pushes, (unsigned long long)s.push_failures, (unsigned long long)s.rejections,
		(unsigned long long)s.commits, (unsigned long long)s.drifts, s.reachable, (long long)s.last_push_at);
	for (size_t b = 0; b <= PV_GITOPS_PUSH_BOUNDS && error == 0; b++) {
		cum += s.push_buckets[b];
		if (b < PV_GITOPS_PUSH_BOUNDS)
			error = pv_strbuf_printf(out, "previewd_git_push_duration_seconds_bucket{le=\"%g\"} %llu\n",
				pv_gitops_push_bounds[b], (unsigned long long)cum);
		else
			error = pv_strbuf_printf(out, "previewd_git_push_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
				"previewd_git_push_duration_seconds_sum %.6f\n"
				"previewd_git_push_duration_seconds_count %llu\n",
				(unsigned long long)cum, s.push_seconds_sum, (unsigned long long)s.push_count);
	}
	return error;
}

/*
 * config.c - the settings table and its loader.
 *
 * Like Redis' config table, every setting is one row: its variable, its
 * flag, its kind, its default and its bounds.  Loading is two passes over
 * the table: defaults and environment first, then command-line flags, then
 * derived values (absolute data dir, default Git URL, password file).
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "cost.h"
#include "drift.h"
#include "hex.h"
#include "outbound.h"
#include "peer.h"
#include "url.h"
#include "valid.h"

enum kind { K_STRING, K_SECRET, K_DURATION, K_INT, K_LIST, K_LOGLEVEL, K_BOOL };

struct setting {
	const char *env;
	const char *flag;
	enum kind kind;
	size_t offset;
	const char *def;     /* NULL: unset by default */
	long long min, max;  /* for K_INT and K_DURATION */
	const char *help;
};

#define OFF(f) offsetof(struct pv_config, f)

static const struct setting settings[] = {
	{ "PREVIEWD_LISTEN", "listen", K_STRING, OFF(listen), "127.0.0.1:8080", 0, 0, "address:port to serve HTTP on" },
	{ "PREVIEWD_DATA_DIR", "data-dir", K_STRING, OFF(data_dir), "./previewd-data", 0, 0, "SQLite file, local clone, default repo" },
	{ "PREVIEWD_GIT_URL", "git-url", K_STRING, OFF(git_url), NULL, 0, 0, "GitOps repository (default: file://DATA_DIR/gitops.git, created and seeded)" },
	{ "PREVIEWD_GIT_BRANCH", "git-branch", K_STRING, OFF(git_branch), "main", 0, 0, "branch to commit to" },
	{ "PREVIEWD_ENV_DIR", "env-dir", K_STRING, OFF(env_dir), "env", 0, 0, "folder holding env folders, may be nested (helm-env/env)" },
	{ "PREVIEWD_BASE_ENV", "base-env", K_STRING, OFF(base_env), "dev", 0, 0, "default base environment" },
	{ "PREVIEWD_DOMAIN", "domain", K_STRING, OFF(domain), "env.my", 0, 0, "environments are at http://NAME.DOMAIN" },
	{ "PREVIEWD_DEFAULT_TTL", "default-ttl", K_DURATION, OFF(default_ttl), "8h", 1, 100LL * 365 * 86400, "TTL when a request names none" },
	{ "PREVIEWD_MAX_TTL", "max-ttl", K_DURATION, OFF(max_ttl), "7d", 1, 100LL * 365 * 86400, "largest TTL a request may ask for" },
	{ "PREVIEWD_GIT_USERNAME", "git-username", K_STRING, OFF(git_username), NULL, 0, 0, "user for smart HTTP (basic auth or token)" },
	{ "PREVIEWD_GIT_PASSWORD", "git-password", K_SECRET, OFF(git_password), NULL, 0, 0, "password or token (prefer the _FILE form)" },
	{ "PREVIEWD_GIT_PASSWORD_FILE", "git-password-file", K_STRING, OFF(git_password_file), NULL, 0, 0, "file holding the password or token" },
	{ "PREVIEWD_GIT_SSH_KEY", "git-ssh-key", K_STRING, OFF(git_ssh_key), NULL, 0, 0, "private key for ssh:// remotes" },
	{ "PREVIEWD_GIT_SSH_PUBKEY", "git-ssh-pubkey", K_STRING, OFF(git_ssh_pubkey), NULL, 0, 0, "public key (default: KEY.pub)" },
	{ "PREVIEWD_GIT_SSH_PASSPHRASE", "git-ssh-passphrase", K_SECRET, OFF(git_ssh_passphrase), NULL, 0, 0, "passphrase of the SSH key" },
	{ "PREVIEWD_GIT_PROXY", "git-proxy", K_STRING, OFF(git_proxy), "", 0, 0, "proxy for Git fetch and push, http://HOST:PORT (default: https_proxy/http_proxy; no_proxy applies)" },
	{ "PREVIEWD_GIT_CA_FILE", "git-ca-file", K_STRING, OFF(git_ca_file), "", 0, 0, "PEM file of CAs trusted for the Git server, besides the system store" },
	{ "PREVIEWD_CA_FILE", "ca-file", K_STRING, OFF(ca_file), "", 0, 0, "PEM file of CAs trusted for webhooks and Argo CD, besides the system store" },
	{ "PREVIEWD_GIT_AUTHOR_NAME", "git-author-name", K_STRING, OFF(git_author_name), "previewd", 0, 0, "commit author name" },
	{ "PREVIEWD_GIT_AUTHOR_EMAIL", "git-author-email", K_STRING, OFF(git_author_email), "previewd@localhost", 0, 0, "commit author email" },
	{ "PREVIEWD_RESERVED_NAMES", "reserved-names", K_LIST, OFF(reserved), "", 0, 0, "extra reserved names, comma separated, 'x-*' for prefixes" },
	{ "PREVIEWD_WAIT_MS", "wait-ms", K_INT, OFF(wait_ms), "5000", 0, 600000, "how long a write waits for its push before answering 202" },
	{ "PREVIEWD_MAX_BODY", "max-body", K_INT, OFF(max_body), "65536", 256, 16 << 20, "largest request body in bytes" },
	{ "PREVIEWD_MAX_HOOK_BODY", "max-hook-body", K_INT, OFF(max_hook_body), "4194304", 256, 32 << 20, "largest forge webhook body in bytes (push payloads list commits and files)" },
	{ "PREVIEWD_MAX_VALUES_BYTES", "max-values-bytes", K_INT, OFF(max_values_bytes), "65536", 256, 16 << 20, "largest rendered values.yaml" },
	{ "PREVIEWD_VALUES_STRICT", "values-strict", K_BOOL, OFF(values_strict), "false", 0, 1, "refuse values with a key the base does not have, or a mapping, list or scalar where it has another (422, the path in field)" },
	{ "PREVIEWD_HTTP_THREADS", "http-threads", K_INT, OFF(http_threads), "4", 1, 256, "HTTP worker threads" },
	{ "PREVIEWD_REPACK_EVERY", "repack-every", K_INT, OFF(repack_every), "500", 1, 1000000, "commits between repacks of the local clone" },
	{ "PREVIEWD_PUSH_BACKOFF_MAX_MS", "push-backoff-max-ms", K_INT, OFF(push_backoff_max_ms), "30000", 10, 3600000, "cap of the retry backoff when Git fails" },
	{ "PREVIEWD_GIT_TIMEOUT", "git-timeout", K_DURATION, OFF(git_timeout), "120s", 1, 86400, "deadline of one whole fetch or push; a push in flight for half of it (at most 60 s) degrades /readyz" },
	{ "PREVIEWD_GIT_POLL", "git-poll", K_DURATION, OFF(git_poll), "30s", 0, 86400, "time between fetches that look for changes made outside previewd (0: off)" },
	{ "PREVIEWD_ON_DRIFT", "on-drift", K_STRING, OFF(on_drift), "restore", 0, 0, "restore (commit previewd's state back) or accept (take the change made outside previewd)" },
	{ "PREVIEWD_LOG_LEVEL", "log-level", K_LOGLEVEL, OFF(log_level), "info", 0, 0, "debug, info, warn or error" },
	{ "PREVIEWD_MIN_TTL", "min-ttl", K_DURATION, OFF(min_ttl), "60", 1, 100LL * 365 * 86400, "smallest TTL a request may ask for" },
	{ "PREVIEWD_MAX_LIFETIME", "max-lifetime", K_DURATION, OFF(max_lifetime), "0", 0, 100LL * 365 * 86400, "extensions may not keep an environment beyond this age (0: no cap)" },
	{ "PREVIEWD_ALLOW_NEVER", "allow-never", K_BOOL, OFF(allow_never), "false", 0, 1, "accept ttl \"never\" (no expiry)" },
	{ "PREVIEWD_SLEEP_VALUES", "sleep-values", K_STRING, OFF(sleep_values), "{\"replicaCount\": 0}", 0, 0, "JSON merge patch over an environment's values that puts it to sleep (a base's previewd.yaml sleep_values comes first)" },
	{ "PREVIEWD_SLEEP_PAUSES_TTL", "sleep-pauses-ttl", K_BOOL, OFF(sleep_pauses_ttl), "false", 0, 1, "a sleeping environment's TTL stands still until it wakes (default: it keeps running)" },
	{ "PREVIEWD_SLEEP_SCHEDULE", "sleep-schedule", K_STRING, OFF(sleep_schedule), "", 0, 0, "when environments sleep, e.g. \"Mon-Fri 19:00-08:00; Sat-Sun\" (windows may cross midnight; days alone: the whole day; empty: never); an environment's \"schedule\" overrides it" },
	{ "PREVIEWD_TIMEZONE", "timezone", K_STRING, OFF(timezone), "UTC", 0, 0, "IANA time zone the sleep schedules are read in (e.g. Europe/Berlin)" },
	{ "PREVIEWD_IDLE_SLEEP", "idle-sleep", K_DURATION, OFF(idle_sleep), "0", 0, 100LL * 365 * 86400, "an environment with no activity for this long sleeps (0: off)" },
	{ "PREVIEWD_PROMETHEUS_URL", "prometheus-url", K_STRING, OFF(prometheus_url), "", 0, 0, "Prometheus whose ingress request rates count as activity for PREVIEWD_IDLE_SLEEP (empty: previewd's own writes only)" },
	{ "PREVIEWD_ACTIVITY_QUERY", "activity-query", K_STRING, OFF(activity_query), "sum by (exported_namespace) (rate(nginx_ingress_controller_requests{exported_namespace=~\"{namespaces}\"}[{window}]))", 0, 0, "PromQL template of the activity query: {namespaces} becomes ns1|ns2|..., {window} PREVIEWD_ACTIVITY_WINDOW; a series with a value above 0 and a namespace or exported_namespace label is activity" },
	{ "PREVIEWD_ACTIVITY_WINDOW", "activity-window", K_DURATION, OFF(activity_window), "5m", 1, 86400, "the range of the activity query's rate ({window})" },
	{ "PREVIEWD_ACTIVITY_POLL", "activity-poll", K_DURATION, OFF(activity_poll), "60s", 1, 86400, "time between activity queries to Prometheus" },
	{ "PREVIEWD_REAP_HOLD", "reap-hold", K_INT, OFF(reap_hold), "25", 0, 10000000, "more environments than this overdue at once are held, not removed, until an admin releases them (0: off)" },
	{ "PREVIEWD_REAP_HOLD_AFTER", "reap-hold-after", K_DURATION, OFF(reap_hold_after), "5m", 1, 100LL * 365 * 86400, "an expiry this far past is overdue (counts toward PREVIEWD_REAP_HOLD); a timelier one is never held" },
	{ "PREVIEWD_RETENTION", "retention", K_DURATION, OFF(retention), "90d", 0, 100LL * 365 * 86400, "ended environments and their events, Idempotency-Keys, delivered notifications and webhook delivery ids are pruned this long after (0: kept forever)" },
	{ "PREVIEWD_WARN_BEFORE", "warn-before", K_STRING, OFF(warn_before), "1h,10m", 0, 0, "lead times of expiry warnings, comma separated (\"\" for none)" },
	{ "PREVIEWD_WEBHOOK_URL", "webhook-url", K_STRING, OFF(webhook_url), "", 0, 0, "where notifications are POSTed (empty: off)" },
	{ "PREVIEWD_WEBHOOK_FORMAT", "webhook-format", K_STRING, OFF(webhook_format), "json", 0, 0, "json, slack (Block Kit buttons), mattermost (attachment buttons) or teams (an Adaptive Card for a Workflows webhook)" },
	{ "PREVIEWD_WEBHOOK_SECRET", "webhook-secret", K_SECRET, OFF(webhook_secret), NULL, 0, 0, "HMAC-SHA256 key signing each notification" },
	{ "PREVIEWD_WEBHOOK_SECRET_FILE", "webhook-secret-file", K_STRING, OFF(webhook_secret_file), NULL, 0, 0, "file holding the webhook secret" },
	{ "PREVIEWD_WEBHOOK_TIMEOUT_MS", "webhook-timeout-ms", K_INT, OFF(webhook_timeout_ms), "5000", 100, 120000, "time a receiver has to answer" },
	{ "PREVIEWD_WEBHOOK_BACKOFF_MAX", "webhook-backoff-max", K_DURATION, OFF(webhook_backoff_max), "5m", 1, 86400, "cap of the retry backoff of a failing receiver" },
	{ "PREVIEWD_MAX_ENVS_PER_OWNER", "max-envs-per-owner", K_INT, OFF(max_envs_per_owner), "10", 0, 1000000, "live environments one owner may have (0: no limit)" },
	{ "PREVIEWD_MAX_ENVS", "max-envs", K_INT, OFF(max_envs), "1000", 0, 10000000, "live environments in total (0: no limit)" },
	{ "PREVIEWD_CREATE_RATE", "create-rate", K_INT, OFF(create_rate), "60", 0, 1000000, "creates a minute per token (per client address in open mode); beyond: 429 (0: no limit)" },
	{ "PREVIEWD_CREATE_BURST", "create-burst", K_INT, OFF(create_burst), "20", 1, 1000000, "creates one token may make at once before PREVIEWD_CREATE_RATE applies" },
	{ "PREVIEWD_MAX_CONN_PER_IP", "max-conn-per-ip", K_INT, OFF(max_conn_per_ip), "64", 1, 100000, "open connections one client address may hold" },
	{ "PREVIEWD_TRUSTED_PROXIES", "trusted-proxies", K_STRING, OFF(trusted_proxies), "", 0, 0, "proxies (IPs, CIDRs, comma separated) exempt from the per-address limit, whose X-Forwarded-For names the client" },
	{ "PREVIEWD_MAX_CONNECTIONS", "max-connections", K_INT, OFF(max_connections), "1000", 1, 100000, "open connections in total" },
	{ "PREVIEWD_CONN_TIMEOUT", "conn-timeout", K_DURATION, OFF(conn_timeout), "30s", 1, 3600, "idle time before a connection is closed" },
	{ "PREVIEWD_MAX_STREAMS", "max-streams", K_INT, OFF(max_streams), "100", 1, 100000, "open GET /v1/environments/stream connections; beyond: 503 with Retry-After" },
	{ "PREVIEWD_ARGOCD_WEBHOOK_URL", "argocd-webhook-url", K_STRING, OFF(argocd_webhook_url), "", 0, 0, "Argo CD /api/webhook URL(s), comma separated: told after each push" },
	{ "PREVIEWD_ARGOCD_WEBHOOK_SECRET", "argocd-webhook-secret", K_SECRET, OFF(argocd_webhook_secret), NULL, 0, 0, "the webhook's GitHub secret (X-Hub-Signature-256)" },
	{ "PREVIEWD_ARGOCD_WEBHOOK_SECRET_FILE", "argocd-webhook-secret-file", K_STRING, OFF(argocd_webhook_secret_file), NULL, 0, 0, "file holding the webhook secret" },
	{ "PREVIEWD_ARGOCD_REPO_URL", "argocd-repo-url", K_STRING, OFF(argocd_repo_url), "", 0, 0, "the repository URL as Argo CD knows it (default: PREVIEWD_GIT_URL)" },
	{ "PREVIEWD_ARGOCD_URL", "argocd-url", K_STRING, OFF(argocd_url), "", 0, 0, "Argo CD API server, to report sync and health" },
	{ "PREVIEWD_ARGOCD_TOKEN", "argocd-token", K_SECRET, OFF(argocd_token), NULL, 0, 0, "Argo CD API token (prefer the _FILE form)" },
	{ "PREVIEWD_ARGOCD_TOKEN_FILE", "argocd-token-file", K_STRING, OFF(argocd_token_file), NULL, 0, 0, "file holding the Argo CD API token" },
	{ "PREVIEWD_ARGOCD_SELECTOR", "argocd-selector", K_STRING, OFF(argocd_selector), "app.kubernetes.io/managed-by=previewd", 0, 0, "label selector for previewd's Applications (Argo CD filters the others out)" },
	{ "PREVIEWD_ARGOCD_POLL", "argocd-poll", K_DURATION, OFF(argocd_poll), "10s", 1, 3600, "time between full reads of Applications' status (the watch stream is followed in between)" },
	{ "PREVIEWD_SLACK_SIGNING_SECRET", "slack-signing-secret", K_SECRET, OFF(slack_signing_secret), NULL, 0, 0, "Slack app signing secret: enables /v1/chatops/slack" },
	{ "PREVIEWD_SLACK_SIGNING_SECRET_FILE", "slack-signing-secret-file", K_STRING, OFF(slack_signing_secret_file), NULL, 0, 0, "file holding the Slack signing secret" },
	{ "PREVIEWD_CHAT_EXTEND_AMOUNTS", "chat-extend-amounts", K_STRING, OFF(chat_extend_amounts), "4h,1d", 0, 0, "the Extend buttons in chat, comma separated (at most 4; \"\" for none)" },
	{ "PREVIEWD_CHATOPS_ANYONE", "chatops-anyone", K_BOOL, OFF(chatops_anyone), "false", 0, 1, "any chat user may press an environment's buttons (default: its owner only)" },
	{ "PREVIEWD_SLACK_USERS", "slack-users", K_STRING, OFF(slack_users), "", 0, 0, "file mapping Slack user ids to owners, one \"U123ABC owner\" a line (default: the Slack user name)" },
	{ "PREVIEWD_SLACK_RESPONSE_URL_PREFIX", "slack-response-url-prefix", K_STRING, OFF(slack_response_url_prefix), "https://hooks.slack.com/", 0, 0, "button outcomes are POSTed to a response_url only under this prefix" },
	{ "PREVIEWD_CHATOPS_ACTION_SECRET", "chatops-action-secret", K_SECRET, OFF(chatops_action_secret), NULL, 0, 0, "key signing Mattermost button contexts (default: derived from the webhook or Slack secret)" },
	{ "PREVIEWD_CHATOPS_ACTION_SECRET_FILE", "chatops-action-secret-file", K_STRING, OFF(chatops_action_secret_file), NULL, 0, 0, "file holding the chat action secret" },
	{ "PREVIEWD_GIT_WEBHOOK_SECRET", "git-webhook-secret", K_SECRET, OFF(git_webhook_secret), NULL, 0, 0, "secret of the Git host's push webhooks: enables /v1/hooks/{github,gitlab,gitea}" },
	{ "PREVIEWD_GIT_WEBHOOK_SECRET_FILE", "git-webhook-secret-file", K_STRING, OFF(git_webhook_secret_file), NULL, 0, 0, "file holding the Git webhook secret" },
	{ "PREVIEWD_PR_RULES", "pr-rules", K_STRING, OFF(pr_rules), "", 0, 0, "YAML file of pull-request rules: which repositories' pull requests become environments, named and filled how" },
	{ "PREVIEWD_GITHUB_API_URL", "github-api-url", K_STRING, OFF(github_api_url), "https://api.github.com", 0, 0, "GitHub's REST API, for deployments and comments on pull requests (GitHub Enterprise: https://HOST/api/v3)" },
	{ "PREVIEWD_GITHUB_TOKEN", "github-token", K_SECRET, OFF(github_token), NULL, 0, 0, "GitHub token or App installation token (prefer the _FILE form): enables status on pull requests" },
	{ "PREVIEWD_GITHUB_TOKEN_FILE", "github-token-file", K_STRING, OFF(github_token_file), NULL, 0, 0, "file holding the GitHub token" },
	{ "PREVIEWD_GITLAB_URL", "gitlab-url", K_STRING, OFF(gitlab_url), "https://gitlab.com", 0, 0, "GitLab, for notes and commit statuses on merge requests" },
	{ "PREVIEWD_GITLAB_TOKEN", "gitlab-token", K_SECRET, OFF(gitlab_token), NULL, 0, 0, "GitLab token with the api scope (prefer the _FILE form): enables status on merge requests" },
	{ "PREVIEWD_GITLAB_TOKEN_FILE", "gitlab-token-file", K_STRING, OFF(gitlab_token_file), NULL, 0, 0, "file holding the GitLab token" },
	{ "PREVIEWD_GITEA_URL", "gitea-url", K_STRING, OFF(gitea_url), "", 0, 0, "Gitea (or Forgejo), for commit statuses and comments on pull requests" },
	{ "PREVIEWD_GITEA_TOKEN", "gitea-token", K_SECRET, OFF(gitea_token), NULL, 0, 0, "Gitea token (prefer the _FILE form): enables status on pull requests" },
	{ "PREVIEWD_GITEA_TOKEN_FILE", "gitea-token-file", K_STRING, OFF(gitea_token_file), NULL, 0, 0, "file holding the Gitea token" },
	{ "PREVIEWD_DEFAULT_CLUSTER", "default-cluster", K_STRING, OFF(default_cluster), "", 0, 0, "Argo CD cluster for requests that name none (\"\": the ApplicationSet decides)" },
	{ "PREVIEWD_CORS_ORIGINS", "cors-origins", K_STRING, OFF(cors_origins), "", 0, 0, "origins (e.g. the portal's) allowed to call the API from a browser, comma separated, or *" },
	{ "PREVIEWD_LOG_JSON", "log-json", K_BOOL, OFF(log_json), "false", 0, 1, "log one JSON object per line" },
	{ "PREVIEWD_PUBLIC_URL", "public-url", K_STRING, OFF(public_url), "", 0, 0, "URL users reach previewd at, for hints in notifications (default: http://LISTEN)" },
	{ "PREVIEWD_COST_RATES", "cost-rates", K_STRING, OFF(cost_rates), "", 0, 0, "prices of requests per hour, cpu=PER_CPU,memory=PER_GIB (e.g. cpu=0.04,memory=0.005): shows each environment's cost (empty: off)" },
	{ "PREVIEWD_COST_PATHS", "cost-paths", K_STRING, OFF(cost_paths), "replicas=replicaCount,cpu=resources.requests.cpu,memory=resources.requests.memory", 0, 0, "where the values hold the replica count and the CPU and memory requests, as dotted paths" },
	{ "PREVIEWD_OPENCOST_URL", "opencost-url", K_STRING, OFF(opencost_url), "", 0, 0, "OpenCost's API (e.g. http://opencost.opencost:9003): each environment's cost is its namespace's, as OpenCost measured it (empty: off)" },
	{ "PREVIEWD_OPENCOST_INTERVAL", "opencost-interval", K_DURATION, OFF(opencost_interval), "10m", 1, 86400, "time between reads of OpenCost's allocation API; a figure older than three of these is not shown" },
	{ "PREVIEWD_COST_COMPONENTS", "cost-components", K_STRING, OFF(cost_components), "", 0, 0, "prefixes of the chart's components, comma separated (e.g. frontend.,backend.): their costs add up (empty: the values' root)" },
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static int apply(struct pv_config *cfg, const struct setting *s, const char *value, const char *source)
{
	char *base = (char *)cfg;
	long long v;
	char *end;

	switch (s->kind) {
	case K_STRING:
	case K_SECRET: {
		char **slot = (char **)(base + s->offset);
		free(*slot);
		*slot = strdup(value);
		return *slot ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	case K_DURATION:
		/* a zero is "off" for the settings that allow it */
		if (s->min == 0 && strcmp(value, "0") == 0) {
			v = 0;
			goto bounds;
		}
		if (pv_valid_duration(&v, value, source) < 0)
			return PV_EINVAL;
		goto bounds;
	case K_BOOL:
		if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0)
			*(int *)(base + s->offset) = 1;
		else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 || strcmp(value, "no") == 0)
			*(int *)(base + s->offset) = 0;
		else
			return pv_error_set(PV_EINVAL, source, "%s: '%s' is not true or false", source, value);
		return 0;
	case K_INT:
		errno = 0;
		v = strtoll(value, &end, 10);
		if (errno || end == value || *end)
			return pv_error_set(PV_EINVAL, source, "%s: '%s' is not an integer", source, value);
		goto bounds;
	case K_LOGLEVEL:
		if (pv_log_parse_level((enum pv_log_level *)(base + s->offset), value) < 0)
			return pv_error_set(PV_EINVAL, source, "%s: unknown log level '%s' (debug, info, warn, error)", source, value);
		return 0;
	case K_LIST: {
		char ***slot = (char ***)(base + s->offset);
		size_t *count = &cfg->reserved_count, cap = 0; /* the only list setting */
		char *copy = strdup(value), *tok, *save = NULL;
		int error = 0;

		if (!copy)
			return pv_error_set(PV_ERROR, NULL, "out of memory");
		free_list(*slot, *count);
		*slot = NULL;
		*count = 0;
		for (tok = strtok_r(copy, ", ", &save); tok && error == 0; tok = strtok_r(NULL, ", ", &save)) {
			if ((error = pv_array_reserve(slot, &cap, *count + 1, sizeof(**slot))) < 0)
				break;
			if (!((*slot)[*count] = strdup(tok)))
				error = pv_error_set(PV_ERROR, NULL, "out of memory");
			else
				(*count)++;
		}
		free(copy);
		return error;
	}
	}
	return pv_error_set(PV_ERROR, NULL, "unknown setting kind");
bounds:
	if (v < s->min || v > s->max)
		return pv_error_set(PV_EINVAL, source, "%s: %lld is out of range [%lld, %lld]", source, v, s->min, s->max);
	*(long long *)(base + s->offset) = v;
	return 0;
}

static int read_secret_file(char **out, const char *path, const char *name)
{
	FILE *f = fopen(path, "r");
	char buf[4096];
	size_t n;

	if (!f)
		return pv_error_set(PV_EINVAL, name, "cannot open %s %s: %s", name, path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* files written by editors and `echo` end in a newline that is not part of the secret */
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	free(*out);
	*out = strdup(buf);
	memset(buf, 0, sizeof(buf));
	return *out ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}

static int parse_listen(struct pv_config *cfg)
{
	const char *s = cfg->listen, *colon;
	char *end;
	long port;
	size_t hostlen;

	if (s[0] == '[') { /* [::1]:8080 */
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			goto bad;
		hostlen = (size_t)(close - s - 1);
		s++;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			goto bad;
		hostlen = (size_t)(colon - s);
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 0 || port > 65535)
		goto bad;
	cfg->listen_host = strndup(s, hostlen);
	if (!cfg->listen_host)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	cfg->listen_port = (unsigned short)port;
	return 0;
bad:
	return pv_error_set(PV_EINVAL, "PREVIEWD_LISTEN", "PREVIEWD_LISTEN '%s' must be HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)", cfg->listen);
}

/* "1h,10m" -> warn_leads, largest first; "" -> none */
static int parse_leads(struct pv_config *cfg)
{
	char *copy = strdup(cfg->warn_before), *tok, *save = NULL;

	if (!copy)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	cfg->warn_count = 0;
	for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		long long v;
		if (cfg->warn_count == sizeof(cfg->warn_leads) / sizeof(cfg->warn_leads[0])) {
			free(copy);
			return pv_error_set(PV_EINVAL, "PREVIEWD_WARN_BEFORE", "PREVIEWD_WARN_BEFORE lists more than 8 lead times");
		}
		if (pv_valid_duration(&v, tok, "PREVIEWD_WARN_BEFORE") < 0) {
			free(copy);
			return PV_EINVAL;
		}
		size_t i = cfg->warn_count++;
		while (i > 0 && cfg->warn_leads[i - 1] < v) {
			cfg->warn_leads[i] = cfg->warn_leads[i - 1];
			i--;
		}
		cfg->warn_leads[i] = v;
	}
	free(copy);
	return 0;
}

/* The chat buttons' settings: the extension amounts, the users file (read
 * at each press, checked here so a wrong path fails --check-config), the
 * response_url prefix and the key of Mattermost's contexts. */
static int chat_settings(struct pv_config *cfg)
{
	char *copy = strdup(cfg->chat_extend_amounts), *tok, *save = NULL;
	int error = 0;

	if (!copy)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	cfg->chat_extend_count = 0;
	for (tok = strtok_r(copy, ", ", &save); tok && error == 0; tok = strtok_r(NULL, ", ", &save)) {
		if (cfg->chat_extend_count == sizeof(cfg->chat_extend) / sizeof(cfg->chat_extend[0]))
			error = pv_error_set(PV_EINVAL, "PREVIEWD_CHAT_EXTEND_AMOUNTS",
				"PREVIEWD_CHAT_EXTEND_AMOUNTS lists more than 4 amounts");
		else if (pv_valid_duration(&cfg->chat_extend[cfg->chat_extend_count], tok, "PREVIEWD_CHAT_EXTEND_AMOUNTS") < 0)
			error = PV_EINVAL;
		else
			cfg->chat_extend_count++;
	}
	free(copy);
	if (error < 0)
		return error;
	if (*cfg->slack_users && access(cfg->slack_users, R_OK) != 0)
		return pv_error_set(PV_EINVAL, "PREVIEWD_SLACK_USERS", "PREVIEWD_SLACK_USERS: cannot read %s: %s",
			cfg->slack_users, strerror(errno));
	if (strncmp(cfg->slack_response_url_prefix, "https://", 8) != 0 &&
	    strncmp(cfg->slack_response_url_prefix, "http://", 7) != 0)
		return pv_error_set(PV_EINVAL, "PREVIEWD_SLACK_RESPONSE_URL_PREFIX",
			"PREVIEWD_SLACK_RESPONSE_URL_PREFIX must be an http:// or https:// URL prefix");
	if (cfg->chatops_action_secret_file && *cfg->chatops_action_secret_file &&
	    (error = read_secret_file(&cfg->chatops_action_secret, cfg->chatops_action_secret_file,
		     "PREVIEWD_CHATOPS_ACTION_SECRET_FILE")) < 0)
		return error;
	if (!cfg->chatops_action_secret || !*cfg->chatops_action_secret) {
		/* derived, never the other secret itself: a context seen in chat
		 * must not help forge webhook signatures */
		const char *from = cfg->webhook_secret && *cfg->webhook_secret ? cfg->webhook_secret
			: cfg->slack_signing_secret && *cfg->slack_signing_secret ? cfg->slack_signing_secret : NULL;
		char key[PV_HEX_HMAC_SHA256_LEN];

		free(cfg->chatops_action_secret);
		cfg->chatops_action_secret = NULL;
		if (from && pv_hex_hmac_sha256(key, from, "previewd chat actions", 21) == 0 &&
		    !(cfg->chatops_action_secret = strdup(key)))
			return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	return 0;
}

/* The forges previewd reports pull requests' status to: each token from its
 * file, and each URL checked, so a wrong one fails --check-config. */
static int forge_settings(struct pv_config *cfg)
{
	static const struct {
		const char *url_name, *file_name;
		size_t url, token, file;
	} forges[] = {
		{ "PREVIEWD_GITHUB_API_URL", "PREVIEWD_GITHUB_TOKEN_FILE", OFF(github_api_url), OFF(github_token), OFF(github_token_file) },
		{ "PREVIEWD_GITLAB_URL", "PREVIEWD_GITLAB_TOKEN_FILE", OFF(gitlab_url), OFF(gitlab_token), OFF(gitlab_token_file) },
		{ "PREVIEWD_GITEA_URL", "PREVIEWD_GITEA_TOKEN_FILE", OFF(gitea_url), OFF(gitea_token), OFF(gitea_token_file) },
	};
	char *base = (char *)cfg;
	int error;

	for (size_t i = 0; i < sizeof(forges) / sizeof(forges[0]); i++) {
		char **url = (char **)(base + forges[i].url), **token = (char **)(base + forges[i].token);
		const char *file = *(char **)(base + forges[i].file);
		size_t n;

		if (file && *file && (error = read_secret_file(token, file, forges[i].file_name)) < 0)
			return error;
		if (**url && strncmp(*url, "http://", 7) != 0 && strncmp(*url, "https://", 8) != 0)
			return pv_error_set(PV_EINVAL, forges[i].url_name, "%s must be an http:// or https:// URL",
				forges[i].url_name);
		/* paths are appended: "https://host/api/v3/" would give "//repos" */
		while ((n = strlen(*url)) > 0 && (*url)[n - 1] == '/')
			(*url)[n - 1] = '\0';
		if (*token && **token && !**url)
			return pv_error_set(PV_EINVAL, forges[i].url_name, "a token for this forge needs %s",
				forges[i].url_name);
	}
	return 0;
}

/* The schedule read, the zone known to the C library (an unknown name
 * would silently be UTC), the Prometheus URL and query template usable. */
static int sleep_settings(struct pv_config *cfg)
{
	const char *tzdir = getenv("TZDIR");
	char path[PATH_MAX];
	int error;

	if ((error = pv_schedule_parse(&cfg->schedule, cfg->sleep_schedule, "PREVIEWD_SLEEP_SCHEDULE")) < 0)
		return error;
	snprintf(path, sizeof(path), "%s/%s", tzdir && *tzdir ? tzdir : "/usr/share/zoneinfo", cfg->timezone);
	if (!*cfg->timezone || cfg->timezone[0] == '/' || strstr(cfg->timezone, "..") ||
	    (strcmp(cfg->timezone, "UTC") != 0 && access(path, R_OK) != 0))
		return pv_error_set(PV_EINVAL, "PREVIEWD_TIMEZONE",
			"PREVIEWD_TIMEZONE '%s' is not a zone of the system's zone data (e.g. Europe/Berlin, UTC)", cfg->timezone);
	if (*cfg->prometheus_url && strncmp(cfg->prometheus_url, "http://", 7) != 0 &&
	    strncmp(cfg->prometheus_url, "https://", 8) != 0)
		return pv_error_set(PV_EINVAL, "PREVIEWD_PROMETHEUS_URL", "PREVIEWD_PROMETHEUS_URL must be an http:// or https:// URL");
	if (!strstr(cfg->activity_query, "{namespaces}"))
		return pv_error_set(PV_EINVAL, "PREVIEWD_ACTIVITY_QUERY",
			"PREVIEWD_ACTIVITY_QUERY must select the namespaces it is asked about with {namespaces}");
	return 0;
}

static int derive(struct pv_config *cfg)
{
	enum pv_drift_mode drift;
	char *abs;
	int error;

	if ((error = parse_listen(cfg)) < 0)
		return error;
	/* the data dir may not exist yet; make its path absolute for file:// */
	if (cfg->data_dir[0] != '/') {
		char cwd[PATH_MAX];
		size_t n;
		if (!getcwd(cwd, sizeof(cwd)))
			return pv_error_set(PV_ERROR, NULL, "getcwd: %s", strerror(errno));
		n = strlen(cwd) + strlen(cfg->data_dir) + 2;
		if (!(abs = malloc(n)))
			return pv_error_set(PV_ERROR, NULL, "out of memory");
		snprintf(abs, n, "%s/%s", cwd, strncmp(cfg->data_dir, "./", 2) == 0 ? cfg->data_dir + 2 : cfg->data_dir);
		free(cfg->data_dir);
		cfg->data_dir = abs;
	}
	if (!cfg->git_url || !*cfg->git_url) {
		size_t n = strlen(cfg->data_dir) + 32;
		free(cfg->git_url);
		if (!(cfg->git_url = malloc(n)))
			return pv_error_set(PV_ERROR, NULL, "out of memory");
		snprintf(cfg->git_url, n, "file://%s/gitops.git", cfg->data_dir);
		cfg->git_url_is_default = 1;
	}
	if (cfg->git_password_file && *cfg->git_password_file &&
	    (error = read_secret_file(&cfg->git_password, cfg->git_password_file, "PREVIEWD_GIT_PASSWORD_FILE")) < 0)
		return error;
	if (cfg->webhook_secret_file && *cfg->webhook_secret_file &&
	    (error = read_secret_file(&cfg->webhook_secret, cfg->webhook_secret_file, "PREVIEWD_WEBHOOK_SECRET_FILE")) < 0)
		return error;
	if (strcmp(cfg->webhook_format, "json") != 0 && strcmp(cfg->webhook_format, "slack") != 0 &&
	    strcmp(cfg->webhook_format, "mattermost") != 0 && strcmp(cfg->webhook_format, "teams") != 0)
		return pv_error_set(PV_EINVAL, "PREVIEWD_WEBHOOK_FORMAT",
			"PREVIEWD_WEBHOOK_FORMAT must be json, slack, mattermost or teams");
	if ((error = pv_drift_mode_parse(&drift, cfg->on_drift)) < 0)
		return error;
	{
		json_t *sleep = json_loads(cfg->sleep_values, 0, NULL);
		int is_object = json_is_object(sleep);
		json_decref(sleep);
		if (!is_object)
			return pv_error_set(PV_EINVAL, "PREVIEWD_SLEEP_VALUES",
				"PREVIEWD_SLEEP_VALUES must be a JSON object (a merge patch), e.g. {\"replicaCount\": 0}");
	}
	{
		struct pv_peer_trust trust;
		if ((error = pv_peer_trust_parse(&trust, cfg->trusted_proxies)) < 0)
			return error;
		pv_peer_trust_dispose(&trust);
	}
	if (*cfg->webhook_url && strncmp(cfg->webhook_url, "http://", 7) != 0 && strncmp(cfg->webhook_url, "https://", 8) != 0)
		return pv_error_set(PV_EINVAL, "PREVIEWD_WEBHOOK_URL", "PREVIEWD_WEBHOOK_URL must be an http:// or https:// URL");
	if ((error = parse_leads(cfg)) < 0)
		return error;
	if ((error = pv_outbound_check_git_proxy(cfg->git_proxy)) < 0 ||
	    (error = pv_outbound_check_ca_file(cfg->git_ca_file, "PREVIEWD_GIT_CA_FILE")) < 0 ||
	    (error = pv_outbound_check_ca_file(cfg->ca_file, "PREVIEWD_CA_FILE")) < 0)
		return error;
	if (cfg->slack_signing_secret_file && *cfg->slack_signing_secret_file &&
	    (error = read_secret_file(&cfg->slack_signing_secret, cfg->slack_signing_secret_file,
		     "PREVIEWD_SLACK_SIGNING_SECRET_FILE")) < 0)
		return error;
	if (cfg->argocd_token_file && *cfg->argocd_token_file &&
	    (error = read_secret_file(&cfg->argocd_token, cfg->argocd_token_file, "PREVIEWD_ARGOCD_TOKEN_FILE")) < 0)
		return error;
	if (cfg->argocd_webhook_secret_file && *cfg->argocd_webhook_secret_file &&
	    (error = read_secret_file(&cfg->argocd_webhook_secret, cfg->argocd_webhook_secret_file,
		     "PREVIEWD_ARGOCD_WEBHOOK_SECRET_FILE")) < 0)
		return error;
	if (cfg->git_webhook_secret_file && *cfg->git_webhook_secret_file &&
	    (error = read_secret_file(&cfg->git_webhook_secret, cfg->git_webhook_secret_file,
		     "PREVIEWD_GIT_WEBHOOK_SECRET_FILE")) < 0)
		return error;
	if ((error = chat_settings(cfg)) < 0)
		return error;
	if ((error = forge_settings(cfg)) < 0)
		return error;
	if ((error = sleep_settings(cfg)) < 0)
		return error;
	if (*cfg->argocd_url && (!cfg->argocd_token || !*cfg->argocd_token))
		return pv_error_set(PV_EINVAL, "PREVIEWD_ARGOCD_TOKEN",
			"PREVIEWD_ARGOCD_URL needs PREVIEWD_ARGOCD_TOKEN or PREVIEWD_ARGOCD_TOKEN_FILE");
	if (!*cfg->argocd_repo_url) {
		free(cfg->argocd_repo_url);
		if (!(cfg->argocd_repo_url = strdup(cfg->git_url)))
			return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	if (!*cfg->public_url) {
		free(cfg->public_url);
		if (asprintf(&cfg->public_url, "http://%s", cfg->listen) < 0) {
			cfg->public_url = NULL;
			return pv_error_set(PV_ERROR, NULL, "out of memory");
		}
	}
	/* normalise the env dir: no leading or trailing slashes, no dot segments */
	{
		char *d = cfg->env_dir;
		size_t n;
		while (*d == '/')
			memmove(d, d + 1, strlen(d));
		n = strlen(d);
		while (n > 0 && d[n - 1] == '/')
			d[--n] = '\0';
		if (n == 0 || strstr(d, "//") || strcmp(d, ".") == 0 || strcmp(d, "..") == 0 ||
		    strncmp(d, "./", 2) == 0 || strncmp(d, "../", 3) == 0 || strstr(d, "/./") ||
		    strstr(d, "/../") || (n >= 2 && strcmp(d + n - 2, "/.") == 0) ||
		    (n >= 3 && strcmp(d + n - 3, "/..") == 0) || strncmp(d, ".git", 4) == 0)
			return pv_error_set(PV_EINVAL, "PREVIEWD_ENV_DIR", "PREVIEWD_ENV_DIR '%s' must be a relative path inside the repository", cfg->env_dir);
	}
	if ((error = pv_valid_name(cfg->base_env, "PREVIEWD_BASE_ENV")) < 0)
		return error;
	if (cfg->default_ttl > cfg->max_ttl)
		return pv_error_set(PV_EINVAL, "PREVIEWD_DEFAULT_TTL", "PREVIEWD_DEFAULT_TTL is larger than PREVIEWD_MAX_TTL");
	if (cfg->max_lifetime > 0 && cfg->default_ttl > cfg->max_lifetime)
		return pv_error_set(PV_EINVAL, "PREVIEWD_DEFAULT_TTL",
			"PREVIEWD_DEFAULT_TTL is larger than PREVIEWD_MAX_LIFETIME: every create without a ttl would fail");
	if (cfg->min_ttl > cfg->default_ttl)
		return pv_error_set(PV_EINVAL, "PREVIEWD_MIN_TTL", "PREVIEWD_MIN_TTL is larger than PREVIEWD_DEFAULT_TTL");
	if (*cfg->cost_rates) {
		if (!(cfg->cost = malloc(sizeof(*cfg->cost))))
			return pv_error_set(PV_ERROR, NULL, "out of memory");
		if ((error = pv_cost_model_parse(cfg->cost, cfg->cost_rates, cfg->cost_paths, cfg->cost_components)) < 0)
			return error;
	}
	if (*cfg->opencost_url && strncmp(cfg->opencost_url, "http://", 7) != 0 && strncmp(cfg->opencost_url, "https://", 8) != 0)
		return pv_error_set(PV_EINVAL, "PREVIEWD_OPENCOST_URL", "PREVIEWD_OPENCOST_URL '%s' must be an http:// or https:// URL",
			cfg->opencost_url);
	if (strpbrk(cfg->git_branch, " ~^:?*[\\") || cfg->git_branch[0] == '-' || !*cfg->git_branch)
		return pv_error_set(PV_EINVAL, "PREVIEWD_GIT_BRANCH", "PREVIEWD_GIT_BRANCH '%s' is not a valid branch name", cfg->git_branch);
	return 0;
}

int pv_config_load(struct pv_config *out, int argc, char **argv, int *want_help, int *want_version)
{
	int error;

	memset(out, 0, sizeof(*out));
	*want_help = *want_version = 0;
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *v = getenv(settings[i].env);
		if (!v)
			v = settings[i].def;
		if (v && (error = apply(out, &settings[i], v, settings[i].env)) < 0)
			return error;
	}
	for (int a = 1; a < argc; a++) {
		char *arg = argv[a], *value = NULL, *eq;
		char source[64];
		size_t namelen;
		size_t i;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			*want_help = 1;
			continue;
		}
		if (strcmp(arg, "--version") == 0) {
			*want_version = 1;
			continue;
		}
		if (strcmp(arg, "--check-config") == 0 || strcmp(arg, "-n") == 0) {
			out->check_only = 1;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0)
			return pv_error_set(PV_EINVAL, arg, "unexpected argument '%s' (see --help)", arg);
		arg += 2;
		eq = strchr(arg, '=');
		namelen = eq ? (size_t)(eq - arg) : strlen(arg);
		for (i = 0; i < NSETTINGS; i++)
			if (strlen(settings[i].flag) == namelen && strncmp(settings[i].flag, arg, namelen) == 0)
				break;
		if (i == NSETTINGS)
			return pv_error_set(PV_EINVAL, argv[a], "unknown option '%s' (see --help)", argv[a]);
		if (eq)
			value = eq + 1;
		else if (a + 1 < argc)
			value = argv[++a];
		else
			return pv_error_set(PV_EINVAL, argv[a], "option '%s' needs a value", argv[a]);
		/* errors name the flag as written without its value, whichever
		 * form (--flag=value, --flag value) was used */
		snprintf(source, sizeof(source), "--%s", settings[i].flag);
		error = apply(out, &settings[i], value, source);
		/* every local user reads /proc/PID/cmdline: a secret given as a
		 * flag is overwritten there once it is copied */
		if (settings[i].kind == K_SECRET)
			memset(value, '*', strlen(value));
		if (error < 0)
			return error;
	}
	return derive(out);
}

void pv_config_dispose(struct pv_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < NSETTINGS; i++) {
		char *base = (char *)cfg;
		if (settings[i].kind == K_STRING || settings[i].kind == K_SECRET) {
			char **slot = (char **)(base + settings[i].offset);
			if (*slot && settings[i].kind == K_SECRET)
				memset(*slot, 0, strlen(*slot));
			free(*slot);
		}
	}
	free_list(cfg->reserved, cfg->reserved_count);
	free(cfg->listen_host);
	free(cfg->cost);
	memset(cfg, 0, sizeof(*cfg));
}

/* URLs carry credentials in their userinfo (https://user:TOKEN@host/...):
 * every string is shown with them redacted */
static void dump_string(FILE *f, const char *env, const char *value)
{
	size_t n = value ? 2 * strlen(value) + 8 : 0; /* each redaction adds at most 2 bytes */
	char *shown = n ? malloc(n) : NULL;

	if (shown)
		pv_url_redact(shown, n, value);
	fprintf(f, "%s=%s\n", env, shown ? shown : ""); /* out of memory: nothing rather than a secret */
	free(shown);
}

void pv_config_dump(const struct pv_config *cfg, FILE *f)
{
	const char *base = (const char *)cfg;

	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		switch (s->kind) {
		case K_STRING:
			dump_string(f, s->env, *(char *const *)(base + s->offset));
			break;
		case K_SECRET:
			fprintf(f, "%s=%s\n", s->env, *(char *const *)(base + s->offset) ? "(set, redacted)" : "");
			break;
		case K_DURATION: {
			char d[32];
			pv_valid_format_duration(d, sizeof(d), *(const long long *)(base + s->offset));
			fprintf(f, "%s=%s\n", s->env, d);
			break;
		}
		case K_INT:
			fprintf(f, "%s=%lld\n", s->env, *(const long long *)(base + s->offset));
			break;
		case K_BOOL:
			fprintf(f, "%s=%s\n", s->env, *(const int *)(base + s->offset) ? "true" : "false");
			break;
		case K_LOGLEVEL: {
			static const char *names[] = { "debug", "info", "warn", "error" };
			fprintf(f, "%s=%s\n", s->env, names[cfg->log_level]);
			break;
		}
		case K_LIST:
			fprintf(f, "%s=", s->env);
			for (size_t j = 0; j < cfg->reserved_count; j++)
				fprintf(f, "%s%s", j ? "," : "", cfg->reserved[j]);
			fputc('\n', f);
			break;
		}
	}
}

void pv_config_usage(FILE *f)
{
	fprintf(f, "usage: previewd [--check-config] [--OPTION VALUE ...]\n"
		   "       previewd token create NAME --role reader|writer|admin | list | revoke NAME\n"
		   "       previewd recover [--adopt-foreign]\n"
		   "                                      rebuild the database from this instance's previewd.json files in\n"
		   "                                      Git; --adopt-foreign also those of other instances or versions\n"
		   "       previewd print-applicationset  the ApplicationSet matching this configuration\n"
		   "       previewd check                 contact the Git remote: reachability, credentials, branch,\n"
		   "                                      env dir and base, one line each (also --check-config --online)\n\n"
		   "Every option can also be set by its environment variable.\n\n");
	for (size_t i = 0; i < NSETTINGS; i++)
		fprintf(f, "  --%-22s %-30s %s%s%s%s\n", settings[i].flag, settings[i].env, settings[i].help,
			settings[i].def && *settings[i].def ? " [" : "", settings[i].def && *settings[i].def ? settings[i].def : "",
			settings[i].def && *settings[i].def ? "]" : "");
	fprintf(f, "\n  --check-config, -n          validate the configuration and exit\n"
		   "  --help, --version\n");
}

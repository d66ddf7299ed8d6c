/*
 * config.h - previewd's configuration: one table of settings, each read from
 * an environment variable and overridable by a command-line flag.
 *
 * The main thread fills a struct pv_config once at start-up; afterwards it is
 * read-only and every thread may read it without locking.  Secrets
 * (git_password) are held here and nowhere else; pv_config_dump() prints
 * them redacted, and the userinfo of every URL too.  A secret given as a
 * flag is overwritten in argv once copied, so that /proc/PID/cmdline does
 * not show it.
 */
#ifndef PV_CONFIG_H
#define PV_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"
#include "log.h"
#include "schedule.h"

struct pv_cost_model;

struct pv_config {
	char *listen;            /* "host:port" as given */
	char *listen_host;       /* parsed host, numeric IPv4/IPv6 */
	unsigned short listen_port;
	char *data_dir;          /* absolute path */
	char *git_url;           /* remote URL; defaults to file://<data_dir>/gitops.git */
	int git_url_is_default;  /* the embedded local repository is ours to create and seed */
	char *git_branch;
	char *env_dir;           /* folder in the repository holding env folders, no trailing '/' */
	char *base_env;
	char *domain;
	long long default_ttl;   /* seconds */
	long long max_ttl;       /* seconds */
	char *git_username;
	char *git_password;      /* secret: from PREVIEWD_GIT_PASSWORD or the file */
	char *git_password_file;
	char *git_ssh_key;       /* private key path for ssh:// remotes */
	char *git_ssh_pubkey;
	char *git_ssh_passphrase;/* secret */
	char *git_proxy;         /* PREVIEWD_GIT_PROXY; "" = from the environment (outbound.h) */
	char *git_ca_file;       /* PEM CAs trusted for Git besides the system store; "" = none */
	char *ca_file;           /* the same for notifications and Argo CD */
	char *git_author_name;
	char *git_author_email;
	char **reserved;         /* extra reserved names; entries ending in '*' are prefixes */
	size_t reserved_count;
	long long wait_ms;       /* how long a write waits for its push before answering 202 */
	long long max_body;      /* bytes */
	long long max_hook_body; /* bytes, for /v1/hooks/ */
	long long http_threads;
	long long max_values_bytes;
	int values_strict;        /* values must fit their base: known keys, same shapes */
	long long repack_every;  /* commits between local repacks of the clone */
	long long push_backoff_max_ms;
	long long git_timeout;   /* seconds a whole fetch or push may take */
	long long git_poll;      /* seconds between fetches of an idle writer; 0 = only when needed */
	char *on_drift;          /* restore | accept: what a change made outside previewd does */
	enum pv_log_level log_level;
	/* lifecycle */
	long long min_ttl;       /* seconds */
	long long max_lifetime;  /* seconds from creation that extensions may not pass; 0 = no cap */
	int allow_never;         /* ttl "never" accepted */
	char *warn_before;       /* "1h,10m" as given */
	long long warn_leads[8]; /* parsed, seconds, descending */
	size_t warn_count;
	long long reap_hold;       /* more than this many overdue at once are held; 0 = never */
	long long reap_hold_after; /* seconds past its expiry that make an environment overdue */
	long long retention;       /* seconds ended records, keys and delivered notifications are kept; 0 = forever */
	char *sleep_values;        /* JSON merge patch of a sleeping environment (checked to be an object) */
	int sleep_pauses_ttl;      /* a sleeping environment's TTL stands still */
	/* sleeping on a schedule and when idle (sleeper.h) */
	char *sleep_schedule;      /* PREVIEWD_SLEEP_SCHEDULE as given; "" = none */
	struct pv_schedule schedule; /* parsed */
	char *timezone;            /* IANA zone the schedules are read in */
	long long idle_sleep;      /* seconds without activity before sleeping; 0 = off */
	char *prometheus_url;      /* "" = activity is previewd's own writes only */
	char *activity_query;      /* PromQL template: {namespaces}, {window} */
	long long activity_window; /* seconds, the {window} */
	long long activity_poll;   /* seconds between Prometheus queries */
	/* notifications */
	char *webhook_url;       /* "" = notifications off */
	char *webhook_format;    /* json | slack | mattermost | teams */
	char *webhook_secret;    /* secret: HMAC-SHA256 key */
	char *webhook_secret_file;
	long long webhook_timeout_ms;
	long long webhook_backoff_max; /* seconds */
	char *public_url;        /* how users reach previewd, for "how to extend" hints */
	/* Argo CD */
	char *argocd_webhook_url;   /* comma-separated list; "" = off */
	char *argocd_webhook_secret;/* secret: GitHub-style X-Hub-Signature-256 */
	char *argocd_webhook_secret_file;
	char *argocd_repo_url;      /* the repository URL as Argo CD knows it (default: git_url) */
	char *argocd_url;           /* Argo CD API server; "" = no status reading */
	char *argocd_token;         /* secret */
	char *argocd_token_file;
	char *argocd_selector;      /* label selector sent with every read of Applications */
	long long argocd_poll;      /* seconds between full status reads */
	char *slack_signing_secret;     /* secret; "" = /v1/chatops/slack off */
	char *slack_signing_secret_file;
	/* chat buttons (chatact.h) */
	char *chat_extend_amounts;      /* "4h,1d" as given */
	long long chat_extend[4];       /* parsed, seconds, in the order given */
	size_t chat_extend_count;
	int chatops_anyone;             /* any chat user may press any environment's buttons */
	char *slack_users;              /* file of "SLACK_USER_ID owner" lines; "" = by Slack user name */
	char *slack_response_url_prefix;/* the only place response_url replies go */
	char *chatops_action_secret;    /* secret signing Mattermost action contexts; derived when unset */
	char *chatops_action_secret_file;
	char *git_webhook_secret;       /* secret; "" = /v1/hooks/... off */
	char *git_webhook_secret_file;
	char *pr_rules;                 /* PREVIEWD_PR_RULES: the file; "" = none (prrules.h) */
	/* status on pull requests (forge.h); a forge with no token is off */
	char *github_api_url;           /* no trailing '/' */
	char *github_token;             /* secret */
	char *github_token_file;
	char *gitlab_url;
	char *gitlab_token;             /* secret */
	char *gitlab_token_file;
	char *gitea_url;
	char *gitea_token;              /* secret */
	char *gitea_token_file;
	char *default_cluster;      /* written to previewd.json when a request names none; "" = none */
	char *cors_origins;         /* "*" or a comma-separated list; "" = no CORS */
	char *trusted_proxies;      /* addresses and CIDR blocks whose X-Forwarded-For counts (peer.h); "" = none */
	int log_json;               /* one JSON object per line */
	/* limits */
	long long max_envs_per_owner; /* live environments per owner, 0 = no limit */
	long long max_envs;           /* live environments in total, 0 = no limit */
	long long create_rate;        /* creates a minute per token or client address, 0 = no limit */
	long long create_burst;       /* the bucket: creates at once */
	long long max_conn_per_ip;
	long long max_connections;
	long long conn_timeout;       /* seconds of inactivity before a connection is closed */
	/* cost (cost.h) */
	char *cost_rates;             /* "cpu=0.04,memory=0.005" as given; "" = no cost shown */
	char *cost_paths;
	char *cost_components;
	struct pv_cost_model *cost;   /* parsed; NULL when cost_rates is "" */
	char *opencost_url;           /* OpenCost's API; "" = estimates only (opencost.h) */
	long long opencost_interval;  /* seconds between its reads */
	long long max_streams;        /* open event streams (stream.h) */
	int check_only;          /* --check-config */
};

/*
 * Fill *out from the environment (envp-style lookups via getenv) and argv.
 * On error returns PV_EINVAL with a message naming the variable or flag.
 * out is zeroed first; free with pv_config_dispose().
 * Sets *want_help and *want_version when those flags are given.  The
 * values of secret flags (--git-password ...) are overwritten in argv.
 */
int pv_config_load(struct pv_config *out, int argc, char **argv, int *want_help, int *want_version) PV_WARN_UNUSED;

void pv_config_dispose(struct pv_config *cfg);

/* Print every setting, secrets redacted, as "NAME=value" lines. */
void pv_config_dump(const struct pv_config *cfg, FILE *f);

/* Print the usage text, generated from the table. */
void pv_config_usage(FILE *f);

#endif

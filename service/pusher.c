/*
 * pusher.c - fetch and push with libgit2 (see the DESIGN comment in
 * pusher.h).
 */
#include "pusher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gitdeadline.h"
#include "gitstream.h"
#include "outbound.h"
#include "strbuf.h"
#include "url.h"

#define STREAM_TIMEOUT_S 60 /* a silent server fails the round after this long */

/* What libgit2's callbacks learn during one fetch or push. */
struct xfer {
	const struct pv_config *cfg;
	int cred_calls;
	const char *cred_error;  /* why the credential callback gave up */
	char refused_url[300];   /* the server asking for credentials it does not get */
	int rejected;
	int declined;            /* the server's policy (a hook) refused the reference */
	char reject_msg[512];
	struct pv_strbuf remote; /* what the server said on the progress channel ("remote: ...") */
};

/* The server's own words, as much as a reason needs: a hook's message */
#define REMOTE_TEXT_MAX 1024

static int cred_cb(git_credential **out, const char *url, const char *user_from_url, unsigned int allowed,
	void *payload)
{
	struct xfer *x = payload;
	const struct pv_config *cfg = x->cfg;
	char url_user[256], url_pass[256];
	const char *user, *password;
	int error;

	/* the credentials are the configured server's: a server a redirect
	 * leads to gets none, whatever it answers */
	if (!pv_url_same_server(url, cfg->git_url)) {
		pv_url_redact(x->refused_url, sizeof(x->refused_url), url ? url : "(no URL)");
		x->cred_error = "credentials refused to a server other than PREVIEWD_GIT_URL's";
		return GIT_EAUTH;
	}
	/* over http(s) libgit2 gets the URL without its userinfo
	 * (pv_gitrepo_remote_url): it is read here.  The user written in the
	 * URL wins: over SSH libgit2 refuses a second, different name for the
	 * same connection. */
	pv_url_userinfo(cfg->git_url, url_user, sizeof(url_user), url_pass, sizeof(url_pass), NULL, 0);
	user = user_from_url && *user_from_url ? user_from_url
	       : *url_user			? url_user
	       : cfg->git_username && *cfg->git_username ? cfg->git_username : "git";
	password = *url_pass ? url_pass : cfg->git_password;
	/* over SSH without a user in the URL, libgit2 first asks for the user
	 * name alone; that is not an attempt to authenticate */
	if (allowed == GIT_CREDENTIAL_USERNAME) {
		error = git_credential_username_new(out, user);
		goto out;
	}
	/* libgit2 asks again after every refusal: one try, then give up */
	if (x->cred_calls++ > 0) {
		x->cred_error = "the Git server refused previewd's credentials";
		error = GIT_EAUTH;
	} else if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && password) {
		error = git_credential_userpass_plaintext_new(out, user, password);
	} else if ((allowed & GIT_CREDENTIAL_SSH_KEY) && cfg->git_ssh_key) {
		error = git_credential_ssh_key_new(out, user, cfg->git_ssh_pubkey, cfg->git_ssh_key,
			cfg->git_ssh_passphrase);
	} else if (allowed & GIT_CREDENTIAL_USERNAME) {
		error = git_credential_username_new(out, user);
	} else {
		x->cred_error = "the Git server wants credentials and none are configured";
		error = GIT_EAUTH;
	}
out:
	memset(url_pass, 0, sizeof(url_pass));
	return error;
}

static int push_ref_cb(const char *refname, const char *status, void *payload)
{
	struct xfer *x = payload;

	/* git_remote_push returns 0 even when the server refused the ref: this
	 * per-reference status is the only place a rejection shows */
	if (status) {
		x->rejected = 1;
		/* "pre-receive hook declined", "protected branch hook declined" */
		x->declined = strstr(status, "declined") != NULL;
		snprintf(x->reject_msg, sizeof(x->reject_msg), "%s rejected: %s", refname, status);
	}
	return 0;
}

/* The progress channel carries a hook's output (what git prints as
 * "remote: ..."); kept, newlines and all, up to REMOTE_TEXT_MAX bytes: more
 * is dropped, the reason does not need it. */
static int sideband_cb(const char *str, int len, void *payload)
{
	struct xfer *x = payload;
	int error;

	if (pv_gitdeadline_passed())
		return -1;
	error = len > 0 ? pv_strbuf_add(&x->remote, str, (size_t)len) : 0;

	/* over the cap the text stays as it was: its start is the reason */
	return error == PV_ETOOBIG ? 0 : error;
}

/* The server's words as one line: each line trimmed, "; " between, none of
 * git's own progress counters ("Resolving deltas: 100% ...") */
static void remote_words(struct xfer *x, char *out, size_t len)
{
	size_t n = 0, used = 0;
	char *text = pv_strbuf_take(&x->remote, &n), *line, *save = NULL;

	out[0] = '\0';
	if (!text)
		return;
	for (line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		size_t l;
		int k;

		while (*line == ' ' || *line == '\t')
			line++;
		l = strlen(line);
		while (l > 0 && (line[l - 1] == ' ' || line[l - 1] == '\t'))
			line[--l] = '\0';
		if (l == 0 || strstr(line, "% (") || strncmp(line, "Resolving deltas", 16) == 0)
			continue;
		k = snprintf(out + used, len - used, "%s%s", used ? "; " : "", line);
		if (k < 0 || (size_t)k >= len - used)
			break;
		used += (size_t)k;
	}
	free(text);
}

/* The progress callbacks end an operation past PREVIEWD_GIT_TIMEOUT where
 * no stream of ours reads (ssh://, file://); gitstream.c checks on every
 * read and write of the others. */
static int fetch_progress_cb(const git_indexer_progress *stats, void *payload)
{
	(void)stats;
	(void)payload;
	return pv_gitdeadline_passed() ? -1 : 0;
}

static int push_progress_cb(unsigned int current, unsigned int total, size_t bytes, void *payload)
{
	(void)current;
	(void)total;
	(void)bytes;
	(void)payload;
	return pv_gitdeadline_passed() ? -1 : 0;
}

static void fill_callbacks(git_remote_callbacks *cb, struct xfer *x)
{
	cb->credentials = cred_cb;
	cb->push_update_reference = push_ref_cb;
	cb->sideband_progress = sideband_cb;
	cb->transfer_progress = fetch_progress_cb;
	cb->push_transfer_progress = push_progress_cb;
	cb->payload = x;
}

/* the callbacks share one payload, the xfer */
static int cert_cb(git_cert *cert, int valid, const char *host, void *payload)
{
	struct xfer *x = payload;

	return pv_outbound_git_cert_check(cert, valid, host, (void *)x->cfg);
}

/* outbound.h's policy for this fetch or push: the proxy (proxy holds its
 * URL while opts live) and, over https, the reason an untrusted
 * certificate is refused.  Not over ssh: there the callback would be asked
 * about the host key, which libgit2 checks itself. */
static int outbound_opts(git_remote_callbacks *cb, git_proxy_options *po, char *proxy, size_t len,
	const struct pv_config *cfg)
{
	if (strncmp(cfg->git_url, "https://", 8) == 0)
		cb->certificate_check = cert_cb;
	return pv_outbound_git_proxy(po, proxy, len, cfg);
}

/*
 * "what: why" from the callbacks or from libgit2.  pv_git_fail redacts the
 * userinfo of URLs; what a transport may quote of a secret outside a URL
 * goes here, where the secrets are known.
 */
static int xfer_fail(const struct xfer *x, const char *what)
{
	const struct pv_config *cfg = x->cfg;
	char text[sizeof(pv_error_last()->message)], pass[256], raw[256];
	int code = x->cred_error ? PV_EAUTH : PV_ERROR;

	if (pv_gitdeadline_hit())
		pv_error_set(PV_ERROR, NULL, "%s: the %s took longer than PREVIEWD_GIT_TIMEOUT (%lld s): the Git server is too slow or stuck",
			what, strncmp(what, "fetch", 5) == 0 ? "fetch" : "push", cfg->git_timeout);
	else if (x->cred_error && x->refused_url[0])
		pv_error_set(PV_ERROR, NULL, "%s: %s (%s)", what, x->cred_error, x->refused_url);
	else if (x->cred_error)
		pv_error_set(PV_ERROR, NULL, "%s: %s", what, x->cred_error);
	else
		(void)pv_git_fail(what);
	snprintf(text, sizeof(text), "%s", pv_error_last()->message);
	pv_url_userinfo(cfg->git_url, NULL, 0, pass, sizeof(pass), raw, sizeof(raw));
	pv_url_redact_secret(text, raw);
	pv_url_redact_secret(text, pass);
	pv_url_redact_secret(text, cfg->git_password);
	pv_url_redact_secret(text, cfg->git_ssh_passphrase);
	memset(pass, 0, sizeof(pass));
	memset(raw, 0, sizeof(raw));
	return pv_error_set(code, NULL, "%s", text);
}

/* By default libgit2 follows a redirect of the first request to another
 * server and asks for credentials there (seen: a 302 elsewhere got
 * Authorization: Basic, on every retry).  NONE refuses another host; a
 * redirect to another port of the same host it still follows, which the
 * credential callback's check answers with nothing. */
#define REDIRECTS GIT_REMOTE_REDIRECT_NONE

static int lg_fetch(struct pv_pusher *p, struct pv_gitrepo *repo)
{
	git_fetch_options opts;
	struct xfer x = { .cfg = p->cfg, .remote = PV_STRBUF_INIT_MAX(REMOTE_TEXT_MAX) };
	char proxy[1024];
	int error;

	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	fill_callbacks(&opts.callbacks, &x);
	if ((error = outbound_opts(&opts.callbacks, &opts.proxy_opts, proxy, sizeof(proxy), p->cfg)) < 0)
		return error;
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	opts.prune = GIT_FETCH_NO_PRUNE;
	opts.follow_redirects = REDIRECTS;
	pv_gitdeadline_set("fetch", p->cfg->git_timeout * 1000);
	error = git_remote_fetch(repo->remote, NULL, &opts, NULL);
	pv_gitdeadline_clear();
	pv_strbuf_dispose(&x.remote);
	if (error < 0)
		return xfer_fail(&x, "fetch");
	return pv_gitrepo_read_tracking(repo);
}

static enum pv_push_result lg_push(struct pv_pusher *p, struct pv_gitrepo *repo, const git_oid *tip,
	const git_oid *commit, const struct pv_oidlist *objects)
{
	git_push_options opts;
	struct xfer x = { .cfg = p->cfg, .remote = PV_STRBUF_INIT_MAX(REMOTE_TEXT_MAX) };
	char local[300], spec[700], *specs[1];
	git_strarray refspecs = { specs, 1 };
	git_reference *ref = NULL;
	char what[600], shown[512], words[512], proxy[1024];
	enum pv_push_result result = PV_PUSH_OK;
	int error;

	/* libgit2 finds both itself: it asks the server for its tip and packs
	 * what the server lacks */
	(void)tip;
	(void)objects;
	git_push_options_init(&opts, GIT_PUSH_OPTIONS_VERSION);
	/* the local branch is only the push source; it never diverges from what
	 * we believe the remote has plus this one commit */
	snprintf(local, sizeof(local), "refs/heads/%s", p->cfg->git_branch);
	if (git_reference_create(&ref, repo->repo, local, commit, 1, "previewd: outgoing") < 0) {
		(void)pv_git_fail("updating the local branch");
		return PV_PUSH_FAILED;
	}
	git_reference_free(ref);
	snprintf(spec, sizeof(spec), "%s:%s", local, local); /* no '+': never force */
	specs[0] = spec;
	fill_callbacks(&opts.callbacks, &x);
	if (outbound_opts(&opts.callbacks, &opts.proxy_opts, proxy, sizeof(proxy), p->cfg) < 0)
		return PV_PUSH_FAILED;
	opts.follow_redirects = REDIRECTS;
	/* libgit2 finds what to send by reading every folder tree of the old
	 * commit and of the new one, and keeps them in its object cache.  With
	 * the cache off for the push, peak RSS at 10,000 environments fell from
	 * 39.9 to 32.7 MiB, but sequential creates there went from 99 to 126 ms
	 * p50 and 64 clients from 658 to 419 envs/s (bench/run.sh, same
	 * machine): the latency is what users feel, so the cache stays on. */
	pv_gitdeadline_set("push", p->cfg->git_timeout * 1000);
	error = git_remote_push(repo->remote, &refspecs, &opts);
	pv_gitdeadline_clear();
	if (error == 0 && x.declined) {
		/* a policy, not a race: fetching and rebuilding would be declined
		 * again, so it is a failure (backoff, the reason on the rows) */
		remote_words(&x, words, sizeof(words));
		pv_error_set(PV_ECONFLICT, NULL, "%s%s%s", x.reject_msg, words[0] ? ": " : "", words);
		result = PV_PUSH_FAILED;
	} else if (error == GIT_ENONFASTFORWARD || (error == 0 && x.rejected)) {
		pv_error_set(PV_ECONFLICT, NULL, "%s", x.rejected ? x.reject_msg : "non-fast-forward");
		result = PV_PUSH_REJECTED;
	} else if (error < 0) {
		pv_url_redact(shown, sizeof(shown), p->cfg->git_url);
		snprintf(what, sizeof(what), "push to %s failed", shown);
		(void)xfer_fail(&x, what);
		result = PV_PUSH_FAILED;
	}
	pv_strbuf_dispose(&x.remote);
	return result;
}

static void lg_free(struct pv_pusher *p)
{
	free(p);
}

static const struct pv_pusher_ops libgit2_ops = { lg_fetch, lg_push, lg_free };

/* plain http and git:// run on a socket stream; https runs TLS over one */
static int uses_socket_stream(const char *url)
{
	return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0 || strncmp(url, "git://", 6) == 0;
}

int pv_pusher_new(struct pv_pusher **out, const struct pv_config *cfg)
{
	struct pv_pusher *p;
	int error;

	*out = NULL;
	/* not for ssh://: libgit2's SSH transport takes the socket out of the
	 * stream it gets, which only its own stream allows */
	/* a silent server waits out no more than the whole operation may take */
	if (uses_socket_stream(cfg->git_url) &&
	    (error = pv_gitstream_register(cfg->git_timeout < STREAM_TIMEOUT_S ? (int)cfg->git_timeout : STREAM_TIMEOUT_S)) < 0)
		return error;
	if ((error = pv_outbound_git_init(cfg)) < 0)
		return error;
	if (!(p = calloc(1, sizeof(*p))))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	p->ops = &libgit2_ops;
	p->cfg = cfg;
	*out = p;
	return 0;
}

void pv_pusher_free(struct pv_pusher *p)
{
	if (p)
		p->ops->free(p);
}

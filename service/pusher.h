/*
 * pusher.h - how the Git writer talks to the Git server: fetch the branch,
 * push one commit on it.
 *
 * DESIGN
 *
 * The interface is two operations, so that a round reads as plan, commit,
 * push, record whatever carries the bytes:
 *
 *	fetch(repo)                       -> 0 | pv_error
 *	push(repo, tip, commit, objects)  -> ok | rejected(reason) | failed(reason)
 *
 * A rejection (non-fast-forward, a racing writer, a lock on the server)
 * proves the server answers; the writer then fetches, rebuilds the same
 * desired state on the new tip and pushes again.  A failure (transport,
 * credentials) is retried with backoff.  A reference the server's policy
 * declines (a pre-receive or protected-branch hook) is a failure, not a
 * rejection: a fresh fetch changes nothing about a policy, and as a failure
 * its reason - the reference's status and the hook's own words from the
 * progress channel - is recorded on the waiting rows and in /readyz.  The reason is in the thread's
 * pv_error slot either way.
 *
 * The one implementation is libgit2's own push, the reference
 * implementation of the smart protocol for http(s), ssh and file remotes:
 * it discovers the refs, sends a pack of what the server lacks, and reports
 * each reference's status, which is where a rejection shows (the push
 * itself returns 0).  A hand-written one-request push over http(s) measured
 * 1.08x faster sequentially and slower with 64 clients, so it went.  Over
 * plain http and git:// the socket is gitstream.h's (TCP_NODELAY, timeouts),
 * registered by pv_pusher_new.  libgit2's push reads every folder tree of
 * the old and the new commit to find what to send; the push runs with
 * libgit2's object cache off, so that those trees do not stay resident
 * (memory over latency: see pusher.c).
 *
 * Credentials come from the configuration through libgit2's callback, after
 * the server asks: sending them up front as a custom header would save that
 * round trip, but libgit2 1.5 leaks its copy of custom headers when a fetch
 * or push fails.  They go to PREVIEWD_GIT_URL's server only: fetch and push
 * follow no redirect to another server (libgit2 would take the URL's
 * credentials along), and the callback refuses a request from any other
 * server (url.h's pv_url_same_server).  A failure's reason has every
 * configured secret redacted, as /readyz and git.error show it.
 *
 * A whole fetch or push has a deadline, PREVIEWD_GIT_TIMEOUT
 * (gitdeadline.h), beyond the stream's per-read timeout: a server that
 * answers one byte a second ends the operation there, with an error that
 * names the setting.  A failure the credentials explain is PV_EAUTH, any
 * other PV_ERROR (`previewd check` tells the two apart).
 *
 * The Git writer thread uses a pusher, or `previewd recover` or `previewd
 * check` on the main thread; one thread at a time.
 */
#ifndef PV_PUSHER_H
#define PV_PUSHER_H

#include <git2.h>

#include "config.h"
#include "error.h"
#include "gitrepo.h"

enum pv_push_result {
	PV_PUSH_OK = 0,
	PV_PUSH_REJECTED = 1,  /* the server answered no; pv_error_last() says why */
	PV_PUSH_FAILED = 2     /* it could not be asked; pv_error_last() says why */
};

struct pv_pusher;

struct pv_pusher_ops {
	/* Bring the remote branch into repo's tracking ref and set repo->tip. */
	int (*fetch)(struct pv_pusher *p, struct pv_gitrepo *repo);
	/* Make commit (whose parent is tip, zero for a root commit) the remote
	 * branch, without force; objects are what commit adds to tip. */
	enum pv_push_result (*push)(struct pv_pusher *p, struct pv_gitrepo *repo, const git_oid *tip,
		const git_oid *commit, const struct pv_oidlist *objects);
	void (*free)(struct pv_pusher *p);
};

struct pv_pusher {
	const struct pv_pusher_ops *ops;
	const struct pv_config *cfg;
};

/* libgit2's push for cfg->git_url.  cfg must outlive the pusher. */
int pv_pusher_new(struct pv_pusher **out, const struct pv_config *cfg) PV_WARN_UNUSED;

static inline int pv_pusher_fetch(struct pv_pusher *p, struct pv_gitrepo *repo)
{
	return p->ops->fetch(p, repo);
}

static inline enum pv_push_result pv_pusher_push(struct pv_pusher *p, struct pv_gitrepo *repo, const git_oid *tip,
	const git_oid *commit, const struct pv_oidlist *objects)
{
	return p->ops->push(p, repo, tip, commit, objects);
}

/* NULL is fine. */
void pv_pusher_free(struct pv_pusher *p);

#endif

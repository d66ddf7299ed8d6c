/*
 * smartpush.h - pushing one commit over smart HTTP(S) in one request.
 *
 * libgit2's push asks the server for its refs first (and, behind basic
 * auth, is refused once before it sends credentials), then builds its pack
 * by marking every object of the remote's tree as already there: with N
 * environments that is N folder trees read and inflated per push.  The Git
 * writer knows the remote's tip and exactly which objects a round created,
 * so it builds the pack itself (libgit2's packbuilder, fed object by object)
 * and hands it here, and this module sends the ref update and the pack to
 * git-receive-pack in a single POST with the credentials up front.
 *
 * A stale tip costs nothing: receive-pack refuses an update whose old value
 * is not the ref's value, and the writer then fetches and rebuilds, as it
 * does for any rejection.
 *
 * Owned by the Git writer thread; not shared.
 */
#ifndef PV_SMARTPUSH_H
#define PV_SMARTPUSH_H

#include <stddef.h>

#include "error.h"

enum pv_smartpush_result {
	PV_SMARTPUSH_OK,          /* the server moved the ref */
	PV_SMARTPUSH_REJECTED,    /* the server refused the ref update (stale tip, hook, lock) */
	PV_SMARTPUSH_FAILED,      /* transport, credentials, a server error: retry later */
	PV_SMARTPUSH_UNSUPPORTED  /* the server does not speak this way: push with libgit2 instead */
};

struct pv_smartpush;

/* 1 when url is an http:// or https:// URL this module can push to. */
int pv_smartpush_handles(const char *url);

/* A pusher for the repository at url (its credentials, if any, in the URL
 * or in username/password; both copied).  timeout_s bounds every request. */
int pv_smartpush_new(struct pv_smartpush **out, const char *url, const char *username,
	const char *password, long timeout_s) PV_WARN_UNUSED;

void pv_smartpush_free(struct pv_smartpush *sp);

/* Ask the server to move refname from old_hex to new_hex (40 hex digits
 * each), sending pack (a complete pack file holding every object the server
 * lacks).  msg receives a one-line reason for anything but OK. */
enum pv_smartpush_result pv_smartpush_send(struct pv_smartpush *sp, const char *refname, const char *old_hex,
	const char *new_hex, const void *pack, size_t pack_len, char *msg, size_t msglen);

/* Read receive-pack's report-status answer (pkt-lines) for refname.  Exposed
 * for the unit tests and the fuzzer: the body comes from the network. */
enum pv_smartpush_result pv_smartpush_parse_report(const char *body, size_t len, const char *refname, char *msg,
	size_t msglen);

#endif

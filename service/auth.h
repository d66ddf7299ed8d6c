/*
 * auth.h - API tokens: creation (shown once, stored as a SHA-256 hash),
 * checking a request's Authorization header, and the `previewd token` CLI.
 *
 * A token reads "pvd_<lookup>_<secret>": the 8 hex digits of <lookup> find
 * its row, then the SHA-256 of the whole token is compared in constant time
 * with the stored hash.  The token itself is never stored or logged.
 *
 * With no token configured, previewd is "open" but answers only loopback
 * clients; once any token exists every /v1 route needs one.
 *
 * Threads: any; each call uses the store connection it is given.
 */
#ifndef PV_AUTH_H
#define PV_AUTH_H

#include <stddef.h>

#include "error.h"
#include "store.h"

enum pv_role { PV_ROLE_NONE = 0, PV_ROLE_READER = 1, PV_ROLE_WRITER = 2, PV_ROLE_ADMIN = 3 };

/* "reader", "writer", "admin" -> role; PV_ROLE_NONE for anything else. */
enum pv_role pv_auth_role(const char *name);

/* Create a token; its text goes to out (at least 96 bytes). */
int pv_auth_token_create(struct pv_store *st, const char *name, const char *role, char *out, size_t len) PV_WARN_UNUSED;

/*
 * Who is asking.  authorization is the header (may be NULL), remote the
 * client address.  On success *actor_out (actor_len bytes) is the token's
 * name, or "anonymous" in open mode, and *role its role.  PV_EAUTH when the
 * credentials are missing, malformed, unknown or revoked.
 */
int pv_auth_check(struct pv_store *st, const char *authorization, const char *remote,
	char *actor_out, size_t actor_len, enum pv_role *role) PV_WARN_UNUSED;

/* 1 if addr is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.x.x). */
int pv_auth_is_loopback(const char *addr);

/* `previewd token create NAME --role ROLE | list | revoke NAME`; returns
 * the process exit status. */
int pv_auth_cli(int argc, char **argv, const char *db_path);

#endif

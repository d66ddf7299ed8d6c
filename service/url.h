/*
 * url.h - what previewd may show of a URL, and whose server a URL names.
 *
 * DESIGN
 *
 * A URL's userinfo ("user:password@") is a credential: the project's own
 * test helper and many a deployment put the Git password there.  Nothing
 * previewd prints or answers (logs, --check-config, /readyz, an
 * environment's git.error) may carry it, so every such string passes
 * through pv_url_redact, which rewrites the userinfo of every URL in a text
 * to "***" and leaves the rest as it was: a reader still sees which server
 * and repository an error is about.  Errors from libgit2 are redacted where
 * they become pv errors (gitrepo.c, pusher.c); the rest at the place they
 * are printed.
 *
 * Credentials go only to the server they were configured for.
 * pv_url_same_server compares what identifies that server (scheme, host,
 * port, the default port filled in), so that a redirect or a credential
 * request naming another server gets nothing.
 *
 * Pure functions over strings; any thread.
 */
#ifndef PV_URL_H
#define PV_URL_H

#include <stddef.h>

#define PV_URL_REDACTED "***"

/*
 * text into out (at most len bytes with the NUL, truncated like snprintf),
 * the userinfo of every "scheme://userinfo@host" in it replaced by
 * PV_URL_REDACTED.  Text without URLs comes out unchanged.
 */
void pv_url_redact(char *out, size_t len, const char *text);

/* The same in place, within the size bytes of s. */
void pv_url_redact_inplace(char *s, size_t size);

/* url into out without its userinfo ("https://host/x"): the form given to
 * other systems, which must not learn the credentials either. */
void pv_url_strip_userinfo(char *out, size_t len, const char *url);

/*
 * Every occurrence of secret in s replaced by
 * PV_URL_REDACTED; secrets shorter than 3 bytes are left alone, as they
 * would match everywhere.  For texts that may quote a password outside a
 * URL (libgit2's errors).
 */
void pv_url_redact_secret(char *s, const char *secret);

/*
 * The user name and the password of url's userinfo, percent-decoded as a
 * client sends them, into user and pass ("" for what is absent; either may
 * be NULL).  raw_pass, when not NULL, gets the password as written.
 */
void pv_url_userinfo(const char *url, char *user, size_t user_len, char *pass, size_t pass_len, char *raw_pass,
	size_t raw_len);

/*
 * 1 when a and b name the same server: same scheme (case-insensitive), host
 * (case-insensitive) and port (the scheme's default when absent).  The
 * scp-like "user@host:path" form counts as ssh on port 22.  0 otherwise,
 * and for anything that does not parse.
 */
int pv_url_same_server(const char *a, const char *b);

#endif

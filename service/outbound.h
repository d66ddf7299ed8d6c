/*
 * outbound.h - the one policy for connections previewd makes: Git fetch and
 * push (libgit2), notifications and Argo CD (libcurl).
 *
 * DESIGN (DESIGN.md, "Outbound connections")
 *
 * Proxy.  For an http:// or https:// URL, pv_outbound_proxy chooses:
 *   1. none, when no_proxy (or NO_PROXY) names the URL's host;
 *   2. else the explicit setting (PREVIEWD_GIT_PROXY, for Git only);
 *   3. else https_proxy/HTTPS_PROXY for https, http_proxy for http (only
 *      the lower-case one, as curl does: HTTP_PROXY can be set by a CGI
 *      request header).
 * A proxy written without a scheme ("proxy:3128") is http://.  no_proxy is
 * a list separated by commas or blanks; each entry is "*" (every host), a
 * name ("example.com" and ".example.com" both match example.com and every
 * name under it, as curl reads them), an IP literal (IPv6 with or without
 * brackets) or a CIDR block (10.0.0.0/8), optionally with ":PORT", which
 * then matches that port only.  Names compare without case and without a
 * trailing dot; an IP literal host matches only IP entries.  Other URL
 * schemes (ssh, git://, file) never use a proxy.
 *
 * previewd resolves the proxy itself and hands libcurl and libgit2 the
 * answer (CURLOPT_PROXY, GIT_PROXY_SPECIFIED or GIT_PROXY_NONE), so that
 * both follow this one rule: libcurl would read the variables itself, and
 * libgit2 1.5's GIT_PROXY_AUTO does read https_proxy/http_proxy and
 * no_proxy, but also git config's http.proxy and matches no_proxy its own
 * way.  Plain http:// through a proxy is a request line with the absolute
 * URI on a connection to the proxy; libgit2 1.5 writes that request line
 * but opens the connection to the Git server itself, so gitstream.c sends
 * the connection to the proxy (pv_gitstream_via), a new one for each
 * request (gitstream.c says why).  https:// is a CONNECT
 * tunnel, which libgit2 opens through the same stream.
 *
 * Trust.  TLS is verified against the system store plus an optional CA
 * file in PEM: PREVIEWD_GIT_CA_FILE for Git, PREVIEWD_CA_FILE for
 * notifications and Argo CD.  Both files are read at start
 * (pv_outbound_check_ca_file) so a wrong path fails --check-config, not
 * the first push.
 *   - libcurl (OpenSSL): CURLOPT_CAINFO replaces the bundle, so the file
 *     goes there and CURLOPT_CAPATH names the system directory
 *     (/etc/ssl/certs, hashed): OpenSSL consults both.
 *   - libgit2 1.5 on Debian is built with mbedTLS, whose
 *     GIT_OPT_SET_SSL_CERT_LOCATIONS replaces the chain it loaded at
 *     start; given a file and a directory it parses both into one chain, so
 *     previewd passes the CA file and the system directory.
 * An untrusted certificate fails the connection.  For Git, when mbedTLS
 * refuses, the certificate_check callback (pv_outbound_git_cert_check) has
 * OpenSSL verify the same certificate against the same trust, with the
 * URL's host name or IP address: mbedTLS 2.28 cannot match an IP address
 * in subjectAltName, so https://10.1.2.3/ would never verify there.  If
 * OpenSSL accepts, so does previewd (the handshake already proved the
 * server holds the key); if not, the reason is "TLS certificate of HOST
 * not trusted: WHY", WHY in OpenSSL's words (libgit2 drops mbedTLS's own
 * before the callback runs).  libgit2 hands over the server's certificate
 * alone, so a server whose chain needs an intermediate that is not in the
 * trusted files verifies by name (mbedTLS) but not by IP address.  For libcurl the reason is curl's
 * error buffer (pv_outbound_curl_strerror).
 *
 * Timeouts stay where they are set (gitstream.c for Git, each curl user for
 * its own), and so does the rule that credentials go only to their host
 * (pusher.c, notify.c, argocd.c: no redirects followed).
 *
 * Everything here reads only the environment and the configuration, which
 * do not change after start: any thread.
 */
#ifndef PV_OUTBOUND_H
#define PV_OUTBOUND_H

#include <curl/curl.h>
#include <git2.h>
#include <stddef.h>

#include "config.h"
#include "error.h"

/* the system store's directory of hashed certificates */
#define PV_OUTBOUND_SYSTEM_CA_DIR "/etc/ssl/certs"

/*
 * 1 when the comma or blank separated list no_proxy names host (as in a
 * URL: brackets around an IPv6 literal allowed) at port, else 0.
 */
int pv_outbound_no_proxy_match(const char *no_proxy, const char *host, int port);

/*
 * The proxy URL for url into out ("" for a direct connection).  explicit_proxy
 * (NULL or "" for none) wins over the environment.  PV_EINVAL when the
 * answer does not fit in len.
 */
int pv_outbound_proxy(char *out, size_t len, const char *url, const char *explicit_proxy) PV_WARN_UNUSED;

/* 0 when path is a readable file holding at least one PEM certificate,
 * else PV_EINVAL naming setting. */
int pv_outbound_check_ca_file(const char *path, const char *setting) PV_WARN_UNUSED;

/* 0 when proxy is a URL libgit2 can use as a proxy (http:// or https://,
 * or host:port), else PV_EINVAL naming PREVIEWD_GIT_PROXY. */
int pv_outbound_check_git_proxy(const char *proxy) PV_WARN_UNUSED;

/* Proxy, CA file and error buffer for one request to url on h (after
 * curl_easy_reset). */
int pv_outbound_curl(CURL *h, const char *url, const struct pv_config *cfg) PV_WARN_UNUSED;

struct pv_strbuf;

/*
 * One GET of url on h under the policy above: http(s) only, no redirect
 * followed (credentials in the URL are that host's), the body into out
 * (its cap applies: a larger answer fails).  0 with *status the HTTP
 * status, whatever it is; PV_EUNAVAIL when no answer came, the message
 * curl's reason (pv_outbound_curl_strerror).  Callers say which service.
 */
int pv_outbound_get(CURL *h, const char *url, const struct pv_config *cfg, long timeout_ms, long connect_ms,
	struct pv_strbuf *out, long *status) PV_WARN_UNUSED;

/* The reason of the last perform on this thread's handle:
 * "curl_easy_strerror(rc): the error buffer's detail", or the first part
 * alone when the buffer is empty. */
const char *pv_outbound_curl_strerror(CURLcode rc);

/* Process-wide: libgit2's trust (system store plus PREVIEWD_GIT_CA_FILE)
 * and, for an http:// Git URL behind a proxy, gitstream's detour.  After
 * pv_gitstream_register, before the Git writer starts. */
int pv_outbound_git_init(const struct pv_config *cfg) PV_WARN_UNUSED;

/* The Git remote's proxy into po; proxy_buf (len bytes) holds the URL
 * po points to and must live as long as po is used. */
int pv_outbound_git_proxy(git_proxy_options *po, char *proxy_buf, size_t len, const struct pv_config *cfg)
	PV_WARN_UNUSED;

/* libgit2's certificate_check callback; payload is the pv_config. */
int pv_outbound_git_cert_check(git_cert *cert, int valid, const char *host, void *payload);

/* Why OpenSSL refuses the DER certificate der for host, trusting the system
 * store and ca_file (NULL for none): into out, "" when it does not refuse. */
void pv_outbound_cert_reason(char *out, size_t len, const unsigned char *der, size_t der_len, const char *host,
	const char *ca_file);

#endif

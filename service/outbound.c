/*
 * outbound.c - proxy choice, trust and their application to libcurl and
 * libgit2 (see the DESIGN comment in outbound.h).
 */
#include "outbound.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "gitstream.h"
#include "strbuf.h"
#include "url.h"

/* The parts of a URL the policy looks at. */
struct target {
	char scheme[8];
	char host[256]; /* lower case, no brackets, no trailing dot */
	int port;
};

static void lower_trim_dot(char *s)
{
	size_t n = strlen(s);

	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (n > 0 && s[n - 1] == '.')
		s[n - 1] = '\0';
}

/* "[v6]:port", "host:port", "v6", "host" into host and port (0: none) */
static int split_host_port(const char *s, size_t n, char *host, size_t hlen, int *port)
{
	const char *colon = NULL, *end = s + n;
	size_t hn;

	*port = 0;
	if (n > 0 && *s == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return -1;
		hn = (size_t)(close - s - 1);
		if (close + 1 < end && close[1] == ':')
			colon = close + 1;
		s++;
	} else {
		colon = memchr(s, ':', n);
		/* more than one colon: an IPv6 literal without a port */
		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
			colon = NULL;
		hn = colon ? (size_t)(colon - s) : n;
	}
	if (hn == 0 || hn >= hlen)
		return -1;
	memcpy(host, s, hn);
	host[hn] = '\0';
	lower_trim_dot(host);
	if (colon) {
		char *stop;
		long p;
		if (colon + 1 == end)
			return -1;
		p = strtol(colon + 1, &stop, 10);
		if (stop != end || p <= 0 || p > 65535)
			return -1;
		*port = (int)p;
	}
	return 0;
}

static int parse_target(struct target *t, const char *url)
{
	const char *p = strstr(url, "://"), *auth, *end, *at;

	if (!p || (size_t)(p - url) >= sizeof(t->scheme))
		return -1;
	memcpy(t->scheme, url, (size_t)(p - url));
	t->scheme[p - url] = '\0';
	lower_trim_dot(t->scheme);
	auth = p + 3;
	end = auth + strcspn(auth, "/?#");
	/* userinfo may hold '@' only percent-encoded: the last '@' ends it */
	for (at = auth; (p = memchr(at, '@', (size_t)(end - at))); at = p + 1)
		;
	if (split_host_port(at, (size_t)(end - at), t->host, sizeof(t->host), &t->port) < 0)
		return -1;
	if (t->port == 0)
		t->port = strcmp(t->scheme, "https") == 0 ? 443 : 80;
	return 0;
}

/* host inside addr/bits; 0 when not (or either is not an address) */
static int in_block(const char *host, const char *entry, size_t n)
{
	char addr[64], *slash;
	unsigned char a[16], b[16];
	int family, bits, size;
	long v;

	if (n >= sizeof(addr))
		return 0;
	memcpy(addr, entry, n);
	addr[n] = '\0';
	slash = strchr(addr, '/');
	if (slash)
		*slash++ = '\0';
	family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	size = family == AF_INET6 ? 16 : 4;
	if (inet_pton(family, addr, a) != 1 || inet_pton(family, host, b) != 1)
		return 0;
	if (slash) {
		char *stop;
		v = strtol(slash, &stop, 10);
		if (*stop || stop == slash || v < 0 || v > size * 8)
			return 0;
		bits = (int)v;
	} else {
		bits = size * 8;
	}
	for (int i = 0; i < size && bits > 0; i++, bits -= 8) {
		unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
		if ((a[i] & mask) != (b[i] & mask))
			return 0;
	}
	return 1;
}

static int is_ip(const char *host)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* one entry (not "*"), n bytes at e, against a parsed host and port */
static int entry_matches(const char *e, size_t n, const char *host, int port)
{
	char name[256];
	int eport;
	size_t hl, nl;

	/* a CIDR block has a '/', which no name or port has */
	if (memchr(e, '/', n))
		return is_ip(host) && in_block(host, e, n);
	if (split_host_port(e, n, name, sizeof(name), &eport) < 0)
		return 0;
	if (eport && eport != port)
		return 0;
	if (is_ip(host) || is_ip(name))
		return is_ip(host) && in_block(host, name, strlen(name));
	if (name[0] == '.')
		memmove(name, name + 1, strlen(name));
	hl = strlen(host);
	nl = strlen(name);
	if (nl == 0 || nl > hl)
		return 0;
	return strcmp(host + hl - nl, name) == 0 && (hl == nl || host[hl - nl - 1] == '.');
}

int pv_outbound_no_proxy_match(const char *no_proxy, const char *host, int port)
{
	char h[256];
	const char *p = no_proxy;
	size_t hn;

	if (!no_proxy || !host)
		return 0;
	hn = strlen(host);
	if (hn >= 2 && host[0] == '[' && host[hn - 1] == ']') {
		host++;
		hn -= 2;
	}
	if (hn == 0 || hn >= sizeof(h))
		return 0;
	memcpy(h, host, hn);
	h[hn] = '\0';
	lower_trim_dot(h);
	while (*p) {
		size_t n;
		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n == 0)
			break;
		if ((n == 1 && *p == '*') || entry_matches(p, n, h, port))
			return 1;
		p += n;
	}
	return 0;
}

static const char *env2(const char *a, const char *b)
{
	const char *v = getenv(a);

	if ((!v || !*v) && b)
		v = getenv(b);
	return v && *v ? v : NULL;
}

int pv_outbound_proxy(char *out, size_t len, const char *url, const char *explicit_proxy)
{
	struct target t;
	const char *proxy = NULL;
	int n;

	if (len == 0)
		return pv_error_set(PV_EINVAL, NULL, "no room for a proxy URL");
	out[0] = '\0';
	if (!url || parse_target(&t, url) < 0 || (strcmp(t.scheme, "http") != 0 && strcmp(t.scheme, "https") != 0))
		return 0;
	if (pv_outbound_no_proxy_match(env2("no_proxy", "NO_PROXY"), t.host, t.port))
		return 0;
	if (explicit_proxy && *explicit_proxy)
		proxy = explicit_proxy;
	else if (strcmp(t.scheme, "https") == 0)
		proxy = env2("https_proxy", "HTTPS_PROXY");
	else
		proxy = env2("http_proxy", NULL);
	if (!proxy)
		return 0;
	n = snprintf(out, len, "%s%s", strstr(proxy, "://") ? "" : "http://", proxy);
	if (n < 0 || (size_t)n >= len) {
		out[0] = '\0';
		return pv_error_set(PV_EINVAL, NULL, "the proxy URL is too long");
	}
	return 0;
}

int pv_outbound_check_ca_file(const char *path, const char *setting)
{
	FILE *f;
	X509 *x;

	if (!path || !*path)
		return 0;
	if (!(f = fopen(path, "r")))
		return pv_error_set(PV_EINVAL, setting, "%s: cannot read %s", setting, path);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	if (!x)
		return pv_error_set(PV_EINVAL, setting, "%s: %s holds no PEM certificate", setting, path);
	X509_free(x);
	return 0;
}

int pv_outbound_check_git_proxy(const char *proxy)
{
	struct target t;
	char url[600];

	if (!proxy || !*proxy)
		return 0;
	snprintf(url, sizeof(url), "%s%s", strstr(proxy, "://") ? "" : "http://", proxy);
	if (strlen(url) >= sizeof(url) - 1 || parse_target(&t, url) < 0 ||
	    (strcmp(t.scheme, "http") != 0 && strcmp(t.scheme, "https") != 0))
		return pv_error_set(PV_EINVAL, "PREVIEWD_GIT_PROXY",
			"PREVIEWD_GIT_PROXY must be http://HOST:PORT, https://HOST:PORT or HOST:PORT");
	return 0;
}

static _Thread_local char curl_errbuf[CURL_ERROR_SIZE];

int pv_outbound_curl(CURL *h, const char *url, const struct pv_config *cfg)
{
	char proxy[1024];
	int error;

	curl_errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_errbuf);
	/* always set: an empty CURLOPT_PROXY keeps curl from reading the
	 * variables its own way */
	if ((error = pv_outbound_proxy(proxy, sizeof(proxy), url, NULL)) < 0)
		return error;
	curl_easy_setopt(h, CURLOPT_PROXY, proxy);
	if (cfg->ca_file && *cfg->ca_file) {
		curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
		curl_easy_setopt(h, CURLOPT_CAPATH, PV_OUTBOUND_SYSTEM_CA_DIR);
	}
	return 0;
}

static _Thread_local char curl_reason[CURL_ERROR_SIZE + 128];

const char *pv_outbound_curl_strerror(CURLcode rc)
{
	size_t n = strlen(curl_errbuf);

	while (n > 0 && (curl_errbuf[n - 1] == '\n' || curl_errbuf[n - 1] == '\r'))
		curl_errbuf[--n] = '\0';
	if (!n)
		return curl_easy_strerror(rc);
	/* curl's words for the kind first, as before; then the detail (the
	 * certificate problem, the address that refused) */
	snprintf(curl_reason, sizeof(curl_reason), "%s: %s", curl_easy_strerror(rc), curl_errbuf);
	return curl_reason;
}

int pv_outbound_git_init(const struct pv_config *cfg)
{
	struct stat st;
	const char *dir = stat(PV_OUTBOUND_SYSTEM_CA_DIR, &st) == 0 && S_ISDIR(st.st_mode)
		? PV_OUTBOUND_SYSTEM_CA_DIR : NULL;
	struct target git, via;
	char proxy[1024], gport[8], vport[8];
	int error;

	if ((error = pv_outbound_proxy(proxy, sizeof(proxy), cfg->git_url, cfg->git_proxy)) < 0)
		return error;
	if (*proxy && parse_target(&git, cfg->git_url) == 0 && strcmp(git.scheme, "http") == 0) {
		if (parse_target(&via, proxy) < 0)
			return pv_error_set(PV_EINVAL, NULL, "the proxy for the Git server is not a URL");
		snprintf(gport, sizeof(gport), "%d", git.port);
		snprintf(vport, sizeof(vport), "%d", via.port);
		char user[256], pass[256];
		pv_url_userinfo(proxy, user, sizeof(user), pass, sizeof(pass), NULL, 0);
		error = pv_gitstream_via(git.host, gport, via.host, vport, user, pass);
		OPENSSL_cleanse(pass, sizeof(pass));
		if (error < 0)
			return error;
	}
	if (!cfg->git_ca_file || !*cfg->git_ca_file)
		return 0;
	/* the file and the system directory, parsed into one chain: the
	 * option replaces what libgit2 loaded, it does not add to it */
	if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, cfg->git_ca_file, dir) < 0)
		return pv_error_set(PV_EINVAL, "PREVIEWD_GIT_CA_FILE", "PREVIEWD_GIT_CA_FILE: %s",
			git_error_last() ? git_error_last()->message : "libgit2 refused the CA file");
	return 0;
}

/* The proxy's user and password, from its URL, when libgit2 asks (a 407
 * to a CONNECT).  libgit2 1.5 would read them from the URL itself but does
 * not free its copies (seen under LeakSanitizer): it gets the URL without
 * them and this callback instead (libgit2 gives up after a few refusals). */
static int proxy_cred_cb(git_credential **out, const char *url, const char *user_from_url, unsigned int allowed,
	void *payload)
{
	const struct pv_config *cfg = payload;
	char proxy[1024], user[256], pass[256];
	int error;

	(void)url;
	(void)user_from_url;
	if (pv_outbound_proxy(proxy, sizeof(proxy), cfg->git_url, cfg->git_proxy) < 0)
		return GIT_EAUTH;
	pv_url_userinfo(proxy, user, sizeof(user), pass, sizeof(pass), NULL, 0);
	if (!*user) {
		git_error_set_str(GIT_ERROR_NET, "proxy authentication required: the proxy's URL carries no user and password");
		error = GIT_EAUTH;
	} else if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT)
		error = git_credential_userpass_plaintext_new(out, user, pass);
	else
		error = GIT_EAUTH;
	memset(pass, 0, sizeof(pass));
	memset(proxy, 0, sizeof(proxy));
	return error;
}

int pv_outbound_git_proxy(git_proxy_options *po, char *proxy_buf, size_t len, const struct pv_config *cfg)
{
	char full[1024];
	int error;

	git_proxy_options_init(po, GIT_PROXY_OPTIONS_VERSION);
	if ((error = pv_outbound_proxy(full, sizeof(full), cfg->git_url, cfg->git_proxy)) < 0)
		return error;
	pv_url_strip_userinfo(proxy_buf, len, full);
	memset(full, 0, sizeof(full));
	/* plain http goes through the proxy in gitstream (pv_gitstream_via):
	 * libgit2 1.5 would connect to the server itself anyway */
	if (strncmp(cfg->git_url, "http://", 7) == 0)
		*proxy_buf = '\0';
	if (*proxy_buf) {
		po->type = GIT_PROXY_SPECIFIED;
		po->url = proxy_buf;
		po->credentials = proxy_cred_cb;
		/* the proxy's own certificate, when it speaks TLS, is held to the
		 * same trust as the Git server's */
		po->certificate_check = pv_outbound_git_cert_check;
		po->payload = (void *)cfg;
	} else {
		po->type = GIT_PROXY_NONE;
	}
	return 0;
}

void pv_outbound_cert_reason(char *out, size_t len, const unsigned char *der, size_t der_len, const char *host,
	const char *ca_file)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)der_len);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *param;

	out[0] = '\0';
	if (!x || !store || !ctx) {
		snprintf(out, len, "%s", x ? "out of memory" : "the certificate cannot be read");
		goto done;
	}
	X509_STORE_set_default_paths(store);
	if (ca_file && *ca_file)
		X509_STORE_load_file(store, ca_file);
	if (X509_STORE_CTX_init(ctx, store, x, NULL) != 1) {
		snprintf(out, len, "out of memory");
		goto done;
	}
	param = X509_STORE_CTX_get0_param(ctx);
	if (host && is_ip(host))
		X509_VERIFY_PARAM_set1_ip_asc(param, host);
	else if (host)
		X509_VERIFY_PARAM_set1_host(param, host, 0);
	if (X509_verify_cert(ctx) != 1)
		snprintf(out, len, "%s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
done:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(x);
}

int pv_outbound_git_cert_check(git_cert *cert, int valid, const char *host, void *payload)
{
	const struct pv_config *cfg = payload;
	const char *ca = cfg && cfg->git_ca_file && *cfg->git_ca_file ? cfg->git_ca_file : NULL;
	char why[256] = "", msg[600];

	if (valid || cert->cert_type != GIT_CERT_X509)
		return GIT_PASSTHROUGH;
	{
		const git_cert_x509 *x = (const git_cert_x509 *)cert;
		pv_outbound_cert_reason(why, sizeof(why), x->data, x->len, host, ca);
	}
	/* mbedTLS 2.28 matches names only, never an IP address in
	 * subjectAltName, so https://10.1.2.3/ fails there whatever the CA.
	 * The handshake has proved the server holds the certificate's key;
	 * OpenSSL's verdict on the certificate (chain to the same trust, name
	 * or address) is then the check. */
	if (!why[0])
		return 0;
	snprintf(msg, sizeof(msg), "TLS certificate of %s not trusted: %s (trusted: the system store%s%s)", host,
		why, ca ? " and PREVIEWD_GIT_CA_FILE " : "", ca ? ca : "");
	git_error_set_str(GIT_ERROR_SSL, msg);
	return GIT_ECERTIFICATE;
}

static size_t get_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	size_t n = size * nmemb;

	return pv_strbuf_add(arg, ptr, n) < 0 ? 0 : n; /* over the cap: curl aborts */
}

int pv_outbound_get(CURL *h, const char *url, const struct pv_config *cfg, long timeout_ms, long connect_ms,
	struct pv_strbuf *out, long *status)
{
	CURLcode rc;
	int error;

	*status = 0;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "previewd/" PREVIEWD_VERSION);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, get_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	if ((error = pv_outbound_curl(h, url, cfg)) < 0)
		return error;
	if ((rc = curl_easy_perform(h)) != CURLE_OK)
		return pv_error_set(PV_EUNAVAIL, NULL, "%s", pv_outbound_curl_strerror(rc));
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	return 0;
}

/*
 * url.c - URL redaction and server comparison (see the DESIGN comment in
 * url.h).
 */
#include "url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* where a URL's authority ends (RFC 3986), or where the text around it
 * does: a URL in a log line ends at a blank, a quote or a comma */
static int authority_end(char c)
{
	return c == '\0' || c == '/' || c == '?' || c == '#' || c == '"' || c == '\'' || c == '<' || c == '>' ||
	       c == ',' || c == ';' || isspace((unsigned char)c);
}

/* the start of the scheme ending at sep (the "://"), or NULL */
static const char *scheme_start(const char *text, const char *sep)
{
	const char *p = sep;

	while (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '+' || p[-1] == '-' || p[-1] == '.'))
		p--;
	while (p < sep && !isalpha((unsigned char)*p)) /* a scheme begins with a letter */
		p++;
	return p < sep ? p : NULL;
}

/* the '@' ending the userinfo of the authority at auth, or NULL */
static const char *userinfo_end(const char *auth)
{
	const char *at = NULL;

	for (const char *p = auth; !authority_end(*p); p++)
		if (*p == '@')
			at = p;
	return at;
}

struct out {
	char *buf;
	size_t len, used;
};

static void emit(struct out *o, const char *s, size_t n)
{
	size_t room = o->len > o->used + 1 ? o->len - o->used - 1 : 0;

	if (n > room)
		n = room;
	memcpy(o->buf + o->used, s, n);
	o->used += n;
	o->buf[o->used] = '\0';
}

void pv_url_redact(char *out, size_t len, const char *text)
{
	struct out o = { out, len, 0 };
	const char *p = text, *sep;

	if (!len)
		return;
	out[0] = '\0';
	while ((sep = strstr(p, "://")) != NULL) {
		const char *auth = sep + 3, *at = scheme_start(p, sep) ? userinfo_end(auth) : NULL;

		emit(&o, p, (size_t)(auth - p));
		if (at) {
			emit(&o, PV_URL_REDACTED, strlen(PV_URL_REDACTED));
			auth = at;
		}
		p = auth;
	}
	emit(&o, p, strlen(p));
}

void pv_url_redact_inplace(char *s, size_t size)
{
	char *copy;

	if (!strstr(s, "://") || !(copy = strdup(s)))
		return;
	pv_url_redact(s, size, copy);
	free(copy);
}

void pv_url_strip_userinfo(char *out, size_t len, const char *url)
{
	const char *sep = strstr(url, "://"), *at = sep ? userinfo_end(sep + 3) : NULL;

	if (at)
		snprintf(out, len, "%.*s%s", (int)(sep + 3 - url), url, at + 1);
	else
		snprintf(out, len, "%s", url);
}

void pv_url_redact_secret(char *s, const char *secret)
{
	size_t n = secret ? strlen(secret) : 0, r = strlen(PV_URL_REDACTED);
	char *p = s;

	if (n < 3)
		return;
	while ((p = strstr(p, secret)) != NULL) {
		size_t tail = strlen(p + n);

		/* the redacted text is never longer than the secret, so it fits */
		memmove(p + r, p + n, tail + 1);
		memcpy(p, PV_URL_REDACTED, r);
		p += r;
	}
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* n bytes at s into out, "%XX" decoded; a '%' not followed by two hex
 * digits stays as it is */
static void decode(char *out, size_t len, const char *s, size_t n)
{
	size_t o = 0;

	if (!out || !len)
		return;
	for (size_t i = 0; i < n && o + 1 < len; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
}

void pv_url_userinfo(const char *url, char *user, size_t user_len, char *pass, size_t pass_len, char *raw_pass,
	size_t raw_len)
{
	const char *sep = strstr(url, "://"), *at = sep ? userinfo_end(sep + 3) : NULL, *colon;

	if (user && user_len)
		user[0] = '\0';
	if (pass && pass_len)
		pass[0] = '\0';
	if (raw_pass && raw_len)
		raw_pass[0] = '\0';
	if (!at)
		return;
	colon = memchr(sep + 3, ':', (size_t)(at - sep - 3));
	decode(user, user_len, sep + 3, (size_t)((colon ? colon : at) - sep - 3));
	if (!colon)
		return;
	decode(pass, pass_len, colon + 1, (size_t)(at - colon - 1));
	if (raw_pass && raw_len)
		snprintf(raw_pass, raw_len, "%.*s", (int)(at - colon - 1), colon + 1);
}

/* ---- which server a URL names ------------------------------------------- */

struct server {
	char scheme[16];
	char host[256];
	long port;
};

static long default_port(const char *scheme)
{
	if (strcmp(scheme, "http") == 0)
		return 80;
	if (strcmp(scheme, "https") == 0)
		return 443;
	if (strcmp(scheme, "ssh") == 0)
		return 22;
	if (strcmp(scheme, "git") == 0)
		return 9418;
	return 0;
}

static int copy_lower(char *out, size_t len, const char *s, size_t n)
{
	if (n >= len)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
	return 0;
}

/* host[:port] or [v6][:port], n bytes at s */
static int parse_hostport(struct server *sv, const char *s, size_t n)
{
	const char *end = s + n, *colon = NULL;
	char *stop;

	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return -1;
		if (copy_lower(sv->host, sizeof(sv->host), s + 1, (size_t)(close - s - 1)) < 0)
			return -1;
		if (close + 1 < end && close[1] != ':')
			return -1;
		colon = close + 1 < end ? close + 1 : NULL;
	} else {
		colon = memchr(s, ':', n);
		if (copy_lower(sv->host, sizeof(sv->host), s, (size_t)((colon ? colon : end) - s)) < 0)
			return -1;
	}
	if (!colon || colon + 1 == end) /* "host:" is the default port too */
		return 0;
	sv->port = strtol(colon + 1, &stop, 10);
	return stop == end && sv->port > 0 && sv->port < 65536 ? 0 : -1;
}

static int parse_server(struct server *sv, const char *url)
{
	const char *sep = strstr(url, "://"), *auth, *end, *at;

	memset(sv, 0, sizeof(*sv));
	if (!sep) {
		/* scp-like [user@]host:path; a path without a colon is local */
		const char *colon = strchr(url, ':'), *slash = strchr(url, '/');
		if (!colon || (slash && slash < colon))
			return -1;
		at = memchr(url, '@', (size_t)(colon - url));
		auth = at ? at + 1 : url;
		strcpy(sv->scheme, "ssh");
		sv->port = 22;
		return copy_lower(sv->host, sizeof(sv->host), auth, (size_t)(colon - auth));
	}
	if (!scheme_start(url, sep) || scheme_start(url, sep) != url ||
	    copy_lower(sv->scheme, sizeof(sv->scheme), url, (size_t)(sep - url)) < 0)
		return -1;
	if (strcmp(sv->scheme, "ssh+git") == 0 || strcmp(sv->scheme, "git+ssh") == 0)
		strcpy(sv->scheme, "ssh");
	auth = sep + 3;
	if ((at = userinfo_end(auth)) != NULL)
		auth = at + 1;
	for (end = auth; !authority_end(*end); end++)
		;
	sv->port = default_port(sv->scheme);
	return parse_hostport(sv, auth, (size_t)(end - auth));
}

int pv_url_same_server(const char *a, const char *b)
{
	struct server x, y;

	if (!a || !b || parse_server(&x, a) < 0 || parse_server(&y, b) < 0)
		return 0;
	return strcmp(x.scheme, y.scheme) == 0 && strcmp(x.host, y.host) == 0 && x.port == y.port;
}

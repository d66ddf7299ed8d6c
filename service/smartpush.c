/*
 * smartpush.c - one POST to git-receive-pack (see smartpush.h).
 *
 * The request body is the protocol's command list (one pkt-line naming the
 * old and new value of the ref, with the capabilities we want), a flush
 * packet and the pack.  Only report-status is asked for, so the answer is
 * plain pkt-lines: "unpack ok", then "ok <ref>" or "ng <ref> <reason>".
 */
#include "smartpush.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_MAX (64 * 1024) /* a report-status answer is a few lines */

struct pv_smartpush {
	CURL *curl;
	char *endpoint; /* URL/git-receive-pack */
	char *username, *password;
	int have_credentials;
	long timeout_s;
	struct curl_slist *headers;
};

struct answer {
	char *buf;
	size_t len;
	int toobig;
};

int pv_smartpush_handles(const char *url)
{
	return url && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0);
}

/* copy s into msg with anything but printable ASCII replaced: the text
 * comes from the server and ends up in logs and API answers */
static void copy_clean(char *msg, size_t msglen, const char *s, size_t n)
{
	size_t i;

	if (!msglen)
		return;
	for (i = 0; i < n && i + 1 < msglen; i++)
		msg[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	msg[i] = '\0';
}

int pv_smartpush_new(struct pv_smartpush **out, const char *url, const char *username,
	const char *password, long timeout_s)
{
	struct pv_smartpush *sp;
	size_t n;

	*out = NULL;
	if (!pv_smartpush_handles(url))
		return pv_error_set(PV_EINVAL, NULL, "not an http(s) URL");
	if (!(sp = calloc(1, sizeof(*sp))))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	if (!(sp->endpoint = malloc(n + sizeof("/git-receive-pack"))))
		goto oom;
	memcpy(sp->endpoint, url, n);
	memcpy(sp->endpoint + n, "/git-receive-pack", sizeof("/git-receive-pack"));
	if (password && *password) {
		if (!(sp->username = strdup(username && *username ? username : "git")) ||
		    !(sp->password = strdup(password)))
			goto oom;
		sp->have_credentials = 1;
	}
	sp->timeout_s = timeout_s;
	if (!(sp->curl = curl_easy_init()))
		goto oom;
	if (!(sp->headers = curl_slist_append(NULL, "Content-Type: application/x-git-receive-pack-request")) ||
	    !curl_slist_append(sp->headers, "Accept: application/x-git-receive-pack-result") ||
	    /* no 100-continue round trip before the pack */
	    !curl_slist_append(sp->headers, "Expect:"))
		goto oom;
	*out = sp;
	return 0;
oom:
	pv_smartpush_free(sp);
	return pv_error_set(PV_ERROR, NULL, "out of memory");
}

void pv_smartpush_free(struct pv_smartpush *sp)
{
	if (!sp)
		return;
	if (sp->curl)
		curl_easy_cleanup(sp->curl);
	curl_slist_free_all(sp->headers);
	free(sp->endpoint);
	free(sp->username);
	if (sp->password) {
		memset(sp->password, 0, strlen(sp->password));
		free(sp->password);
	}
	free(sp);
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *payload)
{
	struct answer *a = payload;
	size_t n = size * nmemb;
	char *grown;

	if (a->len + n > REPORT_MAX) {
		a->toobig = 1;
		return 0;
	}
	if (!(grown = realloc(a->buf, a->len + n + 1)))
		return 0;
	a->buf = grown;
	memcpy(a->buf + a->len, data, n);
	a->len += n;
	a->buf[a->len] = '\0';
	return n;
}

/* one pkt-line at *pos: its payload in *line and *n, 0; a flush packet, 1; the
 * end of the body or a malformed length, -1 */
static int next_pkt(const char *body, size_t len, size_t *pos, const char **line, size_t *n)
{
	unsigned int size = 0;

	if (len - *pos < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = body[*pos + (size_t)i];
		unsigned int v;
		if (c >= '0' && c <= '9')
			v = (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = (unsigned int)(c - 'A' + 10);
		else
			return -1;
		size = size * 16 + v;
	}
	if (size == 0) {
		*pos += 4;
		return 1;
	}
	if (size < 4 || size - 4 > len - *pos - 4)
		return -1;
	*line = body + *pos + 4;
	*n = size - 4;
	if (*n > 0 && (*line)[*n - 1] == '\n')
		(*n)--;
	*pos += size;
	return 0;
}

enum pv_smartpush_result pv_smartpush_parse_report(const char *body, size_t len, const char *refname, char *msg,
	size_t msglen)
{
	size_t pos = 0, n, rl = strlen(refname);
	const char *line;
	int unpack_ok = 0, rc;

	if (msglen)
		msg[0] = '\0';
	while ((rc = next_pkt(body, len, &pos, &line, &n)) != -1) {
		if (rc == 1)
			break;
		if (n >= 4 && memcmp(line, "ERR ", 4) == 0) {
			char reason[200];
			copy_clean(reason, sizeof(reason), line + 4, n - 4);
			snprintf(msg, msglen, "the Git server refused the push: %s", reason[0] ? reason : "no reason given");
			return PV_SMARTPUSH_FAILED;
		}
		if (n >= 7 && memcmp(line, "unpack ", 7) == 0) {
			if (n == 9 && memcmp(line + 7, "ok", 2) == 0) {
				unpack_ok = 1;
				continue;
			}
			char reason[200];
			copy_clean(reason, sizeof(reason), line + 7, n - 7);
			snprintf(msg, msglen, "the Git server could not store the pack: %s", reason);
			return PV_SMARTPUSH_FAILED;
		}
		if (!unpack_ok)
			continue;
		if (n == 3 + rl && memcmp(line, "ok ", 3) == 0 && memcmp(line + 3, refname, rl) == 0)
			return PV_SMARTPUSH_OK;
		if (n >= 3 + rl && memcmp(line, "ng ", 3) == 0 && memcmp(line + 3, refname, rl) == 0 &&
		    (n == 3 + rl || line[3 + rl] == ' ')) {
			char reason[200];
			size_t off = n > 4 + rl ? 4 + rl : n;
			copy_clean(reason, sizeof(reason), line + off, n - off);
			snprintf(msg, msglen, "%s rejected: %s", refname, reason[0] ? reason : "no reason given");
			return PV_SMARTPUSH_REJECTED;
		}
	}
	snprintf(msg, msglen, "%s", unpack_ok ? "the Git server's answer has no status for the branch"
					       : "the Git server's answer is not a receive-pack status report");
	return PV_SMARTPUSH_UNSUPPORTED;
}

enum pv_smartpush_result pv_smartpush_send(struct pv_smartpush *sp, const char *refname, const char *old_hex,
	const char *new_hex, const void *pack, size_t pack_len, char *msg, size_t msglen)
{
	struct answer a = { 0 };
	char cmd[512], *req = NULL;
	const char *ctype = NULL;
	size_t cmdlen, reqlen;
	long code = 0;
	CURLcode rc;
	enum pv_smartpush_result result = PV_SMARTPUSH_FAILED;
	int n;

	/* "<old> <new> <ref>\0<capabilities>\n" behind its 4-digit length */
	n = snprintf(cmd + 4, sizeof(cmd) - 4, "%s %s %s%creport-status agent=previewd/%s\n", old_hex, new_hex,
		refname, '\0', PREVIEWD_VERSION);
	if (n < 0 || (size_t)n >= sizeof(cmd) - 4) {
		snprintf(msg, msglen, "branch name too long");
		return PV_SMARTPUSH_FAILED;
	}
	cmdlen = (size_t)n + 4;
	{
		char len4[5];
		snprintf(len4, sizeof(len4), "%04zx", cmdlen);
		memcpy(cmd, len4, 4);
	}
	reqlen = cmdlen + 4 + pack_len;
	if (!(req = malloc(reqlen))) {
		snprintf(msg, msglen, "out of memory");
		return PV_SMARTPUSH_FAILED;
	}
	memcpy(req, cmd, cmdlen);
	memcpy(req + cmdlen, "0000", 4);
	memcpy(req + cmdlen + 4, pack, pack_len);

	curl_easy_reset(sp->curl);
	curl_easy_setopt(sp->curl, CURLOPT_URL, sp->endpoint);
	curl_easy_setopt(sp->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(sp->curl, CURLOPT_POSTFIELDS, req);
	curl_easy_setopt(sp->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)reqlen);
	curl_easy_setopt(sp->curl, CURLOPT_HTTPHEADER, sp->headers);
	/* some servers only speak the smart protocol to agents named git/ */
	curl_easy_setopt(sp->curl, CURLOPT_USERAGENT, "git/2.0 (previewd/" PREVIEWD_VERSION ")");
	curl_easy_setopt(sp->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	/* like libgit2's push: no proxy from the environment, no redirects */
	curl_easy_setopt(sp->curl, CURLOPT_PROXY, "");
	curl_easy_setopt(sp->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(sp->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(sp->curl, CURLOPT_TIMEOUT, sp->timeout_s);
	curl_easy_setopt(sp->curl, CURLOPT_CONNECTTIMEOUT, sp->timeout_s);
	curl_easy_setopt(sp->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(sp->curl, CURLOPT_WRITEDATA, &a);
	if (sp->have_credentials) {
		/* Basic only, so curl sends it with the first request */
		curl_easy_setopt(sp->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(sp->curl, CURLOPT_USERNAME, sp->username);
		curl_easy_setopt(sp->curl, CURLOPT_PASSWORD, sp->password);
	}
	rc = curl_easy_perform(sp->curl);
	if (rc != CURLE_OK && !a.toobig) {
		snprintf(msg, msglen, "push failed: %s", curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(sp->curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(sp->curl, CURLINFO_CONTENT_TYPE, &ctype);
	if (code == 401) {
		snprintf(msg, msglen, "%s", sp->have_credentials ? "the Git server refused previewd's credentials"
							    : "the Git server wants credentials and none are configured");
	} else if (code == 403) {
		snprintf(msg, msglen, "the Git server forbids previewd to push (HTTP 403)");
	} else if (code >= 500) {
		snprintf(msg, msglen, "the Git server failed (HTTP %ld)", code);
	} else if (code != 200) {
		snprintf(msg, msglen, "the Git server answered HTTP %ld to a receive-pack request", code);
		result = PV_SMARTPUSH_UNSUPPORTED;
	} else if (a.toobig || !ctype || strncmp(ctype, "application/x-git-receive-pack-result", 37) != 0) {
		snprintf(msg, msglen, "the Git server's answer is not a receive-pack result");
		result = PV_SMARTPUSH_UNSUPPORTED;
	} else {
		result = pv_smartpush_parse_report(a.buf ? a.buf : "", a.len, refname, msg, msglen);
	}
out:
	/* the handle keeps pointers to our buffers; the connection stays open */
	curl_easy_setopt(sp->curl, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(sp->curl, CURLOPT_WRITEDATA, NULL);
	free(req);
	free(a.buf);
	return result;
}

/*
 * gitframe.c - request starts in what libgit2 writes (the rule is in
 * gitframe.h).
 */
#include "gitframe.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static void lose(struct pv_gitframe *f)
{
	f->state = PV_GITFRAME_LOST;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* the length of the header block at d, up to and with its empty line; 0
 * when the write does not hold all of it */
static size_t block_len(const char *d, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++)
		if (d[i] == '\r' && d[i + 1] == '\n' && d[i + 2] == '\r' && d[i + 3] == '\n')
			return i + 4;
	return 0;
}

/* "METHOD SP target SP HTTP/1.x CRLF"; the length of the line or 0 */
static size_t request_line(const char *d, size_t len)
{
	size_t i = 0, t;

	while (i < len && d[i] >= 'A' && d[i] <= 'Z')
		i++;
	if (i == 0 || i >= len || d[i++] != ' ')
		return 0;
	for (t = i; i < len && (unsigned char)d[i] > ' ' && d[i] != 0x7f; i++)
		;
	if (i == t || len - i < 11 || memcmp(d + i, " HTTP/1.", 8) != 0 || !isdigit((unsigned char)d[i + 8]) ||
	    d[i + 9] != '\r' || d[i + 10] != '\n')
		return 0;
	return i + 11;
}

/* the value of a header line "name: value" with its spaces trimmed; NULL
 * when the line has another name */
static const char *value_of(const char *line, size_t n, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *v, *end = line + n;

	if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return NULL;
	for (v = line + nl + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*vlen = (size_t)(end - v);
	return v;
}

/* the header lines between the request line and the empty line: sets the
 * body's framing; -1 when it cannot be known */
static int headers(struct pv_gitframe *f, const char *d, size_t len)
{
	unsigned long long length = 0;
	int have_length = 0, chunked = 0;
	const char *p = d, *end = d + len, *v;
	size_t vlen;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n;

		if (!eol || eol == p || eol[-1] != '\r')
			return -1;
		n = (size_t)(eol - 1 - p);
		if ((v = value_of(p, n, "Content-Length", &vlen))) {
			unsigned long long x = 0;
			if (vlen == 0 || vlen > 18)
				return -1;
			for (size_t i = 0; i < vlen; i++) {
				if (!isdigit((unsigned char)v[i]))
					return -1;
				x = x * 10 + (unsigned)(v[i] - '0');
			}
			if (have_length && x != length)
				return -1;
			length = x;
			have_length = 1;
		} else if ((v = value_of(p, n, "Transfer-Encoding", &vlen))) {
			/* chunked must be the last coding; libgit2 names no other */
			if (vlen < 7 || strncasecmp(v + vlen - 7, "chunked", 7) != 0)
				return -1;
			chunked = 1;
		}
		p = eol + 1;
	}
	if (chunked) { /* chunked framing wins over a Content-Length */
		f->state = PV_GITFRAME_CHUNK_SIZE;
		f->size = 0;
		f->digits = 0;
		f->line = 0;
	} else if (length > 0) {
		f->state = PV_GITFRAME_LENGTH;
		f->remain = length;
	} else {
		f->state = PV_GITFRAME_IDLE;
	}
	return 0;
}

/* body bytes, through Content-Length or chunked framing */
static void body(struct pv_gitframe *f, const char *d, size_t len)
{
	size_t i = 0;

	while (i < len && f->state != PV_GITFRAME_LOST) {
		int c, h;

		switch (f->state) {
		case PV_GITFRAME_LENGTH:
		case PV_GITFRAME_CHUNK_DATA: {
			size_t n = (unsigned long long)(len - i) < f->remain ? len - i : (size_t)f->remain;
			i += n;
			f->remain -= n;
			if (f->remain == 0)
				f->state = f->state == PV_GITFRAME_LENGTH ? PV_GITFRAME_IDLE : PV_GITFRAME_CHUNK_END;
			break;
		}
		case PV_GITFRAME_CHUNK_SIZE:
			c = (unsigned char)d[i++];
			if (c == '\n') {
				if (f->digits == 0) {
					lose(f);
				} else if (f->size == 0) {
					f->state = PV_GITFRAME_TRAILER;
					f->line = 0;
				} else {
					f->state = PV_GITFRAME_CHUNK_DATA;
					f->remain = f->size;
				}
			} else if (f->line == 0 && (h = hexval(c)) >= 0) {
				if (++f->digits > 15) {
					lose(f);
					break;
				}
				f->size = f->size * 16 + (unsigned)h;
			} else {
				f->line = 1; /* past the digits: an extension or the CR */
			}
			break;
		case PV_GITFRAME_CHUNK_END:
			c = (unsigned char)d[i++];
			if (c == '\n') {
				f->state = PV_GITFRAME_CHUNK_SIZE;
				f->size = 0;
				f->digits = 0;
				f->line = 0;
			} else if (c != '\r') {
				lose(f);
			}
			break;
		case PV_GITFRAME_TRAILER:
			c = (unsigned char)d[i++];
			if (c == '\n') {
				if (f->line == 0)
					f->state = PV_GITFRAME_IDLE;
				f->line = 0;
			} else if (c != '\r') {
				f->line++;
			}
			break;
		case PV_GITFRAME_IDLE: /* bytes after a whole request: not libgit2's way */
		case PV_GITFRAME_LOST:
			lose(f);
			break;
		}
	}
}

int pv_gitframe_feed(struct pv_gitframe *f, const char *data, size_t len)
{
	size_t block, line;

	if (len == 0 || f->state == PV_GITFRAME_LOST)
		return 0;
	if (f->state != PV_GITFRAME_IDLE) {
		body(f, data, len);
		return 0;
	}
	if (!(block = block_len(data, len)) || !(line = request_line(data, block)) ||
	    headers(f, data + line, block - 2 - line) < 0) {
		lose(f);
		return 0;
	}
	body(f, data + block, len - block);
	return 1;
}

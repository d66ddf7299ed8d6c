/*
 * pack.c - a Git pack built in memory (see pack.h).
 *
 * Format (Documentation/gitformat-pack.txt in Git): "PACK", version 2, the
 * object count; each object as a type-and-size header and its zlib stream
 * (a REF_DELTA adds the 20-byte id of its base before the stream); the
 * SHA-1 of everything before it as a trailer.  A delta is the base's size,
 * the result's size, then instructions: copy a range of the base, or insert
 * up to 127 literal bytes.
 */
#include "pack.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define TYPE_REF_DELTA 7
#define DELTA_MIN_TREE 1024 /* smaller trees go whole: a delta would save nothing worth its base */

static int grow(struct pv_pack *p, size_t more)
{
	size_t want = p->len + more, cap = p->cap ? p->cap : 4096;
	unsigned char *b;

	if (want < p->len)
		return pv_error_set(PV_ERROR, NULL, "pack too large");
	if (want <= p->cap)
		return 0;
	while (cap < want)
		cap *= 2;
	if (!(b = realloc(p->buf, cap)))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	p->buf = b;
	p->cap = cap;
	return 0;
}

static int put(struct pv_pack *p, const void *data, size_t len)
{
	int error;

	if ((error = grow(p, len)) < 0)
		return error;
	memcpy(p->buf + p->len, data, len);
	p->len += len;
	return 0;
}

int pv_pack_begin(struct pv_pack *p)
{
	static const unsigned char header[12] = { 'P', 'A', 'C', 'K', 0, 0, 0, 2, 0, 0, 0, 0 };

	memset(p, 0, sizeof(*p));
	return put(p, header, sizeof(header));
}

void pv_pack_dispose(struct pv_pack *p)
{
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

/* an object's header (type, inflated size), an optional base id, and the
 * data deflated */
static int put_object(struct pv_pack *p, int type, const unsigned char *base_id, const void *data, size_t len)
{
	unsigned char hdr[16];
	size_t n = 0, size = len;
	uLongf zlen;
	int error;

	if (p->finished)
		return pv_error_set(PV_ERROR, NULL, "pack already finished");
	hdr[n] = (unsigned char)((type << 4) | (size & 0x0f));
	size >>= 4;
	while (size) {
		hdr[n++] |= 0x80;
		hdr[n] = (unsigned char)(size & 0x7f);
		size >>= 7;
	}
	n++;
	if ((error = put(p, hdr, n)) < 0 || (base_id && (error = put(p, base_id, 20)) < 0))
		return error;
	zlen = compressBound((uLong)len);
	if ((error = grow(p, zlen)) < 0)
		return error;
	/* the fastest level: these bytes cross loopback or a LAN once */
	if (compress2(p->buf + p->len, &zlen, data, (uLong)len, Z_BEST_SPEED) != Z_OK)
		return pv_error_set(PV_ERROR, NULL, "deflating an object failed");
	p->len += zlen;
	p->count++;
	return 0;
}

int pv_pack_add(struct pv_pack *p, enum pv_pack_type type, const void *data, size_t len)
{
	return put_object(p, (int)type, NULL, data, len);
}

/* ---- tree deltas -------------------------------------------------------- */

struct entry {
	const unsigned char *name;
	size_t name_len;
	size_t start, end; /* the entry's bytes: "<mode> <name>\0<20-byte id>" */
	int is_dir;
};

/* the entry at *pos of a raw tree; 0, or -1 when the bytes are not an entry */
static int parse_entry(const unsigned char *t, size_t len, size_t *pos, struct entry *e)
{
	size_t i = *pos;
	unsigned int mode = 0;
	const unsigned char *nul;

	e->start = i;
	while (i < len && t[i] >= '0' && t[i] <= '7' && i - e->start < 7)
		mode = mode * 8 + (unsigned int)(t[i++] - '0');
	if (i == e->start || i >= len || t[i] != ' ')
		return -1;
	i++;
	if (i >= len || !(nul = memchr(t + i, '\0', len - i)) || nul == t + i)
		return -1;
	e->name = t + i;
	e->name_len = (size_t)(nul - (t + i));
	i += e->name_len + 1;
	if (len - i < 20)
		return -1;
	e->end = i + 20;
	e->is_dir = (mode & 0170000) == 0040000;
	*pos = e->end;
	return 0;
}

int pv_pack_name_cmp(const void *na, size_t la, int dir_a, const void *nb, size_t lb, int dir_b)
{
	const unsigned char *a = na, *b = nb;
	size_t n = la < lb ? la : lb;
	int c = memcmp(a, b, n);
	unsigned char ca, cb;

	if (c)
		return c;
	ca = la > n ? a[n] : dir_a ? '/' : '\0';
	cb = lb > n ? b[n] : dir_b ? '/' : '\0';
	return (int)ca - (int)cb;
}

static int entry_cmp(const struct entry *a, const struct entry *b)
{
	return pv_pack_name_cmp(a->name, a->name_len, a->is_dir, b->name, b->name_len, b->is_dir);
}

struct dbuf {
	unsigned char *buf;
	size_t len, cap;
};

static int dput(struct dbuf *d, const void *data, size_t len)
{
	if (d->len + len > d->cap) {
		size_t cap = d->cap ? d->cap : 256;
		unsigned char *b;
		while (cap < d->len + len)
			cap *= 2;
		if (!(b = realloc(d->buf, cap)))
			return pv_error_set(PV_ERROR, NULL, "out of memory");
		d->buf = b;
		d->cap = cap;
	}
	memcpy(d->buf + d->len, data, len);
	d->len += len;
	return 0;
}

static int dput_varint(struct dbuf *d, size_t v)
{
	unsigned char b[10];
	size_t n = 0;

	while (v >= 0x80) {
		b[n++] = (unsigned char)((v & 0x7f) | 0x80);
		v >>= 7;
	}
	b[n++] = (unsigned char)v;
	return dput(d, b, n);
}

/* copy base[off, off+size) */
static int dput_copy(struct dbuf *d, size_t off, size_t size)
{
	while (size) {
		size_t n = size > 0xffffff ? 0xffffff : size;
		unsigned char op[8];
		int k = 1;

		op[0] = 0x80;
		for (int b = 0; b < 4; b++)
			if ((off >> (8 * b)) & 0xff) {
				op[0] |= (unsigned char)(1 << b);
				op[k++] = (unsigned char)((off >> (8 * b)) & 0xff);
			}
		for (int b = 0; b < 3; b++)
			if ((n >> (8 * b)) & 0xff) {
				op[0] |= (unsigned char)(0x10 << b);
				op[k++] = (unsigned char)((n >> (8 * b)) & 0xff);
			}
		if (dput(d, op, (size_t)k) < 0)
			return PV_ERROR;
		off += n;
		size -= n;
	}
	return 0;
}

static int dput_insert(struct dbuf *d, const unsigned char *data, size_t len)
{
	while (len) {
		unsigned char n = (unsigned char)(len > 127 ? 127 : len);
		if (dput(d, &n, 1) < 0 || dput(d, data, n) < 0)
			return PV_ERROR;
		data += n;
		len -= n;
	}
	return 0;
}

int pv_pack_tree_delta(unsigned char **out, size_t *out_len, const unsigned char *base, size_t base_len,
	const unsigned char *tree, size_t len)
{
	struct dbuf d = { 0 };
	struct entry e, o;
	size_t pos = 0, opos = 0;
	size_t run_start = 0, run_end = 0, ins_start = 0, ins_end = 0;
	int have_o = 0, in_run = 0, in_ins = 0, error = 0;

	*out = NULL;
	*out_len = 0;
	/* the delta's copy offsets are 32 bits */
	if (base_len > 0xffffffffu)
		return pv_error_set(PV_EINVAL, NULL, "tree too large for a delta");
	if ((error = dput_varint(&d, base_len)) < 0 || (error = dput_varint(&d, len)) < 0)
		goto fail;
	while (pos < len) {
		int matched = 0;

		if (parse_entry(tree, len, &pos, &e) < 0)
			goto bad;
		/* advance through the base to the first entry not before e */
		while (1) {
			if (!have_o) {
				if (opos >= base_len)
					break;
				if (parse_entry(base, base_len, &opos, &o) < 0)
					goto bad;
				have_o = 1;
			}
			int c = entry_cmp(&o, &e);
			if (c > 0)
				break;
			have_o = 0;
			if (c == 0) {
				matched = o.end - o.start == e.end - e.start &&
					  memcmp(base + o.start, tree + e.start, e.end - e.start) == 0;
				break;
			}
		}
		if (matched) {
			if (in_ins && (error = dput_insert(&d, tree + ins_start, ins_end - ins_start)) < 0)
				goto fail;
			in_ins = 0;
			if (in_run && o.start == run_end) {
				run_end = o.end;
			} else {
				if (in_run && (error = dput_copy(&d, run_start, run_end - run_start)) < 0)
					goto fail;
				run_start = o.start;
				run_end = o.end;
				in_run = 1;
			}
		} else {
			if (in_run && (error = dput_copy(&d, run_start, run_end - run_start)) < 0)
				goto fail;
			in_run = 0;
			if (in_ins && e.start == ins_end) {
				ins_end = e.end;
			} else {
				ins_start = e.start;
				ins_end = e.end;
				in_ins = 1;
			}
		}
	}
	/* the rest of the base must parse too: a malformed base is no base */
	while (have_o || opos < base_len) {
		if (!have_o && parse_entry(base, base_len, &opos, &o) < 0)
			goto bad;
		have_o = 0;
	}
	if (in_run && (error = dput_copy(&d, run_start, run_end - run_start)) < 0)
		goto fail;
	if (in_ins && (error = dput_insert(&d, tree + ins_start, ins_end - ins_start)) < 0)
		goto fail;
	*out = d.buf;
	*out_len = d.len;
	return 0;
bad:
	error = pv_error_set(PV_EINVAL, NULL, "not a well-formed tree");
fail:
	free(d.buf);
	return error;
}

int pv_pack_add_tree(struct pv_pack *p, const unsigned char *base_id, const void *base, size_t base_len,
	const void *tree, size_t len, int *delta)
{
	unsigned char *d = NULL;
	size_t dlen = 0;
	int error;

	*delta = 0;
	/* a tree that is not well-formed goes whole: the receiver judges it */
	if (base && len >= DELTA_MIN_TREE &&
	    pv_pack_tree_delta(&d, &dlen, base, base_len, tree, len) == 0 && dlen < len / 2) {
		error = put_object(p, TYPE_REF_DELTA, base_id, d, dlen);
		*delta = error == 0;
	} else {
		/* not an error: the reason a delta was refused stays out of the slot */
		pv_error_clear();
		error = put_object(p, PV_PACK_TREE, NULL, tree, len);
	}
	free(d);
	return error;
}

int pv_pack_finish(struct pv_pack *p)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int error;

	if (p->finished || p->len < 12)
		return pv_error_set(PV_ERROR, NULL, "pack not begun or already finished");
	p->buf[8] = (unsigned char)(p->count >> 24);
	p->buf[9] = (unsigned char)(p->count >> 16);
	p->buf[10] = (unsigned char)(p->count >> 8);
	p->buf[11] = (unsigned char)p->count;
	if (!EVP_Digest(p->buf, p->len, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
		return pv_error_set(PV_ERROR, NULL, "hashing the pack failed");
	if ((error = put(p, md, 20)) < 0)
		return error;
	p->finished = 1;
	return 0;
}

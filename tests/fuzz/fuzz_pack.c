/*
 * fuzz_pack.c - libFuzzer target for service/pack.c and
 * pv_smartpush_parse_report (service/smartpush.c).
 *
 * The first byte splits the rest proportionally into a base tree and a
 * target tree (0: all target, 255: all base).  pv_pack_tree_delta runs on
 * (base, target), (target, base) and (target, target), each buffer in its
 * own exact-size heap block so that ASan sees any overread.  A tree parser
 * written here decides independently whether each buffer is a well-formed
 * tree: the delta must succeed exactly when both are, and fail with
 * PV_EINVAL, *out NULL and *out_len 0 otherwise.  Every delta is applied
 * with an applier written after Git's patch-delta.c and must give the
 * target back; when both trees are strictly sorted in Git's order the
 * literal bytes it inserts must be exactly the target's entries the base
 * lacks.  The tree then goes through pv_pack_add_tree and pv_pack_finish,
 * and the pack is read back: header, object count, the object's header and
 * zlib stream (the delta or the whole tree), the SHA-1 trailer.
 *
 * The whole input is also a receive-pack report for "refs/heads/main":
 * parsed with a large and a small (input-chosen) msg buffer, each an
 * exact-size heap block, msg must come back NUL-terminated printable ASCII
 * and the result must be backed by a line of the matching kind.
 *
 *   cmake -S . -B build-fuzz -DPV_FUZZ=ON -DCMAKE_C_COMPILER=clang
 *   cmake --build build-fuzz --target fuzz_pack
 *   tests/fuzz/run.sh build-fuzz/tests/fuzz_pack tests/fuzz/corpus/pack 60
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "error.h"
#include "pack.h"
#include "smartpush.h"

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: check failed: %s (last error %d: %s)\n", \
				__FILE__, __LINE__, #cond, pv_error_last()->code,         \
				pv_error_last()->message);                           \
			abort();                                                     \
		}                                                                    \
	} while (0)

#define REF "refs/heads/main"

/* ------------------------------------------------------------------------
 * an independent tree parser
 */

struct entry {
	const unsigned char *bytes; /* the whole entry */
	size_t len;
	const unsigned char *name;
	size_t name_len;
	int is_dir;
};

/* "<1 to 7 octal digits> <non-empty name>\0<20-byte id>", repeated; the
 * number of entries, or -1 when the bytes are not a tree.  With e NULL,
 * only counts. */
static long parse_tree(const unsigned char *t, size_t len, struct entry *e)
{
	size_t pos = 0;
	long n = 0;

	while (pos < len) {
		size_t start = pos, digits = 0, name;
		unsigned long mode = 0;

		while (pos < len && digits < 8 && t[pos] >= '0' && t[pos] <= '7') {
			mode = mode * 8 + (unsigned long)(t[pos++] - '0');
			digits++;
		}
		if (digits == 0 || digits > 7 || pos >= len || t[pos] != ' ')
			return -1;
		name = ++pos;
		while (pos < len && t[pos] != '\0')
			pos++;
		if (pos >= len || pos == name)
			return -1;
		if (len - (pos + 1) < 20)
			return -1;
		if (e) {
			e[n].bytes = t + start;
			e[n].name = t + name;
			e[n].name_len = pos - name;
			e[n].is_dir = (mode & 0170000) == 0040000;
			e[n].len = pos + 1 + 20 - start;
		}
		pos += 1 + 20;
		n++;
	}
	return n;
}

static int key_byte(const struct entry *e, size_t i)
{
	if (i < e->name_len)
		return e->name[i];
	if (i == e->name_len && e->is_dir)
		return '/';
	return -1; /* the end: before any byte */
}

/* Git's order: names bytewise, a directory's as if it ended with '/' */
static int order(const struct entry *a, const struct entry *b)
{
	for (size_t i = 0;; i++) {
		int ca = key_byte(a, i), cb = key_byte(b, i);

		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (ca < 0)
			return 0;
	}
}

static int strictly_sorted(const struct entry *e, long n)
{
	for (long i = 1; i < n; i++)
		if (order(&e[i - 1], &e[i]) >= 0)
			return 0;
	return 1;
}

/* the bytes of target's entries without an identical entry in base; both
 * strictly sorted */
static size_t expected_inserted(const struct entry *b, long nb, const struct entry *t, long nt)
{
	size_t total = 0;
	long i = 0;

	for (long j = 0; j < nt; j++) {
		int c = 1;

		while (i < nb && (c = order(&b[i], &t[j])) < 0)
			i++;
		if (i < nb && c == 0 && b[i].len == t[j].len && memcmp(b[i].bytes, t[j].bytes, t[j].len) == 0)
			continue;
		total += t[j].len;
	}
	return total;
}

/* ------------------------------------------------------------------------
 * a delta applier after Git's patch-delta.c
 */

static int read_size(const unsigned char **p, const unsigned char *end, size_t *out)
{
	size_t v = 0;
	unsigned int shift = 0;
	unsigned char c;

	do {
		if (*p >= end || shift > 63)
			return -1;
		c = *(*p)++;
		v |= (size_t)(c & 0x7f) << shift;
		shift += 7;
	} while (c & 0x80);
	*out = v;
	return 0;
}

/* Apply delta to base; the result must be want/want_len.  Returns the
 * literal bytes inserted; aborts on anything malformed. */
static size_t apply_check(const unsigned char *base, size_t base_len, const unsigned char *delta, size_t delta_len,
	const unsigned char *want, size_t want_len)
{
	const unsigned char *p = delta, *end = delta + delta_len;
	size_t src_size, dst_size, out = 0, inserted = 0;
	unsigned char *buf;

	CHECK(read_size(&p, end, &src_size) == 0);
	CHECK(read_size(&p, end, &dst_size) == 0);
	CHECK(src_size == base_len);
	CHECK(dst_size == want_len);
	buf = malloc(dst_size ? dst_size : 1);
	CHECK(buf);
	while (p < end) {
		unsigned char cmd = *p++;

		if (cmd & 0x80) {
			size_t off = 0, size = 0;

			for (int i = 0; i < 4; i++)
				if (cmd & (1u << i)) {
					CHECK(p < end);
					off |= (size_t)*p++ << (8 * i);
				}
			for (int i = 0; i < 3; i++)
				if (cmd & (0x10u << i)) {
					CHECK(p < end);
					size |= (size_t)*p++ << (8 * i);
				}
			if (size == 0)
				size = 0x10000;
			CHECK(off <= base_len && size <= base_len - off);
			CHECK(size <= dst_size - out);
			memcpy(buf + out, base + off, size);
			out += size;
		} else {
			CHECK(cmd != 0);
			CHECK((size_t)(end - p) >= cmd);
			CHECK(cmd <= dst_size - out);
			memcpy(buf + out, p, cmd);
			p += cmd;
			out += cmd;
			inserted += cmd;
		}
	}
	CHECK(out == dst_size);
	CHECK(out == 0 || memcmp(buf, want, out) == 0);
	free(buf);
	return inserted;
}

/* ------------------------------------------------------------------------
 * reading a pack back
 */

static unsigned char *inflate_all(const unsigned char *z, size_t zlen, size_t want_len, size_t *used)
{
	unsigned char *out = malloc(want_len ? want_len : 1);
	z_stream s;
	int rc;

	CHECK(out);
	memset(&s, 0, sizeof(s));
	CHECK(inflateInit(&s) == Z_OK);
	s.next_in = (unsigned char *)z;
	s.avail_in = (uInt)zlen;
	s.next_out = out;
	s.avail_out = (uInt)want_len;
	rc = inflate(&s, Z_FINISH);
	CHECK(rc == Z_STREAM_END);
	CHECK(s.total_out == want_len);
	*used = s.total_in;
	inflateEnd(&s);
	return out;
}

/* The pack holds one object, tree as a REF_DELTA (delta, against base_id)
 * or whole. */
static void check_pack(const struct pv_pack *p, const unsigned char *base_id, int is_delta, const unsigned char *tree,
	size_t len, const unsigned char *delta, size_t delta_len)
{
	unsigned char md[EVP_MAX_MD_SIZE], *obj;
	unsigned int mdlen = 0;
	size_t pos = 12, size, shift = 4, used, want_len = is_delta ? delta_len : len;
	unsigned char c;

	CHECK(p->len >= 32);
	CHECK(memcmp(p->buf, "PACK\0\0\0\2\0\0\0\1", 12) == 0);
	CHECK(EVP_Digest(p->buf, p->len - 20, md, &mdlen, EVP_sha1(), NULL) && mdlen == 20);
	CHECK(memcmp(p->buf + p->len - 20, md, 20) == 0);
	c = p->buf[pos++];
	CHECK(((c >> 4) & 7) == (is_delta ? 7 : PV_PACK_TREE));
	size = c & 0x0f;
	while (c & 0x80) {
		CHECK(pos < p->len - 20 && shift < 64);
		c = p->buf[pos++];
		size |= (size_t)(c & 0x7f) << shift;
		shift += 7;
	}
	CHECK(size == want_len);
	if (is_delta) {
		CHECK(p->len - 20 - pos >= 20);
		CHECK(memcmp(p->buf + pos, base_id, 20) == 0);
		pos += 20;
	}
	obj = inflate_all(p->buf + pos, p->len - 20 - pos, want_len, &used);
	CHECK(pos + used == p->len - 20);
	CHECK(want_len == 0 || memcmp(obj, is_delta ? delta : tree, want_len) == 0);
	free(obj);
}

/* ------------------------------------------------------------------------
 * the checks
 */

static void check_delta(const unsigned char *base, size_t base_len, const unsigned char *tree, size_t len)
{
	static const unsigned char base_id[20] = { 0xba, 0x5e, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18 };
	unsigned char *d = (unsigned char *)1;
	size_t dlen = 1;
	long nb = parse_tree(base, base_len, NULL), nt = parse_tree(tree, len, NULL);
	struct pv_pack p = PV_PACK_INIT;
	int error, delta = -1;

	pv_error_clear();
	error = pv_pack_tree_delta(&d, &dlen, base, base_len, tree, len);
	if (nb < 0 || nt < 0) {
		CHECK(error == PV_EINVAL);
		CHECK(pv_error_last()->code == PV_EINVAL);
		CHECK(d == NULL && dlen == 0);
	} else {
		struct entry *eb = malloc(((size_t)nb + 1) * sizeof(*eb)), *et = malloc(((size_t)nt + 1) * sizeof(*et));
		size_t inserted;

		CHECK(error == 0);
		CHECK(d != NULL && dlen >= 2);
		CHECK(eb && et);
		CHECK(parse_tree(base, base_len, eb) == nb && parse_tree(tree, len, et) == nt);
		inserted = apply_check(base, base_len, d, dlen, tree, len);
		if (strictly_sorted(eb, nb) && strictly_sorted(et, nt))
			CHECK(inserted == expected_inserted(eb, nb, et, nt));
		free(eb);
		free(et);
	}

	/* the same tree through a pack */
	CHECK(pv_pack_begin(&p) == 0);
	CHECK(pv_pack_add_tree(&p, base_id, base, base_len, tree, len, &delta) == 0);
	CHECK(delta == 0 || delta == 1);
	/* a delta only when it is one, and worth it */
	CHECK(!delta || (error == 0 && len >= 1024 && dlen < len / 2));
	CHECK(p.count == 1);
	CHECK(pv_pack_finish(&p) == 0);
	check_pack(&p, base_id, delta, tree, len, d, dlen);
	pv_pack_dispose(&p);
	free(d);
}

static void check_report(const char *body, size_t len, size_t msglen)
{
	char *msg = msglen ? malloc(msglen) : NULL;
	enum pv_smartpush_result r;

	if (msglen) {
		CHECK(msg);
		memset(msg, 'Z', msglen);
	}
	r = pv_smartpush_parse_report(body, len, REF, msg, msglen);
	CHECK(r == PV_SMARTPUSH_OK || r == PV_SMARTPUSH_REJECTED || r == PV_SMARTPUSH_FAILED ||
	      r == PV_SMARTPUSH_UNSUPPORTED);
	if (msglen) {
		CHECK(memchr(msg, '\0', msglen));
		for (const char *c = msg; *c; c++)
			CHECK(*c >= 0x20 && *c <= 0x7e);
	}
	/* each answer rests on a line of its kind somewhere in the body */
	if (r == PV_SMARTPUSH_OK)
		CHECK(memmem(body, len, "unpack ok", 9) && memmem(body, len, "ok " REF, 3 + strlen(REF)));
	if (r == PV_SMARTPUSH_REJECTED)
		CHECK(memmem(body, len, "unpack ok", 9) && memmem(body, len, "ng " REF, 3 + strlen(REF)));
	if (r == PV_SMARTPUSH_FAILED)
		CHECK(memmem(body, len, "ERR ", 4) || memmem(body, len, "unpack ", 7));
	free(msg);
}

static unsigned char *dup_exact(const uint8_t *data, size_t len)
{
	unsigned char *b = malloc(len ? len : 1);

	CHECK(b);
	if (len)
		memcpy(b, data, len);
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *base, *tree;
	char *body;
	size_t n, cut;

	if (size == 0)
		return 0;
	n = size - 1;
	cut = (size_t)((uint64_t)n * data[0] / 255);
	base = dup_exact(data + 1, cut);
	tree = dup_exact(data + 1 + cut, n - cut);
	check_delta(base, cut, tree, n - cut);
	check_delta(tree, n - cut, base, cut);
	check_delta(tree, n - cut, tree, n - cut);
	free(base);
	free(tree);

	body = (char *)dup_exact(data, size);
	check_report(body, size, 256);
	check_report(body, size, data[0] % 24);
	free(body);
	return 0;
}

/*
 * test_pack.c - unit tests for service/pack.c and service/smartpush.c.
 *
 * Tree deltas: raw Git trees are built here (sorted in Git's order by a
 * comparator written independently of pack.c), every delta from
 * pv_pack_tree_delta is applied with an applier written here after Git's
 * patch-delta.c, and the result must be the target byte for byte.  The
 * applier also counts the literal bytes the delta inserts: with sorted
 * trees that must be exactly the bytes of the target's entries the base
 * does not hold, so an ordering mistake (which still round-trips, only
 * with a bigger delta) fails too.  Malformed trees, in either argument,
 * must give PV_EINVAL.
 *
 * Packs: the header, object count and SHA-1 trailer are checked directly;
 * then libgit2's indexer (which inflates every object, resolves deltas and
 * verifies the trailer) indexes a pack of whole objects without an odb,
 * and a thin pack (a tree sent as a REF_DELTA against a base only the
 * repository holds) into a bare repository whose odb completes it; the
 * objects must read back with their ids, types and bytes.
 *
 * Smart push: pv_smartpush_parse_report over hand-built pkt-line bodies
 * (results, reasons, sanitizing, malformed lengths, small msg buffers in
 * exact-size heap blocks so ASan sees any overflow), and pv_smartpush_send
 * against a one-shot HTTP server on 127.0.0.1 that records the request and
 * answers a canned response.
 */
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <git2.h>
#include <openssl/evp.h>

#include "error.h"
#include "pack.h"
#include "smartpush.h"

/* ------------------------------------------------------------------------
 * raw trees
 */

#define NAME_MAX_LEN 240

struct tentry {
	unsigned int mode;
	char name[NAME_MAX_LEN];
	unsigned char id[20];
};

struct tree {
	struct tentry *e;
	size_t n, cap;
};

static int mode_is_dir(unsigned int mode)
{
	return (mode & 0170000) == 0040000;
}

/* byte i of the entry's sort key: its name, a directory's with a '/'
 * appended, then 0 */
static int key_byte(const struct tentry *e, size_t len, size_t i)
{
	if (i < len)
		return (unsigned char)e->name[i];
	if (i == len && mode_is_dir(e->mode))
		return '/';
	return 0;
}

/* Git's order, written as Git's documentation states it: names compared
 * bytewise (unsigned), a directory's name as if it ended with '/' */
static int tree_order(const struct tentry *a, const struct tentry *b)
{
	size_t la = strlen(a->name), lb = strlen(b->name);

	for (size_t i = 0;; i++) {
		int ca = key_byte(a, la, i), cb = key_byte(b, lb, i);

		if (ca != cb)
			return ca - cb;
		if (!ca)
			return 0;
	}
}

static int tree_order_q(const void *a, const void *b)
{
	return tree_order(a, b);
}

static void make_id(unsigned char id[20], uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 0x9e3779b9u;

	for (int i = 0; i < 20; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		id[i] = (unsigned char)(x >> 24);
	}
}

static struct tentry *tree_add(struct tree *t, unsigned int mode, const char *name, uint32_t seed)
{
	struct tentry *e;

	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->e = realloc(t->e, t->cap * sizeof(*t->e));
		assert_non_null(t->e);
	}
	e = &t->e[t->n++];
	memset(e, 0, sizeof(*e));
	e->mode = mode;
	assert_true(strlen(name) < sizeof(e->name));
	snprintf(e->name, sizeof(e->name), "%s", name);
	make_id(e->id, seed);
	return e;
}

static struct tentry *tree_find(struct tree *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->e[i].name, name) == 0)
			return &t->e[i];
	fail_msg("no entry %s", name);
	return NULL;
}

static void tree_remove(struct tree *t, const char *name)
{
	struct tentry *e = tree_find(t, name);
	size_t i = (size_t)(e - t->e);

	memmove(&t->e[i], &t->e[i + 1], (t->n - i - 1) * sizeof(*t->e));
	t->n--;
}

static void tree_copy(struct tree *dst, const struct tree *src)
{
	dst->n = dst->cap = src->n;
	dst->e = malloc((src->n ? src->n : 1) * sizeof(*src->e));
	assert_non_null(dst->e);
	if (src->n)
		memcpy(dst->e, src->e, src->n * sizeof(*src->e));
}

static void tree_sort(struct tree *t)
{
	if (t->n)
		qsort(t->e, t->n, sizeof(*t->e), tree_order_q);
}

static void tree_free(struct tree *t)
{
	free(t->e);
	memset(t, 0, sizeof(*t));
}

static size_t entry_size(const struct tentry *e)
{
	char mode[16];

	return (size_t)snprintf(mode, sizeof(mode), "%o", e->mode) + 1 + strlen(e->name) + 1 + 20;
}

/* "<octal mode> <name>\0<20-byte id>" per entry, in the array's order */
static unsigned char *tree_raw(const struct tree *t, size_t *len)
{
	size_t total = 0, pos = 0;
	unsigned char *buf;

	for (size_t i = 0; i < t->n; i++)
		total += entry_size(&t->e[i]);
	buf = malloc(total ? total : 1);
	assert_non_null(buf);
	for (size_t i = 0; i < t->n; i++) {
		const struct tentry *e = &t->e[i];
		int n = sprintf((char *)buf + pos, "%o %s", e->mode, e->name);

		pos += (size_t)n + 1; /* sprintf wrote the NUL */
		memcpy(buf + pos, e->id, 20);
		pos += 20;
	}
	assert_int_equal(pos, total);
	*len = total;
	return buf;
}

/* The literal bytes a delta from base to target should insert: the entries
 * of target without an identical entry in base.  Both sorted. */
static size_t expected_inserted(const struct tree *base, const struct tree *target)
{
	size_t i = 0, total = 0;

	for (size_t j = 0; j < target->n; j++) {
		const struct tentry *e = &target->e[j];
		int c = 1;

		while (i < base->n && (c = tree_order(&base->e[i], e)) < 0)
			i++;
		if (i < base->n && c == 0 && base->e[i].mode == e->mode && memcmp(base->e[i].id, e->id, 20) == 0)
			continue;
		total += entry_size(e);
	}
	return total;
}

/* ------------------------------------------------------------------------
 * a delta applier after Git's patch-delta.c
 */

struct applied {
	unsigned char *buf;
	size_t len;
	size_t inserted, copied; /* bytes */
	size_t ops;
};

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

/* 0, or -1 with a reason in *why when the delta is malformed or does not
 * describe a result of want_len bytes from base */
static int apply_delta(const unsigned char *base, size_t base_len, const unsigned char *delta, size_t delta_len,
	size_t want_len, struct applied *r, const char **why)
{
	const unsigned char *p = delta, *end = delta + delta_len;
	size_t src_size, dst_size, out = 0;

	memset(r, 0, sizeof(*r));
	*why = NULL;
	if (read_size(&p, end, &src_size) < 0 || read_size(&p, end, &dst_size) < 0) {
		*why = "truncated header";
		return -1;
	}
	if (src_size != base_len) {
		*why = "base size in the header is not the base's";
		return -1;
	}
	if (dst_size != want_len) {
		*why = "result size in the header is not the target's";
		return -1;
	}
	if (!(r->buf = malloc(dst_size ? dst_size : 1))) {
		*why = "out of memory";
		return -1;
	}
	while (p < end) {
		unsigned char cmd = *p++;

		r->ops++;
		if (cmd & 0x80) {
			size_t off = 0, size = 0;

			for (int i = 0; i < 4; i++)
				if (cmd & (1u << i)) {
					if (p >= end)
						goto truncated;
					off |= (size_t)*p++ << (8 * i);
				}
			for (int i = 0; i < 3; i++)
				if (cmd & (0x10u << i)) {
					if (p >= end)
						goto truncated;
					size |= (size_t)*p++ << (8 * i);
				}
			if (size == 0)
				size = 0x10000;
			if (off > base_len || size > base_len - off) {
				*why = "copy outside the base";
				goto bad;
			}
			if (size > dst_size - out) {
				*why = "copy past the result's size";
				goto bad;
			}
			memcpy(r->buf + out, base + off, size);
			out += size;
			r->copied += size;
		} else if (cmd) {
			if ((size_t)(end - p) < cmd)
				goto truncated;
			if (cmd > dst_size - out) {
				*why = "insert past the result's size";
				goto bad;
			}
			memcpy(r->buf + out, p, cmd);
			p += cmd;
			out += cmd;
			r->inserted += cmd;
		} else {
			*why = "opcode 0";
			goto bad;
		}
	}
	if (out != dst_size) {
		*why = "result shorter than its header says";
		goto bad;
	}
	r->len = out;
	return 0;
truncated:
	*why = "truncated instruction";
bad:
	free(r->buf);
	r->buf = NULL;
	return -1;
}

/* Delta base -> tree, applied back; returns the delta's size.  want_inserted
 * is checked unless SIZE_MAX; the applier's counts land in *stats if given. */
static size_t round_trip(const unsigned char *base, size_t base_len, const unsigned char *tree, size_t len,
	size_t want_inserted, struct applied *stats)
{
	unsigned char *d = NULL;
	size_t dlen = 0;
	struct applied r;
	const char *why;

	if (pv_pack_tree_delta(&d, &dlen, base, base_len, tree, len) != 0)
		fail_msg("pv_pack_tree_delta failed: %s", pv_error_last()->message);
	assert_non_null(d);
	if (apply_delta(base, base_len, d, dlen, len, &r, &why) != 0)
		fail_msg("the delta is malformed: %s", why);
	assert_int_equal(r.len, len);
	if (len)
		assert_memory_equal(r.buf, tree, len);
	if (want_inserted != SIZE_MAX)
		assert_int_equal(r.inserted, want_inserted);
	assert_int_equal(r.inserted + r.copied, len);
	free(r.buf);
	r.buf = NULL;
	if (stats)
		*stats = r;
	free(d);
	return dlen;
}

/* round_trip of two entry lists (sorted here), checking the inserted bytes */
static size_t round_trip_trees(struct tree *base, struct tree *target, struct applied *stats)
{
	unsigned char *b, *t;
	size_t blen, tlen, dlen;

	tree_sort(base);
	tree_sort(target);
	b = tree_raw(base, &blen);
	t = tree_raw(target, &tlen);
	dlen = round_trip(b, blen, t, tlen, expected_inserted(base, target), stats);
	free(b);
	free(t);
	return dlen;
}

/* 10,000 environment folders, as the env folder holds them */
static void big_tree(struct tree *t, size_t n)
{
	char name[32];

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "env-%05zu", i);
		tree_add(t, 040000, name, (uint32_t)i);
	}
	tree_sort(t);
}

/* ------------------------------------------------------------------------
 * pv_pack_tree_delta: round trips
 */

static void delta_insert_one(const char *name, size_t *inserted_size)
{
	struct tree base, target;
	struct applied st;
	size_t dlen;

	big_tree(&base, 10000);
	tree_copy(&target, &base);
	*inserted_size = entry_size(tree_add(&target, 040000, name, 777777));
	dlen = round_trip_trees(&base, &target, &st);
	assert_int_equal(st.inserted, *inserted_size);
	assert_true(dlen < 200);
	tree_free(&base);
	tree_free(&target);
}

static void delta_insert_middle(void **state)
{
	size_t n;

	(void)state;
	delta_insert_one("env-05000a", &n);
}

static void delta_insert_start(void **state)
{
	size_t n;

	(void)state;
	delta_insert_one("a-first", &n);
	delta_insert_one("env-", &n); /* a prefix of every other name */
}

static void delta_insert_end(void **state)
{
	size_t n;

	(void)state;
	delta_insert_one("zz-last", &n);
	delta_insert_one("env-99999", &n);
}

static void delta_remove_one(void **state)
{
	struct tree base, target;
	struct applied st;
	size_t dlen;
	const char *names[] = { "env-00000", "env-04321", "env-09999" };

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		big_tree(&base, 10000);
		tree_copy(&target, &base);
		tree_remove(&target, names[i]);
		dlen = round_trip_trees(&base, &target, &st);
		assert_int_equal(st.inserted, 0);
		assert_true(st.ops <= 2);
		assert_true(dlen < 200);
		tree_free(&base);
		tree_free(&target);
	}
}

static void delta_change_id(void **state)
{
	struct tree base, target;
	struct applied st;
	size_t dlen;
	struct tentry *e;

	(void)state;
	big_tree(&base, 10000);
	tree_copy(&target, &base);
	e = tree_find(&target, "env-06789");
	make_id(e->id, 424242);
	dlen = round_trip_trees(&base, &target, &st);
	assert_int_equal(st.inserted, entry_size(e));
	assert_int_equal(st.ops, 3); /* copy, insert, copy */
	assert_true(dlen < 200);
	tree_free(&base);
	tree_free(&target);
}

static void delta_change_mode(void **state)
{
	struct tree base, target;
	struct applied st;
	struct tentry *e;

	(void)state;
	memset(&base, 0, sizeof(base));
	for (int i = 0; i < 50; i++) {
		char name[16];

		snprintf(name, sizeof(name), "file%02d", i);
		tree_add(&base, 0100644, name, (uint32_t)i);
	}
	tree_copy(&target, &base);
	e = tree_find(&target, "file25");
	e->mode = 0100755; /* same name, same id: still a different entry */
	round_trip_trees(&base, &target, &st);
	assert_int_equal(st.inserted, entry_size(e));
	tree_free(&base);
	tree_free(&target);
}

static void delta_scattered(void **state)
{
	struct tree base, target;
	struct applied st;
	size_t dlen, changes = 0;
	char name[32];

	(void)state;
	big_tree(&base, 10000);
	tree_copy(&target, &base);
	for (size_t i = 0; i < target.n; i += 97) {
		make_id(target.e[i].id, (uint32_t)(1000000 + i));
		changes++;
	}
	for (size_t i = 50; i < 10000; i += 331) {
		snprintf(name, sizeof(name), "env-%05zu", i);
		tree_remove(&target, name);
		changes++;
	}
	for (size_t i = 7; i < 10000; i += 500) {
		snprintf(name, sizeof(name), "env-%05zub", i);
		tree_add(&target, i % 2 ? 0100644 : 040000, name, (uint32_t)(2000000 + i));
		changes++;
	}
	dlen = round_trip_trees(&base, &target, &st);
	/* the delta follows what changed: a copy and an entry per change */
	assert_true(dlen < changes * 60);
	tree_free(&base);
	tree_free(&target);
}

/* every entry different: the delta is all insert, 127 bytes at most each */
static void delta_disjoint(void **state)
{
	struct tree base, target;
	struct applied st;

	(void)state;
	big_tree(&base, 300);
	tree_copy(&target, &base);
	for (size_t i = 0; i < target.n; i++)
		make_id(target.e[i].id, (uint32_t)(5000000 + i));
	round_trip_trees(&base, &target, &st);
	assert_int_equal(st.copied, 0);
	tree_free(&base);
	tree_free(&target);
}

static void delta_empty_base(void **state)
{
	struct tree base = { 0 }, target;
	struct applied st;

	(void)state;
	big_tree(&target, 20);
	round_trip_trees(&base, &target, &st);
	assert_int_equal(st.copied, 0);
	tree_free(&target);
}

static void delta_empty_target(void **state)
{
	struct tree base, target = { 0 };
	unsigned char *b, *d = NULL;
	size_t blen, dlen = 0;
	struct applied st;

	(void)state;
	big_tree(&base, 20);
	b = tree_raw(&base, &blen);
	round_trip(b, blen, (const unsigned char *)"", 0, 0, &st);
	assert_int_equal(st.ops, 0);
	/* just the two sizes */
	assert_int_equal(pv_pack_tree_delta(&d, &dlen, b, blen, (const unsigned char *)"", 0), 0);
	assert_int_equal(dlen, 3);
	assert_int_equal(d[0], 0x80 | (blen & 0x7f));
	assert_int_equal(d[1], blen >> 7);
	assert_int_equal(d[2], 0);
	free(d);
	free(b);
	tree_free(&base);
	tree_free(&target);
}

static void delta_both_empty(void **state)
{
	unsigned char *d = NULL;
	size_t dlen = 0;

	(void)state;
	assert_int_equal(pv_pack_tree_delta(&d, &dlen, (const unsigned char *)"", 0, (const unsigned char *)"", 0), 0);
	assert_int_equal(dlen, 2);
	assert_int_equal(d[0], 0);
	assert_int_equal(d[1], 0);
	free(d);
}

static void delta_identical(void **state)
{
	struct tree base, target;
	struct applied st;
	size_t dlen;

	(void)state;
	big_tree(&base, 10000);
	tree_copy(&target, &base);
	dlen = round_trip_trees(&base, &target, &st);
	assert_int_equal(st.inserted, 0);
	assert_int_equal(st.ops, 1); /* one copy of everything */
	assert_true(dlen < 16);
	tree_free(&base);
	tree_free(&target);
}

/* A tree over 16 MiB: copies split at 0xffffff bytes, offsets take a fourth
 * byte. */
static void delta_huge(void **state)
{
	struct tree base, target;
	struct applied st;
	char name[NAME_MAX_LEN];
	size_t dlen, n = 0;

	(void)state;
	memset(&base, 0, sizeof(base));
	memset(name, 'x', 200);
	for (size_t total = 0; total < 20u * 1024 * 1024; n++) {
		snprintf(name + 200, sizeof(name) - 200, "%06zu", n);
		total += entry_size(tree_add(&base, 0100644, name, (uint32_t)n));
	}
	tree_copy(&target, &base);
	round_trip_trees(&base, &target, &st);
	assert_int_equal(st.inserted, 0);
	assert_int_equal(st.ops, 2);
	/* one change near the end: the copy after it starts past 16 MiB */
	make_id(target.e[n - 3].id, 99);
	dlen = round_trip_trees(&base, &target, &st);
	/* two copies up to it, its 234 bytes in two inserts, one copy after */
	assert_int_equal(entry_size(&target.e[n - 3]), 234);
	assert_int_equal(st.ops, 5);
	assert_true(dlen < 400);
	tree_free(&base);
	tree_free(&target);
}

/* Git's order around a directory: "a-" < "a.b" < "a" (as "a/") < "a0". */
static void delta_order_dir_among_blobs(void **state)
{
	struct tree base = { 0 }, target;
	struct applied st;
	const char *changed[] = { "a-", "a.b", "a", "a0" };

	(void)state;
	tree_add(&base, 040000, "a", 1);
	tree_add(&base, 0100644, "a.b", 2);
	tree_add(&base, 0100644, "a-", 3);
	tree_add(&base, 0100644, "a0", 4);
	tree_sort(&base);
	assert_string_equal(base.e[0].name, "a-");
	assert_string_equal(base.e[1].name, "a.b");
	assert_string_equal(base.e[2].name, "a");
	assert_string_equal(base.e[3].name, "a0");

	/* each entry changed alone: only it is inserted */
	for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
		tree_copy(&target, &base);
		make_id(tree_find(&target, changed[i])->id, 100 + (uint32_t)i);
		round_trip_trees(&base, &target, &st);
		assert_int_equal(st.inserted, entry_size(tree_find(&target, changed[i])));
		tree_free(&target);
	}
	/* entries added around the directory */
	tree_copy(&target, &base);
	tree_add(&target, 0100644, "a", 50);  /* a blob "a" beside the tree "a": first */
	tree_add(&target, 0100644, "a.", 51); /* before "a.b" */
	tree_add(&target, 040000, "a+", 52);  /* first of all but the blob "a" */
	tree_add(&target, 0100644, "a0a", 53);
	round_trip_trees(&base, &target, &st);
	tree_free(&target);
	/* the directory removed, the blobs kept */
	tree_copy(&target, &base);
	tree_remove(&target, "a");
	round_trip_trees(&base, &target, &st);
	assert_int_equal(st.inserted, 0);
	tree_free(&target);
	tree_free(&base);
}

/* the same name going from blob to tree and back */
static void delta_blob_becomes_tree(void **state)
{
	struct tree base = { 0 }, target;
	struct applied st;
	struct tentry *e;

	(void)state;
	tree_add(&base, 0100644, "x", 1);
	tree_add(&base, 0100644, "x-", 2);
	tree_add(&base, 0100644, "x.y", 3);
	tree_add(&base, 0100644, "x0", 4);
	tree_add(&base, 0100644, "w", 5);
	tree_add(&base, 0100644, "y", 6);
	tree_copy(&target, &base);
	e = tree_find(&target, "x");
	e->mode = 040000;
	make_id(e->id, 7);
	round_trip_trees(&base, &target, &st);
	assert_int_equal(st.inserted, entry_size(tree_find(&target, "x")));
	/* and back: target and base swapped */
	round_trip_trees(&target, &base, &st);
	assert_int_equal(st.inserted, entry_size(tree_find(&base, "x")));
	tree_free(&target);
	tree_free(&base);
}

/* names with bytes above 0x7f sort after ASCII (bytewise, unsigned) */
static void delta_high_bytes(void **state)
{
	struct tree base = { 0 }, target;
	struct applied st;

	(void)state;
	tree_add(&base, 0100644, "caf\xc3\xa9", 1);
	tree_add(&base, 0100644, "cafe", 2);
	tree_add(&base, 040000, "caf", 3);
	tree_add(&base, 0100644, "\xff", 4);
	tree_add(&base, 0100644, "~", 5);
	tree_copy(&target, &base);
	make_id(tree_find(&target, "cafe")->id, 9);
	tree_add(&target, 0100644, "caf\xc3\xa8", 10);
	round_trip_trees(&base, &target, &st);
	tree_free(&target);
	tree_free(&base);
}

/* ------------------------------------------------------------------------
 * pv_pack_tree_delta: malformed trees
 */

struct bad_case {
	const char *what;
	const char *bytes;
	size_t len;
};

#define ID20 "ABCDEFGHIJKLMNOPQRST"
#define BAD(what, lit) { what, lit, sizeof(lit) - 1 }

static const struct bad_case bad_cases[] = {
	BAD("truncated id", "100644 f\0ABCDEFGHIJKLMNOPQRS"),
	BAD("no id", "100644 f\0"),
	BAD("missing space", "100644f\0" ID20),
	BAD("empty name", "100644 \0" ID20),
	BAD("missing NUL", "100644 f" ID20),
	BAD("non-octal digit 8", "100844 f\0" ID20),
	BAD("non-octal letter", "10064a f\0" ID20),
	BAD("mode of 8 digits", "10064400 f\0" ID20),
	BAD("no mode", " f\0" ID20),
	BAD("mode only", "100644"),
	BAD("mode and space only", "100644 "),
	BAD("one stray byte", "1"),
	BAD("a NUL byte", "\0"),
	BAD("negative mode", "-100644 f\0" ID20),
};

static void expect_einval(const unsigned char *base, size_t base_len, const unsigned char *tree, size_t len,
	const char *what, const char *where)
{
	unsigned char *d = (unsigned char *)1;
	size_t dlen = 12345;
	int error;

	pv_error_clear();
	error = pv_pack_tree_delta(&d, &dlen, base, base_len, tree, len);
	if (error != PV_EINVAL)
		fail_msg("%s in %s: got %d, want PV_EINVAL", what, where, error);
	assert_int_equal(pv_error_last()->code, PV_EINVAL);
	assert_null(d);
	assert_int_equal(dlen, 0);
}

static void delta_malformed(void **state)
{
	struct tree good;
	unsigned char *g, *buf;
	size_t glen;

	(void)state;
	big_tree(&good, 5);
	g = tree_raw(&good, &glen);
	buf = malloc(glen + 64);
	assert_non_null(buf);
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		unsigned char *alone = malloc(c->len ? c->len : 1);

		assert_non_null(alone);
		memcpy(alone, c->bytes, c->len); /* an exact-size block: ASan sees overreads */
		/* on its own, in either argument */
		expect_einval(alone, c->len, g, glen, c->what, "base");
		expect_einval(g, glen, alone, c->len, c->what, "target");
		expect_einval(alone, c->len, alone, c->len, c->what, "both");
		/* after well-formed entries (base: after every target entry was
		 * matched, so only the rest of the base finds it) */
		memcpy(buf, g, glen);
		memcpy(buf + glen, c->bytes, c->len);
		expect_einval(buf, glen + c->len, g, glen, c->what, "base, after good entries");
		expect_einval(g, glen, buf, glen + c->len, c->what, "target, after good entries");
		expect_einval((const unsigned char *)"", 0, buf, glen + c->len, c->what,
			"target, after good entries, empty base");
		expect_einval(buf, glen + c->len, (const unsigned char *)"", 0, c->what,
			"base, after good entries, empty target");
		free(alone);
	}
	free(buf);
	free(g);
	tree_free(&good);
}

/* boundaries that are well-formed: seven mode digits, a zero mode, one-byte
 * names, ids holding NUL bytes and spaces */
static size_t put_entry(unsigned char *buf, size_t pos, const char *mode, const char *name, const void *id)
{
	pos += (size_t)sprintf((char *)buf + pos, "%s %s", mode, name) + 1;
	memcpy(buf + pos, id, 20);
	return pos + 20;
}

static void delta_wellformed_edges(void **state)
{
	unsigned char t1[256], t2[256], zeros[20] = { 0 };
	size_t len = 0, len2 = 0;
	unsigned char *d = NULL;
	size_t dlen = 0;

	(void)state;
	len = put_entry(t1, len, "1006440", "f", ID20);                 /* seven digits */
	len = put_entry(t1, len, "0", "g", zeros);                      /* an id of NUL bytes */
	len = put_entry(t1, len, "40000", "h", "100644 x\0 \0 \0 \0 \0 \0"); /* an id that looks like an entry */
	len = put_entry(t1, len, "100644", "i", "  \0\0          \0\0\0 1");
	round_trip(t1, len, t1, len, 0, NULL);
	round_trip((const unsigned char *)"", 0, t1, len, len, NULL);
	assert_int_equal(pv_pack_tree_delta(&d, &dlen, t1, len, (const unsigned char *)"", 0), 0);
	free(d);
	/* the same with "h" changed: only it inserted */
	len2 = put_entry(t2, len2, "1006440", "f", ID20);
	len2 = put_entry(t2, len2, "0", "g", zeros);
	len2 = put_entry(t2, len2, "40000", "h", ID20);
	len2 = put_entry(t2, len2, "100644", "i", "  \0\0          \0\0\0 1");
	assert_int_equal(len2, len);
	round_trip(t1, len, t2, len2, strlen("40000 h") + 1 + 20, NULL);
}

/* ------------------------------------------------------------------------
 * packs
 */

static void sha1(const void *data, size_t len, unsigned char md[20])
{
	unsigned int mdlen = 0;

	assert_true(EVP_Digest(data, len, md, &mdlen, EVP_sha1(), NULL));
	assert_int_equal(mdlen, 20);
}

static void check_pack_frame(const struct pv_pack *p, uint32_t count)
{
	unsigned char md[20];

	assert_true(p->len >= 32);
	assert_memory_equal(p->buf, "PACK\0\0\0\2", 8);
	assert_int_equal(((uint32_t)p->buf[8] << 24) | ((uint32_t)p->buf[9] << 16) |
				 ((uint32_t)p->buf[10] << 8) | p->buf[11],
		count);
	sha1(p->buf, p->len - 20, md);
	assert_memory_equal(p->buf + p->len - 20, md, 20);
}

static void pack_frame(void **state)
{
	struct pv_pack p = PV_PACK_INIT;
	unsigned char big[100000];

	(void)state;
	/* not begun */
	assert_int_equal(pv_pack_finish(&p), PV_ERROR);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7 + (i >> 9));
	assert_int_equal(pv_pack_begin(&p), 0);
	assert_int_equal(p.len, 12);
	assert_int_equal(pv_pack_add(&p, PV_PACK_BLOB, "", 0), 0);
	assert_int_equal(pv_pack_add(&p, PV_PACK_BLOB, big, 15), 0);
	assert_int_equal(pv_pack_add(&p, PV_PACK_BLOB, big, 16), 0);
	assert_int_equal(pv_pack_add(&p, PV_PACK_BLOB, big, sizeof(big)), 0);
	assert_int_equal(p.count, 4);
	assert_int_equal(pv_pack_finish(&p), 0);
	check_pack_frame(&p, 4);
	/* finishing twice would hash the trailer into a second one */
	assert_int_equal(pv_pack_finish(&p), PV_ERROR);
	check_pack_frame(&p, 4);
	pv_pack_dispose(&p);
	assert_null(p.buf);

	/* an empty pack */
	assert_int_equal(pv_pack_begin(&p), 0);
	assert_int_equal(pv_pack_finish(&p), 0);
	assert_int_equal(p.len, 32);
	check_pack_frame(&p, 0);
	pv_pack_dispose(&p);
}

/* when pv_pack_add_tree sends the tree whole */
static void pack_add_tree_fallbacks(void **state)
{
	struct pv_pack p = PV_PACK_INIT;
	struct tree small, base, target, other;
	unsigned char *s, *b, *t, *o, id[20] = { 1 };
	size_t slen, blen, tlen, olen;
	int delta = -1;

	(void)state;
	big_tree(&small, 10); /* under 1 KiB */
	s = tree_raw(&small, &slen);
	assert_true(slen < 1024);
	big_tree(&base, 1000);
	b = tree_raw(&base, &blen);
	tree_copy(&target, &base);
	tree_add(&target, 0100644, "new", 1);
	tree_sort(&target);
	t = tree_raw(&target, &tlen);
	tree_copy(&other, &base);
	for (size_t i = 0; i < other.n; i++)
		make_id(other.e[i].id, (uint32_t)(7000 + i));
	o = tree_raw(&other, &olen);

	assert_int_equal(pv_pack_begin(&p), 0);
	/* small: whole, even against a good base */
	assert_int_equal(pv_pack_add_tree(&p, id, s, slen, s, slen, &delta), 0);
	assert_int_equal(delta, 0);
	/* no base */
	delta = -1;
	assert_int_equal(pv_pack_add_tree(&p, id, NULL, 0, t, tlen, &delta), 0);
	assert_int_equal(delta, 0);
	/* a malformed base, a malformed tree */
	delta = -1;
	assert_int_equal(pv_pack_add_tree(&p, id, b, blen - 1, t, tlen, &delta), 0);
	assert_int_equal(delta, 0);
	delta = -1;
	assert_int_equal(pv_pack_add_tree(&p, id, b, blen, t, tlen - 1, &delta), 0);
	assert_int_equal(delta, 0);
	/* nothing in common: the delta would not be smaller */
	delta = -1;
	assert_int_equal(pv_pack_add_tree(&p, id, b, blen, o, olen, &delta), 0);
	assert_int_equal(delta, 0);
	/* and the good case */
	assert_int_equal(pv_pack_add_tree(&p, id, b, blen, t, tlen, &delta), 0);
	assert_int_equal(delta, 1);
	assert_int_equal(p.count, 6);
	assert_int_equal(pv_pack_finish(&p), 0);
	check_pack_frame(&p, 6);
	pv_pack_dispose(&p);
	free(s);
	free(b);
	free(t);
	free(o);
	tree_free(&small);
	tree_free(&base);
	tree_free(&target);
	tree_free(&other);
}

/* ---- with libgit2 ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *dir)
{
	assert_int_equal(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void lg2_ok(int rc, const char *what)
{
	if (rc < 0) {
		const git_error *e = git_error_last();

		fail_msg("%s: %d %s", what, rc, e ? e->message : "");
	}
}

struct indexed {
	int ok;
	git_indexer_progress stats;
	char message[256];
};

static struct indexed index_pack(const char *pack_dir, git_odb *odb, const struct pv_pack *p)
{
	git_indexer *idx = NULL;
	git_indexer_options opts;
	struct indexed r;
	int rc;

	memset(&r, 0, sizeof(r));
	lg2_ok(git_indexer_options_init(&opts, GIT_INDEXER_OPTIONS_VERSION), "git_indexer_options_init");
	lg2_ok(git_indexer_new(&idx, pack_dir, 0, odb, &opts), "git_indexer_new");
	/* in two pieces, as a network read would deliver it */
	rc = git_indexer_append(idx, p->buf, p->len / 2, &r.stats);
	if (rc == 0)
		rc = git_indexer_append(idx, p->buf + p->len / 2, p->len - p->len / 2, &r.stats);
	if (rc == 0)
		rc = git_indexer_commit(idx, &r.stats);
	r.ok = rc == 0;
	if (rc < 0 && git_error_last())
		snprintf(r.message, sizeof(r.message), "%s", git_error_last()->message);
	if (rc == 0)
		assert_non_null(git_indexer_name(idx));
	git_indexer_free(idx);
	return r;
}

static void expect_object(git_odb *odb, const git_oid *id, git_object_t type, const void *data, size_t len)
{
	git_odb_object *obj = NULL;
	char hex[GIT_OID_HEXSZ + 1];

	if (git_odb_read(&obj, odb, id) < 0)
		fail_msg("object %s not found", git_oid_tostr(hex, sizeof(hex), id));
	assert_int_equal(git_odb_object_type(obj), type);
	assert_int_equal(git_odb_object_size(obj), len);
	if (len)
		assert_memory_equal(git_odb_object_data(obj), data, len);
	git_odb_object_free(obj);
}

/* A pack of whole objects needs nothing else: index it into an empty
 * objects directory without an odb, read everything back. */
static void pack_whole_objects_index(void **state)
{
	struct pv_pack p = PV_PACK_INIT;
	char dir[] = "/tmp/pv-pack-XXXXXX", path[128];
	struct tree t;
	unsigned char *traw, big[70000];
	size_t rawlen;
	const char *commit_fmt = "tree %s\nauthor A <a@b> 1700000000 +0000\ncommitter A <a@b> 1700000000 +0000\n\nm\n";
	char commit[256], hex[GIT_OID_HEXSZ + 1];
	struct {
		git_object_t type;
		enum pv_pack_type pack_type;
		const void *data;
		size_t len;
		git_oid id;
	} obj[5];
	struct indexed r;
	git_odb *odb = NULL;
	int n = 0;

	(void)state;
	git_libgit2_init();
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/objects", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/objects/pack", dir);
	assert_int_equal(mkdir(path, 0700), 0);

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)((i * 31) ^ (i >> 7));
	big_tree(&t, 3000);
	traw = tree_raw(&t, &rawlen);
	assert_true(rawlen > 1024);

#define OBJ(t, pt, d, l)                                                       \
	do {                                                                   \
		obj[n].type = t;                                               \
		obj[n].pack_type = pt;                                         \
		obj[n].data = d;                                               \
		obj[n].len = l;                                                \
		lg2_ok(git_odb_hash(&obj[n].id, d, l, t), "git_odb_hash");     \
		n++;                                                           \
	} while (0)
	OBJ(GIT_OBJECT_BLOB, PV_PACK_BLOB, "", 0);
	OBJ(GIT_OBJECT_BLOB, PV_PACK_BLOB, "hello\n", 6);
	OBJ(GIT_OBJECT_BLOB, PV_PACK_BLOB, big, sizeof(big));
	OBJ(GIT_OBJECT_TREE, PV_PACK_TREE, traw, rawlen);
	snprintf(commit, sizeof(commit), commit_fmt, git_oid_tostr(hex, sizeof(hex), &obj[3].id));
	OBJ(GIT_OBJECT_COMMIT, PV_PACK_COMMIT, commit, strlen(commit));
#undef OBJ

	assert_int_equal(pv_pack_begin(&p), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(pv_pack_add(&p, obj[i].pack_type, obj[i].data, obj[i].len), 0);
	assert_int_equal(pv_pack_finish(&p), 0);
	check_pack_frame(&p, (uint32_t)n);

	r = index_pack(path, NULL, &p);
	if (!r.ok)
		fail_msg("indexing a pack of whole objects failed: %s", r.message);
	assert_int_equal(r.stats.total_objects, n);
	assert_int_equal(r.stats.indexed_objects, n);
	assert_int_equal(r.stats.local_objects, 0);

	lg2_ok(git_odb_new(&odb), "git_odb_new");
	snprintf(path, sizeof(path), "%s/objects", dir);
	lg2_ok(git_odb_add_disk_alternate(odb, path), "git_odb_add_disk_alternate");
	for (int i = 0; i < n; i++)
		expect_object(odb, &obj[i].id, obj[i].type, obj[i].data, obj[i].len);
	git_odb_free(odb);

	/* a flipped byte in the trailer fails the indexer */
	p.buf[p.len - 1] ^= 1;
	snprintf(path, sizeof(path), "%s/objects/pack", dir);
	r = index_pack(path, NULL, &p);
	assert_false(r.ok);

	pv_pack_dispose(&p);
	free(traw);
	tree_free(&t);
	rm_rf(dir);
	git_libgit2_shutdown();
}

static void unlink_loose(const char *repo_dir, const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1], path[256];

	git_oid_tostr(hex, sizeof(hex), id);
	snprintf(path, sizeof(path), "%s/objects/%.2s/%s", repo_dir, hex, hex + 2);
	if (unlink(path) != 0)
		fail_msg("cannot remove %s", path);
}

static int odb_has(const char *repo_dir, const git_oid *id)
{
	git_repository *repo = NULL;
	git_odb *odb = NULL;
	int has;

	lg2_ok(git_repository_open_bare(&repo, repo_dir), "git_repository_open_bare");
	lg2_ok(git_repository_odb(&odb, repo), "git_repository_odb");
	has = git_odb_exists(odb, id);
	git_odb_free(odb);
	git_repository_free(repo);
	return has;
}

/* The thin pack: a new blob and the env folder's new tree as a delta
 * against the tree the repository holds.  libgit2 builds both trees (its
 * treebuilder sorts independently of pack.c), then the new objects are
 * deleted from the repository so that only the pack can bring them back. */
static void pack_thin_index(void **state)
{
	struct pv_pack p = PV_PACK_INIT;
	char dir[] = "/tmp/pv-pack-XXXXXX", scratch[] = "/tmp/pv-pack-XXXXXX", path[128], name[32];
	git_repository *repo = NULL;
	git_odb *odb = NULL;
	git_treebuilder *tb = NULL;
	git_odb_object *base_obj = NULL, *new_obj = NULL;
	git_oid blob_id, sub_id, base_id, new_blob_id, new_id;
	git_tree *tree = NULL;
	unsigned char *base_raw, *new_raw;
	size_t base_len, new_len;
	struct indexed r;
	int delta = -1;
	static const char new_blob[] = "the blob of the new environment\n";

	(void)state;
	git_libgit2_init();
	assert_non_null(mkdtemp(dir));
	lg2_ok(git_repository_init(&repo, dir, 1), "git_repository_init");
	lg2_ok(git_repository_odb(&odb, repo), "git_repository_odb");

	/* a subtree, and 3000 entries: folders and files alternating */
	lg2_ok(git_odb_write(&blob_id, odb, "values\n", 7, GIT_OBJECT_BLOB), "git_odb_write");
	lg2_ok(git_treebuilder_new(&tb, repo, NULL), "git_treebuilder_new");
	lg2_ok(git_treebuilder_insert(NULL, tb, "values.yaml", &blob_id, GIT_FILEMODE_BLOB), "insert");
	lg2_ok(git_treebuilder_write(&sub_id, tb), "git_treebuilder_write");
	git_treebuilder_free(tb);
	lg2_ok(git_treebuilder_new(&tb, repo, NULL), "git_treebuilder_new");
	for (int i = 0; i < 3000; i++) {
		char content[32];
		git_oid id;

		snprintf(name, sizeof(name), "env-%04d", i);
		if (i % 2) {
			int n = snprintf(content, sizeof(content), "blob %d\n", i);

			lg2_ok(git_odb_write(&id, odb, content, (size_t)n, GIT_OBJECT_BLOB), "git_odb_write");
			lg2_ok(git_treebuilder_insert(NULL, tb, name, &id, GIT_FILEMODE_BLOB), "insert");
		} else {
			lg2_ok(git_treebuilder_insert(NULL, tb, name, &sub_id, GIT_FILEMODE_TREE), "insert");
		}
	}
	lg2_ok(git_treebuilder_write(&base_id, tb), "git_treebuilder_write");
	/* the new version: one entry added in the middle, whose name sorts
	 * differently as a blob ("env-1500" < "env-1500-x") */
	lg2_ok(git_odb_write(&new_blob_id, odb, new_blob, sizeof(new_blob) - 1, GIT_OBJECT_BLOB), "git_odb_write");
	lg2_ok(git_treebuilder_insert(NULL, tb, "env-1500-x", &new_blob_id, GIT_FILEMODE_BLOB), "insert");
	lg2_ok(git_treebuilder_write(&new_id, tb), "git_treebuilder_write");
	git_treebuilder_free(tb);

	lg2_ok(git_odb_read(&base_obj, odb, &base_id), "git_odb_read");
	lg2_ok(git_odb_read(&new_obj, odb, &new_id), "git_odb_read");
	base_len = git_odb_object_size(base_obj);
	new_len = git_odb_object_size(new_obj);
	assert_true(base_len > 1024);
	base_raw = malloc(base_len);
	new_raw = malloc(new_len);
	assert_non_null(base_raw);
	assert_non_null(new_raw);
	memcpy(base_raw, git_odb_object_data(base_obj), base_len);
	memcpy(new_raw, git_odb_object_data(new_obj), new_len);
	git_odb_object_free(base_obj);
	git_odb_object_free(new_obj);
	git_odb_free(odb);
	git_repository_free(repo);

	/* libgit2's trees, through the applier: only the new entry inserted */
	round_trip(base_raw, base_len, new_raw, new_len, new_len - base_len, NULL);

	unlink_loose(dir, &new_id);
	unlink_loose(dir, &new_blob_id);
	assert_false(odb_has(dir, &new_id));
	assert_false(odb_has(dir, &new_blob_id));
	assert_true(odb_has(dir, &base_id));

	assert_int_equal(pv_pack_begin(&p), 0);
	assert_int_equal(pv_pack_add(&p, PV_PACK_BLOB, new_blob, sizeof(new_blob) - 1), 0);
	assert_int_equal(pv_pack_add_tree(&p, base_id.id, base_raw, base_len, new_raw, new_len, &delta), 0);
	assert_int_equal(delta, 1);
	assert_int_equal(pv_pack_finish(&p), 0);
	check_pack_frame(&p, 2);
	/* the delta, deflated, is a small fraction of the tree */
	assert_true(p.len < new_len / 20);

	/* thin for real: without the base the pack cannot be completed */
	assert_non_null(mkdtemp(scratch));
	r = index_pack(scratch, NULL, &p);
	assert_false(r.ok);
	rm_rf(scratch);

	/* with the repository's odb it can */
	lg2_ok(git_repository_open_bare(&repo, dir), "git_repository_open_bare");
	lg2_ok(git_repository_odb(&odb, repo), "git_repository_odb");
	snprintf(path, sizeof(path), "%s/objects/pack", dir);
	r = index_pack(path, odb, &p);
	if (!r.ok)
		fail_msg("indexing the thin pack failed: %s", r.message);
	assert_int_equal(r.stats.total_objects, 2);
	assert_int_equal(r.stats.indexed_deltas, 1);
	assert_int_equal(r.stats.local_objects, 1); /* the base, appended from the odb */
	git_odb_free(odb);
	git_repository_free(repo);

	/* a fresh open finds both new objects, in the pack */
	assert_true(odb_has(dir, &new_id));
	lg2_ok(git_repository_open_bare(&repo, dir), "git_repository_open_bare");
	lg2_ok(git_repository_odb(&odb, repo), "git_repository_odb");
	expect_object(odb, &new_id, GIT_OBJECT_TREE, new_raw, new_len);
	expect_object(odb, &new_blob_id, GIT_OBJECT_BLOB, new_blob, sizeof(new_blob) - 1);
	lg2_ok(git_tree_lookup(&tree, repo, &new_id), "git_tree_lookup");
	assert_int_equal(git_tree_entrycount(tree), 3001);
	assert_non_null(git_tree_entry_byname(tree, "env-1500-x"));
	assert_true(git_oid_equal(git_tree_entry_id(git_tree_entry_byname(tree, "env-1500-x")), &new_blob_id));
	git_tree_free(tree);
	git_odb_free(odb);
	git_repository_free(repo);

	pv_pack_dispose(&p);
	free(base_raw);
	free(new_raw);
	rm_rf(dir);
	git_libgit2_shutdown();
}

/* ------------------------------------------------------------------------
 * pv_smartpush_parse_report
 */

#define REF "refs/heads/main"

struct body {
	char buf[4096];
	size_t len;
};

/* a pkt-line holding payload (n bytes) */
static void pkt_n(struct body *b, const char *payload, size_t n)
{
	assert_true(b->len + 4 + n <= sizeof(b->buf));
	snprintf(b->buf + b->len, 5, "%04zx", n + 4);
	memcpy(b->buf + b->len + 4, payload, n);
	b->len += 4 + n;
}

static void pkt(struct body *b, const char *payload)
{
	pkt_n(b, payload, strlen(payload));
}

static void raw(struct body *b, const char *bytes)
{
	size_t n = strlen(bytes);

	assert_true(b->len + n <= sizeof(b->buf));
	memcpy(b->buf + b->len, bytes, n);
	b->len += n;
}

/* parse b with msg in an exact-size heap block of msglen bytes */
static enum pv_smartpush_result parse(const struct body *b, const char *ref, char *msg_out, size_t msglen)
{
	char *copy = malloc(b->len ? b->len : 1), *msg = msglen ? malloc(msglen) : NULL;
	enum pv_smartpush_result res;

	assert_non_null(copy);
	memcpy(copy, b->buf, b->len); /* exact size too: no reading past the body */
	if (msglen) {
		assert_non_null(msg);
		memset(msg, 'Z', msglen);
	}
	res = pv_smartpush_parse_report(copy, b->len, ref, msg, msglen);
	if (msglen) {
		assert_non_null(memchr(msg, '\0', msglen));
		for (const char *c = msg; *c; c++)
			if (*c < 0x20 || *c > 0x7e)
				fail_msg("msg has byte 0x%02x", (unsigned char)*c);
		if (msg_out)
			memcpy(msg_out, msg, strlen(msg) + 1);
	}
	free(msg);
	free(copy);
	return res;
}

static void report_ok(void **state)
{
	struct body b = { .len = 0 };
	char msg[256];

	(void)state;
	pkt(&b, "unpack ok\n");
	pkt(&b, "ok " REF "\n");
	raw(&b, "0000");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_OK);
	/* without the newlines and the flush too */
	b.len = 0;
	pkt(&b, "unpack ok");
	pkt(&b, "ok " REF);
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_OK);
	/* other refs' lines around it */
	b.len = 0;
	pkt(&b, "unpack ok\n");
	pkt(&b, "ng refs/heads/other fetch first\n");
	pkt(&b, "ok refs/heads/main2\n");
	pkt(&b, "ok " REF "\n");
	raw(&b, "0000");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_OK);
	/* hex lengths, lower and upper case */
	b.len = 0;
	raw(&b, "000eunpack ok\n0017ok " REF "\n0000");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_OK);
	b.len = 0;
	raw(&b, "000Eunpack ok\n0017ok " REF "\n0000");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_OK);
	b.len = 0;
	raw(&b, "000Eunpack ok\n001Bng " REF " xyz\n0000");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_REJECTED);
	assert_non_null(strstr(msg, "xyz"));
	/* an empty pkt-line ("0004") is skipped */
	b.len = 0;
	raw(&b, "0004");
	pkt(&b, "unpack ok\n");
	raw(&b, "0004");
	pkt(&b, "ok " REF "\n");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_OK);
}

static void report_rejected(void **state)
{
	struct body b = { .len = 0 };
	char msg[256];

	(void)state;
	pkt(&b, "unpack ok\n");
	pkt(&b, "ng " REF " fetch first\n");
	raw(&b, "0000");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_REJECTED);
	assert_non_null(strstr(msg, "fetch first"));
	assert_non_null(strstr(msg, REF));

	b.len = 0;
	pkt(&b, "unpack ok\n");
	pkt(&b, "ng " REF "\n");
	raw(&b, "0000");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_REJECTED);
	assert_true(strlen(msg) > 0);

	b.len = 0;
	pkt(&b, "unpack ok\n");
	pkt(&b, "ng " REF " \n");
	raw(&b, "0000");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_REJECTED);

	b.len = 0;
	pkt(&b, "unpack ok\n");
	pkt(&b, "ng " REF " pre-receive hook declined\n");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_REJECTED);
	assert_non_null(strstr(msg, "pre-receive hook declined"));
}

static void report_failed(void **state)
{
	struct body b = { .len = 0 };
	char msg[256];

	(void)state;
	pkt(&b, "unpack index-pack failed\n");
	pkt(&b, "ng " REF " unpacker error\n");
	raw(&b, "0000");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_FAILED);
	assert_non_null(strstr(msg, "index-pack failed"));

	b.len = 0;
	pkt(&b, "ERR something\n");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_FAILED);
	assert_non_null(strstr(msg, "something"));

	/* ERR anywhere wins, even after unpack ok */
	b.len = 0;
	pkt(&b, "unpack ok\n");
	pkt(&b, "ERR access denied\n");
	pkt(&b, "ok " REF "\n");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_FAILED);
	assert_non_null(strstr(msg, "access denied"));
}

static void report_unsupported(void **state)
{
	struct body b = { .len = 0 };
	char msg[256];

	(void)state;
	/* another ref only: a prefix of refname, or refname a prefix of it */
	pkt(&b, "unpack ok\n");
	pkt(&b, "ok refs/heads/main2\n");
	raw(&b, "0000");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);
	b.len = 0;
	pkt(&b, "unpack ok\n");
	pkt(&b, "ok refs/heads/mai\n");
	raw(&b, "0000");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);
	b.len = 0;
	pkt(&b, "unpack ok\n");
	pkt(&b, "ng refs/heads/main2 fetch first\n");
	pkt(&b, "ng refs/heads/mai fetch first\n");
	pkt(&b, "ng refs/heads/main\tfetch first\n");
	raw(&b, "0000");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);
	b.len = 0;
	pkt(&b, "unpack ok\n");
	pkt(&b, "ok  " REF "\n");
	pkt(&b, "OK " REF "\n");
	raw(&b, "0000");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);

	/* the ref's ok without (or before) the unpack status is no success */
	b.len = 0;
	pkt(&b, "ok " REF "\n");
	raw(&b, "0000");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);
	b.len = 0;
	pkt(&b, "ok " REF "\n");
	pkt(&b, "unpack ok\n");
	raw(&b, "0000");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);

	/* unpack ok and nothing about the ref */
	b.len = 0;
	pkt(&b, "unpack ok\n");
	raw(&b, "0000");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);
	assert_true(strlen(msg) > 0);
	/* the ref's status after the flush does not count */
	b.len = 0;
	pkt(&b, "unpack ok\n");
	raw(&b, "0000");
	pkt(&b, "ok " REF "\n");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);

	/* empty body */
	b.len = 0;
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);
	assert_int_equal(pv_smartpush_parse_report(NULL, 0, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);
	/* garbage: HTML, a bare line */
	b.len = 0;
	raw(&b, "<html><body>Not a Git server</body></html>\n");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);
	b.len = 0;
	raw(&b, "ok " REF "\n");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);
	/* a flush first */
	b.len = 0;
	raw(&b, "0000");
	pkt(&b, "unpack ok\n");
	pkt(&b, "ok " REF "\n");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);
}

static void report_bad_lengths(void **state)
{
	struct body b = { .len = 0 };
	char msg[256];
	static const char *const bad[] = { "0001", "0002", "0003", "000", "00", "0", "zzzz", "00g0", " 014",
		"-014", "0x14", "ffff" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* where the ok line should be */
		b.len = 0;
		pkt(&b, "unpack ok\n");
		raw(&b, bad[i]);
		raw(&b, "ok " REF "\n");
		assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);
		/* on their own */
		b.len = 0;
		raw(&b, bad[i]);
		assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);
	}
	/* a length one past the body: the ok line is truncated */
	b.len = 0;
	pkt(&b, "unpack ok\n");
	raw(&b, "0018ok " REF "\n");
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);
	/* the body cut inside a line */
	b.len = 0;
	pkt(&b, "unpack ok\n");
	pkt(&b, "ok " REF "\n");
	b.len -= 3;
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);
	/* ... and inside the length of the first */
	b.len = 2;
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_UNSUPPORTED);
}

static void report_sanitizes(void **state)
{
	struct body b = { .len = 0 };
	char msg[512];
	static const char reason[] = "ng " REF " bad\x01\x1b[31mred\nline\r\x7f\xff\x80\tend\n";
	static const char unpack[] = "unpack \xff\x01oops\n", err[] = "ERR \0nul\x02\n";

	(void)state;
	pkt(&b, "unpack ok\n");
	pkt_n(&b, reason, sizeof(reason) - 1);
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_REJECTED); /* parse checks printable */
	assert_non_null(strstr(msg, "bad"));
	assert_non_null(strstr(msg, "end"));
	assert_null(strchr(msg, '\n'));

	b.len = 0;
	pkt_n(&b, unpack, sizeof(unpack) - 1);
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_FAILED);
	assert_non_null(strstr(msg, "oops"));

	b.len = 0;
	pkt_n(&b, err, sizeof(err) - 1);
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_FAILED);
	assert_non_null(strstr(msg, "nul"));

	/* a long reason is cut, still terminated */
	b.len = 0;
	pkt(&b, "unpack ok\n");
	{
		char line[1200];

		size_t n = (size_t)snprintf(line, sizeof(line), "ng " REF " ");

		memset(line + n, 'r', 1000);
		line[n + 1000] = '\0';
		pkt(&b, line);
	}
	assert_int_equal(parse(&b, REF, msg, sizeof(msg)), PV_SMARTPUSH_REJECTED);
	assert_true(strlen(msg) < sizeof(msg));
}

/* tiny msg buffers: every result path, msglen 0 (msg NULL), 1, 2, 5 */
static void report_small_msg(void **state)
{
	struct body bodies[5];
	static const enum pv_smartpush_result want[5] = { PV_SMARTPUSH_OK, PV_SMARTPUSH_REJECTED,
		PV_SMARTPUSH_FAILED, PV_SMARTPUSH_FAILED, PV_SMARTPUSH_UNSUPPORTED };
	static const size_t lens[] = { 0, 1, 2, 5, 17 };
	char msg[32];

	(void)state;
	memset(bodies, 0, sizeof(bodies));
	pkt(&bodies[0], "unpack ok\n");
	pkt(&bodies[0], "ok " REF "\n");
	pkt(&bodies[1], "unpack ok\n");
	pkt(&bodies[1], "ng " REF " a long reason for refusing the update\n");
	pkt(&bodies[2], "unpack index-pack abnormal exit\n");
	pkt(&bodies[3], "ERR a long error message from the server\n");
	raw(&bodies[4], "garbage");
	for (size_t i = 0; i < 5; i++)
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			assert_int_equal(parse(&bodies[i], REF, msg, lens[j]), want[i]);
			if (lens[j])
				assert_true(strlen(msg) < lens[j]);
		}
}

/* ------------------------------------------------------------------------
 * pv_smartpush: URLs, and a push to a one-shot HTTP server
 */

static void smartpush_handles(void **state)
{
	struct pv_smartpush *sp = (struct pv_smartpush *)1;

	(void)state;
	assert_true(pv_smartpush_handles("http://git.example.com/r.git"));
	assert_true(pv_smartpush_handles("https://git.example.com/r.git"));
	assert_false(pv_smartpush_handles("file:///srv/r.git"));
	assert_false(pv_smartpush_handles("ssh://git@host/r.git"));
	assert_false(pv_smartpush_handles("git@host:r.git"));
	assert_false(pv_smartpush_handles("HTTP:/x"));
	assert_false(pv_smartpush_handles(""));
	assert_false(pv_smartpush_handles(NULL));
	assert_int_equal(pv_smartpush_new(&sp, "file:///srv/r.git", NULL, NULL, 5), PV_EINVAL);
	assert_null(sp);
	assert_int_equal(pv_smartpush_new(&sp, "https://h/r.git///", "u", "p", 5), 0);
	assert_non_null(sp);
	pv_smartpush_free(sp);
	pv_smartpush_free(NULL);
}

struct server {
	int fd;
	int port;
	pthread_t thread;
	const char *response;
	char *request; /* what the client sent, NUL-terminated */
	size_t request_len, body_off;
};

static void *serve_one(void *arg)
{
	struct server *s = arg;
	size_t cap = 1 << 16, want = (size_t)-1;
	struct timeval tv = { 10, 0 };
	int c = accept(s->fd, NULL, NULL);

	if (c < 0)
		return NULL;
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	s->request = malloc(cap + 1);
	while (s->request && s->request_len < want) {
		ssize_t n;

		if (s->request_len == cap) {
			char *g = realloc(s->request, cap * 2 + 1);

			if (!g)
				break;
			s->request = g;
			cap *= 2;
		}
		n = recv(c, s->request + s->request_len, cap - s->request_len, 0);
		if (n <= 0)
			break;
		s->request_len += (size_t)n;
		s->request[s->request_len] = '\0';
		if (want == (size_t)-1) {
			char *end = strstr(s->request, "\r\n\r\n"), *cl;

			if (end) {
				s->body_off = (size_t)(end + 4 - s->request);
				cl = strcasestr(s->request, "\r\nContent-Length:");
				want = s->body_off + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
			}
		}
	}
	if (send(c, s->response, strlen(s->response), MSG_NOSIGNAL) < 0)
		perror("send");
	close(c);
	return NULL;
}

static void server_start(struct server *s, const char *response)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->response = response;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 4), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, serve_one, s), 0);
}

static void server_stop(struct server *s)
{
	assert_int_equal(pthread_join(s->thread, NULL), 0);
	close(s->fd);
}

static void server_free(struct server *s)
{
	free(s->request);
	s->request = NULL;
}

#define OLD "1111111111111111111111111111111111111111"
#define NEW "2222222222222222222222222222222222222222"
#define RESULT_TYPE "application/x-git-receive-pack-result"
#define REPORT_OK "000eunpack ok\n0017ok refs/heads/main\n0000"

/* an HTTP response, its Content-Length computed; static storage */
static const char *http_response(const char *status, const char *ctype, const char *body)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "HTTP/1.1 %s\r\n%s%s%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
		status, ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "", strlen(body), body);
	return buf;
}

static enum pv_smartpush_result push_to(struct server *s, const char *response, const char *user,
	const char *password, char *msg, size_t msglen)
{
	struct pv_smartpush *sp = NULL;
	char url[128];
	enum pv_smartpush_result res;

	server_start(s, response);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/repo.git//", s->port);
	assert_int_equal(pv_smartpush_new(&sp, url, user, password, 10), 0);
	res = pv_smartpush_send(sp, REF, OLD, NEW, "PACKdata", 8, msg, msglen);
	pv_smartpush_free(sp);
	server_stop(s);
	return res;
}

static void smartpush_send_request(void **state)
{
	struct server s;
	char msg[256], want[256], len4[5];
	size_t n;
	const char *ok = http_response("200 OK", RESULT_TYPE, REPORT_OK);

	(void)state;
	assert_int_equal(push_to(&s, ok, NULL, "secret", msg, sizeof(msg)), PV_SMARTPUSH_OK);
	assert_non_null(s.request);
	assert_true(strncmp(s.request, "POST /repo.git/git-receive-pack HTTP/1.1\r\n", 42) == 0);
	assert_non_null(strcasestr(s.request, "\r\nContent-Type: application/x-git-receive-pack-request\r\n"));
	assert_non_null(strcasestr(s.request, "\r\nAccept: application/x-git-receive-pack-result\r\n"));
	/* Basic credentials in the first request, "git" as the default user */
	assert_non_null(strstr(s.request, "\r\nAuthorization: Basic Z2l0OnNlY3JldA==\r\n"));
	assert_null(strcasestr(s.request, "100-continue"));
	/* the body: the command pkt-line, a flush, the pack */
	n = (size_t)snprintf(want + 4, sizeof(want) - 4, OLD " " NEW " " REF "%creport-status agent=previewd/%s\n",
		'\0', PREVIEWD_VERSION);
	snprintf(len4, sizeof(len4), "%04zx", n + 4);
	memcpy(want, len4, 4);
	memcpy(want + 4 + n, "0000PACKdata", 12);
	assert_int_equal(s.request_len - s.body_off, 4 + n + 12);
	assert_memory_equal(s.request + s.body_off, want, 4 + n + 12);
	server_free(&s);

	/* an explicit user */
	assert_int_equal(push_to(&s, ok, "alice", "pw", msg, sizeof(msg)), PV_SMARTPUSH_OK);
	assert_non_null(strstr(s.request, "\r\nAuthorization: Basic YWxpY2U6cHc=\r\n"));
	server_free(&s);
	/* no password, no Authorization */
	assert_int_equal(push_to(&s, ok, "alice", NULL, msg, sizeof(msg)), PV_SMARTPUSH_OK);
	assert_null(strcasestr(s.request, "\r\nAuthorization:"));
	server_free(&s);
}

static void smartpush_send_answers(void **state)
{
	struct server s;
	char msg[256];

	(void)state;
	assert_int_equal(push_to(&s, http_response("200 OK", RESULT_TYPE, "000eunpack ok\n001dng refs/heads/main stale\n0000"),
				 NULL, NULL, msg, sizeof(msg)),
		PV_SMARTPUSH_REJECTED);
	assert_non_null(strstr(msg, "stale"));
	server_free(&s);
	/* a content type with parameters is still the result type */
	assert_int_equal(push_to(&s, http_response("200 OK", RESULT_TYPE "; charset=binary", REPORT_OK), NULL, NULL,
				 msg, sizeof(msg)),
		PV_SMARTPUSH_OK);
	server_free(&s);
	assert_int_equal(push_to(&s, http_response("401 Unauthorized", NULL, ""), NULL, NULL, msg, sizeof(msg)),
		PV_SMARTPUSH_FAILED);
	assert_non_null(strstr(msg, "credentials"));
	server_free(&s);
	assert_int_equal(push_to(&s, http_response("403 Forbidden", NULL, ""), NULL, "pw", msg, sizeof(msg)),
		PV_SMARTPUSH_FAILED);
	assert_non_null(strstr(msg, "403"));
	server_free(&s);
	assert_int_equal(push_to(&s, http_response("503 Unavailable", NULL, ""), NULL, NULL, msg, sizeof(msg)),
		PV_SMARTPUSH_FAILED);
	assert_non_null(strstr(msg, "503"));
	server_free(&s);
	assert_int_equal(push_to(&s, http_response("404 Not Found", NULL, ""), NULL, NULL, msg, sizeof(msg)),
		PV_SMARTPUSH_UNSUPPORTED);
	server_free(&s);
	/* a 200 that is not a receive-pack result (a dumb-HTTP server, a login page) */
	assert_int_equal(push_to(&s, http_response("200 OK", "text/html", REPORT_OK), NULL, NULL, msg, sizeof(msg)),
		PV_SMARTPUSH_UNSUPPORTED);
	server_free(&s);
	assert_int_equal(push_to(&s, http_response("200 OK", NULL, REPORT_OK), NULL, NULL, msg, sizeof(msg)),
		PV_SMARTPUSH_UNSUPPORTED);
	server_free(&s);
}

static void smartpush_send_unreachable(void **state)
{
	struct pv_smartpush *sp = NULL;
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	char url[128], msg[256], ref[600];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	/* a port nothing listens on: bound, then closed */
	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/r.git", ntohs(a.sin_port));
	assert_int_equal(pv_smartpush_new(&sp, url, NULL, NULL, 5), 0);
	assert_int_equal(pv_smartpush_send(sp, REF, OLD, NEW, "PACK", 4, msg, sizeof(msg)), PV_SMARTPUSH_FAILED);
	assert_true(strlen(msg) > 0);
	/* a ref name too long for the command line: refused before sending */
	memset(ref, 'r', sizeof(ref) - 1);
	ref[sizeof(ref) - 1] = '\0';
	assert_int_equal(pv_smartpush_send(sp, ref, OLD, NEW, "PACK", 4, msg, sizeof(msg)), PV_SMARTPUSH_FAILED);
	pv_smartpush_free(sp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(delta_insert_middle),
		cmocka_unit_test(delta_insert_start),
		cmocka_unit_test(delta_insert_end),
		cmocka_unit_test(delta_remove_one),
		cmocka_unit_test(delta_change_id),
		cmocka_unit_test(delta_change_mode),
		cmocka_unit_test(delta_scattered),
		cmocka_unit_test(delta_disjoint),
		cmocka_unit_test(delta_empty_base),
		cmocka_unit_test(delta_empty_target),
		cmocka_unit_test(delta_both_empty),
		cmocka_unit_test(delta_identical),
		cmocka_unit_test(delta_huge),
		cmocka_unit_test(delta_order_dir_among_blobs),
		cmocka_unit_test(delta_blob_becomes_tree),
		cmocka_unit_test(delta_high_bytes),
		cmocka_unit_test(delta_malformed),
		cmocka_unit_test(delta_wellformed_edges),
		cmocka_unit_test(pack_frame),
		cmocka_unit_test(pack_add_tree_fallbacks),
		cmocka_unit_test(pack_whole_objects_index),
		cmocka_unit_test(pack_thin_index),
		cmocka_unit_test(report_ok),
		cmocka_unit_test(report_rejected),
		cmocka_unit_test(report_failed),
		cmocka_unit_test(report_unsupported),
		cmocka_unit_test(report_bad_lengths),
		cmocka_unit_test(report_sanitizes),
		cmocka_unit_test(report_small_msg),
		cmocka_unit_test(smartpush_handles),
		cmocka_unit_test(smartpush_send_request),
		cmocka_unit_test(smartpush_send_answers),
		cmocka_unit_test(smartpush_send_unreachable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

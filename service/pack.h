/*
 * pack.h - a Git pack file built in memory, for one push.
 *
 * Every round rewrites the env folder's tree: 38 bytes or so per
 * environment, 400 KB at 10,000.  libgit2's packbuilder sends it whole
 * (deflated at zlib's default level, which at that size is most of a
 * round's CPU) because it cannot make thin packs.  The server already holds
 * the previous version of that tree, so this writer sends a delta against
 * it instead (a REF_DELTA: a thin pack, which receive-pack completes from
 * its own objects).  The delta is computed entry by entry: the runs of
 * entries both trees share become copy instructions, the rest is inserted,
 * so its size follows what changed, not the size of the folder.
 *
 * Pure bytes in and out: no libgit2 types, so the tree parsing (its input
 * comes from the remote) can be fuzzed on its own.  One owner at a time.
 */
#ifndef PV_PACK_H
#define PV_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* object types as a pack numbers them */
enum pv_pack_type { PV_PACK_COMMIT = 1, PV_PACK_TREE = 2, PV_PACK_BLOB = 3, PV_PACK_TAG = 4 };

struct pv_pack {
	unsigned char *buf; /* the pack so far; owned */
	size_t len, cap;
	uint32_t count;
	int finished;
};

#define PV_PACK_INIT { NULL, 0, 0, 0, 0 }

/* Start a pack (writes its header).  0 or PV_ERROR. */
int pv_pack_begin(struct pv_pack *p) PV_WARN_UNUSED;

/* Append a whole object of the given type. */
int pv_pack_add(struct pv_pack *p, enum pv_pack_type type, const void *data, size_t len) PV_WARN_UNUSED;

/* Append the tree tree/len as a delta against base/base_len, the tree
 * whose id is base_id (20 bytes) and which the receiver holds.  When either
 * buffer is not a well-formed tree, or the delta would not be smaller, the
 * tree goes in whole instead.  Sets *delta to 1 when a delta was written. */
int pv_pack_add_tree(struct pv_pack *p, const unsigned char *base_id, const void *base, size_t base_len,
	const void *tree, size_t len, int *delta) PV_WARN_UNUSED;

/* Write the object count and the SHA-1 trailer; the pack is then buf/len. */
int pv_pack_finish(struct pv_pack *p) PV_WARN_UNUSED;

void pv_pack_dispose(struct pv_pack *p);

/* Git's order of tree entries: names compared bytewise, a directory's name
 * (dir_a, dir_b) as if it ended in '/'.  Negative, 0 or positive. */
int pv_pack_name_cmp(const void *na, size_t la, int dir_a, const void *nb, size_t lb, int dir_b);

/* The delta of tree against base (both raw tree objects), in Git's delta
 * format, appended to *out (a malloc'd buffer of *out_len bytes that the
 * caller frees).  PV_EINVAL when either is not a well-formed tree.  Exposed
 * for the unit tests and the fuzzer. */
int pv_pack_tree_delta(unsigned char **out, size_t *out_len, const unsigned char *base, size_t base_len,
	const unsigned char *tree, size_t len) PV_WARN_UNUSED;

#endif

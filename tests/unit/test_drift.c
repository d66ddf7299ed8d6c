/*
 * Unit tests for drift.c: how a folder on the tip compares with the blob
 * ids previewd pushed, what each mode then does, and history rewrites,
 * over a real bare repository built with libgit2 in a temporary folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <git2.h>

#include "drift.h"
#include "tmpdir.h"

struct fixture {
	char dir[64];
	git_repository *repo;
};

static void blob(git_repository *repo, const char *text, git_oid *out)
{
	assert_int_equal(git_blob_create_from_buffer(out, repo, text, strlen(text)), 0);
}

/* A tree of (name, oid, mode) entries. */
static void tree(git_repository *repo, git_oid *out, size_t n, const char *const *names, const git_oid *ids,
	const git_filemode_t *modes)
{
	git_treebuilder *b = NULL;

	assert_int_equal(git_treebuilder_new(&b, repo, NULL), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(git_treebuilder_insert(NULL, b, names[i], &ids[i], modes[i]), 0);
	assert_int_equal(git_treebuilder_write(out, b), 0);
	git_treebuilder_free(b);
}

static void hex(char *buf, const git_oid *oid)
{
	git_oid_tostr(buf, GIT_OID_HEXSZ + 1, oid);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	git_libgit2_init();
	if (pv_test_mkdtemp(f->dir, sizeof(f->dir), "drift") < 0 || git_repository_init(&f->repo, f->dir, 1) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	git_repository_free(f->repo);
	if (pv_test_rmtree(f->dir) < 0)
		return -1;
	free(f);
	git_libgit2_shutdown();
	return 0;
}

/* The env folder of a tip: ours (both files as pushed), edited (values.yaml
 * changed), marked (previewd.json changed), bare (values.yaml only), novals
 * (previewd.json only), other (a file people added only), file (a blob
 * where a folder was). */
static void build_env(struct fixture *f, git_tree **env, char *values_hex, char *meta_hex)
{
	static const git_filemode_t B = GIT_FILEMODE_BLOB, T = GIT_FILEMODE_TREE;
	git_oid values, meta, values2, meta2, notes, ours, edited, marked, bare, novals, other, envid;
	const char *both[2] = { "previewd.json", "values.yaml" };

	blob(f->repo, "replicaCount: 1\n", &values);
	blob(f->repo, "{\"managed_by\": \"previewd\"}\n", &meta);
	blob(f->repo, "replicaCount: 7\n", &values2);
	blob(f->repo, "{\"managed_by\": \"someone\"}\n", &meta2);
	blob(f->repo, "hand-written\n", &notes);
	hex(values_hex, &values);
	hex(meta_hex, &meta);
	{
		const char *names[3] = { "NOTES.md", "previewd.json", "values.yaml" };
		git_oid ids[3] = { notes, meta, values };
		git_filemode_t modes[3] = { B, B, B };
		tree(f->repo, &ours, 3, names, ids, modes);  /* a file people added beside ours is no drift */
	}
	{
		git_oid ids[2] = { meta, values2 };
		git_filemode_t modes[2] = { B, B };
		tree(f->repo, &edited, 2, both, ids, modes);
	}
	{
		git_oid ids[2] = { meta2, values };
		git_filemode_t modes[2] = { B, B };
		tree(f->repo, &marked, 2, both, ids, modes);
	}
	{
		const char *names[1] = { "values.yaml" };
		git_filemode_t modes[1] = { B };
		tree(f->repo, &bare, 1, names, &values, modes);
	}
	{
		const char *names[1] = { "previewd.json" };
		git_filemode_t modes[1] = { B };
		tree(f->repo, &novals, 1, names, &meta, modes);
	}
	{
		const char *names[1] = { "NOTES.md" };
		git_filemode_t modes[1] = { B };
		tree(f->repo, &other, 1, names, &notes, modes);
	}
	{
		const char *names[7] = { "bare", "edited", "file", "marked", "novals", "other", "ours" };
		git_oid ids[7] = { bare, edited, notes, marked, novals, other, ours };
		git_filemode_t modes[7] = { T, T, B, T, T, T, T };
		tree(f->repo, &envid, 7, names, ids, modes);
	}
	assert_int_equal(git_tree_lookup(env, f->repo, &envid), 0);
}

static enum pv_drift_change change_of(struct fixture *f, git_tree *env, const char *name, const char *v,
	const char *m)
{
	struct pv_drift_folder folder;

	assert_int_equal(pv_drift_folder_read(&folder, f->repo, env, name), 0);
	return pv_drift_compare(&folder, v, m);
}

static void folders_compared_with_what_was_pushed(void **state)
{
	struct fixture *f = *state;
	char v[GIT_OID_HEXSZ + 1], m[GIT_OID_HEXSZ + 1];
	git_tree *env = NULL;

	build_env(f, &env, v, m);
	assert_int_equal(change_of(f, env, "ours", v, m), PV_DRIFT_NONE);
	assert_int_equal(change_of(f, env, "edited", v, m), PV_DRIFT_VALUES);
	assert_int_equal(change_of(f, env, "marked", v, m), PV_DRIFT_FILES);
	assert_int_equal(change_of(f, env, "novals", v, m), PV_DRIFT_FILES);
	assert_int_equal(change_of(f, env, "bare", v, m), PV_DRIFT_DISOWNED);
	assert_int_equal(change_of(f, env, "other", v, m), PV_DRIFT_DELETED);
	assert_int_equal(change_of(f, env, "file", v, m), PV_DRIFT_DELETED);
	assert_int_equal(change_of(f, env, "missing", v, m), PV_DRIFT_DELETED);
	/* nothing recorded yet: the tip's blobs become the baseline, but a
	 * missing folder is drift all the same */
	assert_int_equal(change_of(f, env, "edited", "", ""), PV_DRIFT_BASELINE);
	assert_int_equal(change_of(f, env, "missing", "", ""), PV_DRIFT_DELETED);
	/* a malformed record is never "the same" */
	assert_int_equal(change_of(f, env, "ours", "zz", m), PV_DRIFT_VALUES);
	git_tree_free(env);
}

static void folder_read_reports_entry_ids(void **state)
{
	struct fixture *f = *state;
	char v[GIT_OID_HEXSZ + 1], m[GIT_OID_HEXSZ + 1], got[GIT_OID_HEXSZ + 1];
	struct pv_drift_folder folder;
	git_tree *env = NULL;

	build_env(f, &env, v, m);
	assert_int_equal(pv_drift_folder_read(&folder, f->repo, env, "ours"), 0);
	assert_true(folder.exists && folder.is_tree && folder.has_values && folder.has_meta);
	hex(got, &folder.values);
	assert_string_equal(got, v);
	hex(got, &folder.meta);
	assert_string_equal(got, m);
	assert_int_equal(pv_drift_folder_read(&folder, f->repo, env, "file"), 0);
	assert_true(folder.exists && !folder.is_tree);
	assert_int_equal(pv_drift_folder_read(&folder, f->repo, NULL, "ours"), 0);
	assert_false(folder.exists);
	git_tree_free(env);
}

static void decisions_by_mode(void **state)
{
	static const struct {
		enum pv_drift_change change;
		enum pv_drift_mode mode;
		int dirty;
		enum pv_drift_action want;
	} cases[] = {
		/* restore: every drift makes the row dirty */
		{ PV_DRIFT_NONE, PV_DRIFT_RESTORE, 0, PV_DRIFT_KEEP },
		{ PV_DRIFT_BASELINE, PV_DRIFT_RESTORE, 0, PV_DRIFT_TAKE_BASELINE },
		{ PV_DRIFT_DELETED, PV_DRIFT_RESTORE, 0, PV_DRIFT_DO_RESTORE },
		{ PV_DRIFT_DISOWNED, PV_DRIFT_RESTORE, 0, PV_DRIFT_DO_RESTORE },
		{ PV_DRIFT_VALUES, PV_DRIFT_RESTORE, 0, PV_DRIFT_DO_RESTORE },
		{ PV_DRIFT_FILES, PV_DRIFT_RESTORE, 0, PV_DRIFT_DO_RESTORE },
		/* accept: the outside change goes into the record ... */
		{ PV_DRIFT_NONE, PV_DRIFT_ACCEPT, 0, PV_DRIFT_KEEP },
		{ PV_DRIFT_BASELINE, PV_DRIFT_ACCEPT, 0, PV_DRIFT_TAKE_BASELINE },
		{ PV_DRIFT_DELETED, PV_DRIFT_ACCEPT, 0, PV_DRIFT_DO_DELETE },
		{ PV_DRIFT_DISOWNED, PV_DRIFT_ACCEPT, 0, PV_DRIFT_DO_DELETE },
		{ PV_DRIFT_VALUES, PV_DRIFT_ACCEPT, 0, PV_DRIFT_DO_ADOPT },
		/* ... but previewd's marker is put back, and a request still to push wins */
		{ PV_DRIFT_FILES, PV_DRIFT_ACCEPT, 0, PV_DRIFT_DO_RESTORE },
		{ PV_DRIFT_DELETED, PV_DRIFT_ACCEPT, 1, PV_DRIFT_DO_RESTORE },
		{ PV_DRIFT_VALUES, PV_DRIFT_ACCEPT, 1, PV_DRIFT_DO_RESTORE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(pv_drift_decide(cases[i].change, cases[i].mode, cases[i].dirty), cases[i].want);
	assert_string_equal(pv_drift_change_name(PV_DRIFT_DELETED), "deleted");
	assert_string_equal(pv_drift_change_name(PV_DRIFT_VALUES), "values");
	assert_string_equal(pv_drift_change_name(PV_DRIFT_NONE), "");
}

static void modes_parse(void **state)
{
	enum pv_drift_mode m = PV_DRIFT_ACCEPT;

	(void)state;
	assert_int_equal(pv_drift_mode_parse(&m, "restore"), 0);
	assert_int_equal(m, PV_DRIFT_RESTORE);
	assert_int_equal(pv_drift_mode_parse(&m, "accept"), 0);
	assert_int_equal(m, PV_DRIFT_ACCEPT);
	assert_int_equal(pv_drift_mode_parse(&m, "Accept"), PV_EINVAL);
	assert_int_equal(pv_drift_mode_parse(&m, ""), PV_EINVAL);
}

static void commit_on(struct fixture *f, const git_oid *parent, const char *msg, git_oid *out)
{
	git_signature *sig = NULL;
	git_commit *p = NULL;
	git_tree *t = NULL;
	git_oid empty;
	git_treebuilder *b = NULL;

	assert_int_equal(git_treebuilder_new(&b, f->repo, NULL), 0);
	assert_int_equal(git_treebuilder_write(&empty, b), 0);
	git_treebuilder_free(b);
	assert_int_equal(git_tree_lookup(&t, f->repo, &empty), 0);
	assert_int_equal(git_signature_new(&sig, "t", "t@example.com", 1764547200, 0), 0);
	if (parent)
		assert_int_equal(git_commit_lookup(&p, f->repo, parent), 0);
	assert_int_equal(git_commit_create_v(out, f->repo, NULL, sig, sig, NULL, msg, t, p ? 1 : 0, p), 0);
	git_commit_free(p);
	git_tree_free(t);
	git_signature_free(sig);
}

static void history_rewrites(void **state)
{
	struct fixture *f = *state;
	git_oid a, b, c, zero, unknown;
	int rw;

	memset(&zero, 0, sizeof(zero));
	commit_on(f, NULL, "a", &a);
	commit_on(f, &a, "b", &b);
	commit_on(f, &a, "c", &c);  /* a sibling of b: a force-push */
	pv_drift_rewritten(f->repo, &a, &b, &rw);
	assert_int_equal(rw, 0);
	pv_drift_rewritten(f->repo, &b, &b, &rw);
	assert_int_equal(rw, 0);
	pv_drift_rewritten(f->repo, &zero, &b, &rw);
	assert_int_equal(rw, 0);
	pv_drift_rewritten(f->repo, &b, &a, &rw);  /* reset to an older commit */
	assert_int_equal(rw, 1);
	pv_drift_rewritten(f->repo, &b, &c, &rw);
	assert_int_equal(rw, 1);
	pv_drift_rewritten(f->repo, &b, &zero, &rw);  /* the branch went away */
	assert_int_equal(rw, 1);
	assert_int_equal(git_oid_fromstr(&unknown, "1234567890123456789012345678901234567890"), 0);
	pv_drift_rewritten(f->repo, &unknown, &b, &rw);
	assert_int_equal(rw, 1);
}

static void blob_ids_are_gits(void **state)
{
	char h[GIT_OID_HEXSZ + 1];

	(void)state;
	/* `printf 'hello\n' | git hash-object --stdin` */
	assert_int_equal(pv_drift_blob_id(h, "hello\n", 6), 0);
	assert_string_equal(h, "ce013625030ba8dba906f756967f9e9ca394464a");
	assert_int_equal(pv_drift_blob_id(h, "", 0), 0);
	assert_string_equal(h, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(folders_compared_with_what_was_pushed, setup, teardown),
		cmocka_unit_test_setup_teardown(folder_read_reports_entry_ids, setup, teardown),
		cmocka_unit_test(decisions_by_mode),
		cmocka_unit_test(modes_parse),
		cmocka_unit_test_setup_teardown(history_rewrites, setup, teardown),
		cmocka_unit_test(blob_ids_are_gits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

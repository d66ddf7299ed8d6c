/*
 * tmpdir.h - the unit tests' temporary folders: one per test, made in
 * setup and removed with everything in it in teardown.
 */
#ifndef PV_TEST_TMPDIR_H
#define PV_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

/* A new folder /tmp/pv-TAG-XXXXXX into dir; 0 or -1. */
static inline int pv_test_mkdtemp(char *dir, size_t len, const char *tag)
{
	snprintf(dir, len, "/tmp/pv-%s-XXXXXX", tag);
	return mkdtemp(dir) ? 0 : -1;
}

/* Remove dir and what it holds; 0 or -1. */
static inline int pv_test_rmtree(const char *dir)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif

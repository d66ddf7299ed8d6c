/*
 * embed.h - files compiled into the binary (see cmake/embed.cmake): the SQL
 * migrations from schema/ and the example chart previewd seeds a new default
 * repository with, from deploy/helm-env/.  Read-only, any thread.
 */
#ifndef PV_EMBED_H
#define PV_EMBED_H

#include <stddef.h>

struct pv_embedded_file {
	const char *path;           /* relative to its source folder, '/' separated */
	const unsigned char *data;  /* not NUL-terminated */
	size_t len;
};

/* schema/NNN_*.sql, sorted by path */
extern const struct pv_embedded_file pv_embedded_schema[];
extern const size_t pv_embedded_schema_count;

/* deploy/helm-env/ (the seed of the default GitOps repository), sorted */
extern const struct pv_embedded_file pv_embedded_seed[];
extern const size_t pv_embedded_seed_count;

/* service/page/ (the built-in HTML page served at /) */
extern const struct pv_embedded_file pv_embedded_page[];
extern const size_t pv_embedded_page_count;

#endif

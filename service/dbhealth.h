/*
 * dbhealth.h - whether the database takes writes: one process-wide state,
 * "the database refuses writes since T: reason".
 *
 * Any thread.  The store sets it when a write fails in a way that retrying
 * at once cannot fix (SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY,
 * SQLITE_CANTOPEN: a full disk, a failing or read-only volume) and clears it
 * at the next write that commits, whichever thread makes it.  Readers are
 * /readyz (db.ok false with the reason), the HTTP layer (503 with
 * Retry-After) and the Git writer (a failed record backs off instead of
 * going round again at once).  A full disk is a state to report and wait
 * out, not an error to retry in a loop.
 */
#ifndef PV_DBHEALTH_H
#define PV_DBHEALTH_H

#include <stddef.h>
#include <stdint.h>

/* Retry-After of a write answered 503 while the database refuses writes. */
#define PV_DBHEALTH_RETRY_AFTER_S 5

/* 1 if SQLite's result code rc (primary or extended) says the volume, not
 * the request, is at fault. */
int pv_dbhealth_is_refusal(int rc);

/* A write failed with such a code while doing what (message: SQLite's). */
void pv_dbhealth_refused(const char *what, const char *message);

/* A write committed: the database takes writes (again). */
void pv_dbhealth_wrote(void);

/* 1 and the reason and since (unix seconds) while writes are refused, else
 * 0.  why may be NULL. */
int pv_dbhealth_refusing(char *why, size_t why_len, int64_t *since);

#endif

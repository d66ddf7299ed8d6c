/*
 * idem.h - Idempotency-Keys: a retried write gets the first answer instead
 * of making a second change.
 *
 * A key belongs to its actor.  The first request with a key is
 * fingerprinted (SHA-256 of method, path and body) and the key recorded in
 * the transaction of the change it made, with the environment and the
 * generation it waits for; a retry with the same fingerprint is answered
 * from that record, one with another fingerprint is refused.  A 4xx answer
 * other than 409 and 429 is recorded too (the retry gets the same
 * refusal); conflicts, quotas and server trouble are not - a retry is meant
 * to try again.  While the first request is being answered a duplicate is
 * refused with 409 instead of getting a half-made answer.
 *
 * Threads: any; a pv_idem_set is shared by the HTTP workers (a mutex).
 */
#ifndef PV_IDEM_H
#define PV_IDEM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "store.h"

/* Room for "<actor>\n<key>", the in-flight slot of a key. */
#define PV_IDEM_SLOT_LEN 320

struct pv_idem_key {
	const char *actor;
	const char *key;
	char fingerprint[72];
};

/* The keys whose first request is still being answered. */
struct pv_idem_set;

int pv_idem_set_new(struct pv_idem_set **out) PV_WARN_UNUSED;
void pv_idem_set_free(struct pv_idem_set *set);

/*
 * Check header's syntax (PV_EBADREQ), fingerprint the request into out and
 * claim the key: slot (PV_IDEM_SLOT_LEN bytes) names the claim, to be
 * released with pv_idem_release once the answer is sent.  PV_ECONFLICT,
 * with slot "", while another request holds the key.  out keeps pointers
 * to actor and header.
 */
int pv_idem_claim(struct pv_idem_set *set, struct pv_idem_key *out, const char *actor, const char *header,
	const char *method, const char *path, const char *body, size_t body_len, char *slot) PV_WARN_UNUSED;
void pv_idem_release(struct pv_idem_set *set, char *slot);

/* The record of a claimed key: 0 and *rec (free rec->body), PV_ENOTFOUND
 * on its first use, PV_EINVAL if it was used for a different request. */
int pv_idem_lookup(struct pv_store *st, const struct pv_idem_key *key, struct pv_idem *rec) PV_WARN_UNUSED;

/* Record a successful write inside its transaction; 0 when key is NULL. */
int pv_idem_record(struct pv_store *st, const struct pv_idem_key *key, int64_t env_id, int wait_kind,
	int64_t wait_gen) PV_WARN_UNUSED;

/* Record a refusal (status, its problem body) in a transaction of its own,
 * when it is one a retry should get again; best effort. */
void pv_idem_record_failure(struct pv_store *st, const struct pv_idem_key *key, int status, const json_t *body);

#endif

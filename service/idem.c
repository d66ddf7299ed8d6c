/*
 * idem.c - Idempotency-Keys (see idem.h).
 */
#include "idem.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "array.h"
#include "hex.h"

#define KEY_MAX 255

struct pv_idem_set {
	pthread_mutex_t lock;
	char **keys;
	size_t n, cap;
};

int pv_idem_set_new(struct pv_idem_set **out)
{
	struct pv_idem_set *set = calloc(1, sizeof(*set));

	*out = NULL;
	if (!set)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	pthread_mutex_init(&set->lock, NULL);
	*out = set;
	return 0;
}

void pv_idem_set_free(struct pv_idem_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		free(set->keys[i]);
	free(set->keys);
	pthread_mutex_destroy(&set->lock);
	free(set);
}

static void fingerprint(char out[72], const char *method, const char *path, const char *body, size_t body_len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	out[0] = '\0';
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(ctx, method, strlen(method) + 1) &&
	    EVP_DigestUpdate(ctx, path, strlen(path) + 1) &&
	    EVP_DigestUpdate(ctx, body, body_len) && EVP_DigestFinal_ex(ctx, md, &n) && n <= 32)
		pv_hex_encode(out, md, n);
	EVP_MD_CTX_free(ctx);
}

static int set_add(struct pv_idem_set *set, const char *slot)
{
	int error = 0;

	pthread_mutex_lock(&set->lock);
	for (size_t i = 0; i < set->n; i++) {
		if (strcmp(set->keys[i], slot) == 0) {
			error = pv_error_set(PV_ECONFLICT, "Idempotency-Key",
				"a request with this Idempotency-Key is still being answered; retry when it is done");
			goto out;
		}
	}
	if ((error = pv_array_reserve(&set->keys, &set->cap, set->n + 1, sizeof(*set->keys))) < 0)
		goto out;
	if (!(set->keys[set->n] = strdup(slot))) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto out;
	}
	set->n++;
out:
	pthread_mutex_unlock(&set->lock);
	return error;
}

int pv_idem_claim(struct pv_idem_set *set, struct pv_idem_key *out, const char *actor, const char *header,
	const char *method, const char *path, const char *body, size_t body_len, char *slot)
{
	size_t n = strlen(header);
	int error;

	slot[0] = '\0';
	if (n == 0 || n > KEY_MAX ||
	    strspn(header, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:~+/=\"") != n)
		return pv_error_set(PV_EBADREQ, "Idempotency-Key",
			"Idempotency-Key must be 1-255 characters of letters, digits and -_.:~+/=\"");
	out->actor = actor;
	out->key = header;
	fingerprint(out->fingerprint, method, path, body, body_len);
	snprintf(slot, PV_IDEM_SLOT_LEN, "%s\n%s", actor, header);
	if ((error = set_add(set, slot)) < 0)
		slot[0] = '\0';
	return error;
}

void pv_idem_release(struct pv_idem_set *set, char *slot)
{
	if (!slot[0])
		return;
	pthread_mutex_lock(&set->lock);
	for (size_t i = 0; i < set->n; i++) {
		if (strcmp(set->keys[i], slot) == 0) {
			free(set->keys[i]);
			set->keys[i] = set->keys[--set->n];
			break;
		}
	}
	pthread_mutex_unlock(&set->lock);
	slot[0] = '\0';
}

int pv_idem_lookup(struct pv_store *st, const struct pv_idem_key *key, struct pv_idem *rec)
{
	int error = pv_store_idem_get(st, key->actor, key->key, rec);

	if (error < 0)
		return error;
	if (strcmp(rec->fingerprint, key->fingerprint) != 0) {
		free(rec->body);
		rec->body = NULL;
		return pv_error_set(PV_EINVAL, "Idempotency-Key", "this Idempotency-Key was used for a different request");
	}
	return 0;
}

int pv_idem_record(struct pv_store *st, const struct pv_idem_key *key, int64_t env_id, int wait_kind, int64_t wait_gen)
{
	struct pv_idem rec = { .env_id = env_id, .wait_kind = wait_kind, .wait_gen = wait_gen };

	if (!key)
		return 0;
	memcpy(rec.fingerprint, key->fingerprint, sizeof(rec.fingerprint));
	return pv_store_idem_put(st, key->actor, key->key, &rec, (int64_t)time(NULL));
}

void pv_idem_record_failure(struct pv_store *st, const struct pv_idem_key *key, int status, const json_t *body)
{
	struct pv_idem rec = { .status = status };

	if (status < 400 || status >= 500 || status == 409 || status == 429)
		return; /* conflicts, quotas and server trouble may pass: a retry is meant to try again */
	memcpy(rec.fingerprint, key->fingerprint, sizeof(rec.fingerprint));
	rec.body = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (pv_store_begin(st) == 0) {
		if (pv_store_idem_put(st, key->actor, key->key, &rec, (int64_t)time(NULL)) < 0 || pv_store_commit(st) < 0)
			pv_store_rollback(st);
	}
	free(rec.body);
}

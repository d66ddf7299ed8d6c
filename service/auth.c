/*
 * auth.c - tokens and request authentication (see auth.h).
 */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hex.h"
#include "timefmt.h"
#include "valid.h"

#define LOOKUP_BYTES 4
#define SECRET_BYTES 32

enum pv_role pv_auth_role(const char *name)
{
	static const char *const names[] = { [PV_ROLE_READER] = "reader", [PV_ROLE_WRITER] = "writer",
		[PV_ROLE_ADMIN] = "admin" };

	for (int r = PV_ROLE_READER; name && r <= PV_ROLE_ADMIN; r++)
		if (strcmp(name, names[r]) == 0)
			return (enum pv_role)r;
	return PV_ROLE_NONE;
}

static int sha256_hex(char out[72], const char *s)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL) || n != 32)
		return pv_error_set(PV_ERROR, NULL, "SHA-256 failed");
	pv_hex_encode(out, md, n);
	return 0;
}

int pv_auth_token_create(struct pv_store *st, const char *name, const char *role, char *out, size_t len)
{
	unsigned char lookup_raw[LOOKUP_BYTES], secret_raw[SECRET_BYTES];
	char lookup[2 * LOOKUP_BYTES + 1], secret[2 * SECRET_BYTES + 1], hash[72];
	int error;

	if ((error = pv_valid_name(name, "name")) < 0)
		return error;
	if (pv_auth_role(role) == PV_ROLE_NONE)
		return pv_error_set(PV_EINVAL, "role", "role must be reader, writer or admin");
	if (len < 4 + sizeof(lookup) + sizeof(secret) + 1)
		return pv_error_set(PV_ERROR, NULL, "token buffer too small");
	if (RAND_bytes(lookup_raw, sizeof(lookup_raw)) != 1 || RAND_bytes(secret_raw, sizeof(secret_raw)) != 1)
		return pv_error_set(PV_ERROR, NULL, "no randomness for a token");
	pv_hex_encode(lookup, lookup_raw, sizeof(lookup_raw));
	pv_hex_encode(secret, secret_raw, sizeof(secret_raw));
	snprintf(out, len, "pvd_%s_%s", lookup, secret);
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(secret_raw, sizeof(secret_raw));
	if ((error = sha256_hex(hash, out)) < 0 ||
	    (error = pv_store_token_add(st, name, role, lookup, hash, (int64_t)time(NULL))) < 0) {
		OPENSSL_cleanse(out, len);
		return error;
	}
	return 0;
}

int pv_auth_is_loopback(const char *addr)
{
	if (!addr)
		return 0;
	return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 || strncmp(addr, "::ffff:127.", 11) == 0;
}

int pv_auth_check(struct pv_store *st, const char *authorization, const char *remote,
	char *actor_out, size_t actor_len, enum pv_role *role)
{
	struct pv_token t;
	char lookup[2 * LOOKUP_BYTES + 1], hash[72];
	const char *token;
	long long active;
	int error;

	*role = PV_ROLE_NONE;
	snprintf(actor_out, actor_len, "anonymous");
	if ((error = pv_store_token_count(st, &active)) < 0)
		return error;
	if (active == 0) {
		/* open mode: the machine's own users only */
		if (pv_auth_is_loopback(remote)) {
			*role = PV_ROLE_ADMIN;
			return 0;
		}
		return pv_error_set(PV_EAUTH, NULL,
			"previewd has no API tokens yet and answers only loopback clients; "
			"create one with: previewd token create NAME --role writer");
	}
	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return pv_error_set(PV_EAUTH, NULL, "this route needs a token: send Authorization: Bearer <token>");
	token = authorization + 7;
	while (*token == ' ')
		token++;
	/* pvd_<8 hex>_<64 hex> */
	if (strlen(token) != 4 + 2 * LOOKUP_BYTES + 1 + 2 * SECRET_BYTES || strncmp(token, "pvd_", 4) != 0 ||
	    token[4 + 2 * LOOKUP_BYTES] != '_')
		return pv_error_set(PV_EAUTH, NULL, "the token is not a previewd token");
	memcpy(lookup, token + 4, 2 * LOOKUP_BYTES);
	lookup[2 * LOOKUP_BYTES] = '\0';
	if ((error = sha256_hex(hash, token)) < 0)
		return error;
	error = pv_store_token_find(st, lookup, &t);
	if (error == PV_ENOTFOUND)
		return pv_error_set(PV_EAUTH, NULL, "unknown token");
	if (error < 0)
		return error;
	/* constant time: the comparison does not reveal how much matched */
	if (CRYPTO_memcmp(hash, t.hash, 64) != 0)
		return pv_error_set(PV_EAUTH, NULL, "unknown token");
	if (t.revoked_at)
		return pv_error_set(PV_EAUTH, NULL, "the token was revoked");
	*role = pv_auth_role(t.role);
	snprintf(actor_out, actor_len, "%s", t.name);
	return 0;
}

static int print_token(const struct pv_token *t, void *payload)
{
	char created[PV_TIME_LEN], revoked[PV_TIME_LEN];

	(void)payload;
	pv_time_format(created, sizeof(created), t->created_at);
	if (t->revoked_at)
		pv_time_format(revoked, sizeof(revoked), t->revoked_at);
	printf("%-24s %-7s created %s %s%s\n", t->name, t->role, created, t->revoked_at ? "revoked " : "",
		t->revoked_at ? revoked : "");
	return 0;
}

int pv_auth_cli(int argc, char **argv, const char *db_path)
{
	struct pv_store *st = NULL;
	const char *verb = argc > 2 ? argv[2] : NULL;
	char token[160];
	int rc = 2;

	if (!verb || (strcmp(verb, "create") != 0 && strcmp(verb, "list") != 0 && strcmp(verb, "revoke") != 0)) {
		fprintf(stderr, "usage: previewd token create NAME --role reader|writer|admin\n"
				"       previewd token list\n"
				"       previewd token revoke NAME\n");
		return 2;
	}
	if (pv_store_open(&st, &(struct pv_store_settings){ .path = db_path }) < 0) {
		fprintf(stderr, "previewd: %s\n", pv_error_last()->message);
		return 1;
	}
	if (strcmp(verb, "list") == 0) {
		rc = pv_store_token_list(st, print_token, NULL) < 0 ? 1 : 0;
	} else if (strcmp(verb, "revoke") == 0 && argc == 4) {
		rc = pv_store_token_revoke(st, argv[3], (int64_t)time(NULL)) < 0 ? 1 : 0;
		if (rc == 0)
			printf("revoked %s\n", argv[3]);
	} else if (strcmp(verb, "create") == 0 && argc == 6 && strcmp(argv[4], "--role") == 0) {
		rc = pv_auth_token_create(st, argv[3], argv[5], token, sizeof(token)) < 0 ? 1 : 0;
		if (rc == 0) {
			/* the only time the token is shown */
			printf("%s\n", token);
			fprintf(stderr, "token '%s' (%s) created; it is shown once, store it now\n", argv[3], argv[5]);
			OPENSSL_cleanse(token, sizeof(token));
		}
	} else {
		fprintf(stderr, "usage: previewd token create NAME --role reader|writer|admin | list | revoke NAME\n");
		rc = 2;
	}
	if (rc == 1)
		fprintf(stderr, "previewd: %s\n", pv_error_last()->message);
	pv_store_free(st);
	return rc;
}

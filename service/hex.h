/*
 * hex.h - lowercase hex, as Git object ids, HMAC signatures and token
 * hashes are written.
 */
#ifndef PV_HEX_H
#define PV_HEX_H

#include <stddef.h>

/* n bytes of in as 2n lowercase hex digits and a NUL into out (2n+1 bytes). */
void pv_hex_encode(char *out, const unsigned char *in, size_t n);

/* Hex digits of HMAC-SHA256(key, msg), the form webhooks sign with. */
#define PV_HEX_HMAC_SHA256_LEN 65

/* 64 hex digits and a NUL into out; 0, or -1 (out "") if libcrypto fails. */
int pv_hex_hmac_sha256(char out[PV_HEX_HMAC_SHA256_LEN], const char *key, const void *msg, size_t len);

#endif

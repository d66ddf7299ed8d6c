/*
 * hex.c - lowercase hex (see hex.h).
 */
#include "hex.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

void pv_hex_encode(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

int pv_hex_hmac_sha256(char out[PV_HEX_HMAC_SHA256_LEN], const char *key, const void *msg, size_t len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	out[0] = '\0';
	if (!HMAC(EVP_sha256(), key, (int)strlen(key), msg, len, mac, &maclen) || maclen != 32)
		return -1;
	pv_hex_encode(out, mac, maclen);
	return 0;
}

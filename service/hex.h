/*
 * hex.h - lowercase hex, as Git object ids, HMAC signatures and token
 * hashes are written.
 */
#ifndef PV_HEX_H
#define PV_HEX_H

#include <stddef.h>

/* n bytes of in as 2n lowercase hex digits and a NUL into out (2n+1 bytes). */
void pv_hex_encode(char *out, const unsigned char *in, size_t n);

#endif

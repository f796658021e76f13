/* SHA-256 (FIPS 180-4) in C99: the digests runtime/manifest.py checks with hashlib. The one
 * implementation for both runners: runtime/native/sha256.h is a C++ face on it. */
#ifndef EDGEC_MICRO_SHA256_H_
#define EDGEC_MICRO_SHA256_H_
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct { uint32_t h[8]; uint64_t len; uint8_t buf[64]; size_t fill; } edgec_sha256;

void edgec_sha256_init(edgec_sha256* s);
void edgec_sha256_update(edgec_sha256* s, const void* data, size_t n);
void edgec_sha256_hex(edgec_sha256* s, char out[65]); /* finishes s */

#ifdef __cplusplus
}
#endif
#endif

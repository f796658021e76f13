// SHA-256 for checking an artifact's hashes on the device before anything is loaded: a C++ face
// on runtime/micro/sha256.c (compiled into libedgec_runtime by CMakeLists.txt), so that both
// runners compute the digests runtime/manifest.py checks with one implementation.
#ifndef EDGEC_SHA256_H_
#define EDGEC_SHA256_H_

#include <cstdio>
#include <string>

#include "../micro/sha256.h"

namespace edgec_digest {

inline std::string Hex(const void* data, size_t n) {
  edgec_sha256 s;
  char hex[65];
  edgec_sha256_init(&s);
  edgec_sha256_update(&s, data, n);
  edgec_sha256_hex(&s, hex);
  return hex;
}

// sha256 of a file's bytes, or "" when it cannot be read.
inline std::string HexOfFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return "";
  edgec_sha256 s;
  edgec_sha256_init(&s);
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) edgec_sha256_update(&s, buf, n);
  bool ok = !std::ferror(f);
  std::fclose(f);
  if (!ok) return "";
  char hex[65];
  edgec_sha256_hex(&s, hex);
  return hex;
}

}  // namespace edgec_digest
#endif  // EDGEC_SHA256_H_

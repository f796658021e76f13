// An artifact's manifest.json on the device, checked exactly as runtime/manifest.py checks it
// before anything is loaded: its self-hash (manifest_sha256 over the file's bytes with that
// field's 64 hex digits zeroed), the library named as a plain file next to it, that library's
// sha256, and the input/output signature (names, shapes, known dtypes).
#ifndef EDGEC_MANIFEST_H_
#define EDGEC_MANIFEST_H_

#include <cstdint>
#include <string>
#include <vector>

namespace edgec_manifest {

constexpr int kSchemaVersion = 2;  // runtime/manifest.py SCHEMA_VERSION
constexpr long kMaxManifestBytes = 16L << 20;

struct TensorSpec {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string Describe() const;  // "float32[4, 64]"
};

struct Manifest {
  std::string path;  // of manifest.json
  std::string library;
  std::string library_sha256;
  std::vector<TensorSpec> inputs, outputs;
};

// Why the bytes fail their own manifest_sha256, or "" when they pass (runtime/manifest.py
// self_hash_problem).
std::string SelfHashProblem(const std::string& data);

// Read, check and parse manifest.json at ``path``; throws std::runtime_error saying what is wrong.
Manifest Read(const std::string& path);

// Throws unless ``library_path`` is the regular file the manifest names (not a symlink) and its
// sha256 matches the manifest's.
void CheckLibrary(const Manifest& m, const std::string& library_path);

// The dtypes edgec artifacts use (runtime/manifest.py DTYPES).
bool KnownDType(const std::string& dtype);

}  // namespace edgec_manifest
#endif  // EDGEC_MANIFEST_H_

// manifest.json checks for the native runtime; see manifest.h and runtime/manifest.py.
#include "manifest.h"

#include <sys/stat.h>

#include <cstdio>
#include <stdexcept>

#include "json.h"
#include "sha256.h"

namespace edgec_manifest {

namespace {

const char kHashKey[] = "\"manifest_sha256\": \"";

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string ReadSmallFile(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) throw std::runtime_error(path + " not found: not an edgec artifact or bundle");
  if (S_ISLNK(st.st_mode)) throw std::runtime_error(path + " is a symlink; artifacts hold regular files only");
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(path + " is not a regular file");
  if (st.st_size > kMaxManifestBytes) throw std::runtime_error(path + " is larger than 16 MiB");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot read " + path);
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t n = data.empty() ? 0 : std::fread(&data[0], 1, data.size(), f);
  std::fclose(f);
  if (n != data.size()) throw std::runtime_error("cannot read " + path);
  return data;
}

TensorSpec Spec(const edgec_json::Value& v, const std::string& where) {
  if (v.kind != edgec_json::Value::kObject) throw std::runtime_error(where + " is not an object");
  const edgec_json::Value* name = v.Get("name");
  const edgec_json::Value* shape = v.Get("shape");
  const edgec_json::Value* dtype = v.Get("dtype");
  if (!name || name->kind != edgec_json::Value::kString || name->text.empty())
    throw std::runtime_error(where + ".name is not a non-empty string");
  if (!dtype || dtype->kind != edgec_json::Value::kString || !KnownDType(dtype->text))
    throw std::runtime_error(where + ".dtype is not a known dtype");
  if (!shape || shape->kind != edgec_json::Value::kArray) throw std::runtime_error(where + ".shape is not a list");
  TensorSpec t{name->text, dtype->text, {}};
  for (const edgec_json::Value& d : shape->items) {
    if (!d.IsInteger() || d.Integer() < 0) throw std::runtime_error(where + ".shape holds a non-integer or negative");
    t.shape.push_back(d.Integer());
  }
  return t;
}

std::vector<TensorSpec> Specs(const edgec_json::Value* v, const std::string& key) {
  if (!v || v->kind != edgec_json::Value::kArray) throw std::runtime_error("'" + key + "' is not a list");
  std::vector<TensorSpec> out;
  for (size_t i = 0; i < v->items.size(); ++i) out.push_back(Spec(v->items[i], key + "[" + std::to_string(i) + "]"));
  return out;
}

}  // namespace

std::string TensorSpec::Describe() const {
  std::string s = dtype + "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool KnownDType(const std::string& d) {
  static const char* const known[] = {"float16", "float32", "float64", "int8",   "int16",  "int32",
                                      "int64",   "uint8",   "uint16",  "uint32", "uint64", "bool"};
  for (const char* k : known)
    if (d == k) return true;
  return false;
}

std::string SelfHashProblem(const std::string& data) {
  size_t at = data.find(kHashKey);
  if (at == std::string::npos) return "it has no manifest_sha256";
  if (data.find(kHashKey, at + 1) != std::string::npos) return "it has more than one manifest_sha256";
  size_t start = at + sizeof(kHashKey) - 1;
  if (start + 65 > data.size() || !IsHex64(data.substr(start, 64)) || data[start + 64] != '"')
    return "its manifest_sha256 is not a sha256 hex digest";
  std::string blank = data;
  blank.replace(start, 64, std::string(64, '0'));
  if (edgec_digest::Hex(blank.data(), blank.size()) != data.substr(start, 64))
    return "its content does not match its manifest_sha256";
  return "";
}

Manifest Read(const std::string& path) {
  std::string data = ReadSmallFile(path);
  edgec_json::Value root;
  try {
    root = edgec_json::Parse(data);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + " is corrupt (" + e.what() + ")");
  }
  if (root.kind != edgec_json::Value::kObject) throw std::runtime_error(path + " is corrupt (not a JSON object)");
  const edgec_json::Value* version = root.Get("schema_version");
  if (!version || !version->IsInteger() || version->Integer() != kSchemaVersion)
    throw std::runtime_error(path + " has manifest schema " + (version ? version->text : std::string("?")) +
                             "; this runner reads schema " + std::to_string(kSchemaVersion) +
                             " (recompile the model with the edgec that built this runner)");
  std::string problem = SelfHashProblem(data);
  const edgec_json::Value* self = root.Get("manifest_sha256");
  size_t start = data.find(kHashKey) + sizeof(kHashKey) - 1;
  if (problem.empty() && (!self || self->kind != edgec_json::Value::kString || self->text != data.substr(start, 64)))
    problem = "its top-level manifest_sha256 is not the one hashed";
  if (!problem.empty()) throw std::runtime_error(path + " was modified: " + problem);
  Manifest m;
  m.path = path;
  try {
    const edgec_json::Value* lib = root.Get("library");
    const edgec_json::Value* files = root.Get("files");
    if (!lib || lib->kind != edgec_json::Value::kString) throw std::runtime_error("'library' is not a string");
    if (!files || files->kind != edgec_json::Value::kObject) throw std::runtime_error("'files' is not an object");
    m.library = lib->text;
    // The library is a plain file next to the manifest: nothing that leaves the folder.
    if (m.library.empty() || m.library.find('/') != std::string::npos || m.library.find('\\') != std::string::npos ||
        m.library == "." || m.library == "..")
      throw std::runtime_error("library '" + m.library + "' points outside the artifact folder");
    const edgec_json::Value* digest = files->Get(m.library);
    if (!digest || digest->kind != edgec_json::Value::kString || !IsHex64(digest->text))
      throw std::runtime_error("library '" + m.library + "' is not listed in files with a sha256");
    m.library_sha256 = digest->text;
    m.inputs = Specs(root.Get("inputs"), "inputs");
    m.outputs = Specs(root.Get("outputs"), "outputs");
  } catch (const std::exception& e) {
    throw std::runtime_error(path + " is corrupt or incomplete (" + e.what() + ")");
  }
  return m;
}

void CheckLibrary(const Manifest& m, const std::string& library_path) {
  size_t slash = library_path.rfind('/');
  std::string base = slash == std::string::npos ? library_path : library_path.substr(slash + 1);
  if (base != m.library)
    throw std::runtime_error(library_path + " is not the library " + m.path + " names (" + m.library + ")");
  struct stat st;
  if (lstat(library_path.c_str(), &st) != 0) throw std::runtime_error(library_path + " is missing");
  if (S_ISLNK(st.st_mode)) throw std::runtime_error(library_path + " is a symlink; artifacts hold regular files only");
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(library_path + " is not a regular file");
  if (edgec_digest::HexOfFile(library_path) != m.library_sha256)
    throw std::runtime_error(library_path + " was modified or truncated: its sha256 does not match " + m.path);
}

}  // namespace edgec_manifest

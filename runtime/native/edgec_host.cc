// Can this CPU run an artifact? The native twin of runtime/host.py: read target.requires from the
// artifact's manifest.json (machine + CPU features, LLVM spelling) and compare with this machine
// before the library is loaded, so a missing instruction is a clear error, never SIGILL.
// Features: __builtin_cpu_supports on x86; the ELF auxiliary vector (getauxval AT_HWCAP/AT_HWCAP2)
// on Arm and RISC-V, which qemu-user fills in for the CPU it emulates. The tables must list the
// same names as runtime/host.py FEATURES (tests/targets/test_host.py checks).
#include <sys/stat.h>

#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "edgec_runtime.h"
#include "json.h"

#if defined(__aarch64__) || defined(__arm__) || defined(__riscv)
#include <sys/auxv.h>
#endif

namespace {

#if defined(__x86_64__)
const char* const kMachine = "x86_64";
const char* const kSource = "cpuid";
struct Feature {
  const char* name;
  bool (*has)();
};
#define EDGEC_X86(llvm, gcc) {llvm, [] { return __builtin_cpu_supports(gcc) != 0; }}
const Feature kFeatures[] = {
    EDGEC_X86("sse4.1", "sse4.1"),         EDGEC_X86("sse4.2", "sse4.2"),     EDGEC_X86("popcnt", "popcnt"),
    EDGEC_X86("avx", "avx"),               EDGEC_X86("avx2", "avx2"),         EDGEC_X86("fma", "fma"),
    EDGEC_X86("f16c", "f16c"),             EDGEC_X86("bmi", "bmi"),           EDGEC_X86("bmi2", "bmi2"),
    EDGEC_X86("avx512f", "avx512f"),       EDGEC_X86("avx512bw", "avx512bw"), EDGEC_X86("avx512cd", "avx512cd"),
    EDGEC_X86("avx512dq", "avx512dq"),     EDGEC_X86("avx512vl", "avx512vl"), EDGEC_X86("avx512vnni", "avx512vnni"),
    EDGEC_X86("avxvnni", "avxvnni"),       EDGEC_X86("avx512bf16", "avx512bf16"),
    EDGEC_X86("avx512fp16", "avx512fp16"),
};
#undef EDGEC_X86
bool Has(const Feature& f) {
  __builtin_cpu_init();
  return f.has();
}
#else
struct Feature {
  const char* name;
  unsigned long at;  // AT_HWCAP (16) or AT_HWCAP2 (26)
  int bit;
};
#if defined(__aarch64__)
const char* const kMachine = "aarch64";
const Feature kFeatures[] = {{"neon", 16, 1},  {"fullfp16", 16, 10}, {"rdm", 16, 12}, {"dotprod", 16, 20},
                             {"sve", 16, 22},  {"sve2", 26, 1},      {"i8mm", 26, 13}, {"bf16", 26, 14}};
#elif defined(__arm__)
const char* const kMachine = "armv7";
const Feature kFeatures[] = {{"neon", 16, 12}, {"vfp3", 16, 13}, {"vfp4", 16, 16}};
#elif defined(__riscv) && __riscv_xlen == 64
const char* const kMachine = "riscv64";
const Feature kFeatures[] = {{"m", 16, 'm' - 'a'}, {"a", 16, 0},          {"f", 16, 'f' - 'a'},
                             {"d", 16, 'd' - 'a'}, {"c", 16, 'c' - 'a'}, {"v", 16, 'v' - 'a'}};
#else
#error "edgec_host.cc: unknown CPU architecture"
#endif
const char* const kSource = "AT_HWCAP";
bool Has(const Feature& f) { return (getauxval(f.at) >> f.bit) & 1UL; }
#endif

struct Requires {
  bool found = false;
  std::string machine, target, cpu;
  std::vector<std::string> features;
};

// target.requires of a manifest (edgec_json: the same strict reader, with a nesting limit, that
// manifest.cc uses).
bool ReadRequires(const std::string& text, Requires* r) {
  edgec_json::Value root;
  try {
    root = edgec_json::Parse(text);
  } catch (const std::exception&) {
    return false;
  }
  const edgec_json::Value* target = root.Get("target");
  if (!target || target->kind != edgec_json::Value::kObject) return root.kind == edgec_json::Value::kObject;
  auto str = [](const edgec_json::Value* v) { return v && v->kind == edgec_json::Value::kString ? v->text : ""; };
  r->target = str(target->Get("name"));
  r->cpu = str(target->Get("cpu"));
  const edgec_json::Value* req = target->Get("requires");
  if (!req || req->kind != edgec_json::Value::kObject) return true;  // null / absent: nothing to check
  r->found = true;
  r->machine = str(req->Get("machine"));
  const edgec_json::Value* feats = req->Get("cpu_features");
  if (feats && feats->kind != edgec_json::Value::kArray) return false;
  if (feats)
    for (const edgec_json::Value& f : feats->items) {
      if (f.kind != edgec_json::Value::kString) return false;
      r->features.push_back(f.text);
    }
  return true;
}

void SetErr(char* err, size_t len, const std::string& msg) {
  if (err && len) {
    std::strncpy(err, msg.c_str(), len - 1);
    err[len - 1] = '\0';
  }
}

}  // namespace

extern "C" int edgec_check_host(const char* manifest_path, char* err, size_t err_len) {
  struct stat st;
  if (!manifest_path || stat(manifest_path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (16L << 20))
    return SetErr(err, err_len, std::string("cannot read ") + (manifest_path ? manifest_path : "(null)") +
                                    " (not a regular file of at most 16 MiB)"), 1;
  std::ifstream f(manifest_path);
  if (!f) return SetErr(err, err_len, std::string("cannot read ") + manifest_path), 1;
  std::stringstream buf;
  buf << f.rdbuf();
  Requires r;
  if (!ReadRequires(buf.str(), &r)) return SetErr(err, err_len, std::string(manifest_path) + " is not valid JSON"), 1;
  if (!r.found || r.machine.empty()) return 0;  // written before target.requires existed: nothing to check
  std::string built = "compiled for " + (r.target.empty() ? std::string("?") : r.target) +
                      (r.cpu.empty() ? "" : " (" + r.cpu + ")");
  if (r.machine != kMachine) {
    SetErr(err, err_len, "the model was " + built + ": " + r.machine + " code; this machine is " + kMachine);
    return 1;
  }
  std::string lacking;
  for (const std::string& name : r.features) {
    bool has = false, known = false;
    for (const Feature& feat : kFeatures) {
      if (name == feat.name) {
        known = true;
        has = Has(feat);
      }
    }
    if (!has) lacking += (lacking.empty() ? "" : ", ") + name + (known ? "" : " (unknown to this runner)");
  }
  if (!lacking.empty()) {
    SetErr(err, err_len, "the model was " + built + " and needs CPU feature(s) " + lacking + ", which this " +
                             kMachine + " CPU lacks (read from " + kSource + ")");
    return 1;
  }
  return 0;
}

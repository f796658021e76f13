/* Can this CPU run the model? The C twin of runtime/host.py and runtime/native/edgec_host.cc:
 * target.requires (machine + CPU features, LLVM spelling) against this machine, before the model
 * library is loaded, so a missing instruction is a clear error, never SIGILL. Features: cpuid on
 * x86 (__builtin_cpu_supports), the ELF auxiliary vector (AT_HWCAP/AT_HWCAP2) on Arm and RISC-V,
 * which qemu-user fills in for the CPU it emulates. */
#include <string.h>

#include "host.h"
#include "internal.h"
#include "json.h"

#if defined(__aarch64__) || defined(__arm__) || defined(__riscv)
#include <sys/auxv.h>
#endif

#if defined(__x86_64__)
static const char MACHINE[] = "x86_64";
static const char SOURCE[] = "cpuid";
#define X86(fn, gcc) static int has_##fn(void) { return __builtin_cpu_supports(gcc) != 0; }
X86(sse41, "sse4.1") X86(sse42, "sse4.2") X86(popcnt, "popcnt") X86(avx, "avx") X86(avx2, "avx2") X86(fma, "fma")
X86(f16c, "f16c") X86(bmi, "bmi") X86(bmi2, "bmi2") X86(avx512f, "avx512f") X86(avx512bw, "avx512bw")
X86(avx512cd, "avx512cd") X86(avx512dq, "avx512dq") X86(avx512vl, "avx512vl") X86(avx512vnni, "avx512vnni")
X86(avxvnni, "avxvnni") X86(avx512bf16, "avx512bf16") X86(avx512fp16, "avx512fp16")
#undef X86
static const struct { const char* name; int (*has)(void); } FEATURES[] = {
    {"sse4.1", has_sse41}, {"sse4.2", has_sse42}, {"popcnt", has_popcnt}, {"avx", has_avx}, {"avx2", has_avx2}, {"fma", has_fma},
    {"f16c", has_f16c}, {"bmi", has_bmi}, {"bmi2", has_bmi2}, {"avx512f", has_avx512f}, {"avx512bw", has_avx512bw},
    {"avx512cd", has_avx512cd}, {"avx512dq", has_avx512dq}, {"avx512vl", has_avx512vl}, {"avx512vnni", has_avx512vnni},
    {"avxvnni", has_avxvnni}, {"avx512bf16", has_avx512bf16}, {"avx512fp16", has_avx512fp16}};
static int has(int i) { __builtin_cpu_init(); return FEATURES[i].has(); }
#else
static const char SOURCE[] = "AT_HWCAP";
#if defined(__aarch64__)
static const char MACHINE[] = "aarch64";
static const struct { const char* name; unsigned long at; int bit; } FEATURES[] = {
    {"neon", 16, 1}, {"fullfp16", 16, 10}, {"rdm", 16, 12}, {"dotprod", 16, 20},
    {"sve", 16, 22}, {"sve2", 26, 1}, {"i8mm", 26, 13}, {"bf16", 26, 14}};
#elif defined(__arm__)
static const char MACHINE[] = "armv7";
static const struct { const char* name; unsigned long at; int bit; } FEATURES[] = {
    {"neon", 16, 12}, {"vfp3", 16, 13}, {"vfp4", 16, 16}};
#elif defined(__riscv) && __riscv_xlen == 64
static const char MACHINE[] = "riscv64";
static const struct { const char* name; unsigned long at; int bit; } FEATURES[] = {
    {"m", 16, 'm' - 'a'}, {"a", 16, 0}, {"f", 16, 'f' - 'a'}, {"d", 16, 'd' - 'a'}, {"c", 16, 'c' - 'a'},
    {"v", 16, 'v' - 'a'}};
#else
#error "host.c: unknown CPU architecture"
#endif
static int has(int i) { return (int)((getauxval(FEATURES[i].at) >> FEATURES[i].bit) & 1UL); }
#endif
#define NFEATURES ((int)(sizeof FEATURES / sizeof FEATURES[0]))

int edgec_check_requires(const char* text, size_t n, char* err, size_t len) {
  const char* end = text + n;
  const char *target = edgec_json_get(text, end, "target"), *req, *v, *p;
  char machine[64], name[64], lacking[512] = "";
  req = target ? edgec_json_get(target, end, "requires") : NULL;
  v = req ? edgec_json_get(req, end, "machine") : NULL;
  if (!v || edgec_json_string(v, end, machine, sizeof machine) || !machine[0]) return 0; /* nothing to check */
  if (strcmp(machine, MACHINE) != 0) {
    edgec_err(err, len, "the model is %s code; this machine is %s", machine, MACHINE);
    return -1;
  }
  v = edgec_json_get(req, end, "cpu_features");
  if (!v) return 0;
  while (*v == ' ' || *v == '\n') v++;
  if (*v != '[') { edgec_err(err, len, "target.requires.cpu_features is not a list"); return -1; }
  for (p = v + 1;;) {
    int i, found = -1;
    while (*p == ' ' || *p == '\n' || *p == ',') p++;
    if (*p == ']') break;
    if (edgec_json_string(p, end, name, sizeof name)) { edgec_err(err, len, "bad target.requires.cpu_features"); return -1; }
    p = edgec_json_skip(p, end, 1);
    if (!p) { edgec_err(err, len, "bad target.requires.cpu_features"); return -1; }
    for (i = 0; i < NFEATURES; i++)
      if (!strcmp(name, FEATURES[i].name)) found = i;
    if (found < 0 || !has(found)) {
      if (lacking[0]) strncat(lacking, ", ", sizeof lacking - strlen(lacking) - 1);
      strncat(lacking, name, sizeof lacking - strlen(lacking) - 1);
      if (found < 0) strncat(lacking, " (unknown to this runner)", sizeof lacking - strlen(lacking) - 1);
    }
  }
  if (lacking[0]) {
    edgec_err(err, len, "the model needs CPU feature(s) %s, which this %s CPU lacks (read from %s)", lacking, MACHINE,
              SOURCE);
    return -1;
  }
  return 0;
}

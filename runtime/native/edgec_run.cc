// edgec-run: run an edgec model library on the device, no Python needed.
//   edgec-run model.so --input x.npy [--input y.npy ...] [--output-dir out] [--repeat N] [--threads N]
// Inputs are given in the manifest's input order; outputs are written as out/0.npy, out/1.npy, ...
// With --repeat it prints latency statistics as one JSON line.
// Before anything runs, manifest.json next to the library is checked (its own hash, the library's
// sha256, this CPU) and every argument is validated: bad input ends with "error: ..." and an
// exit code (2 usage, 5 inputs, 6 artifact, 1 anything else), never an abort.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "edgec_runtime.h"
#include "npy.h"

namespace {

constexpr long kMaxRepeat = 1000000;
constexpr long kMaxThreads = 1024;

// Peak resident memory of this process (Linux VmHWM; reset at exec, unlike ru_maxrss, so the
// parent that launched us is not counted). -1 where /proc is unavailable.
long PeakRssKb() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof(line), f)) {
    if (std::strncmp(line, "VmHWM:", 6) == 0) kb = std::atol(line + 6);
  }
  std::fclose(f);
  return kb;
}

int Usage(const std::string& why = "") {
  if (!why.empty()) std::fprintf(stderr, "error: %s\n", why.c_str());
  std::fprintf(stderr,
               "usage: edgec-run MODEL.so --input IN.npy [--input ...] [--output-dir DIR] [--repeat N] [--threads N]\n");
  return 2;
}

// A whole-string integer in [lo, hi], or false.
bool ParseInt(const char* s, long lo, long hi, long* out) {
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

struct Options {
  std::string lib, out_dir;
  std::vector<std::string> inputs;
  long repeat = 0;
};

int Run(const Options& o) {
  char err[1024] = {0};
  edgec_model* m = edgec_load(o.lib.c_str(), err, sizeof(err));
  if (!m) {
    std::fprintf(stderr, "error: %s\n", err);
    return 6;
  }
  struct Free {
    edgec_model* m;
    ~Free() { edgec_free(m); }
  } guard{m};
  try {
    for (size_t i = 0; i < o.inputs.size(); ++i) {
      edgec_npy::Array a = edgec_npy::Load(o.inputs[i]);
      if (edgec_set_input(m, static_cast<int>(i), a.data.data(), a.shape.data(), static_cast<int>(a.shape.size()),
                          a.dtype.c_str(), err, sizeof(err)))
        throw std::runtime_error(o.inputs[i] + ": " + err);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 5;
  }
  if (edgec_run(m, err, sizeof(err))) {
    std::fprintf(stderr, "error: run failed: %s\n", err);
    return 5;
  }
  if (!o.out_dir.empty()) {
    for (int i = 0; i < edgec_num_outputs(m); ++i) {
      const void* data;
      const int64_t* shape;
      int ndim;
      const char* dtype;
      edgec_get_output(m, i, &data, &shape, &ndim, &dtype);
      edgec_npy::Save(o.out_dir + "/" + std::to_string(i) + ".npy", dtype, shape, ndim, data);
    }
  }
  if (o.repeat > 0) {
    std::vector<double> ms(static_cast<size_t>(o.repeat));
    int repeat = static_cast<int>(o.repeat);
    if (edgec_time(m, repeat, 3, ms.data(), err, sizeof(err))) {
      std::fprintf(stderr, "error: %s\n", err);
      return 5;
    }
    std::vector<double> s = ms;
    std::sort(s.begin(), s.end());
    // Every run's time too, in run order: the host computes its statistics the same way for
    // every runner (edgec/benchmark.py summarize).
    std::printf("{\"runs\": %d, \"median_ms\": %.4f, \"min_ms\": %.4f, \"p90_ms\": %.4f, \"peak_rss_kb\": %ld, \"times_ms\": [",
                repeat, s[repeat / 2], s[0], s[std::min(repeat - 1, repeat * 9 / 10)], PeakRssKb());
    for (int i = 0; i < repeat; ++i) std::printf(i ? ", %.4f" : "%.4f", ms[static_cast<size_t>(i)]);
    std::printf("]}\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  Options o;
  o.lib = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return Usage(a + " needs a value");
    const char* v = argv[++i];
    long n = 0;
    if (a == "--input") {
      o.inputs.push_back(v);
    } else if (a == "--output-dir") {
      o.out_dir = v;
    } else if (a == "--repeat") {
      if (!ParseInt(v, 0, kMaxRepeat, &n)) return Usage("--repeat must be an integer from 0 to " + std::to_string(kMaxRepeat));
      o.repeat = n;
    } else if (a == "--threads") {
      if (!ParseInt(v, 1, kMaxThreads, &n)) return Usage("--threads must be an integer from 1 to " + std::to_string(kMaxThreads));
      setenv("TVM_NUM_THREADS", v, 1);
    } else {
      return Usage("unknown option " + a);
    }
  }
  if (!o.out_dir.empty()) {  // checked before anything runs: a result with nowhere to go is an error now
    struct stat st;
    if (stat(o.out_dir.c_str(), &st) != 0) return Usage("--output-dir " + o.out_dir + " does not exist (mkdir -p it)");
    if (!S_ISDIR(st.st_mode)) return Usage("--output-dir " + o.out_dir + " is not a directory");
  }
  if (o.lib.find('/') == std::string::npos) o.lib = "./" + o.lib;  // dlopen searches LD paths, not the cwd
  try {
    return Run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "error: unexpected failure\n");
    return 1;
  }
}

// edgec-run: run an edgec model library on the device, no Python needed.
//   edgec-run model.so --input x.npy [--input y.npy ...] [--output-dir out] [--repeat N] [--threads N]
// Inputs are given in the manifest's input order; outputs are written as out/0.npy, out/1.npy, ...
// With --repeat it prints latency statistics as one JSON line.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "edgec_runtime.h"
#include "npy.h"

// Peak resident memory of this process (Linux VmHWM; reset at exec, unlike ru_maxrss, so the
// parent that launched us is not counted). -1 where /proc is unavailable.
static long PeakRssKb() {
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

static int Usage() {
  std::fprintf(stderr,
               "usage: edgec-run MODEL.so --input IN.npy [--input ...] [--output-dir DIR] [--repeat N] [--threads N]\n");
  return 2;
}

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  std::string lib = argv[1], out_dir;
  std::vector<std::string> inputs;
  int repeat = 0;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    if (a == "--input") inputs.push_back(argv[++i]);
    else if (a == "--output-dir") out_dir = argv[++i];
    else if (a == "--repeat") repeat = std::atoi(argv[++i]);
    else if (a == "--threads") setenv("TVM_NUM_THREADS", argv[++i], 1);
    else return Usage();
  }
  if (lib.find('/') == std::string::npos) lib = "./" + lib;  // dlopen searches LD paths, not the cwd
  char err[1024] = {0};
  edgec_model* m = edgec_load(lib.c_str(), err, sizeof(err));
  if (!m) {
    std::fprintf(stderr, "error: %s\n", err);
    return 6;
  }
  try {
    for (size_t i = 0; i < inputs.size(); ++i) {
      edgec_npy::Array a = edgec_npy::Load(inputs[i]);
      if (edgec_set_input(m, static_cast<int>(i), a.data.data(), a.shape.data(), static_cast<int>(a.shape.size()),
                          a.dtype.c_str(), err, sizeof(err)))
        throw std::runtime_error(err);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    edgec_free(m);
    return 5;
  }
  if (edgec_run(m, err, sizeof(err))) {
    std::fprintf(stderr, "error: run failed: %s\n", err);
    edgec_free(m);
    return 5;
  }
  if (!out_dir.empty()) {
    for (int i = 0; i < edgec_num_outputs(m); ++i) {
      const void* data;
      const int64_t* shape;
      int ndim;
      const char* dtype;
      edgec_get_output(m, i, &data, &shape, &ndim, &dtype);
      edgec_npy::Save(out_dir + "/" + std::to_string(i) + ".npy", dtype, shape, ndim, data);
    }
  }
  if (repeat > 0) {
    std::vector<double> ms(repeat);
    if (edgec_time(m, repeat, 3, ms.data(), err, sizeof(err))) {
      std::fprintf(stderr, "error: %s\n", err);
      edgec_free(m);
      return 5;
    }
    std::vector<double> s = ms;
    std::sort(s.begin(), s.end());
    std::printf("{\"runs\": %d, \"median_ms\": %.4f, \"min_ms\": %.4f, \"p90_ms\": %.4f, \"peak_rss_kb\": %ld}\n", repeat,
                s[repeat / 2], s[0], s[std::min(repeat - 1, repeat * 9 / 10)], PeakRssKb());
  }
  edgec_free(m);
  return 0;
}

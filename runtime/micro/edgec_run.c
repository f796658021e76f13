/* edgec-run for the micro runtime: run an artifact's model.so on .npy inputs, with no Python and
 * no TVM runtime.
 *   edgec-run model.so --input x.npy [--input y.npy ...] [--output-dir out] [--repeat N] [--threads N]
 * manifest.json next to the library is checked before any of the model's code is loaded.
 * Exit codes: 2 bad arguments, 5 bad inputs or a failed run, 6 a bad artifact. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "edgec_runtime.h"
#include "npy.h"

#define MAX_INPUTS 64
#define MAX_REPEAT 1000000

static int usage(const char* why) {
  if (why) fprintf(stderr, "error: %s\n", why);
  fprintf(stderr, "usage: edgec-run MODEL.so --input IN.npy [--input ...] [--output-dir DIR] [--repeat N] [--threads N]\n");
  return 2;
}

/* Peak resident memory of this process: Linux's VmHWM, reset at exec (ru_maxrss is not: it would
 * report the parent that launched us, e.g. Python's ~300 MB); ru_maxrss where /proc is missing. */
static long peak_rss_kb(void) {
  char line[256];
  long kb = -1;
  FILE* f = fopen("/proc/self/status", "r");
  if (f) {
    while (fgets(line, sizeof line, f))
      if (!strncmp(line, "VmHWM:", 6)) kb = atol(line + 6);
    fclose(f);
  }
  if (kb < 0) {
    struct rusage ru;
    if (!getrusage(RUSAGE_SELF, &ru)) kb = (long)ru.ru_maxrss;
  }
  return kb;
}

static int parse_int(const char* s, long lo, long hi, long* out) {
  char* end;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < lo || v > hi) return 0;
  *out = v;
  return 1;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  const char* inputs[MAX_INPUTS];
  const char* out_dir = NULL;
  long repeat = 0, threads = 0;
  int n_in = 0, i, rc = 0;
  char err[1024] = {0};
  edgec_model* m;
  if (argc < 2 || argv[1][0] == '-') return usage("the first argument is the model library");
  for (i = 2; i < argc; i++) {
    const char* a = argv[i];
    char why[300];
    if (strcmp(a, "--input") && strcmp(a, "--output-dir") && strcmp(a, "--repeat") && strcmp(a, "--threads")) {
      snprintf(why, sizeof why, "unknown option %.200s", a);
      return usage(why);
    }
    if (i + 1 >= argc) { snprintf(why, sizeof why, "%s needs a value", a); return usage(why); }
    if (!strcmp(a, "--input")) {
      if (n_in >= MAX_INPUTS) return usage("too many inputs");
      inputs[n_in++] = argv[++i];
    } else if (!strcmp(a, "--output-dir")) out_dir = argv[++i];
    else if (!strcmp(a, "--repeat")) { if (!parse_int(argv[++i], 0, MAX_REPEAT, &repeat)) return usage("--repeat must be an integer from 0 to 1000000"); }
    else { if (!parse_int(argv[++i], 1, 64, &threads)) return usage("--threads must be an integer from 1 to 64"); }
  }
  if (out_dir) {
    struct stat st;
    char why[300];
    if (stat(out_dir, &st) || !S_ISDIR(st.st_mode)) {
      snprintf(why, sizeof why, "--output-dir %.200s %s", out_dir,
               stat(out_dir, &st) ? "does not exist (mkdir -p it)" : "is not a directory");
      return usage(why);
    }
  }
  m = edgec_load_threads(argv[1], (int)threads, err, sizeof err);
  if (!m) { fprintf(stderr, "error: %s\n", err); return 6; }
  if (n_in != edgec_num_inputs(m)) {
    fprintf(stderr, "error: the model takes %d input(s), %d given\n", edgec_num_inputs(m), n_in);
    edgec_free(m);
    return 5;
  }
  for (i = 0; i < n_in && !rc; i++) {
    edgec_npy a;
    if (edgec_npy_load(inputs[i], &a, err, sizeof err) ||
        edgec_set_input(m, i, a.data, a.shape, a.ndim, a.dtype, err, sizeof err)) {
      fprintf(stderr, "error: %s\n", err);
      rc = 5;
    }
    free(a.data);
  }
  if (!rc && edgec_run(m, err, sizeof err)) { fprintf(stderr, "error: run failed: %s\n", err); rc = 5; }
  for (i = 0; !rc && out_dir && i < edgec_num_outputs(m); i++) {
    const void* data;
    const int64_t* shape;
    int ndim;
    const char* dtype;
    char path[4096];
    edgec_get_output(m, i, &data, &shape, &ndim, &dtype);
    snprintf(path, sizeof path, "%s/%d.npy", out_dir, i);
    if (edgec_npy_save(path, dtype, shape, ndim, data, err, sizeof err)) { fprintf(stderr, "error: %s\n", err); rc = 5; }
  }
  if (!rc && repeat > 0) {
    double* ms = (double*)malloc(sizeof(double) * (size_t)repeat);
    if (!ms || edgec_time(m, (int)repeat, 3, ms, err, sizeof err)) {
      fprintf(stderr, "error: %s\n", ms ? err : "out of memory");
      rc = 5;
    } else {
      long p90 = repeat * 9 / 10 < repeat - 1 ? repeat * 9 / 10 : repeat - 1;
      qsort(ms, (size_t)repeat, sizeof(double), cmp);
      /* every run's time too (sorted): the host computes the statistics the same way for every runner */
      printf("{\"runs\": %ld, \"median_ms\": %.4f, \"min_ms\": %.4f, \"p90_ms\": %.4f, \"peak_rss_kb\": %ld, \"times_ms\": [",
             repeat, ms[repeat / 2], ms[0], ms[p90], peak_rss_kb());
      for (long i = 0; i < repeat; ++i) printf(i ? ", %.4f" : "%.4f", ms[i]);
      printf("]}\n");
    }
    free(ms);
  }
  edgec_free(m);
  return rc;
}

/* Counts heap allocations while a model runs: this program's malloc family interposes on the
 * whole process (model library and libc included) and forwards to glibc's __libc_* functions.
 *   count_mallocs MODEL.so THREADS RUNS  ->  prints "allocations_during_runs N" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgec_runtime.h"

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
extern void __libc_free(void*);

static volatile int counting;
static volatile long count;

void* malloc(size_t n) { if (counting) count++; return __libc_malloc(n); }
void* calloc(size_t a, size_t b) { if (counting) count++; return __libc_calloc(a, b); }
void* realloc(void* p, size_t n) { if (counting) count++; return __libc_realloc(p, n); }
void* memalign(size_t a, size_t n) { if (counting) count++; return __libc_memalign(a, n); }
void* aligned_alloc(size_t a, size_t n) { if (counting) count++; return __libc_memalign(a, n); }
int posix_memalign(void** p, size_t a, size_t n) {
  if (counting) count++;
  *p = __libc_memalign(a, n);
  return *p ? 0 : 12;
}
void free(void* p) { __libc_free(p); }

int main(int argc, char** argv) {
  char err[1024];
  edgec_model* m;
  int i, runs;
  if (argc != 4) return 2;
  m = edgec_load_threads(argv[1], atoi(argv[2]), err, sizeof err);
  if (!m) { fprintf(stderr, "error: %s\n", err); return 6; }
  runs = atoi(argv[3]); /* inputs: the zeroed staging buffers load leaves */
  if (edgec_run(m, err, sizeof err)) { fprintf(stderr, "error: %s\n", err); return 5; }
  counting = 1;
  for (i = 0; i < runs; i++)
    if (edgec_run(m, err, sizeof err)) { counting = 0; fprintf(stderr, "error: %s\n", err); return 5; }
  counting = 0;
  printf("allocations_during_runs %ld\n", count);
  edgec_free(m);
  return 0;
}

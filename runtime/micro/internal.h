/* Shared between the micro runtime's files (not a public header). */
#ifndef EDGEC_MICRO_INTERNAL_H_
#define EDGEC_MICRO_INTERNAL_H_

#include <stddef.h>
#include <stdint.h>

#include "edgec_plan.h"
#include "edgec_runtime.h"

#define EDGEC_MAX_THREADS 64
#define EDGEC_WS_DEPTH 64

typedef struct {
  uint8_t* base;
  uint64_t size, top;
  uint64_t marks[EDGEC_WS_DEPTH]; /* offsets of live requests, in order */
  int depth;
} edgec_ws_stack;

typedef struct edgec_pool edgec_pool;

struct edgec_model {
  const edgec_plan* plan;
  void* lib;               /* dlopen handle (NULL when statically linked) */
  uint8_t* arena;          /* 64-byte aligned, plan->arena_bytes */
  void* arena_block;
  uint8_t* staging;        /* inputs copied by edgec_set_input */
  void* staging_block;
  uint64_t* staging_off;
  const void** input_data; /* per input: staging or the caller's buffer */
  edgec_dl_tensor* dl;     /* one per plan tensor */
  edgec_ffi_any* args;
  int num_args;
  int threads;
  edgec_pool* pool;
  edgec_ws_stack* ws;      /* one per thread */
  void* ws_block;
  char kernel_error[512];  /* set by the kernels through TVMFFIErrorSetRaisedFromCStrParts */
};

/* The thread that runs a model's kernels right now, and its workspace (pool.c). */
void edgec_enter(edgec_model* m, int thread);
const edgec_hooks* edgec_runtime_hooks(void);
edgec_model* edgec_model_from_plan(const edgec_plan* plan, void* lib, int threads, char* err, size_t len);
int edgec_pool_start(edgec_model* m, int threads);
void edgec_pool_stop(edgec_model* m);

/* loader.c: the checked library's plan, or NULL with a message. */
const edgec_plan* edgec_open_library(const char* path, void** handle, char* err, size_t err_len);
void edgec_close_library(void* handle);

void edgec_err(char* err, size_t len, const char* fmt, ...);
const char* edgec_dtype_name(uint8_t code, uint8_t bits);

#endif

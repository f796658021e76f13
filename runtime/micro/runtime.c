/* The micro runtime's C API (edgec_runtime.h): a loaded plan, its arena and inputs, and the run
 * loop that walks the plan's calls. Allocation happens in edgec_load only. */
#define _POSIX_C_SOURCE 200809L
#ifdef EDGEC_BARE_METAL /* one thread, the model linked in, no OS clock */
#define EDGEC_NO_THREADS
#define EDGEC_STATIC_MODEL
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

void edgec_err(char* err, size_t len, const char* fmt, ...) {
  va_list ap;
  if (!err || !len) return;
  va_start(ap, fmt);
  vsnprintf(err, len, fmt, ap);
  va_end(ap);
}

const char* edgec_dtype_name(uint8_t code, uint8_t bits) {
  switch (code * 1000 + bits) {
    case 2032: return "float32";
    case 2016: return "float16";
    case 2064: return "float64";
    case 8: return "int8";
    case 16: return "int16";
    case 32: return "int32";
    case 64: return "int64";
    case 1008: return "uint8";
    case 1016: return "uint16";
    case 1032: return "uint32";
    case 1064: return "uint64";
    case 6008: return "bool";
    default: return "unknown";
  }
}

static void* aligned_block(uint64_t n, void** block) {
  uintptr_t p;
  *block = malloc((size_t)n + EDGEC_ALIGN);
  if (!*block) return NULL;
  p = ((uintptr_t)*block + EDGEC_ALIGN - 1) & ~(uintptr_t)(EDGEC_ALIGN - 1);
  return (void*)p;
}

static int default_threads(void) {
  const char* env = getenv("EDGEC_NUM_THREADS");
  int n = env ? atoi(env) : 0;
#if defined(_SC_NPROCESSORS_ONLN) && !defined(EDGEC_NO_THREADS)
  if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
#endif
  return n > 0 ? n : 1;
}

/* Tensors, arguments and buffers for a checked plan (shared by the dynamic and static loaders). */
edgec_model* edgec_model_from_plan(const edgec_plan* plan, void* lib, int threads, char* err, size_t len) {
  edgec_model* m = (edgec_model*)calloc(1, sizeof(edgec_model));
  uint64_t staging = 0, ws;
  int i, t;
  if (!m) { edgec_err(err, len, "out of memory"); return NULL; }
  m->plan = plan;
  m->lib = lib;
  m->threads = threads > 0 ? threads : default_threads();
  if (m->threads > EDGEC_MAX_THREADS) m->threads = EDGEC_MAX_THREADS;
#ifdef EDGEC_NO_THREADS
  m->threads = 1;
#endif
  for (i = 0; i < plan->num_calls; i++)
    if (plan->calls[i].first_arg + plan->calls[i].num_args > m->num_args)
      m->num_args = plan->calls[i].first_arg + plan->calls[i].num_args;
  m->dl = (edgec_dl_tensor*)calloc((size_t)plan->num_tensors + 1, sizeof(edgec_dl_tensor));
  m->args = (edgec_ffi_any*)calloc((size_t)m->num_args + 1, sizeof(edgec_ffi_any));
  m->staging_off = (uint64_t*)calloc((size_t)plan->num_inputs + 1, sizeof(uint64_t));
  m->input_data = (const void**)calloc((size_t)plan->num_inputs + 1, sizeof(void*));
  m->ws = (edgec_ws_stack*)calloc((size_t)m->threads, sizeof(edgec_ws_stack));
  m->arena = (uint8_t*)aligned_block(plan->arena_bytes, &m->arena_block);
  for (i = 0; i < plan->num_inputs; i++) {
    m->staging_off[i] = staging;
    staging += (plan->tensors[plan->inputs[i]].nbytes + EDGEC_ALIGN - 1) / EDGEC_ALIGN * EDGEC_ALIGN;
  }
  m->staging = (uint8_t*)aligned_block(staging, &m->staging_block);
  ws = (plan->workspace_bytes + EDGEC_ALIGN - 1) / EDGEC_ALIGN * EDGEC_ALIGN;
  m->ws_block = NULL;
  if (!m->dl || !m->args || !m->staging_off || !m->input_data || !m->ws || !m->arena || !m->staging) goto oom;
  if (ws) {
    uint8_t* base = (uint8_t*)aligned_block(ws * (uint64_t)m->threads, &m->ws_block);
    if (!base) goto oom;
    for (t = 0; t < m->threads; t++) { m->ws[t].base = base + ws * (uint64_t)t; m->ws[t].size = ws; }
  }
  memset(m->staging, 0, (size_t)staging);
  for (i = 0; i < plan->num_inputs; i++) m->input_data[i] = m->staging + m->staging_off[i];
  for (i = 0; i < plan->num_tensors; i++) {
    const edgec_tensor_desc* d = &plan->tensors[i];
    edgec_dl_tensor* x = &m->dl[i];
    x->device.device_type = 1; /* kDLCPU */
    x->ndim = d->ndim;
    x->dtype.code = d->dtype_code;
    x->dtype.bits = d->dtype_bits;
    x->dtype.lanes = 1;
    x->shape = (int64_t*)d->shape; /* the kernels read shapes, never write them */
    if (d->where == EDGEC_IN_ARENA) x->data = m->arena + d->offset;
    else if (d->where == EDGEC_IN_WEIGHTS) x->data = (void*)(plan->weights + d->offset);
  }
  for (i = 0; i < m->num_args; i++) {
    const edgec_arg_desc* a = &plan->args[i];
    if (a->kind == EDGEC_ARG_TENSOR) { m->args[i].type_index = EDGEC_FFI_DLTENSOR; m->args[i].v.v_ptr = &m->dl[a->tensor]; }
    else if (a->kind == EDGEC_ARG_INT) { m->args[i].type_index = EDGEC_FFI_INT; m->args[i].v.v_int64 = a->i; }
    else { m->args[i].type_index = EDGEC_FFI_FLOAT; m->args[i].v.v_float64 = a->f; }
  }
  plan->bind(edgec_runtime_hooks());
  if (edgec_pool_start(m, m->threads)) goto oom;
  return m;
oom:
  edgec_err(err, len, "out of memory loading the model (arena %llu bytes)", (unsigned long long)plan->arena_bytes);
  edgec_free(m);
  return NULL;
}

#ifndef EDGEC_STATIC_MODEL
edgec_model* edgec_load_threads(const char* path, int threads, char* err, size_t len) {
  void* lib = NULL;
  const edgec_plan* plan = edgec_open_library(path, &lib, err, len);
  edgec_model* m;
  if (!plan) return NULL;
  m = edgec_model_from_plan(plan, lib, threads, err, len);
  if (!m) edgec_close_library(lib);
  return m;
}

edgec_model* edgec_load(const char* path, char* err, size_t len) { return edgec_load_threads(path, 0, err, len); }
#endif

int edgec_num_inputs(const edgec_model* m) { return m->plan->num_inputs; }
int edgec_num_outputs(const edgec_model* m) { return m->plan->num_outputs; }

static int info(const edgec_model* m, int tensor, const char** shape_dtype, const int64_t** shape, int* ndim) {
  const edgec_tensor_desc* d = &m->plan->tensors[tensor];
  if (shape) *shape = d->shape;
  if (ndim) *ndim = d->ndim;
  if (shape_dtype) *shape_dtype = edgec_dtype_name(d->dtype_code, d->dtype_bits);
  return 0;
}

int edgec_input_info(const edgec_model* m, int i, const char** name, const int64_t** shape, int* ndim,
                     const char** dtype) {
  if (i < 0 || i >= m->plan->num_inputs) return -1;
  if (name) *name = m->plan->input_names[i];
  return info(m, m->plan->inputs[i], dtype, shape, ndim);
}

int edgec_output_info(const edgec_model* m, int i, const char** name, const int64_t** shape, int* ndim,
                      const char** dtype) {
  if (i < 0 || i >= m->plan->num_outputs) return -1;
  if (name) *name = m->plan->output_names[i];
  return info(m, m->plan->outputs[i], dtype, shape, ndim);
}

static void describe(char* out, size_t n, const char* dtype, const int64_t* shape, int ndim) {
  int k;
  size_t used;
  snprintf(out, n, "%s[", dtype ? dtype : "?");
  for (k = 0; k < ndim && k < 16; k++) {
    used = strlen(out);
    snprintf(out + used, n - used, "%s%lld", k ? ", " : "", (long long)shape[k]);
  }
  used = strlen(out);
  snprintf(out + used, n - used, "]");
}

int edgec_set_input(edgec_model* m, int i, const void* data, const int64_t* shape, int ndim, const char* dtype,
                    char* err, size_t len) {
  const edgec_tensor_desc* d;
  char got[160], want[160];
  int k, ok;
  if (i < 0 || i >= m->plan->num_inputs) { edgec_err(err, len, "input index %d out of range", i); return -1; }
  d = &m->plan->tensors[m->plan->inputs[i]];
  ok = ndim == d->ndim && dtype && !strcmp(dtype, edgec_dtype_name(d->dtype_code, d->dtype_bits));
  for (k = 0; ok && k < ndim; k++) ok = shape[k] == d->shape[k];
  if (!ok) {
    describe(got, sizeof got, dtype, shape, ndim);
    describe(want, sizeof want, edgec_dtype_name(d->dtype_code, d->dtype_bits), d->shape, d->ndim);
    edgec_err(err, len, "input %d (%s) is %s, the model expects %s", i, m->plan->input_names[i], got, want);
    return -1;
  }
  memcpy(m->staging + m->staging_off[i], data, (size_t)d->nbytes);
  m->input_data[i] = m->staging + m->staging_off[i];
  return 0;
}

int edgec_bind_input(edgec_model* m, int i, const void* data, char* err, size_t len) {
  if (i < 0 || i >= m->plan->num_inputs) { edgec_err(err, len, "input index %d out of range", i); return -1; }
  if (!data || ((uintptr_t)data & (EDGEC_ALIGN - 1))) {
    edgec_err(err, len, "input %d: a bound buffer must be %d-byte aligned (use edgec_set_input)", i, EDGEC_ALIGN);
    return -1;
  }
  m->input_data[i] = data;
  return 0;
}

static double thread_seconds(void);

/* The plan's calls in order; with seconds non-NULL, each call's thread CPU time is added to
 * seconds[call] (edgec_run_timed: the per-kernel profile). */
static int run_calls(edgec_model* m, double* seconds, char* err, size_t len) {
  const edgec_plan* p = m->plan;
  int i;
  for (i = 0; i < p->num_tensors; i++)
    if (p->tensors[i].where == EDGEC_IN_INPUT) m->dl[i].data = (void*)m->input_data[p->tensors[i].input];
  edgec_enter(m, 0);
  for (i = 0; i < p->num_calls; i++) {
    const edgec_call_desc* c = &p->calls[i];
    edgec_ffi_any ret;
    double t0 = seconds ? thread_seconds() : 0;
    int rc = 0;
    if (!c->fn) {
      const int dst = p->args[c->first_arg].tensor, src = p->args[c->first_arg + 1].tensor;
      memcpy(m->dl[dst].data, m->dl[src].data, (size_t)p->tensors[src].nbytes);
    } else {
      memset(&ret, 0, sizeof ret);
      m->kernel_error[0] = 0;
      rc = c->fn(NULL, m->args + c->first_arg, c->num_args, &ret);
    }
    if (seconds) seconds[i] += thread_seconds() - t0;
    if (rc) {
      edgec_err(err, len, "kernel %s (call %d of %d) failed: %s", c->name, i + 1, p->num_calls,
                m->kernel_error[0] ? m->kernel_error : "no message");
      edgec_enter(NULL, 0);
      return -1;
    }
  }
  edgec_enter(NULL, 0);
  return 0;
}

int edgec_run(edgec_model* m, char* err, size_t len) { return run_calls(m, NULL, err, len); }

int edgec_run_timed(edgec_model* m, double* seconds, char* err, size_t len) {
  return run_calls(m, seconds, err, len);
}

int edgec_num_calls(const edgec_model* m) { return m->plan->num_calls; }

const char* edgec_call_name(const edgec_model* m, int i) {
  return i >= 0 && i < m->plan->num_calls ? m->plan->calls[i].name : NULL;
}

int edgec_get_output(const edgec_model* m, int i, const void** data, const int64_t** shape, int* ndim,
                     const char** dtype) {
  if (i < 0 || i >= m->plan->num_outputs) return -1;
  if (data) *data = m->dl[m->plan->outputs[i]].data;
  return info(m, m->plan->outputs[i], dtype, shape, ndim);
}

static double now_ms(void) {
#ifdef EDGEC_BARE_METAL
  return (double)clock() * 1e3 / CLOCKS_PER_SEC;
#else
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
#endif
}

/* CPU time of the calling thread (the kernels of a 1-thread run all run on it): what other
 * processes take of a shared machine is not counted. Bare metal: the clock. */
static double thread_seconds(void) {
#if defined(EDGEC_BARE_METAL) || !defined(CLOCK_THREAD_CPUTIME_ID)
  return now_ms() / 1e3;
#else
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
#endif
}

int edgec_time(edgec_model* m, int repeat, int warmup, double* ms_out, char* err, size_t len) {
  int i;
  for (i = 0; i < warmup; i++)
    if (edgec_run(m, err, len)) return -1;
  for (i = 0; i < repeat; i++) {
    double t0 = now_ms();
    if (edgec_run(m, err, len)) return -1;
    ms_out[i] = now_ms() - t0;
  }
  return 0;
}

int edgec_memory(const edgec_model* m, uint64_t* arena, uint64_t* weights, uint64_t* workspace) {
  if (arena) *arena = m->plan->arena_bytes;
  if (weights) *weights = m->plan->weights_bytes;
  if (workspace) *workspace = m->plan->workspace_bytes;
  return 0;
}

void edgec_free(edgec_model* m) {
  if (!m) return;
  edgec_pool_stop(m);
  free(m->dl);
  free(m->args);
  free(m->staging_off);
  free(m->input_data);
  free(m->ws);
  free(m->arena_block);
  free(m->staging_block);
  free(m->ws_block);
#ifndef EDGEC_STATIC_MODEL
  edgec_close_library(m->lib);
#endif
  free(m);
}

/* TVM's backend hooks for the micro runtime: parallel launch on a small pthread pool started at
 * load time (or inline, single-threaded, with EDGEC_NO_THREADS for bare metal), workspace from
 * per-thread stacks reserved at load time, and kernel error text. Nothing here allocates once a
 * model is loaded. */
#ifdef EDGEC_BARE_METAL
#define EDGEC_NO_THREADS
#endif
#ifndef EDGEC_NO_THREADS
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#endif

#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifndef EDGEC_NO_THREADS
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#define EDGEC_TLS __thread
#else
#define EDGEC_TLS
#endif

static EDGEC_TLS edgec_model* cur_model;
static EDGEC_TLS int cur_thread;

void edgec_enter(edgec_model* m, int thread) {
  cur_model = m;
  cur_thread = thread;
}

static void* alloc_workspace(int device_type, int device_id, uint64_t nbytes, int code, int bits) {
  edgec_ws_stack* s;
  uint64_t start;
  (void)device_type; (void)device_id; (void)code; (void)bits;
  if (!cur_model) return NULL;
  s = &cur_model->ws[cur_thread];
  start = (s->top + EDGEC_ALIGN - 1) / EDGEC_ALIGN * EDGEC_ALIGN;
  if (s->depth >= EDGEC_WS_DEPTH || start + nbytes > s->size) return NULL; /* the kernel reports it */
  s->marks[s->depth++] = s->top;
  s->top = start + nbytes;
  return s->base + start;
}

static int free_workspace(int device_type, int device_id, void* ptr) {
  edgec_ws_stack* s;
  (void)device_type; (void)device_id; (void)ptr;
  if (!cur_model) return -1;
  s = &cur_model->ws[cur_thread];
  if (s->depth == 0) return -1;
  s->top = s->marks[--s->depth]; /* TVM frees in reverse order of allocation */
  return 0;
}

static void set_error(const char* kind, const char** parts, int32_t n) {
  char* out;
  size_t len, cap;
  int32_t i;
  if (!cur_model) return;
  out = cur_model->kernel_error;
  cap = sizeof(cur_model->kernel_error);
  len = 0;
  out[0] = 0;
  if (kind) { strncat(out, kind, cap - 1); strncat(out, ": ", cap - 1 - strlen(out)); }
  for (i = 0; i < n; i++) {
    len = strlen(out);
    if (parts[i] && len + 1 < cap) strncat(out, parts[i], cap - 1 - len);
  }
}

#ifdef EDGEC_NO_THREADS
static int parallel_launch(edgec_parallel_lambda f, void* cdata, int num_task) {
  edgec_parallel_env env;
  (void)num_task;
  env.sync_handle = NULL;
  env.num_task = 1;
  return f(0, &env, cdata);
}
int edgec_pool_start(edgec_model* m, int threads) { (void)m; (void)threads; return 0; }
void edgec_pool_stop(edgec_model* m) { (void)m; }
#else
typedef struct { edgec_pool* pool; int index; } worker_arg;

/* How long a worker spins for the next job before it sleeps on the condition variable, and the
 * launching thread for the workers to finish before it sleeps: the kernels of one run follow each
 * other within microseconds, so a short spin finds the other side awake and saves two futex
 * wake-ups per parallel kernel (TVM's pool and ONNX Runtime's spin the same way). Short, so that
 * idle workers leave a busy machine's cores alone; in time, not rounds, as a pause costs ~30 ns on
 * x86 and ~1 ns on a Cortex-A72. PP-OCR cls at 2 threads: docs/micro-runtime.md. */
#ifndef EDGEC_SPIN_NS
#define EDGEC_SPIN_NS 100000L
#endif

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || (defined(__ARM_ARCH) && __ARM_ARCH >= 7)
  __asm__ __volatile__("yield");
#endif
}

struct edgec_pool {
  edgec_model* model;
  pid_t pid; /* a forked child has none of the workers: it runs every task itself */
  int n;
  pthread_t th[EDGEC_MAX_THREADS];
  int started;
  pthread_mutex_t mu;
  pthread_cond_t go, done;
  unsigned gen;             /* atomic: bumped (release) for every job, after f/cdata/env are set */
  int remaining, stop, rc;  /* atomic */
  int sleepers, waiting;    /* under mu: workers asleep on go, the launcher asleep on done */
  edgec_parallel_lambda f;
  void* cdata;
  edgec_parallel_env env;
  worker_arg args[EDGEC_MAX_THREADS];
};

static int job_ready(edgec_pool* pool, unsigned seen) {
  return __atomic_load_n(&pool->gen, __ATOMIC_ACQUIRE) != seen || __atomic_load_n(&pool->stop, __ATOMIC_ACQUIRE);
}

static int all_done(edgec_pool* pool, unsigned unused) {
  (void)unused;
  return __atomic_load_n(&pool->remaining, __ATOMIC_ACQUIRE) == 0;
}

/* ready(pool, arg) after spinning for it at most EDGEC_SPIN_NS: 32 pauses, then the clock and a
 * sched_yield, so that a thread waiting for this core (the other side, on a busy machine) runs
 * instead of the spin: without it, PP-OCR cls at 2 threads took 10-29 ms in some rounds here. */
static int spin_for(int (*ready)(edgec_pool*, unsigned), edgec_pool* pool, unsigned arg) {
  struct timespec t0, t;
  int k;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    for (k = 0; k < 32; k++) {
      if (ready(pool, arg)) return 1;
      cpu_relax();
    }
    sched_yield();
    clock_gettime(CLOCK_MONOTONIC, &t);
    if ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) > EDGEC_SPIN_NS) return ready(pool, arg);
  }
}

static void* worker(void* p) {
  edgec_pool* pool = ((worker_arg*)p)->pool;
  int index = ((worker_arg*)p)->index;
  unsigned seen = 0;
  edgec_enter(pool->model, index);
  for (;;) {
    int rc;
    if (!spin_for(job_ready, pool, seen)) {
      pthread_mutex_lock(&pool->mu);
      pool->sleepers++;
      while (!job_ready(pool, seen)) pthread_cond_wait(&pool->go, &pool->mu);
      pool->sleepers--;
      pthread_mutex_unlock(&pool->mu);
    }
    if (__atomic_load_n(&pool->stop, __ATOMIC_ACQUIRE)) return NULL;
    seen = __atomic_load_n(&pool->gen, __ATOMIC_ACQUIRE); /* one job at a time: the launcher waits for all */
    rc = index < pool->env.num_task ? pool->f(index, &pool->env, pool->cdata) : 0;
    if (rc) __atomic_store_n(&pool->rc, rc, __ATOMIC_RELAXED);
    if (__atomic_sub_fetch(&pool->remaining, 1, __ATOMIC_ACQ_REL) == 0) {
      pthread_mutex_lock(&pool->mu); /* the launcher checks remaining under mu before it sleeps */
      if (pool->waiting) pthread_cond_signal(&pool->done);
      pthread_mutex_unlock(&pool->mu);
    }
  }
}

static int parallel_launch(edgec_parallel_lambda f, void* cdata, int num_task) {
  edgec_model* m = cur_model;
  edgec_pool* pool = m ? m->pool : NULL;
  int rc, i;
  if (!pool || pool->n <= 1 || cur_thread != 0 || pool->pid != getpid()) { /* one thread, nested or forked */
    edgec_parallel_env env;
    env.sync_handle = NULL;
    env.num_task = num_task > 0 ? num_task : 1;
    for (i = 0; i < env.num_task; i++)
      if ((rc = f(i, &env, cdata)) != 0) return rc;
    return 0;
  }
  pool->f = f;
  pool->cdata = cdata;
  pool->env.sync_handle = NULL;
  pool->env.num_task = num_task > 0 && num_task < pool->n ? num_task : pool->n;
  __atomic_store_n(&pool->remaining, pool->n - 1, __ATOMIC_RELAXED);
  __atomic_store_n(&pool->rc, 0, __ATOMIC_RELAXED);
  pthread_mutex_lock(&pool->mu); /* a worker checks gen under mu before it sleeps */
  __atomic_add_fetch(&pool->gen, 1, __ATOMIC_RELEASE);
  if (pool->sleepers) pthread_cond_broadcast(&pool->go);
  pthread_mutex_unlock(&pool->mu);
  rc = f(0, &pool->env, cdata);
  if (!spin_for(all_done, pool, 0)) {
    pthread_mutex_lock(&pool->mu);
    pool->waiting = 1;
    while (__atomic_load_n(&pool->remaining, __ATOMIC_ACQUIRE)) pthread_cond_wait(&pool->done, &pool->mu);
    pool->waiting = 0;
    pthread_mutex_unlock(&pool->mu);
  }
  if (!rc) rc = __atomic_load_n(&pool->rc, __ATOMIC_RELAXED);
  return rc;
}

int edgec_pool_start(edgec_model* m, int threads) {
  edgec_pool* pool;
  int i;
  if (threads <= 1) return 0;
  pool = (edgec_pool*)calloc(1, sizeof(edgec_pool));
  if (!pool) return -1;
  pool->model = m;
  pool->pid = getpid();
  pool->n = threads;
  pthread_mutex_init(&pool->mu, NULL);
  pthread_cond_init(&pool->go, NULL);
  pthread_cond_init(&pool->done, NULL);
  m->pool = pool;
  for (i = 1; i < threads; i++) {
    pool->args[i].pool = pool;
    pool->args[i].index = i;
    if (pthread_create(&pool->th[i], NULL, worker, &pool->args[i]) != 0) {
      pool->n = i; /* run on the threads that started */
      break;
    }
    pool->started = i;
  }
  return 0;
}

void edgec_pool_stop(edgec_model* m) {
  edgec_pool* pool = m->pool;
  int i;
  if (!pool) return;
  if (pool->pid != getpid()) { m->pool = NULL; return; } /* a forked child: the workers are the parent's */
  pthread_mutex_lock(&pool->mu);
  __atomic_store_n(&pool->stop, 1, __ATOMIC_RELEASE);
  pthread_cond_broadcast(&pool->go);
  pthread_mutex_unlock(&pool->mu);
  for (i = 1; i <= pool->started; i++) pthread_join(pool->th[i], NULL);
  pthread_mutex_destroy(&pool->mu);
  pthread_cond_destroy(&pool->go);
  pthread_cond_destroy(&pool->done);
  free(pool);
  m->pool = NULL;
}
#endif

static const edgec_hooks hooks = {alloc_workspace, free_workspace, parallel_launch, set_error};
const edgec_hooks* edgec_runtime_hooks(void) { return &hooks; }

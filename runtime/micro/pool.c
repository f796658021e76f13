/* TVM's backend hooks for the micro runtime: parallel launch on a small pthread pool started at
 * load time (or inline, single-threaded, with EDGEC_NO_THREADS for bare metal), workspace from
 * per-thread stacks reserved at load time, and kernel error text. Nothing here allocates once a
 * model is loaded. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef EDGEC_BARE_METAL
#define EDGEC_NO_THREADS
#endif

#ifndef EDGEC_NO_THREADS
#include <pthread.h>
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

struct edgec_pool {
  edgec_model* model;
  pid_t pid; /* a forked child has none of the workers: it runs every task itself */
  int n;
  pthread_t th[EDGEC_MAX_THREADS];
  int started;
  pthread_mutex_t mu;
  pthread_cond_t go, done;
  unsigned gen;
  int remaining, stop, rc;
  edgec_parallel_lambda f;
  void* cdata;
  edgec_parallel_env env;
  worker_arg args[EDGEC_MAX_THREADS];
};

static void* worker(void* p) {
  edgec_pool* pool = ((worker_arg*)p)->pool;
  int index = ((worker_arg*)p)->index;
  unsigned seen = 0;
  edgec_enter(pool->model, index);
  for (;;) {
    int rc;
    pthread_mutex_lock(&pool->mu);
    while (pool->gen == seen && !pool->stop) pthread_cond_wait(&pool->go, &pool->mu);
    if (pool->stop) { pthread_mutex_unlock(&pool->mu); return NULL; }
    seen = pool->gen;
    pthread_mutex_unlock(&pool->mu);
    rc = index < pool->env.num_task ? pool->f(index, &pool->env, pool->cdata) : 0;
    pthread_mutex_lock(&pool->mu);
    if (rc) pool->rc = rc;
    if (--pool->remaining == 0) pthread_cond_signal(&pool->done);
    pthread_mutex_unlock(&pool->mu);
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
  pthread_mutex_lock(&pool->mu);
  pool->f = f;
  pool->cdata = cdata;
  pool->env.sync_handle = NULL;
  pool->env.num_task = num_task > 0 && num_task < pool->n ? num_task : pool->n;
  pool->remaining = pool->n - 1;
  pool->rc = 0;
  pool->gen++;
  pthread_cond_broadcast(&pool->go);
  pthread_mutex_unlock(&pool->mu);
  rc = f(0, &pool->env, cdata);
  pthread_mutex_lock(&pool->mu);
  while (pool->remaining) pthread_cond_wait(&pool->done, &pool->mu);
  if (!rc) rc = pool->rc;
  pthread_mutex_unlock(&pool->mu);
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
  pool->stop = 1;
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

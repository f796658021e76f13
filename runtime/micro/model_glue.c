/* Compiled into every micro model library, next to the kernels and the generated plan: the
 * symbols TVM's kernels import, forwarded to the runtime's hooks (edgec_plan.h). Nothing here
 * allocates or keeps state besides the hook table. */
#include "edgec_plan.h"

/* Defined weak (as data) by TVM's LLVM codegen; these strong definitions win at link time. */
void* (*__TVMBackendAllocWorkspace)(int, int, uint64_t, int, int) = 0;
int (*__TVMBackendFreeWorkspace)(int, int, void*) = 0;
int (*__TVMBackendParallelLaunch)(edgec_parallel_lambda, void*, int) = 0;

static void (*edgec_set_error_hook)(const char*, const char**, int32_t) = 0;

void TVMFFIErrorSetRaisedFromCStrParts(const char* kind, const char** parts, int32_t num_parts) {
  if (edgec_set_error_hook) edgec_set_error_hook(kind, parts, num_parts);
}

void edgec_model_bind(const edgec_hooks* hooks) {
  __TVMBackendAllocWorkspace = hooks->alloc_workspace;
  __TVMBackendFreeWorkspace = hooks->free_workspace;
  __TVMBackendParallelLaunch = hooks->parallel_launch;
  edgec_set_error_hook = hooks->set_error;
}

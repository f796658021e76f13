/* The contract between a compiled model (kernels + generated plan + weights, one library) and
 * edgec's micro runtime. The plan is data: tensors at fixed offsets and an ordered list of kernel
 * calls; the runtime binds the arena and inputs, then walks the calls.
 *
 * The kernel ABI is tvm-ffi's TVMFFISafeCallType with tensors passed as DLTensor*; the few types
 * it needs are written out here (C99, no TVM headers), laid out as tvm_ffi/c_api.h and dlpack.h
 * (tests/runtime/test_micro_abi.py compiles a check against the wheel's headers). */
#ifndef EDGEC_PLAN_H_
#define EDGEC_PLAN_H_

#include <stddef.h>
#include <stdint.h>

#define EDGEC_PLAN_ABI 1
#define EDGEC_ALIGN 64

/* ---- dlpack / tvm-ffi types the kernels use ---- */
typedef struct { int32_t device_type; int32_t device_id; } edgec_dl_device;
typedef struct { uint8_t code; uint8_t bits; uint16_t lanes; } edgec_dl_dtype;
typedef struct {
  void* data;
  edgec_dl_device device;
  int32_t ndim;
  edgec_dl_dtype dtype;
  int64_t* shape;
  int64_t* strides;
  uint64_t byte_offset;
} edgec_dl_tensor;

typedef struct {
  int32_t type_index; /* 0 none, 1 int, 3 float, 7 DLTensor* */
  uint32_t zero_padding;
  union { int64_t v_int64; double v_float64; void* v_ptr; } v;
} edgec_ffi_any;

enum { EDGEC_FFI_NONE = 0, EDGEC_FFI_INT = 1, EDGEC_FFI_FLOAT = 3, EDGEC_FFI_DLTENSOR = 7 };

typedef int (*edgec_kernel_fn)(void* self, const edgec_ffi_any* args, int32_t num_args, edgec_ffi_any* ret);

/* TVM's backend hooks (c_backend_api.h), provided by the runtime and bound into the model. */
typedef struct { void* sync_handle; int32_t num_task; } edgec_parallel_env;
typedef int (*edgec_parallel_lambda)(int task_id, edgec_parallel_env* penv, void* cdata);
typedef struct {
  void* (*alloc_workspace)(int device_type, int device_id, uint64_t nbytes, int dtype_code, int dtype_bits);
  int (*free_workspace)(int device_type, int device_id, void* ptr);
  int (*parallel_launch)(edgec_parallel_lambda f, void* cdata, int num_task);
  void (*set_error)(const char* kind, const char** parts, int32_t num_parts);
} edgec_hooks;

/* ---- the plan ---- */
enum { EDGEC_IN_ARENA = 0, EDGEC_IN_WEIGHTS = 1, EDGEC_IN_INPUT = 2 };

typedef struct {
  uint8_t where;        /* EDGEC_IN_* */
  uint8_t dtype_code;   /* DLDataTypeCode: 0 int, 1 uint, 2 float, 6 bool */
  uint8_t dtype_bits;
  uint8_t pad;
  int32_t ndim;
  int32_t input;        /* input index when where == EDGEC_IN_INPUT, else -1 */
  uint64_t offset;      /* bytes into the arena or the weights */
  uint64_t nbytes;
  const int64_t* shape;
} edgec_tensor_desc;

typedef struct {
  int32_t kind;         /* EDGEC_ARG_* */
  int32_t tensor;       /* tensor index for EDGEC_ARG_TENSOR */
  int64_t i;
  double f;
} edgec_arg_desc;
enum { EDGEC_ARG_TENSOR = 0, EDGEC_ARG_INT = 1, EDGEC_ARG_FLOAT = 2 };

typedef struct {
  edgec_kernel_fn fn;   /* NULL: a copy of args[1]'s bytes into args[0] (outputs that are inputs/weights) */
  const char* name;
  int32_t first_arg;
  int32_t num_args;
} edgec_call_desc;

typedef struct {
  uint32_t abi;
  uint32_t max_ndim;
  uint64_t arena_bytes;     /* intermediates and outputs, at fixed offsets */
  uint64_t workspace_bytes; /* per thread: the most one kernel asks TVMBackendAllocWorkspace for */
  uint64_t weights_bytes;
  const uint8_t* weights;
  int32_t num_tensors;
  const edgec_tensor_desc* tensors;
  int32_t num_calls;
  const edgec_call_desc* calls;
  const edgec_arg_desc* args;
  int32_t num_inputs;
  const int32_t* inputs;    /* tensor index of each input */
  const char* const* input_names;
  int32_t num_outputs;
  const int32_t* outputs;   /* tensor index of each output (always in the arena) */
  const char* const* output_names;
  void (*bind)(const edgec_hooks* hooks);
} edgec_plan;

/* The one symbol a model library exports. */
const edgec_plan* edgec_model_plan(void);

#endif /* EDGEC_PLAN_H_ */

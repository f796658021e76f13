/* edgec micro runtime: runs an edgec artifact compiled with --runtime micro (one library holding
 * the kernels, the static plan and the weights) with no TVM runtime and no heap allocation during
 * a run. The same shape as runtime/native/edgec_runtime.h: load, set inputs, run, read outputs.
 * Every call returns 0 on success; on failure non-zero and a message in err (if given). */
#ifndef EDGEC_MICRO_RUNTIME_H_
#define EDGEC_MICRO_RUNTIME_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct edgec_model edgec_model;

/* Load model.so from an artifact folder or device bundle. manifest.json must sit next to it:
 * its self-hash, the library's sha256 and the architecture are checked before any of the
 * model's code is loaded. threads: 0 = EDGEC_NUM_THREADS, else the online CPUs. Everything a run
 * needs (arena, workspace, thread pool) is allocated here. NULL on failure. */
edgec_model* edgec_load(const char* library_path, char* err, size_t err_len);
edgec_model* edgec_load_threads(const char* library_path, int threads, char* err, size_t err_len);

int edgec_num_inputs(const edgec_model* m);
int edgec_num_outputs(const edgec_model* m);
/* Name, shape and dtype ("float32", "int64", ...) of input/output index. */
int edgec_input_info(const edgec_model* m, int index, const char** name, const int64_t** shape, int* ndim,
                     const char** dtype);
int edgec_output_info(const edgec_model* m, int index, const char** name, const int64_t** shape, int* ndim,
                      const char** dtype);

/* Copy one input into the runtime's own buffer (checked against the model's shape and dtype). */
int edgec_set_input(edgec_model* m, int index, const void* data, const int64_t* shape, int ndim,
                    const char* dtype, char* err, size_t err_len);
/* Use the caller's buffer for an input without a copy: it must hold the input's bytes, 64-byte
 * aligned, and stay valid until the next edgec_run returns. */
int edgec_bind_input(edgec_model* m, int index, const void* data, char* err, size_t err_len);

/* Run once with the inputs set so far. Allocates nothing. */
int edgec_run(edgec_model* m, char* err, size_t err_len);

/* The per-kernel profile: run once, adding each call's CPU time on the calling thread (seconds)
 * to seconds[call], an array of edgec_num_calls entries; edgec_call_name names call i (the
 * kernel, or "copy" for an output copied out of an input or a weight). */
int edgec_run_timed(edgec_model* m, double* seconds, char* err, size_t err_len);
int edgec_num_calls(const edgec_model* m);
const char* edgec_call_name(const edgec_model* m, int index);

/* Outputs of the last run: pointers into the arena, valid until the next run or edgec_free. */
int edgec_get_output(const edgec_model* m, int index, const void** data, const int64_t** shape, int* ndim,
                     const char** dtype);

/* Run warmup + repeat times; writes repeat wall-clock latencies (ms) into ms_out. */
int edgec_time(edgec_model* m, int repeat, int warmup, double* ms_out, char* err, size_t err_len);

/* Bytes of the arena (intermediates + outputs), the weights and the per-thread workspace. */
int edgec_memory(const edgec_model* m, uint64_t* arena, uint64_t* weights, uint64_t* workspace);

void edgec_free(edgec_model* m);

#ifdef __cplusplus
}
#endif
#endif /* EDGEC_MICRO_RUNTIME_H_ */

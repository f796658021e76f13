/* edgec native runtime: a small C API over the TVM runtime (tvm-ffi + libtvm_runtime) that
 * loads an edgec artifact's model library and runs it, with no Python on the device.
 * Every call returns 0 on success; on failure, non-zero and a message in err (if given). */
#ifndef EDGEC_RUNTIME_H_
#define EDGEC_RUNTIME_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct edgec_model edgec_model;

/* Load model.so (an artifact's library) for the CPU. Returns NULL on failure. When manifest.json
 * sits next to the library (artifact folder, device bundle), edgec_check_host runs first. */
edgec_model* edgec_load(const char* library_path, char* err, size_t err_len);

/* 0 when this machine can run the artifact whose manifest.json is given: its architecture and
 * every CPU feature in target.requires (e.g. "dotprod", "avx512vnni"); otherwise non-zero and a
 * message naming what is missing. Call it before loading a library from elsewhere. */
int edgec_check_host(const char* manifest_path, char* err, size_t err_len);

/* Copy one input (index in the manifest's input order). dtype: "float32", "int64", "int32",
 * "uint8", "int8". */
int edgec_set_input(edgec_model* m, int index, const void* data, const int64_t* shape, int ndim,
                    const char* dtype, char* err, size_t err_len);

/* Run once with the inputs set so far. */
int edgec_run(edgec_model* m, char* err, size_t err_len);

/* Outputs of the last run. Pointers stay valid until the next run or edgec_free. */
int edgec_num_outputs(const edgec_model* m);
int edgec_get_output(const edgec_model* m, int index, const void** data, const int64_t** shape,
                     int* ndim, const char** dtype);

/* Run warmup + repeat times; writes repeat wall-clock latencies (ms) into ms_out. */
int edgec_time(edgec_model* m, int repeat, int warmup, double* ms_out, char* err, size_t err_len);

void edgec_free(edgec_model* m);

#ifdef __cplusplus
}
#endif
#endif /* EDGEC_RUNTIME_H_ */

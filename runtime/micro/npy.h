/* .npy files (format 1.0-3.0, little-endian, C order) for the micro runner, in C99. */
#ifndef EDGEC_MICRO_NPY_H_
#define EDGEC_MICRO_NPY_H_
#include <stddef.h>
#include <stdint.h>

#define EDGEC_NPY_MAX_DIMS 16

typedef struct {
  char dtype[16];
  int ndim;
  int64_t shape[EDGEC_NPY_MAX_DIMS];
  void* data;  /* malloc'ed; free() it */
  size_t nbytes;
} edgec_npy;

/* 0 on success; otherwise a message in err. Sizes are checked against the file before reading. */
int edgec_npy_load(const char* path, edgec_npy* out, char* err, size_t err_len);
int edgec_npy_save(const char* path, const char* dtype, const int64_t* shape, int ndim, const void* data,
                   char* err, size_t err_len);
#endif

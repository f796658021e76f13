/* .npy reading and writing (see npy.h). */
#define _POSIX_C_SOURCE 200809L
#include "npy.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct { const char* descr; const char* name; size_t size; } DTYPES[] = {
    {"<f4", "float32", 4}, {"<f2", "float16", 2}, {"<f8", "float64", 8}, {"|i1", "int8", 1},
    {"<i2", "int16", 2},   {"<i4", "int32", 4},   {"<i8", "int64", 8},   {"|u1", "uint8", 1},
    {"<u2", "uint16", 2},  {"<u4", "uint32", 4},  {"<u8", "uint64", 8},  {"|b1", "bool", 1}};
#define NDTYPES (sizeof DTYPES / sizeof DTYPES[0])

static int fail(char* err, size_t len, const char* path, const char* why) {
  snprintf(err, len, "%s: %s", path, why);
  return -1;
}

int edgec_npy_load(const char* path, edgec_npy* out, char* err, size_t len) {
  unsigned char magic[12];
  char header[65536], *p, *q;
  size_t hlen, count = 1, i, item = 0, pre;
  long size;
  int major;
  struct stat st;
  FILE* f;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO must not block the runner */
  memset(out, 0, sizeof *out);
  if (fd < 0) return fail(err, len, path, "cannot open");
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) { close(fd); return fail(err, len, path, "is not a regular file"); }
  f = fdopen(fd, "rb");
  if (!f) { close(fd); return fail(err, len, path, "cannot read"); }
  size = (long)st.st_size;
  if (size < 10 || fread(magic, 1, 10, f) != 10 || memcmp(magic, "\x93NUMPY", 6)) {
    fclose(f); return fail(err, len, path, "is not a .npy file");
  }
  major = magic[6];
  if (major == 1) { hlen = magic[8] | (size_t)magic[9] << 8; pre = 10; }
  else if (major == 2 || major == 3) {
    if (fread(magic + 10, 1, 2, f) != 2) { fclose(f); return fail(err, len, path, "bad .npy header length"); }
    hlen = magic[8] | (size_t)magic[9] << 8 | (size_t)magic[10] << 16 | (size_t)magic[11] << 24;
    pre = 12;
  } else { fclose(f); return fail(err, len, path, "is not a .npy file (unknown version)"); }
  if (hlen >= sizeof header || pre + hlen > (size_t)size || fread(header, 1, hlen, f) != hlen) {
    fclose(f); return fail(err, len, path, "bad .npy header length");
  }
  header[hlen] = 0;
  if (strstr(header, "'fortran_order': True")) { fclose(f); return fail(err, len, path, "Fortran order is not supported"); }
  p = strstr(header, "'descr': '");
  if (!p || !strstr(header, "'shape': ")) { fclose(f); return fail(err, len, path, ".npy header lacks 'descr' or 'shape'"); }
  p += 10;
  for (i = 0; i < NDTYPES; i++)
    if (!strncmp(p, DTYPES[i].descr, 3) && p[3] == '\'') { strcpy(out->dtype, DTYPES[i].name); item = DTYPES[i].size; }
  if (!item) { fclose(f); return fail(err, len, path, "unsupported .npy dtype (little-endian numbers and bool)"); }
  p = strstr(header, "'shape': (");
  if (!p || !strchr(p, ')')) { fclose(f); return fail(err, len, path, "unterminated value for 'shape'"); }
  p += 10;
  while (*p != ')') {
    long long d;
    while (*p == ' ' || *p == ',') p++;
    if (*p == ')') break;
    d = strtoll(p, &q, 10);
    if (q == p || d < 0 || out->ndim >= EDGEC_NPY_MAX_DIMS) { fclose(f); return fail(err, len, path, "bad .npy dimension"); }
    if (d > 0x7fffffffLL || (d && count > (size_t)-1 / item / (size_t)d)) {
      fclose(f); return fail(err, len, path, "shape overflows");
    }
    out->shape[out->ndim++] = d;
    count *= (size_t)d;
    p = q;
  }
  out->nbytes = count * item;
  if (out->nbytes > (size_t)size - pre - hlen) { fclose(f); return fail(err, len, path, "is truncated: less data than its shape"); }
  out->data = malloc(out->nbytes ? out->nbytes : 1);
  if (!out->data || fread(out->data, 1, out->nbytes, f) != out->nbytes) {
    free(out->data); out->data = NULL; fclose(f); return fail(err, len, path, "cannot read data");
  }
  fclose(f);
  return 0;
}

int edgec_npy_save(const char* path, const char* dtype, const int64_t* shape, int ndim, const void* data,
                   char* err, size_t len) {
  char header[512], dims[256] = "";
  size_t i, n, count = 1, item = 0;
  const char* descr = NULL;
  FILE* f;
  int k;
  for (i = 0; i < NDTYPES; i++)
    if (!strcmp(dtype, DTYPES[i].name)) { descr = DTYPES[i].descr; item = DTYPES[i].size; }
  if (!descr) return fail(err, len, path, "unknown dtype");
  for (k = 0; k < ndim; k++) {
    char d[32];
    snprintf(d, sizeof d, "%lld%s", (long long)shape[k], ndim == 1 ? "," : (k + 1 < ndim ? ", " : ""));
    strncat(dims, d, sizeof dims - strlen(dims) - 1);
    count *= (size_t)shape[k];
  }
  n = (size_t)snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
  while ((10 + n + 1) % 64) header[n++] = ' ';
  header[n++] = '\n';
  f = fopen(path, "wb");
  if (!f) return fail(err, len, path, "cannot write");
  fwrite("\x93NUMPY\x01\x00", 1, 8, f);
  fputc((int)(n & 255), f);
  fputc((int)(n >> 8), f);
  fwrite(header, 1, n, f);
  if (fwrite(data, item, count, f) != count || fclose(f)) return fail(err, len, path, "write failed");
  return 0;
}

/* Open a micro model library after checking it: manifest.json next to it must carry its own
 * sha256 (manifest_sha256, computed with that field's digits zeroed, as runtime/manifest.py
 * writes it), name this library with the sha256 of its exact bytes, say runtime "micro" and the
 * architecture of this machine. The library is opened through the descriptor that was hashed
 * (/proc/self/fd), so the bytes checked are the bytes loaded. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"
#include "internal.h"
#include "json.h"
#include "sha256.h"

#define MANIFEST_LIMIT (16u << 20)
#define LIBRARY_LIMIT (4096ull << 20)

/* A regular file's bytes (size-limited), read from an fd opened without following tricks. */
static char* read_small(const char* path, size_t limit, size_t* n, char* err, size_t len) {
  struct stat st;
  char* buf;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) { edgec_err(err, len, "cannot open %s", path); return NULL; }
  if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size > limit) {
    close(fd);
    edgec_err(err, len, "%s is not a regular file within %zu bytes", path, limit);
    return NULL;
  }
  buf = (char*)malloc((size_t)st.st_size + 1);
  *n = buf ? (size_t)read(fd, buf, (size_t)st.st_size) : 0;
  close(fd);
  if (!buf || *n != (size_t)st.st_size) { free(buf); edgec_err(err, len, "cannot read %s", path); return NULL; }
  buf[*n] = 0;
  return buf;
}

static int check_manifest_hash(char* text, size_t n, char* err, size_t len) {
  static const char key[] = "\"manifest_sha256\": \"";
  char* at = strstr(text, key);
  char given[65], actual[65];
  edgec_sha256 s;
  if (!at || (size_t)(at - text) + sizeof(key) - 1 + 64 > n) {
    edgec_err(err, len, "manifest.json has no manifest_sha256: not an edgec artifact (schema 2), or tampered");
    return -1;
  }
  at += sizeof(key) - 1;
  memcpy(given, at, 64);
  given[64] = 0;
  memset(at, '0', 64);
  edgec_sha256_init(&s);
  edgec_sha256_update(&s, text, n);
  edgec_sha256_hex(&s, actual);
  memcpy(at, given, 64);
  if (memcmp(given, actual, 64) != 0) {
    edgec_err(err, len, "manifest.json was modified: its content does not match its manifest_sha256");
    return -1;
  }
  return 0;
}

static int check_fields(const char* text, size_t n, const char* libname, char want_sha[65], char* err, size_t len) {
  const char* end = text + n;
  const char *files, *opts, *v;
  char buf[256];
  edgec_json_too_deep = 0;
  if (!edgec_json_skip(text, end, 0)) {
    edgec_err(err, len, edgec_json_too_deep ? "manifest.json is nested deeper than 64 levels" : "manifest.json is not valid JSON");
    return -1;
  }
  v = edgec_json_get(text, end, "library");
  if (!v || edgec_json_string(v, end, buf, sizeof buf)) { edgec_err(err, len, "manifest.json names no library"); return -1; }
  if (strchr(buf, '/') || strchr(buf, '\\') || !strcmp(buf, "..") || !strcmp(buf, ".")) {
    edgec_err(err, len, "library '%s' points outside the artifact folder", buf);
    return -1;
  }
  if (strcmp(buf, libname)) {
    edgec_err(err, len, "manifest.json names library '%s', not %s", buf, libname);
    return -1;
  }
  files = edgec_json_get(text, end, "files");
  v = files ? edgec_json_get(files, end, libname) : NULL;
  if (!v || edgec_json_string(v, end, want_sha, 65) || strlen(want_sha) != 64) {
    edgec_err(err, len, "manifest.json has no sha256 for %s", libname);
    return -1;
  }
  opts = edgec_json_get(text, end, "compile_options");
  v = opts ? edgec_json_get(opts, end, "runtime") : NULL;
  if (!v || !edgec_json_is(v, end, "micro")) {
    edgec_err(err, len, "this artifact is not compiled for the micro runtime (recompile with --runtime micro, "
              "or run it with the TVM runtime)");
    return -1;
  }
  return edgec_check_requires(text, n, err, len);
}

static const char* const KNOWN_DTYPES[] = {"float16", "float32", "float64", "int8", "int16", "int32", "int64",
                                           "uint8", "uint16", "uint32", "uint64", "bool"};

static void shape_text(char* out, size_t n, const char* dtype, const int64_t* shape, int ndim) {
  int k;
  snprintf(out, n, "%s[", dtype);
  for (k = 0; k < ndim; k++) snprintf(out + strlen(out), n - strlen(out), "%s%lld", k ? ", " : "", (long long)shape[k]);
  snprintf(out + strlen(out), n - strlen(out), "]");
}

/* The manifest's inputs or outputs against the plan's: names, shapes, dtypes (as Python holds them). */
static int check_signature(const char* text, const char* end, const char* key, const edgec_plan* plan, char* err,
                           size_t len) {
  int outputs = !strcmp(key, "outputs"), count = outputs ? plan->num_outputs : plan->num_inputs, i = 0, k;
  const char* p = edgec_json_get(text, end, key);
  if (!p || *p != '[') { edgec_err(err, len, "manifest.json has no %s list", key); return -1; }
  for (p++;; i++) {
    const char *item, *v, *q;
    char name[256], dtype[32], want[300], have[300];
    int64_t shape[16];
    int ndim = 0, known = 0, t;
    while (*p == ' ' || *p == '\n' || *p == ',') p++;
    if (*p == ']') break;
    item = p;
    p = edgec_json_skip(p, end, 1);
    if (!p) { edgec_err(err, len, "manifest.json: bad %s", key); return -1; }
    if (i >= count) continue; /* more entries than the plan has: counted, refused below */
    v = edgec_json_get(item, end, "name");
    if (!v || edgec_json_string(v, end, name, sizeof name)) name[0] = 0;
    v = edgec_json_get(item, end, "dtype");
    if (!v || edgec_json_string(v, end, dtype, sizeof dtype)) dtype[0] = 0;
    for (k = 0; k < (int)(sizeof KNOWN_DTYPES / sizeof KNOWN_DTYPES[0]); k++) known |= !strcmp(dtype, KNOWN_DTYPES[k]);
    if (!known) { edgec_err(err, len, "%s '%s': dtype is not a known dtype", key, name); return -1; }
    v = edgec_json_get(item, end, "shape");
    if (!v || *v != '[') { edgec_err(err, len, "%s '%s' has no shape", key, name); return -1; }
    for (q = v + 1; *q != ']' && ndim < 16;) {
      char* e;
      while (*q == ' ' || *q == '\n' || *q == ',') q++;
      if (*q == ']') break;
      shape[ndim++] = strtoll(q, &e, 10);
      if (e == q) { edgec_err(err, len, "%s '%s' has a bad shape", key, name); return -1; }
      q = e;
    }
    t = outputs ? plan->outputs[i] : plan->inputs[i];
    shape_text(have, sizeof have, edgec_dtype_name(plan->tensors[t].dtype_code, plan->tensors[t].dtype_bits),
               plan->tensors[t].shape, plan->tensors[t].ndim);
    shape_text(want, sizeof want, dtype, shape, ndim);
    if (strcmp(have, want)) {
      edgec_err(err, len, "%s '%s' is %s, the manifest promises %s", outputs ? "output" : "input", name, have, want);
      return -1;
    }
  }
  if (i != count) {
    edgec_err(err, len, "the library has %d %s, the manifest promises %d", count, key, i);
    return -1;
  }
  return 0;
}

/* dlopen() matches an already loaded library by its path string first: "/proc/self/fd/5" names
 * whatever file descriptor 5 is now, so a second model would get the first one's code. Each load
 * goes through a fresh symlink (a private folder, removed again), named after the sha256; glibc
 * then tells files apart by device and inode, so only the very same file is shared. */
static void* open_checked(const char* target, const char* sha) {
  char dir[512], link[600];
  const char* tmp = getenv("TMPDIR");
  void* h;
  snprintf(dir, sizeof dir, "%s/edgec-micro-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) return dlopen(target, RTLD_NOW | RTLD_LOCAL);
  snprintf(link, sizeof link, "%s/%s.so", dir, sha);
  if (symlink(target, link) != 0) {
    rmdir(dir);
    return dlopen(target, RTLD_NOW | RTLD_LOCAL);
  }
  h = dlopen(link, RTLD_NOW | RTLD_LOCAL);
  unlink(link);
  rmdir(dir);
  return h;
}

const edgec_plan* edgec_open_library(const char* path, void** handle, char* err, size_t len) {
  char manifest[4096], want[65], got[65], fdpath[64], buf[65536];
  const char* slash = strrchr(path, '/');
  const char* libname = slash ? slash + 1 : path;
  size_t n;
  ssize_t r;
  char* text;
  int fd, rc;
  struct stat st;
  edgec_sha256 s;
  const edgec_plan* (*get_plan)(void);
  const edgec_plan* plan;
  *handle = NULL;
  if (strlen(path) + 16 > sizeof manifest) { edgec_err(err, len, "path too long"); return NULL; }
  snprintf(manifest, sizeof manifest, "%.*smanifest.json", slash ? (int)(slash - path + 1) : 0, path);
  if (lstat(manifest, &st) != 0) { edgec_err(err, len, "manifest.json not found next to %s", libname); return NULL; }
  if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
    edgec_err(err, len, "%s is a symlink: an artifact's files must be its own", libname);
    return NULL;
  }
  text = read_small(manifest, MANIFEST_LIMIT, &n, err, len);
  if (!text) return NULL;
  rc = check_manifest_hash(text, n, err, len);
  if (!rc) rc = check_fields(text, n, libname, want, err, len);
  if (rc) { free(text); return NULL; }
  fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || (unsigned long long)st.st_size > LIBRARY_LIMIT) {
    if (fd >= 0) close(fd);
    free(text);
    edgec_err(err, len, "%s is not a readable regular file", path);
    return NULL;
  }
  edgec_sha256_init(&s);
  while ((r = read(fd, buf, sizeof buf)) > 0) edgec_sha256_update(&s, buf, (size_t)r);
  edgec_sha256_hex(&s, got);
  if (r < 0 || strcmp(got, want) != 0) {
    close(fd);
    free(text);
    edgec_err(err, len, "%s: sha256 does not match manifest.json: the artifact was modified", libname);
    return NULL;
  }
  snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
  *handle = open_checked(access(fdpath, R_OK) == 0 ? fdpath : path, got);
  close(fd);
  if (!*handle) { free(text); edgec_err(err, len, "cannot load %s: %s", path, dlerror()); return NULL; }
  *(void**)(&get_plan) = dlsym(*handle, "edgec_model_plan");
  plan = get_plan ? get_plan() : NULL;
  if (!plan || plan->abi != EDGEC_PLAN_ABI) {
    edgec_err(err, len, "%s is not a micro model library of plan ABI %d (recompile it)", libname, EDGEC_PLAN_ABI);
    plan = NULL;
  } else if (check_signature(text, text + n, "inputs", plan, err, len) ||
             check_signature(text, text + n, "outputs", plan, err, len)) {
    plan = NULL;
  }
  free(text);
  if (!plan) { dlclose(*handle); *handle = NULL; }
  return plan;
}

void edgec_close_library(void* handle) {
  if (handle) dlclose(handle);
}

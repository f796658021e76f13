/* Minimal JSON reader for the manifest (see json.h). */
#include "json.h"

#include <string.h>

static const char* ws(const char* p, const char* end) {
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  return p;
}

static const char* skip_string(const char* p, const char* end) {
  if (p >= end || *p != '"') return NULL;
  for (p++; p < end; p++) {
    if (*p == '\\') { if (++p >= end) return NULL; continue; }
    if ((unsigned char)*p < 0x20) return NULL;
    if (*p == '"') return p + 1;
  }
  return NULL;
}

int edgec_json_too_deep;

const char* edgec_json_skip(const char* p, const char* end, int depth) {
  p = ws(p, end);
  if (depth > 64) edgec_json_too_deep = 1;
  if (p >= end || depth > 64) return NULL;
  if (*p == '"') return skip_string(p, end);
  if (*p == '{' || *p == '[') {
    char close = *p == '{' ? '}' : ']';
    int obj = *p == '{';
    p = ws(p + 1, end);
    if (p < end && *p == close) return p + 1;
    for (;;) {
      if (obj) {
        p = skip_string(ws(p, end), end);
        if (!p) return NULL;
        p = ws(p, end);
        if (p >= end || *p != ':') return NULL;
        p++;
      }
      p = edgec_json_skip(p, end, depth + 1);
      if (!p) return NULL;
      p = ws(p, end);
      if (p < end && *p == ',') { p++; continue; }
      if (p < end && *p == close) return p + 1;
      return NULL;
    }
  }
  if (end - p >= 4 && (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))) return p + 4;
  if (end - p >= 5 && !strncmp(p, "false", 5)) return p + 5;
  {
    const char* q = p;
    while (q < end && strchr("+-0123456789.eE", *q)) q++;
    return q > p ? q : NULL;
  }
}

int edgec_json_is(const char* p, const char* end, const char* s) {
  size_t n = strlen(s);
  p = ws(p, end);
  return p && end - p >= (ptrdiff_t)(n + 2) && *p == '"' && !strncmp(p + 1, s, n) && p[n + 1] == '"';
}

const char* edgec_json_get(const char* obj, const char* end, const char* key) {
  const char* p = ws(obj, end);
  if (p >= end || *p != '{') return NULL;
  p = ws(p + 1, end);
  if (p < end && *p == '}') return NULL;
  for (;;) {
    const char* k = ws(p, end);
    const char* v;
    p = skip_string(k, end);
    if (!p) return NULL;
    p = ws(p, end);
    if (p >= end || *p != ':') return NULL;
    v = ws(p + 1, end);
    if (edgec_json_is(k, end, key)) return v;
    p = edgec_json_skip(v, end, 1);
    if (!p) return NULL;
    p = ws(p, end);
    if (p < end && *p == ',') { p++; continue; }
    return NULL;
  }
}

int edgec_json_string(const char* p, const char* end, char* out, size_t out_len) {
  size_t n = 0;
  p = ws(p, end);
  if (p >= end || *p != '"') return -1;
  for (p++; p < end && *p != '"'; p++) {
    char c = *p;
    if (c == '\\') {
      if (++p >= end) return -1;
      c = *p == 'n' ? '\n' : *p == 't' ? '\t' : (*p == '"' || *p == '\\' || *p == '/') ? *p : 0;
      if (!c) return -1;
    }
    if (n + 1 >= out_len) return -1;
    out[n++] = c;
  }
  if (p >= end) return -1;
  out[n] = 0;
  return 0;
}

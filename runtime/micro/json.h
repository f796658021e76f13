/* A small validating JSON reader over a buffer (no allocation): enough to find the fields of an
 * edgec manifest. Every function returns a pointer past what it read, or NULL on malformed input. */
#ifndef EDGEC_MICRO_JSON_H_
#define EDGEC_MICRO_JSON_H_
#include <stddef.h>

typedef struct { const char* p; const char* end; } edgec_json;

/* Skip one value (validating it); nesting deeper than 64 is refused and sets edgec_json_too_deep. */
extern int edgec_json_too_deep;
const char* edgec_json_skip(const char* p, const char* end, int depth);
/* In the object at p, the value of key (NULL when absent or malformed). */
const char* edgec_json_get(const char* obj, const char* end, const char* key);
/* Copy the string at p into out (escapes \" \\ \/ \n \t only); 0 on success. */
int edgec_json_string(const char* p, const char* end, char* out, size_t out_len);
/* Is the value at p the string s? */
int edgec_json_is(const char* p, const char* end, const char* s);
#endif

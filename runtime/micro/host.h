/* target.requires of a manifest against this CPU (host.c). */
#ifndef EDGEC_MICRO_HOST_H_
#define EDGEC_MICRO_HOST_H_
#include <stddef.h>
/* 0 when this machine has the architecture and every CPU feature the manifest's text requires. */
int edgec_check_requires(const char* manifest_text, size_t n, char* err, size_t err_len);
#endif

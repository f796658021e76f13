/* A bare-metal micro-runtime image: the statically linked model runs once on the input compiled
 * into the image (edgec_input.c, generated), and every output is printed over semihosting as
 * "output N <hex bytes>" for the host to compare with the reference runtime. */
#include <stdio.h>

#include "../internal.h"

extern const unsigned char* const edgec_input_data[];

int main(void) {
  char err[256];
  edgec_model* m = edgec_model_from_plan(edgec_model_plan(), NULL, 1, err, sizeof err);
  int i;
  if (!m) { printf("error: %s\n", err); return 6; }
  for (i = 0; i < edgec_num_inputs(m); i++)
    if (edgec_bind_input(m, i, edgec_input_data[i], err, sizeof err)) { printf("error: %s\n", err); return 5; }
  if (edgec_run(m, err, sizeof err)) { printf("error: %s\n", err); return 5; }
  for (i = 0; i < edgec_num_outputs(m); i++) {
    const unsigned char* data;
    const int64_t* shape;
    int ndim, k;
    const char* dtype;
    uint64_t n = 1;
    edgec_get_output(m, i, (const void**)&data, &shape, &ndim, &dtype);
    for (k = 0; k < ndim; k++) n *= (uint64_t)shape[k];
    n *= (uint64_t)(m->plan->tensors[m->plan->outputs[i]].dtype_bits / 8);
    printf("output %d %s ", i, dtype);
    for (k = 0; (uint64_t)k < n; k++) printf("%02x", data[k]);
    printf("\n");
  }
  printf("edgec-done\n");
  edgec_free(m);
  return 0;
}

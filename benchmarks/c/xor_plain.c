/* The plain loop, as a C programmer first writes it: gcc -O3 -march=native -fopenmp. */
#include "common.h"

PIECE(uint64_t x0, uint64_t n) {
  uint64_t acc = 0;
  for (uint64_t k = 0; k < n; k++) acc ^= mix(x0 + k * G);
  return acc;
}

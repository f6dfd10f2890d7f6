/* Shared by the C comparison loops: SplitMix64 (spi.py's mix), argument parsing, OpenMP split.
 * Every program prints "XOR_HEX SECONDS" for the XOR of color_at(seed, i), i in [start, start+count),
 * with the range cut into one equal piece per OpenMP thread. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define G 0x9e3779b97f4a7c15ULL
#define M1 0xbf58476d1ce4e5b9ULL
#define M2 0x94d049bb133111ebULL

static inline uint64_t mix(uint64_t z) {
  z += G;
  z = (z ^ (z >> 30)) * M1;
  z = (z ^ (z >> 27)) * M2;
  return z ^ (z >> 31);
}

/* The XOR of the n colors mix(x0 + k * G), k in [0, n): x0 = seed + start * G.  Built with
 * -DEXO_GAY_LIB -shared it is the library's one exported symbol (no main), for the in-process rows. */
#ifdef EXO_GAY_LIB
#define PIECE __attribute__((visibility("default"))) uint64_t xor_piece
#else
#define PIECE static uint64_t xor_piece
#endif
PIECE(uint64_t x0, uint64_t n);

#ifndef EXO_GAY_LIB
#include <omp.h>

static uint64_t parse(const char *s) { return strtoull(s, 0, 0); }

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s SEED START COUNT\n", argv[0]);
    return 2;
  }
  uint64_t seed = parse(argv[1]), start = parse(argv[2]), count = parse(argv[3]), acc = 0;
  double t = omp_get_wtime();
#pragma omp parallel reduction(^ : acc)
  {
    uint64_t nth = (uint64_t)omp_get_num_threads(), me = (uint64_t)omp_get_thread_num();
    uint64_t lo = count / nth * me + (me < count % nth ? me : count % nth);
    uint64_t n = count / nth + (me < count % nth);
    acc ^= xor_piece(seed + (start + lo) * G, n);
  }
  t = omp_get_wtime() - t;
  printf("0x%016" PRIx64 " %.9f\n", acc, t);
  return 0;
}
#endif

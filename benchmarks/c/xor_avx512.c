/* Hand-vectorised AVX-512: 8 lanes of u64, the native 64-bit multiply (vpmullq, AVX512DQ),
 * 4 independent accumulators (32 colors a step), the state stepped by an add, and the final
 * xor-shift-xor folded into the accumulator by one vpternlogq (acc ^ z ^ (z >> 31), imm 0x96).
 * gcc -O3 -mavx512f -mavx512dq -fopenmp (or -march=native on an AVX-512 machine). */
#include <immintrin.h>

#include "common.h"

#define STEP(s, a)                                                         \
  do {                                                                     \
    __m512i z = _mm512_xor_si512(s, _mm512_srli_epi64(s, 30));             \
    z = _mm512_mullo_epi64(z, m1);                                         \
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 27));                     \
    z = _mm512_mullo_epi64(z, m2);                                         \
    a = _mm512_ternarylogic_epi64(a, z, _mm512_srli_epi64(z, 31), 0x96);   \
    s = _mm512_add_epi64(s, step);                                         \
  } while (0)

PIECE(uint64_t x0, uint64_t n) {
  const __m512i m1 = _mm512_set1_epi64((long long)M1), m2 = _mm512_set1_epi64((long long)M2);
  const __m512i step = _mm512_set1_epi64((long long)(32 * G));
  uint64_t b = x0 + G;
  __m512i s0 = _mm512_set_epi64(b + 7 * G, b + 6 * G, b + 5 * G, b + 4 * G, b + 3 * G, b + 2 * G, b + G, b);
  __m512i s1 = _mm512_add_epi64(s0, _mm512_set1_epi64((long long)(8 * G)));
  __m512i s2 = _mm512_add_epi64(s0, _mm512_set1_epi64((long long)(16 * G)));
  __m512i s3 = _mm512_add_epi64(s0, _mm512_set1_epi64((long long)(24 * G)));
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  uint64_t k = 0;
  for (; k + 32 <= n; k += 32) {
    STEP(s0, a0);
    STEP(s1, a1);
    STEP(s2, a2);
    STEP(s3, a3);
  }
  __m512i a = _mm512_ternarylogic_epi64(a0, a1, _mm512_xor_si512(a2, a3), 0x96);
  uint64_t l[8];
  _mm512_storeu_si512((void *)l, a);
  uint64_t acc = l[0] ^ l[1] ^ l[2] ^ l[3] ^ l[4] ^ l[5] ^ l[6] ^ l[7];
  for (; k < n; k++) acc ^= mix(x0 + k * G);
  return acc;
}

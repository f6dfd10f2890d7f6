/* Hand-vectorised AVX2: 4 lanes of u64, the 64-bit multiply by a constant as three 32-bit
 * multiplies (vpmuludq: lo*lo and the two cross products), 4 independent accumulators
 * (16 colors a step), the state stepped by an add.  gcc -O3 -mavx2 -mno-avx512f -fopenmp. */
#include <immintrin.h>

#include "common.h"

static inline __m256i mul64(__m256i a, __m256i blo, __m256i bhi) {
  __m256i lo = _mm256_mul_epu32(a, blo);
  __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), blo), _mm256_mul_epu32(a, bhi));
  return _mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32));
}

static inline __m256i fin(__m256i z, __m256i m1lo, __m256i m1hi, __m256i m2lo, __m256i m2hi) {
  z = mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), m1lo, m1hi);
  z = mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), m2lo, m2hi);
  return _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
}

PIECE(uint64_t x0, uint64_t n) {
  const __m256i m1lo = _mm256_set1_epi64x(M1 & 0xffffffffULL), m1hi = _mm256_set1_epi64x(M1 >> 32);
  const __m256i m2lo = _mm256_set1_epi64x(M2 & 0xffffffffULL), m2hi = _mm256_set1_epi64x(M2 >> 32);
  const __m256i step = _mm256_set1_epi64x(16 * G);
  uint64_t b = x0 + G;
  __m256i s0 = _mm256_set_epi64x(b + 3 * G, b + 2 * G, b + G, b);
  __m256i s1 = _mm256_add_epi64(s0, _mm256_set1_epi64x(4 * G));
  __m256i s2 = _mm256_add_epi64(s0, _mm256_set1_epi64x(8 * G));
  __m256i s3 = _mm256_add_epi64(s0, _mm256_set1_epi64x(12 * G));
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  uint64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    a0 = _mm256_xor_si256(a0, fin(s0, m1lo, m1hi, m2lo, m2hi));
    a1 = _mm256_xor_si256(a1, fin(s1, m1lo, m1hi, m2lo, m2hi));
    a2 = _mm256_xor_si256(a2, fin(s2, m1lo, m1hi, m2lo, m2hi));
    a3 = _mm256_xor_si256(a3, fin(s3, m1lo, m1hi, m2lo, m2hi));
    s0 = _mm256_add_epi64(s0, step);
    s1 = _mm256_add_epi64(s1, step);
    s2 = _mm256_add_epi64(s2, step);
    s3 = _mm256_add_epi64(s3, step);
  }
  uint64_t l[4];
  _mm256_storeu_si256((__m256i *)l, _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3)));
  uint64_t acc = l[0] ^ l[1] ^ l[2] ^ l[3];
  for (; k < n; k++) acc ^= mix(x0 + k * G);
  return acc;
}

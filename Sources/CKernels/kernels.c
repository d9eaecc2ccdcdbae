// Decode kernels (see include/mk_kernels.h): Y = X·Wᵀ for few rows of X, each weight row read
// once for every row of X, with float32 or bfloat16 weights, in one variant per instruction set.
//
// Layout of the vector variants: one weight row at a time (consecutive rows are one contiguous
// stream from memory); for each row, the rows of X in groups of up to 4, each with its own
// accumulators over K, then one horizontal sum each. The row stays in L1 while every group of X
// passes over it, so W comes from memory once per call.
#include "mk_kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// MARK: - Scalar conversions

static inline float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void mk_f32_to_bf16(const float *src, uint16_t *dst, long n) {
    for (long i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &src[i], 4);
        if ((bits & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it a (quiet) NaN
            dst[i] = (uint16_t)((bits >> 16) | 0x0040u);
        } else {  // round to nearest, ties to even
            bits += 0x7fffu + ((bits >> 16) & 1u);
            dst[i] = (uint16_t)(bits >> 16);
        }
    }
}

void mk_bf16_to_f32(const uint16_t *src, float *dst, long n) {
    for (long i = 0; i < n; i++) dst[i] = bf16_to_f32(src[i]);
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static float read_sum_avx2(const float *x, long n) {
    __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        a = _mm256_add_ps(a, _mm256_loadu_ps(x + i));
        b = _mm256_add_ps(b, _mm256_loadu_ps(x + i + 8));
        c = _mm256_add_ps(c, _mm256_loadu_ps(x + i + 16));
        d = _mm256_add_ps(d, _mm256_loadu_ps(x + i + 24));
    }
    float r[8], s = 0;
    _mm256_storeu_ps(r, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
    for (int j = 0; j < 8; j++) s += r[j];
    for (; i < n; i++) s += x[i];
    return s;
}
#endif

float mk_read_sum(const float *x, long n) {
#if defined(__x86_64__)
    if (mk_isa_supported(MK_ISA_AVX2)) return read_sum_avx2(x, n);
#endif
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    long i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += x[i + j];
    for (; i < n; i++) s[0] += x[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// MARK: - Portable

// Eight partial sums per dot product (a fixed order, whatever the CPU), then their total.
#define PORTABLE_LINEAR(NAME, WTYPE, LOADW)                                                              \
    static void NAME(int M, int K, const float *x, long ldx, const WTYPE *w, int n0, int n1, float *y,   \
                     long ldy) {                                                                         \
        for (int n = n0; n < n1; n++) {                                                                  \
            const WTYPE *wr = w + (long)n * K;                                                           \
            for (int m = 0; m < M; m++) {                                                                \
                const float *xr = x + (long)m * ldx;                                                     \
                float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                   \
                int k = 0;                                                                               \
                for (; k + 8 <= K; k += 8)                                                               \
                    for (int j = 0; j < 8; j++) s[j] += xr[k + j] * LOADW(wr[k + j]);                   \
                for (; k < K; k++) s[k & 7] += xr[k] * LOADW(wr[k]);                                     \
                y[(long)m * ldy + n] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); \
            }                                                                                            \
        }                                                                                                \
    }
#define LOADW_F32(v) (v)
#define LOADW_BF16(v) bf16_to_f32(v)
PORTABLE_LINEAR(linear_f32_portable, float, LOADW_F32)
PORTABLE_LINEAR(linear_bf16_portable, uint16_t, LOADW_BF16)

// MARK: - Single-query attention (one body, compiled once per instruction set)

// Dot products in eight partial sums, which each variant's compiler turns into vector code.
#define ATTEND_ONE(NAME, ATTRIBUTES)                                                                      \
    ATTRIBUTES static void NAME(int S, int D, const float *q, const float *k, const float *v,           \
                                long kv_stride, const int32_t *mask, float scale, float *p, float *y) { \
        float max = -INFINITY;                                                                          \
        for (int j = 0; j < S; j++) {                                                                   \
            if (mask && mask[j] == 0) { p[j] = -INFINITY; continue; }                                   \
            const float *kj = k + (long)j * kv_stride;                                                  \
            float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                      \
            int d = 0;                                                                                  \
            for (; d + 8 <= D; d += 8)                                                                  \
                for (int i = 0; i < 8; i++) s[i] += q[d + i] * kj[d + i];                              \
            for (; d < D; d++) s[d & 7] += q[d] * kj[d];                                                \
            float dot = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));             \
            p[j] = dot * scale;                                                                         \
            if (p[j] > max) max = p[j];                                                                 \
        }                                                                                               \
        for (int d = 0; d < D; d++) y[d] = 0;                                                           \
        if (max == -INFINITY) {                                                                         \
            for (int j = 0; j < S; j++) p[j] = 0;                                                       \
            return;                                                                                     \
        }                                                                                               \
        float sum = 0;                                                                                  \
        for (int j = 0; j < S; j++) {                                                                   \
            p[j] = expf(p[j] - max);                                                                    \
            sum += p[j];                                                                                \
        }                                                                                               \
        float inv = 1 / sum;                                                                            \
        for (int j = 0; j < S; j++) {                                                                   \
            p[j] *= inv;                                                                                \
            if (p[j] == 0) continue;                                                                    \
            const float *vj = v + (long)j * kv_stride;                                                  \
            for (int d = 0; d < D; d++) y[d] += p[j] * vj[d];                                           \
        }                                                                                               \
    }
ATTEND_ONE(attend_one_portable, )

#if defined(__x86_64__)
ATTEND_ONE(attend_one_generic_avx2, __attribute__((target("avx2,fma"))))
ATTEND_ONE(attend_one_generic_avx512, __attribute__((target("avx512f,avx512bw,avx512vl"))))

// e^x for 8 floats (x ≤ 0 here: softmax's shifted scores), Cephes' expf: x = n·ln2 + r with
// |r| ≤ ln2/2 (ln2 in two parts), e^r by a degree-6 polynomial, times 2^n through the exponent
// bits. Within 2 ulp of libm's expf; below −87.3 it is 0, as float's expf underflows.
#define EXP8(NAME, TARGET)                                                                                \
    __attribute__((target(TARGET), always_inline)) static inline __m256 NAME(__m256 x) {                 \
        const __m256 lo = _mm256_set1_ps(-87.33654f);                                                   \
        __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);                                            \
        x = _mm256_max_ps(x, lo);                                                                       \
        __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),              \
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);                       \
        __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);                                \
        r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);                                    \
        __m256 y = _mm256_set1_ps(1.9875691500e-4f);                                                    \
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));                                    \
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));                                    \
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));                                    \
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));                                    \
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));                                    \
        y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));            \
        __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23); \
        return _mm256_andnot_ps(underflow, _mm256_mul_ps(y, _mm256_castsi256_ps(e)));                   \
    }
EXP8(exp8_avx2, "avx2,fma")
EXP8(exp8_avx512, "avx512f,avx512bw,avx512vl,avx2,fma")

// Head sizes that are a multiple of 8 (all of LLaMA's and Qwen's): the scores of four keys at a
// time, each a sum of 8-float vector products folded into one vector of four with two hadds;
// then y += p_j · v_j one 8-float slice at a time. 256-bit vectors, so one body serves AVX2 and
// AVX-512 (whose VL extension runs it).
#define ATTEND_ONE_VEC8(NAME, TARGET, GENERIC, EXP)                                                       \
    __attribute__((target(TARGET))) static void NAME(int S, int D, const float *q, const float *k,       \
                                                     const float *v, long kv_stride, const int32_t *mask, \
                                                     float scale, float *p, float *y) {                   \
        if (D % 8 != 0 || D > 256) { GENERIC(S, D, q, k, v, kv_stride, mask, scale, p, y); return; }      \
        __m256 qv[32];                                                                                    \
        for (int d = 0; d < D; d += 8) qv[d / 8] = _mm256_mul_ps(_mm256_loadu_ps(q + d), _mm256_set1_ps(scale)); \
        int j = 0;                                                                                        \
        for (; j + 4 <= S; j += 4) {                                                                      \
            const float *k0 = k + (long)j * kv_stride;                                                    \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                   \
            for (int d = 0; d < D; d += 8) {                                                              \
                a0 = _mm256_fmadd_ps(qv[d / 8], _mm256_loadu_ps(k0 + d), a0);                             \
                a1 = _mm256_fmadd_ps(qv[d / 8], _mm256_loadu_ps(k0 + kv_stride + d), a1);                 \
                a2 = _mm256_fmadd_ps(qv[d / 8], _mm256_loadu_ps(k0 + 2 * kv_stride + d), a2);             \
                a3 = _mm256_fmadd_ps(qv[d / 8], _mm256_loadu_ps(k0 + 3 * kv_stride + d), a3);             \
            }                                                                                             \
            __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));                    \
            _mm_storeu_ps(p + j, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));     \
        }                                                                                                 \
        for (; j < S; j++) {                                                                              \
            __m256 a = _mm256_setzero_ps();                                                               \
            for (int d = 0; d < D; d += 8) a = _mm256_fmadd_ps(qv[d / 8], _mm256_loadu_ps(k + (long)j * kv_stride + d), a); \
            __m128 x = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));                \
            x = _mm_add_ps(x, _mm_movehl_ps(x, x));                                                       \
            p[j] = _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)));                                      \
        }                                                                                                 \
        float max = -INFINITY;                                                                            \
        for (j = 0; j < S; j++) {                                                                         \
            if (mask && mask[j] == 0) p[j] = -INFINITY;                                                   \
            max = p[j] > max ? p[j] : max;                                                                \
        }                                                                                                 \
        if (max == -INFINITY) {                                                                           \
            for (j = 0; j < S; j++) p[j] = 0;                                                             \
            for (int d = 0; d < D; d++) y[d] = 0;                                                         \
            return;                                                                                       \
        }                                                                                                 \
        /* p = e^(p - max), eight at a time, and their sum */                                             \
        __m256 mv = _mm256_set1_ps(max), sv = _mm256_setzero_ps();                                        \
        for (j = 0; j + 8 <= S; j += 8) {                                                                 \
            __m256 e = EXP(_mm256_sub_ps(_mm256_loadu_ps(p + j), mv));                                    \
            _mm256_storeu_ps(p + j, e);                                                                   \
            sv = _mm256_add_ps(sv, e);                                                                    \
        }                                                                                                 \
        if (j < S) { /* the last S mod 8: lanes past S hold -inf, whose e^x is 0 */                        \
            float tail[8];                                                                                \
            for (int t = 0; t < 8; t++) tail[t] = j + t < S ? p[j + t] - max : -INFINITY;                 \
            __m256 e = EXP(_mm256_loadu_ps(tail));                                                        \
            sv = _mm256_add_ps(sv, e);                                                                    \
            _mm256_storeu_ps(tail, e);                                                                    \
            for (int t = 0; j + t < S; t++) p[j + t] = tail[t];                                           \
        }                                                                                                 \
        __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(sv), _mm256_extractf128_ps(sv, 1));                 \
        s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));                                                       \
        __m256 inv = _mm256_set1_ps(1 / _mm_cvtss_f32(_mm_add_ss(s4, _mm_movehdup_ps(s4))));              \
        for (j = 0; j + 8 <= S; j += 8) _mm256_storeu_ps(p + j, _mm256_mul_ps(_mm256_loadu_ps(p + j), inv)); \
        for (; j < S; j++) p[j] *= _mm256_cvtss_f32(inv);                                                 \
        /* y = Σ p_j v_j, one 8-float slice of the head at a time, two keys in flight */                  \
        for (int d = 0; d < D; d += 8) {                                                                  \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0;                                                     \
            const float *vd = v + d;                                                                      \
            for (j = 0; j + 2 <= S; j += 2) {                                                             \
                a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(vd + (long)j * kv_stride), a0); \
                a1 = _mm256_fmadd_ps(_mm256_set1_ps(p[j + 1]), _mm256_loadu_ps(vd + (long)(j + 1) * kv_stride), a1); \
            }                                                                                             \
            if (j < S) a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(vd + (long)j * kv_stride), a0); \
            _mm256_storeu_ps(y + d, _mm256_add_ps(a0, a1));                                               \
        }                                                                                                 \
    }
ATTEND_ONE_VEC8(attend_one_avx2, "avx2,fma", attend_one_generic_avx2, exp8_avx2)
ATTEND_ONE_VEC8(attend_one_avx512, "avx512f,avx512bw,avx512vl,avx2,fma", attend_one_generic_avx512, exp8_avx512)

// MARK: - AVX2 + FMA
//
// One weight row at a time: consecutive rows are one contiguous stream, which the prefetchers
// follow best (interleaving several rows' streams read bfloat16 at two thirds of the rate).
// Per row, the rows of X in groups of up to 4, two accumulators each (16 weights a step), four
// for a single row of X (32 weights a step) to cover the FMA latency.

#define AVX2 __attribute__((target("avx2,fma"), always_inline)) static inline

AVX2 float avx2_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// 16 weights as two float32 vectors w0, w1, and the matching 16 inputs as x0, x1. float32: in
// order. bfloat16: a 256-bit load interleaved with zeros (unpacklo/hi) is float32 in the order
// [0-3, 8-11] and [4-7, 12-15], so the inputs are taken in that order (two lane permutes).
AVX2 void avx2_w16_f32(const float *w, __m256 *w0, __m256 *w1) { *w0 = _mm256_loadu_ps(w); *w1 = _mm256_loadu_ps(w + 8); }
AVX2 void avx2_x16_f32(const float *x, __m256 *x0, __m256 *x1) { *x0 = _mm256_loadu_ps(x); *x1 = _mm256_loadu_ps(x + 8); }
AVX2 void avx2_w16_bf16(const uint16_t *w, __m256 *w0, __m256 *w1) {
    __m256i h = _mm256_loadu_si256((const __m256i *)w), zero = _mm256_setzero_si256();
    *w0 = _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, h));
    *w1 = _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, h));
}
AVX2 void avx2_x16_bf16(const float *x, __m256 *x0, __m256 *x1) {
    __m256 a = _mm256_loadu_ps(x), b = _mm256_loadu_ps(x + 8);
    *x0 = _mm256_permute2f128_ps(a, b, 0x20);
    *x1 = _mm256_permute2f128_ps(a, b, 0x31);
}

#define AVX2_LINEAR(NAME, WTYPE, W16, X16, LOADS)                                                        \
    /* y[m] = Σ_k x[m, k] · row[k] for MB rows of x (1 to 4) */                                          \
    AVX2 void NAME##_rows(int MB, int K, const float *x, long ldx, const WTYPE *row, float *y, long ldy) { \
        __m256 acc[4][2];                                                                                \
        for (int m = 0; m < MB; m++) acc[m][0] = acc[m][1] = _mm256_setzero_ps();                        \
        int k = 0;                                                                                       \
        if (MB == 1) {                                                                                   \
            __m256 b0 = _mm256_setzero_ps(), b1 = b0;                                                    \
            for (; k + 32 <= K; k += 32) {                                                               \
                __m256 w0, w1, w2, w3, x0, x1, x2, x3;                                                   \
                W16(row + k, &w0, &w1); W16(row + k + 16, &w2, &w3);                                    \
                X16(x + k, &x0, &x1); X16(x + k + 16, &x2, &x3);                                        \
                acc[0][0] = _mm256_fmadd_ps(w0, x0, acc[0][0]); acc[0][1] = _mm256_fmadd_ps(w1, x1, acc[0][1]); \
                b0 = _mm256_fmadd_ps(w2, x2, b0); b1 = _mm256_fmadd_ps(w3, x3, b1);                     \
            }                                                                                            \
            acc[0][0] = _mm256_add_ps(acc[0][0], b0); acc[0][1] = _mm256_add_ps(acc[0][1], b1);         \
        }                                                                                                \
        for (; k + 16 <= K; k += 16) {                                                                   \
            __m256 w0, w1;                                                                               \
            W16(row + k, &w0, &w1);                                                                      \
            for (int m = 0; m < MB; m++) {                                                               \
                __m256 x0, x1;                                                                           \
                X16(x + m * ldx + k, &x0, &x1);                                                          \
                acc[m][0] = _mm256_fmadd_ps(w0, x0, acc[m][0]);                                          \
                acc[m][1] = _mm256_fmadd_ps(w1, x1, acc[m][1]);                                          \
            }                                                                                            \
        }                                                                                                \
        for (int m = 0; m < MB; m++) {                                                                   \
            float s = avx2_sum(_mm256_add_ps(acc[m][0], acc[m][1]));                                     \
            for (int j = k; j < K; j++) s += x[m * ldx + j] * LOADS(row[j]);                             \
            y[m * ldy] = s;                                                                              \
        }                                                                                                \
    }                                                                                                    \
    __attribute__((target("avx2,fma"))) static void NAME(int M, int K, const float *x, long ldx,         \
                                                         const WTYPE *w, int n0, int n1, float *y,       \
                                                         long ldy) {                                     \
        for (int n = n0; n < n1; n++) {                                                                  \
            const WTYPE *row = w + (long)n * K;                                                          \
            int m = 0;                                                                                   \
            for (; m + 4 <= M; m += 4) NAME##_rows(4, K, x + m * ldx, ldx, row, y + m * ldy + n, ldy);  \
            switch (M - m) {                                                                             \
            case 3: NAME##_rows(3, K, x + m * ldx, ldx, row, y + m * ldy + n, ldy); break;               \
            case 2: NAME##_rows(2, K, x + m * ldx, ldx, row, y + m * ldy + n, ldy); break;               \
            case 1: NAME##_rows(1, K, x + m * ldx, ldx, row, y + m * ldy + n, ldy); break;               \
            }                                                                                            \
        }                                                                                                \
    }
AVX2_LINEAR(linear_f32_avx2, float, avx2_w16_f32, avx2_x16_f32, LOADW_F32)
AVX2_LINEAR(linear_bf16_avx2, uint16_t, avx2_w16_bf16, avx2_x16_bf16, LOADW_BF16)

// MARK: - AVX-512 F + BW + VL
//
// The AVX2 layout with 16-float vectors: one weight row at a time, the rows of X in groups of up
// to 4 with two accumulators each (32 weights a step), masked loads for the tail of K.

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl"), always_inline)) static inline

AVX512 __m512 avx512_w16_f32(const float *w, __mmask16 mask) { return _mm512_maskz_loadu_ps(mask, w); }
AVX512 __m512 avx512_w16_bf16(const uint16_t *w, __mmask16 mask) {
    __m256i h = _mm256_maskz_loadu_epi16(mask, w);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

#define AVX512_LINEAR(NAME, WTYPE, W16)                                                                  \
    AVX512 void NAME##_rows(int MB, int K, const float *x, long ldx, const WTYPE *row, float *y, long ldy) { \
        __m512 acc[4][2];                                                                                \
        for (int m = 0; m < MB; m++) acc[m][0] = acc[m][1] = _mm512_setzero_ps();                        \
        int k = 0;                                                                                       \
        for (; k + 32 <= K; k += 32) {                                                                   \
            __m512 w0 = W16(row + k, 0xffff), w1 = W16(row + k + 16, 0xffff);                            \
            for (int m = 0; m < MB; m++) {                                                               \
                acc[m][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + m * ldx + k), acc[m][0]);            \
                acc[m][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + m * ldx + k + 16), acc[m][1]);       \
            }                                                                                            \
        }                                                                                                \
        for (; k < K; k += 16) {                                                                         \
            __mmask16 mask = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);        \
            __m512 w0 = W16(row + k, mask);                                                              \
            for (int m = 0; m < MB; m++)                                                                 \
                acc[m][0] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(mask, x + m * ldx + k), acc[m][0]); \
        }                                                                                                \
        for (int m = 0; m < MB; m++) y[m * ldy] = _mm512_reduce_add_ps(_mm512_add_ps(acc[m][0], acc[m][1])); \
    }                                                                                                    \
    __attribute__((target("avx512f,avx512bw,avx512vl"))) static void NAME(                               \
        int M, int K, const float *x, long ldx, const WTYPE *w, int n0, int n1, float *y, long ldy) {    \
        for (int n = n0; n < n1; n++) {                                                                  \
            const WTYPE *row = w + (long)n * K;                                                          \
            int m = 0;                                                                                   \
            for (; m + 4 <= M; m += 4) NAME##_rows(4, K, x + m * ldx, ldx, row, y + m * ldy + n, ldy);  \
            switch (M - m) {                                                                             \
            case 3: NAME##_rows(3, K, x + m * ldx, ldx, row, y + m * ldy + n, ldy); break;               \
            case 2: NAME##_rows(2, K, x + m * ldx, ldx, row, y + m * ldy + n, ldy); break;               \
            case 1: NAME##_rows(1, K, x + m * ldx, ldx, row, y + m * ldy + n, ldy); break;               \
            }                                                                                            \
        }                                                                                                \
    }
AVX512_LINEAR(linear_f32_avx512, float, avx512_w16_f32)
AVX512_LINEAR(linear_bf16_avx512, uint16_t, avx512_w16_bf16)

#endif  // __x86_64__

// MARK: - Dispatch

typedef void (*linear_f32_fn)(int, int, const float *, long, const float *, int, int, float *, long);
typedef void (*linear_bf16_fn)(int, int, const float *, long, const uint16_t *, int, int, float *, long);

#if defined(__x86_64__)
static const linear_f32_fn f32_kernels[] = {linear_f32_portable, linear_f32_avx2, linear_f32_avx512};
static const linear_bf16_fn bf16_kernels[] = {linear_bf16_portable, linear_bf16_avx2, linear_bf16_avx512};
typedef void (*attend_one_fn)(int, int, const float *, const float *, const float *, long, const int32_t *, float, float *, float *);
static const attend_one_fn attend_kernels[] = {attend_one_portable, attend_one_avx2, attend_one_avx512};
#else
static const linear_f32_fn f32_kernels[] = {linear_f32_portable};
static const linear_bf16_fn bf16_kernels[] = {linear_bf16_portable};
typedef void (*attend_one_fn)(int, int, const float *, const float *, const float *, long, const int32_t *, float, float *, float *);
static const attend_one_fn attend_kernels[] = {attend_one_portable};
#endif

int mk_isa_supported(mk_isa isa) {
    switch (isa) {
    case MK_ISA_PORTABLE: return 1;
#if defined(__x86_64__)
    case MK_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case MK_ISA_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#endif
    default: return 0;
    }
}

const char *mk_isa_name(mk_isa isa) {
    switch (isa) {
    case MK_ISA_AVX2: return "avx2";
    case MK_ISA_AVX512: return "avx512";
    default: return "portable";
    }
}

static int active = -1;  // mk_isa, chosen on first use

mk_isa mk_isa_active(void) {
    int isa = __atomic_load_n(&active, __ATOMIC_ACQUIRE);
    if (isa >= 0) return (mk_isa)isa;
    mk_isa chosen = mk_isa_supported(MK_ISA_AVX512) ? MK_ISA_AVX512 : mk_isa_supported(MK_ISA_AVX2) ? MK_ISA_AVX2 : MK_ISA_PORTABLE;
    const char *asked = getenv("MLLM_CL_KERNEL");
    if (asked) {
        for (int i = MK_ISA_PORTABLE; i <= MK_ISA_AVX512; i++)
            if (strcmp(asked, mk_isa_name((mk_isa)i)) == 0 && mk_isa_supported((mk_isa)i)) chosen = (mk_isa)i;
    }
    __atomic_store_n(&active, (int)chosen, __ATOMIC_RELEASE);
    return chosen;
}

void mk_linear_f32(int M, int K, const float *x, long ldx, const float *w, int n0, int n1, float *y, long ldy) {
    f32_kernels[mk_isa_active()](M, K, x, ldx, w, n0, n1, y, ldy);
}

void mk_linear_bf16(int M, int K, const float *x, long ldx, const uint16_t *w, int n0, int n1, float *y, long ldy) {
    bf16_kernels[mk_isa_active()](M, K, x, ldx, w, n0, n1, y, ldy);
}

int mk_linear_f32_isa(mk_isa isa, int M, int K, const float *x, long ldx, const float *w, int n0, int n1, float *y, long ldy) {
    if (!mk_isa_supported(isa)) return 0;
    f32_kernels[isa](M, K, x, ldx, w, n0, n1, y, ldy);
    return 1;
}

int mk_linear_bf16_isa(mk_isa isa, int M, int K, const float *x, long ldx, const uint16_t *w, int n0, int n1, float *y, long ldy) {
    if (!mk_isa_supported(isa)) return 0;
    bf16_kernels[isa](M, K, x, ldx, w, n0, n1, y, ldy);
    return 1;
}

void mk_attend_one(int S, int D, const float *q, const float *k, const float *v, long kv_stride, const int32_t *mask,
                   float scale, float *p, float *y) {
    attend_kernels[mk_isa_active()](S, D, q, k, v, kv_stride, mask, scale, p, y);
}

int mk_attend_one_isa(mk_isa isa, int S, int D, const float *q, const float *k, const float *v, long kv_stride,
                      const int32_t *mask, float scale, float *p, float *y) {
    if (!mk_isa_supported(isa)) return 0;
    attend_kernels[isa](S, D, q, k, v, kv_stride, mask, scale, p, y);
    return 1;
}

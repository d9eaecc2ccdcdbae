// Decode kernels (see include/mk_kernels.h): Y = X·Wᵀ for few rows of X, each weight row read
// once for every row of X, with float32 or bfloat16 weights, in one variant per instruction set.
//
// Layout of every variant: weight rows in blocks of R (4, then 1 for the rest); for each block the
// rows of X in groups of MB (the widest group the registers hold); R·MB accumulators over K, then
// one horizontal sum each. A block's R rows of W stay in L1 while every group of X passes over
// them, so W comes from memory once per call.
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

float mk_read_sum(const float *x, long n) {
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

// MARK: - AVX2 + FMA (8 floats a vector; R = 4 weight rows x MB = 2 input rows: 8 accumulators)

#define AVX2 __attribute__((target("avx2,fma"), always_inline)) static inline

AVX2 __m256 avx2_load_f32(const float *p) { return _mm256_loadu_ps(p); }
AVX2 __m256 avx2_load_bf16(const uint16_t *p) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
AVX2 float avx2_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define AVX2_LINEAR(NAME, WTYPE, LOADV, LOADS)                                                           \
    AVX2 void NAME##_block(int R, int MB, int K, const float *x, long ldx, const WTYPE *w, int n,       \
                           float *y, long ldy) {                                                         \
        __m256 acc[4][2];                                                                                \
        for (int r = 0; r < R; r++)                                                                      \
            for (int m = 0; m < MB; m++) acc[r][m] = _mm256_setzero_ps();                                \
        int k = 0;                                                                                       \
        for (; k + 8 <= K; k += 8) {                                                                     \
            __m256 xv[2], wv[4];                                                                         \
            for (int m = 0; m < MB; m++) xv[m] = _mm256_loadu_ps(x + m * ldx + k);                       \
            for (int r = 0; r < R; r++) wv[r] = LOADV(w + (long)(n + r) * K + k);                       \
            for (int r = 0; r < R; r++)                                                                  \
                for (int m = 0; m < MB; m++) acc[r][m] = _mm256_fmadd_ps(wv[r], xv[m], acc[r][m]);       \
        }                                                                                                \
        for (int r = 0; r < R; r++)                                                                      \
            for (int m = 0; m < MB; m++) {                                                               \
                float s = avx2_sum(acc[r][m]);                                                           \
                for (int j = k; j < K; j++) s += x[m * ldx + j] * LOADS(w[(long)(n + r) * K + j]);       \
                y[m * ldy + n + r] = s;                                                                  \
            }                                                                                            \
    }                                                                                                    \
    __attribute__((target("avx2,fma"))) static void NAME(int M, int K, const float *x, long ldx,         \
                                                         const WTYPE *w, int n0, int n1, float *y,       \
                                                         long ldy) {                                     \
        int n = n0;                                                                                      \
        for (; n + 4 <= n1; n += 4) {                                                                    \
            int m = 0;                                                                                   \
            for (; m + 2 <= M; m += 2) NAME##_block(4, 2, K, x + m * ldx, ldx, w, n, y + m * ldy, ldy);  \
            if (m < M) NAME##_block(4, 1, K, x + m * ldx, ldx, w, n, y + m * ldy, ldy);                  \
        }                                                                                                \
        for (; n < n1; n++) {                                                                            \
            int m = 0;                                                                                   \
            for (; m + 2 <= M; m += 2) NAME##_block(1, 2, K, x + m * ldx, ldx, w, n, y + m * ldy, ldy);  \
            if (m < M) NAME##_block(1, 1, K, x + m * ldx, ldx, w, n, y + m * ldy, ldy);                  \
        }                                                                                                \
    }
AVX2_LINEAR(linear_f32_avx2, float, avx2_load_f32, LOADW_F32)
AVX2_LINEAR(linear_bf16_avx2, uint16_t, avx2_load_bf16, LOADW_BF16)

// MARK: - AVX-512 F + BW + VL (16 floats a vector; R = 4 x MB = 4: 16 accumulators; masked tails)

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl"), always_inline)) static inline

AVX512 __m512 avx512_load_f32(const float *p, __mmask16 mask) { return _mm512_maskz_loadu_ps(mask, p); }
AVX512 __m512 avx512_load_bf16(const uint16_t *p, __mmask16 mask) {
    __m256i h = _mm256_maskz_loadu_epi16(mask, p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

#define AVX512_LINEAR(NAME, WTYPE, LOADV)                                                                \
    AVX512 void NAME##_block(int R, int MB, int K, const float *x, long ldx, const WTYPE *w, int n,     \
                             float *y, long ldy) {                                                       \
        __m512 acc[4][4];                                                                                \
        for (int r = 0; r < R; r++)                                                                      \
            for (int m = 0; m < MB; m++) acc[r][m] = _mm512_setzero_ps();                                \
        for (int k = 0; k < K; k += 16) {                                                                \
            __mmask16 mask = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);        \
            __m512 xv[4], wv[4];                                                                         \
            for (int m = 0; m < MB; m++) xv[m] = _mm512_maskz_loadu_ps(mask, x + m * ldx + k);           \
            for (int r = 0; r < R; r++) wv[r] = LOADV(w + (long)(n + r) * K + k, mask);                  \
            for (int r = 0; r < R; r++)                                                                  \
                for (int m = 0; m < MB; m++) acc[r][m] = _mm512_fmadd_ps(wv[r], xv[m], acc[r][m]);       \
        }                                                                                                \
        for (int r = 0; r < R; r++)                                                                      \
            for (int m = 0; m < MB; m++) y[m * ldy + n + r] = _mm512_reduce_add_ps(acc[r][m]);          \
    }                                                                                                    \
    __attribute__((target("avx512f,avx512bw,avx512vl"))) static void NAME(                               \
        int M, int K, const float *x, long ldx, const WTYPE *w, int n0, int n1, float *y, long ldy) {    \
        int n = n0;                                                                                      \
        for (; n + 4 <= n1; n += 4) {                                                                    \
            int m = 0;                                                                                   \
            for (; m + 4 <= M; m += 4) NAME##_block(4, 4, K, x + m * ldx, ldx, w, n, y + m * ldy, ldy);  \
            for (; m < M; m++) NAME##_block(4, 1, K, x + m * ldx, ldx, w, n, y + m * ldy, ldy);          \
        }                                                                                                \
        for (; n < n1; n++) {                                                                            \
            int m = 0;                                                                                   \
            for (; m + 4 <= M; m += 4) NAME##_block(1, 4, K, x + m * ldx, ldx, w, n, y + m * ldy, ldy);  \
            for (; m < M; m++) NAME##_block(1, 1, K, x + m * ldx, ldx, w, n, y + m * ldy, ldy);          \
        }                                                                                                \
    }
AVX512_LINEAR(linear_f32_avx512, float, avx512_load_f32)
AVX512_LINEAR(linear_bf16_avx512, uint16_t, avx512_load_bf16)

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

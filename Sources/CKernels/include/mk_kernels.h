// Hand-written CPU kernels for decoding, with one variant per instruction set chosen at run time
// (the build targets a baseline CPU; a variant is used only where the CPU has it).
//
// Legend: M input rows (a decode step's sequences), K input features, N output features (weight
// rows), W (N, K) row-major as a Linear layer stores it, X (M, K), Y (M, N).
#ifndef MK_KERNELS_H
#define MK_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The instruction sets a kernel variant is written for, slowest first.
typedef enum {
    MK_ISA_PORTABLE = 0,  // plain C, any x86-64 (or other) CPU
    MK_ISA_AVX2 = 1,      // AVX2 + FMA
    MK_ISA_AVX512 = 2,    // AVX-512 F + BW
} mk_isa;

/// The variant in use: the best this CPU supports, or the one `MLLM_CL_KERNEL` names
/// (portable, avx2, avx512) when the CPU supports it. Chosen once, on first use.
mk_isa mk_isa_active(void);
/// Whether this CPU can run `isa`'s variant.
int mk_isa_supported(mk_isa isa);
/// "portable", "avx2" or "avx512".
const char *mk_isa_name(mk_isa isa);

/// Y[m, n] = Σ_k X[m, k] · W[n, k] for m < M and n in [n0, n1): each weight row is read once for
/// all M rows of X (a memory-bound product when M is small). ldx, ldy: floats between rows.
void mk_linear_f32(int M, int K, const float *x, long ldx, const float *w, int n0, int n1, float *y, long ldy);
/// The same with bfloat16 weights (the upper 16 bits of a float32), accumulated in float32.
void mk_linear_bf16(int M, int K, const float *x, long ldx, const uint16_t *w, int n0, int n1, float *y, long ldy);
/// `mk_linear_f32` and `mk_linear_bf16` in `isa`'s variant, whatever is active (tests compare
/// variants); return 0, computing nothing, when the CPU lacks it.
int mk_linear_f32_isa(mk_isa isa, int M, int K, const float *x, long ldx, const float *w, int n0, int n1, float *y, long ldy);
int mk_linear_bf16_isa(mk_isa isa, int M, int K, const float *x, long ldx, const uint16_t *w, int n0, int n1, float *y, long ldy);

/// dst[i] = src[i] rounded to the nearest bfloat16 (ties to even; NaN stays NaN).
void mk_f32_to_bf16(const float *src, uint16_t *dst, long n);
/// dst[i] = src[i] widened to float32 (exact).
void mk_bf16_to_f32(const uint16_t *src, float *dst, long n);

/// Attention of one query against S cached keys, one head:
///   p = softmax(scale · q·k_j, over j < S with mask[j] != 0),  y = Σ_j p_j v_j.
/// q: D floats; k, v: S rows of D floats, `kv_stride` floats apart; mask: S entries of 0/1, or
/// NULL (all visible). `p` (S floats) receives the probabilities (0 where masked); a query with
/// no visible key gets p = 0 and y = 0. In the active variant.
void mk_attend_one(int S, int D, const float *q, const float *k, const float *v, long kv_stride, const int32_t *mask,
                   float scale, float *p, float *y);
/// `mk_attend_one` in `isa`'s variant; returns 0 when the CPU lacks it.
int mk_attend_one_isa(mk_isa isa, int S, int D, const float *q, const float *k, const float *v, long kv_stride,
                      const int32_t *mask, float scale, float *p, float *y);

/// A task of a parallel loop: `task` in 0..<tasks, `ctx` the caller's.
typedef void (*mk_task_fn)(void *ctx, long task);
/// Runs fn(ctx, 0..<tasks) over a persistent pool of threads, the caller among them, and returns
/// when every task is done. Cheap enough for a decode step's many small regions (about a
/// microsecond while the pool is awake). Runs the tasks in the calling thread when the pool is
/// busy with another caller's job or when called from inside a task.
void mk_parallel_for(long tasks, mk_task_fn fn, void *ctx);
/// The pool's threads, the caller included: the online cores (shared out among the ranks of an MPI
/// job on this machine, `OMPI_COMM_WORLD_LOCAL_SIZE`), or `MLLM_CL_THREADS`.
int mk_parallel_threads(void);

/// Σ x[i] in independent partial sums (AVX2 where the CPU has it): a loop that reads memory as
/// fast as a core can (a bandwidth probe).
float mk_read_sum(const float *x, long n);

#ifdef __cplusplus
}
#endif

#endif

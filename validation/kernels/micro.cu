// Microbenchmarks, one per roof of the attnsim GPU model (validation/micro.py launches them).
//
// Each kernel folds everything it loads or computes into a value that it writes only when it
// equals a run-time `flag` the host never produces, so the compiler must do all the work but
// nothing is written in practice. Global buffers are arrays of 16-byte words (uint4).
#include "common.cuh"

// One grid-stride pass over src from `first`, four independent 16-byte loads (ld.cg: L2, not L1)
// in flight per thread per step; returns the XOR of everything loaded.
__device__ __forceinline__ unsigned xor_pass(const uint4* src, long long n, long long first, long long stride) {
    unsigned acc = 0;
    long long i = first;
    for (; i + 3 * stride < n; i += 4 * stride) {
        uint4 a = ld_cg16(src + i), b = ld_cg16(src + i + stride);
        uint4 c = ld_cg16(src + i + 2 * stride), d = ld_cg16(src + i + 3 * stride);
        acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w;
    }
    for (; i < n; i += stride) {
        uint4 a = ld_cg16(src + i);
        acc ^= a.x ^ a.y ^ a.z ^ a.w;
    }
    return acc;
}

// HBM read: one grid-stride pass.
extern "C" __global__ void hbm_read(const uint4* src, long long n, unsigned* sink, unsigned flag) {
    const unsigned acc = xor_pass(src, n, (long long)blockIdx.x * blockDim.x + threadIdx.x,
                                  (long long)gridDim.x * blockDim.x);
    if (acc == flag) sink[0] = acc;
}

// HBM write: grid-stride 16-byte stores of a value that depends on the index.
extern "C" __global__ void hbm_write(uint4* dst, long long n, unsigned value) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        dst[i] = make_uint4(value, (unsigned)i, value ^ (unsigned)i, value + (unsigned)i);
    }
}

// HBM copy: read one buffer, write another (bytes moved = 2 x buffer).
extern "C" __global__ void hbm_copy(const uint4* src, uint4* dst, long long n) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    for (; i + 3 * stride < n; i += 4 * stride) {
        uint4 a = ld_cg16(src + i), b = ld_cg16(src + i + stride);
        uint4 c = ld_cg16(src + i + 2 * stride), d = ld_cg16(src + i + 3 * stride);
        dst[i] = a;
        dst[i + stride] = b;
        dst[i + 2 * stride] = c;
        dst[i + 3 * stride] = d;
    }
    for (; i < n; i += stride) dst[i] = ld_cg16(src + i);
}

// L2 read: `reps` grid-stride passes over a buffer smaller than half the L2 (ld.cg skips L1).
extern "C" __global__ void l2_read(const uint4* src, long long n, int reps, unsigned* sink, unsigned flag) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    unsigned acc = 0;
    for (int r = 0; r < reps; ++r) {
        acc ^= xor_pass(src, n, first, stride);
        acc = (acc << 1) | (acc >> 31);  // passes differ, so no pass can be skipped
    }
    if (acc == flag) sink[0] = acc;
}

#define SMEM_WORDS 2048  // 32 KB of uint4 per block
#define SMEM_UNROLL 8

// Shared memory: each quarter-warp reads 128 contiguous bytes per 16-byte load (conflict-free).
extern "C" __global__ void smem_read(unsigned* sink, int iters, unsigned flag) {
    __shared__ uint4 buf[SMEM_WORDS];
    for (int i = threadIdx.x; i < SMEM_WORDS; i += blockDim.x) buf[i] = make_uint4(i, i * 3u, i * 5u, i * 7u);
    __syncthreads();
    const unsigned base = smem_addr(buf);
    unsigned acc = 0;
    unsigned idx = threadIdx.x;
    for (int it = 0; it < iters; ++it) {
#pragma unroll
        for (int u = 0; u < SMEM_UNROLL; ++u) {
            const unsigned addr = base + ((idx + u * blockDim.x) & (SMEM_WORDS - 1)) * 16u;
            unsigned x, y, z, w;
            asm volatile("ld.shared.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(x), "=r"(y), "=r"(z), "=r"(w) : "r"(addr));
            acc ^= x ^ y ^ z ^ w;
        }
        idx += 32;
    }
    if (acc == flag) sink[0] = acc;
}

#define MMA_CHAINS 8

// Tensor cores through mma.sync m16n8k16 (fp16 in, fp32 accumulate): MMA_CHAINS independent
// accumulators per warp; 2*16*8*16 = 4096 FLOPs per instruction.
// CHAINS independent accumulators, `iters` rounds of one mma.sync each; returns their sum (to sink).
template <int CHAINS>
__device__ __forceinline__ float mma_chains(int iters, unsigned a_bits, unsigned b_bits) {
    const unsigned a[4] = {a_bits, a_bits ^ 0x00010001u, a_bits ^ 0x00020002u, a_bits ^ 0x00030003u};
    const unsigned b0 = b_bits, b1 = b_bits ^ 0x00010001u;
    float c[CHAINS][4];
#pragma unroll
    for (int j = 0; j < CHAINS; ++j) c[j][0] = c[j][1] = c[j][2] = c[j][3] = (float)j;
    for (int it = 0; it < iters; ++it) {
#pragma unroll
        for (int j = 0; j < CHAINS; ++j) mma16816<false>(c[j], a, b0, b1);
    }
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < CHAINS; ++j) s += c[j][0] + c[j][1] + c[j][2] + c[j][3];
    return s;
}

extern "C" __global__ void mma_sync_fp16(float* sink, int iters, unsigned a_bits, unsigned b_bits, float flag) {
    const float s = mma_chains<MMA_CHAINS>(iters, a_bits, b_bits);
    if (s == flag) sink[0] = s;
}

#define EXP_CHAINS 8

// N independent chains x <- 2^(-x) per thread (bounded in (0, 1]), `iters` times; their sum.
template <int N>
__device__ __forceinline__ float exp_chains(int iters, float seed) {
    float x[N];
#pragma unroll
    for (int j = 0; j < N; ++j) x[j] = seed + 0.01f * j + 1e-6f * threadIdx.x;
    for (int it = 0; it < iters; ++it) {
#pragma unroll
        for (int j = 0; j < N; ++j) x[j] = ex2(-x[j]);
    }
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < N; ++j) s += x[j];
    return s;
}

// Special-function unit: EXP_CHAINS independent ex2 chains per thread.
extern "C" __global__ void sfu_exp2(float* sink, int iters, float seed, float flag) {
    const float s = exp_chains<EXP_CHAINS>(iters, seed);
    if (s == flag) sink[0] = s;
}

#define FMA_CHAINS 8

// FP32 FMA pipes: FMA_CHAINS independent chains x <- x*a + b per thread (2 FLOPs each).
extern "C" __global__ void fp32_fma(float* sink, int iters, float a, float b, float flag) {
    float x[FMA_CHAINS];
#pragma unroll
    for (int j = 0; j < FMA_CHAINS; ++j) x[j] = 0.001f * j + 1e-6f * threadIdx.x;
    for (int it = 0; it < iters; ++it) {
#pragma unroll
        for (int j = 0; j < FMA_CHAINS; ++j) x[j] = fmaf(x[j], a, b);
    }
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < FMA_CHAINS; ++j) s += x[j];
    if (s == flag) sink[0] = s;
}

// Tensor cores and the special-function unit at once (validation/micro.py: mma_exp_overlap).
// Question: does an SM run mma.sync (HMMA) and ex2.approx (MUFU.EX2) concurrently, or do their times add?
// Every benchmark kernel below has the same registers and 8 warps per block, so the modes differ only
// in what the warps do. Warp w of a block runs on sub-partition (SMSP) w % 4, so warps 0-3 and 4-7
// each put one warp on every SMSP.
#define OVL_THREADS 256
#define OVL_BOUNDS OVL_THREADS, 4  // 4 blocks per SM resident (<= 64 registers per thread)
#define OVL_MMA_CHAINS 8           // split: independent accumulators per tensor warp
#define OVL_EXP_CHAINS 8           // split: independent ex2 chains per thread of an exp warp
#define MIX_MMA 8                  // mixed: mma per warp per iteration ...
#define MIX_EXP 4                  // ... and ex2 per thread: 2 mma per warp-wide ex2, FA forward at d = 64

__device__ __forceinline__ void ovl_a(unsigned (&a)[4], unsigned a_bits) {
    a[0] = a_bits; a[1] = a_bits ^ 0x00010001u; a[2] = a_bits ^ 0x00020002u; a[3] = a_bits ^ 0x00030003u;
}

// SM cycles of this block (thread 0, from before the loops to after every warp is done): clock-independent.
__device__ __forceinline__ void ovl_cycles(long long* cycles, long long start) {
    __syncthreads();
    if (threadIdx.x == 0) cycles[blockIdx.x] = clock64() - start;
}

// Different warps: warps [0, W/2) run `mma_iters` x OVL_MMA_CHAINS mma.sync, warps [W/2, W) run
// `exp_iters` x OVL_EXP_CHAINS ex2 per thread. Zero iterations = that half idles (single modes).
extern "C" __global__ void __launch_bounds__(OVL_BOUNDS) mma_exp_split(float* sink, long long* cycles, int mma_iters,
                                                                        int exp_iters, unsigned a_bits,
                                                                        unsigned b_bits, float seed, float flag) {
    const long long start = clock64();
    float s = 0.f;
    if (threadIdx.x < blockDim.x / 2) {  // warp-uniform: blockDim.x is a multiple of 64
        s = mma_chains<OVL_MMA_CHAINS>(mma_iters, a_bits, b_bits);
    } else {
        s = exp_chains<OVL_EXP_CHAINS>(exp_iters, seed);
    }
    ovl_cycles(cycles, start);
    if (s == flag) sink[0] = s;
}

// Same warp: every warp runs `iters` iterations of MIX_MMA mma.sync and MIX_EXP ex2 per thread,
// interleaved in its own instruction stream as a softmax warp's are (what ptxas makes of the order
// is in the SASS). MMA / EXP = false drop that half: the single modes with the same warps.
template <bool MMA, bool EXP>
__device__ __forceinline__ float mixed_loop(int iters, unsigned a_bits, unsigned b_bits, float seed) {
    unsigned a[4];
    ovl_a(a, a_bits);
    const unsigned b0 = b_bits, b1 = b_bits ^ 0x00010001u;
    float c[MIX_MMA][4], x[MIX_EXP];
#pragma unroll
    for (int j = 0; j < MIX_MMA; ++j) c[j][0] = c[j][1] = c[j][2] = c[j][3] = (float)j;
#pragma unroll
    for (int j = 0; j < MIX_EXP; ++j) x[j] = seed + 0.01f * j + 1e-6f * threadIdx.x;
    for (int it = 0; it < iters; ++it) {
#pragma unroll
        for (int j = 0; j < MIX_EXP; ++j) {
            if (MMA) mma16816<false>(c[2 * j], a, b0, b1);
            if (EXP) x[j] = ex2(-x[j]);
            if (MMA) mma16816<false>(c[2 * j + 1], a, b0, b1);
        }
    }
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < MIX_MMA; ++j) s += c[j][0] + c[j][1] + c[j][2] + c[j][3];
#pragma unroll
    for (int j = 0; j < MIX_EXP; ++j) s += x[j];
    return s;
}

// mode 1: mma only, 2: ex2 only, 3: both (interleaved).
extern "C" __global__ void __launch_bounds__(OVL_BOUNDS) mma_exp_mixed(float* sink, long long* cycles, int iters,
                                                                        int mode, unsigned a_bits, unsigned b_bits,
                                                                        float seed, float flag) {
    const long long start = clock64();
    const float s = mode == 3 ? mixed_loop<true, true>(iters, a_bits, b_bits, seed)
                  : mode == 1 ? mixed_loop<true, false>(iters, a_bits, b_bits, seed)
                              : mixed_loop<false, true>(iters, a_bits, b_bits, seed);
    ovl_cycles(cycles, start);
    if (s == flag) sink[0] = s;
}

// Launch overhead: nothing to do.
extern "C" __global__ void empty_kernel() {}

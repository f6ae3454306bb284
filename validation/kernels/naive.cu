// The kernels of naive (unfused, "standard") attention between its two cuBLAS GEMMs
// S = Q K^T and O = P V (validation/attention.py), as standard attention runs them (FA1 paper,
// arXiv 2205.14135, Algorithm 0; PyTorch's `softmax(scores + mask)`):
//   mask_add  S += M, an element-wise kernel that reads S and the additive [seq_len, kv_len] mask M
//             (0 where a key is visible, -inf where masked; every batch and head reads the same M)
//             and writes S back. Only masked (causal) calls run it.
//   softmax_rows  turns the 16-bit score matrix S [batch * heads * seq_len, kv_len] into P in
//             place, reading each row three times (max, sum, normalise) as the 3-pass softmax
//             cascade does, and writing it once. A row whose scores are all -inf becomes all zeros.
//
// Scores are stored in the input dtype (fp16 or bf16, as PyTorch's standard attention does);
// max, exponent and sum are computed in fp32 with the scale folded into ex2's argument.
// Rows are read as 16-byte vectors, so kv_len must be a multiple of 8.
#include "common.cuh"

#define SM_THREADS 256

__device__ __forceinline__ float block_reduce(float x, bool is_max, float* scratch) {
    x = is_max ? warp_max_xor(x, 32) : warp_sum_xor(x, 32);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) scratch[warp] = x;
    __syncthreads();
    x = lane < SM_THREADS / 32 ? scratch[lane] : (is_max ? ATTNSIM_NEG_INF : 0.f);
    x = is_max ? warp_max_xor(x, 32) : warp_sum_xor(x, 32);
    __syncthreads();  // scratch is reused by the next reduction
    return x;
}

template <bool BF16>
__device__ __forceinline__ void softmax_rows(u16* S, int kv_len, float scale_log2) {
    __shared__ float scratch[SM_THREADS / 32];
    uint4* srow = (uint4*)(S + (long long)blockIdx.x * kv_len);
    const int n_vec = kv_len / 8;

    float mx = ATTNSIM_NEG_INF;
    for (int i = threadIdx.x; i < n_vec; i += SM_THREADS) {
        const uint4 v = srow[i];
        const unsigned w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int e = 0; e < 8; ++e) mx = fmaxf(mx, to_float<BF16>((u16)(w[e / 2] >> (16 * (e % 2)))));
    }
    mx = block_reduce(mx, true, scratch);
    const float base = mx == ATTNSIM_NEG_INF ? 0.f : mx * scale_log2;  // an all -inf row: every ex2 gives 0

    float sum = 0.f;
    for (int i = threadIdx.x; i < n_vec; i += SM_THREADS) {
        const uint4 v = srow[i];
        const unsigned w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int e = 0; e < 8; ++e) sum += ex2(fmaf(to_float<BF16>((u16)(w[e / 2] >> (16 * (e % 2)))), scale_log2, -base));
    }
    sum = block_reduce(sum, false, scratch);
    const float inv = sum > 0.f ? 1.f / sum : 0.f;

    for (int i = threadIdx.x; i < n_vec; i += SM_THREADS) {
        const uint4 v = srow[i];
        const unsigned w[4] = {v.x, v.y, v.z, v.w};
        unsigned out[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            float p[2];
#pragma unroll
            for (int half = 0; half < 2; ++half)
                p[half] = ex2(fmaf(to_float<BF16>((u16)(w[e] >> (16 * half))), scale_log2, -base)) * inv;
            out[e] = pack2<BF16>(p[0], p[1]);
        }
        srow[i] = make_uint4(out[0], out[1], out[2], out[3]);
    }
}

// S[i] += M[i mod mask_vec], 8 elements (16 bytes) a step, added in fp32 and rounded as PyTorch's
// half-precision add does; grid-stride over n_vec vectors of S.
template <bool BF16>
__device__ __forceinline__ void mask_add(u16* S, const u16* M, long long n_vec, long long mask_vec) {
    uint4* s = (uint4*)S;
    const uint4* m = (const uint4*)M;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n_vec; i += (long long)gridDim.x * blockDim.x) {
        const uint4 a = s[i], b = m[i % mask_vec];
        const unsigned x[4] = {a.x, a.y, a.z, a.w}, y[4] = {b.x, b.y, b.z, b.w};
        unsigned out[4];
#pragma unroll
        for (int e = 0; e < 4; ++e)
            out[e] = pack2<BF16>(to_float<BF16>((u16)x[e]) + to_float<BF16>((u16)y[e]),
                                 to_float<BF16>((u16)(x[e] >> 16)) + to_float<BF16>((u16)(y[e] >> 16)));
        s[i] = make_uint4(out[0], out[1], out[2], out[3]);
    }
}

// Entry points: softmax_rows_{fp16|bf16}, grid = batch * heads * seq_len rows, SM_THREADS threads;
// mask_add_{fp16|bf16}, any grid.
extern "C" __global__ void __launch_bounds__(SM_THREADS) softmax_rows_fp16(u16* S, int kv_len, float scale_log2) {
    softmax_rows<false>(S, kv_len, scale_log2);
}
extern "C" __global__ void __launch_bounds__(SM_THREADS) softmax_rows_bf16(u16* S, int kv_len, float scale_log2) {
    softmax_rows<true>(S, kv_len, scale_log2);
}
extern "C" __global__ void mask_add_fp16(u16* S, const u16* M, long long n_vec, long long mask_vec) {
    mask_add<false>(S, M, n_vec, mask_vec);
}
extern "C" __global__ void mask_add_bf16(u16* S, const u16* M, long long n_vec, long long mask_vec) {
    mask_add<true>(S, M, n_vec, mask_vec);
}

// The softmax kernel of naive (unfused) attention: S = Q K^T and O = P V are cuBLAS GEMMs
// (validation/attention.py); between them this kernel turns the 16-bit score matrix S
// [batch * heads * seq_len, kv_len] into P in place, reading each row three times (max, sum,
// normalise) as the 3-pass softmax cascade does, and writing it once.
//
// Scores are stored in the input dtype (fp16 or bf16, as PyTorch's standard attention does);
// max, exponent and sum are computed in fp32 with the scale folded into ex2's argument.
// Causal masking is bottom-right aligned (key k visible to query q iff k <= q + kv_len - seq_len);
// masked entries become 0 and a row with no visible key is all zeros.
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
__device__ __forceinline__ void softmax_rows(u16* S, int seq_len, int kv_len, float scale_log2, int causal) {
    __shared__ float scratch[SM_THREADS / 32];
    const long long row = blockIdx.x;
    const int q = (int)(row % seq_len);
    const int limit = causal ? max(0, min(kv_len, q + kv_len - seq_len + 1)) : kv_len;  // visible keys [0, limit)
    uint4* srow = (uint4*)(S + row * kv_len);
    const int n_vec = kv_len / 8;

    float mx = ATTNSIM_NEG_INF;
    for (int i = threadIdx.x; i < n_vec; i += SM_THREADS) {
        const uint4 v = srow[i];
        const unsigned w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int e = 0; e < 8; ++e) {
            if (i * 8 + e < limit) mx = fmaxf(mx, to_float<BF16>((u16)(w[e / 2] >> (16 * (e % 2)))));
        }
    }
    const float base = block_reduce(mx, true, scratch) * scale_log2;  // -inf when nothing is visible

    float sum = 0.f;
    for (int i = threadIdx.x; i < n_vec; i += SM_THREADS) {
        const uint4 v = srow[i];
        const unsigned w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int e = 0; e < 8; ++e) {
            if (i * 8 + e < limit) sum += ex2(fmaf(to_float<BF16>((u16)(w[e / 2] >> (16 * (e % 2)))), scale_log2, -base));
        }
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
            for (int half = 0; half < 2; ++half) {
                const int k = i * 8 + 2 * e + half;
                const float s = to_float<BF16>((u16)(w[e] >> (16 * half)));
                p[half] = k < limit ? ex2(fmaf(s, scale_log2, -base)) * inv : 0.f;
            }
            out[e] = pack2<BF16>(p[0], p[1]);
        }
        srow[i] = make_uint4(out[0], out[1], out[2], out[3]);
    }
}

// Entry points: softmax_rows_{fp16|bf16}; grid = batch * heads * seq_len rows, SM_THREADS threads.
extern "C" __global__ void __launch_bounds__(SM_THREADS) softmax_rows_fp16(u16* S, int seq_len, int kv_len,
                                                                        float scale_log2, int causal) {
    softmax_rows<false>(S, seq_len, kv_len, scale_log2, causal);
}
extern "C" __global__ void __launch_bounds__(SM_THREADS) softmax_rows_bf16(u16* S, int seq_len, int kv_len,
                                                                        float scale_log2, int causal) {
    softmax_rows<true>(S, seq_len, kv_len, scale_log2, causal);
}

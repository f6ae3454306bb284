// Split-KV decode (Flash-Decoding): few query rows against a long key/value cache.
//
// Layouts as in fa2.cu: Q, O [batch, heads, seq_len, D]; K, V [batch, kv_heads, kv_len, D].
// decode_split: one CTA of 128 threads per (split, head, batch) handles keys
// [split * chunk, min((split + 1) * chunk, kv_len)). Each group of D/8 lanes owns one key at a
// time (one 16-byte load of K and of V per lane); the CTA's groups take keys round-robin, four
// keys per group per step with all loads issued before use. Each group keeps its own running max,
// sum and output slice (one pass, online softmax in the log2 domain); the groups are merged in
// shared memory at the end. Query rows (seq_len, small) are processed one after another.
// Output per (row, split): the normalised partial O (fp32) and lse = max + log2(sum) in the
// log2 domain (scale folded in); an empty range gives O = 0, lse = -inf.
// decode_combine: one CTA of D threads per (batch, head, row) merges the splits' partials.
// Causal rows see keys k <= row + kv_len - seq_len (bottom-right aligned).
#include "common.cuh"

#define DEC_THREADS 128
#define DEC_UNROLL 4

template <int D, bool BF16>
__device__ __forceinline__ void decode_split(
    const u16* __restrict__ Q, const u16* __restrict__ K, const u16* __restrict__ V, float* __restrict__ o_part,
    float* __restrict__ lse_part, int seq_len, int kv_len, int heads, int kv_heads, float scale_log2, int causal,
    int chunk) {
    constexpr int LANES = D / 8;                  // lanes per key: 8 values (16 bytes) each
    constexpr int GROUPS = DEC_THREADS / LANES;   // keys in flight per CTA step
    __shared__ float s_m[GROUPS], s_l[GROUPS];
    __shared__ float s_acc[GROUPS][D];

    const int split = blockIdx.x, n_splits = gridDim.x, h = blockIdx.y, b = blockIdx.z;
    const int hk = h / (heads / kv_heads);
    const int group = threadIdx.x / LANES, sub = threadIdx.x % LANES;
    const int start = split * chunk, stop = min(start + chunk, kv_len);
    const u16* Kh = K + (long long)(b * kv_heads + hk) * kv_len * D + sub * 8;
    const u16* Vh = V + (long long)(b * kv_heads + hk) * kv_len * D + sub * 8;

    for (int row = 0; row < seq_len; ++row) {
        const long long qrow = (long long)(b * heads + h) * seq_len + row;
        const int end = causal ? min(stop, row + kv_len - seq_len + 1) : stop;
        float q[8], acc[8];
        const uint4 qv = *(const uint4*)(Q + qrow * D + sub * 8);
        const unsigned qw[4] = {qv.x, qv.y, qv.z, qv.w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            q[2 * e] = to_float<BF16>((u16)(qw[e] & 0xffffu)) * scale_log2;
            q[2 * e + 1] = to_float<BF16>((u16)(qw[e] >> 16)) * scale_log2;
        }
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[e] = 0.f;
        float m = ATTNSIM_NEG_INF, l = 0.f;

        // Every lane runs the same steps (the group sums use warp shuffles); keys past `end` are masked.
        for (int k0 = start; k0 < end; k0 += GROUPS * DEC_UNROLL) {
            uint4 kv[DEC_UNROLL], vv[DEC_UNROLL];
#pragma unroll
            for (int u = 0; u < DEC_UNROLL; ++u) {
                const int key = k0 + u * GROUPS + group;
                const long long at = (long long)(key < end ? key : k0) * D;
                kv[u] = *(const uint4*)(Kh + at);
                vv[u] = *(const uint4*)(Vh + at);
            }
            float s[DEC_UNROLL];
#pragma unroll
            for (int u = 0; u < DEC_UNROLL; ++u) {
                const unsigned kw[4] = {kv[u].x, kv[u].y, kv[u].z, kv[u].w};
                float dot = 0.f;
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    dot = fmaf(q[2 * e], to_float<BF16>((u16)(kw[e] & 0xffffu)), dot);
                    dot = fmaf(q[2 * e + 1], to_float<BF16>((u16)(kw[e] >> 16)), dot);
                }
                dot = warp_sum_xor(dot, LANES);
                s[u] = k0 + u * GROUPS + group < end ? dot : ATTNSIM_NEG_INF;
            }
            float mx = s[0];
#pragma unroll
            for (int u = 1; u < DEC_UNROLL; ++u) mx = fmaxf(mx, s[u]);
            const float mn = fmaxf(m, mx);
            const float base = mn == ATTNSIM_NEG_INF ? 0.f : mn;  // this group has seen no key yet
            const float alpha = ex2(m - base);
            m = mn;
            l *= alpha;
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[e] *= alpha;
#pragma unroll
            for (int u = 0; u < DEC_UNROLL; ++u) {
                const float p = ex2(s[u] - base);
                l += p;
                const unsigned vw[4] = {vv[u].x, vv[u].y, vv[u].z, vv[u].w};
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    acc[2 * e] = fmaf(p, to_float<BF16>((u16)(vw[e] & 0xffffu)), acc[2 * e]);
                    acc[2 * e + 1] = fmaf(p, to_float<BF16>((u16)(vw[e] >> 16)), acc[2 * e + 1]);
                }
            }
        }

        // Merge the groups: every lane of a group holds the same m and l.
        if (sub == 0) {
            s_m[group] = m;
            s_l[group] = l;
        }
#pragma unroll
        for (int e = 0; e < 8; ++e) s_acc[group][sub * 8 + e] = acc[e];
        __syncthreads();
        float big = ATTNSIM_NEG_INF;
        for (int gi = 0; gi < GROUPS; ++gi) big = fmaxf(big, s_m[gi]);
        const long long out = qrow * n_splits + split;
        if (big == ATTNSIM_NEG_INF) {  // no visible key in this split
            for (int d = threadIdx.x; d < D; d += DEC_THREADS) o_part[out * D + d] = 0.f;
            if (threadIdx.x == 0) lse_part[out] = ATTNSIM_NEG_INF;
        } else {
            float total = 0.f;
            for (int gi = 0; gi < GROUPS; ++gi) total += s_l[gi] * ex2(s_m[gi] - big);
            for (int d = threadIdx.x; d < D; d += DEC_THREADS) {
                float x = 0.f;
                for (int gi = 0; gi < GROUPS; ++gi) x += s_acc[gi][d] * ex2(s_m[gi] - big);
                o_part[out * D + d] = x / total;
            }
            if (threadIdx.x == 0) lse_part[out] = big + __log2f(total);
        }
        __syncthreads();  // shared arrays are reused by the next row
    }
}

// Merge the splits of one (batch, head, row): O = sum_s 2^(lse_s - max) O_s / sum_s 2^(lse_s - max).
template <bool BF16>
__device__ __forceinline__ void decode_combine(const float* __restrict__ o_part, const float* __restrict__ lse_part,
                                               u16* __restrict__ O, int n_splits) {
    const long long row = blockIdx.x;
    const int d = threadIdx.x, D = blockDim.x;
    float big = ATTNSIM_NEG_INF;
    for (int s = 0; s < n_splits; ++s) big = fmaxf(big, lse_part[row * n_splits + s]);
    float x = 0.f, total = 0.f;
    if (big != ATTNSIM_NEG_INF) {
        for (int s = 0; s < n_splits; ++s) {
            const float w = ex2(lse_part[row * n_splits + s] - big);
            total += w;
            x += w * o_part[(row * n_splits + s) * D + d];
        }
    }
    O[row * D + d] = from_float<BF16>(total > 0.f ? x / total : 0.f);
}

#define DEC_ARGS                                                                                             \
    const u16 *Q, const u16 *K, const u16 *V, float *o_part, float *lse_part, int seq_len, int kv_len, int heads, \
        int kv_heads, float scale_log2, int causal, int chunk
#define DEC_PASS Q, K, V, o_part, lse_part, seq_len, kv_len, heads, kv_heads, scale_log2, causal, chunk

// Entry points: decode_split_d{64|128}_{fp16|bf16} (grid: splits x heads x batch, 128 threads)
// and decode_combine_{fp16|bf16} (grid: batch * heads * seq_len, D threads).
#define DEC_ENTRY(D, DT, BF16)                                                                      \
    extern "C" __global__ void __launch_bounds__(DEC_THREADS) decode_split_d##D##_##DT(DEC_ARGS) {   \
        decode_split<D, BF16>(DEC_PASS);                                                             \
    }

DEC_ENTRY(64, fp16, false)
DEC_ENTRY(128, fp16, false)
DEC_ENTRY(64, bf16, true)
DEC_ENTRY(128, bf16, true)

extern "C" __global__ void decode_combine_fp16(const float* o_part, const float* lse_part, u16* O, int n_splits) {
    decode_combine<false>(o_part, lse_part, O, n_splits);
}
extern "C" __global__ void decode_combine_bf16(const float* o_part, const float* lse_part, u16* O, int n_splits) {
    decode_combine<true>(o_part, lse_part, O, n_splits);
}

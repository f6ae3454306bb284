// Fused FlashAttention-2-style forward kernels: dense (optionally causal) and block-sparse.
//
// Layouts: Q, O are [batch, heads, seq_len, D]; K, V are [batch, kv_heads, kv_len, D]; 16-bit
// values (fp16 or bf16), fp32 accumulation. One CTA per (query block, head, batch); WARPS warps
// of 16 query rows each (BR = 16 * WARPS), key/value tiles of BC = 64 rows.
//
// Per CTA: Q fragments stay in registers for the whole loop; K and V tiles are copied to shared
// memory with cp.async, double-buffered (tile i+1 is in flight while tile i is used). Each warp
// computes S = Q K^T for its 16 rows with mma.sync m16n8k16, applies the mask (only on tiles
// that need one), runs the online softmax in the log2 domain (scale * log2(e) folded into one
// FMA before ex2), rounds P to 16 bits in registers and accumulates O += P V with V fragments
// loaded by ldmatrix.trans. The division by the row sum is deferred to the end.
//
// Masks: causal is bottom-right aligned (key k visible to query q iff k <= q + kv_len - seq_len).
// Rows with no visible key get O = 0. The sparse kernel visits, for query block qb, the key blocks
// col_idx[row_ptr[qb] .. row_ptr[qb+1]); mask_idx[e] is -1 for a full tile, else the index of a
// BR x BC uint8 element mask in `masks` (1 = attend) applied to that tile only. Keys >= kv_len
// are always masked. The block list is the same for every head and batch.
//
// Shared memory: 2 stages x (K + V) x BC x (D + 8) halves; the 8-half row pad makes both the
// 32-bit K fragment loads and the ldmatrix row fetches bank-conflict-free.
// D = 64: 36,864 B; D = 128: 69,632 B (needs the > 48 KB dynamic shared memory opt-in).
#include "common.cuh"

#define FA_BC 64

template <int D>
struct FaSmem {
    static constexpr int STRIDE = D + 8;           // halves per shared-memory row
    static constexpr int TILE = FA_BC * STRIDE;    // halves per K or V tile
    static constexpr int BYTES = 4 * TILE * 2;     // 2 stages x (K, V)
};

// Copy key rows [kv0, kv0 + BC) of K and V into stage `buf`; rows past kv_len become zeros.
template <int D, int THREADS>
__device__ __forceinline__ void fa_load_tile(u16* sK, u16* sV, const u16* Kh, const u16* Vh, int kv0, int kv_len) {
    constexpr int CHUNKS_PER_ROW = D / 8;  // 16-byte chunks
    constexpr int CHUNKS = FA_BC * CHUNKS_PER_ROW;
    for (int c = threadIdx.x; c < CHUNKS; c += THREADS) {
        const int row = c / CHUNKS_PER_ROW, col = (c % CHUNKS_PER_ROW) * 8;
        const bool inside = kv0 + row < kv_len;
        const long long off = inside ? (long long)(kv0 + row) * D + col : 0;
        const int n = inside ? 16 : 0;
        cp_async16(smem_addr(sK + row * FaSmem<D>::STRIDE + col), Kh + off, n);
        cp_async16(smem_addr(sV + row * FaSmem<D>::STRIDE + col), Vh + off, n);
    }
}

template <int D, int WARPS, bool BF16, bool SPARSE>
__device__ __forceinline__ void fa2_forward(
    const u16* __restrict__ Q, const u16* __restrict__ K, const u16* __restrict__ V, u16* __restrict__ O,
    int seq_len, int kv_len, int heads, int kv_heads, float scale_log2, int causal,
    const int* __restrict__ row_ptr, const int* __restrict__ col_idx, const int* __restrict__ mask_idx,
    const unsigned char* __restrict__ masks) {
    constexpr int BR = 16 * WARPS, THREADS = 32 * WARPS;
    constexpr int STRIDE = FaSmem<D>::STRIDE, TILE = FaSmem<D>::TILE;
    extern __shared__ __align__(16) u16 smem[];

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
    const int qb = gridDim.x - 1 - blockIdx.x;  // longest (causal) query blocks start first
    const int h = blockIdx.y, b = blockIdx.z, hk = h / (heads / kv_heads);
    const int off = kv_len - seq_len;
    const int q_block0 = qb * BR, row0 = q_block0 + warp * 16 + g, row1 = row0 + 8;
    const u16* Qh = Q + (long long)(b * heads + h) * seq_len * D;
    const u16* Kh = K + (long long)(b * kv_heads + hk) * kv_len * D;
    const u16* Vh = V + (long long)(b * kv_heads + hk) * kv_len * D;
    u16* Oh = O + (long long)(b * heads + h) * seq_len * D;

    // Q as mma A fragments (rows g and g+8 of the warp's 16, columns 2t, 2t+1 and +8).
    unsigned qf[D / 16][4];
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
        const int c = kk * 16 + 2 * t;
        qf[kk][0] = row0 < seq_len ? *(const unsigned*)(Qh + (long long)row0 * D + c) : 0u;
        qf[kk][1] = row1 < seq_len ? *(const unsigned*)(Qh + (long long)row1 * D + c) : 0u;
        qf[kk][2] = row0 < seq_len ? *(const unsigned*)(Qh + (long long)row0 * D + c + 8) : 0u;
        qf[kk][3] = row1 < seq_len ? *(const unsigned*)(Qh + (long long)row1 * D + c + 8) : 0u;
    }

    // The key blocks this CTA visits.
    int first = 0, n_tiles;
    if (SPARSE) {
        first = row_ptr[qb];
        n_tiles = row_ptr[qb + 1] - first;
    } else {
        const int q_last = min(q_block0 + BR, seq_len) - 1;
        const int kv_end = causal ? min(kv_len, q_last + off + 1) : kv_len;
        n_tiles = kv_end > 0 ? (kv_end + FA_BC - 1) / FA_BC : 0;
    }

    float o[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    float m0 = ATTNSIM_NEG_INF, m1 = ATTNSIM_NEG_INF, l0 = 0.f, l1 = 0.f;  // rows g, g+8 (l: this thread's part)

    if (n_tiles > 0) {
        const int kb = SPARSE ? col_idx[first] : 0;
        fa_load_tile<D, THREADS>(smem, smem + 2 * TILE, Kh, Vh, kb * FA_BC, kv_len);
        cp_async_commit();
    }
    for (int i = 0; i < n_tiles; ++i) {
        const int buf = i & 1;
        if (i + 1 < n_tiles) {
            const int kb_next = SPARSE ? col_idx[first + i + 1] : i + 1;
            fa_load_tile<D, THREADS>(smem + (buf ^ 1) * TILE, smem + (2 + (buf ^ 1)) * TILE, Kh, Vh,
                                     kb_next * FA_BC, kv_len);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const u16* sK = smem + buf * TILE;
        const u16* sV = smem + (2 + buf) * TILE;
        const int kv0 = (SPARSE ? col_idx[first + i] : i) * FA_BC;

        // S = Q K^T for 16 rows x 64 keys: s[j] is the 16x8 block of keys kv0 + 8j ...
        float s[FA_BC / 8][4];
#pragma unroll
        for (int j = 0; j < FA_BC / 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
            for (int j = 0; j < FA_BC / 8; ++j) {
                const u16* kp = sK + (j * 8 + g) * STRIDE + kk * 16 + 2 * t;
                mma16816<BF16>(s[j], qf[kk], *(const unsigned*)kp, *(const unsigned*)(kp + 8));
            }
        }

        // Element mask, only where the tile needs one.
        const int mi = SPARSE ? mask_idx[first + i] : -1;
        const bool ragged = kv0 + FA_BC > kv_len;
        const bool diagonal = !SPARSE && causal && kv0 + FA_BC - 1 > q_block0 + off;
        if (ragged || diagonal || mi >= 0) {
            const unsigned char* tile_mask = masks + (long long)(mi >= 0 ? mi : 0) * BR * FA_BC;
#pragma unroll
            for (int j = 0; j < FA_BC / 8; ++j) {
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int row = e < 2 ? row0 : row1, col = kv0 + j * 8 + 2 * t + (e & 1);
                    bool keep = col < kv_len;
                    if (diagonal) keep = keep && col <= row + off;
                    if (mi >= 0) keep = keep && tile_mask[(row - q_block0) * FA_BC + (col - kv0)] != 0;
                    if (!keep) s[j][e] = ATTNSIM_NEG_INF;
                }
            }
        }

        // Online softmax in the log2 domain: running max m (already scaled), rescale factor alpha.
        float mx0 = ATTNSIM_NEG_INF, mx1 = ATTNSIM_NEG_INF;
#pragma unroll
        for (int j = 0; j < FA_BC / 8; ++j) {
            mx0 = fmaxf(mx0, fmaxf(s[j][0], s[j][1]));
            mx1 = fmaxf(mx1, fmaxf(s[j][2], s[j][3]));
        }
        mx0 = warp_max_xor(mx0, 4) * scale_log2;  // the 4 lanes of a row hold its 64 columns
        mx1 = warp_max_xor(mx1, 4) * scale_log2;
        const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
        const float base0 = mn0 == ATTNSIM_NEG_INF ? 0.f : mn0;  // a row with nothing visible yet
        const float base1 = mn1 == ATTNSIM_NEG_INF ? 0.f : mn1;
        const float alpha0 = ex2(m0 - base0), alpha1 = ex2(m1 - base1);
        m0 = mn0;
        m1 = mn1;
        float sum0 = 0.f, sum1 = 0.f;
#pragma unroll
        for (int j = 0; j < FA_BC / 8; ++j) {
            s[j][0] = ex2(fmaf(s[j][0], scale_log2, -base0));
            s[j][1] = ex2(fmaf(s[j][1], scale_log2, -base0));
            s[j][2] = ex2(fmaf(s[j][2], scale_log2, -base1));
            s[j][3] = ex2(fmaf(s[j][3], scale_log2, -base1));
            sum0 += s[j][0] + s[j][1];
            sum1 += s[j][2] + s[j][3];
        }
        l0 = l0 * alpha0 + sum0;
        l1 = l1 * alpha1 + sum1;
#pragma unroll
        for (int n = 0; n < D / 8; ++n) {
            o[n][0] *= alpha0;
            o[n][1] *= alpha0;
            o[n][2] *= alpha1;
            o[n][3] *= alpha1;
        }

        // O += P V: P's accumulator layout is already the A-fragment layout of the next mma.
#pragma unroll
        for (int kk = 0; kk < FA_BC / 16; ++kk) {
            const unsigned pa[4] = {pack2<BF16>(s[2 * kk][0], s[2 * kk][1]), pack2<BF16>(s[2 * kk][2], s[2 * kk][3]),
                                    pack2<BF16>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                    pack2<BF16>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
            const int mat = lane >> 3;
            const u16* vrow = sV + (kk * 16 + (lane & 7) + (mat & 1) * 8) * STRIDE + (mat >> 1) * 8;
#pragma unroll
            for (int n = 0; n < D / 16; ++n) {
                unsigned vb[4];
                ldmatrix_x4_trans(vb, smem_addr(vrow + n * 16));
                mma16816<BF16>(o[2 * n], pa, vb[0], vb[1]);
                mma16816<BF16>(o[2 * n + 1], pa, vb[2], vb[3]);
            }
        }
        __syncthreads();  // every warp is done with this stage before it is refilled
    }

    // Deferred normalisation; the row sum is spread over the 4 lanes of the row.
    l0 = warp_sum_xor(l0, 4);
    l1 = warp_sum_xor(l1, 4);
    const float inv0 = l0 > 0.f ? 1.f / l0 : 0.f, inv1 = l1 > 0.f ? 1.f / l1 : 0.f;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
        const int c = n * 8 + 2 * t;
        if (row0 < seq_len) *(unsigned*)(Oh + (long long)row0 * D + c) = pack2<BF16>(o[n][0] * inv0, o[n][1] * inv0);
        if (row1 < seq_len) *(unsigned*)(Oh + (long long)row1 * D + c) = pack2<BF16>(o[n][2] * inv1, o[n][3] * inv1);
    }
}

#define FA2_ARGS                                                                                          \
    const u16 *Q, const u16 *K, const u16 *V, u16 *O, int seq_len, int kv_len, int heads, int kv_heads,      \
        float scale_log2, int causal, const int *row_ptr, const int *col_idx, const int *mask_idx,           \
        const unsigned char *masks
#define FA2_PASS Q, K, V, O, seq_len, kv_len, heads, kv_heads, scale_log2, causal, row_ptr, col_idx, mask_idx, masks

// Entry points: fa2_{dense|sparse}_d{64|128}_{fp16|bf16}, 4 warps (BR = 64). The dense kernels
// ignore the block-list arguments; the sparse kernels ignore `causal` (the mask carries it).
#define FA2_ENTRY(KIND, SPARSE, D, DT, BF16)                                                       \
    extern "C" __global__ void __launch_bounds__(128) fa2_##KIND##_d##D##_##DT(FA2_ARGS) {          \
        fa2_forward<D, 4, BF16, SPARSE>(FA2_PASS);                                                  \
    }

FA2_ENTRY(dense, false, 64, fp16, false)
FA2_ENTRY(dense, false, 128, fp16, false)
FA2_ENTRY(dense, false, 64, bf16, true)
FA2_ENTRY(dense, false, 128, bf16, true)
FA2_ENTRY(sparse, true, 64, fp16, false)
FA2_ENTRY(sparse, true, 128, fp16, false)
FA2_ENTRY(sparse, true, 64, bf16, true)
FA2_ENTRY(sparse, true, 128, bf16, true)

"""The open questions a lent GPU answers, as one prepared run (validation/RUNNING.md says what each one decides).

    python3 -m validation.questions --out $OUT            # every question, one to two minutes on an H100
    python3 -m validation.questions --only short_call,dirty_chain --out $OUT
    python3 -m validation.questions --list

Each question is a short CuPy program (one that needs another module is skipped without it), run in its own process
under its own timeout, so one that faults or hangs costs only itself. One file, OUT/questions.json, records the
device (nvidia-smi: name, driver, SM clock and its maximum, power), the CuPy and CUDA versions, the date, and per
question its exit status, seconds and output (a lent machine sends back a few files only). Nothing changes a clock
or any device setting. Without a GPU or CuPy it exits with status 2 and says so in one line.
"""

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from validation.attention import FA_BLOCK_Q, fa2_smem_bytes
from validation.gpu import kernel_source
from validation.harness import HOLD_CYCLES


@dataclass(frozen=True)
class Question:
    name: str
    what: str  # one line: what the output decides (RUNNING.md has the whole question)
    source: str  # a Python program; prints its findings
    timeout_s: int = 60
    needs: tuple = ()  # modules beyond CuPy: skipped where one is missing
    cuda: tuple = ()  # the CUDA sources it hands NVRTC (tests/test_questions.py compiles them with nvcc)


_NAME = 'cp.cuda.runtime.getDeviceProperties(0)["name"].decode()'

# The timer's hold kernel (validation/kernels/timing.cu) before each timed launch: while it spins, Python queues
# what follows it, as nvbench's blocking kernel and the flush of Triton's do_bench give it room to; without it an
# event pair times CuPy's host launch latency (several to tens of microseconds a launch), not the GPU's. ``held``
# spins validate run's HOLD_CYCLES (about 0.6 ms at 1.5-2 GHz); short_call's batch of 200 launches holds 2^24
# clocks (about 10 ms: CuPy takes 10-20 us of Python a launch).
HOLD_SOURCE = kernel_source("timing")
_HOLD = f"""hold = cp.RawKernel({HOLD_SOURCE!r}, "hold")
def held(cycles={HOLD_CYCLES}): hold((1,), (1,), (cp.int64(cycles),))
"""

SHORT_CALL = f"""
import cupy as cp, statistics as st
{_HOLD}x = cp.zeros(1 << 14, cp.float32); y = cp.empty_like(x)
flush = cp.empty(2 * cp.cuda.Device().attributes["L2CacheSize"], cp.uint8)
k = cp.ElementwiseKernel("float32 a", "float32 b", "b = a * 2", "twice")
e0, e1 = cp.cuda.Event(), cp.cuda.Event()
for _ in range(20): k(x, y)
held(1 << 24); e0.record(); [k(x, y) for _ in range(200)]; e1.record(); e1.synchronize()
batch = cp.cuda.get_elapsed_time(e0, e1) / 200 * 1e3
def one(prep, hold_first):
    t = []
    for _ in range(200):
        prep()
        if hold_first: held()
        else: cp.cuda.Stream.null.synchronize()
        e0.record(); k(x, y); e1.record(); e1.synchronize(); t.append(cp.cuda.get_elapsed_time(e0, e1) * 1e3)
    return round(st.median(t), 3)
# cold: flushed, launched while the GPU holds (what nvbench's cold time and do_bench see); warm: the same unflushed;
# cold_host: flushed, then an idle GPU waits for Python's launch (the host's latency, for comparison)
print({_NAME}, "batch_us", round(batch, 3), "cold_us", one(lambda: flush.fill(1), True),
      "warm_us", one(lambda: None, True), "cold_host_us", one(lambda: flush.fill(1), False))
"""

CHASE_SOURCE = r"""
extern "C" __global__ void chase(const long long* nxt, long long* out, int hops, long long n) {
  long long i = (long long)blockIdx.x * (n / gridDim.x); for (int h = 0; h < hops; ++h) i = nxt[i];
  if (threadIdx.x == 0) out[blockIdx.x] = i; }
"""

DIRTY_CHAIN = f"""
import cupy as cp, statistics as st
{_HOLD}dev = cp.cuda.Device(); sms = dev.attributes["MultiProcessorCount"]; l2 = dev.attributes["L2CacheSize"]
n = 256 << 20 >> 3; hops = 64; stride = 16384 >> 3
nxt = cp.zeros(n, cp.int64); base = cp.arange(sms, dtype=cp.int64) * (n // sms)
for h in range(hops): nxt[base + h * stride] = base + (h + 1) * stride
chase = cp.RawKernel({CHASE_SOURCE!r}, "chase")
out = cp.empty(sms, cp.int64); flush = cp.empty(2 * l2, cp.uint8); e0, e1 = cp.cuda.Event(), cp.cuda.Event()
def run(prep):
    t = []
    for _ in range(50):
        prep(); held()  # the chase is enqueued while the GPU holds, so no host latency is timed
        e0.record(); chase((sms,), (32,), (nxt, out, cp.int32(hops), cp.int64(n))); e1.record(); e1.synchronize()
        t.append(cp.cuda.get_elapsed_time(e0, e1) * 1e3)
    return round(st.median(t), 2)
print({_NAME}, "dirty_us", run(lambda: flush.fill(1)), "clean_us", run(lambda: flush.sum()),
      "warm_us", run(lambda: None))
"""

INFLIGHT_KERNELS = r"""
template <int ILP> __device__ void body(const float4* __restrict__ a, float* out, long long n) {
  long long stride = (long long)gridDim.x * blockDim.x; float acc = 0.f;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i + (ILP - 1) * stride < n; i += ILP * stride) {
    float4 v[ILP];
#pragma unroll
    for (int k = 0; k < ILP; ++k) v[k] = a[i + k * stride];
#pragma unroll
    for (int k = 0; k < ILP; ++k) acc += v[k].x + v[k].y + v[k].z + v[k].w; }
  if (acc == 12345.f) out[0] = acc; }
extern "C" __global__ void read1(const float4* a, float* o, long long n) { body<1>(a, o, n); }
extern "C" __global__ void read2(const float4* a, float* o, long long n) { body<2>(a, o, n); }
extern "C" __global__ void read4(const float4* a, float* o, long long n) { body<4>(a, o, n); }
extern "C" __global__ void read8(const float4* a, float* o, long long n) { body<8>(a, o, n); }
"""

INFLIGHT = f"""
import cupy as cp, statistics as st
{_HOLD}mod = cp.RawModule(code={INFLIGHT_KERNELS!r}, name_expressions=["read1", "read2", "read4", "read8"],
                   options=("-std=c++17",))
dev = cp.cuda.Device(); sms = dev.attributes["MultiProcessorCount"]
a = cp.ones(1 << 30, dtype=cp.float32)  # 4 GiB, read as float4
n = a.size // 4; out = cp.zeros(1, cp.float32); e0, e1 = cp.cuda.Event(), cp.cuda.Event()
print({_NAME})
for ilp in (1, 2, 4, 8):
    k = mod.get_function(f"read{{ilp}}")
    for threads in (128, 256, 512, 1024):
        for blocks_per_sm in (1, 2):
            grid = (sms * blocks_per_sm,); t = []
            for _ in range(5):
                held(); e0.record(); k(grid, (threads,), (a, out, cp.int64(n))); e1.record(); e1.synchronize()
                t.append(cp.cuda.get_elapsed_time(e0, e1) * 1e-3)
            print("ilp", ilp, "threads", threads, "ctas_per_sm", blocks_per_sm,
                  "inflight_kib_per_sm", ilp * 16 * threads * blocks_per_sm / 1024,
                  "GBps", round(a.nbytes / st.median(t) / 1e9))
"""

LOAD_PATH_KERNELS = r"""
// cp.async: each thread keeps S 16-byte cp.async.cg loads in flight into its own shared-memory slots (a ring of S
// stages, one commit group a stage), consuming the oldest after cp.async.wait_group S - 1, as FA2's and FlashInfer's
// K/V loads do. bulk: one thread a CTA keeps S cp.async.bulk copies (TMA's 1-D form, sm_90 and later) of `chunk`
// float4s in flight, each completing on its stage's mbarrier, as FA3's and FA4's producer warps do.
template <int S> __device__ void cpa(const float4* __restrict__ a, float* out, long long n) {
  extern __shared__ float4 ring[];
  const long long stride = (long long)gridDim.x * blockDim.x;
  const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  float acc = 0.f;
#pragma unroll
  for (int s = 0; s < S; ++s) {
    long long i = first + s * stride;
    unsigned dst = (unsigned)__cvta_generic_to_shared(&ring[s * blockDim.x + threadIdx.x]);
    if (i < n) asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" :: "r"(dst), "l"(a + i) : "memory");
    asm volatile("cp.async.commit_group;\n" ::: "memory");
  }
  int slot = 0;
  for (long long i = first; i < n; i += stride) {
    asm volatile("cp.async.wait_group %0;\n" :: "n"(S - 1) : "memory");
    float4 v = ring[slot * blockDim.x + threadIdx.x];
    acc += v.x + v.y + v.z + v.w;
    long long j = i + S * stride;
    unsigned dst = (unsigned)__cvta_generic_to_shared(&ring[slot * blockDim.x + threadIdx.x]);
    if (j < n) asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" :: "r"(dst), "l"(a + j) : "memory");
    asm volatile("cp.async.commit_group;\n" ::: "memory");
    slot = slot + 1 == S ? 0 : slot + 1;
  }
  asm volatile("cp.async.wait_all;\n" ::: "memory");
  if (acc == 12345.f) out[0] = acc;
}
extern "C" __global__ void cpasync1(const float4* a, float* o, long long n) { cpa<1>(a, o, n); }
extern "C" __global__ void cpasync2(const float4* a, float* o, long long n) { cpa<2>(a, o, n); }
extern "C" __global__ void cpasync4(const float4* a, float* o, long long n) { cpa<4>(a, o, n); }
extern "C" __global__ void cpasync8(const float4* a, float* o, long long n) { cpa<8>(a, o, n); }

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
__device__ void bulk_issue(unsigned bar, unsigned dst, const float4* src, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" :: "r"(bar), "r"(bytes) : "memory");
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n"
               :: "r"(dst), "l"(src), "r"(bytes), "r"(bar) : "memory");
}
__device__ void bulk_wait(unsigned bar, unsigned phase) {
  unsigned done = 0;
  while (!done)
    asm volatile("{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(done) : "r"(bar), "r"(phase) : "memory");
}
#endif
template <int S> __device__ void bulk(const float4* __restrict__ a, float* out, long long n, int chunk) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
  extern __shared__ __align__(128) float4 ring[];  // S chunks
  __shared__ __align__(8) unsigned long long bars[S];
  const long long chunks = n / chunk;
  const unsigned bytes = (unsigned)chunk * 16u;
  if (threadIdx.x == 0) {
    for (int s = 0; s < S; ++s)
      asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" :: "r"((unsigned)__cvta_generic_to_shared(&bars[s]))
                   : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  if (threadIdx.x == 0)
    for (int s = 0; s < S; ++s) {
      long long c = blockIdx.x + (long long)s * gridDim.x;
      if (c < chunks)
        bulk_issue((unsigned)__cvta_generic_to_shared(&bars[s]),
                   (unsigned)__cvta_generic_to_shared(&ring[(long long)s * chunk]), a + c * chunk, bytes);
    }
  float acc = 0.f;
  int slot = 0;
  unsigned phase = 0;
  for (long long c = blockIdx.x; c < chunks; c += gridDim.x) {
    bulk_wait((unsigned)__cvta_generic_to_shared(&bars[slot]), phase);
    float4 v = ring[(long long)slot * chunk + threadIdx.x % chunk];
    acc += v.x + v.y + v.z + v.w;
    __syncthreads();  // every thread has read the stage before it is loaded again
    long long next = c + (long long)S * gridDim.x;
    if (threadIdx.x == 0 && next < chunks)
      bulk_issue((unsigned)__cvta_generic_to_shared(&bars[slot]),
                 (unsigned)__cvta_generic_to_shared(&ring[(long long)slot * chunk]), a + next * chunk, bytes);
    if (++slot == S) { slot = 0; phase ^= 1u; }
  }
  if (acc == 12345.f) out[0] = acc;
#endif
}
extern "C" __global__ void bulk1(const float4* a, float* o, long long n, int c) { bulk<1>(a, o, n, c); }
extern "C" __global__ void bulk2(const float4* a, float* o, long long n, int c) { bulk<2>(a, o, n, c); }
extern "C" __global__ void bulk4(const float4* a, float* o, long long n, int c) { bulk<4>(a, o, n, c); }
"""

LOAD_PATHS = f"""
import cupy as cp, statistics as st
{_HOLD}mod = cp.RawModule(code={LOAD_PATH_KERNELS!r}, options=("-std=c++17",))
dev = cp.cuda.Device(); at = dev.attributes; sms = at["MultiProcessorCount"]
smem_sm, smem_cta = at["MaxSharedMemoryPerMultiprocessor"], at["MaxSharedMemoryPerBlockOptin"]
a = cp.ones(1 << 30, dtype=cp.float32)  # 4 GiB, read as float4
n = a.size // 4; out = cp.zeros(1, cp.float32); e0, e1 = cp.cuda.Event(), cp.cuda.Event()
def rate(k, ctas, threads, args, smem):
    k.max_dynamic_shared_size_bytes = smem; t = []
    for _ in range(5):
        held(); e0.record(); k((sms * ctas,), (threads,), args, shared_mem=smem); e1.record(); e1.synchronize()
        t.append(cp.cuda.get_elapsed_time(e0, e1) * 1e-3)
    return round(a.nbytes / st.median(t) / 1e9)
print({_NAME}, "cc", at["ComputeCapabilityMajor"], at["ComputeCapabilityMinor"])
for stages in (1, 2, 4, 8):
    k = mod.get_function(f"cpasync{{stages}}")
    for threads in (128, 256, 512):
        smem = stages * threads * 16
        for ctas in (1, 2, 4):
            if smem > smem_cta or ctas * (smem + 1024) > smem_sm or ctas * threads > 2048:
                continue
            print("cp.async stages", stages, "threads", threads, "ctas_per_sm", ctas,
                  "inflight_kib_per_sm", ctas * smem / 1024, "GBps", rate(k, ctas, threads, (a, out, cp.int64(n)), smem))
if at["ComputeCapabilityMajor"] >= 9:
    for stages in (1, 2, 4):
        k = mod.get_function(f"bulk{{stages}}")
        for chunk_kib in (4, 8, 16, 32):
            smem = stages * chunk_kib * 1024
            for ctas in (1, 2):
                if smem > smem_cta - 1024 or ctas * (smem + 1024) > smem_sm:
                    continue
                print("bulk stages", stages, "chunk_kib", chunk_kib, "ctas_per_sm", ctas, "inflight_kib_per_sm",
                      ctas * smem / 1024, "GBps", rate(k, ctas, 128, (a, out, cp.int64(n), cp.int32(chunk_kib * 64)), smem))
"""

TWO_KERNELS_SOURCE = r"""
extern "C" __global__ void touch(float* out, int n) {  // each CTA writes and reads its n floats of dynamic smem
  extern __shared__ float s[];                            // (none at n = 0: no access past the allocation)
  for (int i = threadIdx.x; i < n; i += blockDim.x) s[i] = i;
  __syncthreads();
  if (threadIdx.x == 0) out[blockIdx.x] = n > 0 ? s[n - 1] : 0.f; }
"""

TWO_KERNELS = f"""
import cupy as cp, statistics as st
{_HOLD}dev = cp.cuda.Device(); sms = dev.attributes["MultiProcessorCount"]
touch = cp.RawKernel({TWO_KERNELS_SOURCE!r}, "touch")
out = cp.zeros(8 * sms, cp.float32); flush = cp.empty(2 * dev.attributes["L2CacheSize"], cp.uint8)
e0, e1 = cp.cuda.Event(), cp.cuda.Event()
big = (2 * sms, 36864)   # FlashInfer 0.0.1's decode partition kernel: 36,864 B of shared memory, a CTA per (chunk, head)
small = (32, 8704)       # its merge kernel (MergeStatesLargeNumIndexSetsKernel): 32 CTAs, 8,704 B
none = (32, 0)
def launch(kind):
    grid, smem = kind
    touch((grid,), (128,), (out, cp.int32(smem // 4)), shared_mem=smem)
def timed(kinds, cold):
    t = []
    for _ in range(100):
        if cold: flush.fill(1)
        held()  # the timed launches are enqueued while the GPU holds: back to back, as nvbench runs them
        e0.record()
        for k in kinds: launch(k)
        e1.record(); e1.synchronize(); t.append(cp.cuda.get_elapsed_time(e0, e1) * 1e3)
    return round(st.median(t), 2)
print({_NAME})
for name, kinds in (("big", [big]), ("big+small", [big, small]), ("big+none", [big, none]), ("big+big", [big, big]),
                    ("none", [none]), ("none+none", [none, none])):
    print(name, "cold_us", timed(kinds, True), "warm_us", timed(kinds, False))
"""

# The tail question: attnsim's own FA2-style kernel (validation/kernels/fa2.cu: 4 warps, 64 query rows, 64-key tiles,
# d = 128, 69,632 B of shared memory) on grids of j CTAs an SM for j = 1..8, every CTA the same work (one query
# block of 64 rows against 8,192 keys of one shared KV head, so K and V stay in L2 and the tiles are compute-bound).
# Up to the occupancy k the whole grid is one wave of j CTAs an SM; at k + 1 the last CTA of each SM runs alone.
FA2_SOURCE = kernel_source("fa2")

TAIL = f"""
import cupy as cp, statistics as st
{_HOLD}dev = cp.cuda.Device(); at = dev.attributes; sms = at["MultiProcessorCount"]
fa2 = cp.RawModule(code={FA2_SOURCE!r}, options=("-std=c++17",)).get_function("fa2_dense_d128_fp16")
smem = {fa2_smem_bytes(128)}; fa2.max_dynamic_shared_size_bytes = smem  # validation.attention.fa2_smem_bytes
rows, keys, d = {FA_BLOCK_Q}, 8192, 128  # one query block of fa2.cu (FA_BLOCK_Q rows)
k_, v_ = cp.zeros(2 * keys * d, cp.uint8), cp.zeros(2 * keys * d, cp.uint8)  # fp16 zeros, one KV head
top = 8 * sms; q = cp.zeros(2 * top * rows * d, cp.uint8); o = cp.zeros(2 * top * rows * d, cp.uint8)
z = cp.zeros(1, cp.int32); zb = cp.zeros(1, cp.uint8); e0, e1 = cp.cuda.Event(), cp.cuda.Event()
def timed(heads):
    args = (q, k_, v_, o, cp.int32(rows), cp.int32(keys), cp.int32(heads), cp.int32(1), cp.float32(0.1275),
            cp.int32(0), z, z, z, zb)
    t = []
    for _ in range(20):
        held(); e0.record(); fa2((1, heads, 1), (128,), args, shared_mem=smem); e1.record(); e1.synchronize()
        t.append(cp.cuda.get_elapsed_time(e0, e1) * 1e3)
    return round(st.median(t), 2)
print({_NAME}, "sms", sms, "smem_per_cta", smem, "smem_per_sm", at["MaxSharedMemoryPerMultiprocessor"])
for j in range(1, 9):
    print("ctas_per_sm", j, "us", timed(j * sms))
"""

# The per-SM L2 question: k CTAs, one an SM (each asks for more than half an SM's shared memory), read one
# L2-resident buffer over and over with 16-byte ld.global.cg loads (L2, not L1), 4 in flight a thread; each CTA times
# its own reads with clock64, so the rate comes out in bytes a clock an SM whatever clock the SMs ran at. k = 1
# gives what one SM's path to L2 delivers alone; k = all SMs the chip's L2 rate, as gpu-benches' gpu-l2-cache.
L2_SM_SOURCE = r"""
extern "C" __global__ void l2read(const float4* __restrict__ a, long long n, int reps, float* out,
                                  long long* cycles) {
  extern __shared__ float pad[];  // asked for only to keep a second CTA off this SM
  float acc = 0.f;
  __syncthreads();
  const long long t0 = clock64();
  for (int r = 0; r < reps; ++r)
    for (long long i = threadIdx.x; i < n; i += 4LL * blockDim.x) {
      float4 v[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const long long j = i + (long long)u * blockDim.x;
        v[u] = j < n ? __ldcg(a + j) : make_float4(0.f, 0.f, 0.f, 0.f);
      }
#pragma unroll
      for (int u = 0; u < 4; ++u) acc += v[u].x + v[u].y + v[u].z + v[u].w;
    }
  __syncthreads();
  const long long t1 = clock64();
  if (threadIdx.x == 0) cycles[blockIdx.x] = t1 - t0;
  if (acc == 12345.f) out[0] = acc + pad[0];
}
"""

L2_SM = f"""
import cupy as cp, statistics as st
{_HOLD}dev = cp.cuda.Device(); at = dev.attributes; sms = at["MultiProcessorCount"]
k = cp.RawKernel({L2_SM_SOURCE!r}, "l2read")
smem = at["MaxSharedMemoryPerMultiprocessor"] // 2 + 1024  # more than half an SM's: one CTA an SM
k.max_dynamic_shared_size_bytes = smem
a = cp.ones(1 << 20, dtype=cp.float32)  # 4 MiB, read as float4: L2-resident on every GPU attnsim models
n = a.size // 4; reps = 64; out = cp.zeros(1, cp.float32); cycles = cp.zeros(sms, cp.int64)
e0, e1 = cp.cuda.Event(), cp.cuda.Event()
print({_NAME}, "sms", sms, "l2_bytes", at["L2CacheSize"])
for threads in (256, 512, 1024):
    for ctas in sorted({{1, 2, 4, 8, 16, 32, 64, sms // 2, sms}}):
        if ctas > sms:
            continue
        k((ctas,), (threads,), (a, cp.int64(n), cp.int32(1), out, cycles), shared_mem=smem)  # warm L2
        t, per_clk = [], []
        for _ in range(5):
            held(); e0.record()
            k((ctas,), (threads,), (a, cp.int64(n), cp.int32(reps), out, cycles), shared_mem=smem)
            e1.record(); e1.synchronize(); t.append(cp.cuda.get_elapsed_time(e0, e1) * 1e-3)
            c = [int(x) for x in cycles.get()[:ctas]]
            per_clk.append(a.nbytes * reps / max(st.median(c), 1))
        print("threads", threads, "ctas", ctas, "bytes_per_clk_per_sm", round(st.median(per_clk), 1),
              "chip_GBps", round(ctas * a.nbytes * reps / st.median(t) / 1e9))
"""

QUESTIONS = (
    Question("short_call", "one event-timed call, flushed and not, against the same kernel back to back and "
             "launched onto an idle GPU (RUNNING.md, the short-call question)", SHORT_CALL, cuda=(HOLD_SOURCE,)),
    Question("dirty_chain", "dependent loads after a dirty flush, a clean one and none (the dirty-L2 chain "
             "question)", DIRTY_CHAIN, cuda=(CHASE_SOURCE, HOLD_SOURCE)),
    Question("inflight", "HBM read rate against bytes in flight an SM (the bytes-in-flight question)", INFLIGHT, 120,
             cuda=(INFLIGHT_KERNELS, HOLD_SOURCE)),
    Question("load_paths", "HBM read rate of cp.async (FA2's, FlashInfer's loads) and of TMA bulk copies (FA3's, FA4's) "
             "against bytes in flight an SM (the load-path question)", LOAD_PATHS, 180,
             cuda=(LOAD_PATH_KERNELS, HOLD_SOURCE)),
    Question("two_kernels", "what a second, dependent kernel adds to one event-timed call, cold and warm, with and "
             "without a change of shared-memory size (the split-call question)", TWO_KERNELS,
             cuda=(TWO_KERNELS_SOURCE, HOLD_SOURCE)),
    Question("l2_sm", "L2 read rate an SM against how many SMs read (one CTA an SM, 1 to all): what one SM's path "
             "to L2 delivers when most SMs idle (the per-SM L2 question)", L2_SM, 120, cuda=(L2_SM_SOURCE, HOLD_SOURCE)),
    Question("tail", "an FA2-style kernel's time on grids of 1 to 8 equal CTAs an SM: whether the CTAs left alone "
             "on their SMs after the last full wave run at a lone CTA's rate (the tail question)", TAIL,
             cuda=(FA2_SOURCE, HOLD_SOURCE)),
)


def by_name(names: str | None) -> list[Question]:
    """The questions named (comma list), in QUESTIONS order, or all; ValueError naming one that is none."""
    if not names:
        return list(QUESTIONS)
    wanted = [n.strip() for n in names.split(",")]
    known = {q.name for q in QUESTIONS}
    bad = [n for n in wanted if n not in known]
    if bad or not all(wanted):
        raise ValueError(f"unknown question {(bad or [''])[0]!r}: allowed {', '.join(sorted(known))}")
    return [q for q in QUESTIONS if q.name in wanted]


def _have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _smi() -> dict | None:
    """The device as nvidia-smi prints it (name, driver, SM clock now and at most, power), None without it."""
    fields = "name,driver_version,clocks.sm,clocks.max.sm,power.draw,power.limit"
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30, check=True).stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None
    return dict(zip(fields.split(","), (v.strip() for v in out.split(","))))


def run(questions: list[Question], out: Path) -> dict:
    """Each question in its own process; the record (also OUT/questions.json) holds how each ran and what it printed."""
    import cupy

    out.mkdir(parents=True, exist_ok=True)
    record = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "device": _smi(),
              "cupy": cupy.__version__, "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
              "cuda_driver": cupy.cuda.runtime.driverGetVersion(), "questions": {}}
    for q in questions:
        missing = [m for m in q.needs if not _have(m)]
        if missing:
            record["questions"][q.name] = {"skipped": f"needs {', '.join(missing)}"}
            continue
        start = time.monotonic()
        try:
            done = subprocess.run([sys.executable, "-c", q.source], capture_output=True, text=True,
                                  timeout=q.timeout_s)
            rc, output = done.returncode, done.stdout + done.stderr
        except subprocess.TimeoutExpired as err:  # what it printed before the timeout (bytes, whatever text=)
            printed = err.stdout or b""
            rc, output = "timeout", printed.decode(errors="replace") if isinstance(printed, bytes) else printed
        record["questions"][q.name] = {"exit": rc, "seconds": round(time.monotonic() - start, 1), "output": output}
        print(f"{q.name}: exit {rc} in {record['questions'][q.name]['seconds']} s", file=sys.stderr)
        _save(record, out)  # after each question: a call stopped later keeps these
    _save(record, out)
    return record


def _save(record: dict, out: Path) -> None:
    (out / "questions.json").write_text(json.dumps(record, indent=1) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="directory for the outputs (default: here)")
    parser.add_argument("--only", default=None, help="comma list of questions (default: all; --list names them)")
    parser.add_argument("--list", action="store_true", help="name each question and what it decides, and stop")
    args = parser.parse_args(argv)
    try:
        questions = by_name(args.only)
    except ValueError as err:
        print(f"questions: {err}", file=sys.stderr)
        return 2
    if args.list:
        for q in questions:
            print(f"{q.name:<12} {q.what}" + (f" (needs {', '.join(q.needs)})" if q.needs else ""))
        return 0
    from einsum_cascades.errors import UserError
    from validation.gpu import require_gpu

    try:
        require_gpu()
    except UserError as err:
        print(f"questions: {err}", file=sys.stderr)
        return 2
    run(questions, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

// A replica of PyTorch's non-vectorized copy of a strided tensor, to count the SASS it issues per element
// (simulator/torch_copy.py, COPY_INSTRUCTIONS). What it replicates, from PyTorch's source:
//   aten/src/ATen/native/cuda/CUDALoops.cuh  gpu_kernel_impl_nocast -> launch_legacy_kernel<128, 4> (elementwise_kernel)
//   aten/src/ATen/cuda/detail/OffsetCalculator.cuh  OffsetCalculator<NARGS>::get (MAX_DIMS 25, the dim == dims test)
//   aten/src/ATen/cuda/detail/IntegerDivider.cuh  IntDivider<unsigned int>::divmod (__umulhi, add, shift, mul-sub)
// with the copy lambda reduced to its load and store of one 2-byte element.
//
// Count (2026-12-07, nvcc 13.0; cuobjdump 13.5 from PyPI's nvidia-cuda-cuobjdump wheel):
//   nvcc -O3 -arch=sm_90a -cubin -o copy.cubin torch_copy_replica.cu && cuobjdump -sass copy.cubin
// then read one element's path: the index test, the dims test, each dimension's block (12 instructions on sm_90a
// and sm_100a, 9 on sm_80, where IMAD reads the constant bank), and the load/store tail: 18 + 12 a dimension on
// sm_90a / sm_100a, 15 + 9 on sm_80. Each element's LDG follows the previous element's STG (the pointers may alias).
#include <cuda_fp16.h>
#include <cstdint>

struct IntDivider {
  unsigned int divisor, m1, shift;
  __device__ inline unsigned int div(unsigned int n) const { unsigned int t = __umulhi(n, m1); return (t + n) >> shift; }
};

template <int N> struct Array { unsigned int d[N]; };
constexpr int MAX_DIMS = 25;

struct OffsetCalculator2 {
  int dims;
  IntDivider sizes_[MAX_DIMS];
  unsigned int strides_[MAX_DIMS][2];
  __device__ Array<2> get(unsigned int linear_idx) const {
    Array<2> offsets;
    offsets.d[0] = 0;
    offsets.d[1] = 0;
#pragma unroll
    for (int dim = 0; dim < MAX_DIMS; ++dim) {
      if (dim == dims) break;
      unsigned int q = sizes_[dim].div(linear_idx);
      unsigned int mod = linear_idx - q * sizes_[dim].divisor;
      linear_idx = q;
#pragma unroll
      for (int arg = 0; arg < 2; arg++) offsets.d[arg] += mod * strides_[dim][arg];
    }
    return offsets;
  }
};

template <int nt, int vt, typename func_t>
__global__ void __launch_bounds__(nt, 4) elementwise_kernel(int N, func_t f) {
  int tid = threadIdx.x;
  int nv = nt * vt;
  int idx = nv * blockIdx.x + tid;
#pragma unroll
  for (int i = 0; i < vt; i++) {
    if (idx < N) {
      f(idx);
      idx += nt;
    }
  }
}

struct CopyFn {
  OffsetCalculator2 oc;
  char* out;
  const char* in;
  __device__ void operator()(int idx) const {
    auto o = oc.get(idx);
    *(__half*)(out + o.d[0]) = *(const __half*)(in + o.d[1]);
  }
};

template __global__ void elementwise_kernel<128, 4, CopyFn>(int, CopyFn);

// The timer's hold (validation/harness.py Timer.once), in a file of its own so that timing never depends on the
// other kernel files compiling: one thread spins for `cycles` SM clocks, so that the host queues the timed call
// behind it and the CUDA events time the GPU, not the host's launch latency (nvbench's blocking kernel). It needs
// nothing from common.cuh, so validation/questions.py hands this very text to NVRTC too.
extern "C" __global__ void hold(long long cycles) {
    const long long start = clock64();
    while (clock64() - start < cycles) {
    }
}

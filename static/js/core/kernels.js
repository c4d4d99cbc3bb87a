// The two matrix products a fully connected layer's training needs, with two implementations of one interface:
//
//   nt(a, b, c, M, N, K, bias)   C (M, N) = A (M, K) B^T, B (N, K): the forward pass, x W^T + b
//   nn(a, b, c, M, N, K)         C (M, N) = A (M, K) B,   B (K, N): dx = dy W, and dW = dy^T x given dy^T
//
// javascriptKernel() runs everywhere (float64 sums, see matmul.js). wasmKernel(module) runs static/linear.wasm, the
// page decoder's WebAssembly SIMD kernel (y = x W + b over W packed as (N / 8, K, 8) blocks, float32 sums like
// PyTorch's): each call copies A into the module's memory, packs B and pads M to a multiple of 4 and N of 8 with
// zeros, which costs O(MK + NK + MN) beside the product's O(MNK).

import { matmulNT, transpose } from "./matmul.js";

// W (rows, cols) row-major into `heap` at `at` as static/linear.wasm reads it: (rows / 8, width, 8) blocks of 8
// outputs, each column's 8 weights together; width >= cols is the kernel's input width (padded by the decoder), and
// the padding is left as it is (zeros)
export function packBlocks(src, rows, cols, heap, at, width = cols) {
  for (let o = 0; o < rows; o++) {
    const block = at + (o >> 3) * width * 8 + (o & 7);
    for (let i = 0; i < cols; i++) heap[block + i * 8] = src[o * cols + i];
  }
}

export function javascriptKernel() {
  let scratch = new Float32Array(0);
  return {
    name: "JavaScript",
    nt: matmulNT,
    nn(a, b, c, M, N, K) {
      if (scratch.length < N * K) scratch = new Float32Array(N * K);
      const bT = scratch.subarray(0, N * K);
      transpose(b, bT, K, N);
      matmulNT(a, bT, c, M, N, K);
    },
  };
}

// module: a compiled static/linear.wasm (new WebAssembly.Module(bytes)); null where the runtime lacks SIMD
export function wasmKernel(module) {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const { linear } = new WebAssembly.Instance(module, { env: { memory } }).exports;
  let heap = new Float32Array(memory.buffer);

  // b (N, K) when transposed, else (K, N), is written as blocks of 8 outputs: (N / 8, K, 8), reading it in order
  function product(a, b, c, M, N, K, bias, transposed) {
    const Mp = Math.ceil(M / 4) * 4, Np = Math.ceil(N / 8) * 8;
    const x = 0, w = Mp * K, bb = w + Np * K, y = bb + Np, end = y + Mp * Np;
    if (heap.length < end) {
      memory.grow(Math.ceil((end * 4 - memory.buffer.byteLength) / 65536));
      heap = new Float32Array(memory.buffer);
    }
    heap.set(a.subarray(0, M * K), x);
    heap.fill(0, x + M * K, w);
    if (Np !== N) heap.fill(0, w, bb);
    if (transposed) {
      packBlocks(b, N, K, heap, w);
    } else {
      for (let k = 0; k < K; k++) {
        const row = k * N;
        let n = 0, at = w + k * 8;
        for (; n + 8 <= N; n += 8, at += K * 8) {
          heap[at] = b[row + n]; heap[at + 1] = b[row + n + 1]; heap[at + 2] = b[row + n + 2];
          heap[at + 3] = b[row + n + 3]; heap[at + 4] = b[row + n + 4]; heap[at + 5] = b[row + n + 5];
          heap[at + 6] = b[row + n + 6]; heap[at + 7] = b[row + n + 7];
        }
        for (let j = 0; n + j < N; j++) heap[at + j] = b[row + n + j];
      }
    }
    heap.fill(0, bb, y);
    if (bias !== null) heap.set(bias.subarray(0, N), bb);
    linear(x * 4, w * 4, bb * 4, y * 4, Mp, K, Np);
    if (Np === N) c.set(heap.subarray(y, y + M * N));
    else for (let m = 0; m < M; m++) c.set(heap.subarray(y + m * Np, y + m * Np + N), m * N);
  }

  return {
    name: "WebAssembly SIMD",
    nt: (a, b, c, M, N, K, bias = null) => product(a, b, c, M, N, K, bias, true),
    nn: (a, b, c, M, N, K) => product(a, b, c, M, N, K, null, false),
  };
}

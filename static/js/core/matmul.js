// The products of a fully connected layer's forward and backward passes, in plain JavaScript.
//
// All three are one kernel, C = A B^T over rows of A and B (both row-major, contiguous along k): the forward pass
// y = x W^T, the input gradient dx = dy W = dy (W^T)^T and the weight gradient dW = dy^T x = (dy^T) (x^T)^T, once
// the caller has transposed what needs it. Reading both operands along k keeps every inner loop sequential, and
// sums run in float64 (JavaScript's numbers) before the float32 store, so each element is at least as exact as
// PyTorch's float32 product.

// C (M, N) = A (M, K) B (N, K)^T, plus bias (N,) when given. A 2 x 2 tile of C per pass over k: four loads feed
// four multiply-adds, half the loads of one dot product at a time.
export function matmulNT(a, b, c, M, N, K, bias = null) {
  let m = 0;
  for (; m + 1 < M; m += 2) {
    const a0 = m * K, a1 = a0 + K;
    let n = 0;
    for (; n + 1 < N; n += 2) {
      const b0 = n * K, b1 = b0 + K;
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0;
      for (let k = 0; k < K; k++) {
        const x0 = a[a0 + k], x1 = a[a1 + k], w0 = b[b0 + k], w1 = b[b1 + k];
        s00 += x0 * w0; s01 += x0 * w1; s10 += x1 * w0; s11 += x1 * w1;
      }
      if (bias !== null) { s00 += bias[n]; s01 += bias[n + 1]; s10 += bias[n]; s11 += bias[n + 1]; }
      c[m * N + n] = s00; c[m * N + n + 1] = s01; c[(m + 1) * N + n] = s10; c[(m + 1) * N + n + 1] = s11;
    }
    if (n < N) {
      c[m * N + n] = dot(a, a0, b, n * K, K) + (bias !== null ? bias[n] : 0);
      c[(m + 1) * N + n] = dot(a, a1, b, n * K, K) + (bias !== null ? bias[n] : 0);
    }
  }
  if (m < M) {
    for (let n = 0; n < N; n++) c[m * N + n] = dot(a, m * K, b, n * K, K) + (bias !== null ? bias[n] : 0);
  }
}

function dot(a, i, b, j, K) {
  let s = 0;
  for (let k = 0; k < K; k++) s += a[i + k] * b[j + k];
  return s;
}

// t (cols, rows) = x (rows, cols)^T
export function transpose(x, t, rows, cols) {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) t[c * rows + r] = x[base + c];
  }
}

// Dequantisation of a model's compact weights, as vae/snapshots.py's decode_tensor computes them for the server:
// the training replay stores each snapshot's decoder this way, and so does the page bundle. DOM-free.
//
// Each tensor has an encoding: int8 w[r][c] = q[r][c] * scale[r][floor(c / g)], g = ceil(cols / groups), one float32
// product (exact in float64, then rounded once by the Float32Array: numpy's float32 product); float16, widened
// exactly by readSafetensors; float32 as stored.

const DTYPES = { int8: "I8", float16: "F16", float32: "F32" };

// tensors: readSafetensors' {name: {shape, dtype, data}}; prefix: the stored names' prefix ("s3." for snapshot 3);
// encodings: {name: "int8" | "float16" | "float32"} -> {name: float32 {shape, dtype, data}}
export function dequantize(tensors, prefix, encodings) {
  const weights = {};
  for (const [name, encoding] of Object.entries(encodings)) {
    const stored = `${prefix}${name}`, t = tensors[stored];
    if (!t) throw new Error(`the file has no tensor ${stored}`);
    if (!DTYPES[encoding]) throw new Error(`${stored}: unknown encoding ${encoding}`);
    if (t.dtype !== DTYPES[encoding]) throw new Error(`${stored} is ${t.dtype}; its record says ${encoding}`);
    if (encoding !== "int8") { weights[name] = t; continue; }
    const s = tensors[`${stored}.scale`], [rows, cols] = t.shape;
    if (!s || s.dtype !== "F32" || s.shape[0] !== rows) throw new Error(`${stored} has no matching scales`);
    const groups = s.shape[1], g = Math.ceil(cols / groups), q = t.data, scale = s.data;
    const w = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) w[r * cols + c] = q[r * cols + c] * scale[r * groups + Math.floor(c / g)];
    }
    weights[name] = { shape: t.shape, dtype: "F32", data: w };
  }
  return weights;
}

// Reading what tests/test_node_engine.py wrote for the Node tests: float32 safetensors files in the folder that
// $ENGINE_FIXTURES names.

import { readFileSync } from "node:fs";
import { join } from "node:path";

export function fixturesFolder() {
  const folder = process.env.ENGINE_FIXTURES;
  if (!folder) throw new Error("ENGINE_FIXTURES is unset: run python -m pytest tests/test_node_engine.py");
  return folder;
}

// a float32 safetensors file -> {metadata, tensors: {name: {shape, data: Float32Array}}}
export function readFloat32Safetensors(...path) {
  const bytes = readFileSync(join(...path));
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8"));
  const tensors = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: [a, b] } = info;
    if (dtype !== "F32") throw new Error(`${name} is ${dtype}; the fixtures are float32`);
    const start = bytes.byteOffset + 8 + headerLength;
    tensors[name] = { shape, data: new Float32Array(bytes.buffer.slice(start + a, start + b)) };
  }
  return { metadata: header.__metadata__ ?? {}, tensors };
}

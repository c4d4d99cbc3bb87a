// What tests/test_node_engine.py wrote for the Node tests: float32 safetensors files in the folder that
// $ENGINE_FIXTURES names.

import { readFileSync } from "node:fs";
import { join } from "node:path";

import { readSafetensors } from "../../static/js/core/safetensors.js";

export function fixturesFolder() {
  const folder = process.env.ENGINE_FIXTURES;
  if (!folder) throw new Error("ENGINE_FIXTURES is unset: run python -m pytest tests/test_node_engine.py");
  return folder;
}

// join(...path) -> {metadata, tensors: {name: {shape, data: Float32Array}}}
export function readFixture(...path) {
  return readSafetensors(readFileSync(join(...path)));
}

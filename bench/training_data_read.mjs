// How soon the page can train on its training data: the time static/js/core/trainingdata.js takes, under Node, to
// hand over the test chunk and the first training chunk, and to read the whole file (no network: the bytes are in
// memory, so this is the decoding's share of "training starts within 5 s"). Medians of --runs (default 5).
//   node bench/training_data_read.mjs FILE [runs]   # FILE: what webapp/training_data.py's training_data_path wrote

import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

import { readTrainingData, trainingChunks } from "../static/js/core/trainingdata.js";

const [file, runs = "5"] = process.argv.slice(2);
if (!file) throw new Error("usage: node bench/training_data_read.mjs FILE [runs]");
const bytes = new Uint8Array(readFileSync(file));
const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
const first = [], whole = [];
for (let run = 0; run < Number(runs); run++) {
  let start = performance.now();
  for await (const part of trainingChunks(new Blob([bytes]).stream())) {
    if (part.split === "train") break; // the test chunk and the first training chunk have been decoded
  }
  first.push(performance.now() - start);
  start = performance.now();
  const data = await readTrainingData(bytes);
  whole.push(performance.now() - start);
  if (run === 0) {
    console.log(`${data.dataset}: ${bytes.length} bytes, ${data.n} training and ${data.testN} test images`);
  }
}
console.log(`test + first training chunk: ${median(first).toFixed(0)} ms; `
  + `the whole file: ${median(whole).toFixed(0)} ms (medians of ${runs}, Node ${process.version})`);

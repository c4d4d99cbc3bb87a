// The page's training data reader (static/js/core/trainingdata.js) on a file webapp/training_data.py wrote from the
// real IDX files (MNIST's, every image exact; Fashion-MNIST's, the training images at their 4-bit grey level, within 8
// of the original): every image and label against the IDX files, the first chunks handed over before the rest of the
// file has arrived (the data set growing in place as the rest arrives), and damaged, truncated or foreign files refused
// with a message.
// Run: python -m pytest tests/test_training_data.py   (it writes the file, then runs node --test on this one)

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";

import {
  forgetTrainingData, openTrainingData, readTrainingData, receiveTrainingData, trainingChunks,
} from "../../static/js/core/trainingdata.js";
import { chunkEnd, headerOf, heldBack } from "./held-file.mjs";

const need = (name) => {
  if (!process.env[name]) throw new Error(`${name} is not set: run python -m pytest tests/test_training_data.py`);
  return process.env[name];
};
const file = new Uint8Array(readFileSync(need("TRAINING_DATA_FILE")));
const folder = need("TRAINING_DATA_IDX"), indices = need("TRAINING_DATA_INDICES");

// an IDX file's payload after its header (gzip or raw, as the library reads both)
function idx(name) {
  let bytes;
  try {
    bytes = gunzipSync(readFileSync(join(folder, `${name}.gz`)));
  } catch {
    bytes = readFileSync(join(folder, name));
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset + 4 + 4 * bytes[3], bytes.length - 4 - 4 * bytes[3]);
}
const int32s = (name) => new Int32Array(new Uint8Array(readFileSync(join(indices, name))).buffer);
const PIXELS = 784;

test("every image and label is the IDX files' (exact, or at its 4-bit grey level where the file says so)", async () => {
  const data = await readTrainingData(file.buffer);
  const expected = JSON.parse(readFileSync(join(indices, "expected.json"), "utf8"));
  assert.equal(data.dataset, expected.dataset);
  assert.deepEqual(data.classNames, expected.class_names);
  assert.equal(data.n, expected.train_n);
  assert.equal(data.images.length, data.n * PIXELS);
  const trainImages = idx("train-images-idx3-ubyte"), trainLabels = idx("train-labels-idx1-ubyte");
  const order = int32s("order.i32");
  const quantised = (grey) => (expected.bits === 4 ? 17 * Math.round(grey / 17) : grey);
  let worst = 0;
  for (let i = 0; i < data.n; i++) {
    const k = order[i];
    assert.equal(data.labels[i], trainLabels[k], `label of training image ${i} (IDX ${k})`);
    for (let p = 0; p < PIXELS; p++) {
      const got = data.images[i * PIXELS + p], grey = trainImages[k * PIXELS + p];
      if (got !== quantised(grey)) assert.fail(`training image ${i} pixel ${p}: ${got} for grey ${grey}`);
      worst = Math.max(worst, Math.abs(got - grey));
    }
  }
  assert.equal(worst, expected.bits === 4 ? 8 : 0); // 4 bits: half a step, reached somewhere in 55,000 images
  const testImages = idx("t10k-images-idx3-ubyte"), testLabels = idx("t10k-labels-idx1-ubyte");
  const subset = int32s("test.i32");
  assert.equal(data.testN, 2000);
  assert.equal(data.testImages.length, 2000 * PIXELS);
  for (let i = 0; i < data.testN; i++) {
    const k = subset[i];
    assert.equal(data.testLabels[i], testLabels[k]);
    assert.deepEqual(data.testImages.subarray(i * PIXELS, (i + 1) * PIXELS),
      testImages.subarray(k * PIXELS, (k + 1) * PIXELS), `test image ${i} (IDX ${k})`);
  }
});

test("the test set and the first training chunk are handed over before the rest of the file arrives", async () => {
  const headerLength = new DataView(file.buffer).getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(file.subarray(12, 12 + headerLength)));
  const [testChunk, firstTrain] = header.chunks;
  const early = 12 + headerLength + testChunk.bytes + firstTrain.bytes;
  let release;
  const rest = new Promise((resolve) => { release = resolve; });
  const stream = new ReadableStream({
    async start(controller) { // the first part at once, the rest only when the test says so
      controller.enqueue(file.slice(0, early));
      await rest;
      controller.enqueue(file.slice(early));
      controller.close();
    },
  });
  const seen = [];
  for await (const part of trainingChunks(stream)) {
    seen.push(part.header ? "header" : `${part.split} ${part.n}`);
    if (seen.length === 3) {
      assert.deepEqual(seen, ["header", "test 2000", `train ${firstTrain.n}`]);
      assert.equal(part.images.length, firstTrain.n * PIXELS);
      release(); // only now does the rest of the file arrive
    }
  }
  assert.equal(seen.length, 2 + header.chunks.length - 1);
});

test("the data set is handed over with its first training chunk, grows as chunks arrive, and a damaged rest is told",
  async () => {
    const { header } = headerOf(file), early = chunkEnd(file, 1); // the test chunk and the first training chunk
    const delivery = (piece, missing = 0) => heldBack(file, early, { piece, missing });
    const whole = await readTrainingData(file);
    const first = delivery(300_000), { data, complete } = await receiveTrainingData(first.stream);
    assert.equal(data.arrived, header.chunks[1].n);
    assert.equal(data.n, whole.n);
    assert.deepEqual(data.testImages, whole.testImages);
    assert.deepEqual(data.images.subarray(0, data.arrived * PIXELS), whole.images.subarray(0, data.arrived * PIXELS));
    assert.ok(data.images.subarray(data.arrived * PIXELS).every((grey) => grey === 0), "nothing beyond what arrived");
    const counts = [];
    const watch = setInterval(() => counts.push(data.arrived), 1);
    first.release();
    assert.equal(await complete, data);
    clearInterval(watch);
    assert.equal(data.arrived, whole.n);
    assert.ok(new Set(counts).size > 2, `the count grows chunk by chunk: ${[...new Set(counts)]}`);
    assert.deepEqual(data.images, whole.images);
    assert.deepEqual(data.labels, whole.labels);
    const short = delivery(1_000_000, 1000), cut = await receiveTrainingData(short.stream);
    short.release();
    await assert.rejects(cut.complete, /truncated/);
    assert.ok(cut.data.arrived < whole.n);
  });

test("a damaged, truncated or foreign file is refused with a message", async () => {
  const refused = async (bytes, pattern) => assert.rejects(readTrainingData(bytes), pattern);
  await refused(file.slice(0, file.length - 1000), /truncated/);
  await refused(file.slice(0, 100), /header|truncated/);
  const flipped = file.slice();
  flipped[file.length - 5000] ^= 0x5a; // inside the last chunk's compressed data
  await refused(flipped, /damaged/);
  const longer = new Uint8Array(file.length + 3);
  longer.set(file);
  await refused(longer, /bytes after its last chunk/);
  await refused(new TextEncoder().encode("<html>not found</html>"), /not training data/);
  const badHeader = file.slice();
  badHeader[12] = 0x7d; // the JSON header opens with "}"
  await refused(badHeader, /damaged|not JSON/);
});

// Cache Storage as the browser keeps it, in memory: {open(name) -> {match, put, keys, delete}}
function memoryCaches() {
  const entries = new Map();
  const cache = {
    match: async (url) => (entries.has(url) ? new Response(entries.get(url)) : undefined),
    put: async (url, response) => { entries.set(url, new Uint8Array(await response.arrayBuffer())); },
    keys: async () => [...entries.keys()].map((url) => ({ url })),
    delete: async (url) => entries.delete(url),
  };
  return { entries, open: async () => cache };
}

test("a file fetched once is kept, read from the cache next time, and replaces the data set's older file", async () => {
  const caches = memoryCaches();
  const url = "http://127.0.0.1/gradio_api/file=/x/training-data-mnist-0123456789ab.bin";
  const older = url.replace("0123456789ab", "ba9876543210");
  const fashion = url.replace("mnist-0123456789ab", "fashion-mnist-0123456789ab");
  caches.entries.set(older, new Uint8Array(3));
  caches.entries.set(fashion, new Uint8Array(3));
  let fetched = 0, held = null;
  const fetcher = async () => {
    fetched += 1;
    held = heldBack(file, chunkEnd(file, 1)); // the header, the test chunk and one training chunk, then the rest
    return new Response(held.stream);
  };
  const first = await openTrainingData(url, { fetcher, cacheStorage: caches });
  assert.equal(first.fromCache, false);
  let stored = null;
  first.kept.then((value) => { stored = value; });
  const parts = [];
  for await (const part of trainingChunks(first.response.body)) {
    parts.push(part.header ? "header" : part.split);
    if (parts.length === 3) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(stored, null, "not kept while the rest of the file has not arrived");
      assert.equal(caches.entries.has(url), false);
      held.release();
    }
  }
  assert.deepEqual(parts.slice(0, 3), ["header", "test", "train"]);
  assert.equal(await first.kept, true);
  assert.deepEqual(caches.entries.get(url), file, "kept once kept resolves: the whole file");
  for (let wait = 0; wait < 500 && caches.entries.has(older); wait++) {
    await new Promise((resolve) => setTimeout(resolve, 10)); // the older file is dropped after
  }
  assert.ok(!caches.entries.has(older), "the older file dropped");
  const again = await openTrainingData(url, { fetcher, cacheStorage: caches });
  assert.equal(again.fromCache, true);
  assert.equal(await again.kept, true);
  assert.equal(fetched, 1);
  const data = await readTrainingData(await again.response.arrayBuffer());
  assert.equal(data.testN, 2000);
  assert.ok(caches.entries.has(fashion)); // another data set's file stays
  await forgetTrainingData(url, { cacheStorage: caches });
  assert.equal(caches.entries.has(url), false);
  // a store that fails: nothing kept, and kept says so
  const refuse = async () => { throw new Error("quota"); };
  const full = { ...caches, open: async () => ({ ...(await caches.open()), put: refuse }) };
  const refused = await openTrainingData(url, { fetcher, cacheStorage: full });
  held.release();
  await refused.response.arrayBuffer();
  assert.equal(await refused.kept, false);
  assert.equal(caches.entries.has(url), false);
  const missing = async () => new Response("not found", { status: 404 });
  await assert.rejects(openTrainingData(url, { fetcher: missing, cacheStorage: caches }), /HTTP 404/);
});

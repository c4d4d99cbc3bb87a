// The page's DOM-free core (static/js/core/) as the page runs it, against fixtures tests/test_node.py writes with
// PyTorch's outputs: decoded pixels within 1e-5 on the WebAssembly SIMD kernel and in plain JavaScript, for the spec's
// mlp, a resmlp and a replay's int8 and float16 snapshots; damaged and truncated files refused with their message; the
// latent map's transform against positions computed from its limit and margins.
// Run: python -m pytest tests/test_node.py   (it writes the fixtures, then runs node --test on this folder)

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { PAGE_FORMAT, REPLAY_FORMAT, pageModel, replayModel } from "../../static/js/core/bundles.js";
import { decodeCached, viewPoints } from "../../static/js/core/cellcache.js";
import { AskedViews, classesOf, describePlace, mapTransform } from "../../static/js/core/latent.js";
import { compileKernel } from "../../static/js/core/program.js";
import { checkFormat, readSafetensors } from "../../static/js/core/safetensors.js";

const folder = process.env.VAE_NODE_FIXTURES;
if (!folder) throw new Error("VAE_NODE_FIXTURES is not set: run these through python -m pytest tests/test_node.py");
const index = JSON.parse(readFileSync(join(folder, "fixtures.json"), "utf8"));
const expected = readSafetensors(readFileSync(join(folder, "expected.safetensors"))).tensors;
const file = (name) => readFileSync(join(folder, name));
const kernel = await compileKernel(readFileSync(new URL("../../static/linear.wasm", import.meta.url)));
const MAX_ROWS = 101;

// the largest |a - b| over two float arrays of the same length
function maxDifference(a, b) {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

function checkDecoder(decoder, key) {
  const points = expected[`${key}.points`], want = expected[`${key}.probabilities`];
  const rows = points.shape[0];
  const got = decoder.probabilities(points.data, rows);
  assert.ok(maxDifference(got, want.data) <= 1e-5, `${key} (${decoder.backend}): ${maxDifference(got, want.data)}`);
  const pixels = decoder.decode(points.data, rows); // round(255 p), as the page paints them
  for (let i = 0; i < pixels.length; i++) assert.ok(Math.abs(pixels[i] - 255 * want.data[i]) <= 0.5 + 1e-3);
}

test("the WebAssembly kernel compiles here, as in a browser with SIMD", () => {
  assert.ok(kernel, "static/linear.wasm did not validate");
});

for (const arch of ["mlp", "resmlp"]) {
  for (const backend of ["WebAssembly SIMD", "JavaScript"]) {
    test(`the ${arch} page bundle decodes PyTorch's pixels within 1e-5 (${backend})`, () => {
      const read = checkFormat(readSafetensors(file(index.bundles[arch])), PAGE_FORMAT, arch);
      const model = pageModel(read, { maxRows: MAX_ROWS, kernel: backend === "JavaScript" ? null : kernel });
      assert.equal(model.decoder.backend, backend);
      checkDecoder(model.decoder, arch);
      assert.equal(model.latents.labels.length, 500);
      assert.ok(model.limit >= 3.5 && model.limit <= 6 && model.limit * 2 === Math.round(model.limit * 2));
    });
  }
}

test("the page bundles are compact: int8 or float16 matrices, dequantised as the replay's", () => {
  const kinds = new Set(Object.values(index.bundle_encodings).flatMap((e) => Object.values(e)));
  assert.ok(kinds.has("int8") || kinds.has("float16"), JSON.stringify(index.bundle_encodings));
});

test("the cell cache gives the pixels a full decode gives", () => {
  const model = pageModel(readSafetensors(file(index.bundles.resmlp)), { maxRows: MAX_ROWS, kernel });
  const fresh = pageModel(readSafetensors(file(index.bundles.resmlp)), { maxRows: MAX_ROWS, kernel });
  for (const [z1, z2, span] of [[0, 0, 1.5], [0.05, -1.2, 1.5], [0.1, -1.2, 1.5], [0.37, 1.13, 0.9]]) {
    const cached = decodeCached(model, viewPoints(z1, z2, span, 10), MAX_ROWS).pixels;
    const points = Float32Array.from(viewPoints(z1, z2, span, 10));
    assert.deepEqual(cached, fresh.decoder.decode(points, MAX_ROWS).slice());
  }
  assert.ok(model.cache.size > 0);
  // a view seen before is decoded from the cache (the page model's map limit is no cell count)
  assert.equal(decodeCached(model, viewPoints(0, 0, 1.5, 10), MAX_ROWS).decoded, 0);
});

test("a replay's int8 and float16 (subnormal) snapshots decode PyTorch's pixels within 1e-5", () => {
  const read = checkFormat(readSafetensors(file(index.replay)), REPLAY_FORMAT, "replay");
  const encodings = new Set(index.replay_encodings.flatMap((e) => Object.values(e)));
  assert.ok(encodings.has("int8") && encodings.has("float16"), [...encodings].join());
  for (const kernelOrNone of [kernel, null]) {
    const replay = replayModel(read, { maxRows: MAX_ROWS, kernel: kernelOrNone });
    assert.equal(replay.count, index.replay_encodings.length);
    replay.snapshots.forEach((s, k) => checkDecoder(s.view.decoder, `replay${k}`));
    assert.equal(replay.labels.length, 200);
  }
});

test("the reader widens float16 exactly, subnormals and -0 included", () => {
  const header = JSON.stringify({ h: { dtype: "F16", shape: [5], data_offsets: [0, 10] } });
  const bytes = Buffer.alloc(8 + header.length + 10);
  bytes.writeBigUInt64LE(BigInt(header.length), 0);
  bytes.write(header, 8);
  [0x0001, 0x03ff, 0x8000, 0x3c00, 0xfbff].forEach((h, i) => bytes.writeUInt16LE(h, 8 + header.length + 2 * i));
  const h = readSafetensors(bytes).tensors.h.data;
  assert.deepEqual(Array.from(h), [2 ** -24, 1023 * 2 ** -24, -0, 1, -65504]);
  assert.ok(Object.is(h[2], -0));
});

test("damaged and truncated files are refused with a message that says so", () => {
  const good = file(index.bundles.mlp);
  const headerLength = Number(good.readBigUInt64LE(0));
  const cases = [
    [good.subarray(0, 5), /a 5-byte file is not a safetensors file/],
    [good.subarray(0, 8 + headerLength - 10), /ends inside its safetensors header/],
    [good.subarray(0, good.length - 100), /is truncated or damaged/],
    [Buffer.concat([good.subarray(0, 8), Buffer.from("{oops"), good.subarray(13)]), /header is not JSON/],
  ];
  for (const [bytes, message] of cases) assert.throws(() => readSafetensors(bytes), message);
  const replay = readSafetensors(file(index.replay));
  assert.throws(() => checkFormat(replay, PAGE_FORMAT, "replay.safetensors"), /"vae-explorer-replay\/1" file/);
  delete replay.tensors["s1.mu"];
  assert.throws(() => replayModel(replay, { maxRows: MAX_ROWS, kernel }), /snapshot 1's latent means/);
  const bundle = readSafetensors(good);
  delete bundle.tensors[Object.keys(bundle.tensors).find((n) => n.endsWith(".bias"))];
  assert.throws(() => pageModel(bundle, { maxRows: MAX_ROWS, kernel }), /has no tensor/);
});

test("each bundle says its data set's classes, and the live line speaks of them", () => {
  const mnist = pageModel(readSafetensors(file(index.bundles.mlp)), { maxRows: MAX_ROWS, kernel });
  const fashion = pageModel(readSafetensors(file(index.bundles.resmlp)), { maxRows: MAX_ROWS, kernel });
  assert.deepEqual(mnist.words, index.words.mlp);
  assert.deepEqual(fashion.words, index.words.resmlp);
  const sevens = { mu: new Float32Array(100).fill(1), labels: new Uint8Array(50).fill(7) };
  assert.equal(describePlace(1, 1, sevens, fashion.words), "z = (1.00, 1.00): mostly sneakers nearby");
  assert.equal(describePlace(1, 1, sevens, mnist.words), "z = (1.00, 1.00): mostly 7s nearby");
  assert.match(describePlace(-2, -2, sevens, fashion.words), /no test images nearby/);
  // a bundle written without words: the page's own (MNIST) constants
  const page = { names: ["0", "1"], noun: "digit" };
  assert.deepEqual(classesOf({ words: null }, page), { names: page.names, plurals: null, noun: "digit" });
});

test("the map's transform puts z where its limit and margins say, and back", () => {
  const { size, limit, z, pixels } = index.map;
  const map = mapTransform(size, limit, index.margin);
  z.forEach(([z1, z2], i) => {
    const [x, y] = map.toPixel(z1, z2);
    assert.ok(Math.abs(x - pixels[i][0]) < 1e-9 && Math.abs(y - pixels[i][1]) < 1e-9, `${z1}, ${z2}`);
    const [b1, b2] = map.toLatent(x, y);
    assert.ok(Math.abs(b1 - z1) < 1e-9 && Math.abs(b2 - z2) < 1e-9);
  });
  const [, up] = map.toPixel(0, 1), [, down] = map.toPixel(0, -1);
  assert.ok(up < down, "z2 grows upwards on the screen");
});

test("keys pressed before the sliders answer move on from the view asked last", () => {
  const asked = new AskedViews(), shown = { z1: 0, z2: 0, span: 1 };
  const at = (z1, z2, span = 1) => ({ z1, z2, span });
  assert.deepEqual(asked.latest(shown), shown); // nothing asked: the view shown
  asked.ask(at(0.05, 0));
  asked.ask(at(0.05, 0.5)); // asked before the first came back
  assert.deepEqual(asked.latest(shown), at(0.05, 0.5));
  asked.answer(at(0.05, 0)); // the first back: the second is still on its way
  assert.deepEqual(asked.latest(at(0.05, 0)), at(0.05, 0.5));
  asked.answer(at(0.05, 0)); // the same view again (a change event per slider): no news
  assert.deepEqual(asked.latest(at(0.05, 0)), at(0.05, 0.5));
  asked.answer(at(0.05, 0.5));
  assert.deepEqual(asked.latest(at(0.05, 0.5)), at(0.05, 0.5));
  assert.equal(asked.pending.length, 0);
  // a drag's views come back only in part: the last one back drops those asked before it
  [0.1, 0.2, 0.3, 0.4].forEach((z1) => asked.ask(at(z1, 0.5)));
  asked.answer(at(0.3, 0.5));
  assert.deepEqual(asked.pending, [at(0.4, 0.5)]);
  // the visitor moves a slider: what was asked is no longer on its way
  asked.answer(at(-1, 0.5));
  assert.deepEqual(asked.latest(at(-1, 0.5)), at(-1, 0.5));
  // a drag that never hears back keeps only the newest views
  for (let i = 0; i < 100; i++) asked.ask(at(i / 100, 0));
  assert.equal(asked.pending.length, asked.limit);
  assert.deepEqual(asked.latest(shown), at(0.99, 0));
});

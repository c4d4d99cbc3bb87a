// The two files the page reads, once fetched and parsed by readSafetensors: a model's page bundle (webapp/bundle.py)
// and its training replay (webapp/replay.py). Each becomes decoders ready to paint, with a cell cache each. DOM-free.

import { Decoder } from "./program.js";
import { dequantize } from "./snapshots.js";

export const PAGE_FORMAT = "vae-explorer-page/2"; // webapp/bundle.py's FORMAT
export const REPLAY_FORMAT = "vae-explorer-replay/1"; // webapp/replay.py's FORMAT
const REPLAY_CACHE_LIMIT = 4000; // decoded cells kept per snapshot (3 MB)

// the metadata's JSON field `key`, or an Error naming it
function field(metadata, key) {
  if (metadata[key] === undefined) throw new Error(`the file's metadata has no "${key}"`);
  return JSON.parse(metadata[key]);
}

// What the page says of the model's data set: {names, plurals, noun} ("7", "7s", "digit"; "Sneaker", "sneakers",
// "image"), or null for a bundle written without it (the page's MNIST words then)
function classWords(metadata) {
  return metadata.classes === undefined ? null : field(metadata, "classes");
}

// A page bundle -> {decoder, latents: {mu, labels, sigma (null in a bundle without it)} | null, limit, cache}. Its
// weights are float32, or compact with an encoding per tensor in metadata.encodings (dequantised as the replay's);
// limit: the map's half-width, which webapp/bundle.py computes from the latents. options: Decoder's {maxRows, kernel}
export function pageModel({ metadata, tensors }, options) {
  const program = field(metadata, "program");
  const weights = metadata.encodings ? dequantize(tensors, "", field(metadata, "encodings")) : tensors;
  const decoder = new Decoder(program, weights, field(metadata, "input"), field(metadata, "output"), options);
  const latents = tensors["latents.mu"]
    ? { mu: tensors["latents.mu"].data, labels: tensors["latents.labels"].data,
        sigma: tensors["latents.sigma"] ? tensors["latents.sigma"].data : null } : null;
  return { decoder, latents, limit: field(metadata, "map_limit"), words: classWords(metadata), cache: new Map() };
}

// A replay bundle -> {records, labels, count, limit, snapshots: [{record, mu (N * 2), view: {decoder, cache,
// limit}}]}: a decoder per snapshot (the same program, that snapshot's weights), each with its own cell cache
export function replayModel({ metadata, tensors }, options) {
  const records = field(metadata, "records"), program = field(metadata, "program");
  const input = field(metadata, "input"), output = field(metadata, "output");
  const labels = tensors.labels ? tensors.labels.data : null;
  if (!labels || !records.length) throw new Error("the replay holds no test images or no snapshots");
  const snapshots = records.map((record, k) => {
    const mu = tensors[`s${k}.mu`];
    if (!mu || mu.data.length !== 2 * labels.length) {
      throw new Error(`snapshot ${k}'s latent means do not match the ${labels.length} test images`);
    }
    const decoder = new Decoder(program, dequantize(tensors, `s${k}.`, record.encodings), input, output, options);
    return { record, mu: mu.data, view: { decoder, cache: new Map(), cacheLimit: REPLAY_CACHE_LIMIT } };
  });
  return { records, labels, snapshots, count: snapshots.length, limit: field(metadata, "map_limit"),
           words: classWords(metadata) };
}

// The training data the page trains on, as webapp/training_data.py writes it ("vae-explorer-training-data/1"):
// "VAEDATA1", a uint32 (little-endian) header length, a JSON header listing the chunks, then each chunk as its own
// gzip stream of n labels and n images (bits 8: a byte per pixel; bits 4: two pixels a byte, the first in the high
// nibble, grey = level * grey_step). The test chunk comes first, then the training images in a fixed shuffled
// order, so training can start on the first chunks while the rest is still arriving (receiveTrainingData on the
// response's body). DOM-free: DecompressionStream exists in the page, in a Web Worker and in Node 18+. A truncated or
// damaged file throws an Error that says so.

export const TRAINING_DATA_FORMAT = "vae-explorer-training-data/1";
const MAGIC = "VAEDATA1";
const SPLITS = ["test", "train"];

// A growing byte buffer over a stream's pieces: take(count) resolves with the next `count` bytes, or null at the end
// of the stream when fewer arrived.
class Bytes {
  constructor(stream) {
    this.reader = stream.getReader();
    this.pieces = [];
    this.held = 0;
    this.read = 0; // bytes handed out so far, for messages
  }

  async take(count) {
    while (this.held < count) {
      const { done, value } = await this.reader.read();
      if (done) return null;
      const piece = value instanceof Uint8Array ? value : new Uint8Array(value);
      this.pieces.push(piece);
      this.held += piece.length;
    }
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const piece = this.pieces[0], part = Math.min(piece.length, count - filled);
      out.set(piece.subarray(0, part), filled);
      filled += part;
      if (part === piece.length) this.pieces.shift();
      else this.pieces[0] = piece.subarray(part);
    }
    this.held -= count;
    this.read += count;
    return out;
  }

  async atEnd() {
    if (this.held > 0) return false;
    const { done, value } = await this.reader.read();
    if (done) return true;
    this.pieces.push(value);
    this.held += value.length;
    return false;
  }
}

function damaged(what) {
  return new Error(`the training data file ${what}: it is damaged or truncated; reload the page to fetch it again`);
}

function checkHeader(header) {
  if (!header || header.format !== TRAINING_DATA_FORMAT) {
    throw new Error(`the training data file is not ${TRAINING_DATA_FORMAT} (its format is ${header && header.format})`);
  }
  if (header.side !== 28 || !Number.isInteger(header.grey_step) || !Array.isArray(header.class_names)
      || !Array.isArray(header.chunks) || header.chunks.length < 2) {
    throw damaged("has a header without its side, grey step, class names or chunks");
  }
  header.chunks.forEach((chunk, k) => {
    const fits = chunk && SPLITS.includes(chunk.split) && Number.isInteger(chunk.n) && chunk.n > 0
      && (chunk.bits === 4 || chunk.bits === 8) && Number.isInteger(chunk.bytes) && chunk.bytes > 0;
    if (!fits) throw damaged(`lists a chunk ${k} that is not {split, n, bits, bytes}`);
    if ((k === 0) !== (chunk.split === "test")) throw damaged("does not start with its one test chunk");
  });
  // the training arrays are sized from train_n before the chunks arrive (receiveTrainingData), so the counts must agree
  const count = (split) => header.chunks.reduce((sum, chunk) => sum + (chunk.split === split ? chunk.n : 0), 0);
  if (count("train") !== header.train_n || count("test") !== header.test_n) {
    throw damaged(`lists ${count("train")} training and ${count("test")} test images where its header says `
      + `${header.train_n} and ${header.test_n}`);
  }
}

// gzip bytes -> the `size` bytes they inflate to (more or fewer throws). Written straight into the DecompressionStream
// and read back in this thread, without a Blob: reading a Blob takes a round of the event loop per piece, and in the
// Web Worker each round waits for a training step (a fifth of a second for the quick preset), which made MNIST's file
// take 10 to 20 s to arrive while training ran (bench/train_start.py)
async function inflate(bytes, size) {
  const stream = new DecompressionStream("gzip"), writer = stream.writable.getWriter();
  writer.write(bytes).catch(() => {}); // a damaged stream's error reaches the reader below
  writer.close().catch(() => {});
  const reader = stream.readable.getReader(), out = new Uint8Array(size);
  let filled = 0;
  for (let piece = await reader.read(); !piece.done; piece = await reader.read()) {
    if (filled + piece.value.length > size) {
      reader.cancel().catch(() => {});
      throw new Error(`it inflates to more than ${size} bytes`);
    }
    out.set(piece.value, filled);
    filled += piece.value.length;
  }
  if (filled !== size) throw new Error(`it inflates to ${filled} bytes, not ${size}`);
  return out;
}

// one chunk's gzip bytes -> {split, n, labels: Uint8Array(n), images: Uint8Array(n * 784) grey levels 0..255}
async function decodeChunk(bytes, chunk, k, header) {
  const pixels = header.side * header.side, packed = (pixels * chunk.bits) / 8;
  let raw;
  try {
    raw = await inflate(bytes, chunk.n * (1 + packed));
  } catch (error) {
    throw damaged(`has a chunk ${k} that does not decompress to its ${chunk.n} images (${error.message})`);
  }
  const labels = raw.slice(0, chunk.n);
  if (labels.some((label) => label >= header.class_names.length)) {
    throw damaged(`has a label out of range in chunk ${k}`);
  }
  let images = raw.subarray(chunk.n);
  if (chunk.bits === 4) {
    const out = new Uint8Array(chunk.n * pixels), step = header.grey_step;
    for (let i = 0; i < images.length; i++) {
      out[2 * i] = (images[i] >> 4) * step;
      out[2 * i + 1] = (images[i] & 15) * step;
    }
    images = out;
  } else {
    images = images.slice();
  }
  return { split: chunk.split, n: chunk.n, labels, images };
}

// A ReadableStream of the file's bytes (fetch's response.body) -> an async iterator that yields {header} once the
// header has arrived, then each chunk as it completes: {split, n, labels, images, index}. Throws on a damaged or
// truncated file, at the first chunk that shows it.
export async function* trainingChunks(stream) {
  const bytes = new Bytes(stream);
  const start = await bytes.take(12);
  if (!start || new TextDecoder().decode(start.subarray(0, 8)) !== MAGIC) {
    throw new Error(`the file is not training data (it does not start with ${MAGIC})`);
  }
  const headerLength = new DataView(start.buffer).getUint32(8, true);
  const text = await bytes.take(headerLength);
  if (!text) throw damaged(`ends inside its ${headerLength}-byte header`);
  let header;
  try {
    header = JSON.parse(new TextDecoder().decode(text));
  } catch (error) {
    throw damaged(`has a header that is not JSON (${error.message})`);
  }
  checkHeader(header);
  yield { header };
  const total = 12 + headerLength + header.chunks.reduce((sum, chunk) => sum + chunk.bytes, 0);
  for (const [k, chunk] of header.chunks.entries()) {
    const data = await bytes.take(chunk.bytes);
    if (!data) throw damaged(`ends after ${bytes.read + bytes.held} of its ${total} bytes`);
    yield { ...(await decodeChunk(data, chunk, k, header)), index: k };
  }
  if (!(await bytes.atEnd())) throw damaged(`has bytes after its last chunk (${total} expected)`);
}

// A ReadableStream of the file's bytes (fetch's response.body) -> the data set as it arrives. Resolves once the
// header, the test images and the first training chunk are in, with {data, complete}:
//   data      readTrainingData's object, its training arrays sized for all n images, plus `arrived`: how many of them
//             are in place (the first `arrived` rows of images and labels); it grows as the chunks arrive, a uniform
//             sample of the set at any moment (the file's order is shuffled)
//   complete  a promise of the same object once the whole file has arrived and read (arrived === n); it rejects with
//             the reader's message when the rest of the file turns out damaged or truncated
export async function receiveTrainingData(stream) {
  const parts = trainingChunks(stream);
  const next = async () => (await parts.next()).value; // the header guarantees the test chunk and a training one
  const { header } = await next(), pixels = header.side * header.side;
  const test = await next();
  const data = {
    images: new Uint8Array(header.train_n * pixels), labels: new Uint8Array(header.train_n), n: header.train_n,
    arrived: 0, testImages: test.images, testLabels: test.labels, testN: test.n,
    dataset: header.dataset, title: header.title, classNames: header.class_names, sourceTrainN: header.source_train_n,
  };
  const place = (part) => {
    data.images.set(part.images, data.arrived * pixels);
    data.labels.set(part.labels, data.arrived);
    data.arrived += part.n;
  };
  place(await next());
  const complete = (async () => {
    for (let part = await next(); part; part = await next()) place(part);
    return data;
  })();
  return { data, complete };
}

// The whole file (an ArrayBuffer or a typed array over one) -> {images: Uint8Array(n * 784) grey 0..255, labels:
// Uint8Array(n), n, arrived (= n), testImages, testLabels, testN, dataset, title, classNames, sourceTrainN}
export async function readTrainingData(arrayBuffer) {
  const view = ArrayBuffer.isView(arrayBuffer)
    ? new Uint8Array(arrayBuffer.buffer, arrayBuffer.byteOffset, arrayBuffer.byteLength) : new Uint8Array(arrayBuffer);
  return (await receiveTrainingData(new Blob([view]).stream())).complete;
}

// Where the page keeps the files it fetched (Cache Storage, in the page and in a Web Worker alike): the server sends
// no Cache-Control for its files, and a file's name holds a digest of its data, so a kept copy is never stale.
export const TRAINING_DATA_CACHE = "vae-explorer-training-data";
const DIGEST = /-[0-9a-f]{12}\.bin$/;

// a relative address ("gradio_api/file=...") as Cache Storage keys it: against the page's (or worker's) location
const absolute = (address) => (globalThis.location ? new URL(address, globalThis.location.href).href : address);

// The training data at `address` -> {response, fromCache, kept}: the copy an earlier visit kept, else the network's
// response (read it as it streams: receiveTrainingData(response.body)), kept once all of it has been read; older files
// of the same data set are then deleted. `kept` resolves true once a copy is in Cache Storage (at once for a kept
// copy; for the network's, only after the whole body has been read and stored: until then, closing the page loses
// it), false when the store failed; it stays pending while the body has not been read to its end. Without Cache
// Storage (an insecure origin) it is the network's response every time.
export async function openTrainingData(address, { fetcher = globalThis.fetch, cacheStorage = globalThis.caches } = {}) {
  const url = absolute(address);
  let cache = null;
  try {
    cache = cacheStorage ? await cacheStorage.open(TRAINING_DATA_CACHE) : null;
  } catch {
    cache = null; // e.g. storage disabled: fetch every time
  }
  const copy = cache && (await cache.match(url));
  if (copy) return { response: copy, fromCache: true, kept: Promise.resolve(true) };
  const response = await fetcher(url);
  if (!response.ok) throw new Error(`the training data could not be fetched (HTTP ${response.status} for ${url})`);
  if (cache) {
    const older = (other) => other !== url && DIGEST.test(url) && other.replace(DIGEST, "") === url.replace(DIGEST, "");
    const dropOlder = async () => {
      const urls = (await cache.keys()).map((request) => request.url ?? request);
      await Promise.all(urls.filter(older).map((other) => cache.delete(other)));
    };
    // The copy is kept from the bytes the reader took, once they have all passed, as one Blob: not from a clone of
    // the response, whose body the Web Worker's own thread would have to pump into the cache between training steps
    // (it was still unfinished seconds after training started, and lost when the page closed). A copy that could not
    // be kept is fetched again next time.
    const pieces = [];
    let settle;
    const kept = new Promise((resolve) => { settle = resolve; });
    const tap = new TransformStream({
      transform(piece, controller) { pieces.push(piece); controller.enqueue(piece); },
      flush() {
        cache.put(url, new Response(new Blob(pieces))).then(() => {
          settle(true);
          return dropOlder();
        }).catch(() => settle(false));
      },
    });
    const read = new Response(response.body.pipeThrough(tap), { status: response.status, headers: response.headers });
    return { response: read, fromCache: false, kept };
  }
  return { response, fromCache: false, kept: Promise.resolve(false) };
}

// Drop a kept copy that turned out damaged (its reading threw), so the next try fetches it again.
export async function forgetTrainingData(address, { cacheStorage = globalThis.caches } = {}) {
  if (!cacheStorage) return;
  try {
    await (await cacheStorage.open(TRAINING_DATA_CACHE)).delete(absolute(address));
  } catch {
    // nothing kept, nothing to drop
  }
}

// A training data file (webapp/training_data.py's) as a slow network delivers it, for the Node tests of the reader
// (trainingdata.test.mjs) and of the trainer on a file that is still arriving (trainer.test.mjs).

// the file's bytes -> {header: its JSON header, start: the offset of its first chunk}
export function headerOf(bytes) {
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength))),
           start: 12 + headerLength };
}

// the file's bytes -> the offset where its chunk k ends (chunk 0 is the test chunk)
export function chunkEnd(bytes, k) {
  const { header, start } = headerOf(bytes);
  return start + header.chunks.slice(0, k + 1).reduce((sum, chunk) => sum + chunk.bytes, 0);
}

// -> {stream, release}: a ReadableStream of `bytes`, the first `first` at once, the rest in pieces of `piece` bytes a
// task apart only once release() is called, less its last `missing` bytes (a file cut short)
export function heldBack(bytes, first, { piece = 100_000, missing = 0 } = {}) {
  let release;
  const rest = new Promise((resolve) => { release = resolve; });
  const stream = new ReadableStream({
    async start(controller) {
      controller.enqueue(bytes.slice(0, first));
      await rest;
      for (let at = first; at < bytes.length - missing; at += piece) {
        controller.enqueue(bytes.slice(at, Math.min(at + piece, bytes.length - missing)));
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      controller.close();
    },
  });
  return { stream, release };
}

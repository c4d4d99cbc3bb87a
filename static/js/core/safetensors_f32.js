// Float32 tensors to and from the bytes of a safetensors file (https://huggingface.co/docs/safetensors, "Format"),
// the format VAE.from_pretrained reads and webapp/training_program.py writes: an 8-byte little-endian header length,
// a JSON header naming each tensor's dtype, shape and byte range, then the tensors' bytes back to back
// (little-endian, as typed arrays are on every platform a browser runs on). The header is padded with spaces to a
// multiple of 8 bytes, as the reference writer pads it, so every tensor starts aligned.

// tensors: {name: {shape: number[], data: Float32Array}}; metadata: {string: string} or null -> Uint8Array
export function writeSafetensors(tensors, metadata = null) {
  const names = Object.keys(tensors).sort();
  const header = {};
  if (metadata) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== "string") throw new Error(`safetensors metadata must be strings; ${key} is ${typeof value}`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const name of names) {
    const { shape, data } = tensors[name];
    if (!(data instanceof Float32Array)) throw new Error(`${name}: only float32 tensors are written`);
    if (shape.reduce((n, d) => n * d, 1) !== data.length) {
      throw new Error(`${name}: shape [${shape}] does not hold ${data.length} values`);
    }
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const bytes = new Uint8Array(8 + padded + offset);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  bytes.set(json, 8);
  bytes.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const name of names) {
    const { data } = tensors[name];
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    at += data.byteLength;
  }
  return bytes;
}

// the bytes of a safetensors file of float32 tensors (Uint8Array) -> {metadata, tensors: {name: {shape, data}}};
// a truncated or damaged file, or another dtype, throws
export function readFloat32Safetensors(bytes) {
  if (bytes.length < 8) throw new Error(`a ${bytes.length}-byte file is not a safetensors file`);
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (8 + headerLength > bytes.length) throw new Error("the file ends inside its safetensors header");
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  const start = 8 + headerLength, tensors = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    if (info.dtype !== "F32") throw new Error(`${name} is ${info.dtype}; a float32 file was expected`);
    const [a, b] = info.data_offsets;
    if (b - a !== 4 * info.shape.reduce((n, d) => n * d, 1) || start + b > bytes.length) {
      throw new Error(`tensor ${name} (F32 ${JSON.stringify(info.shape)}) is truncated or damaged`);
    }
    tensors[name] = { shape: info.shape, data: new Float32Array(bytes.slice(start + a, start + b).buffer) };
  }
  return { metadata: header.__metadata__ ?? {}, tensors };
}

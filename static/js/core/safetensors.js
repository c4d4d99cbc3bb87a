// The safetensors reader the page and the replay share, and the writer of trained weights (DOM-free: it runs in
// Node as in the page). A safetensors file is an 8-byte little-endian header length, a JSON header ({name: {dtype,
// shape, data_offsets}}, plus "__metadata__"), then the tensors' bytes. F16 is widened to float32 as it is read (the
// bundles' float16 weights); a truncated or damaged file throws an Error that says what is wrong with it.

const DTYPES = { F32: Float32Array, F16: Uint16Array, I32: Int32Array, I8: Int8Array, U8: Uint8Array };

// an ArrayBuffer (or a typed array over one, such as Node's Buffer) -> {metadata, tensors: {name: {shape, dtype,
// data}}}
export function readSafetensors(input) {
  const buffer = ArrayBuffer.isView(input)
    ? input.buffer.slice(input.byteOffset, input.byteOffset + input.byteLength) : input;
  if (buffer.byteLength < 8) throw new Error(`a ${buffer.byteLength}-byte file is not a safetensors file`);
  const headerLength = Number(new DataView(buffer).getBigUint64(0, true));
  if (8 + headerLength > buffer.byteLength) throw new Error("the file ends inside its safetensors header");
  let header;
  try {
    header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, headerLength)));
  } catch (error) {
    throw new Error(`the safetensors header is not JSON (${error.message}): the file is damaged`);
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) {
    throw new Error("the safetensors header is not a JSON object: the file is damaged");
  }
  const start = 8 + headerLength;
  const tensors = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    if (!info || !Array.isArray(info.shape) || !Array.isArray(info.data_offsets)) {
      throw new Error(`tensor ${name} has no shape or data offsets in the header: the file is damaged`);
    }
    const Type = DTYPES[info.dtype];
    if (!Type) throw new Error(`tensor ${name} has dtype ${info.dtype}; expected one of ${Object.keys(DTYPES)}`);
    const [a, b] = info.data_offsets, count = info.shape.reduce((n, d) => n * d, 1);
    if (b - a !== count * Type.BYTES_PER_ELEMENT || start + b > buffer.byteLength) {
      throw new Error(`tensor ${name} (${info.dtype} ${JSON.stringify(info.shape)}) is truncated or damaged`);
    }
    let data = new Type(buffer.slice(start + a, start + b)); // a copy: aligned for its type
    if (info.dtype === "F16") data = halfToFloat(data);
    tensors[name] = { shape: info.shape, dtype: info.dtype, data };
  }
  return { metadata: header.__metadata__ || {}, tensors };
}

// Float32 tensors to the bytes of a safetensors file, the format VAE.from_pretrained reads (the page's trained
// weights). The header is padded with spaces to a multiple of 8 bytes, as the reference writer pads it, so every
// tensor starts aligned.
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

// a read file whose metadata must say `format` (webapp/bundle.py's or webapp/replay.py's FORMAT); `where` names it
export function checkFormat(file, format, where) {
  if (file.metadata.format !== format) {
    throw new Error(`${where} is a "${file.metadata.format}" file; this page reads "${format}"`);
  }
  return file;
}

// IEEE 754 half-precision bits -> Float32Array, exactly (every half value is a float32 value): a table of all
// 65,536 values, made once. Subnormal halves are m * 2^-24; normal ones (1024 + m) * 2^(e - 25).
let halfTable = null;

function halfToFloat(bits) {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
      halfTable[h] = exponent === 0 ? sign * mantissa * 2 ** -24 // zeros (signed) and subnormals
        : exponent === 31 ? (mantissa ? NaN : sign * Infinity)
        : sign * (1024 + mantissa) * 2 ** (exponent - 25);
    }
  }
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfTable[bits[i]];
  return out;
}

// numpy arrays from Python arrive as {buffer: DataView, dtype, shape}; turn them into typed
// arrays (with a `shape` property) and back. Copies only when the buffer is misaligned.

const TYPES = {
  float32: Float32Array, int32: Int32Array, uint32: Uint32Array, int16: Int16Array,
  uint16: Uint16Array, int8: Int8Array, uint8: Uint8Array,
};

/** @param {any} v */
export function isEncoded(v) {
  return v != null && typeof v === "object" && "buffer" in v && "dtype" in v && "shape" in v;
}

/**
 * @param {{buffer: DataView|ArrayBuffer|Uint8Array, dtype: string, shape: number[]}} obj
 * @returns {ArrayLike<number> & {shape: number[]}}
 */
export function decode(obj) {
  const T = TYPES[obj.dtype];
  if (!T) throw new Error(`unsupported dtype ${obj.dtype}`);
  const b = obj.buffer;
  const buf = b instanceof ArrayBuffer ? b : b.buffer;
  const offset = b instanceof ArrayBuffer ? 0 : b.byteOffset;
  const length = (b instanceof ArrayBuffer ? b.byteLength : b.byteLength) / T.BYTES_PER_ELEMENT;
  let arr;
  if (offset % T.BYTES_PER_ELEMENT === 0) arr = new T(buf, offset, length);
  else arr = new T(buf.slice(offset, offset + length * T.BYTES_PER_ELEMENT));
  arr.shape = obj.shape;
  return arr;
}

/** Decode every encoded array inside nested objects/arrays. */
export function decodeTree(v) {
  if (v == null) return v;
  if (isEncoded(v)) return decode(v);
  if (Array.isArray(v)) return v.map(decodeTree);
  if (typeof v === "object" && !(v instanceof DataView)) {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = decodeTree(x);
    return out;
  }
  return v;
}

/** A typed array as {buffer: DataView, dtype, shape} for model.set. */
export function encode(arr, shape = [arr.length]) {
  const dtype = Object.keys(TYPES).find((k) => arr instanceof TYPES[k]);
  if (!dtype) throw new Error("encode needs a typed array");
  return { buffer: new DataView(arr.buffer, arr.byteOffset, arr.byteLength), dtype, shape };
}

/** uint16 codes with lo/step (see mucomp_widget/_payload.quantize) -> Float32Array. */
export function dequantize(q) {
  const codes = isEncoded(q.q) ? decode(q.q) : q.q;
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = q.lo + codes[i] * q.step;
  return out;
}

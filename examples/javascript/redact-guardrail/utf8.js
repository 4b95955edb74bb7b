// UTF-8 <-> string for WIT list<u8> values. Uses TextEncoder/TextDecoder
// when the engine has them; the QuickJS build componentize-js embeds has
// neither, so the fallback goes through the native URI functions, and a
// hand-written codec for what those refuse (lone surrogates, invalid UTF-8).

const te = typeof TextEncoder === "function" ? new TextEncoder() : null;
const td = typeof TextDecoder === "function" ? new TextDecoder() : null;

export function encodeUtf8(s) {
  if (te) return te.encode(s);
  try {
    // encodeURIComponent is native code: much faster than a JS loop in an
    // interpreter. It throws on a lone surrogate (handled below).
    const bin = unescape(encodeURIComponent(s));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch (_) {
    return encodeSlow(s);
  }
}

function encodeSlow(s) {
  const out = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // lone surrogate
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out);
}

export function decodeUtf8(bytes) {
  if (td) return td.decode(bytes);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  }
  try {
    // Native decoding; throws on invalid UTF-8 (handled below).
    return decodeURIComponent(escape(bin));
  } catch (_) {
    return decodeSlow(bytes);
  }
}

function decodeSlow(bytes) {
  const parts = [];
  let points = [];
  const n = bytes.length;
  for (let i = 0; i < n; ) {
    const b = bytes[i];
    let c = 0xfffd;
    let len = 1;
    if (b < 0x80) c = b;
    else if (b >= 0xc2 && b < 0xe0 && i + 1 < n) {
      c = ((b & 31) << 6) | (bytes[i + 1] & 63);
      len = 2;
    } else if (b >= 0xe0 && b < 0xf0 && i + 2 < n) {
      c = ((b & 15) << 12) | ((bytes[i + 1] & 63) << 6) | (bytes[i + 2] & 63);
      len = 3;
    } else if (b >= 0xf0 && b < 0xf5 && i + 3 < n) {
      c = ((b & 7) << 18) | ((bytes[i + 1] & 63) << 12) | ((bytes[i + 2] & 63) << 6) | (bytes[i + 3] & 63);
      len = 4;
    }
    i += len;
    points.push(c > 0x10ffff ? 0xfffd : c);
    if (points.length === 4096) {
      parts.push(String.fromCodePoint(...points));
      points = [];
    }
  }
  parts.push(String.fromCodePoint(...points));
  return parts.join("");
}

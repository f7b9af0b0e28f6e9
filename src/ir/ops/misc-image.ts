/** ImageDecoder: PNG (8-bit, non-interlaced), BMP (24/32-bit uncompressed) and binary PNM; other formats are refused. */
import { inflateSync } from 'node:zlib';
import { KilnError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { tensorType } from '../types.js';
import { registerOp } from './registry.js';

interface Image {
  width: number;
  height: number;
  /** RGB bytes, row-major. */
  rgb: Uint8Array;
}

function unsupported(what: string): never {
  throw new KilnError('unsupported', `unsupported ImageDecoder input: ${what}`);
}

function decodePng(b: Uint8Array): Image {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let off = 8;
  let width = 0;
  let height = 0;
  let depth = 0;
  let ctype = 0;
  let interlace = 0;
  let palette: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  while (off + 8 <= b.length) {
    const len = dv.getUint32(off);
    const type = String.fromCharCode(b[off + 4]!, b[off + 5]!, b[off + 6]!, b[off + 7]!);
    const data = b.subarray(off + 8, off + 8 + len);
    off += 12 + len;
    if (type === 'IHDR') {
      const h = new DataView(data.buffer, data.byteOffset, data.byteLength);
      width = h.getUint32(0);
      height = h.getUint32(4);
      depth = data[8]!;
      ctype = data[9]!;
      interlace = data[12]!;
    } else if (type === 'PLTE') palette = data;
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
  }
  if (depth !== 8) unsupported(`PNG bit depth ${depth}`);
  if (interlace !== 0) unsupported('interlaced PNG');
  const channels = ctype === 0 ? 1 : ctype === 2 ? 3 : ctype === 3 ? 1 : ctype === 4 ? 2 : ctype === 6 ? 4 : unsupported(`PNG color type ${ctype}`);
  const raw = new Uint8Array(inflateSync(Buffer.concat(idat)));
  const stride = width * channels;
  const px = new Uint8Array(height * stride);
  const bpp = channels;
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const dst = y * stride;
    for (let x = 0; x < stride; x++) {
      const rv = raw[src + x]!;
      const a = x >= bpp ? px[dst + x - bpp]! : 0;
      const up = y > 0 ? px[dst - stride + x]! : 0;
      const c = x >= bpp && y > 0 ? px[dst - stride + x - bpp]! : 0;
      let v: number;
      switch (f) {
        case 0: v = rv; break;
        case 1: v = rv + a; break;
        case 2: v = rv + up; break;
        case 3: v = rv + ((a + up) >> 1); break;
        case 4: {
          const p = a + up - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - up);
          const pc = Math.abs(p - c);
          v = rv + (pa <= pb && pa <= pc ? a : pb <= pc ? up : c);
          break;
        }
        default: throw new KilnError('runtime', `corrupt PNG filter type ${f}`);
      }
      px[dst + x] = v & 255;
    }
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    if (ctype === 2 || ctype === 6) for (let k = 0; k < 3; k++) rgb[i * 3 + k] = px[i * channels + k]!;
    else if (ctype === 3) {
      if (!palette) throw new KilnError('runtime', 'PNG palette missing');
      for (let k = 0; k < 3; k++) rgb[i * 3 + k] = palette[px[i]! * 3 + k]!;
    } else for (let k = 0; k < 3; k++) rgb[i * 3 + k] = px[i * channels]!;
  }
  if (ctype === 6 || ctype === 4) unsupported('PNG with an alpha channel');
  return { width, height, rgb };
}

function decodeBmp(b: Uint8Array): Image {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dataOff = dv.getUint32(10, true);
  const width = dv.getInt32(18, true);
  const hRaw = dv.getInt32(22, true);
  const bpp = dv.getUint16(28, true);
  const comp = dv.getUint32(30, true);
  if ((bpp !== 24 && bpp !== 32) || (comp !== 0 && comp !== 3)) unsupported(`BMP with ${bpp} bits per pixel, compression ${comp}`);
  const height = Math.abs(hRaw);
  const bytes = bpp / 8;
  const rowSize = Math.ceil((width * bytes) / 4) * 4;
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const srcRow = hRaw > 0 ? height - 1 - y : y;
    for (let x = 0; x < width; x++) {
      const s = dataOff + srcRow * rowSize + x * bytes;
      const d = (y * width + x) * 3;
      rgb[d] = b[s + 2]!;
      rgb[d + 1] = b[s + 1]!;
      rgb[d + 2] = b[s]!;
    }
  }
  return { width, height, rgb };
}

function decodePnm(b: Uint8Array): Image {
  const magic = String.fromCharCode(b[0]!, b[1]!);
  if (magic !== 'P6' && magic !== 'P5') unsupported(`PNM format ${magic}`);
  let off = 2;
  const tokens: number[] = [];
  while (tokens.length < 3) {
    while (off < b.length && /\s/.test(String.fromCharCode(b[off]!))) off++;
    if (b[off] === 0x23) {
      while (off < b.length && b[off] !== 0x0a) off++;
      continue;
    }
    let s = '';
    while (off < b.length && !/\s/.test(String.fromCharCode(b[off]!))) s += String.fromCharCode(b[off++]!);
    tokens.push(Number(s));
  }
  off++; // single whitespace after maxval
  const [width, height, maxval] = tokens as [number, number, number];
  if (maxval > 255) unsupported('16-bit PNM');
  const ch = magic === 'P6' ? 3 : 1;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    for (let k = 0; k < 3; k++) {
      const v = b[off + i * ch + (ch === 3 ? k : 0)]!;
      rgb[i * 3 + k] = maxval === 255 ? v : Math.round((v * 255) / maxval);
    }
  }
  return { width, height, rgb };
}

function decodeImage(b: Uint8Array): Image {
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return decodePng(b);
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return decodeBmp(b);
  if (b.length >= 2 && b[0] === 0x50 && (b[1] === 0x36 || b[1] === 0x35)) return decodePnm(b);
  if (b.length >= 2 && b[0] === 0xff && b[1] === 0xd8) unsupported('JPEG images (no JPEG decoder)');
  unsupported('image format (only PNG, BMP and PNM are decoded)');
}

registerOp({
  opType: 'ImageDecoder',
  since: 20,
  attrs: { pixel_format: 'string' },
  infer: (ctx) => {
    const fmt = ctx.attrs.string('pixel_format', 'RGB');
    if (fmt !== 'RGB' && fmt !== 'BGR' && fmt !== 'Grayscale') throw new KilnError('type', `unknown pixel_format '${fmt}'`);
    return [tensorType('u8', [null, null, fmt === 'Grayscale' ? 1 : 3])];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    if (x.dtype !== 'u8') throw new KilnError('runtime', 'ImageDecoder input must be uint8 bytes');
    const fmt = ctx.attrs.string('pixel_format', 'RGB');
    const img = decodeImage(x.data as Uint8Array);
    const n = img.width * img.height;
    if (fmt === 'Grayscale') {
      const out = Tensor.zeros('u8', [img.height, img.width, 1]);
      const o = out.data as Uint8Array;
      for (let i = 0; i < n; i++) o[i] = (img.rgb[i * 3]! * 19595 + img.rgb[i * 3 + 1]! * 38470 + img.rgb[i * 3 + 2]! * 7471 + 0x8000) >> 16;
      return [out];
    }
    const out = Tensor.zeros('u8', [img.height, img.width, 3]);
    const o = out.data as Uint8Array;
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 3; k++) o[i * 3 + k] = img.rgb[i * 3 + (fmt === 'BGR' ? 2 - k : k)]!;
    }
    return [out];
  },
});

// thumbhash.js decodes the placeholder hashes that the Go package
// internal/thumbhash writes (its doc comment describes the format) into
// pixels for a canvas. An ES module with no dependencies.
//
//   import { decode, paint } from "./thumbhash.js";
//   paint(canvasElement, hashString); // sizes and fills the canvas
//
// The string form is standard base64 without padding.

/** Converts the string form of a hash to its bytes. */
export function fromBase64(s) {
  const bin = atob(s.replace(/=+$/, "") + "===".slice(0, (4 - (s.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The number of AC coefficients kept for an nx by ny triangle. */
function count(nx, ny) {
  let n = 0;
  for (let cy = 0; cy < ny; cy++) for (let cx = 0; cx * ny < nx * (ny - cy); cx++) n++;
  return n - 1;
}

/** Parses a hash; throws an Error when it is malformed. */
function parse(hash) {
  if (typeof hash === "string") hash = fromBase64(hash);
  if (hash.length < 5) throw new Error("thumbhash: malformed hash");
  const h24 = hash[0] | (hash[1] << 8) | (hash[2] << 16);
  const h16 = hash[3] | (hash[4] << 8);
  const hd = {
    lDC: (h24 & 63) / 63,
    pDC: ((h24 >> 6) & 63) / 31.5 - 1,
    qDC: ((h24 >> 12) & 63) / 31.5 - 1,
    lScale: ((h24 >> 18) & 31) / 31,
    hasAlpha: (h24 >> 23) !== 0,
    pScale: ((h16 >> 3) & 63) / 63,
    qScale: ((h16 >> 9) & 63) / 63,
    landscape: (h16 >> 15) !== 0,
    aDC: 1,
    aScale: 0,
  };
  const short = h16 & 7;
  let limit = 7, start = 5;
  if (hd.hasAlpha) {
    limit = 5;
    start = 6;
    if (hash.length < 6) throw new Error("thumbhash: malformed hash");
    hd.aDC = (hash[5] & 15) / 15;
    hd.aScale = (hash[5] >> 4) / 15;
  }
  if (short === 0 || short > limit) throw new Error("thumbhash: malformed hash");
  hd.lx = hd.landscape ? limit : short;
  hd.ly = hd.landscape ? short : limit;
  let nibbles = count(Math.max(3, hd.lx), Math.max(3, hd.ly)) + 2 * count(3, 3);
  if (hd.hasAlpha) nibbles += count(5, 5);
  if (hash.length !== start + ((nibbles + 1) >> 1)) throw new Error("thumbhash: malformed hash");
  hd.ac = hash.subarray(start);
  return hd;
}

function rgb(l, p, q) {
  const b = l - (2 / 3) * p;
  const r = (3 * l - b + q) / 2;
  return [r, r - q, b];
}

function to8(v) {
  return Math.round(Math.min(Math.max(v, 0), 1) * 255);
}

/** The approximate width/height of the hashed image. */
export function aspectRatio(hash) {
  const hd = parse(hash);
  return hd.lx / hd.ly;
}

/** The average colour as [r, g, b, a], each 0 to 255: a flat background. */
export function averageRGBA(hash) {
  const hd = parse(hash);
  return [...rgb(hd.lDC, hd.pDC, hd.qDC).map(to8), to8(hd.aDC)];
}

/**
 * Decodes a hash (bytes or string form) to { width, height, rgba }, 32
 * pixels on the long side, rgba non-premultiplied as ImageData wants it.
 */
export function decode(hash) {
  const hd = parse(hash);
  const ratio = hd.lx / hd.ly;
  const w = ratio > 1 ? 32 : Math.max(1, Math.round(32 * ratio));
  const h = ratio > 1 ? Math.max(1, Math.round(32 / ratio)) : 32;

  let nib = 0;
  const read = (nx, ny, scale) => {
    const ac = new Float64Array(count(nx, ny));
    for (let i = 0; i < ac.length; i++, nib++) {
      ac[i] = (((hd.ac[nib >> 1] >> ((nib & 1) * 4)) & 15) / 7.5 - 1) * scale;
    }
    return ac;
  };
  const lnx = Math.max(3, hd.lx), lny = Math.max(3, hd.ly);
  const lAC = read(lnx, lny, hd.lScale);
  const pAC = read(3, 3, hd.pScale);
  const qAC = read(3, 3, hd.qScale);
  const aAC = hd.hasAlpha ? read(5, 5, hd.aScale) : null;

  // Every AC term has weight 2, as in the Go decoder.
  const inverse = (ac, nx, ny, fx, fy) => {
    let v = 0, j = 0;
    for (let cy = 0; cy < ny; cy++) {
      for (let cx = 0; cx * ny < nx * (ny - cy); cx++) {
        if (cx !== 0 || cy !== 0) v += ac[j++] * fx[cx] * fy[cy];
      }
    }
    return 2 * v;
  };

  const rgba = new Uint8ClampedArray(w * h * 4);
  const fx = new Float64Array(7), fy = new Float64Array(7);
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i += 4) {
      for (let c = 0; c < 7; c++) {
        fx[c] = Math.cos((Math.PI / w) * (x + 0.5) * c);
        fy[c] = Math.cos((Math.PI / h) * (y + 0.5) * c);
      }
      const l = hd.lDC + inverse(lAC, lnx, lny, fx, fy);
      const p = hd.pDC + inverse(pAC, 3, 3, fx, fy);
      const q = hd.qDC + inverse(qAC, 3, 3, fx, fy);
      const a = hd.hasAlpha ? hd.aDC + inverse(aAC, 5, 5, fx, fy) : 1;
      const [r, g, b] = rgb(l, p, q);
      rgba[i] = to8(r);
      rgba[i + 1] = to8(g);
      rgba[i + 2] = to8(b);
      rgba[i + 3] = to8(a);
    }
  }
  return { width: w, height: h, rgba };
}

/**
 * Paints a hash into a canvas element, setting its intrinsic size to the
 * decoded size; CSS should stretch it over the photo's box (it is blurry
 * by nature, so image-rendering can stay smooth).
 */
export function paint(canvas, hash) {
  const { width, height, rgba } = decode(hash);
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").putImageData(new ImageData(rgba, width, height), 0, 0);
}

/** Returns a PNG data URL of the decoded hash (browsers only: uses a canvas). */
export function toDataURL(hash) {
  const canvas = document.createElement("canvas");
  paint(canvas, hash);
  return canvas.toDataURL("image/png");
}

// Dense markers (thousands in view) as pixels: each device is a pre-rendered dot stamped into one ImageData.
// A full draw stamps every dot and puts the image; a batch re-stamps only the boxes its devices left and entered
// (the dots over such a box, front to back until the box is opaque, clipped to it) and puts those boxes' bounds. The canvas never
// rasterises 50,000 arcs: a GPU-less Chromium took ~270 ms to paint them after ~30 ms of JS, every batch.

const CELL = 16; // device pixels: a dot is found from the grid cell its box starts in

/** A dot as pixels, straight RGBA: a white disc under a coloured one. */
function stamp(color, dpr, radius, ring) {
  const size = 2 * Math.ceil((radius + ring / 2) * dpr) + 2;
  const c = document.createElement("canvas");
  c.width = c.height = size;
  const g = c.getContext("2d", { willReadFrequently: true });
  g.setTransform(dpr, 0, 0, dpr, size / 2, size / 2);
  g.beginPath(); g.arc(0, 0, radius + ring / 2, 0, 2 * Math.PI); g.fillStyle = "#fff"; g.fill();
  g.beginPath(); g.arc(0, 0, radius - ring / 2, 0, 2 * Math.PI); g.fillStyle = color; g.fill();
  const bytes = g.getImageData(0, 0, size, size).data;
  return { size, bytes, words: new Uint32Array(bytes.buffer) };
}

export class DotPixels {
  /** colorOf(state) -> CSS colour; radius and ring in CSS pixels. */
  constructor(colorOf, radius, ring) {
    this.colorOf = colorOf;
    this.radius = radius;
    this.ring = ring;
    this.stamps = new Map();
    this.dpr = 0;
    this.largest = 0; // the largest stamp's size
    this.image = null;
    this.gen = 0; // a device's d._dot belongs to the draw of its gen
    this.dirty = [];
  }

  stampFor(state) {
    let s = this.stamps.get(state);
    if (!s) {
      this.stamps.set(state, (s = stamp(this.colorOf(state), this.dpr, this.radius, this.ring)));
      this.largest = Math.max(this.largest, s.size);
    }
    return s;
  }

  /** A new draw of the canvas: every dot placed before is forgotten. */
  reset() {
    this.gen++;
    this.dirty.length = 0;
  }

  /** Is d's dot in the image of the last full draw? */
  has(d) {
    return d._dot !== undefined && d._dot.gen === this.gen;
  }

  /** After reset(): stamp every device (in this order, the later on top) into a cleared width x height image and put
   * it. Each device keeps where it went (d._dot) and its index in the caller's hit lists (from `hit` on). */
  draw(ctx, devices, ox, oy, dpr, width, height, hit) {
    if (dpr !== this.dpr) { this.dpr = dpr; this.stamps.clear(); this.largest = 0; }
    if (!this.image || this.image.width !== width || this.image.height !== height) {
      this.image = new ImageData(width, height);
      this.words = new Uint32Array(this.image.data.buffer);
      this.bytes = this.image.data;
    } else this.words.fill(0);
    this.cols = Math.ceil(width / CELL); this.rows = Math.ceil(height / CELL);
    this.cells = Array.from({ length: this.cols * this.rows }, () => []);
    for (let i = devices.length - 1; i >= 0; i--) {
      const d = devices[i];
      const dot = (d._dot = { gen: this.gen, seq: i, hit: hit + i, x: 0, y: 0, stamp: null, cell: -1 });
      this.place(d, dot, ox, oy);
      this.paint(dot, 0, 0, width, height); // front to back: the last device is on top
    }
    ctx.putImageData(this.image, 0, 0);
  }

  place(d, dot, ox, oy) {
    const s = (dot.stamp = this.stampFor(d.state));
    dot.x = Math.round((d._x - ox) * this.dpr) - (s.size >> 1);
    dot.y = Math.round((d._y - oy) * this.dpr) - (s.size >> 1);
    const cell = this.cellOf(dot.x, dot.y);
    if (cell !== dot.cell) {
      if (dot.cell >= 0) { const list = this.cells[dot.cell]; list.splice(list.indexOf(dot), 1); }
      this.cells[cell].push(dot);
      dot.cell = cell;
    }
  }

  cellOf(x, y) {
    const i = Math.min(this.cols - 1, Math.max(0, Math.floor(x / CELL)));
    const j = Math.min(this.rows - 1, Math.max(0, Math.floor(y / CELL)));
    return j * this.cols + i;
  }

  /** A drawn device moved or changed state: its old and new boxes are re-stamped by `flush`. */
  move(d, ox, oy) {
    const dot = d._dot;
    const { x, y, stamp: before } = dot;
    this.place(d, dot, ox, oy);
    if (dot.x === x && dot.y === y && dot.stamp === before) return;
    const n = dot.stamp.size;
    if (dot.x < x + before.size && x < dot.x + n && dot.y < y + before.size && y < dot.y + n) {
      // a short move: one box over both
      this.dirty.push(Math.min(x, dot.x), Math.min(y, dot.y), Math.max(x + before.size, dot.x + n), Math.max(y + before.size, dot.y + n));
    } else this.dirty.push(x, y, x + before.size, y + before.size, dot.x, dot.y, dot.x + n, dot.y + n);
  }

  /** Re-stamp the dirty boxes from scratch and put their bounds; returns the bounds put [x0, y0, x1, y1] (device
   * pixels) or null. `extra` boxes (e.g. an overlay drawn over the dots) are put with them when they touch. */
  flush(ctx, extra = null) {
    const box = this.dirty;
    if (!box.length) return null;
    const W = this.image.width, H = this.image.height;
    let bx0 = W, by0 = H, bx1 = 0, by1 = 0;
    const found = [];
    for (let k = 0; k < box.length; k += 4) {
      const x0 = Math.max(0, box[k]), y0 = Math.max(0, box[k + 1]);
      const x1 = Math.min(W, box[k + 2]), y1 = Math.min(H, box[k + 3]);
      if (x0 >= x1 || y0 >= y1) continue;
      for (let y = y0; y < y1; y++) this.words.fill(0, y * W + x0, y * W + x1);
      found.length = 0;
      const reach = this.largest - 1; // a dot whose box starts this far before x0 (or y0) still reaches it
      const i0 = Math.max(0, Math.floor((x0 - reach) / CELL)), i1 = Math.min(this.cols - 1, Math.floor((x1 - 1) / CELL));
      const j0 = Math.max(0, Math.floor((y0 - reach) / CELL)), j1 = Math.min(this.rows - 1, Math.floor((y1 - 1) / CELL));
      for (let j = j0; j <= j1; j++) {
        for (let i = i0; i <= i1; i++) {
          for (const dot of this.cells[j * this.cols + i]) {
            const n = dot.stamp.size;
            if (dot.x < x1 && dot.x + n > x0 && dot.y < y1 && dot.y + n > y0) found.push(dot);
          }
        }
      }
      found.sort((a, b) => b.seq - a.seq);
      let open = (x1 - x0) * (y1 - y0); // pixels not yet opaque: none left, the dots below cannot show
      for (let k = 0; k < found.length && open > 0; k++) open -= this.paint(found[k], x0, y0, x1, y1);
      bx0 = Math.min(bx0, x0); by0 = Math.min(by0, y0); bx1 = Math.max(bx1, x1); by1 = Math.max(by1, y1);
    }
    this.dirty.length = 0;
    if (bx0 >= bx1) return null;
    if (extra && extra[0] < bx1 && extra[2] > bx0 && extra[1] < by1 && extra[3] > by0) {
      bx0 = Math.max(0, Math.min(bx0, extra[0])); by0 = Math.max(0, Math.min(by0, extra[1]));
      bx1 = Math.min(W, Math.max(bx1, extra[2])); by1 = Math.min(H, Math.max(by1, extra[3]));
    }
    ctx.putImageData(this.image, 0, 0, bx0, by0, bx1 - bx0, by1 - by0);
    return [bx0, by0, bx1, by1];
  }

  /** Stamp one dot UNDER what is already there, only its pixels inside [x0, x1) x [y0, y1): dots go front to
   * back, so a pixel an upper dot made opaque is skipped, an empty one takes the stamp's word, and an edge pixel is
   * blended (the canvas' source-over, with the stamp behind). Returns how many pixels it made opaque. */
  paint(dot, x0, y0, x1, y1) {
    const W = this.image.width, words = this.words, bytes = this.bytes;
    const { x, y } = dot;
    const { size, words: sw, bytes: sb } = dot.stamp;
    const cx0 = Math.max(x0, x), cy0 = Math.max(y0, y), cx1 = Math.min(x1, x + size), cy1 = Math.min(y1, y + size);
    let filled = 0;
    for (let Y = cy0; Y < cy1; Y++) {
      let s = (Y - y) * size + (cx0 - x), o = Y * W + cx0;
      for (let X = cx0; X < cx1; X++, s++, o++) {
        const a = sb[s * 4 + 3];
        if (a === 0) continue;
        const p = o * 4, front = bytes[p + 3];
        if (front === 255) continue;
        if (front === 0) {
          words[o] = sw[s];
          if (a === 255) filled++;
          continue;
        }
        const fa = front / 255, back = (a / 255) * (1 - fa), out = fa + back, q = s * 4;
        bytes[p] = (bytes[p] * fa + sb[q] * back) / out;
        bytes[p + 1] = (bytes[p + 1] * fa + sb[q + 1] * back) / out;
        bytes[p + 2] = (bytes[p + 2] * fa + sb[q + 2] * back) / out;
        bytes[p + 3] = out * 255;
        if (bytes[p + 3] === 255) filled++;
      }
    }
    return filled;
  }
}

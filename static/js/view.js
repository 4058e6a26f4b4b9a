// The live map's first view: where most of the fleet is, not a box around every outlier.

const CELL_LAT = 0.25; // degrees: about 28 km north-south
const CELL_LON = 0.5; // about 28 km east-west at 60° N (less further south: a wider box is fine)

/** Bounds [[s, w], [n, e]] of the densest cluster of `points` ([lat, lon] pairs): the grid cell with most points
 * and its eight neighbours; null without points. */
export function densest(points) {
  const cells = new Map();
  const key = (i, j) => `${i}:${j}`;
  for (const [lat, lon] of points) {
    const k = key(Math.floor(lat / CELL_LAT), Math.floor(lon / CELL_LON));
    cells.set(k, (cells.get(k) || 0) + 1);
  }
  let best = null, most = 0;
  for (const [k, n] of cells) {
    const [i, j] = k.split(":").map(Number);
    let around = 0;
    for (let di = -1; di <= 1; di++) for (let dj = -1; dj <= 1; dj++) around += cells.get(key(i + di, j + dj)) || 0;
    if (around > most || (around === most && best !== null && n > best.n)) { best = { i, j, n }; most = around; }
  }
  if (best === null) return null;
  let s = 90, w = 180, n = -90, e = -180;
  for (const [lat, lon] of points) {
    const i = Math.floor(lat / CELL_LAT), j = Math.floor(lon / CELL_LON);
    if (Math.abs(i - best.i) > 1 || Math.abs(j - best.j) > 1) continue;
    s = Math.min(s, lat); n = Math.max(n, lat); w = Math.min(w, lon); e = Math.max(e, lon);
  }
  return [[s, w], [n, e]];
}

/** Bounds of every point, or null. */
export function everything(points) {
  if (!points.length) return null;
  let s = 90, w = 180, n = -90, e = -180;
  for (const [lat, lon] of points) { s = Math.min(s, lat); n = Math.max(n, lat); w = Math.min(w, lon); e = Math.max(e, lon); }
  return [[s, w], [n, e]];
}

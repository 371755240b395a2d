// Lasso selection over a d3-quadtree of point indices: the polygon's bounding box prunes the
// tree, d3-polygon decides the points left. Coordinates of the polygon and of the tree must
// share one space (the embedding panel maps the screen polygon into layout coordinates).

import { polygonContains } from "d3-polygon";

/** [xmin, ymin, xmax, ymax] of a polygon given as [[x, y], ...]. */
export function polygonBounds(polygon) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y] of polygon) {
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  return [x0, y0, x1, y1];
}

/**
 * Indices of the points inside `polygon`.
 * @param {import("d3-quadtree").Quadtree<number>} tree  a quadtree whose data are point
 *   indices, with x()/y() accessors giving each index's position
 * @param {[number, number][]} polygon  at least three vertices (fewer selects nothing)
 * @param {(i: number) => boolean} [accept]  points to consider (e.g. only visible ones)
 * @returns {Uint32Array} the indices, ascending
 */
export function pointsInPolygon(tree, polygon, accept = () => true) {
  if (polygon.length < 3) return new Uint32Array(0);
  const [x0, y0, x1, y1] = polygonBounds(polygon);
  const fx = tree.x(), fy = tree.y();
  const out = [];
  tree.visit((node, nx0, ny0, nx1, ny1) => {
    if (nx0 > x1 || nx1 < x0 || ny0 > y1 || ny1 < y0) return true;
    if (node.length) return false;
    for (let leaf = node; leaf; leaf = leaf.next) {
      const i = leaf.data, x = fx(i), y = fy(i);
      if (x < x0 || x > x1 || y < y0 || y > y1 || !accept(i)) continue;
      if (polygonContains(polygon, [x, y])) out.push(i);
    }
    return false;
  });
  return Uint32Array.from(out).sort();
}

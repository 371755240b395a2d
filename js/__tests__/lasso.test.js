import { describe, expect, it } from "vitest";
import { quadtree } from "d3-quadtree";
import { pointsInPolygon, polygonBounds } from "../lib/lasso.js";

// 0..8 on a 3×3 grid (spacing 10), then two points far away.
const xy = [[0, 0], [10, 0], [20, 0], [0, 10], [10, 10], [20, 10], [0, 20], [10, 20], [20, 20], [100, 100], [-50, 5]];
const tree = quadtree().x((i) => xy[i][0]).y((i) => xy[i][1]).addAll(xy.map((_, i) => i));

describe("lasso helper", () => {
  it("bounds a polygon", () => {
    expect(polygonBounds([[1, 5], [-2, 3], [4, -1]])).toEqual([-2, -1, 4, 5]);
  });

  it("selects exactly the points inside a triangle", () => {
    // Triangle covering the lower-left half of the grid: x + y < 25 and x, y > -5.
    const got = pointsInPolygon(tree, [[-5, -5], [30, -5], [-5, 30]]);
    expect(Array.from(got)).toEqual([0, 1, 2, 3, 4, 6]);
    expect(got).toBeInstanceOf(Uint32Array);
  });

  it("handles a concave polygon and skips rejected points", () => {
    // A "U" around columns x=0 and x=20, excluding the middle column.
    const u = [[-5, -5], [5, -5], [5, 15], [15, 15], [15, -5], [25, -5], [25, 25], [-5, 25]];
    expect(Array.from(pointsInPolygon(tree, u))).toEqual([0, 2, 3, 5, 6, 7, 8]);
    expect(Array.from(pointsInPolygon(tree, u, (i) => i % 2 === 0))).toEqual([0, 2, 6, 8]);
  });

  it("selects nothing for fewer than three vertices or an empty area", () => {
    expect(pointsInPolygon(tree, [[0, 0], [20, 20]]).length).toBe(0);
    expect(pointsInPolygon(tree, [[40, 40], [60, 40], [50, 60]]).length).toBe(0);
  });
});

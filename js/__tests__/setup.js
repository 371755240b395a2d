import "vitest-canvas-mock";

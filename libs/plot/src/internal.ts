/** @fulcrum/plot/internal — the same as the public face: the package has nothing internal. */
export * from './index.js';

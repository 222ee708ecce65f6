/**
 * What the TS layer knows of a model family beyond its types: the one interface each family file
 * implements, and nothing a run needs (the core does the work). Not part of the public API.
 *
 * @module
 */

/** What `encodeSpec` needs from a model family. */
export interface FamilyEncoding {
  /** The family's `model.kind` tag. */
  readonly kind: string;
  /**
   * The fields of the family's spec that hold a matrix input, as paths with `[]` for any array
   * index (`model.layers[].pattern`); test/spec-encode.test.ts checks against the family's types
   * that the list is complete. This list does not decide what travels as a buffer (every matrix
   * input does, wherever it is): it makes a value that is not a matrix input, at one of these
   * fields, an error in TS naming the field, as it was before the walk.
   */
  readonly matrixFields: readonly string[];
  /**
   * Buffer conventions that are not spec paths: moves what it handles into `buffers` and returns
   * the spec without it (never modifying its argument). Runs before the walk.
   */
  readonly encode?: (spec: Record<string, unknown>, buffers: Record<string, Float64Array>) => Record<string, unknown>;
}

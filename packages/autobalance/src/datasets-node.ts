/**
 * The Node reader of data set files (registers itself; the Node entry point `autobalance`
 * imports it): `digits` is `file` if given (relative to the working directory), else
 * `$AUTOBALANCE_DATA_DIR/digits.csv`, else the repository's `data/digits.csv`.
 *
 * @module
 * @internal
 */

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { DIGITS_SETUP_COMMAND, registerDatasetReader } from './datasets.js';
import { InvalidSpecError } from './errors.js';

/** Where the digits file is looked for when the spec gives none. */
export function defaultDigitsPath(): string {
  const dir = process.env['AUTOBALANCE_DATA_DIR'];
  // This module is packages/autobalance/{src,dist}/datasets-node.*: the repository is 3 levels up.
  return dir ? resolve(dir, 'digits.csv') : fileURLToPath(new URL('../../../data/digits.csv', import.meta.url));
}

registerDatasetReader((name, file) => {
  const path = file !== undefined ? resolve(file) : defaultDigitsPath();
  const field = file !== undefined ? 'patches.file' : 'patches.kind';
  if (!existsSync(path)) {
    throw new InvalidSpecError(field, `the ${name} data set file ${path} does not exist: create it with ${DIGITS_SETUP_COMMAND}${file === undefined ? ', or set AUTOBALANCE_DATA_DIR to the folder holding digits.csv' : ''}`);
  }
  return { text: readFileSync(path, 'utf8'), path };
});

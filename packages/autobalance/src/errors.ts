/**
 * Typed errors. Every error the core reports crosses the binding as a JS `Error` whose message is
 * `AUTOBALANCE_ERROR:{"code":...,"field":...,"message":...}`; {@link fromBindingError} turns it
 * into one of the classes below, so both backends give the same class, code, field and text.
 *
 * @module
 */

/** The error codes of the core, plus `internal` and `backend_load` from the TS layer. */
export type ErrorCode =
  | 'invalid_spec'
  | 'shape_mismatch'
  | 'out_of_range'
  | 'non_finite'
  | 'too_large'
  | 'invalid_request'
  | 'internal'
  | 'backend_load'
  | 'cancelled';

/** Longest field path an error carries, in characters (the core's `MAX_FIELD_CHARS`). */
export const MAX_FIELD_CHARS = 200;
/**
 * Longest detail an error carries, in characters (the core's `MAX_MESSAGE_CHARS`): with the field,
 * an error's `message` (`"<field>: <detail>"`) is at most 1000 characters.
 */
export const MAX_DETAIL_CHARS = 1000 - MAX_FIELD_CHARS - 2;

/**
 * `s` cut to at most `max` characters (Unicode code points, as the core counts), the last an
 * ellipsis when cut: errors echo input, and a 20 MB string must not become a message.
 */
function truncateText(s: string, max: number): string {
  if (s.length <= max) return s; // code units >= code points
  let count = 0;
  let end = 0;
  let cut = 0;
  for (const ch of s) {
    if (count === max - 1) cut = end;
    if (count === max) return s.slice(0, cut) + '\u2026';
    count++;
    end += ch.length;
  }
  return s;
}

/**
 * Base class of every error autobalance throws.
 *
 * `message` reads `"<field>: <detail>"` (like the core's own display of an error), or just the
 * detail when no field applies; `field` and `detail` hold the two parts.
 */
export class AutobalanceError extends Error {
  /** What kind of problem was found (see {@link ErrorCode}). */
  readonly code: ErrorCode;
  /** The spec field concerned, as a dotted path (`init.u0`, `schedule.eta`), or `''`. */
  readonly field: string;
  /** The explanation without the field prefix. */
  readonly detail: string;

  constructor(code: ErrorCode, field: string, detail: string, options?: { cause?: unknown }) {
    field = truncateText(String(field), MAX_FIELD_CHARS);
    detail = truncateText(String(detail), MAX_DETAIL_CHARS);
    super(field ? `${field}: ${detail}` : detail, options);
    this.code = code;
    this.field = field;
    this.detail = detail;
    this.name = new.target.name;
  }
}

/** The spec is not valid JSON, a field has the wrong type, a field is missing or unknown. */
export class InvalidSpecError extends AutobalanceError {
  constructor(field: string, detail: string, options?: { cause?: unknown }) {
    super('invalid_spec', field, detail, options);
  }
}

/** Two sizes that must agree do not (matrix shapes, buffer lengths, ragged rows). */
export class ShapeMismatchError extends AutobalanceError {
  constructor(field: string, detail: string, options?: { cause?: unknown }) {
    super('shape_mismatch', field, detail, options);
  }
}

/** A number is outside its allowed range (rank > min(d1, d2), step size <= 0, negative count). */
export class OutOfRangeError extends AutobalanceError {
  constructor(field: string, detail: string, options?: { cause?: unknown }) {
    super('out_of_range', field, detail, options);
  }
}

/** A value that must be finite is NaN or infinite. */
export class NonFiniteError extends AutobalanceError {
  constructor(field: string, detail: string, options?: { cause?: unknown }) {
    super('non_finite', field, detail, options);
  }
}

/** The problem would not fit in memory. */
export class TooLargeError extends AutobalanceError {
  constructor(field: string, detail: string, options?: { cause?: unknown }) {
    super('too_large', field, detail, options);
  }
}

/** The API was used in a wrong order, or something was asked for that does not exist. */
export class InvalidRequestError extends AutobalanceError {
  constructor(field: string, detail: string, options?: { cause?: unknown }) {
    super('invalid_request', field, detail, options);
  }
}

/** An error from a backend that is not a core error (a bug: please report it). */
export class InternalError extends AutobalanceError {
  constructor(field: string, detail: string, options?: { cause?: unknown }) {
    super('internal', field, detail, options);
  }
}

/**
 * A backend could not be loaded (the native addon or the WebAssembly module is missing or
 * broken). `cause` holds the underlying load error.
 */
export class BackendLoadError extends AutobalanceError {
  /** The backend that failed to load. */
  readonly backend: 'native' | 'wasm';
  constructor(backend: 'native' | 'wasm', detail: string, options?: { cause?: unknown }) {
    super('backend_load', 'backend', detail, options);
    this.backend = backend;
  }
}

/** Prefix of the message of every error thrown by a binding for a core error. */
export const BINDING_ERROR_PREFIX = 'AUTOBALANCE_ERROR:';

type CoreErrorClass = new (field: string, detail: string, options?: { cause?: unknown }) => AutobalanceError;

const CLASSES: Record<string, CoreErrorClass> = {
  invalid_spec: InvalidSpecError,
  shape_mismatch: ShapeMismatchError,
  out_of_range: OutOfRangeError,
  non_finite: NonFiniteError,
  too_large: TooLargeError,
  invalid_request: InvalidRequestError,
  internal: InternalError,
};

function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  try {
    return String(e);
  } catch {
    return 'unknown error';
  }
}

/**
 * Turn anything a binding threw into an {@link AutobalanceError}. A message of the form
 * `AUTOBALANCE_ERROR:{json}` becomes the class of its code; an `AutobalanceError` is returned
 * unchanged; anything else becomes an {@link InternalError} with the original as `cause`.
 */
export function fromBindingError(e: unknown): AutobalanceError {
  if (e instanceof AutobalanceError) return e;
  const msg = messageOf(e);
  const at = msg.indexOf(BINDING_ERROR_PREFIX);
  if (at >= 0) {
    try {
      const parsed: unknown = JSON.parse(msg.slice(at + BINDING_ERROR_PREFIX.length));
      if (parsed && typeof parsed === 'object') {
        const { code, field, message } = parsed as Record<string, unknown>;
        if (typeof code === 'string' && typeof message === 'string') {
          const Cls = CLASSES[code];
          const f = typeof field === 'string' ? field : '';
          if (Cls) return new Cls(f, message, { cause: e });
          return new InternalError(f, `unknown error code ${JSON.stringify(code)}: ${message}`, { cause: e });
        }
      }
    } catch {
      // fall through: not parseable
    }
  }
  return new InternalError('', msg, { cause: e });
}

/** Call `f`, converting anything it throws with {@link fromBindingError}. */
export function guard<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw fromBindingError(e);
  }
}

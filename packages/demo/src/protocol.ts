/** Messages between the page and its worker. */
import type { ClassifyReport, ColumnRole, ContinuationOutput, ContinuationStudySpec, RunSpec, Status } from 'autobalance/portable';

/** An error as it crosses the worker boundary (an `AutobalanceError` keeps code and field). */
export interface ErrorInfo {
  name: string;
  code: string;
  field: string;
  /** The explanation without the field (the `message` is `field: detail`). */
  detail: string;
  message: string;
}

/**
 * The page drives: `start` creates a run and records its initial iterate; each `advance` takes
 * up to `steps` more steps (`'auto'`: as many as fit in about 40 ms) and answers with the new rows:
 * those of the spec's `recordEvery`, or with `all` (Step) every step's row.
 * Pausing is not asking for more. Several runs (ids) can be live at once (an overlay).
 */
export type ToWorker =
  | { type: 'start'; id: number; spec: RunSpec }
  | { type: 'advance'; id: number; steps: number | 'auto'; all?: boolean }
  | { type: 'dispose'; id: number }
  | { type: 'classify'; id: number }
  /** Compute a continuation study (a study preset): progress, then its columns and output. */
  | { type: 'study'; id: number; spec: ContinuationStudySpec };

export type FromWorker =
  /** `threads`: the pool of the threaded module (1: the single-threaded module, `why` says why). */
  | { type: 'ready'; coreVersion: string; threads: number; why?: string }
  /** `everyStep`: the core records every step (Step shows each step's row). */
  | { type: 'started'; id: number; columnNames: string[]; columnRoles: Record<string, ColumnRole>; everyStep: boolean }
  | { type: 'rows'; id: number; start: number; rows: Record<string, Float64Array>; status: Status; seconds: number }
  | { type: 'error'; id: number; error: ErrorInfo }
  | { type: 'classified'; id: number; report: ClassifyReport; seconds: number }
  | { type: 'classifyError'; id: number; error: ErrorInfo }
  | { type: 'studyProgress'; id: number; done: number; total: number }
  | { type: 'studyDone'; id: number; columnNames: string[]; columns: Record<string, Float64Array>; output: ContinuationOutput; seconds: number };

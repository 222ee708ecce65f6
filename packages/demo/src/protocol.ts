/** Messages between the page and its worker. */
import type { ClassifyReport, ColumnRole, RunSpec, Status } from 'autobalance/portable';

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
 * up to `steps` more steps (`'auto'`: as many as fit in about 40 ms) and answers with the new rows.
 * Pausing is not asking for more. Several runs (ids) can be live at once (an overlay).
 */
export type ToWorker =
  | { type: 'start'; id: number; spec: RunSpec }
  | { type: 'advance'; id: number; steps: number | 'auto' }
  | { type: 'dispose'; id: number }
  | { type: 'classify'; id: number };

export type FromWorker =
  | { type: 'ready'; coreVersion: string }
  | { type: 'started'; id: number; columnNames: string[]; columnRoles: Record<string, ColumnRole> }
  | { type: 'rows'; id: number; start: number; rows: Record<string, Float64Array>; status: Status; seconds: number }
  | { type: 'error'; id: number; error: ErrorInfo }
  | { type: 'classified'; id: number; report: ClassifyReport; seconds: number }
  | { type: 'classifyError'; id: number; error: ErrorInfo };

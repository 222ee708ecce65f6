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

export type ToWorker =
  | { type: 'start'; id: number; spec: RunSpec }
  | { type: 'stop'; id: number }
  | { type: 'classify'; id: number };

export type FromWorker =
  | { type: 'ready'; coreVersion: string }
  | { type: 'started'; id: number; columnNames: string[]; columnRoles: Record<string, ColumnRole> }
  | { type: 'rows'; id: number; start: number; rows: Record<string, Float64Array>; status: Status; stepsPerSecond: number }
  | { type: 'done'; id: number; status: Status; cancelled: boolean; seconds: number }
  | { type: 'error'; id: number; error: ErrorInfo }
  | { type: 'classified'; id: number; report: ClassifyReport; seconds: number }
  | { type: 'classifyError'; id: number; error: ErrorInfo };

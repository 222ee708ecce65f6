/**
 * The page's settings: what a person picks in the form, what the URL query string holds, and the
 * run spec they stand for. Every setting is in the URL (numbers as JavaScript writes them, which
 * round-trips float64 exactly), so a link reproduces a run bit for bit.
 */
import type { MethodSpec, RunSpec } from 'autobalance/portable';

export type ModelKind = 'mf' | 'net' | 'octopus' | 'cnn';
export const MODELS: readonly ModelKind[] = ['mf', 'net', 'octopus', 'cnn'];

export const METHODS = ['gd', 'momentum', 'nesterov', 'adam', 'euler', 'rk4', 'dopri5', 'implicitMidpoint', 'perturbedGd'] as const;
export type MethodKind = (typeof METHODS)[number];

export const METHOD_LABELS: Record<MethodKind, string> = {
  gd: 'gradient descent',
  momentum: 'heavy-ball momentum',
  nesterov: 'Nesterov momentum',
  adam: 'Adam',
  euler: 'gradient flow: Euler',
  rk4: 'gradient flow: RK4',
  dopri5: 'gradient flow: Dormand-Prince 5(4)',
  implicitMidpoint: 'gradient flow: implicit midpoint',
  perturbedGd: 'perturbed gradient descent',
};

export interface Settings {
  model: ModelKind;
  // Matrix factorization: f(U, V) = 1/2 ||U V^T - M*||^2 + w ||U^T U - V^T V||^2.
  d1: number;
  d2: number;
  rank: number;
  /** Singular values of M*; empty: rank, rank-1, ..., 1. */
  sv: number[];
  /** Balance weight w. */
  w: number;
  stdU: number;
  stdV: number;
  // ReLU network: input -> hidden (ReLU) ... -> output (linear), squared loss on generated data.
  input: number;
  hidden: number[];
  output: number;
  samples: number;
  /** Init standard deviation per layer (one value: the same for every layer). */
  stds: number[];
  // The octopus (Du et al. 2017): d saddles in a chain; init uniform in [low, high]^d.
  d: number;
  L: number;
  gamma: number;
  tau: number;
  low: number;
  high: number;
  // The weight-normalized CNN of thesis ch. 5: f(Z) = sum_i a_i relu(w^T Z_i), w = v/|v|, k patches
  // of size p, taught by a teacher with (1^T a*)^2/|a*|^2 = r; population loss; Theorem 5.4's init.
  k: number;
  p: number;
  r: number;
  /** The sign of v at the start (Theorem 5.4's four-signs variant: +1 or -1). */
  signV: number;
  // Dynamics.
  method: MethodKind;
  eta: number;
  /** Momentum coefficient (momentum, Nesterov). */
  beta: number;
  /** Perturbed GD: gradient threshold, steps between perturbations, radius of the noise ball. */
  gThres: number;
  tThres: number;
  radius: number;
  steps: number;
  every: number;
  /** Seed of the target (or data); the initialization uses seed + 1. */
  seed: number;
  /**
   * Track the Hessian's extreme eigenvalues every this many steps (0: off), rounded to a multiple
   * of `every` (see `curvatureEvery`); off, it is left out of the URL.
   */
  curvature: number;
}

export const DEFAULTS: Readonly<Settings> = Object.freeze({
  model: 'mf',
  d1: 20,
  d2: 15,
  rank: 3,
  sv: [],
  w: 0,
  stdU: 0.3,
  stdV: 0.03,
  input: 10,
  hidden: [20, 20],
  output: 2,
  samples: 50,
  stds: [0.5, 0.2, 0.1],
  d: 5,
  L: 1,
  gamma: 1,
  tau: Math.E,
  low: -1,
  high: 1,
  k: 25,
  p: 6,
  r: 1,
  signV: 1,
  method: 'gd',
  eta: 0.02,
  beta: 0.9,
  gThres: Math.E / 100,
  tThres: 1,
  radius: Math.E / 100,
  steps: 2000,
  every: 5,
  seed: 1,
  curvature: 0,
});

/** The settings of each model kind, in URL order (the common ones follow). */
const MF_KEYS = ['d1', 'd2', 'rank', 'sv', 'w', 'stdU', 'stdV'] as const;
const NET_KEYS = ['input', 'hidden', 'output', 'samples', 'stds'] as const;
const OCTOPUS_KEYS = ['d', 'L', 'gamma', 'tau', 'low', 'high'] as const;
const CNN_KEYS = ['k', 'p', 'r', 'signV'] as const;
const COMMON_KEYS = ['method', 'eta', 'beta', 'gThres', 'tThres', 'radius', 'steps', 'every', 'seed', 'curvature'] as const;
const PGD_KEYS: readonly string[] = ['gThres', 'tThres', 'radius'];
const MODEL_KEYS: Record<ModelKind, readonly string[]> = { mf: MF_KEYS, net: NET_KEYS, octopus: OCTOPUS_KEYS, cnn: CNN_KEYS };
export type NumberKey = Exclude<keyof Settings, 'model' | 'method' | 'sv' | 'hidden' | 'stds'>;
type ListKey = 'sv' | 'hidden' | 'stds';
const LIST_KEYS: readonly string[] = ['sv', 'hidden', 'stds'];

/** `"1, 2.5,3"` -> [1, 2.5, 3]; entries that are not numbers become NaN (the core reports them). */
export function parseList(s: string): number[] {
  const t = s.trim();
  if (t === '') return [];
  return t.split(/[\s,;]+/).filter((x) => x !== '').map(Number);
}

export function formatList(xs: readonly number[]): string {
  return xs.map(String).join(',');
}

/** Settings from a query string; missing values fall back to the defaults (see {@link queryProblems}). */
export function fromQuery(query: string | URLSearchParams): Settings {
  return parseQuery(query).settings;
}

/**
 * What in a query string the page could not use, in words: unknown keys, and a `model` or
 * `method` that is not one of the page's (the default is used instead, and the page says so).
 */
export function queryProblems(query: string | URLSearchParams): string[] {
  return parseQuery(query).problems;
}

/** Keys the page reads besides the settings (presets, the speed). */
const PAGE_KEYS: readonly string[] = ['preset', 'speed', 'compare'];

function parseQuery(query: string | URLSearchParams): { settings: Settings; problems: string[] } {
  const p = typeof query === 'string' ? new URLSearchParams(query) : query;
  const s: Settings = { ...DEFAULTS, sv: [...DEFAULTS.sv], hidden: [...DEFAULTS.hidden], stds: [...DEFAULTS.stds] };
  const problems: string[] = [];
  const model = p.get('model');
  if (model !== null) {
    if ((MODELS as readonly string[]).includes(model)) s.model = model as ModelKind;
    else problems.push(`model=${model} is not a model of this page (${MODELS.join(', ')}); using ${s.model}`);
  }
  const method = p.get('method');
  if (method !== null) {
    if ((METHODS as readonly string[]).includes(method)) s.method = method as MethodKind;
    else problems.push(`method=${method} is not a method of this page (${METHODS.join(', ')}); using ${s.method}`);
  }
  const known = new Set<string>(['model', ...MF_KEYS, ...NET_KEYS, ...OCTOPUS_KEYS, ...CNN_KEYS, ...COMMON_KEYS, ...PAGE_KEYS]);
  for (const key of p.keys()) if (!known.has(key)) problems.push(`'${key}' is not a setting of this page; ignored`);
  for (const key of [...MF_KEYS, ...NET_KEYS, ...OCTOPUS_KEYS, ...CNN_KEYS, ...COMMON_KEYS]) {
    if (key === 'method') continue;
    const v = p.get(key);
    if (v === null) continue;
    if (LIST_KEYS.includes(key)) s[key as ListKey] = parseList(v);
    else s[key as NumberKey] = v.trim() === '' ? NaN : Number(v);
  }
  s.curvature = curvatureEvery(s);
  return { settings: s, problems };
}

/** The words of each numeric setting, for messages (`eta: expected a number`). */
export const FIELD_WORDS: Record<string, string> = {
  d1: 'd1', d2: 'd2', rank: 'rank', sv: 'singular values', w: 'balance weight', stdU: 'init std of U', stdV: 'init std of V',
  input: 'input dim', hidden: 'hidden widths', output: 'output dim', samples: 'samples', stds: 'init std per layer',
  d: 'd', L: 'L', gamma: 'gamma', tau: 'tau', low: 'init low', high: 'init high',
  k: 'patches k', p: 'patch size p', r: 'teacher ratio r', signV: 'sign of v',
  eta: 'eta', beta: 'momentum beta', gThres: 'gradient threshold', tThres: 'steps between perturbations', radius: 'radius',
  steps: 'steps', every: 'record every', seed: 'seed', curvature: 'curvature every',
};

/**
 * The first setting of the current model and method that is not a number, as a message naming
 * the field in words (`eta: expected a number, got "abc"`), or null. Ranges are the core's to
 * check (its errors name the spec field); this only catches text that is not a number at all.
 */
export function notANumber(s: Settings, raw: Record<string, string> = {}): { key: string; message: string } | null {
  for (const key of settingKeys(s)) {
    const v = s[key as keyof Settings];
    const words = FIELD_WORDS[key] ?? key;
    const got = raw[key] !== undefined ? `, got "${raw[key]}"` : '';
    if (Array.isArray(v)) {
      const bad = v.findIndex((x) => Number.isNaN(x));
      if (bad >= 0) return { key, message: `${words}: entry ${bad + 1} is not a number${got}` };
    } else if (typeof v === 'number' && Number.isNaN(v)) {
      return { key, message: `${words}: expected a number${got}` };
    }
  }
  return null;
}

/** The settings that count for `s`: the model's own and the common ones its method uses. */
export function settingKeys(s: Settings): string[] {
  return [...MODEL_KEYS[s.model], ...COMMON_KEYS].filter((key) => {
    if (key === 'method') return false;
    if (key === 'beta') return s.method === 'momentum' || s.method === 'nesterov';
    if (PGD_KEYS.includes(key)) return s.method === 'perturbedGd';
    return true;
  });
}

/**
 * The curvature sampling interval the run uses: 0 (off) for 0 or less; else the setting rounded
 * to the nearest positive multiple of `every` (the core samples only recorded rows). With an
 * `every` that is not a positive integer (the core reports it) or a value that is not a number
 * (the core reports `curvature.every`), the setting as it is.
 */
export function curvatureEvery(s: Pick<Settings, 'curvature' | 'every'>): number {
  const k = s.curvature;
  if (k <= 0) return 0;
  if (!Number.isFinite(k) || !Number.isInteger(s.every) || s.every <= 0) return k;
  return Math.max(1, Math.round(k / s.every)) * s.every;
}

/** The query string of the settings: the model's own settings and the common ones. */
export function toQuery(s: Settings): string {
  const p = new URLSearchParams();
  p.set('model', s.model);
  for (const key of [...MODEL_KEYS[s.model], ...COMMON_KEYS]) {
    if (key === 'beta' && s.method !== 'momentum' && s.method !== 'nesterov') continue;
    if (PGD_KEYS.includes(key) && s.method !== 'perturbedGd') continue;
    if (key === 'curvature' && s.curvature === 0) continue;
    const v = s[key as keyof Settings];
    p.set(key, Array.isArray(v) ? formatList(v) : String(v));
  }
  return p.toString();
}

function method(s: Settings): MethodSpec {
  switch (s.method) {
    case 'momentum':
      return { kind: 'momentum', beta: s.beta };
    case 'nesterov':
      return { kind: 'nesterov', beta: s.beta };
    case 'perturbedGd':
      // The noise stream has its own seed: seed + 2 (the target uses seed, the init seed + 1).
      return { kind: 'perturbedGd', gThres: s.gThres, tThres: s.tThres, radius: s.radius, seed: s.seed + 2 };
    default:
      return { kind: s.method };
  }
}

/** The widths of the network's layers, hidden then output. */
export function layerWidths(s: Settings): number[] {
  return [...s.hidden, s.output];
}

/**
 * The run spec of the settings. It checks nothing: the core validates the spec and its errors
 * name the field (e.g. `model.rank`), which the page shows.
 */
export function toSpec(s: Settings): RunSpec {
  const common: Pick<RunSpec, 'schedule' | 'method' | 'steps' | 'recordEvery' | 'curvature'> = {
    schedule: { kind: 'constant' as const, eta: s.eta },
    method: method(s),
    steps: s.steps,
    recordEvery: s.every,
  };
  const k = curvatureEvery(s);
  if (k !== 0) common.curvature = { every: k };
  if (s.model === 'octopus') {
    return {
      model: { kind: 'octopus', d: s.d, L: s.L, gamma: s.gamma, tau: s.tau },
      init: { kind: 'uniform', low: s.low, high: s.high, seed: s.seed },
      ...common,
    };
  }
  if (s.model === 'cnn') {
    // The teacher's direction uses seed, its second layer seed + 1, the init seed + 2.
    return {
      model: { kind: 'weightNormCnn', k: s.k, p: s.p, loss: 'population' },
      teacher: { wStarNorm: 1, wStar: { kind: 'random', seed: s.seed }, aStar: { kind: 'ratio', r: s.r, norm: 1, seed: s.seed + 1 } },
      init: { kind: 'theorem54', vNorm: 1, seed: s.seed + 2, signs: [s.signV, 1] },
      ...common,
    } as RunSpec;
  }
  if (s.model === 'mf') {
    const r = s.rank;
    const sv = s.sv.length > 0 ? s.sv : Array.from({ length: Number.isInteger(r) && r > 0 ? r : 0 }, (_, i) => r - i);
    return {
      model: { kind: 'matrixFactorization', d1: s.d1, d2: s.d2, rank: r, balanceWeight: s.w },
      target: { kind: 'random', singularValues: sv, seed: s.seed },
      init: { kind: 'gaussian', stdU: s.stdU, stdV: s.stdV, seed: s.seed + 1 },
      ...common,
    };
  }
  const widths = layerWidths(s);
  const stds = s.stds.length === 1 ? widths.map(() => s.stds[0] as number) : s.stds;
  return {
    model: {
      kind: 'network',
      inputDim: s.input,
      layers: widths.map((width, h) => (h < widths.length - 1 ? { width, activation: 'relu' as const } : { width })),
    },
    data: { kind: 'generated', samples: s.samples, targets: { kind: 'gaussian' }, seed: s.seed },
    init: { kind: 'gaussian', stds, seed: s.seed + 1 },
    ...common,
  };
}

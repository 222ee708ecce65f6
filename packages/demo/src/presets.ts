/**
 * One-click presets: a pair of runs (A solid, B dashed) that differ in one setting, the speed
 * they play at, and a short explanation of what the theorem says and what to watch. Small sizes,
 * so that a run is visibly live. The URL holds `preset=<id>` and run A's settings; run B is
 * derived from A by the preset's `vary`.
 */
import type { ContinuationStudySpec } from 'autobalance/portable';

import { DEFAULTS, type Settings } from './settings.js';

export interface Preset {
  id: string;
  title: string;
  /** Run A's settings. */
  a: Settings;
  /** Run B from run A's settings (so that editing A's eta or seed changes both). */
  vary: (a: Settings) => Settings;
  labels: [string, string];
  /** Steps per animation frame (see SPEEDS). */
  speed: string;
  /** HTML: what the theorem says and what to watch. */
  explain: string;
  /**
   * A study preset (the continuation): no runs; the page computes this study in the worker and
   * draws its branch diagram (`a`, `vary`, `labels`, `speed` are unused).
   */
  study?: ContinuationStudySpec;
  /** How long it takes (studies: measured; runs: computed by {@link presetDuration}). */
  takes?: string;
}

const base = (over: Partial<Settings>): Settings => ({ ...DEFAULTS, sv: [...DEFAULTS.sv], hidden: [...DEFAULTS.hidden], stds: [...DEFAULTS.stds], ...over });

export const PRESETS: readonly Preset[] = [
  {
    id: 'figure1',
    title: 'Figure 1: objective (1) vs (3)',
    a: base({ model: 'mf', d1: 20, d2: 15, rank: 3, sv: [3, 2, 1], w: 0, stdU: 0.001, stdV: 0.001, method: 'gd', eta: 0.02, steps: 600, every: 2, seed: 1 }),
    vary: (a) => ({ ...a, w: 1 / 8 }),
    labels: ['(1): no regularizer, w = 0', '(3): balance regularizer, w = 1/8'],
    speed: '2',
    explain: `<p><b>Du, Hu &amp; Lee (2018), Theorem 2.1 / Figure 1.</b> Gradient flow on ½‖UVᵀ − M*‖² keeps
      UᵀU − VᵀV exactly constant, so factors that start small and nearly balanced stay balanced:
      the regularizer w‖UᵀU − VᵀV‖² of objective (3) is not needed.</p>
      <p><b>Watch:</b> the two loss curves fall together, in stages (one per singular value 3, 2, 1);
      the squared norms of U and V grow together in both runs; the conserved quantity of run A stays
      at its tiny initial value (GD drifts by O(η²) per step), while the regularizer of run B pushes it to 0.</p>`,
  },
  {
    id: 'figure2',
    title: 'Figure 2: balanced vs unbalanced init',
    a: base({ model: 'net', input: 50, hidden: [20, 20], output: 5, samples: 50, stds: [0.0316, 0.05, 0.1], method: 'gd', eta: 0.02, steps: 3000, every: 10, seed: 1 }),
    vary: (a) => ({ ...a, stds: [0.1, 0.1, 0.1] }),
    labels: ['balanced init: ‖W1‖² ≈ ‖W2‖² ≈ ‖W3‖² ≈ 1', 'unbalanced init: ‖W1‖² ≈ 10, ‖W2‖² ≈ 4, ‖W3‖² ≈ 1'],
    speed: '5',
    explain: `<p><b>Du, Hu &amp; Lee (2018), Theorem 2.1 / Figure 2.</b> For a ReLU network trained by gradient
      flow, ‖W_h‖² − ‖W_{h+1}‖² is constant for every pair of consecutive layers (in fact per hidden neuron),
      whatever the data. So the layers stay exactly as (un)balanced as they start.</p>
      <p><b>Watch:</b> in run A (solid) the three squared norms start equal and grow together; in run B (dashed)
      they start at 10, 4, 1 and grow while keeping their differences (≈ 6 and ≈ 3: the conserved panel),
      so the ratios approach 1 only as the norms grow. Gradient descent moves these differences only by its
      small drift (the log panel). A smaller init std (a slider) starts nearer a saddle: the loss then plateaus longer.</p>`,
  },
  {
    id: 'saddle',
    title: 'Saddle escape: GD vs perturbed GD',
    a: base({ model: 'octopus', d: 5, L: 1, gamma: 1, tau: Math.E, low: -1, high: 1, method: 'gd', eta: 0.25, steps: 800, every: 1, seed: 3 }),
    vary: (a) => ({ ...a, method: 'perturbedGd', gThres: Math.E / 100, tThres: 1, radius: Math.E / 100 }),
    labels: ['gradient descent', 'perturbed GD (noise of radius e/100 when ‖∇f‖ is small)'],
    speed: '2',
    explain: `<p><b>Du et al. (2017), thesis ch. 7.</b> The "octopus" function has d = 5 strict saddles in a chain.
      Near saddle k the escaping coordinate grows by (1 + 2ηγ) per step while the next ones shrink by
      (1 − 2ηL), so each saddle takes a constant factor longer than the last (≈ 2.7 here): gradient descent
      needs time exponential in d. Perturbed GD adds a small random kick whenever the gradient is small, and
      passes every saddle in about the same number of steps: polynomial time.</p>
      <p><b>Watch:</b> the loss is a staircase, one step per saddle (values −(k−1)ν); GD's steps get longer
      and longer, PGD's stay short. The gradient norm dips at each saddle. Pause on a plateau and ask
      "What kind of point is this?" (below): a strict saddle, λ_min = −2γ. (η = 1/(4L); docs/saddle-escape.md.)</p>`,
  },
  {
    id: 'conservation',
    title: 'Conservation: GD vs implicit midpoint',
    a: base({ model: 'mf', d1: 20, d2: 15, rank: 3, sv: [3, 2, 1], w: 0, stdU: 0.5, stdV: 0.1, method: 'gd', eta: 0.05, steps: 400, every: 2, seed: 1 }),
    vary: (a) => ({ ...a, method: 'implicitMidpoint' }),
    labels: ['gradient descent', 'implicit midpoint (a gradient-flow integrator)'],
    speed: '1',
    explain: `<p><b>Why "up to a small drift".</b> The exact gradient flow conserves UᵀU − VᵀV; gradient
      descent is its explicit Euler discretization and moves it by O(η²) per step. The implicit midpoint
      rule conserves every quadratic invariant exactly (up to its solver tolerance), at the price of
      solving an equation each step.</p>
      <p><b>Watch:</b> here the init is far from balanced (‖UᵀU − VᵀV‖ ≈ 8.8). Both runs fit M* at the same
      pace; the conserved quantity of GD (solid) moves in the first steps, while the gradient is large,
      then stays about 0.13 away from its start; the implicit midpoint's (dashed) stays flat: its drift is at the rounding level (≈ 1e-14).
      Double η with the slider: GD's drift about doubles (0.13 → 0.26 at η = 0.1).</p>`,
  },
  {
    id: 'cnn',
    title: 'CNN (thesis ch. 5): global vs spurious minimum',
    a: base({ model: 'cnn', k: 25, p: 6, r: 1, signV: 1, method: 'gd', eta: 0.9 * ((2 * Math.PI) / (25 + Math.PI - 1)), steps: 1000, every: 1, seed: 1 }),
    vary: (a) => ({ ...a, signV: -a.signV }),
    labels: ['init v: φ₀ = 0.71 < π/2', 'the same init with v flipped: φ₀ = 2.43 > π/2'],
    speed: '2',
    explain: `<p><b>Du (2019), thesis ch. 5; Du, Lee, Tian, Póczos &amp; Singh (ICML 2018).</b> A convolutional
      filter w = v/‖v‖ shared by k = 25 non-overlapping patches, a second layer a, learned from a teacher (w*, a*) by
      gradient descent on the population loss. Besides the global minimum (φ = 0, a = a*) there is a
      <i>spurious</i> local minimum at φ = π (v pointing away from w*; Lemma 5.1), a local minimum because
      (1ᵀa*)²/‖a*‖² = r = 1 is below (k + π − 1)/π. Theorem 5.4: from a random init (v on a sphere, a in a small
      ball), GD reaches the global minimum with constant probability (about ½ here), not always.</p>
      <p><b>Watch:</b> the two runs start from the same point up to the sign of v. Run A (solid) starts with the angle
      φ between v and w* below π/2: φ falls to 0 and the loss to rounding (≈ 1e-31), linearly. Run B (dashed) starts
      at π − φ₀: φ creeps up to π (π − φ shrinks only like 1/t) and the loss stalls at 0.15: a local minimum, not
      a saddle. The distances panel shows each run approaching its own minimum; ‖v‖² never decreases under GD
      (the gradient is orthogonal to v). The core decides each run's fate (the <code>outcome</code> column) within
      a couple of steps, from regions GD provably never leaves (docs/weight-norm-cnn.md).</p>`,
  },
  {
    id: 'continuation',
    title: 'Taghvaei et al.: branches of critical points',
    a: base({}),
    vary: (a) => a,
    labels: ['', ''],
    speed: 'max',
    study: {
      kind: 'continuation',
      problem: { n: 2, T: 1, R: [[0, -1], [1, 0]] },
      parameter: 'lambda',
      lambda: 0,
      range: [0, 0.3],
      starts: [0, 1, -1, 2, -2].map((sheet) => ({ kind: 'logarithm' as const, sheet })),
      maxPoints: 120,
      cMax: 40,
      step: { initial: 0.01, min: 1e-9, max: 0.3 },
      verdicts: { K: [1, 4, 16], every: 4 },
    },
    takes: 'a few seconds',
    explain: `<p><b>Taghvaei, Kim &amp; Mehta (NIPS 2017), Example 1.</b> A continuous-time linear network dX/dt = A_t X
      on [0, 1] learns the rotation R = [[0, −1], [1, 0]] with the regularizer λ/2 ∫ tr(A_tᵀA_t) dt. Its critical
      points are A_t = e^{2tΩ} C e^{−2tΩ}, C a solution of the characteristic equation λC = Fᵀ(R − F)Σ₀. Here
      C = aI + bJ. At λ = 0 they are the logarithms of R, b = π/2 + 2πn, one per sheet n, all global minima. As λ
      grows each branch n ≠ 0 turns back at a <i>fold</i> λ_n and meets a far branch: for λ &gt; λ_n those critical
      points no longer exist. The core continues each branch by pseudo-arclength and refines the folds.</p>
      <p><b>Watch:</b> the branch diagram (b against λ): the folds (black dots) at λ₁ = 0.0752, λ₋₁ = 0.1454,
      λ₂ = 0.0385, λ₋₂ = 0.0509, not symmetric in n; the principal branch (n = 0) has none. The verdicts panel
      (branch n = 1, against its arclength): among constant weights (the paper's sense) the near branch is a local
      minimum up to the fold (smallest eigenvalue &gt; 0) and a saddle after it; among time-varying weights (a 16-layer
      discretization) the smallest eigenvalue is already negative before the fold, e.g. at λ = 0.05: <i>a saddle where
      the paper says "local minimum"</i>. The cost J panel: at the same λ a far branch costs more than its near branch (as λ → 0: 1 against 0)
      (docs/continuation.md).</p>`,
  },
];

/**
 * How long a preset takes: its run pair at its speed (steps per animation frame, about 60 frames a
 * second), or its measured time (studies).
 */
export function presetDuration(p: Preset): string {
  if (p.takes !== undefined) return p.takes;
  const perFrame = Number(p.speed);
  if (!Number.isFinite(perFrame) || perFrame <= 0) return 'under a second';
  const seconds = Math.max(p.a.steps, p.vary(p.a).steps) / perFrame / 60;
  return `about ${Math.max(1, Math.round(seconds))} s`;
}

/** Speeds: steps per animation frame (about 60 frames a second), or as fast as the core goes. */
export const SPEEDS: readonly { value: string; label: string }[] = [
  { value: '1', label: '1 step / frame' },
  { value: '2', label: '2 steps / frame' },
  { value: '5', label: '5 steps / frame' },
  { value: '20', label: '20 steps / frame' },
  { value: '100', label: '100 steps / frame' },
  { value: 'max', label: 'as fast as possible' },
];

/**
 * One-click presets: a pair of runs (A solid, B dashed) that differ in one setting, the speed
 * they play at, and a short explanation of what the theorem says and what to watch. Small sizes,
 * so that a run is visibly live. The URL holds `preset=<id>` and run A's settings; run B is
 * derived from A by the preset's `vary`.
 */
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
];

/** Speeds: steps per animation frame (about 60 frames a second), or as fast as the core goes. */
export const SPEEDS: readonly { value: string; label: string }[] = [
  { value: '1', label: '1 step / frame' },
  { value: '2', label: '2 steps / frame' },
  { value: '5', label: '5 steps / frame' },
  { value: '20', label: '20 steps / frame' },
  { value: '100', label: '100 steps / frame' },
  { value: 'max', label: 'as fast as possible' },
];

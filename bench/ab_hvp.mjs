import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
// usage: node bench/ab_hvp.mjs OLD.node [NEW.node] [small|large]
// Two builds of the native addon in one process, alternating: ms per network HVP (trace query)
// and eigs both ends to 1e-8. Build the old one from a worktree, e.g.
//   git worktree add /tmp/old REV && (cd /tmp/old && CARGO_TARGET_DIR=/tmp/old-target cargo build --release -p autobalance-node)
//   cp /tmp/old-target/release/libautobalance_node.so /tmp/old.node && node bench/ab_hvp.mjs /tmp/old.node
const [oldPath, newPath = new URL('../packages/autobalance/native/autobalance.node', import.meta.url).pathname, sizeArg] = process.argv.slice(2);
if (!oldPath) { console.error('usage: node bench/ab_hvp.mjs OLD.node [NEW.node] [small|large]'); process.exit(2); }
const { resolve } = await import('node:path');
const NEW = require(resolve(newPath));
const OLD = require(resolve(oldPath));
const size = sizeArg ?? 'large';
const dims = size === 'large' ? [1000, [100, 100, 10], 1000] : [100, [64, 64, 10], 500];
const [d, widths, m] = dims;
const fan = [d, ...widths.slice(0, -1)];
const spec = {
  model: { kind: 'network', inputDim: d, loss: 'squared', layers: widths.map((w, i) => (i < widths.length - 1 ? { width: w, activation: 'relu' } : { width: w })) },
  data: { kind: 'generated', samples: m, inputs: 'gaussian', targets: { kind: 'gaussian', std: 1 }, seed: 1 },
  init: { kind: 'gaussian', variances: fan.map((f) => 1 / f), seed: 2 },
  schedule: { kind: 'constant', eta: 0.01 }, steps: 300, recordEvery: 300,
};
const mk = (lib) => { const s = new lib.NativeSession(JSON.stringify(spec), {}); s.advance(300); return s; };
const sessions = { old: mk(OLD), new: mk(NEW) };
const q1 = JSON.stringify({ what: 'trace', probes: 30 });
const q2 = JSON.stringify({ what: 'eigs', which: 'both', method: 'lanczos', tol: 1e-8 });
for (let rep = 0; rep < 2; rep++) {
  for (const name of ['old', 'new']) {
    const s = sessions[name];
    let t0 = performance.now(); const tr = JSON.parse(s.hessian(q1)); const tt = performance.now() - t0;
    t0 = performance.now(); const e = JSON.parse(s.hessian(q2)); const te = performance.now() - t0;
    console.log(size, name, 'trace', tr.estimate.toExponential(6), (tt / tr.hvps).toFixed(2), 'ms/HVP;', 'eigs', te.toFixed(0), 'ms', e.hvps, 'hvps', e.smallest[0].value.toExponential(8), e.largest[0].value.toExponential(8));
  }
}

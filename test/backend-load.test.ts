// Backend selection: forced backends that cannot load give a BackendLoadError with the load error
// as its cause; the default falls back from native to wasm. Each test imports a fresh copy of the
// package (vi.resetModules) after pointing the loader at files that do not exist.
import { afterEach, describe, expect, it, vi } from 'vitest';

import { BACKEND, smallSpec } from './helpers.js';

type Api = typeof import('autobalance');

const saved = { ...process.env };

async function freshApi(env: Record<string, string | undefined>): Promise<Api> {
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  vi.resetModules();
  return (await import('autobalance')) as Api;
}

afterEach(() => {
  for (const k of ['AUTOBALANCE_BACKEND', 'AUTOBALANCE_NATIVE_PATH', 'AUTOBALANCE_WASM_DIR', 'AUTOBALANCE_WASM_THREADS_DIR']) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  vi.resetModules();
});

const MISSING_NATIVE = '/nonexistent/autobalance-missing.node';
const MISSING_WASM = '/nonexistent/autobalance-wasm-missing';
// With AUTOBALANCE_WASM_THREADS set (the suite on the threaded module), the wasm backend is read
// from AUTOBALANCE_WASM_THREADS_DIR: both point at nothing where a test wants wasm missing.
const NO_WASM = { AUTOBALANCE_WASM_DIR: MISSING_WASM, AUTOBALANCE_WASM_THREADS_DIR: MISSING_WASM };

describe(`backend loading (suite backend ${BACKEND})`, () => {
  it('forced native by AUTOBALANCE_BACKEND, when the addon cannot load: BackendLoadError with the cause', async () => {
    const api = await freshApi({ AUTOBALANCE_BACKEND: 'native', AUTOBALANCE_NATIVE_PATH: MISSING_NATIVE });
    const err = await api.train(smallSpec()).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(api.BackendLoadError);
    const e = err as InstanceType<Api['BackendLoadError']>;
    expect(e.code).toBe('backend_load');
    expect(e.backend).toBe('native');
    expect(e.field).toBe('backend');
    expect(e.message).toMatch(/native addon could not be loaded/);
    expect(e.message).toContain(MISSING_NATIVE);
    expect(e.cause).toBeInstanceOf(Error);
    await expect(api.activeBackend()).rejects.toBeInstanceOf(api.BackendLoadError);
  });

  it('forced wasm by AUTOBALANCE_BACKEND, when the module cannot load: BackendLoadError', async () => {
    const api = await freshApi({ AUTOBALANCE_BACKEND: 'wasm', ...NO_WASM });
    const err = await api.backendInfo().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(api.BackendLoadError);
    expect((err as InstanceType<Api['BackendLoadError']>).backend).toBe('wasm');
    expect((err as Error).cause).toBeDefined();
  });

  it('forced by the option, whatever the environment says', async () => {
    const api = await freshApi({ AUTOBALANCE_BACKEND: 'wasm', AUTOBALANCE_NATIVE_PATH: MISSING_NATIVE });
    await expect(api.train(smallSpec(), { backend: 'native' })).rejects.toBeInstanceOf(api.BackendLoadError);
    // ... while the wasm backend still works in the same process.
    const r = await api.train(smallSpec({ steps: 3 }));
    expect(r.backend).toBe('wasm');
  });

  it('falls back to wasm when native cannot load and nothing is forced', async () => {
    const api = await freshApi({ AUTOBALANCE_BACKEND: undefined, AUTOBALANCE_NATIVE_PATH: MISSING_NATIVE });
    expect(await api.activeBackend()).toBe('wasm');
    const probes = await api.probeBackends();
    expect(probes.native.available).toBe(false);
    expect(probes.wasm.available).toBe(true);
  });

  it('prefers native when it loads and nothing is forced', async () => {
    const api = await freshApi({ AUTOBALANCE_BACKEND: undefined });
    expect(await api.activeBackend()).toBe('native');
  });

  it('names both errors when no backend loads', async () => {
    const api = await freshApi({ AUTOBALANCE_BACKEND: undefined, AUTOBALANCE_NATIVE_PATH: MISSING_NATIVE, ...NO_WASM });
    const err = await api.activeBackend().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(api.BackendLoadError);
    expect((err as Error).message).toMatch(/native: [\s\S]*wasm: /);
  });

  it('the portable entry runs on a wasm module loaded by the caller (as in a browser)', async () => {
    vi.resetModules();
    const portable = await import('autobalance/portable');
    const glueUrl = new URL('../packages/autobalance/wasm/autobalance_wasm.js', import.meta.url);
    const glue = (await import(glueUrl.href)) as { initSync: (o: { module: Uint8Array }) => unknown };
    const { readFileSync } = await import('node:fs');
    glue.initSync({ module: readFileSync(new URL('../packages/autobalance/wasm/autobalance_wasm_bg.wasm', import.meta.url)) });
    const backend = portable.wasmBackend(glue);
    expect(backend.name).toBe('wasm');
    const run = portable.Run.withBackend(backend, smallSpec({ steps: 20 }));
    for await (const chunk of run.chunks()) void chunk;
    expect(run.status).toMatchObject({ step: 20, finished: true });
    run.dispose();
    // Without a registered loader, names cannot be resolved: only Backend objects.
    await expect(portable.Run.create(smallSpec(), { backend: 'wasm' })).rejects.toBeInstanceOf(portable.InvalidRequestError);
    expect(() => portable.wasmBackend({})).toThrow(portable.InvalidRequestError);
  });

  it('rejects an unknown backend name', async () => {
    const api = await freshApi({ AUTOBALANCE_BACKEND: 'gpu' });
    await expect(api.activeBackend()).rejects.toBeInstanceOf(api.InvalidRequestError);
    await expect(api.train(smallSpec(), { backend: 'cuda' as 'native' })).rejects.toMatchObject({ code: 'invalid_request', field: 'backend' });
  });
});

/** Builds small ONNX ModelProto files for tests, including deliberately malformed ones. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ModelProtoType } from '../../src/frontend/onnx/schema.js';

export const FLOAT = 1;
export const INT64 = 7;

export function vi(name: string, elemType = FLOAT, dims: (number | string)[] = [2]): Record<string, unknown> {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

export function node(opType: string, input: string[], output: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { opType, input, output, name: extra.name ?? `${opType}_${output[0]}`, ...extra };
}

export function floatTensor(name: string, dims: number[], values: number[]): Record<string, unknown> {
  return { name, dims, dataType: FLOAT, floatData: values };
}

export interface ModelSpec {
  nodes: Record<string, unknown>[];
  inputs: Record<string, unknown>[];
  outputs: Record<string, unknown>[];
  initializers?: Record<string, unknown>[];
  opset?: number;
  extraOpsets?: { domain: string; version: number }[];
  functions?: Record<string, unknown>[];
  irVersion?: number;
}

export function modelBytes(spec: ModelSpec): Uint8Array {
  const msg = {
    irVersion: spec.irVersion ?? 8,
    producerName: 'kiln-tests',
    opsetImport: [{ domain: '', version: spec.opset ?? 13 }, ...(spec.extraOpsets ?? [])],
    graph: { name: 'g', node: spec.nodes, input: spec.inputs, output: spec.outputs, initializer: spec.initializers ?? [] },
    functions: spec.functions ?? [],
  };
  return ModelProtoType.encode(ModelProtoType.fromObject(msg)).finish();
}

export function tempDir(prefix = 'kiln-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function writeModel(dir: string, spec: ModelSpec, file = 'model.onnx'): string {
  const p = path.join(dir, file);
  fs.writeFileSync(p, modelBytes(spec));
  return p;
}

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
export const KILN = path.join(repoRoot, 'bin', 'kiln.js');
export const ONNX_TESTS = path.resolve(repoRoot, '..', 'shared', 'onnx-tests');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (npm test builds first). */
export function kiln(args: string[], opts: { cwd?: string; timeout?: number; env?: Record<string, string> } = {}): CliResult {
  try {
    const stdout = execFileSync(process.execPath, [KILN, ...args], { cwd: opts.cwd ?? repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeout ?? 600_000, maxBuffer: 512 * 1024 * 1024, env: { ...process.env, CI: 'true', ...opts.env } });
    return { code: 0, stdout, stderr: '' };
  } catch (e) {
    const err = e as { status: number | null; stdout: string; stderr: string };
    return { code: err.status ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/** Whether a command-line tool runs here (tests that need it skip, saying so, when it does not). */
export function hasTool(cmd: string, args: string[] = ['--version']): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

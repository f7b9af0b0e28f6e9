/** Control-flow ops: If, Loop, Scan. Subgraphs see outer-scope values. */
import { KilnError } from '../errors.js';
import { Tensor, type RtValue } from '../tensor.js';
import { isStaticShape, tensorType, type Dim, type ValueType } from '../types.js';
import { registerOp, type KernelContext } from './registry.js';
import { boolScalar, i64Scalar, joinTypes, looseType, stackAxis, takeAxis } from './sequence-util.js';
import { normAxis } from './util.js';

function truthy(t: Tensor, what: string): boolean {
  if (t.size !== 1) throw new KilnError('runtime', `${what} must hold one element, got shape [${t.shape.join(',')}]`);
  return t.num(0) !== 0;
}

// ---------- If ----------

registerOp({
  opType: 'If',
  since: 1,
  attrs: { then_branch: 'graph', else_branch: 'graph' },
  infer: (ctx) => {
    const c = ctx.inputs[0];
    if (c && c.kind !== 'tensor') throw new KilnError('type', 'If condition must be a tensor');
    const thenG = ctx.attrs.graph('then_branch');
    const elseG = ctx.attrs.graph('else_branch');
    const tt = ctx.inferSubgraph(thenG, []);
    const et = ctx.inferSubgraph(elseG, []);
    if (tt.length !== et.length) throw new KilnError('type', `If branches have ${tt.length} and ${et.length} outputs`);
    const cst = ctx.constInput(0);
    if (cst && cst.size === 1) return cst.num(0) !== 0 ? tt : et;
    return tt.map((t, i) => joinTypes(t, et[i] ?? null));
  },
  interp: (ctx) => {
    const cond = truthy(ctx.tensor(0), 'If condition');
    const g = ctx.attrs.graph(cond ? 'then_branch' : 'else_branch');
    return ctx.runSubgraph(g, []);
  },
});

// ---------- Loop ----------

function emptyStacked(type: ValueType | null): Tensor {
  if (type && type.kind === 'tensor') {
    const inner = type.shape ? type.shape.slice(1) : null;
    const shape = inner && isStaticShape(inner) ? [0, ...inner] : [0];
    return Tensor.zeros(type.dtype, shape);
  }
  return Tensor.zeros('f32', [0]);
}

registerOp({
  opType: 'Loop',
  since: 1,
  attrs: { body: 'graph' },
  infer: (ctx) => {
    const body = ctx.attrs.graph('body');
    const nCarried = ctx.inputs.length - 2;
    const init = ctx.inputs.slice(2);
    const bodyIn: (ValueType | null)[] = [tensorType('i64', []), tensorType('bool', []), ...init.map((t) => looseType(t))];
    const outs = ctx.inferSubgraph(body, bodyIn);
    const nScan = outs.length - 1 - nCarried;
    if (nScan < 0) throw new KilnError('type', `Loop body has ${outs.length} outputs but needs at least ${1 + nCarried}`);
    const res: (ValueType | null)[] = [];
    for (let i = 0; i < nCarried; i++) {
      const a = init[i] ?? null;
      const b = outs[1 + i] ?? null;
      // a None initial optional becomes whatever the body produces
      res.push(a === null ? b : b === null ? a : a.kind !== b.kind ? b : joinTypes(a, b));
    }
    for (let j = 0; j < nScan; j++) {
      const t = outs[1 + nCarried + j] ?? null;
      if (t === null) res.push(null);
      else if (t.kind === 'tensor') res.push(tensorType(t.dtype, t.shape === null ? null : [null, ...t.shape]));
      else throw new KilnError('unsupported', 'unsupported Loop scan output that is not a tensor');
    }
    return res;
  },
  interp: (ctx) => {
    const body = ctx.attrs.graph('body');
    const mT = ctx.optTensor(0);
    const cT = ctx.optTensor(1);
    const maxTrip = mT ? mT.big(0) : null;
    let cond = cT ? truthy(cT, 'Loop condition') : true;
    let carried: RtValue[] = ctx.inputs.slice(2).map((v, i) => {
      if (v === null) throw new KilnError('runtime', `Loop carried input ${i} is missing`);
      return v;
    });
    const nCarried = carried.length;
    const nScan = body.outputs.length - 1 - nCarried;
    const scans: Tensor[][] = Array.from({ length: nScan }, () => []);
    for (let i = 0n; (maxTrip === null || i < maxTrip) && cond; i++) {
      const outs = ctx.runSubgraph(body, [i64Scalar(i), boolScalar(cond), ...carried]);
      const c = outs[0];
      if (!c || c.kind !== 'tensor') throw new KilnError('runtime', 'Loop body condition output must be a tensor');
      cond = truthy(c, 'Loop body condition');
      carried = outs.slice(1, 1 + nCarried);
      for (let j = 0; j < nScan; j++) {
        const s = outs[1 + nCarried + j];
        if (!s || s.kind !== 'tensor') throw new KilnError('unsupported', 'unsupported Loop scan output that is not a tensor');
        scans[j]!.push(s);
      }
    }
    const res: RtValue[] = [...carried];
    for (let j = 0; j < nScan; j++) {
      const list = scans[j]!;
      res.push(list.length === 0 ? emptyStacked(ctx.node.outputs[nCarried + j]?.type ?? null) : stackAxis(list, 0));
    }
    return res;
  },
});

// ---------- Scan ----------

interface ScanCfg {
  nState: number;
  nScanIn: number;
  inAxes: number[];
  inDirs: number[];
  outAxes: number[];
  outDirs: number[];
}

function scanCfg(attrs: KernelContext['attrs'], opset: number, nInputs: number, nBodyOut: number): ScanCfg {
  const nScanIn = attrs.int('num_scan_inputs');
  if (!Number.isInteger(nScanIn) || nScanIn < 0 || nScanIn > nInputs) throw new KilnError('invalid-model', `Scan num_scan_inputs ${nScanIn} is not between 0 and its ${nInputs} inputs`);
  const nState = nInputs - nScanIn - (opset < 9 ? 1 : 0);
  const nScanOut = nBodyOut - nState;
  if (nState < 0 || nScanOut < 0) throw new KilnError('type', 'Scan input/output counts do not match num_scan_inputs');
  if (opset < 9) {
    const dirs = attrs.optInts('directions') ?? new Array<number>(nScanIn).fill(0);
    return { nState, nScanIn, inAxes: new Array<number>(nScanIn).fill(0), inDirs: [...dirs], outAxes: new Array<number>(nScanOut).fill(0), outDirs: new Array<number>(nScanOut).fill(0) };
  }
  return {
    nState,
    nScanIn,
    inAxes: [...(attrs.optInts('scan_input_axes') ?? new Array<number>(nScanIn).fill(0))],
    inDirs: [...(attrs.optInts('scan_input_directions') ?? new Array<number>(nScanIn).fill(0))],
    outAxes: [...(attrs.optInts('scan_output_axes') ?? new Array<number>(nScanOut).fill(0))],
    outDirs: [...(attrs.optInts('scan_output_directions') ?? new Array<number>(nScanOut).fill(0))],
  };
}

function removeDim(shape: readonly Dim[] | null, axis: number): Dim[] | null {
  if (shape === null) return null;
  const s = [...shape];
  s.splice(axis, 1);
  return s;
}

function insertDim(shape: readonly Dim[] | null, axis: number, d: Dim): Dim[] | null {
  if (shape === null) return null;
  const s = [...shape];
  s.splice(axis, 0, d);
  return s;
}

registerOp({
  opType: 'Scan',
  since: 8,
  attrs: { body: 'graph', num_scan_inputs: 'int', directions: 'ints', scan_input_axes: 'ints', scan_input_directions: 'ints', scan_output_axes: 'ints', scan_output_directions: 'ints' },
  infer: (ctx) => {
    const body = ctx.attrs.graph('body');
    const old = ctx.opset < 9;
    const cfg = scanCfg(ctx.attrs, ctx.opset, ctx.inputs.length, body.outputs.length);
    const base = old ? 1 : 0;
    const states = ctx.inputs.slice(base, base + cfg.nState);
    const scanIns = ctx.inputs.slice(base + cfg.nState);
    let batch: Dim = null;
    let seqLen: Dim = null;
    const bodyIn: (ValueType | null)[] = states.map((t) => {
      if (t === null || !old) return t;
      if (t.kind !== 'tensor') return t;
      if (t.shape) batch = t.shape[0] ?? null;
      return tensorType(t.dtype, removeDim(t.shape, 0));
    });
    scanIns.forEach((t, j) => {
      if (t === null || t.kind !== 'tensor') {
        bodyIn.push(null);
        return;
      }
      const r = t.shape?.length ?? 0;
      if (old) {
        if (t.shape) seqLen = t.shape[1] ?? null;
        bodyIn.push(tensorType(t.dtype, t.shape ? t.shape.slice(2) : null));
      } else {
        const ax = t.shape ? normAxis(cfg.inAxes[j]!, r, 'scan_input_axes') : 0;
        if (t.shape) seqLen = t.shape[ax] ?? null;
        bodyIn.push(tensorType(t.dtype, removeDim(t.shape, ax)));
      }
    });
    const outs = ctx.inferSubgraph(body, bodyIn);
    const res: (ValueType | null)[] = [];
    for (let i = 0; i < cfg.nState; i++) {
      const t = outs[i] ?? null;
      if (old && t && t.kind === 'tensor') res.push(tensorType(t.dtype, insertDim(t.shape, 0, batch)));
      else res.push(t);
    }
    for (let j = 0; j < outs.length - cfg.nState; j++) {
      const t = outs[cfg.nState + j] ?? null;
      if (t === null || t.kind !== 'tensor') {
        res.push(null);
        continue;
      }
      if (old) res.push(tensorType(t.dtype, t.shape === null ? null : [batch, seqLen, ...t.shape]));
      else {
        const r = (t.shape?.length ?? 0) + 1;
        const ax = t.shape ? normAxis(cfg.outAxes[j]!, r, 'scan_output_axes') : 0;
        res.push(tensorType(t.dtype, insertDim(t.shape, ax, seqLen)));
      }
    }
    return res;
  },
  interp: (ctx) => {
    const body = ctx.attrs.graph('body');
    const cfg = scanCfg(ctx.attrs, ctx.opset, ctx.inputs.length, body.outputs.length);
    const nScanOut = body.outputs.length - cfg.nState;
    if (ctx.opset >= 9) {
      const states = ctx.inputs.slice(0, cfg.nState).map((v) => {
        if (!v) throw new KilnError('runtime', 'Scan state input missing');
        return v;
      });
      const scanIns = Array.from({ length: cfg.nScanIn }, (_, j) => ctx.tensor(cfg.nState + j));
      const [finals, outs] = runScan(ctx, body, states, scanIns, cfg, nScanOut, null);
      return [...finals, ...outs.map((list, j) => stackScan(list, cfg.outAxes[j]!, cfg.outDirs[j]!, ctx.node.outputs[cfg.nState + j]?.type ?? null))];
    }
    // opset 8: batch axis 0, sequence axis 1, optional sequence_lens
    const lensT = ctx.optTensor(0);
    const states = Array.from({ length: cfg.nState }, (_, i) => ctx.tensor(1 + i));
    const scanIns = Array.from({ length: cfg.nScanIn }, (_, j) => ctx.tensor(1 + cfg.nState + j));
    const batch = (states[0] ?? scanIns[0])?.shape[0] ?? 0;
    const finalsB: Tensor[][] = Array.from({ length: cfg.nState }, () => []);
    const outsB: Tensor[][] = Array.from({ length: nScanOut }, () => []);
    for (let b = 0; b < batch; b++) {
      const st = states.map((s) => takeAxis(s, 0, b));
      const si = scanIns.map((s) => takeAxis(s, 0, b));
      const maxLen = si[0]?.shape[0] ?? 0;
      const len = lensT ? lensT.num(b) : maxLen;
      if (!Number.isInteger(len) || len < 0 || len > maxLen) throw new KilnError('runtime', `Scan sequence length ${len} is out of range for ${maxLen}`);
      if (len === 0 && nScanOut > 0) throw new KilnError('unsupported', 'unsupported Scan with a zero sequence length and scan outputs');
      const [finals, outs] = runScan(ctx, body, st, si, { ...cfg, inAxes: cfg.inAxes.map(() => 0) }, nScanOut, len);
      // positions past this batch entry's length are zero-filled up to the padded length
      for (const list of outs) while (list.length < maxLen) list.push(Tensor.zeros(list[0]!.dtype, list[0]!.shape));
      finals.forEach((f, i) => {
        if (f.kind !== 'tensor') throw new KilnError('runtime', 'Scan state must be a tensor');
        finalsB[i]!.push(f);
      });
      outs.forEach((list, j) => outsB[j]!.push(stackScan(list, 0, 0, null)));
    }
    return [...finalsB.map((l) => stackAxis(l, 0)), ...outsB.map((l) => stackAxis(l, 0))];
  },
});

function runScan(ctx: KernelContext, body: Parameters<KernelContext['runSubgraph']>[0], states: RtValue[], scanIns: Tensor[], cfg: ScanCfg, nScanOut: number, lenOverride: number | null): [RtValue[], Tensor[][]] {
  const axes = scanIns.map((t, j) => normAxis(cfg.inAxes[j]!, t.rank, 'scan_input_axes'));
  const len = lenOverride ?? (scanIns.length > 0 ? scanIns[0]!.shape[axes[0]!]! : 0);
  scanIns.forEach((t, j) => {
    if (t.shape[axes[j]!] !== len) throw new KilnError('runtime', 'Scan inputs have different sequence lengths');
  });
  const outs: Tensor[][] = Array.from({ length: nScanOut }, () => []);
  let cur = states;
  for (let t = 0; t < len; t++) {
    const slices = scanIns.map((x, j) => takeAxis(x, axes[j]!, cfg.inDirs[j] === 1 ? len - 1 - t : t));
    const r = ctx.runSubgraph(body, [...cur, ...slices]);
    cur = r.slice(0, cfg.nState);
    for (let j = 0; j < nScanOut; j++) {
      const v = r[cfg.nState + j];
      if (!v || v.kind !== 'tensor') throw new KilnError('runtime', 'Scan output must be a tensor');
      outs[j]!.push(v);
    }
  }
  return [cur, outs];
}

function stackScan(list: Tensor[], axis: number, dir: number, type: ValueType | null): Tensor {
  if (list.length === 0) {
    if (type && type.kind === 'tensor' && type.shape) {
      const shape = type.shape.map((d) => (typeof d === 'number' ? d : 0));
      return Tensor.zeros(type.dtype, shape);
    }
    return Tensor.zeros('f32', [0]);
  }
  const items = dir === 1 ? [...list].reverse() : list;
  const ax = normAxis(axis, list[0]!.rank + 1, 'scan_output_axes');
  return stackAxis(items, ax);
}

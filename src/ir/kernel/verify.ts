/**
 * Kernel IR verifier: the structural and type rules every pass must keep (see docs/kernel-ir.md).
 *
 * - Buffers: unique names and ids, static non-negative shapes, const data of the buffer's element
 *   type and size, views of a program buffer with the same element type and count (no cycles),
 *   placement (level, offset) consistent: a non-negative offset aligned to the element size, a view
 *   placed where its root is. Inputs/outputs are distinct program buffers of that role; every input
 *   buffer is listed.
 * - Kernels: unique names; every loaded or stored buffer belongs to the program; variables are bound
 *   (loop or let) before use, never shadow a variable in scope, loop variables are not assigned; types
 *   agree (binary operands alike, comparisons and logical ops give bool, loads/stores match the
 *   buffer, indices and loop bounds are `index`, conditions are bool); stores never target const or
 *   input buffers or views.
 *
 * Errors are KilnError('type', …) located at the kernel's origin node, or at the buffer (tensor).
 */
import { KilnError } from '../errors.js';
import { dtypeInfo } from '../dtype.js';
import { bufferSize, indexRangeProblem, type BinOp, type Expr, type KBuffer, type Kernel, type Program, type ProgramParam, type ScalarType, type Stmt, type UnOp } from './types.js';

const BOOL_BIN: ReadonlySet<BinOp> = new Set<BinOp>(['lt', 'le', 'gt', 'ge', 'eq', 'ne', 'and', 'or', 'xor']);
const BOOL_UN: ReadonlySet<UnOp> = new Set<UnOp>(['not', 'isnan', 'isinf']);
const INT_ONLY_BIN: ReadonlySet<BinOp> = new Set<BinOp>(['bitand', 'bitor', 'bitxor', 'shl', 'shr']);

const isIntType = (t: ScalarType): boolean => {
  if (t === 'index') return true;
  const k = dtypeInfo(t).kind;
  return k === 'int' || k === 'uint' || k === 'bool';
};

const elementBytes = (t: ScalarType): number => (t === 'index' ? 4 : Math.max(1, dtypeInfo(t).bits / 8));

function rootOf(b: KBuffer): KBuffer {
  const seen = new Set<KBuffer>();
  let r = b;
  while (r.viewOf) {
    if (seen.has(r)) throw new KilnError('type', `buffer '${b.name}' is a view of itself (a cycle of views)`, { tensor: b.name });
    seen.add(r);
    r = r.viewOf;
  }
  return r;
}

function verifyBuffers(p: Program): Set<KBuffer> {
  const owned = new Set<KBuffer>();
  const names = new Set<string>();
  const ids = new Set<number>();
  for (const b of p.buffers) {
    const fail = (msg: string): never => {
      throw new KilnError('type', `buffer '${b.name}': ${msg}`, { tensor: b.name });
    };
    if (owned.has(b)) fail('listed twice in the program');
    owned.add(b);
    if (names.has(b.name)) fail('another buffer has the same name');
    names.add(b.name);
    if (ids.has(b.id)) fail(`another buffer has id ${b.id}`);
    ids.add(b.id);
    if (!b.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`shape [${b.shape.join(',')}] is not static and non-negative`);
    const range = indexRangeProblem(b.shape);
    if (range) fail(range);
    if (b.data) {
      if (b.data.dtype !== b.dtype) fail(`holds ${b.data.dtype} data but is ${b.dtype}`);
      if (b.data.size !== bufferSize(b)) fail(`holds ${b.data.size} elements, its shape needs ${bufferSize(b)}`);
    }
    if (b.role === 'const' && !b.data && !b.viewOf) fail('is const but has no data');
  }
  for (const b of p.buffers) {
    const fail = (msg: string): never => {
      throw new KilnError('type', `buffer '${b.name}': ${msg}`, { tensor: b.name });
    };
    if (b.viewOf) {
      if (!owned.has(b.viewOf)) fail(`is a view of '${b.viewOf.name}', which is not a buffer of the program`);
      const root = rootOf(b);
      if (b.viewOf.dtype !== b.dtype) fail(`is ${b.dtype} but views ${b.viewOf.dtype} buffer '${b.viewOf.name}'`);
      if (bufferSize(b.viewOf) !== bufferSize(b)) fail(`has ${bufferSize(b)} elements but views '${b.viewOf.name}' of ${bufferSize(b.viewOf)}`);
      if (b.role === 'input' || b.role === 'output') fail(`a view cannot be a program ${b.role}`);
      if ((b.level !== undefined || b.offset !== undefined) && (b.level !== root.level || b.offset !== root.offset)) {
        fail(`is placed (level ${b.level ?? 'unset'}, offset ${b.offset ?? 'unset'}) apart from the buffer it views, '${root.name}' (level ${root.level ?? 'unset'}, offset ${root.offset ?? 'unset'})`);
      }
    }
    if (b.level !== undefined && b.level === '') fail('has an empty memory level');
    if (b.offset !== undefined) {
      if (!Number.isSafeInteger(b.offset) || b.offset < 0) fail(`offset ${b.offset} is not a non-negative integer`);
      if (b.offset % elementBytes(b.dtype) !== 0) fail(`offset ${b.offset} is not aligned to its ${elementBytes(b.dtype)}-byte elements`);
    }
  }
  const ends = (list: readonly KBuffer[], role: 'input' | 'output'): void => {
    const seen = new Set<KBuffer>();
    for (const b of list) {
      if (!owned.has(b)) throw new KilnError('type', `program ${role} '${b.name}' is not a buffer of the program`, { tensor: b.name });
      if (seen.has(b)) throw new KilnError('type', `program ${role} '${b.name}' is listed twice`, { tensor: b.name });
      seen.add(b);
      if (b.role !== role) throw new KilnError('type', `program ${role} '${b.name}' has role ${b.role}`, { tensor: b.name });
    }
    for (const b of p.buffers) if (b.role === role && !seen.has(b)) throw new KilnError('type', `buffer '${b.name}' has role ${role} but is not a program ${role}`, { tensor: b.name });
  };
  ends(p.inputs, 'input');
  ends(p.outputs, 'output');
  return owned;
}

class KernelChecker {
  /** Variables in scope, innermost last: name → type and whether it is a loop variable. */
  private readonly scopes: Map<string, { t: ScalarType; loop: boolean }>[] = [];

  constructor(
    private readonly kernel: Kernel,
    private readonly owned: ReadonlySet<KBuffer>,
    param?: ProgramParam,
  ) {
    // the run-time size is an index variable bound outside every kernel
    if (param) this.scopes.push(new Map([[param.name, { t: 'index' as ScalarType, loop: true }]]));
  }

  private fail(msg: string): never {
    throw new KilnError('type', `kernel ${this.kernel.name}: ${msg}`, { node: this.kernel.origin.node, op: this.kernel.origin.op });
  }

  private lookup(name: string): { t: ScalarType; loop: boolean } | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const v = this.scopes[i]!.get(name);
      if (v) return v;
    }
    return undefined;
  }

  private bind(name: string, t: ScalarType, loop: boolean): void {
    if (this.lookup(name)) this.fail(`variable %${name} is bound again while in scope`);
    this.scopes[this.scopes.length - 1]!.set(name, { t, loop });
  }

  private buffer(b: KBuffer, what: string): void {
    if (!this.owned.has(b)) this.fail(`${what} buffer '${b.name}', which is not a buffer of the program`);
  }

  private want(e: Expr, t: ScalarType, what: string): void {
    this.expr(e);
    if (e.t !== t) this.fail(`${what} must be ${t}, got ${e.t}`);
  }

  expr(e: Expr): void {
    switch (e.k) {
      case 'const': {
        if (e.t === 'i64' || e.t === 'u64') {
          if (typeof e.v !== 'bigint' && !Number.isInteger(e.v)) this.fail(`constant ${e.v} of type ${e.t} is not an integer`);
        } else if (isIntType(e.t) && (typeof e.v !== 'number' || !Number.isInteger(e.v))) this.fail(`constant ${String(e.v)} of type ${e.t} is not an integer`);
        else if (!isIntType(e.t) && typeof e.v !== 'number') this.fail(`constant ${String(e.v)} of type ${e.t} is not a number`);
        return;
      }
      case 'var': {
        const v = this.lookup(e.name);
        if (!v) this.fail(`variable %${e.name} is used outside its scope (or never bound)`);
        if (v.t !== e.t) this.fail(`variable %${e.name} is ${v.t} but used as ${e.t}`);
        return;
      }
      case 'load':
        this.buffer(e.buf, 'loads from');
        this.want(e.idx, 'index', `index of a load from '${e.buf.name}'`);
        if (e.t !== e.buf.dtype) this.fail(`load from ${e.buf.dtype} buffer '${e.buf.name}' typed ${e.t}`);
        return;
      case 'bin': {
        this.expr(e.a);
        this.expr(e.b);
        if (e.a.t !== e.b.t) this.fail(`${e.op} mixes ${e.a.t} and ${e.b.t}`);
        const t = BOOL_BIN.has(e.op) ? 'bool' : e.a.t;
        if (e.t !== t) this.fail(`${e.op} of ${e.a.t} gives ${t}, typed ${e.t}`);
        if (INT_ONLY_BIN.has(e.op) && !isIntType(e.a.t)) this.fail(`${e.op} on ${e.a.t} (an integer type is required)`);
        return;
      }
      case 'un': {
        this.expr(e.a);
        const t = BOOL_UN.has(e.op) ? 'bool' : e.a.t;
        if (e.t !== t) this.fail(`${e.op} of ${e.a.t} gives ${t}, typed ${e.t}`);
        if (e.op === 'bitnot' && !isIntType(e.a.t)) this.fail(`bitnot on ${e.a.t} (an integer type is required)`);
        return;
      }
      case 'cast':
        this.expr(e.a);
        return;
      case 'select':
        this.want(e.c, 'bool', 'select condition');
        this.expr(e.a);
        this.expr(e.b);
        if (e.a.t !== e.b.t) this.fail(`select branches differ: ${e.a.t} and ${e.b.t}`);
        if (e.t !== e.a.t) this.fail(`select of ${e.a.t} typed ${e.t}`);
        return;
    }
  }

  /** The `gpu group` loop whose body is being checked directly (barriers and local loops go only there). */
  private group: (Stmt & { k: 'for' }) | null = null;

  block(ss: readonly Stmt[], group: (Stmt & { k: 'for' }) | null = null): void {
    const outer = this.group;
    this.group = group;
    this.scopes.push(new Map());
    for (const s of ss) this.stmt(s);
    this.scopes.pop();
    this.group = outer;
  }

  private stmt(s: Stmt): void {
    switch (s.k) {
      case 'for': {
        this.want(s.lo, 'index', `lower bound of loop %${s.v}`);
        this.want(s.hi, 'index', `upper bound of loop %${s.v}`);
        const { vectorize, unroll } = s.ann;
        if (vectorize !== undefined && !(Number.isSafeInteger(vectorize) && vectorize >= 1)) this.fail(`loop %${s.v}: vector width ${vectorize} is not a positive integer`);
        if (unroll !== undefined && !(Number.isSafeInteger(unroll) && unroll >= 1)) this.fail(`loop %${s.v}: unroll factor ${unroll} is not a positive integer`);
        const gpu = s.ann.gpu;
        if (gpu !== undefined) {
          if (gpu.dim !== 'x' && gpu.dim !== 'y' && gpu.dim !== 'z') this.fail(`loop %${s.v}: gpu dimension '${String(gpu.dim)}' is not x, y or z`);
          if (!(Number.isSafeInteger(gpu.workgroup) && gpu.workgroup >= 1)) this.fail(`loop %${s.v}: workgroup size ${gpu.workgroup} is not a positive integer`);
          if (gpu.scope === 'local') {
            const g = this.group?.ann.gpu;
            if (!g) this.fail(`loop %${s.v}: a gpu local loop must be directly in a gpu group loop`);
            else if (g.dim !== gpu.dim || g.workgroup !== gpu.workgroup) this.fail(`loop %${s.v}: gpu local ${gpu.dim} ${gpu.workgroup} does not match its group loop's ${g.dim} ${g.workgroup}`);
            const n = s.hi.k === 'const' && s.lo.k === 'const' ? Number(s.hi.v) - Number(s.lo.v) : Infinity;
            if (!(n <= gpu.workgroup)) this.fail(`loop %${s.v}: a gpu local loop needs constant bounds within the workgroup size ${gpu.workgroup}`);
          }
        }
        this.scopes.push(new Map());
        this.bind(s.v, 'index', true);
        this.block(s.body, gpu?.scope === 'group' ? s : null);
        this.scopes.pop();
        return;
      }
      case 'store': {
        const b = s.buf;
        this.buffer(b, 'stores to');
        if (b.role === 'const' || b.role === 'input') this.fail(`stores to ${b.role} buffer '${b.name}'`);
        if (b.viewOf) this.fail(`stores through view '${b.name}' (of '${b.viewOf.name}')`);
        this.want(s.idx, 'index', `index of a store to '${b.name}'`);
        this.want(s.val, b.dtype, `value stored to '${b.name}'`);
        return;
      }
      case 'let':
        this.want(s.init, s.t, `initial value of %${s.name}`);
        this.bind(s.name, s.t, false);
        return;
      case 'set': {
        const v = this.lookup(s.name);
        if (!v) this.fail(`assigns %${s.name}, which is not in scope`);
        if (v.loop) this.fail(`assigns loop variable %${s.name}`);
        this.want(s.val, v.t, `value assigned to %${s.name}`);
        return;
      }
      case 'barrier':
        if (!this.group) this.fail('a barrier must be directly in a gpu group loop (between its local loops)');
        return;
      case 'if':
        this.want(s.c, 'bool', 'if condition');
        this.block(s.then);
        this.block(s.else);
        return;
    }
  }
}

/** Throws KilnError('type') at the first rule a program breaks. */
export function verifyProgram(p: Program): void {
  const owned = verifyBuffers(p);
  verifyParam(p);
  const names = new Set<string>();
  for (const k of p.kernels) {
    if (names.has(k.name)) throw new KilnError('type', `kernel ${k.name} is defined twice`, { node: k.origin.node, op: k.origin.op });
    names.add(k.name);
    new KernelChecker(k, owned, p.param).block(k.body);
  }
}

/** A run-time size: a valid name and bound, and dynamic dims only on program inputs/outputs that scale evenly. */
function verifyParam(p: Program): void {
  const param = p.param;
  if (param && (!Number.isSafeInteger(param.max) || param.max < 1)) throw new KilnError('type', `run-time size %${param.name} has bound ${param.max}; it must be a positive integer`);
  for (const b of p.buffers) {
    if (b.dynDim === undefined) continue;
    const where = { tensor: b.name };
    if (!param) throw new KilnError('type', `buffer '${b.name}' has a dynamic dim but the program has no run-time size`, where);
    if (b.role !== 'input' && b.role !== 'output') throw new KilnError('type', `buffer '${b.name}' is ${b.role}: only program inputs and outputs have a dynamic dim`, where);
    const d = b.shape[b.dynDim];
    if (d === undefined || !Number.isInteger(b.dynDim) || d % param.max !== 0) {
      throw new KilnError('type', `buffer '${b.name}': dynamic dim ${b.dynDim} of shape [${b.shape.join(',')}] is not a multiple of %${param.name}'s bound ${param.max}`, where);
    }
  }
}

/**
 * The device schema as data: one declarative field spec per device kind, and the one routine that
 * checks a parsed JSON value against it. Errors are one line naming the file and the field path,
 * e.g. `device stm32f446.json: 'sram.size' must be a positive byte count`. Unknown fields are
 * refused. Every object that holds figures has a required `source` (where the figures come from).
 * docs/devices.md is written from the same `doc`/`unit` strings.
 */
import { KilnError } from '../ir/errors.js';

interface Base {
  doc: string;
  unit?: string;
  optional?: boolean;
  /** `null` is accepted (kept as null). */
  nullable?: boolean;
}
export type FieldSpec =
  | (Base & { t: 'name' })
  | (Base & { t: 'text' })
  | (Base & { t: 'enum'; values: readonly string[] })
  | (Base & { t: 'int'; min: number; max?: number })
  | (Base & { t: 'bytes' })
  | (Base & { t: 'address' })
  | (Base & { t: 'number' })
  | (Base & { t: 'bool' })
  | (Base & { t: 'object'; fields: Readonly<Record<string, FieldSpec>> })
  | (Base & { t: 'list'; of: FieldSpec; minLength?: number });

export type DeviceKind = 'mcu' | 'host' | 'gpu' | 'fpga' | 'pim';
export const DEVICE_KINDS: readonly DeviceKind[] = ['mcu', 'host', 'gpu', 'fpga', 'pim'];

const source: FieldSpec = { t: 'text', doc: 'where the figures of this object come from (data sheet, paper, spec; "assumed" with a reason)' };
const note: FieldSpec = { t: 'text', optional: true, doc: 'free remark' };

export const ROOFLINE_SPEC: FieldSpec = {
  t: 'object',
  doc: 'peak figures for the analytical cost model (src/costmodel/roofline.ts)',
  fields: {
    clockHz: { t: 'number', unit: 'Hz', doc: 'core clock' },
    flopsPerCycle: { t: 'number', unit: 'op/cycle', doc: 'peak floating-point operations per cycle (an add or a multiply counts one)' },
    intOpsPerCycle: { t: 'number', unit: 'op/cycle', doc: 'peak integer/logic operations per cycle' },
    bytesPerCycle: { t: 'number', unit: 'B/cycle', doc: 'bytes loaded or stored per cycle from the memory holding arena and weights' },
    scalarFlopsPerCycle: { t: 'number', optional: true, unit: 'op/cycle', doc: 'peak scalar (not vectorized) floating-point operations per cycle; absent: flopsPerCycle over the f32 lanes of a vector' },
    scalarIntOpsPerCycle: { t: 'number', optional: true, unit: 'op/cycle', doc: 'peak scalar integer operations per cycle; absent: intOpsPerCycle over the i32 lanes of a vector' },
    accumulateCycles: { t: 'number', optional: true, unit: 'cycle', doc: 'cycles per iteration of a scalar float dot product into one accumulator (the dependent chain of a reduction); absent: 4 (an FMA latency)' },
    source,
  },
};

const region = (what: string): FieldSpec => ({
  t: 'object',
  doc: what,
  fields: {
    origin: { t: 'address', unit: 'address', doc: 'start address (number or "0x..." string)' },
    size: { t: 'bytes', unit: 'B', doc: 'size' },
    note,
  },
});

const common: Readonly<Record<string, FieldSpec>> = {
  name: { t: 'name', doc: 'device name; must equal the file name without .json' },
  kind: { t: 'enum', values: DEVICE_KINDS, doc: 'device kind' },
  description: { t: 'text', doc: 'one line for `kiln devices`' },
  source: { t: 'text', doc: 'where the top-level figures come from' },
};

const mcu: Readonly<Record<string, FieldSpec>> = {
  ...common,
  cpu: { t: 'name', doc: 'GCC -mcpu' },
  fpu: { t: 'name', nullable: true, doc: 'GCC -mfpu (null: no FPU, floatAbi must be soft)' },
  floatAbi: { t: 'enum', values: ['hard', 'softfp', 'soft'], doc: 'GCC -mfloat-abi' },
  flash: region('code/constant memory {origin, size}'),
  sram: region('on-chip data memory {origin, size}'),
  stackBytes: { t: 'int', min: 1024, unit: 'B', doc: 'stack reserved in SRAM' },
  qemuMachine: { t: 'name', optional: true, doc: 'qemu-system-arm -M machine when QEMU emulates the board' },
  runOn: { t: 'name', optional: true, doc: 'board QEMU emulates whose memory map and machine `kiln run` uses' },
  levels: {
    t: 'list',
    optional: true,
    doc: 'memory beyond SRAM, fastest first',
    of: {
      t: 'object',
      doc: 'one memory level',
      fields: {
        name: { t: 'name', doc: 'lower-case identifier other than sram (arena symbol, section .kiln_<name>)' },
        origin: { t: 'address', unit: 'address', doc: 'start address' },
        size: { t: 'bytes', unit: 'B', doc: 'size' },
        bytesPerCycle: { t: 'number', optional: true, unit: 'B/cycle', doc: 'sustained copy bandwidth' },
        cyclesPerAccess: { t: 'number', optional: true, unit: 'cycle', doc: 'latency of one random access' },
        note,
        source,
      },
    },
  },
  roofline: { ...ROOFLINE_SPEC, optional: true },
};

const host: Readonly<Record<string, FieldSpec>> = {
  ...common,
  cores: { t: 'int', min: 1, doc: 'cores the profile describes' },
  vectorBits: { t: 'int', min: 8, unit: 'bit', doc: 'SIMD register width' },
  caches: {
    t: 'list',
    minLength: 1,
    doc: 'data caches, L1 first',
    of: {
      t: 'object',
      doc: 'one cache level',
      fields: {
        level: { t: 'int', min: 1, doc: 'cache level (1 = L1)' },
        bytes: { t: 'bytes', unit: 'B', doc: 'capacity (per core unless shared)' },
        lineBytes: { t: 'bytes', unit: 'B', doc: 'line size' },
        shared: { t: 'bool', doc: 'shared by all cores' },
        bytesPerCycle: { t: 'number', optional: true, unit: 'B/cycle', doc: 'sustained read bandwidth of a working set that fits this level (kiln calibrate); absent: assumed from roofline.bytesPerCycle, halved per level' },
        source,
      },
    },
  },
  memory: {
    t: 'object',
    optional: true,
    doc: 'main memory (DRAM) beyond the last cache',
    fields: {
      bytesPerCycle: { t: 'number', unit: 'B/cycle', doc: 'sustained read bandwidth of a working set larger than every cache' },
      source,
    },
  },
  roofline: ROOFLINE_SPEC,
  threads: {
    t: 'object',
    optional: true,
    doc: 'multi-threaded host C (`--target-option threads=N`): what starting threads costs',
    fields: {
      forkJoinCycles: { t: 'number', unit: 'cycle', doc: 'cost of one OpenMP parallel loop region (fork, static split, join); loops whose predicted saving is smaller stay serial' },
      source,
    },
  },
};

const lim = (doc: string, unit?: string): FieldSpec => ({ t: 'int', min: 1, doc, ...(unit ? { unit } : {}) });
const gpu: Readonly<Record<string, FieldSpec>> = {
  ...common,
  limits: {
    t: 'object',
    doc: 'WebGPU limits (GPUSupportedLimits names)',
    fields: {
      maxComputeInvocationsPerWorkgroup: lim('product of workgroup_size'),
      maxComputeWorkgroupSizeX: lim('workgroup_size x'),
      maxComputeWorkgroupSizeY: lim('workgroup_size y'),
      maxComputeWorkgroupSizeZ: lim('workgroup_size z'),
      maxComputeWorkgroupsPerDimension: lim('dispatch size per dimension'),
      maxComputeWorkgroupStorageSize: lim('var<workgroup> bytes', 'B'),
      maxStorageBufferBindingSize: lim('one storage binding', 'B'),
      maxStorageBuffersPerShaderStage: lim('storage buffers one compute shader may bind'),
      maxUniformBufferBindingSize: lim('one uniform binding', 'B'),
      maxUniformBuffersPerShaderStage: lim('uniform buffers per shader stage'),
      maxBufferSize: lim('one buffer', 'B'),
      maxBindGroups: lim('bind groups per pipeline'),
      minStorageBufferOffsetAlignment: lim('storage binding offset alignment', 'B'),
      source,
    },
  },
  performance: {
    t: 'object',
    doc: 'speed figures for the cost model',
    fields: {
      bandwidthBytesPerSecond: { t: 'number', unit: 'B/s', doc: 'device memory bandwidth' },
      peakFlopsPerSecond: { t: 'number', unit: 'FLOP/s', doc: 'peak f32 operations per second' },
      subgroupSize: { t: 'int', min: 1, nullable: true, doc: 'subgroup (SIMD) width, null when unknown or unavailable' },
      source,
    },
  },
};

const fpga: Readonly<Record<string, FieldSpec>> = {
  ...common,
  part: { t: 'name', doc: 'full part name for the HLS tool' },
  family: { t: 'name', doc: 'device family' },
  resources: {
    t: 'object',
    doc: 'programmable-logic resources',
    fields: {
      dsp: { t: 'int', min: 0, doc: 'DSP slices' },
      bram18k: { t: 'int', min: 0, doc: '18 Kb block RAMs (one BRAM36 = two)' },
      uram: { t: 'int', min: 0, doc: '288 Kb UltraRAM blocks' },
      lut: { t: 'int', min: 1, doc: 'LUTs' },
      ff: { t: 'int', min: 1, doc: 'flip-flops' },
      source,
    },
  },
  clock: { t: 'object', doc: 'target clock', fields: { mhz: { t: 'number', unit: 'MHz', doc: 'HLS target clock' }, source } },
  dsp: {
    t: 'object',
    doc: 'DSP slice',
    fields: {
      name: { t: 'name', doc: 'slice type (DSP48E1, DSP48E2, ...)' },
      multiplierBits: { t: 'list', minLength: 2, doc: 'signed multiplier operand widths [a, b]', of: { t: 'int', min: 1, unit: 'bit', doc: 'operand width' } },
      source,
    },
  },
};

const cyc = (doc: string): FieldSpec => ({ t: 'int', min: 1, unit: 'tCK', doc });
const pim: Readonly<Record<string, FieldSpec>> = {
  ...common,
  memory: {
    t: 'object',
    doc: 'DRAM organisation',
    fields: {
      standard: { t: 'name', doc: 'DRAM standard (HBM2, GDDR6, ...)' },
      channels: { t: 'int', min: 1, doc: 'channels per device/stack' },
      pseudoChannelsPerChannel: { t: 'int', min: 1, doc: 'pseudo-channels per channel (1: none)' },
      bankGroups: { t: 'int', min: 1, doc: 'bank groups per (pseudo-)channel' },
      banksPerGroup: { t: 'int', min: 1, doc: 'banks per bank group' },
      rowBytes: { t: 'bytes', unit: 'B', doc: 'row (page) size per bank' },
      busBits: { t: 'int', min: 1, unit: 'bit', doc: 'data bus width of one (pseudo-)channel' },
      burstLength: { t: 'int', min: 1, doc: 'burst length (beats per column access)' },
      columnAccessBytes: { t: 'bytes', unit: 'B', doc: 'bytes per column access (busBits x burstLength / 8)' },
      rowsPerBank: { t: 'int', min: 4, doc: 'rows per bank (the simulator reserves the top three for mode changes and configuration)' },
      tCKns: { t: 'number', unit: 'ns', doc: 'command clock period; timings are in these cycles' },
      source,
    },
  },
  timing: {
    t: 'object',
    doc: 'JEDEC timing parameters, in tCK cycles',
    fields: {
      tRCD: cyc('activate to read/write'),
      tRP: cyc('precharge period'),
      tRAS: cyc('activate to precharge'),
      tRC: cyc('activate to activate, same bank'),
      tCCD_S: cyc('column to column, different bank group'),
      tCCD_L: cyc('column to column, same bank group'),
      tRRD_S: cyc('activate to activate, different bank group'),
      tRRD_L: cyc('activate to activate, same bank group'),
      tWR: cyc('write recovery'),
      tWTR: cyc('write to read turnaround (same bank group)'),
      tWTR_S: cyc('write to read turnaround, different bank group'),
      tRTP: cyc('read to precharge'),
      tFAW: cyc('four-activate window'),
      tREFI: cyc('refresh interval'),
      tRFC: cyc('refresh cycle time'),
      CL: cyc('read latency'),
      CWL: cyc('write latency'),
      tBURST: cyc('cycles one column access holds the data bus (burstLength / beats per tCK); bus bytes per cycle = columnAccessBytes / tBURST'),
      source,
    },
  },
  pim: {
    t: 'object',
    doc: 'processing-in-memory units',
    fields: {
      unitsPerChannel: { t: 'int', min: 1, doc: 'PIM units per (pseudo-)channel' },
      banksPerUnit: { t: 'int', min: 1, doc: 'banks feeding one unit' },
      lanes: { t: 'int', min: 1, doc: 'SIMD lanes per unit' },
      elementType: { t: 'enum', values: ['fp16', 'bf16', 'fp32', 'int8', 'int16'], doc: 'lane element type' },
      clockMHz: { t: 'number', unit: 'MHz', doc: 'unit clock' },
      registers: {
        t: 'list',
        doc: 'register files of one unit',
        of: {
          t: 'object',
          doc: 'one register file',
          fields: { name: { t: 'name', doc: 'register file name' }, entries: { t: 'int', min: 1, doc: 'registers' }, bits: { t: 'int', min: 1, unit: 'bit', doc: 'width of one register' } },
        },
      },
      crfEntries: { t: 'int', min: 1, nullable: true, doc: 'command (instruction) register file entries; null when driven by DRAM commands' },
      globalBufferBytes: { t: 'bytes', nullable: true, unit: 'B', doc: 'per-channel buffer shared by the units; null when none' },
      allBankActivateBanks: { t: 'int', min: 1, doc: 'banks one all-bank ACT opens at once; each such group counts as one ACT in tRRD and tFAW' },
      source,
    },
  },
  energy: {
    t: 'object',
    doc: 'energy figures',
    fields: {
      opPj: { t: 'number', unit: 'pJ', doc: 'one lane operation (multiply-add)' },
      columnAccessPj: { t: 'number', unit: 'pJ', doc: 'one in-bank column access' },
      rowActivatePj: { t: 'number', unit: 'pJ', doc: 'one row activation + precharge' },
      ioPjPerBit: { t: 'number', unit: 'pJ/bit', doc: 'moving one bit between the bank edge and the host (global bus, TSV/PHY, interface)' },
      refreshPj: { t: 'number', unit: 'pJ', doc: 'one all-bank refresh command' },
      source,
    },
  },
  hostModel: {
    t: 'object',
    doc: "the host that runs what is not offloaded (Kiln's model, per (pseudo-)channel of data)",
    fields: {
      macsPerCycle: { t: 'number', unit: 'MAC/tCK', doc: 'host multiply-adds per memory clock on one channel\'s data' },
      source,
    },
  },
};

export const DEVICE_SCHEMA: Readonly<Record<DeviceKind, Readonly<Record<string, FieldSpec>>>> = { mcu, host, gpu, fpga, pim };

/** The one-line error for `file`. */
export function deviceError(file: string, what: string): KilnError {
  return new KilnError('io', `device ${file}: ${what}`);
}

function expect(s: FieldSpec): string {
  switch (s.t) {
    case 'name':
      return 'a name (letters, digits, . _ + -)';
    case 'text':
      return 'a non-empty string';
    case 'enum':
      return `one of ${s.values.join(', ')}`;
    case 'int':
      return s.max !== undefined ? `an integer from ${s.min} to ${s.max}` : s.min > 0 ? (s.min === 1 ? 'a positive integer' : `an integer of at least ${s.min}`) : 'a non-negative integer';
    case 'bytes':
      return 'a positive byte count';
    case 'address':
      return 'an address (integer or "0x..." string below 2^32)';
    case 'number':
      return 'a positive number';
    case 'bool':
      return 'true or false';
    case 'object':
      return `an object {${Object.keys(s.fields).join(', ')}}`;
    case 'list':
      return `a list${s.minLength ? ` of at least ${s.minLength}` : ''}`;
  }
}

/** Checks `v` against `spec`; returns the value with addresses turned into numbers. */
export function checkValue(file: string, path: string, spec: FieldSpec, v: unknown): unknown {
  const fail = (): never => {
    throw deviceError(file, `'${path}' must be ${expect(spec)}${spec.nullable ? ' or null' : ''}`);
  };
  if (v === null && spec.nullable) return null;
  switch (spec.t) {
    case 'name':
      return typeof v === 'string' && /^[A-Za-z0-9._+-]+$/.test(v) ? v : fail();
    case 'text':
      return typeof v === 'string' && v.trim() !== '' ? v : fail();
    case 'enum':
      return typeof v === 'string' && spec.values.includes(v) ? v : fail();
    case 'int':
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= spec.min && (spec.max === undefined || v <= spec.max) ? v : fail();
    case 'bytes':
      return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : fail();
    case 'address': {
      const n = typeof v === 'string' && /^(0x[0-9a-fA-F]+|\d+)$/.test(v) ? Number(v) : v;
      return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n < 2 ** 32 ? n : fail();
    }
    case 'number':
      return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : fail();
    case 'bool':
      return typeof v === 'boolean' ? v : fail();
    case 'list': {
      if (!Array.isArray(v) || v.length < (spec.minLength ?? 0)) return fail();
      return v.map((x: unknown, i: number) => checkValue(file, `${path}[${i}]`, spec.of, x));
    }
    case 'object':
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail();
      return checkFields(file, path, spec.fields, v as Record<string, unknown>);
  }
}

/** Checks an object's fields: unknown ones refused, required ones present, each by its spec. */
export function checkFields(file: string, path: string, fields: Readonly<Record<string, FieldSpec>>, o: Record<string, unknown>): Record<string, unknown> {
  const at = (k: string): string => (path ? `${path}.${k}` : k);
  for (const k of Object.keys(o)) if (!(k in fields)) throw deviceError(file, `unknown field '${at(k)}'`);
  const out: Record<string, unknown> = {};
  for (const [k, spec] of Object.entries(fields)) {
    if (o[k] === undefined) {
      if (spec.optional) continue;
      throw deviceError(file, `missing field '${at(k)}' (${spec.doc})`);
    }
    out[k] = checkValue(file, at(k), spec, o[k]);
  }
  return out;
}

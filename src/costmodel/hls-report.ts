/** What the hls-fold pass decides and reports (results['hls-fold'], report.json `hls`), shared by the pass and the hls backend. */
import type { Resources } from './hls-cost.js';

export interface HlsLayerReport {
  kernel: string;
  node: string;
  op: string;
  factor: number;
  /** Requested pipeline II of the layer's loops: operators shared by that many iterations (1: none). */
  share: number;
  /** Iterations of the fold site (0: no loop). */
  siteTrips: number;
  /** Predicted II of the fold site. */
  ii: number;
  cycles: number;
  dsp: number;
  bram18k: number;
  lut: number;
  ff: number;
  /** Bits an integer accumulation of the kernel needs so that it cannot overflow (null: none). */
  accumulatorBits: number | null;
  reason: string;
}

export interface FoldingSummary {
  name: string;
  factors: number[];
  shares: number[];
  ii: number;
  latency: number;
  fits: boolean;
}

export interface HlsFoldReport {
  part: string;
  clockMhz: number;
  budgetPercent: number;
  io: string;
  /** A dataflow design (layers overlap, ping-pong buffers), or sequential (single buffers: when ping-pong buffers do not fit). */
  dataflow: boolean;
  ilp: { status: string; gap: number | null; variables: number };
  /** Design interval (cycles between inferences) and latency of one inference. */
  ii: number;
  latency: number;
  layers: HlsLayerReport[];
  arrays: Resources;
  total: Resources;
  budget: Resources;
  available: Resources;
  /** Intermediate tensors in UltraRAM (ping-pong, not partitioned) and the blocks they take. */
  uram: { arrays: string[]; blocks: number; available: number };
  /** Sequential design: tensors stored in another tensor's array (name → host name). */
  shared: Record<string, string>;
  /** The ILP's choice against two fixed foldings. */
  compare: FoldingSummary[];
}

/** Typed compiler errors. The CLI prints them as one line; only --debug shows a stack. */

export type KilnErrorCode =
  | 'parse' // malformed input file (protobuf, text IR)
  | 'invalid-model' // structurally wrong graph (dangling names, cycles, duplicates)
  | 'unsupported' // valid input that Kiln refuses up front (op, opset, element type)
  | 'type' // type/shape inference or verifier failure
  | 'runtime' // failure while interpreting (bad runtime shape, out-of-range index)
  | 'io' // file system problems
  | 'security' // refused file access (external data outside the model folder)
  | 'limit' // a configured size limit was exceeded
  | 'usage'; // wrong CLI usage

/** Where an error happened: a node (name + op) or a tensor name. */
export interface ErrorLocation {
  node?: string;
  op?: string;
  tensor?: string;
}

export class KilnError extends Error {
  readonly code: KilnErrorCode;
  readonly location: ErrorLocation;
  constructor(code: KilnErrorCode, message: string, location: ErrorLocation = {}) {
    super(message);
    this.name = 'KilnError';
    this.code = code;
    this.location = location;
  }

  /** One line: `<what>, at node <name> (<op>)` or `<what>, at tensor <name>`. */
  oneLine(): string {
    const loc = this.location;
    let where = '';
    if (loc.node !== undefined || loc.op !== undefined) {
      where = `, at node ${loc.node === undefined || loc.node === '' ? '<unnamed>' : loc.node}${loc.op ? ` (${loc.op})` : ''}`;
    } else if (loc.tensor !== undefined) {
      where = `, at tensor ${loc.tensor === '' ? '<unnamed>' : loc.tensor}`;
    }
    return `${this.message}${where}`.replace(/\s*\n\s*/g, ' ');
  }
}

export function isKilnError(e: unknown): e is KilnError {
  return e instanceof KilnError;
}

/** Attach a node location to an error thrown while handling that node (keeps the innermost). */
export function withNodeLocation<T>(node: { name: string; opType: string }, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw locateError(e, node);
  }
}

export function locateError(e: unknown, node: { name: string; opType: string }): KilnError {
  if (e instanceof KilnError) {
    if (e.location.node === undefined && e.location.op === undefined) {
      return new KilnError(e.code, e.message, { ...e.location, node: node.name, op: node.opType });
    }
    return e;
  }
  const msg = e instanceof Error ? e.message : String(e);
  const err = new KilnError(e instanceof RangeError ? 'runtime' : 'runtime', msg, { node: node.name, op: node.opType });
  if (e instanceof Error && e.stack) err.stack = e.stack;
  return err;
}

/** What to tell the user for a file-system error code (never the raw code itself). */
const FS_REASONS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EACCES: 'permission denied (check its permissions)',
  EPERM: 'operation not permitted (check its permissions or attributes)',
  EROFS: 'the file system is read-only',
  EEXIST: 'already exists',
  ENOTEMPTY: 'the folder is not empty',
  EBUSY: 'busy or a mount point (choose another path)',
  ENOSPC: 'no space left on the device',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the path is too long',
  ELOOP: 'too many symbolic links',
  EXDEV: 'crosses file systems',
};

/**
 * The one place a Node file-system error becomes a user message: one line naming the path and
 * what is wrong, e.g. "cannot read 'x.onnx': no such file or folder".
 */
export function fsError(e: unknown, verb: 'read' | 'write', file: string): KilnError {
  if (e instanceof KilnError) return e;
  const err = e as NodeJS.ErrnoException;
  const reason = (err.code !== undefined ? FS_REASONS[err.code] : undefined) ?? (err.code ? 'file-system error' : String(err.message ?? e).split('\n')[0]);
  return new KilnError('io', `cannot ${verb} '${file}': ${reason}`);
}

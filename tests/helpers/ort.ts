/** onnxruntime-node for oracle checks, or null (with a visible skip line) where it is not installed. */
export type Ort = typeof import('onnxruntime-node');

export async function loadOrt(): Promise<Ort | null> {
  try {
    return await import('onnxruntime-node');
  } catch {
    console.log('skipped: onnxruntime-node not installed');
    return null;
  }
}

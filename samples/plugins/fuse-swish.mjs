// Example Kiln plugin: a new op and a pass that uses it, through the same API as the built-ins.
//
//   op   com.example::Swish   y = x * sigmoid(x) (SiLU), float tensors; type inference, reference
//                             interpreter and a lowering to one loop, so every backend can run it
//   pass fuse-swish           rewrites  s = Sigmoid(x); y = Mul(x, s)  (either operand order, and
//                             only when s has no other use) into  y = com.example::Swish(x)
//
// Use it:  kiln --plugin samples/plugins/fuse-swish.mjs compile model.onnx --passes fuse-swish -o out
//     or:  kiln --plugin samples/plugins/fuse-swish.mjs opt model.kir --passes fuse-swish
// The default export receives Kiln's programmatic API, so the plugin never imports a second copy.

const DOMAIN = 'com.example';

export default function plugin(kiln) {
  const { KilnError, Tensor, Node, bin, un, load, select, lit } = kiln;

  const isFloat = (t) => t === 'f32' || t === 'f64' || t === 'f16' || t === 'bf16';

  const swish = {
    opType: 'Swish',
    domain: DOMAIN,
    description: 'x * sigmoid(x), elementwise',
    attrs: {},
    infer(ctx) {
      const t = ctx.inputs[0];
      if (t && t.kind === 'tensor' && !isFloat(t.dtype)) throw new KilnError('type', `Swish takes a float tensor, got ${t.dtype}`);
      return [t ?? null];
    },
    interp(ctx) {
      const x = ctx.tensor(0);
      const n = x.size;
      const out = Tensor.zeros(x.dtype, x.shape);
      for (let i = 0; i < n; i++) {
        const v = x.num(i);
        out.setScalar(i, v / (1 + Math.exp(-v)));
      }
      return [out];
    },
    lower(ctx) {
      const x = ctx.input(0);
      const y = ctx.output(0);
      const n = y.shape.reduce((a, d) => a * d, 1);
      const t = x.dtype === 'f64' ? 'f64' : 'f32';
      ctx.kernel((kb) => {
        kb.for(0, n, (i) => {
          const v = kb.let(t, x.dtype === t ? load(x, i) : kiln.cast(load(x, i), t), 'x');
          // x * sigmoid(x) with one exp(-|x|), so neither branch overflows
          const e = kb.let(t, un('exp', un('neg', un('abs', v))), 'e');
          const den = bin('add', lit(t, 1), e);
          const sig = select(bin('ge', v, lit(t, 0)), bin('div', lit(t, 1), den), bin('div', e, den));
          const r = bin('mul', v, sig);
          kb.store(y, i, y.dtype === t ? r : kiln.cast(r, y.dtype));
        });
      });
    },
  };

  const fuseSwish = kiln.definePass({
    name: 'fuse-swish',
    description: 'fuse Sigmoid(x) * x into com.example::Swish(x)',
    run(module, ctx) {
      const g = module.graph;
      const uses = new Map();
      for (const node of g.nodes) for (const v of node.inputs) if (v) uses.set(v, (uses.get(v) ?? 0) + 1);
      for (const v of g.outputs) uses.set(v, (uses.get(v) ?? 0) + 1);
      const dead = new Set();
      let fused = 0;
      for (const mul of g.nodes) {
        if (mul.opType !== 'Mul' || mul.domain !== '' || mul.inputs.length !== 2) continue;
        const [a, b] = mul.inputs;
        const pick = (s, x) => (s && x && s.producer && s.producer.opType === 'Sigmoid' && s.producer.domain === '' && s.producer.inputs[0] === x && uses.get(s) === 1 && !dead.has(s.producer) ? s.producer : null);
        const sig = pick(b, a) ?? pick(a, b);
        if (!sig) continue;
        const x = sig.inputs[0];
        const y = mul.outputs[0];
        const t = x.tensorType;
        if (!t || !isFloat(t.dtype) || !y) continue;
        const node = new Node('Swish', DOMAIN, `${mul.name || y.name}/swish`, [x], [y]);
        y.producer = node;
        g.nodes[g.nodes.indexOf(mul)] = node;
        dead.add(sig);
        fused++;
      }
      if (fused === 0) return false;
      g.nodes = g.nodes.filter((n) => !dead.has(n));
      if (!module.opsets.has(DOMAIN)) module.opsets.set(DOMAIN, 1);
      ctx.log(`fuse-swish: ${fused} Sigmoid·Mul pairs fused`);
      return true;
    },
  });

  return { passes: [fuseSwish], ops: [swish] };
}

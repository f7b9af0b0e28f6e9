/**
 * The C sources of `kiln calibrate`'s microbenchmarks. Two translation units: `peak.c` (vector
 * kernels, GCC/Clang vector extensions, built with the bench flags) and `scalar.c` (the same chains
 * on scalars, built with auto-vectorization off so they stay scalar). `main.c` times each kernel:
 * it grows the iteration count until one trial lasts `trialMs`, runs `trials` trials and prints
 * `name best median` per figure (rates per second: flop/s, op/s, B/s, Hz).
 */

/** Independent accumulator chains per kernel: enough to hide FMA latency on two or more pipes. */
export const CHAINS = 12;

const chains = (f: (i: number) => string, sep = '\n'): string => Array.from({ length: CHAINS }, (_, i) => f(i)).join(sep);

/** A multiply-add (f32) or add-xor (i32) chain kernel over type `t` whose lanes are `lanes`. */
function chainKernel(name: string, t: string, elem: 'float' | 'int', lanes: string): string {
  const init = elem === 'float' ? (i: number) => `  ${t} x${i} = z + (float)${i + 1} * 0.01f;` : (i: number) => `  ${t} x${i} = z + ${i + 1};`;
  const step = elem === 'float' ? (i: number) => `    x${i} = x${i} * m + a;` : (i: number) => `    x${i} = (x${i} + a) ^ m;`;
  const zero = t === 'float' || t === 'int' ? '0' : '{0}';
  return `double ${name}(long n, ${elem} ms, ${elem} as) {
  ${t} z = ${zero};
  ${t} m = z + ms, a = z + as;
${chains(init)}
  for (long i = 0; i < n; i++) {
${chains(step)}
  }
  ${t} s = ${chains((i) => `x${i}`, ' + ')};
  double r = 0;
  for (int l = 0; l < ${lanes}; l++) r += (double)((${elem} *)&s)[l];
  return r;
}
`;
}

/** Vector widths measured (bytes); the widest the compiler supports natively wins in practice. */
export const VECTOR_BYTES = [16, 32, 64] as const;

export function peakSource(): string {
  const parts = ['/* kiln calibrate: vector peaks and read bandwidth */'];
  for (const w of VECTOR_BYTES) {
    const lanes = w / 4;
    parts.push(`typedef float vf${w} __attribute__((vector_size(${w})));`, `typedef int vi${w} __attribute__((vector_size(${w})));`);
    parts.push(chainKernel(`fma_v${w}`, `vf${w}`, 'float', String(lanes)), chainKernel(`int_v${w}`, `vi${w}`, 'int', String(lanes)));
  }
  for (const w of VECTOR_BYTES) {
    parts.push(`/* sums n floats (n a multiple of ${(8 * w) / 4}) reps times with 8 ${w * 8}-bit accumulators */
double read_sum${w}(const float *p, long n, long reps) {
  typedef float vr __attribute__((vector_size(${w}), aligned(${w})));
  const vr *v = (const vr *)p;
  long nv = n / ${w / 4};
  vr s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0}, s6 = {0}, s7 = {0};
  for (long r = 0; r < reps; r++) {
    for (long i = 0; i < nv; i += 8) {
      s0 += v[i]; s1 += v[i + 1]; s2 += v[i + 2]; s3 += v[i + 3];
      s4 += v[i + 4]; s5 += v[i + 5]; s6 += v[i + 6]; s7 += v[i + 7];
    }
    __asm__ __volatile__("" ::: "memory");
  }
  vr s = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
  double t = 0;
  for (int l = 0; l < ${w / 4}; l++) t += s[l];
  return t;
}
`);
  }
  return parts.join('\n');
}

export function scalarSource(): string {
  return [
    '/* kiln calibrate: scalar peaks (built without auto-vectorization) */',
    chainKernel('fma_s', 'float', 'float', '1'),
    chainKernel('int_s', 'int', 'int', '1'),
    `/* a dot product into one float accumulator over an L1-resident array: the dependent chain the
   generated C has in every reduction (no reassociation without -ffast-math); n x 1024 iterations */
static float qa[1024], qb[1024];
double dot_s(long n, float m, float a) {
  for (int i = 0; i < 1024; i++) { qa[i] = m * (float)(i & 3); qb[i] = a; }
  float s = 0;
  for (long r = 0; r < n; r++) {
    for (int i = 0; i < 1024; i++) s = s + qa[i] * qb[i];
    __asm__ __volatile__("" ::: "memory");
  }
  return s;
}
`,
  ].join('\n');
}

export function mainSource(): string {
  const decl = VECTOR_BYTES.map((w) => `double fma_v${w}(long, float, float);\ndouble int_v${w}(long, int, int);`).join('\n');
  const peaks = VECTOR_BYTES.map(
    (w) => `  report("f32.vector${w * 8}", &k_fma_v${w}, ${2 * CHAINS * (w / 4)}.0);\n  report("i32.vector${w * 8}", &k_int_v${w}, ${2 * CHAINS * (w / 4)}.0);`,
  ).join('\n');
  const kfns = VECTOR_BYTES.map(
    (w) => `static double k_fma_v${w}(long n) { return fma_v${w}(n, fm, fa); }\nstatic double k_int_v${w}(long n) { return int_v${w}(n, im, ia); }`,
  ).join('\n');
  return `#define _POSIX_C_SOURCE 200112L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
${decl}
double fma_s(long, float, float);
double int_s(long, int, int);
double dot_s(long, float, float);
${VECTOR_BYTES.map((w) => `double read_sum${w}(const float *, long, long);`).join('\n')}
static int read_w;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
static volatile double sink;
static float fm, fa;
static int im, ia;
static double trial_s;
static int trials;
static const float *buf;
static long buf_n;

static double k_fma_s(long n) { return fma_s(n, fm, fa); }
static double k_int_s(long n) { return int_s(n, im, ia); }
static double k_dot_s(long n) { return dot_s(n, fm, fa); }
${kfns}
static double k_read(long n) {
  switch (read_w) {
${VECTOR_BYTES.map((w) => `    case ${w}: return read_sum${w}(buf, buf_n, n);`).join('\n')}
    default: return 0;
  }
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* work: units (flops, ops, bytes, cycles) per iteration of f; prints the best and median rate */
static void report(const char *name, double (*f)(long), double work) {
  long n = 1;
  double t;
  for (;;) {
    double t0 = now();
    sink = f(n);
    t = now() - t0;
    if (t >= trial_s / 8 || n > (1L << 40)) break;
    n *= 2;
  }
  if (t > 0 && t < trial_s) n = (long)((double)n * trial_s / t) + 1;
  double rate[64];
  int k = trials > 64 ? 64 : trials;
  for (int r = 0; r < k; r++) {
    double t0 = now();
    sink = f(n);
    double dt = now() - t0;
    rate[r] = dt > 0 ? work * (double)n / dt : 0;
  }
  qsort(rate, (size_t)k, sizeof rate[0], cmp);
  printf("%s %.6g %.6g\\n", name, rate[k - 1], k % 2 ? rate[k / 2] : (rate[k / 2 - 1] + rate[k / 2]) / 2);
  fflush(stdout);
}

#if defined(__x86_64__) || defined(__i386__)
static double k_clock(long n) {
  long x = 0;
  for (long i = 0; i < n; i++) __asm__ __volatile__(".rept 100\\n\\taddq $1, %0\\n\\t.endr" : "+r"(x));
  return (double)x;
}
#endif

/* argv: trial_ms trials read_vector_bytes bytes... (one read-bandwidth working set per argument, named by its index) */
int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: calib trial_ms trials read_vector_bytes bytes...\\n"); return 2; }
  read_w = atoi(argv[3]);
  trial_s = atof(argv[1]) / 1000.0;
  trials = atoi(argv[2]);
  fm = 0.999999f + (float)(argc - argc); fa = 1e-3f; im = 0x5bd1e995; ia = 12345;
#if defined(__x86_64__) || defined(__i386__)
  report("clock", &k_clock, 100.0);
#endif
  report("f32.scalar", &k_fma_s, ${2 * CHAINS}.0);
  report("i32.scalar", &k_int_s, ${2 * CHAINS}.0);
  report("acc.scalar", &k_dot_s, 1024.0);
${peaks}
  for (int i = 4; i < argc; i++) {
    long bytes = atol(argv[i]);
    long n = bytes / 4 / 512 * 512;
    if (n < 512) n = 512;
    float *p = NULL;
    if (posix_memalign((void **)&p, 64, (size_t)n * 4)) { fprintf(stderr, "out of memory\\n"); return 1; }
    for (long j = 0; j < n; j++) p[j] = (float)(j & 7) * 0.125f;
    buf = p; buf_n = n;
    char name[32];
    snprintf(name, sizeof name, "read.%d", i - 4);
    report(name, &k_read, (double)n * 4.0);
    free(p);
  }
  return 0;
}
`;
}

/** A loop the auto-vectorizer handles; its assembly says which vector width the bench flags give. */
export function autoVectorSource(): string {
  return 'void kiln_axpy(float *restrict y, const float *restrict x, int n) {\n  for (int i = 0; i < n; i++) y[i] = x[i] * 3.0f + y[i];\n}\n';
}

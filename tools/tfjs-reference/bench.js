#!/usr/bin/env node
// Time a TF.js graph model: repeated model.execute + dataSync on a fixed input (the speed peer).
//
//   node bench.js MODEL_JSON [--backend wasm|cpu] [--threads N] [--runs N] [--warmup N]
//
// Prints one JSON line: {model, backend, simd, multithread, threads, runs, warmup, median_ms, p90_ms, ...}.
// The input is the model's signature input shape (-1 -> 1; multipose's free H, W -> 256), filled with a
// fixed ramp: int32 0..255 for int models, float32 0..1 otherwise.
'use strict';
const path = require('path');
const tf = require('@tensorflow/tfjs');
const { loadModel, useBackend, signatureOutputs, parseArgs } = require('./load');

function fixedInput(model) {
  const spec = model.inputs[0];
  const shape = spec.shape.map((d, i) => (d == null || d < 0 ? (i === 0 ? 1 : 256) : d));
  const size = shape.reduce((a, b) => a * b, 1);
  const isInt = spec.dtype === 'int32';
  const data = isInt ? new Int32Array(size) : new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = isInt ? (i * 7) % 256 : ((i * 7) % 256) / 255;
  return tf.tensor(data, shape, spec.dtype);
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

async function main() {
  const args = parseArgs(process.argv.slice(2), { backend: 'wasm', threads: '0', runs: '50', warmup: '5' });
  if (args._.length !== 1) {
    console.error('usage: node bench.js MODEL_JSON [--backend wasm|cpu] [--threads N] [--runs N] [--warmup N]');
    process.exit(2);
  }
  const modelJson = args._[0];
  const info = await useBackend(tf, args.backend, Number(args.threads) || 0);
  const model = await loadModel(tf, modelJson);
  const input = fixedInput(model);
  const names = signatureOutputs(model);
  const once = () => {
    const outs = [].concat(model.execute(input, names));
    for (const t of outs) t.dataSync();
    tf.dispose(outs);
  };
  for (let i = 0; i < Number(args.warmup); i++) once();
  const times = [];
  for (let i = 0; i < Number(args.runs); i++) {
    const t0 = process.hrtime.bigint();
    once();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({
    model: path.basename(modelJson, '.json'), ...info, input_shape: input.shape, runs: times.length,
    warmup: Number(args.warmup), median_ms: +quantile(times, 0.5).toFixed(3), p90_ms: +quantile(times, 0.9).toFixed(3),
    min_ms: +times[0].toFixed(3),
  }));
  // The threaded wasm backend keeps worker threads alive; exit explicitly.
  process.exit(0);
}

main().catch((err) => { console.error(`bench.js: ${err.stack || err}`); process.exit(1); });

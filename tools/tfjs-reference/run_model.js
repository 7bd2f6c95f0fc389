#!/usr/bin/env node
// Run a TF.js graph model on one raw input and write every signature output (the numerical reference).
//
//   node run_model.js MODEL_JSON INPUT.bin OUTDIR [--backend cpu|wasm]
//
// INPUT.bin holds raw little-endian data; INPUT.json beside it gives {"dtype": "float32"|"int32",
// "shape": [...], "name": optional input name}. OUTDIR gets out0.bin, out1.bin, ... (raw float32) and
// index.json: {"backend": ..., "outputs": [{"name": signature key, "file", "shape", "dtype"}]} in
// signature order.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const { loadModel, useBackend, signatureOutputs, parseArgs } = require('./load');

async function main() {
  const args = parseArgs(process.argv.slice(2), { backend: 'cpu' });
  if (args._.length !== 3) {
    console.error('usage: node run_model.js MODEL_JSON INPUT.bin OUTDIR [--backend cpu|wasm]');
    process.exit(2);
  }
  const [modelJson, inputBin, outDir] = args._;
  const meta = JSON.parse(fs.readFileSync(inputBin.replace(/\.bin$/, '') + '.json', 'utf8'));
  const raw = fs.readFileSync(inputBin);
  const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
  const data = meta.dtype === 'int32' ? new Int32Array(buf) : new Float32Array(buf);
  const info = await useBackend(tf, args.backend);
  const model = await loadModel(tf, modelJson);
  const input = tf.tensor(data, meta.shape, meta.dtype);
  const names = signatureOutputs(model);
  const feed = meta.name ? { [meta.name]: input } : input;
  let outs;
  try {
    outs = model.execute(feed, names);
  } catch (err) {  // dynamic ops need the async executor
    outs = await model.executeAsync(feed, names);
  }
  outs = Array.isArray(outs) ? outs : [outs];
  fs.mkdirSync(outDir, { recursive: true });
  const index = { backend: info, outputs: [] };
  for (let k = 0; k < outs.length; k++) {
    const values = Float32Array.from(await outs[k].data());
    const file = `out${k}.bin`;
    fs.writeFileSync(path.join(outDir, file), Buffer.from(values.buffer));
    index.outputs.push({ name: names[k], file, shape: outs[k].shape, dtype: outs[k].dtype });
  }
  fs.writeFileSync(path.join(outDir, 'index.json'), JSON.stringify(index, null, 1));
}

main().catch((err) => { console.error(`run_model.js: ${err.stack || err}`); process.exit(1); });

#!/usr/bin/env node
// Run the PoseNet TF.js graph model with pure-JS tfjs (cpu backend) and write its four output fields.
//
// usage: node posenet_fields.js MODEL_JSON IMAGE_RAW OUTDIR
//   MODEL_JSON  TF.js graph model (weights files beside it)
//   IMAGE_RAW   float32 little-endian, the model input 1 x H x W x 3 in -1..1 (H, W from the model signature)
//   OUTDIR      gets heatmap.f32, offsets.f32, displacements_fwd.f32, displacements_bwd.f32 (batch dim dropped,
//               heatmap = raw logits) and fields.json {"name": [h, w, c], ...}
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const { loadModel } = require('./load');

// Output tensor names in the graph, by the field names that posenet_decode.js reads.
const FIELD_SUFFIXES = {
  heatmap: '/heatmap_2/BiasAdd:0',
  offsets: '/offset_2/BiasAdd:0',
  displacements_fwd: '/displacement_fwd_2/BiasAdd:0',
  displacements_bwd: '/displacement_bwd_2/BiasAdd:0',
};

async function main() {
  const [modelJson, imageRaw, outDir] = process.argv.slice(2);
  if (!outDir) {
    console.error('usage: node posenet_fields.js MODEL_JSON IMAGE_RAW OUTDIR');
    process.exit(2);
  }
  await tf.setBackend('cpu');
  const json = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const graph = await loadModel(tf, modelJson);
  const inputName = Object.keys(json.signature.inputs)[0];
  const shape = json.signature.inputs[inputName].tensorShape.dim.map((d) => Number(d.size));
  const raw = fs.readFileSync(imageRaw);
  const pixels = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const expected = shape.reduce((a, b) => a * b, 1);
  if (pixels.length !== expected) {
    console.error(`${imageRaw}: ${pixels.length} floats, the model wants ${shape.join('x')}; resize it first`);
    process.exit(2);
  }
  const outputNames = Object.keys(json.signature.outputs);
  const wanted = Object.entries(FIELD_SUFFIXES).map(([field, suffix]) => {
    const name = outputNames.find((n) => n.endsWith(suffix));
    if (!name) throw new Error(`${modelJson}: no output ending in ${suffix}`);
    return [field, name.replace(/:0$/, '')];
  });
  const input = tf.tensor(pixels, shape, 'float32');
  const t0 = process.hrtime.bigint();
  const outputs = graph.execute(input, wanted.map(([, name]) => name));
  const manifest = {};
  fs.mkdirSync(outDir, { recursive: true });
  for (let i = 0; i < wanted.length; i++) {
    const data = await outputs[i].data();
    const fieldShape = outputs[i].shape.slice(1);
    fs.writeFileSync(path.join(outDir, `${wanted[i][0]}.f32`), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    manifest[wanted[i][0]] = fieldShape;
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  fs.writeFileSync(path.join(outDir, 'fields.json'), JSON.stringify(manifest));
  console.log(JSON.stringify({ fields: manifest, inference_ms: ms }));
}

main().catch((err) => {
  console.error(err.message || String(err));
  process.exit(1);
});

#!/usr/bin/env node
// Decode PoseNet fields with the published JS decoder (@tensorflow-models/posenet 2.2.2) and write the poses.
//
// usage: node posenet_decode.js FIELDS_DIR OUT.json [--single] [--queue] [--max-poses N]
//                               [--score-threshold T] [--nms-radius R] [--output-stride S]
//                               [--local-maximum-radius R]
//   FIELDS_DIR holds fields.json ({"name": [h, w, c], ...}) and NAME.f32 (float32 little-endian, row-major)
//   for scores (sigmoid heatmaps; if absent, tf.sigmoid of heatmap), offsets, displacements_fwd,
//   displacements_bwd. Output: the decoder's poses as JSON, [{score, keypoints: [{part, position, score}]}].
//   --single: decodeSinglePose (async, takes tensors) instead of decodeMultiplePoses (takes buffers).
//   --queue: no decoding; write the whole root-candidate queue of buildPartWithScoreQueue in dequeue order,
//            [{score, y, x, id}] (radius from --local-maximum-radius; decodeMultiplePoses itself always uses 1).
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

const dist = path.join(__dirname, 'node_modules', '@tensorflow-models', 'posenet', 'dist');
const { decodeSinglePose } = require(path.join(dist, 'single_pose', 'decode_single_pose'));
const { decodeMultiplePoses } = require(path.join(dist, 'multi_pose', 'decode_multiple_poses'));
const { buildPartWithScoreQueue } = require(path.join(dist, 'multi_pose', 'build_part_with_score_queue'));

function parseArgs(argv) {
  const opts = {
    single: false, queue: false, maxPoses: 10, scoreThreshold: 0.5, nmsRadius: 20, outputStride: 16,
    localMaximumRadius: 1,
  };
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--single') opts.single = true;
    else if (a === '--queue') opts.queue = true;
    else if (a === '--max-poses') opts.maxPoses = Number(argv[++i]);
    else if (a === '--score-threshold') opts.scoreThreshold = Number(argv[++i]);
    else if (a === '--nms-radius') opts.nmsRadius = Number(argv[++i]);
    else if (a === '--output-stride') opts.outputStride = Number(argv[++i]);
    else if (a === '--local-maximum-radius') opts.localMaximumRadius = Number(argv[++i]);
    else positional.push(a);
  }
  if (positional.length !== 2) {
    console.error('usage: node posenet_decode.js FIELDS_DIR OUT.json [--single] [--queue] [--max-poses N] ...');
    process.exit(2);
  }
  [opts.fieldsDir, opts.out] = positional;
  return opts;
}

function readFields(dir) {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'fields.json'), 'utf8'));
  const fields = {};
  for (const [name, shape] of Object.entries(manifest)) {
    const raw = fs.readFileSync(path.join(dir, `${name}.f32`));
    const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    if (values.length !== shape.reduce((a, b) => a * b, 1)) {
      throw new Error(`${dir}/${name}.f32: ${values.length} floats, fields.json says ${shape.join('x')}`);
    }
    fields[name] = tf.buffer(shape, 'float32', values);
  }
  if (!fields.scores && fields.heatmap) fields.scores = tf.sigmoid(fields.heatmap.toTensor()).bufferSync();
  for (const name of ['scores', 'offsets']) {
    if (!fields[name]) throw new Error(`${dir}: no ${name}.f32 in fields.json`);
  }
  return fields;
}

function queueOrder(f, opts) {
  const queue = buildPartWithScoreQueue(opts.scoreThreshold, opts.localMaximumRadius, f.scores);
  const order = [];
  while (!queue.empty()) {
    const { score, part } = queue.dequeue();
    order.push({ score, y: part.heatmapY, x: part.heatmapX, id: part.id });
  }
  return order;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  await tf.setBackend('cpu');
  const f = readFields(opts.fieldsDir);
  const t0 = process.hrtime.bigint();
  let result;
  if (opts.queue) {
    result = queueOrder(f, opts);
  } else if (opts.single) {
    const scores = f.scores.toTensor();
    const offsets = f.offsets.toTensor();
    result = [await decodeSinglePose(scores, offsets, opts.outputStride)];
  } else {
    result = decodeMultiplePoses(f.scores, f.offsets, f.displacements_fwd, f.displacements_bwd,
      opts.outputStride, opts.maxPoses, opts.scoreThreshold, opts.nmsRadius);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const tmp = `${opts.out}.tmp${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(result));
  fs.renameSync(tmp, opts.out);
  console.log(JSON.stringify({ items: result.length, decode_ms: ms }));
}

main().catch((err) => {
  console.error(err.message || String(err));
  process.exit(1);
});

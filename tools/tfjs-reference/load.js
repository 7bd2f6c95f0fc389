// Shared helpers for the reference scripts: load a TF.js graph model from local files, pick a backend.
'use strict';
const fs = require('fs');
const path = require('path');

// Pure tfjs has no file:// loader in Node: build the model artifacts ourselves and use tf.io.fromMemory.
function artifacts(modelJson) {
  const doc = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const dir = path.dirname(modelJson);
  const weightSpecs = [];
  const shards = [];
  for (const group of doc.weightsManifest) {
    for (const p of group.paths) shards.push(fs.readFileSync(path.join(dir, p)));
    weightSpecs.push(...group.weights);
  }
  const all = Buffer.concat(shards);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return {
    modelTopology: doc.modelTopology, format: doc.format, generatedBy: doc.generatedBy,
    convertedBy: doc.convertedBy, signature: doc.signature, userDefinedMetadata: doc.userDefinedMetadata,
    modelInitializer: doc.modelInitializer, weightSpecs, weightData,
  };
}

async function loadModel(tf, modelJson) {
  return tf.loadGraphModel(tf.io.fromMemory(artifacts(modelJson)));
}

// Select 'cpu' (pure JS, the numerical reference) or 'wasm'; returns a description of the backend.
async function useBackend(tf, backend, threads) {
  const info = { backend };
  if (backend === 'wasm') {
    const wasm = require('@tensorflow/tfjs-backend-wasm');
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), path.sep);
    wasm.setWasmPaths(dist);
    if (threads) wasm.setThreadsCount(threads);
    info.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    info.multithread = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  }
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} failed to initialise`);
  await tf.ready();
  if (backend === 'wasm') info.threads = require('@tensorflow/tfjs-backend-wasm').getThreadsCount();
  else info.threads = 1;
  return info;
}

// Input names in signature order (falls back to the model's own input list).
function signatureOutputs(model) {
  const sig = model.signature || (model.artifacts && model.artifacts.signature);
  if (sig && sig.outputs) return Object.keys(sig.outputs);
  return model.outputs.map((o) => o.name);
}

function parseArgs(argv, flags) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const key = a.slice(2);
      if (!(key in flags)) throw new Error(`unknown option ${a}`);
      out[key] = argv[++i];
    } else out._.push(a);
  }
  for (const [k, v] of Object.entries(flags)) if (out[k] === undefined) out[k] = v;
  return out;
}

module.exports = { artifacts, loadModel, useBackend, signatureOutputs, parseArgs };

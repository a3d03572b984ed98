// The phone checks the ledger itself: RFC 9162 inclusion proofs, C2SP checkpoints and signed notes.
// Paired verbs as in transparency-dev/merkle: rootFromInclusionProof computes, verifyInclusion
// compares; every input is checked before any hashing, and errors carry a stable code.
import { concat, fromB64, fromHex, hex, importVerifyKey, sha256, utf8, verify } from "./crypto.js";

export class ProofError extends Error {
  constructor(code, message, details = {}) {
    super(message);
    this.code = code;
    Object.assign(this, details);
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

export async function leafHash(leafBytes) {
  return sha256(concat(new Uint8Array([0]), leafBytes));
}

async function nodeHash(left, right) {
  return sha256(concat(new Uint8Array([1]), left, right));
}

function bitLength(n) {
  let bits = 0;
  while (n > 0n) { bits += 1; n >>= 1n; }
  return bits;
}

function popCount(n) {
  let count = 0;
  while (n > 0n) { count += Number(n & 1n); n >>= 1n; }
  return count;
}

function hash32(value, what) {
  if (typeof value !== "string" || !HEX64.test(value)) throw new ProofError("proof_malformed", `${what} is not 64 hex digits`);
  return fromHex(value);
}

// RFC 9162 section 2.1.3.2, in the decomposed form of transparency-dev/merkle (proof/verify.go).
export async function rootFromInclusionProof(index, size, leafHashHex, proof) {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || size < 1 || index >= size) {
    throw new ProofError("proof_malformed", `index ${index} is not inside a tree of ${size}`);
  }
  if (!Array.isArray(proof)) throw new ProofError("proof_malformed", "the audit path is not a list");
  const i = BigInt(index);
  const inner = bitLength(i ^ BigInt(size - 1));
  const border = popCount(i >> BigInt(inner));
  if (proof.length !== inner + border) {
    throw new ProofError("proof_malformed", `the audit path has ${proof.length} nodes, a tree of ${size} needs ${inner + border}`);
  }
  const leaf = hash32(leafHashHex, "the leaf hash");
  const nodes = proof.map((p, n) => hash32(p, `audit path node ${n}`));
  let hash = leaf;
  for (let n = 0; n < inner; n++) {
    hash = ((i >> BigInt(n)) & 1n) === 0n ? await nodeHash(hash, nodes[n]) : await nodeHash(nodes[n], hash);
  }
  for (let n = inner; n < nodes.length; n++) hash = await nodeHash(nodes[n], hash);
  return hex(hash);
}

export async function verifyInclusion(index, size, leafHashHex, proof, rootHex) {
  if (typeof rootHex !== "string" || !HEX64.test(rootHex)) throw new ProofError("proof_malformed", "the root is not 64 hex digits");
  const calculated = await rootFromInclusionProof(index, size, leafHashHex, proof);
  if (calculated !== rootHex) {
    throw new ProofError("root_mismatch", "the proof leads to another root", { expected: rootHex, calculated });
  }
  return true;
}

// RFC 9162 section 2.1.4.2, as evidence/ledger/merkle.py and transparency-dev/merkle decompose it.
export const EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

function size(name, n) {
  if (!Number.isSafeInteger(n) || n < 0) throw new ProofError("proof_malformed", `${name} ${n} is not a tree size`);
}

async function chainInner(seed, path, index) {
  for (let n = 0; n < path.length; n++) {
    seed = ((index >> BigInt(n)) & 1n) === 0n ? await nodeHash(seed, path[n]) : await nodeHash(path[n], seed);
  }
  return seed;
}

async function chainInnerRight(seed, path, index) {
  for (let n = 0; n < path.length; n++) if (((index >> BigInt(n)) & 1n) === 1n) seed = await nodeHash(path[n], seed);
  return seed;
}

async function chainBorderRight(seed, path) {
  for (const node of path) seed = await nodeHash(node, seed);
  return seed;
}

export async function rootFromConsistencyProof(first, second, proof, firstRootHex) {
  size("first", first);
  size("second", second);
  const firstRoot = hash32(firstRootHex, "the first root");
  if (!Array.isArray(proof)) throw new ProofError("proof_malformed", "the proof is not a list");
  if (first > second) throw new ProofError("proof_malformed", `first size ${first} is beyond second size ${second}`);
  if (first === second) {
    if (proof.length) throw new ProofError("proof_malformed", "equal sizes take an empty proof");
    return firstRootHex;
  }
  if (first === 0) throw new ProofError("proof_malformed", "nothing follows from the empty tree");
  const f = BigInt(first);
  const shift = bitLength(f & -f) - 1;
  const i = f - 1n;
  const fullInner = bitLength(i ^ BigInt(second - 1));
  const border = popCount(i >> BigInt(fullInner));
  const inner = fullInner - shift;
  const seededByRoot = f === 1n << BigInt(shift);
  const expected = (seededByRoot ? 0 : 1) + inner + border;
  if (proof.length !== expected) {
    throw new ProofError("proof_malformed", `the proof has ${proof.length} nodes, ${first} → ${second} needs ${expected}`);
  }
  const nodes = proof.map((p, n) => hash32(p, `proof node ${n}`));
  const seed = seededByRoot ? firstRoot : nodes[0];
  const path = seededByRoot ? nodes : nodes.slice(1);
  const mask = i >> BigInt(shift);
  const calculatedFirst = hex(await chainBorderRight(await chainInnerRight(seed, path.slice(0, inner), mask), path.slice(inner)));
  if (calculatedFirst !== firstRootHex) {
    throw new ProofError("root_mismatch", `the proof does not reproduce the root of size ${first}`,
      { expected: firstRootHex, calculated: calculatedFirst });
  }
  return hex(await chainBorderRight(await chainInner(seed, path.slice(0, inner), mask), path.slice(inner)));
}

export async function verifyConsistency(first, second, proof, firstRootHex, secondRootHex) {
  size("first", first);
  size("second", second);
  hash32(firstRootHex, "the first root");
  hash32(secondRootHex, "the second root");
  if (first === 0 && second >= first) {
    if (!Array.isArray(proof) || proof.length) throw new ProofError("proof_malformed", "the empty tree takes an empty proof");
    if (firstRootHex !== EMPTY_ROOT) throw new ProofError("root_mismatch", "a tree of size 0 has the empty root");
    if (second === 0 && secondRootHex !== EMPTY_ROOT) throw new ProofError("root_mismatch", "a tree of size 0 has the empty root");
    return true;
  }
  const calculated = await rootFromConsistencyProof(first, second, proof, firstRootHex);
  if (calculated !== secondRootHex) {
    throw new ProofError("root_mismatch", `tree ${second} does not extend tree ${first}`, { expected: secondRootHex, calculated });
  }
  return true;
}

// --- checkpoints (C2SP tlog-checkpoint) ---------------------------------------------------------

const decoder = new TextDecoder("utf-8", { fatal: true });
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const MAX_U64 = (1n << 64n) - 1n;

function isKeyName(text) {
  return text.length > 0 && !/[\s+]/u.test(text) && !CONTROL.test(text);
}

function text(bytes, code, what) {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new ProofError(code, `${what} is not UTF-8`);
  }
}

export function parseCheckpoint(bodyBytes) {
  const body = text(bodyBytes, "checkpoint_malformed", "the checkpoint");
  if (!body.endsWith("\n")) throw new ProofError("checkpoint_malformed", "the checkpoint must end with a newline");
  const lines = body.slice(0, -1).split("\n");
  if (lines.length < 3) throw new ProofError("checkpoint_malformed", "the checkpoint needs origin, size and root lines");
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (!isKeyName(origin)) throw new ProofError("checkpoint_malformed", "the origin is empty or has spaces, '+' or controls");
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || BigInt(sizeText) > MAX_U64) {
    throw new ProofError("checkpoint_malformed", "the tree size is not canonical decimal");
  }
  let root;
  try { root = fromB64(rootText); } catch { throw new ProofError("checkpoint_malformed", "the root is not standard base64"); }
  if (root.length !== 32) throw new ProofError("checkpoint_malformed", `the root is ${root.length} bytes`);
  for (const line of extensions) {
    if (!line || CONTROL.test(line)) throw new ProofError("checkpoint_malformed", "an extension line is empty or has controls");
  }
  const size = BigInt(sizeText);
  return { origin, treeSize: size <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(size) : size, rootHash: hex(root), extensions };
}

// The API's detached signature: 64 raw bytes over the exact body bytes.
export async function verifyCheckpoint(bodyBytes, signatureB64, publicKeyRaw) {
  let signature;
  try { signature = fromB64(signatureB64); } catch { throw new ProofError("signature_malformed", "the signature is not base64"); }
  if (signature.length !== 64) throw new ProofError("signature_malformed", "an Ed25519 signature is 64 bytes");
  const checkpoint = parseCheckpoint(bodyBytes);
  const key = await importVerifyKey(publicKeyRaw);
  if (!(await verify(key, signature, bodyBytes))) throw new ProofError("signature_invalid", "the checkpoint signature does not verify");
  return checkpoint;
}

export async function noteKeyHash(name, publicKeyRaw) {
  return (await sha256(concat(utf8(name), utf8("\n"), new Uint8Array([1]), publicKeyRaw))).slice(0, 4);
}

// A C2SP signed note: text, blank line, "— name base64(key hash || signature)" lines.
// Lines by other keys are ignored; our key must sign exactly once.
export async function openNote(noteBytes, publicKeyRaw, keyName) {
  const note = text(noteBytes, "note_malformed", "the note");
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new ProofError("note_malformed", "no blank line before the signatures");
  const body = note.slice(0, split + 1);
  const block = note.slice(split + 2, -1);
  const lines = block ? block.split("\n") : [];
  if (!lines.length || lines.length > 100) throw new ProofError("note_malformed", "a note carries 1 to 100 signatures");
  const wanted = await noteKeyHash(keyName, publicKeyRaw);
  const ours = [];
  for (const line of lines) {
    if (!line.startsWith("\u2014 ")) throw new ProofError("note_malformed", "a signature line starts with an em dash");
    const rest = line.slice(2);
    const space = rest.indexOf(" ");
    const name = space < 0 ? rest : rest.slice(0, space);
    const encoded = space < 0 ? "" : rest.slice(space + 1);
    if (!isKeyName(name) || !encoded) throw new ProofError("note_malformed", "a signature line is malformed");
    let blob;
    try { blob = fromB64(encoded); } catch { throw new ProofError("note_malformed", "a signature line is not base64"); }
    if (blob.length <= 4) throw new ProofError("note_malformed", "a signature line is too short");
    if (name === keyName && blob.slice(0, 4).every((b, n) => b === wanted[n])) ours.push(blob.slice(4));
  }
  if (!ours.length) throw new ProofError("signature_missing", `no signature by ${keyName}`);
  if (ours.length > 1) throw new ProofError("note_malformed", `${keyName} signed twice`);
  if (ours[0].length !== 64) throw new ProofError("signature_malformed", "an Ed25519 signature is 64 bytes");
  const key = await importVerifyKey(publicKeyRaw);
  const bodyBytes = utf8(body);
  if (!(await verify(key, ours[0], bodyBytes))) throw new ProofError("signature_invalid", "the note signature does not verify");
  return bodyBytes;
}

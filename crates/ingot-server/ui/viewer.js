// A minimal GLB viewer on WebGL: parses the GLB container (JSON and BIN chunks), draws
// every mesh of the default scene with its node transforms, positions, normals (computed
// when absent), indices, base-colour factor and base-colour texture, under one directional
// light. Orbit by dragging or with the arrow keys; zoom with the wheel or + / -.

export const BACKGROUND = [0.11, 0.12, 0.14];

const GLB_MAGIC = 0x46546c67;
const CHUNK_JSON = 0x4e4f534a;
const CHUNK_BIN = 0x004e4942;
const COMPONENTS = { SCALAR: 1, VEC2: 2, VEC3: 3, VEC4: 4, MAT4: 16 };
const TYPED = {
  5120: Int8Array, 5121: Uint8Array, 5122: Int16Array, 5123: Uint16Array,
  5125: Uint32Array, 5126: Float32Array,
};

/** The GLB's JSON and binary chunk. */
export function parseGLB(buffer) {
  const dv = new DataView(buffer);
  if (buffer.byteLength < 20 || dv.getUint32(0, true) !== GLB_MAGIC) throw new Error('not a GLB file');
  if (dv.getUint32(4, true) !== 2) throw new Error('only glTF 2.0 GLB files are supported');
  let off = 12;
  let json = null;
  let bin = null;
  while (off + 8 <= buffer.byteLength) {
    const len = dv.getUint32(off, true);
    const type = dv.getUint32(off + 4, true);
    const start = off + 8;
    if (start + len > buffer.byteLength) throw new Error('truncated GLB chunk');
    if (type === CHUNK_JSON) json = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, start, len)));
    else if (type === CHUNK_BIN && !bin) bin = new Uint8Array(buffer, start, len);
    off = start + len + ((4 - (len % 4)) % 4);
  }
  if (!json) throw new Error('GLB without a JSON chunk');
  return { json, bin: bin || new Uint8Array(0) };
}

/** An accessor's data as a packed typed array (floats normalised when asked). */
function readAccessor(gltf, bin, index, asFloat) {
  const acc = gltf.accessors[index];
  const n = COMPONENTS[acc.type];
  const Type = TYPED[acc.componentType];
  if (!n || !Type) throw new Error(`unsupported accessor ${index}`);
  const count = acc.count;
  const Out = asFloat ? Float32Array : Uint32Array;
  const out = new Out(count * n);
  if (acc.bufferView === undefined) return out; // all zeros (sparse is not read)
  const view = gltf.bufferViews[acc.bufferView];
  const base = bin.byteOffset + (view.byteOffset || 0) + (acc.byteOffset || 0);
  const size = Type.BYTES_PER_ELEMENT;
  const stride = view.byteStride || size * n;
  const dv = new DataView(bin.buffer);
  const get = {
    5120: (o) => dv.getInt8(o), 5121: (o) => dv.getUint8(o),
    5122: (o) => dv.getInt16(o, true), 5123: (o) => dv.getUint16(o, true),
    5125: (o) => dv.getUint32(o, true), 5126: (o) => dv.getFloat32(o, true),
  }[acc.componentType];
  const scale = acc.normalized && acc.componentType !== 5126
    ? { 5120: 127, 5121: 255, 5122: 32767, 5123: 65535, 5125: 4294967295 }[acc.componentType] : 1;
  for (let i = 0; i < count; i++) {
    for (let c = 0; c < n; c++) {
      const v = get(base + i * stride + c * size);
      out[i * n + c] = scale === 1 ? v : Math.max(v / scale, -1);
    }
  }
  return out;
}

// Column-major 4×4 matrices.
const ident = () => [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
function mul(a, b) {
  const o = new Array(16);
  for (let c = 0; c < 4; c++) {
    for (let r = 0; r < 4; r++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[k * 4 + r] * b[c * 4 + k];
      o[c * 4 + r] = s;
    }
  }
  return o;
}
function fromTRS(t = [0, 0, 0], q = [0, 0, 0, 1], s = [1, 1, 1]) {
  const [x, y, z, w] = q;
  return [
    (1 - 2 * (y * y + z * z)) * s[0], 2 * (x * y + z * w) * s[0], 2 * (x * z - y * w) * s[0], 0,
    2 * (x * y - z * w) * s[1], (1 - 2 * (x * x + z * z)) * s[1], 2 * (y * z + x * w) * s[1], 0,
    2 * (x * z + y * w) * s[2], 2 * (y * z - x * w) * s[2], (1 - 2 * (x * x + y * y)) * s[2], 0,
    t[0], t[1], t[2], 1,
  ];
}
function apply(m, x, y, z) {
  return [m[0] * x + m[4] * y + m[8] * z + m[12], m[1] * x + m[5] * y + m[9] * z + m[13],
    m[2] * x + m[6] * y + m[10] * z + m[14]];
}
/** The inverse transpose of the upper 3×3, for normals. */
function normalMatrix(m) {
  const [a, b, c, d, e, f, g, h, i] = [m[0], m[1], m[2], m[4], m[5], m[6], m[8], m[9], m[10]];
  const A = e * i - f * h; const B = -(d * i - f * g); const C = d * h - e * g;
  const det = a * A + b * B + c * C || 1;
  return [A / det, B / det, C / det,
    -(b * i - c * h) / det, (a * i - c * g) / det, -(a * h - b * g) / det,
    (b * f - c * e) / det, -(a * f - c * d) / det, (a * e - b * d) / det];
}
function perspective(fovy, aspect, near, far) {
  const f = 1 / Math.tan(fovy / 2);
  const nf = 1 / (near - far);
  return [f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) * nf, -1, 0, 0, 2 * far * near * nf, 0];
}
function lookAt(eye, target) {
  const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
  const norm = (v) => { const l = Math.hypot(...v) || 1; return v.map((x) => x / l); };
  const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const z = norm(sub(eye, target));
  const x = norm(cross([0, 1, 0], z));
  const y = cross(z, x);
  return [x[0], y[0], z[0], 0, x[1], y[1], z[1], 0, x[2], y[2], z[2], 0, -dot(x, eye), -dot(y, eye), -dot(z, eye), 1];
}

function flatNormals(pos, idx) {
  const nrm = new Float32Array(pos.length);
  for (let t = 0; t + 2 < idx.length; t += 3) {
    const [a, b, c] = [idx[t] * 3, idx[t + 1] * 3, idx[t + 2] * 3];
    const u = [pos[b] - pos[a], pos[b + 1] - pos[a + 1], pos[b + 2] - pos[a + 2]];
    const v = [pos[c] - pos[a], pos[c + 1] - pos[a + 1], pos[c + 2] - pos[a + 2]];
    const n = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
    for (const k of [a, b, c]) { nrm[k] += n[0]; nrm[k + 1] += n[1]; nrm[k + 2] += n[2]; }
  }
  return nrm;
}

const VS = `attribute vec3 aPos; attribute vec3 aNrm; attribute vec2 aUv;
uniform mat4 uView; uniform mat4 uProj; uniform mat4 uModel; uniform mat3 uNrm;
varying vec3 vNrm; varying vec2 vUv;
void main() { vNrm = uNrm * aNrm; vUv = aUv; gl_Position = uProj * uView * uModel * vec4(aPos, 1.0); }`;
const FS = `precision mediump float;
varying vec3 vNrm; varying vec2 vUv;
uniform vec4 uColor; uniform sampler2D uTex; uniform bool uHasTex; uniform vec3 uLight;
void main() {
  vec4 c = uColor;
  if (uHasTex) c *= texture2D(uTex, vUv);
  vec3 n = normalize(vNrm);
  float d = abs(dot(n, uLight));
  gl_FragColor = vec4(c.rgb * (0.35 + 0.75 * d), c.a);
}`;

export class Viewer {
  constructor(canvas) {
    this.canvas = canvas;
    const opts = { antialias: true, preserveDrawingBuffer: true };
    this.gl = canvas.getContext('webgl2', opts) || canvas.getContext('webgl', opts);
    if (!this.gl) throw new Error('WebGL is not available in this browser');
    this.uint32 = !!(this.gl instanceof WebGLRenderingContext ? this.gl.getExtension('OES_element_index_uint') : true);
    this.draws = [];
    this.yaw = 0.6; this.pitch = 0.35; this.zoom = 1;
    this.center = [0, 0, 0]; this.radius = 1;
    this.program = this.compile();
    this.bindInput();
    this.frame = 0;
    this.render();
  }

  compile() {
    const gl = this.gl;
    const sh = (type, src) => {
      const s = gl.createShader(type);
      gl.shaderSource(s, src);
      gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
      return s;
    };
    const p = gl.createProgram();
    gl.attachShader(p, sh(gl.VERTEX_SHADER, VS));
    gl.attachShader(p, sh(gl.FRAGMENT_SHADER, FS));
    gl.linkProgram(p);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
    const loc = {};
    for (const a of ['aPos', 'aNrm', 'aUv']) loc[a] = gl.getAttribLocation(p, a);
    for (const u of ['uView', 'uProj', 'uModel', 'uNrm', 'uColor', 'uTex', 'uHasTex', 'uLight']) {
      loc[u] = gl.getUniformLocation(p, u);
    }
    this.loc = loc;
    return p;
  }

  bindInput() {
    const c = this.canvas;
    let drag = null;
    c.addEventListener('pointerdown', (e) => {
      drag = { x: e.clientX, y: e.clientY };
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener('pointermove', (e) => {
      if (!drag) return;
      this.orbit((e.clientX - drag.x) * 0.01, (e.clientY - drag.y) * 0.01);
      drag = { x: e.clientX, y: e.clientY };
    });
    const end = () => { drag = null; };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', end);
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      this.zoomBy(Math.exp(e.deltaY * 0.001));
    }, { passive: false });
    c.addEventListener('keydown', (e) => {
      const step = 0.15;
      const k = {
        ArrowLeft: () => this.orbit(-step, 0), ArrowRight: () => this.orbit(step, 0),
        ArrowUp: () => this.orbit(0, -step), ArrowDown: () => this.orbit(0, step),
        '+': () => this.zoomBy(0.9), '=': () => this.zoomBy(0.9), '-': () => this.zoomBy(1.1),
      }[e.key];
      if (k) { e.preventDefault(); k(); }
    });
    if (typeof ResizeObserver !== 'undefined') new ResizeObserver(() => this.render()).observe(c);
  }

  orbit(dyaw, dpitch) {
    this.yaw += dyaw;
    this.pitch = Math.max(-1.5, Math.min(1.5, this.pitch + dpitch));
    this.render();
  }

  zoomBy(f) {
    this.zoom = Math.max(0.2, Math.min(5, this.zoom * f));
    this.render();
  }

  /** Replaces the shown model with the GLB in `buffer` (an ArrayBuffer). */
  async load(buffer) {
    const { json: gltf, bin } = parseGLB(buffer);
    const gl = this.gl;
    this.clear();
    const textures = await this.loadTextures(gltf, bin);
    const min = [Infinity, Infinity, Infinity];
    const max = [-Infinity, -Infinity, -Infinity];
    const visit = (ni, parent) => {
      const node = gltf.nodes[ni];
      const local = node.matrix ? node.matrix.slice() : fromTRS(node.translation, node.rotation, node.scale);
      const world = mul(parent, local);
      if (node.mesh !== undefined) {
        for (const prim of gltf.meshes[node.mesh].primitives) {
          if (prim.mode !== undefined && prim.mode !== 4) continue; // triangles only
          const pos = readAccessor(gltf, bin, prim.attributes.POSITION, true);
          const count = pos.length / 3;
          let idx = prim.indices !== undefined ? readAccessor(gltf, bin, prim.indices, false)
            : Uint32Array.from({ length: count }, (_, i) => i);
          const nrm = prim.attributes.NORMAL !== undefined
            ? readAccessor(gltf, bin, prim.attributes.NORMAL, true) : flatNormals(pos, idx);
          const uv = prim.attributes.TEXCOORD_0 !== undefined
            ? readAccessor(gltf, bin, prim.attributes.TEXCOORD_0, true) : null;
          for (let i = 0; i < count; i++) {
            const p = apply(world, pos[i * 3], pos[i * 3 + 1], pos[i * 3 + 2]);
            for (let k = 0; k < 3; k++) { min[k] = Math.min(min[k], p[k]); max[k] = Math.max(max[k], p[k]); }
          }
          const mat = gltf.materials?.[prim.material] || {};
          const pbr = mat.pbrMetallicRoughness || {};
          const texIndex = pbr.baseColorTexture?.index;
          let indexType = gl.UNSIGNED_INT;
          if (count < 65536) { idx = Uint16Array.from(idx); indexType = gl.UNSIGNED_SHORT; }
          else if (!this.uint32) throw new Error('this browser cannot draw meshes this large');
          this.draws.push({
            pos: this.buffer(gl.ARRAY_BUFFER, pos),
            nrm: this.buffer(gl.ARRAY_BUFFER, nrm),
            uv: uv ? this.buffer(gl.ARRAY_BUFFER, uv) : null,
            idx: this.buffer(gl.ELEMENT_ARRAY_BUFFER, idx),
            count: idx.length, indexType,
            model: world, nrmMat: normalMatrix(world),
            color: pbr.baseColorFactor || [1, 1, 1, 1],
            texture: texIndex !== undefined && uv ? textures[texIndex] : null,
            blend: mat.alphaMode === 'BLEND',
          });
        }
      }
      for (const child of node.children || []) visit(child, world);
    };
    const scene = gltf.scenes?.[gltf.scene ?? 0];
    const roots = scene ? scene.nodes : (gltf.nodes || []).map((_, i) => i);
    for (const r of roots || []) visit(r, ident());
    if (!this.draws.length) throw new Error('the GLB holds no triangle meshes');
    this.draws.sort((a, b) => Number(a.blend) - Number(b.blend));
    this.center = [0, 1, 2].map((k) => (min[k] + max[k]) / 2);
    this.radius = Math.max(Math.hypot(max[0] - min[0], max[1] - min[1], max[2] - min[2]) / 2, 1e-3);
    this.zoom = 1;
    this.render();
  }

  async loadTextures(gltf, bin) {
    const gl = this.gl;
    const out = [];
    for (const tex of gltf.textures || []) {
      const img = gltf.images?.[tex.source];
      if (!img || img.bufferView === undefined) { out.push(null); continue; }
      const view = gltf.bufferViews[img.bufferView];
      const bytes = new Uint8Array(bin.buffer, bin.byteOffset + (view.byteOffset || 0), view.byteLength);
      try {
        const bitmap = await createImageBitmap(new Blob([bytes], { type: img.mimeType || 'image/png' }));
        const t = gl.createTexture();
        gl.bindTexture(gl.TEXTURE_2D, t);
        gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
        const pot = (n) => (n & (n - 1)) === 0;
        const mips = this.gl instanceof WebGLRenderingContext ? pot(bitmap.width) && pot(bitmap.height) : true;
        const wrap = mips ? gl.REPEAT : gl.CLAMP_TO_EDGE;
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, wrap);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, wrap);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
        if (mips) {
          gl.generateMipmap(gl.TEXTURE_2D);
          gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR_MIPMAP_LINEAR);
        } else {
          gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
        }
        bitmap.close();
        out.push(t);
      } catch {
        out.push(null); // an undecodable image: the base colour alone is drawn
      }
    }
    return out;
  }

  buffer(target, data) {
    const gl = this.gl;
    const b = gl.createBuffer();
    gl.bindBuffer(target, b);
    gl.bufferData(target, data, gl.STATIC_DRAW);
    return b;
  }

  clear() {
    const gl = this.gl;
    for (const d of this.draws) {
      for (const b of [d.pos, d.nrm, d.uv, d.idx]) if (b) gl.deleteBuffer(b);
      if (d.texture) gl.deleteTexture(d.texture);
    }
    this.draws = [];
  }

  render() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  draw() {
    const gl = this.gl;
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.clientWidth * dpr));
    const h = Math.max(1, Math.round(c.clientHeight * dpr));
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
    gl.viewport(0, 0, w, h);
    gl.clearColor(BACKGROUND[0], BACKGROUND[1], BACKGROUND[2], 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    if (!this.draws.length) return;
    const L = this.loc;
    gl.useProgram(this.program);
    gl.enable(gl.DEPTH_TEST);
    gl.disable(gl.CULL_FACE); // both faces lit alike: generated meshes are not always closed
    const dist = (this.radius / Math.tan(0.4)) * 1.15 * this.zoom;
    const eye = [
      this.center[0] + dist * Math.cos(this.pitch) * Math.sin(this.yaw),
      this.center[1] + dist * Math.sin(this.pitch),
      this.center[2] + dist * Math.cos(this.pitch) * Math.cos(this.yaw),
    ];
    gl.uniformMatrix4fv(L.uView, false, lookAt(eye, this.center));
    gl.uniformMatrix4fv(L.uProj, false, perspective(0.8, w / h, dist / 100, dist * 10));
    const toEye = [eye[0] - this.center[0], eye[1] - this.center[1], eye[2] - this.center[2]];
    const len = Math.hypot(...toEye) || 1;
    // A light from the viewer's upper right.
    gl.uniform3fv(L.uLight, [toEye[0] / len + 0.3, toEye[1] / len + 0.5, toEye[2] / len].map((x) => x / 1.2));
    gl.uniform1i(L.uTex, 0);
    for (const d of this.draws) {
      gl.uniformMatrix4fv(L.uModel, false, d.model);
      gl.uniformMatrix3fv(L.uNrm, false, d.nrmMat);
      gl.uniform4fv(L.uColor, d.color);
      gl.uniform1i(L.uHasTex, d.texture ? 1 : 0);
      if (d.texture) { gl.activeTexture(gl.TEXTURE0); gl.bindTexture(gl.TEXTURE_2D, d.texture); }
      if (d.blend) { gl.enable(gl.BLEND); gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA); } else gl.disable(gl.BLEND);
      this.attrib(L.aPos, d.pos, 3);
      this.attrib(L.aNrm, d.nrm, 3);
      if (d.uv) this.attrib(L.aUv, d.uv, 2);
      else if (L.aUv >= 0) { gl.disableVertexAttribArray(L.aUv); gl.vertexAttrib2f(L.aUv, 0, 0); }
      gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, d.idx);
      gl.drawElements(gl.TRIANGLES, d.count, d.indexType, 0);
    }
  }

  attrib(loc, buf, size) {
    if (loc < 0) return;
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, buf);
    gl.enableVertexAttribArray(loc);
    gl.vertexAttribPointer(loc, size, gl.FLOAT, false, 0, 0);
  }
}

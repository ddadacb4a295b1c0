// The latent explorer: the selected model's decoder, run here in the browser on every slider or
// pad movement; only the final code goes back to Python (on release).
// The forward pass mirrors dae_core/export.py's decode_arrays: the same arrays, the same maths.

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];  // digit 0..9
const GEOMETRY = [[2, 0, 0], [2, 1, 1], [2, 1, 1]];  // (stride, padding, output padding)
const NEIGHBOURS = 8;  // drawn codes averaged by the pad's lift (and by a UMAP pad's projection)
const PREVIEW = 224, NEAREST = 112, PAD = 320;  // display sizes in CSS pixels

function floats(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

function bytesOf(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// The decoder: Linear-ReLU-Linear-ReLU, then three transposed convolutions (BatchNorm folded in).
// Activations are channels-last, (y, x, c), so the innermost loop runs over contiguous channels.
class Decoder {
  constructor(w) {
    this.d = w.fc1_w.shape[1];
    this.fc = [1, 2].map(i => ({ w: floats(w[`fc${i}_w`].b64), b: floats(w[`fc${i}_b`].b64),
                                 out: w[`fc${i}_w`].shape[0], in: w[`fc${i}_w`].shape[1] }));
    this.convs = [1, 2, 3].map((i, n) => {
      const [cin, cout, k] = w[`deconv${i}_w`].shape;
      const src = floats(w[`deconv${i}_w`].b64);
      const t = new Float32Array(src.length);  // (c_in, c_out, ky, kx) -> (c_in, ky, kx, c_out)
      for (let a = 0; a < cin; a++) for (let o = 0; o < cout; o++)
        for (let q = 0; q < k * k; q++) t[(a * k * k + q) * cout + o] = src[(a * cout + o) * k * k + q];
      const [stride, pad, opad] = GEOMETRY[n];
      return { w: t, b: floats(w[`deconv${i}_b`].b64), cin, cout, k, stride, pad, opad };
    });
    let size = 3;
    this.buffers = [new Float32Array(this.convs[0].cin * 9)];
    this.sizes = [3];
    for (const c of this.convs) {
      size = (size - 1) * c.stride - 2 * c.pad + c.k + c.opad;
      this.sizes.push(size);
      this.buffers.push(new Float32Array(size * size * c.cout));
    }
    this.h1 = new Float32Array(this.fc[0].out);
    this.h2 = new Float32Array(this.fc[1].out);
  }

  // code z (d) -> image (28 * 28) in (0, 1), row-major
  run(z, image) {
    const [f1, f2] = this.fc;
    for (let o = 0; o < f1.out; o++) {
      let s = f1.b[o];
      for (let i = 0; i < f1.in; i++) s += f1.w[o * f1.in + i] * z[i];
      this.h1[o] = s > 0 ? s : 0;
    }
    const x0 = this.buffers[0], c0 = this.convs[0].cin;
    for (let o = 0; o < f2.out; o++) {
      let s = f2.b[o];
      for (let i = 0; i < f2.in; i++) s += f2.w[o * f2.in + i] * this.h1[i];
      x0[(o % 9) * c0 + Math.floor(o / 9)] = s > 0 ? s : 0;  // (c, 3, 3) -> (3, 3, c)
    }
    this.convs.forEach((c, n) => this.deconv(c, this.buffers[n], this.sizes[n],
                                             this.buffers[n + 1], this.sizes[n + 1], n < 2));
    const last = this.buffers[3];
    for (let p = 0; p < image.length; p++) image[p] = 1 / (1 + Math.exp(-last[p]));
    return image;
  }

  // Each input pixel adds w[c_in, ky, kx, :] times itself at (y*stride - pad + ky, x*stride - pad + kx).
  deconv(c, x, h, out, H, relu) {
    const { w, b, cin, cout, k, stride, pad } = c;
    for (let p = 0; p < H * H; p++) for (let o = 0; o < cout; o++) out[p * cout + o] = b[o];
    for (let y = 0; y < h; y++) for (let xx = 0; xx < h; xx++) {
      const base = (y * h + xx) * cin;
      for (let ky = 0; ky < k; ky++) {
        const oy = y * stride - pad + ky;
        if (oy < 0 || oy >= H) continue;
        for (let kx = 0; kx < k; kx++) {
          const ox = xx * stride - pad + kx;
          if (ox < 0 || ox >= H) continue;
          const ob = (oy * H + ox) * cout;
          for (let i = 0; i < cin; i++) {
            const v = x[base + i];
            if (v === 0) continue;  // ReLU zeros add nothing
            const wb = (i * k * k + ky * k + kx) * cout;
            for (let o = 0; o < cout; o++) out[ob + o] += v * w[wb + o];
          }
        }
      }
    }
    if (relu) for (let p = 0; p < H * H * cout; p++) if (out[p] < 0) out[p] = 0;
  }
}

function el(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function canvas(parent, cls, size, px) {
  const c = el("canvas", cls, parent);
  c.width = px; c.height = px;
  c.style.width = `${size}px`; c.style.height = `${size}px`;
  return c;
}

class Explorer {
  constructor(root, data) {
    this.model = data.model;
    this.decoder = new Decoder(data.weights);
    const d = this.d = data.d;
    this.low = data.low; this.high = data.high; this.median = data.median;
    this.dials = data.dials || null;  // a split model's: a digit to choose, sliders for the style
    this.z = Float32Array.from(data.median);
    this.shownZ = new Float32Array(this.d).fill(NaN);  // the code the sliders show
    this.image = new Float32Array(28 * 28);
    this.pixels = new ImageData(28, 28);
    this.usePad(data.pad);
    this.rev = -1;  // the last code pushed from Python that this explorer has applied
    this.build(root);
    this.sprite = new Image();
    this.spriteCols = data.sprite_cols;
    this.sprite.onload = () => this.schedule();
    this.sprite.src = data.sprite;
  }

  // The pad's drawn codes, their labels and positions; PCA's mean and axes ("pca" pads only).
  usePad(pad) {
    this.projection = pad.projection;
    this.xy = floats(pad.xy); this.codes = floats(pad.codes); this.labels = bytesOf(pad.labels);
    this.n = this.labels.length;
    const pca = pad.projection === "pca";
    this.mean = pca ? Float32Array.from(pad.mean) : null;
    this.axes = pca ? pad.axes.map(a => Float32Array.from(a)) : null;
    this.box = null;  // the frame of the new positions
  }

  // Another map of the same model's pad (PCA <-> UMAP): redraw the scatter, keep the code.
  switchPad(pad) {
    this.usePad(pad);
    this.pad.getContext("2d").clearRect(0, 0, this.pad.width, this.pad.height);
    this.drawScatter();
    this.schedule();
  }

  build(root) {
    this.root = el("div", "dae-explorer", root);
    this.root.dataset.model = this.model;
    const sliders = el("div", "sliders", this.root);
    if (this.dials) this.buildDigits(sliders);
    const classDims = new Set(this.dials ? this.dials.class_dims : []);
    const styleNo = this.dials ? new Map(this.dials.style_dims.map((j, k) => [j, k + 1])) : new Map();
    this.inputs = []; this.values = [];
    for (let i = 0; i < this.d; i++) {
      if (classDims.has(i)) { this.inputs.push(null); this.values.push(null); continue; }  // the digit row sets them
      const name = styleNo.has(i) ? `style ${styleNo.get(i)}` : `z${i}`;
      const row = el("label", "slider", sliders);
      el("span", "name", row, name);
      const input = el("input", null, row);
      Object.assign(input, { type: "range", min: this.low[i], max: this.high[i],
                             step: (this.high[i] - this.low[i]) / 1000, value: this.z[i] });
      input.setAttribute("aria-label", name);
      input.addEventListener("input", () => { this.z[i] = parseFloat(input.value); this.drawNow(); });
      input.addEventListener("change", () => this.send());
      this.inputs.push(input);
      this.values.push(el("span", "value", row, this.z[i].toFixed(2)));
    }
    const reset = el("button", "reset", sliders, "Back to the median code");
    reset.addEventListener("click", () => { this.z.set(this.median); this.schedule(); this.send(); });

    const views = el("div", "views", this.root);
    this.small = canvas(views, "preview", PREVIEW, 28);  // the browser scales it up, pixelated
    this.caption = el("div", "caption", views);
    const near = el("div", "nearest", views);
    this.nearest = canvas(near, "nearest-digit", NEAREST, 28);
    this.nearestText = el("div", "caption", near);
    this.nearest.getContext("2d").imageSmoothingEnabled = false;

    const padBox = el("div", "pad", this.root);
    const area = el("div", "pad-area", padBox);
    this.pad = canvas(area, "pad-canvas", PAD, Math.round(PAD * (window.devicePixelRatio || 1)));
    this.pad.setAttribute("aria-label", "latent pad");
    // The marker is an element above the scatter, moved by a transform: a move repaints neither.
    this.marker = el("div", "marker", area);
    const legend = el("div", "legend", padBox);
    PALETTE.forEach((colour, digit) => { el("span", null, legend, String(digit)).style.color = colour; });
    this.padCaption = el("div", "caption", padBox);
    this.drawScatter();
    this.pad.addEventListener("pointerdown", e => {
      this.pad.setPointerCapture(e.pointerId);
      // measured once per drag: reading it on every move would force a layout of the whole page
      this.rect = this.pad.getBoundingClientRect();
      this.dragging = true; this.fromPad(e);
    });
    // pointerrawupdate (secure contexts) arrives as soon as the mouse moves; pointermove waits for
    // the next frame, so a decode started from it would run inside that frame.
    const move = "onpointerrawupdate" in window ? "pointerrawupdate" : "pointermove";
    this.pad.addEventListener(move, e => { if (this.dragging) this.fromPad(e); });
    const release = () => { if (this.dragging) { this.dragging = false; this.send(); } };
    this.pad.addEventListener("pointerup", release);
    this.pad.addEventListener("pointercancel", release);
  }

  // The digit dial: one button per class of the class part, labelled with the digit it is
  // matched to; choosing one sets the class part to that class's median and spans the style
  // sliders over that class's own codes.
  buildDigits(parent) {
    const row = el("div", "digits", parent);
    el("span", "name", row, "digit");
    this.digitButtons = [];
    const order = this.dials.digits.map((digit, c) => [digit, c]).sort((a, b) => a[0] - b[0]);
    for (const [digit, c] of order) {
      const b = el("button", "digit", row, digit >= 0 ? String(digit) : `#${c}`);
      b.dataset.cls = String(c);
      b.setAttribute("aria-label", `digit ${digit >= 0 ? digit : "#" + c}`);
      b.addEventListener("click", () => this.chooseClass(c));
      this.digitButtons[c] = b;
    }
  }

  chooseClass(c) {
    this.dials.class_dims.forEach((j, k) => { this.z[j] = this.dials.class_codes[c][k]; });
    this.showClass(c);
    for (const j of this.dials.style_dims)  // a style the new digit never has moves into its range
      this.z[j] = Math.min(Math.max(this.z[j], this.dials.low[c][j]), this.dials.high[c][j]);
    this.drawNow();
    this.send();
  }

  // The class the code names: its button marked, the style sliders over its range.
  showClass(c) {
    if (c === this.shownClass) return;
    this.shownClass = c;
    this.root.dataset.digit = String(this.dials.digits[c]);
    this.digitButtons.forEach((b, k) => b.classList.toggle("active", k === c));
    for (const j of this.dials.style_dims) {
      const lo = this.dials.low[c][j], hi = this.dials.high[c][j];
      Object.assign(this.inputs[j], { min: lo, max: hi, step: (hi - lo) / 1000 });
      this.shownZ[j] = NaN;  // set its value again, within the new range
    }
  }

  namedClass() {
    let best = 0;
    this.dials.class_dims.forEach((j, k) => { if (this.z[j] > this.z[this.dials.class_dims[best]]) best = k; });
    return best;
  }

  // Pad pixels <-> pad coordinates: the 1st-99th percentile box of the drawn codes, plus 8%.
  frame() {
    if (this.box) return this.box;
    const lim = a => { const s = Array.from(a).sort((p, q) => p - q);
                       return [s[Math.floor(0.01 * s.length)], s[Math.floor(0.99 * s.length)]]; };
    const xs = [], ys = [];
    for (let i = 0; i < this.n; i++) { xs.push(this.xy[2 * i]); ys.push(this.xy[2 * i + 1]); }
    const [x0, x1] = lim(xs), [y0, y1] = lim(ys), mx = 0.08 * (x1 - x0), my = 0.08 * (y1 - y0);
    this.box = { x0: x0 - mx, x1: x1 + mx, y0: y0 - my, y1: y1 + my };
    return this.box;
  }

  toPixel(x, y) {
    const b = this.frame(), W = this.pad.width;
    return [(x - b.x0) / (b.x1 - b.x0) * W, (b.y1 - y) / (b.y1 - b.y0) * W];
  }

  drawScatter() {  // once per model and map
    this.pad.dataset.projection = this.projection;
    this.padCaption.textContent = (this.projection === "umap" ? "Training codes on their UMAP map"
      : "Training codes on their first two principal components") +
      ", coloured by digit: drag to decode the code under the pointer.";
    const g = this.pad.getContext("2d");
    const r = Math.max(1, this.pad.width / 220);
    for (let i = 0; i < this.n; i++) {
      const [px, py] = this.toPixel(this.xy[2 * i], this.xy[2 * i + 1]);
      g.fillStyle = PALETTE[this.labels[i]];
      g.globalAlpha = 0.55;
      g.fillRect(px - r, py - r, 2 * r, 2 * r);
    }
  }

  // The NEIGHBOURS drawn points nearest a point of `points` (rows of `dim` numbers), as [index,
  // weight] with inverse-square-distance weights summing to 1.
  neighbours(points, dim, at) {
    const best = [];  // [distance^2, index], the NEIGHBOURS smallest
    for (let i = 0; i < this.n; i++) {
      let d2 = 0;
      for (let j = 0; j < dim; j++) { const v = points[i * dim + j] - at[j]; d2 += v * v; }
      if (best.length < NEIGHBOURS || d2 < best[best.length - 1][0]) {
        best.push([d2, i]); best.sort((a, b) => a[0] - b[0]);
        if (best.length > NEIGHBOURS) best.pop();
      }
    }
    const total = best.reduce((s, [d2]) => s + 1 / (d2 + 1e-6), 0);
    return best.map(([d2, i]) => [i, 1 / (d2 + 1e-6) / total]);
  }

  // The pad point of a code (dae_core.export.project): on a PCA pad its coordinates on the two
  // principal axes; on a UMAP pad the weighted mean of the positions of the 8 drawn codes nearest
  // it in the code space.
  // `near`: this.neighbours of z among the codes, when the caller has them already.
  project(z, near = null) {
    const p = [0, 0];
    if (!this.axes) {
      for (const [i, w] of near || this.neighbours(this.codes, this.d, z)) { p[0] += w * this.xy[2 * i]; p[1] += w * this.xy[2 * i + 1]; }
      return p;
    }
    for (let a = 0; a < 2; a++) for (let i = 0; i < this.d; i++) p[a] += (z[i] - this.mean[i]) * this.axes[a][i];
    return p;
  }

  // Lift (dae_core.export.lift): the inverse-square-distance weighted mean of the 8 drawn codes
  // nearest p on the pad; on a PCA pad moved along the two axes so that it lands exactly on p.
  lift(p) {
    const z = new Float64Array(this.d);
    for (const [i, w] of this.neighbours(this.xy, 2, p)) for (let j = 0; j < this.d; j++) z[j] += w * this.codes[i * this.d + j];
    if (!this.axes) return this.z.set(z);
    const q = this.project(z);
    for (let j = 0; j < this.d; j++) this.z[j] = z[j] + (p[0] - q[0]) * this.axes[0][j] + (p[1] - q[1]) * this.axes[1][j];
  }

  fromPad(e) {
    const rect = this.rect, b = this.frame();
    const fx = (e.clientX - rect.left) / rect.width, fy = (e.clientY - rect.top) / rect.height;
    this.lift([b.x0 + fx * (b.x1 - b.x0), b.y1 - fy * (b.y1 - b.y0)]);
    this.drawNow();
  }

  // The drawn training code nearest the current code (all d dimensions). For a split model, among
  // the codes whose digit part names the same class: the style numbers span far more than the
  // class probabilities, so the nearest of all could be another digit in the same style.
  nearestIndex() {
    const c = this.dials ? this.namedClass() : -1, classes = c >= 0 ? this.codeClasses() : null;
    let best = -1, bestD = Infinity;
    for (let pass = 0; pass < 2 && best < 0; pass++) {  // a class no drawn code names: all of them
      for (let i = 0; i < this.n; i++) {
        if (pass === 0 && classes && classes[i] !== c) continue;
        let s = 0;
        for (let j = 0; j < this.d && s < bestD; j++) { const v = this.codes[i * this.d + j] - this.z[j]; s += v * v; }
        if (s < bestD) { bestD = s; best = i; }
      }
    }
    return Math.max(best, 0);
  }

  // The class each drawn code's digit part names (its largest probability), found once.
  codeClasses() {
    if (this.classes) return this.classes;
    const dims = this.dials.class_dims;
    this.classes = new Int16Array(this.n);
    for (let i = 0; i < this.n; i++) {
      let best = 0;
      dims.forEach((j, k) => { if (this.codes[i * this.d + j] > this.codes[i * this.d + dims[best]]) best = k; });
      this.classes[i] = best;
    }
    return this.classes;
  }

  // Draw at the next frame (once, however many changes come before it).
  schedule() {
    this.stale = true;
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; if (this.stale) this.safeDraw(); });
  }

  // Draw at once, so that the next frame only has to show the result; a second change before that
  // frame waits for it (schedule), which keeps a fast mouse to one decode a frame.
  drawNow() {
    if (this.drewEarly) return this.schedule();
    this.drewEarly = true;
    requestAnimationFrame(() => { this.drewEarly = false; });
    this.safeDraw();
  }

  safeDraw() {
    try { this.draw(); } catch (e) { this.fail(e); }
  }

  setText(node, text) {  // writing the same text would still make the browser lay it out again
    if (node.textContent !== text) node.textContent = text;
  }

  draw() {
    this.stale = false;
    this.decoder.run(this.z, this.image);
    const px = this.pixels.data;
    for (let p = 0; p < 784; p++) {
      const v = Math.round(Math.min(1, Math.max(0, this.image[p])) * 255);
      px[4 * p] = px[4 * p + 1] = px[4 * p + 2] = v; px[4 * p + 3] = 255;
    }
    this.small.getContext("2d").putImageData(this.pixels, 0, 0);
    this.setText(this.caption, "z = (" + Array.from(this.z, v => v.toFixed(2)).join(", ") + ")");
    if (this.dials) this.showClass(this.namedClass());
    for (let i = 0; i < this.d; i++) {
      if (!this.inputs[i] || this.shownZ[i] === this.z[i]) continue;  // a pad move changes most, a slider one
      this.shownZ[i] = this.z[i];
      this.inputs[i].value = this.z[i];  // the browser clips it to the slider's range
      this.setText(this.values[i], this.z[i].toFixed(2));
    }
    // On a UMAP pad one scan of the codes gives both the marker's place and the nearest digit.
    const near = this.axes ? null : this.neighbours(this.codes, this.d, this.z);
    const [x, y] = this.toPixel(...this.project(this.z, near)), W = this.pad.width, H = this.pad.height;
    const s = PAD / W;  // device pixels -> CSS pixels
    this.marker.style.transform =
      `translate(${Math.min(Math.max(x, 0), W) * s}px, ${Math.min(Math.max(y, 0), H) * s}px)`;
    this.pad.dataset.x = x / W; this.pad.dataset.y = y / H;
    if (this.sprite.complete && this.sprite.naturalWidth) {
      const k = near && !this.dials ? near[0][0] : this.nearestIndex();
      if (k !== this.shown) {  // neighbouring codes share their nearest digit: redraw on a change
        this.shown = k;
        const col = k % this.spriteCols, row = Math.floor(k / this.spriteCols);
        this.nearest.getContext("2d").drawImage(this.sprite, col * 28, row * 28, 28, 28, 0, 0, 28, 28);
        this.nearestText.textContent = `nearest training digit: a ${this.labels[k]}`;
      }
    }
    if (!this.drawn) { this.drawn = true; performance.mark("dae-explorer-first-frame"); }
    this.root.dataset.frames = (parseInt(this.root.dataset.frames || "0") + 1).toString();
  }

  apply(start) {  // a code pushed from Python (a test digit, a sample): applied once per revision
    if (!start || start.rev <= this.rev) return;
    this.rev = start.rev;
    this.z.set(start.z);
    this.schedule();
  }

  fail(e) {  // Python then shows the server-side sliders
    if (this.failed) return;
    this.failed = true;
    this.setStateValue("failed", String((e && e.message) || e));
  }

  send() {
    this.setStateValue("code", { rev: this.rev, z: Array.from(this.z) });
  }

  // The images the explorer draws for the given codes, as 28*28 grey bytes (tests compare them
  // with PyTorch's decode).
  render(codes) {
    const saved = Float32Array.from(this.z), out = [];
    for (const z of codes) {
      this.z.set(z); this.draw();
      const rgba = this.small.getContext("2d").getImageData(0, 0, 28, 28).data;
      out.push(Array.from({ length: 784 }, (_, p) => rgba[4 * p]));
    }
    this.z.set(saved); this.draw();
    return out;
  }

  code() { return Array.from(this.z); }
}

function supported() {
  const c = document.createElement("canvas");
  return typeof Float32Array === "function" && typeof ImageData === "function" &&
         typeof requestAnimationFrame === "function" && "PointerEvent" in window && !!c.getContext("2d");
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const host = parentElement.host || parentElement;
  try {
    if (!supported()) throw new Error("this browser lacks canvas, pointer events or typed arrays");
    let app = host.daeExplorer;
    if (!app || app.model !== data.model) {
      if (!app) performance.mark("dae-explorer-start");
      if (app) app.root.remove();
      app = host.daeExplorer = new Explorer(parentElement, data);
    } else if (app.projection !== data.pad.projection) {
      app.switchPad(data.pad);
    }
    app.setStateValue = setStateValue;
    app.apply(data.start);
    app.schedule();
  } catch (e) {
    if (host.daeExplorer) { host.daeExplorer.root.remove(); host.daeExplorer = undefined; }
    setStateValue("failed", String((e && e.message) || e));
  }
}

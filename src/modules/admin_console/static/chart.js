// @ts-check
/**
 * A line chart drawn by hand on a <canvas>: the last `capacity` readings, the y axis from 0 to
 * the largest reading shown (rounded up), its top value written in the corner.
 */
export class LineChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ capacity?: number, format?: (v: number) => string, color?: string }} [opts]
   */
  constructor(canvas, opts = {}) {
    this.canvas = canvas;
    this.capacity = opts.capacity ?? 60;
    this.format = opts.format ?? ((v) => String(Math.round(v * 100) / 100));
    this.color = opts.color ?? '#23705a';
    /** @type {number[]} */
    this.values = [];
  }

  /** @param {number} value */
  push(value) {
    this.values.push(value);
    if (this.values.length > this.capacity) this.values.shift();
    this.draw();
  }

  draw() {
    const ratio = window.devicePixelRatio || 1;
    const width = this.canvas.clientWidth || 300;
    const height = this.canvas.clientHeight || 110;
    if (this.canvas.width !== Math.round(width * ratio)) this.canvas.width = Math.round(width * ratio);
    if (this.canvas.height !== Math.round(height * ratio)) this.canvas.height = Math.round(height * ratio);
    const g = this.canvas.getContext('2d');
    if (!g) return;
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const top = niceCeiling(Math.max(0, ...this.values));
    const pad = { left: 4, right: 4, top: 16, bottom: 4 };
    const w = width - pad.left - pad.right;
    const hgt = height - pad.top - pad.bottom;
    g.strokeStyle = '#d8dde6';
    g.lineWidth = 1;
    for (let i = 0; i <= 2; i++) {
      const y = pad.top + (hgt * i) / 2 + 0.5;
      g.beginPath();
      g.moveTo(pad.left, y);
      g.lineTo(pad.left + w, y);
      g.stroke();
    }
    g.fillStyle = '#667085';
    g.font = '11px system-ui, sans-serif';
    g.fillText(this.format(top), pad.left, 11);
    if (this.values.length < 2) return;
    const step = w / (this.capacity - 1);
    const x0 = pad.left + w - step * (this.values.length - 1);
    g.strokeStyle = this.color;
    g.lineWidth = 2;
    g.beginPath();
    this.values.forEach((v, i) => {
      const x = x0 + i * step;
      const y = pad.top + hgt - (top === 0 ? 0 : (v / top) * hgt);
      if (i === 0) g.moveTo(x, y);
      else g.lineTo(x, y);
    });
    g.stroke();
  }
}

/** The smallest 1, 2 or 5 × 10^n at least `v` (1 for 0). @param {number} v */
function niceCeiling(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

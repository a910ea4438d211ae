/**
 * A histogram for hot paths, exported through a prom-client registry.
 *
 * prom-client's Histogram hashes the label set on every observation (even through `labels()`),
 * about a microsecond: too much for something timed on every storage call of every message.
 * Here each label set is bound once to a series object, and an observation is a bucket search
 * and three additions; the registry reads the series when scraped, in the standard histogram
 * shape (`_bucket` with `le`, `_sum`, `_count`).
 */
import type { Registry } from 'prom-client';

export interface HistogramSeries {
  /** Record one value (in the histogram's unit, e.g. seconds). */
  observe(value: number): void;
}

class Series implements HistogramSeries {
  /** counts[i]: values in (bounds[i-1], bounds[i]]; the last one: above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    (this.counts[i] as number)++;
    this.sum += value;
    this.count++;
  }
}

interface MetricValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

export class FastHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();
  private readonly bounds: readonly number[];

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
  ) {
    this.bounds = [...buckets].sort((a, b) => a - b);
  }

  /** The series of these labels, made on first use; keep it and observe on it. */
  bind(labels: Readonly<Record<string, string>>): HistogramSeries {
    const key = JSON.stringify(Object.entries(labels).sort());
    let s = this.series.get(key);
    if (!s) {
      s = new Series({ ...labels }, this.bounds);
      this.series.set(key, s);
    }
    return s;
  }

  /** Registers with a prom-client registry (it reads `name`, `help`, `type` and `get()`). */
  registerIn(registry: Registry): void {
    // prom-client types registerMetric for its own classes; it only calls get() (and reads
    // name/help/type/aggregator), which this object provides in the same shape.
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** What prom-client renders: cumulative buckets with `le`, then `_sum` and `_count`, per series. */
  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    const values: MetricValue[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += s.counts[i] ?? 0;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: bound }, value: cumulative });
      });
      cumulative += s.counts[this.bounds.length] ?? 0;
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: cumulative });
      values.push({ metricName: `${this.name}_sum`, labels: { ...s.labels }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...s.labels }, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** prom-client calls this on registry.resetMetrics(): zeroes every series (bound ones stay valid). */
  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}

/** The shape every scenario has, and the record it produces. */
import type { RunningServer, ServerSetup } from '../servers/types.js';

export type Size = 'tiny' | 'small' | 'full';

export interface Metric {
  name: string;
  value: number;
  unit: string;
  /** Which direction is better, for the ratio column. */
  better: 'higher' | 'lower';
}

export interface ScenarioResult {
  scenario: string;
  server: string;
  params: Record<string, number>;
  metrics: Metric[];
  /** CPU seconds the load generator (this process) used while measuring, and the wall time. */
  generator: { cpuSeconds: number; wallSeconds: number };
  notes: string[];
}

export interface Scenario<P extends Record<string, number>> {
  name: string;
  description: string;
  /** One or more parameter sets per size; each gets its own fresh server. */
  sizes: Record<Size, P[]>;
  setup(params: P): ServerSetup;
  run(server: RunningServer, params: P): Promise<ScenarioResult>;
}

/** Measures this process's CPU and wall time over a phase. */
export class GeneratorClock {
  private readonly cpu0 = process.cpuUsage();
  private readonly t0 = performance.now();

  read(): { cpuSeconds: number; wallSeconds: number } {
    const cpu = process.cpuUsage(this.cpu0);
    return { cpuSeconds: (cpu.user + cpu.system) / 1e6, wallSeconds: (performance.now() - this.t0) / 1000 };
  }
}

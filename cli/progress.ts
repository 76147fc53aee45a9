/**
 * A progress bar on stderr — records, MiB/s and ETA — shown only when stderr is a terminal
 * and stdout is not: a bar redraws its line, so on the terminal where records are printed it
 * would overwrite them (`sluice consume t > file` shows it, `sluice consume t` does not).
 * Pipes and scripts get clean output. Elsewhere it is a no-op.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** `done` is in the bar's unit (bytes or records); `records` and `bytes` feed the counters. */
  update(done: number, records: number, bytes: number): void;
  stop(): void;
}

const MIB = 1024 * 1024;

/** Whether to draw a bar: stderr is a terminal that stdout does not also print to. */
export function progressWanted(terminals: { stdout: boolean; stderr: boolean } = { stdout: process.stdout.isTTY === true, stderr: process.stderr.isTTY === true }): boolean {
  return terminals.stderr && !terminals.stdout;
}

export function createProgress(total: number, enabled: boolean = progressWanted()): Progress {
  if (!enabled || total <= 0) return { update: () => {}, stop: () => {} };
  const started = performance.now();
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: '{bar} {percentage}% | {records} records | {rate} MiB/s | ETA {eta_formatted}',
      hideCursor: true,
      etaBuffer: 20,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { records: 0, rate: '0.0' });
  return {
    update(done, records, bytes) {
      const seconds = (performance.now() - started) / 1000;
      bar.update(Math.min(done, total), { records, rate: seconds > 0 ? (bytes / MIB / seconds).toFixed(1) : '0.0' });
    },
    stop() {
      bar.stop();
    },
  };
}

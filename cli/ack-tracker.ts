/**
 * What `sluice produce` has sent and what came back: the records and bytes acknowledged,
 * the unacknowledged bytes (the read window), and the longest run of lines from line 1 that
 * are all acknowledged — the line a user can restart after.
 */

export interface SentEntry {
  readonly firstLine: number;
  readonly count: number;
  readonly bytes: number;
  state: 'pending' | 'acknowledged' | 'failed';
}

export class AckTracker {
  /** Records and input bytes acknowledged. */
  records = 0;
  bytes = 0;
  private pendingBytes = 0;
  private lastLine = 0;
  /** Entries in line order; acknowledged ones are dropped from the front. */
  private readonly entries: SentEntry[] = [];
  private acknowledgedThrough = 0;
  private wake: (() => void) | undefined;

  sent(firstLine: number, count: number, bytes: number): SentEntry {
    const entry: SentEntry = { firstLine, count, bytes, state: 'pending' };
    this.entries.push(entry);
    this.pendingBytes += bytes;
    this.lastLine = firstLine + count - 1;
    return entry;
  }

  acknowledged(entry: SentEntry): void {
    entry.state = 'acknowledged';
    this.records += entry.count;
    this.bytes += entry.bytes;
    this.settle(entry);
    while (this.entries[0]?.state === 'acknowledged') {
      const first = this.entries.shift() as SentEntry;
      this.acknowledgedThrough = first.firstLine + first.count - 1;
    }
  }

  failed(entry: SentEntry): void {
    entry.state = 'failed';
    this.settle(entry);
  }

  /** Waits while more than `maxBytes` are unacknowledged, or until `stop()` says to give up. */
  async window(maxBytes: number, stop: () => boolean): Promise<void> {
    while (this.pendingBytes > maxBytes && !stop()) await this.change();
  }

  /** Resolves once every entry is acknowledged or failed. */
  async settled(): Promise<void> {
    while (this.entries.some((e) => e.state === 'pending')) await this.change();
  }

  /** One line for stderr: records, time, and the line through which everything is acknowledged. */
  summary(seconds: number, interrupted: boolean): string {
    const prefix = interrupted ? 'Interrupted. ' : '';
    const records = `${this.records} record${this.records === 1 ? '' : 's'}`;
    const through = this.acknowledgedThrough === 0 ? 'no line acknowledged' : `lines 1-${this.acknowledgedThrough} acknowledged`;
    const rest = this.lastLine > this.acknowledgedThrough ? `; lines ${this.acknowledgedThrough + 1}-${this.lastLine} not all acknowledged` : '';
    return `${prefix}Produced ${records} in ${seconds.toFixed(1)} s: ${through}${rest}.\n`;
  }

  private settle(entry: SentEntry): void {
    this.pendingBytes -= entry.bytes;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private change(): Promise<void> {
    return new Promise((resolve) => {
      const previous = this.wake;
      this.wake = () => {
        previous?.();
        resolve();
      };
    });
  }
}

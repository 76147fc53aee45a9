/**
 * `consume --include <regex> --follow` picks up matching topics created after it started, as
 * a Kafka consumer with a pattern subscription does: it lists the topics again every
 * `--metadata-max-age-ms` (Kafka's metadata.max.age.ms, 5 minutes by default) and hands the
 * new matches to the consume mode, which starts them from their log start — every record
 * in a topic created after the command started came after it.
 */
import type { Admin } from '../lib/client/index.ts';
import { SluiceError } from '../lib/errors.ts';

/** Kafka's metadata.max.age.ms, as the client's producer uses it too. */
export const DEFAULT_METADATA_MAX_AGE_MS = 300_000;

/** `--include`'s regex, anchored to the whole topic name as Kafka's pattern subscription is. */
export function includePattern(include: string): RegExp {
  try {
    return new RegExp(`^(?:${include})$`);
  } catch (error) {
    throw new SluiceError('INVALID_REQUEST', `--include is not a valid regular expression: ${(error as Error).message}`);
  }
}

/** Watches for topics that match a pattern and are not consumed yet; one listing per interval. */
export class IncludeWatch {
  private readonly known: Set<string>;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly admin: Admin,
    private readonly pattern: RegExp,
    known: Iterable<string>,
    private readonly intervalMs: number,
  ) {
    this.known = new Set(known);
  }

  /**
   * Resolves with the matching topics that appeared since the last call (they are known from
   * then on), checking every interval; never resolves once stopped. A failed listing (the
   * server away) is tried again at the next interval: the consume mode reports the outage.
   */
  next(): Promise<string[]> {
    return new Promise((resolve) => {
      const check = async () => {
        if (this.stopped) return;
        const found = await this.admin.listTopics().then(
          (topics) => topics.map((t) => t.name).filter((name) => this.pattern.test(name) && !this.known.has(name)),
          () => [],
        );
        if (this.stopped) return;
        if (found.length === 0) {
          this.timer = setTimeout(() => void check(), this.intervalMs);
          return;
        }
        for (const name of found) this.known.add(name);
        resolve(found.sort());
      };
      this.timer = setTimeout(() => void check(), this.intervalMs);
    });
  }

  /** Stops checking; a pending next() stays pending. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

import { api } from './stack.ts';

type TP = { topic: string; partitions: number[] };

function keys(list: TP[]): string[] {
  return list.flatMap((t) => t.partitions.map((p) => `${t.topic}:${p}`)).sort();
}

/** Who believed it owned what, when: one interval per ownership, for overlap checks. */
export interface Ownership {
  member: string;
  partition: string;
  fromMs: number;
  toMs: number | null;
}

/**
 * A consumer-group member speaking the heartbeat protocol directly, as the client does:
 * it owns what the last response assigned, releases a revoked partition at once (after
 * committing it, if it was consuming) and reports what it owns on the next heartbeat.
 */
export class ProtocolMember {
  epoch = 0;
  owned: string[] = [];
  /** Send heartbeats to this instance of the groups function (SLUICE_INSTANCES), or round-robin when undefined. */
  instance: number | undefined;
  readonly timeline: Ownership[];

  constructor(
    readonly url: string,
    readonly group: string,
    readonly id: string,
    readonly topics: string[],
    timeline: Ownership[],
    readonly options: { sessionTimeoutMs?: number; heartbeatIntervalMs?: number; assignor?: string } = {},
  ) {
    this.timeline = timeline;
  }

  /** One heartbeat; returns the response body (throws on an error status). */
  async beat(onRevoke?: (partition: string) => Promise<void>): Promise<{ memberEpoch: number; assignment: TP[] }> {
    const ownedPartitions = Object.entries(
      this.owned.reduce<Record<string, number[]>>((acc, k) => {
        const [topic, p] = k.split(':') as [string, string];
        (acc[topic] ??= []).push(Number(p));
        return acc;
      }, {}),
    ).map(([topic, partitions]) => ({ topic, partitions }));
    const res = await api(this.url, 'POST', `/v1/groups/${this.group}/heartbeat`, {
      memberId: this.id,
      memberEpoch: this.epoch,
      subscribedTopics: this.topics,
      ownedPartitions,
      ...this.options,
    }, this.instance === undefined ? {} : { 'x-sluice-instance': String(this.instance) });
    if (res.status !== 200) throw Object.assign(new Error(`${res.body.error}: ${res.body.message}`), { body: res.body });
    const assigned = keys(res.body.assignment);
    const now = Date.now();
    for (const p of this.owned.filter((k) => !assigned.includes(k))) {
      await onRevoke?.(p);
      const open = this.timeline.find((o) => o.member === this.id && o.partition === p && o.toMs === null);
      if (open !== undefined) open.toMs = Date.now();
    }
    for (const p of assigned.filter((k) => !this.owned.includes(k))) this.timeline.push({ member: this.id, partition: p, fromMs: now, toMs: null });
    this.owned = assigned;
    this.epoch = res.body.memberEpoch;
    return res.body;
  }

  async leave(): Promise<void> {
    await api(this.url, 'POST', `/v1/groups/${this.group}/heartbeat`, { memberId: this.id, memberEpoch: -1 });
    const now = Date.now();
    for (const o of this.timeline) if (o.member === this.id && o.toMs === null) o.toMs = now;
    this.owned = [];
  }

  /** Stops heartbeating without leaving (a crash): ownership ends now, from its side. */
  crash(): void {
    const now = Date.now();
    for (const o of this.timeline) if (o.member === this.id && o.toMs === null) o.toMs = now;
  }
}

/** Pairs of intervals in which two members owned one partition at the same moment. */
export function overlaps(timeline: readonly Ownership[]): Array<[Ownership, Ownership]> {
  const found: Array<[Ownership, Ownership]> = [];
  for (const a of timeline) {
    for (const b of timeline) {
      if (a === b || a.member >= b.member || a.partition !== b.partition) continue;
      const aEnd = a.toMs ?? Number.POSITIVE_INFINITY;
      const bEnd = b.toMs ?? Number.POSITIVE_INFINITY;
      if (a.fromMs < bEnd && b.fromMs < aEnd) found.push([a, b]);
    }
  }
  return found;
}

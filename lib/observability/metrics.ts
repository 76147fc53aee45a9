/**
 * Application metrics as CloudWatch Embedded Metric Format lines, through Powertools for
 * AWS Lambda: Lambda's log pipeline turns each line into metrics, so publishing costs no
 * API call. Every datum is published twice: under `service` alone (the cluster-wide
 * figure alarms use; see metricsService) and, where it concerns one topic or group, under
 * `service` with `Topic`, `Group`, or both.
 *
 * Cardinality: one series per metric name per topic, so at most
 * TOPIC_METRIC_NAMES.length × topics custom metrics, plus one per name cluster-wide, plus
 * for lag at most MAX_GROUP_SERIES_PER_PASS (group, topic) series and as many group series
 * (docs/DEPLOY.md prices it).
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/** CloudWatch namespace of every Sluice metric. */
export const METRICS_NAMESPACE = 'Sluice';
/**
 * The `service` dimension every datum carries: the cluster's name prefix, which the CDK
 * construct sets as POWERTOOLS_SERVICE_NAME, so two clusters in one region stay apart.
 */
export function metricsService(env: NodeJS.ProcessEnv = process.env): string {
  return env.POWERTOOLS_SERVICE_NAME?.trim() || 'sluice';
}

/** Every metric Sluice publishes, with its unit. */
export const METRIC_UNITS = {
  /** Request body bytes of accepted produce requests. */
  BytesIn: MetricUnit.Bytes,
  /** Records appended. */
  RecordsIn: MetricUnit.Count,
  /** Response body bytes of fetches. */
  BytesOut: MetricUnit.Bytes,
  /** Records returned by fetches (counting whole batches in the binary form). */
  RecordsOut: MetricUnit.Count,
  /** Requests answered 429 (storage throttling, contended appends, quotas). */
  Throttled: MetricUnit.Count,
  /** How long a long-polling fetch was held. */
  FetchWaitMs: MetricUnit.Milliseconds,
  /** Index entries removed by retention, DeleteRecords or key compaction. */
  SegmentsRemoved: MetricUnit.Count,
  /** Unreferenced objects deleted by orphan collection. */
  OrphansDeleted: MetricUnit.Count,
  /** Appends that lost the compare-and-set on a partition's head and tried again. */
  AppendConflicts: MetricUnit.Count,
  /** Segments rewritten into larger ones by merging or key compaction. */
  SegmentsMerged: MetricUnit.Count,
  /** Stored bytes freed by retention, DeleteRecords, key compaction and orphan collection. */
  BytesReclaimed: MetricUnit.Bytes,
  /** Age of the least recently compacted partition that has work due (the scheduled pass). */
  OldestUncompactedSeconds: MetricUnit.Seconds,
  /** A group's largest lag over a topic's partitions, in records (the scheduled pass). */
  ConsumerLagRecords: MetricUnit.Count,
  /** Times a group's assignment changed (its group epoch rose). */
  Rebalances: MetricUnit.Count,
} as const;

export type MetricName = keyof typeof METRIC_UNITS;

/** The metrics that carry a Topic dimension besides the cluster-wide series. */
export const TOPIC_METRIC_NAMES: readonly MetricName[] = [
  'BytesIn',
  'RecordsIn',
  'BytesOut',
  'RecordsOut',
  'Throttled',
  'FetchWaitMs',
  'SegmentsRemoved',
  'OrphansDeleted',
  'AppendConflicts',
  'SegmentsMerged',
  'BytesReclaimed',
];
/** The metrics that carry a Group dimension (and Topic, for lag) besides the cluster-wide series. */
export const GROUP_METRIC_NAMES: readonly MetricName[] = ['ConsumerLagRecords', 'Rebalances'];
/**
 * Most (group, topic) lag series one scheduled pass publishes: the largest lags first. Group
 * ids are chosen by clients, so without a bound a client that invents groups would mint
 * custom metrics (about $0.30 each a month).
 */
export const MAX_GROUP_SERIES_PER_PASS = 200;

/** One datum to publish. */
export interface MetricDatum {
  readonly name: MetricName;
  readonly value: number;
  /** The topic it concerns; undefined publishes the cluster-wide series only. */
  readonly topic?: string;
  /** The consumer group it concerns (GROUP_METRIC_NAMES only). */
  readonly group?: string;
}

let metrics: Metrics | undefined;

function instance(): Metrics {
  // Created on first use so that tests and the local stack can set POWERTOOLS_METRICS_DISABLED first.
  metrics ??= new Metrics({ namespace: METRICS_NAMESPACE, serviceName: metricsService() });
  return metrics;
}

/** Publishes `data` now, one EMF line per dimension set. */
export function publishMetrics(data: readonly MetricDatum[]): void {
  if (data.length === 0) return;
  const m = instance();
  for (const datum of data) {
    m.addMetric(datum.name, METRIC_UNITS[datum.name], datum.value);
    // A group's datum also goes under Group alone, so a group's figure over all its topics
    // (e.g. its largest lag) is one series an alarm can watch.
    const sets: Array<Record<string, string>> = [];
    if (datum.group !== undefined) sets.push({ Group: datum.group });
    if (datum.topic !== undefined) sets.push({ ...(datum.group === undefined ? {} : { Group: datum.group }), Topic: datum.topic });
    for (const dimensions of sets) {
      const single = m.singleMetric();
      for (const [name, value] of Object.entries(dimensions)) single.addDimension(name, value);
      single.addMetric(datum.name, METRIC_UNITS[datum.name], datum.value);
    }
  }
  m.publishStoredMetrics();
}

/** A group's lag on one topic: the largest over its partitions. */
export interface GroupTopicLag {
  readonly group: string;
  readonly topic: string;
  readonly lagRecords: number;
}

/**
 * The ConsumerLagRecords data of one scheduled pass: the MAX_GROUP_SERIES_PER_PASS largest
 * lags (ties by group, then topic, so a pass is deterministic); the cluster-wide series
 * carries the largest lag of all, so an alarm on it sees any group.
 */
export function consumerLagData(lags: readonly GroupTopicLag[], limit = MAX_GROUP_SERIES_PER_PASS): MetricDatum[] {
  const ordered = [...lags].sort((a, b) => b.lagRecords - a.lagRecords || a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic));
  return ordered.slice(0, limit).map((l) => ({ name: 'ConsumerLagRecords', value: l.lagRecords, group: l.group, topic: l.topic }));
}

/**
 * Application metrics as CloudWatch Embedded Metric Format lines, through Powertools for
 * AWS Lambda: Lambda's log pipeline turns each line into metrics, so publishing costs no
 * API call. Every datum is published twice: under `service` alone (the cluster-wide
 * figure alarms use; see metricsService) and, where it concerns one topic, under `service` and `Topic`.
 *
 * Cardinality: one series per metric name per topic, so at most
 * TOPIC_METRIC_NAMES.length × topics custom metrics, plus one per name cluster-wide
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
} as const;

export type MetricName = keyof typeof METRIC_UNITS;

/** The metrics that carry a Topic dimension besides the cluster-wide series. */
export const TOPIC_METRIC_NAMES: readonly MetricName[] = ['BytesIn', 'RecordsIn', 'BytesOut', 'RecordsOut', 'Throttled', 'FetchWaitMs', 'SegmentsRemoved', 'OrphansDeleted'];

/** One datum to publish. */
export interface MetricDatum {
  readonly name: MetricName;
  readonly value: number;
  /** The topic it concerns; undefined publishes the cluster-wide series only. */
  readonly topic?: string;
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
    if (datum.topic !== undefined) {
      const single = m.singleMetric();
      single.addDimension('Topic', datum.topic);
      single.addMetric(datum.name, METRIC_UNITS[datum.name], datum.value);
    }
  }
  m.publishStoredMetrics();
}

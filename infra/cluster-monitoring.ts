/**
 * Alarms and a dashboard for one cluster: per function errors, throttles and p99 duration;
 * the API's 5xx answers; DynamoDB throttling. Thresholds are starting points, stated here.
 */
import { Aws, Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Dashboard, GraphWidget, MathExpression, Metric, TreatMissingData, type IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { METRICS_NAMESPACE, type MetricName } from '../lib/observability/metrics.ts';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Operation, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { capitalized } from './cluster-function.ts';
import type { ClusterFunctionName } from './cluster-props.ts';

export interface MonitoredFunction {
  readonly name: ClusterFunctionName;
  readonly fn: IFunction;
  /** The function's timeout; see durationAlarmThresholdMs. */
  readonly timeout: Duration;
}

/**
 * p99 duration in ms above which a function's duration alarm fires. Fetch long-polls for
 * up to 20 s by design and compact runs whole passes, so theirs sit at
 * DURATION_ALARM_FRACTION of the timeout; the others answer in tens of milliseconds, and a
 * p99 of seconds already means a slow dependency or a retry storm.
 */
export function durationAlarmThresholdMs(name: ClusterFunctionName, timeout: Duration): number {
  return name === 'fetch' || name === 'compact' ? Math.round(timeout.toMilliseconds() * DURATION_ALARM_FRACTION) : SHORT_FUNCTION_P99_ALARM_MS;
}

export interface ClusterMonitoringProps {
  readonly namePrefix: string;
  readonly functions: readonly MonitoredFunction[];
  readonly api: HttpApi;
  readonly table: ITable;
  readonly alarmTopic: ITopic | undefined;
  /** Requests the functions answered 429 (the application metric `Throttled`). */
  readonly throttled: IMetric;
  /** The `service` dimension of the application metrics (the name prefix). */
  readonly metricsService: string;
}

/**
 * OldestUncompactedSeconds at or above which compaction counts as behind: an hour, or three
 * compaction intervals when those are longer.
 */
export function compactionBehindThresholdSeconds(interval: Duration): number {
  return Math.max(3600, 3 * interval.toSeconds());
}

const PERIOD = Duration.minutes(5);
/**
 * p99 duration alarm threshold as a fraction of the timeout. Fetch long-polls for up to
 * 20 s by design, so the threshold must sit above 20 s with a 29 s timeout (85% = 24.65 s).
 * For compact (10 minutes, 8.5 min) it warns that full passes approach the timeout.
 */
export const DURATION_ALARM_FRACTION = 0.85;
/** p99 alarm threshold of admin, produce and groups: a commit or heartbeat takes tens of ms. */
export const SHORT_FUNCTION_P99_ALARM_MS = 5_000;
/**
 * 429 answers per 5 minutes, in each of 3 periods, before the throttling alarm fires: about
 * one a second, sustained. Single 429s are backpressure clients retry; a steady stream means
 * a hot partition or a table at its limits.
 */
export const THROTTLED_THRESHOLD = 300;
/** 5xx answers per 5 minutes before the API alarm fires; a single one is often a client race. */
export const API_5XX_THRESHOLD = 5;
/**
 * The operations Sluice calls; the alarm sums their ThrottledRequests. Listing them keeps
 * the math expression under CloudWatch's 10-metrics-per-alarm limit.
 */
const TABLE_OPERATIONS = [
  Operation.GET_ITEM,
  Operation.BATCH_GET_ITEM,
  Operation.QUERY,
  Operation.PUT_ITEM,
  Operation.UPDATE_ITEM,
  Operation.DELETE_ITEM,
  Operation.BATCH_WRITE_ITEM,
  Operation.TRANSACT_WRITE_ITEMS,
];

export class ClusterMonitoring extends Construct {
  readonly alarms: Alarm[] = [];
  readonly dashboard: Dashboard;
  private readonly props: ClusterMonitoringProps;

  constructor(scope: Construct, id: string, props: ClusterMonitoringProps) {
    super(scope, id);
    this.props = props;
    const alarm = this.alarm.bind(this);

    for (const { name, fn, timeout } of props.functions) {
      const label = capitalized(name);
      const durationThresholdMs = durationAlarmThresholdMs(name, timeout);
      // API handlers answer errors as HTTP responses, so their Lambda errors are crashes,
      // timeouts and out-of-memories; compact has no caller to answer and throws.
      const errors =
        name === 'compact'
          ? 'A compaction run failed (an AWS error, a crash, a timeout or out of memory); the next scheduled run redoes its work'
          : `The ${name} function failed outside its error handling (crash, timeout or out of memory)`;
      alarm(`${label}Errors`, fn.metricErrors({ period: PERIOD, statistic: 'Sum' }), 1, errors);
      alarm(`${label}Throttles`, fn.metricThrottles({ period: PERIOD, statistic: 'Sum' }), 1, `The ${name} function was throttled: reserved or account concurrency exhausted`);
      alarm(
        `${label}DurationP99`,
        fn.metricDuration({ period: PERIOD, statistic: 'p99' }),
        durationThresholdMs,
        `The ${name} function's p99 duration has been at or above ${durationThresholdMs} ms for 15 minutes`,
        3,
      );
    }
    const compact = props.functions.find((f) => f.name === 'compact');
    if (compact !== undefined) {
      // Lambda drops a queued asynchronous invocation past its maxEventAge or when its queue is throttled.
      const dropped = new Metric({ namespace: 'AWS/Lambda', metricName: 'AsyncEventsDropped', dimensionsMap: { FunctionName: compact.fn.functionName }, period: PERIOD, statistic: 'Sum' });
      alarm('CompactAsyncEventsDropped', dropped, 1, 'Queued one-partition compaction requests were dropped in each of 15 minutes: compaction is not keeping up with produce', 3);
    }
    alarm('Throttled', props.throttled, THROTTLED_THRESHOLD, `Requests were answered 429 at ${THROTTLED_THRESHOLD} per 5 minutes for 15 minutes: a hot partition or a table at its limits`, 3);
    alarm('Api5xx', props.api.metricServerError({ period: PERIOD, statistic: 'Sum' }), API_5XX_THRESHOLD, 'The API answered 5xx; see the functions\u2019 logs');
    const throttled = props.table.metricThrottledRequestsForOperations({ operations: TABLE_OPERATIONS, period: PERIOD });
    alarm('TableThrottles', throttled, 1, 'DynamoDB throttled requests to the table (hot partition or account limit)');

    const functions = props.functions.map((f) => f.fn);
    const perFunction = (title: string, metric: (fn: IFunction) => IMetric): GraphWidget => new GraphWidget({ title, width: 8, left: functions.map(metric) });
    this.dashboard = new Dashboard(this, 'Dashboard', {
      // Dashboards are global to the account: the region keeps two regions' clusters apart.
      dashboardName: `${props.namePrefix}-${Aws.REGION}`,
      widgets: [
        [
          new GraphWidget({ title: 'API requests', width: 8, left: [props.api.metricCount({ period: PERIOD })] }),
          new GraphWidget({
            title: 'API errors',
            width: 8,
            left: [props.api.metricClientError({ period: PERIOD }), props.api.metricServerError({ period: PERIOD })],
          }),
          new GraphWidget({ title: 'API latency p99 (ms)', width: 8, left: [props.api.metricLatency({ period: PERIOD, statistic: 'p99' })] }),
        ],
        [
          perFunction('Invocations', (fn) => fn.metricInvocations({ period: PERIOD })),
          perFunction('Errors', (fn) => fn.metricErrors({ period: PERIOD })),
          perFunction('Duration p99 (ms)', (fn) => fn.metricDuration({ period: PERIOD, statistic: 'p99' })),
        ],
        [
          new GraphWidget({ title: 'Function throttles', width: 8, left: functions.map((fn) => fn.metricThrottles({ period: PERIOD })) }),
          new GraphWidget({
            title: 'Table capacity consumed',
            width: 8,
            left: [props.table.metricConsumedReadCapacityUnits({ period: PERIOD }), props.table.metricConsumedWriteCapacityUnits({ period: PERIOD })],
          }),
          new GraphWidget({ title: 'Table throttled requests', width: 8, left: [throttled] }),
        ],
        [
          // Topics and groups are created at run time, so the widgets search for their series
          // rather than naming them: a new topic or group shows up without a deploy.
          new GraphWidget({ title: 'Bytes in per topic', width: 8, left: [this.search('BytesIn', ['Topic'], 'Sum')] }),
          new GraphWidget({ title: 'Bytes out per topic', width: 8, left: [this.search('BytesOut', ['Topic'], 'Sum')] }),
          new GraphWidget({ title: 'Consumer lag per group and topic (records)', width: 8, left: [this.search('ConsumerLagRecords', ['Group', 'Topic'], 'Maximum')] }),
        ],
        [
          new GraphWidget({ title: 'Records in per topic', width: 8, left: [this.search('RecordsIn', ['Topic'], 'Sum')] }),
          new GraphWidget({ title: 'Rebalances per group', width: 8, left: [this.search('Rebalances', ['Group'], 'Sum')] }),
          new GraphWidget({
            title: 'Compaction',
            width: 8,
            left: [this.search('OldestUncompactedSeconds', [], 'Maximum')],
            right: [this.search('SegmentsMerged', [], 'Sum'), this.search('SegmentsRemoved', [], 'Sum')],
          }),
        ],
      ],
    });
  }

  /**
   * Alarms when compaction falls behind or stops: OldestUncompactedSeconds at or above
   * compactionBehindThresholdSeconds, or no datum at all (every scheduled pass publishes
   * one, 0 when nothing is due), over two periods of twice the interval.
   */
  alarmOnCompaction(interval: Duration, oldestUncompacted: Metric): Alarm {
    const minutes = Math.min(1440, Math.max(5, 2 * interval.toMinutes()));
    const metric = oldestUncompacted.with({ period: Duration.minutes(minutes), statistic: 'Maximum' });
    const threshold = compactionBehindThresholdSeconds(interval);
    return this.alarm(
      'CompactionBehind',
      metric,
      threshold,
      `Compaction is behind (a partition has had work due for ${threshold} s or more) or has stopped (no scheduled pass reported)`,
      minutes * 2 <= 1440 ? 2 : 1,
      TreatMissingData.BREACHING,
    );
  }

  private alarm(alarmId: string, metric: IMetric, threshold: number, description: string, evaluationPeriods = 1, treatMissingData = TreatMissingData.NOT_BREACHING): Alarm {
    const created = new Alarm(this, alarmId, {
      alarmName: `${this.props.namePrefix}-${alarmId}`,
      alarmDescription: description,
      metric,
      threshold,
      evaluationPeriods,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData,
    });
    if (this.props.alarmTopic !== undefined) created.addAlarmAction(new SnsAction(this.props.alarmTopic));
    this.alarms.push(created);
    return created;
  }

  /** Every series of `name` with exactly `dimensions` besides `service`, one line each. */
  private search(name: MetricName, dimensions: readonly string[], statistic: 'Sum' | 'Maximum'): MathExpression {
    const schema = [METRICS_NAMESPACE, 'service', ...dimensions].join(',');
    return new MathExpression({
      expression: `SEARCH('{${schema}} MetricName="${name}" service="${this.props.metricsService}"', '${statistic}', ${PERIOD.toSeconds()})`,
      label: '',
      period: PERIOD,
    });
  }
}

/**
 * What every Sluice cluster offers another stack, whether this app created it
 * (SluiceCluster) or imported it by its API id (SluiceCluster.fromClusterAttributes): its
 * URL and the grant methods, computed from the one route table.
 */
import { Annotations, ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData, type MetricOptions } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { Construct, type IConstruct } from 'constructs';
import type { RouteSpec } from '../lib/http/routes.ts';
import { METRICS_NAMESPACE, type MetricName } from '../lib/observability/metrics.ts';
import type { AuthorizationMode, RouteFamily } from './authorization.ts';
import { grantPaths, type GrantOptions } from './route-access.ts';

/** A Sluice cluster, created here or imported. */
export interface ISluiceCluster extends IConstruct {
  /** The HTTP API's id. */
  readonly apiId: string;
  /** The API's base URL, ending in `/`. */
  readonly url: string;
  /** Lets `grantee` produce: the produce routes, the topic metadata a client partitions with, and health. */
  grantProduce(grantee: IGrantable, options?: GrantOptions): Grant;
  /** Lets `grantee` consume, alone or in a consumer group: fetch, metadata, and a group member's routes. */
  grantConsume(grantee: IGrantable, options?: GrantOptions): Grant;
  /** Lets `grantee` administer topics and reset consumer groups' offsets. */
  grantAdmin(grantee: IGrantable, options?: GrantOptions): Grant;
  /** One of the application metrics the cluster's functions publish (namespace `Sluice`), cluster-wide or for `topic`. */
  metric(name: MetricName, options?: SluiceMetricOptions): Metric;
  /** Bytes produced (request bodies of accepted produce requests). */
  metricBytesIn(options?: SluiceMetricOptions): Metric;
  /** Records appended. */
  metricRecordsIn(options?: SluiceMetricOptions): Metric;
  /** Bytes fetched (response bodies). */
  metricBytesOut(options?: SluiceMetricOptions): Metric;
  /** Records fetched. */
  metricRecordsOut(options?: SluiceMetricOptions): Metric;
  /** Requests answered 429. */
  metricThrottled(options?: SluiceMetricOptions): Metric;
  /** Appends that lost the race on a partition's head and tried again. */
  metricAppendConflicts(options?: SluiceMetricOptions): Metric;
  /** Segments rewritten by merging or key compaction. */
  metricSegmentsMerged(options?: SluiceMetricOptions): Metric;
  /** Stored bytes freed by retention, DeleteRecords, key compaction and orphan collection. */
  metricBytesReclaimed(options?: SluiceMetricOptions): Metric;
  /** Age of the least recently compacted partition with work due (Maximum). */
  metricOldestUncompactedSeconds(options?: MetricOptions): Metric;
  /** A group's largest lag in records over a topic's partitions, or over every topic (Maximum). */
  metricConsumerLag(group: string, options?: SluiceMetricOptions): Metric;
  /** Times a group's assignment changed, or every group's with no `group`. */
  metricRebalances(options?: SluiceMetricOptions & { readonly group?: string }): Metric;
  /** An alarm when `group` lags by `thresholdRecords` or more on `topic` (or on any topic, by the cluster-wide series' maximum when no topic). */
  alarmOnConsumerLag(group: string, props: ConsumerLagAlarmProps): Alarm;
}

/** When alarmOnConsumerLag fires, and whom it tells. */
export interface ConsumerLagAlarmProps {
  /** Lag, in records, at or above which the alarm fires. */
  readonly thresholdRecords: number;
  /**
   * Only the group's lag on this topic.
   * @default - the group's largest lag on any topic it consumes
   */
  readonly topic?: string;
  /**
   * Consecutive 5-minute periods at or above the threshold before it fires. The lag is
   * published once per scheduled compaction pass, so one period is one sample.
   * @default 3
   */
  readonly evaluationPeriods?: number;
  /**
   * Where the alarm notifies when it fires.
   * @default - nobody; add actions to the returned alarm
   */
  readonly alarmTopic?: ITopic;
}

/** A metric's period and statistic, and the topic it is limited to. */
export interface SluiceMetricOptions extends MetricOptions {
  /**
   * Only this topic's series (the `Topic` dimension).
   * @default - the cluster-wide series
   */
  readonly topic?: string;
}

/** The grant methods, for a created or an imported cluster. */
export abstract class SluiceClusterBase extends Construct implements ISluiceCluster {
  abstract readonly apiId: string;
  abstract readonly url: string;
  /** The stage the grants name in their ARNs. */
  protected abstract readonly stageName: string;
  protected abstract readonly routes: readonly RouteSpec[];
  protected abstract readonly authorizationMode: AuthorizationMode;
  /** The `service` dimension of the cluster's metrics: its name prefix. */
  protected abstract readonly metricsService: string | undefined;

  /** One of the application metrics the cluster's functions publish (namespace `Sluice`); Sum over 5 minutes unless `options` say. */
  metric(name: MetricName, options: SluiceMetricOptions & { readonly group?: string } = {}): Metric {
    if (this.metricsService === undefined) throw new Error(`metric${name} needs the cluster's namePrefix: pass it to SluiceCluster.fromClusterAttributes`);
    const { topic, group, ...rest } = options;
    return new Metric({
      namespace: METRICS_NAMESPACE,
      metricName: name,
      statistic: 'Sum',
      ...rest,
      dimensionsMap: {
        service: this.metricsService,
        ...(group === undefined ? {} : { Group: group }),
        ...(topic === undefined ? {} : { Topic: topic }),
        ...rest.dimensionsMap,
      },
    });
  }

  /** Appends that lost the race on a partition's head and tried again. */
  metricAppendConflicts(options: SluiceMetricOptions = {}): Metric {
    return this.metric('AppendConflicts', options);
  }

  /** Segments rewritten by merging or key compaction. */
  metricSegmentsMerged(options: SluiceMetricOptions = {}): Metric {
    return this.metric('SegmentsMerged', options);
  }

  /** Stored bytes freed by retention, DeleteRecords, key compaction and orphan collection. */
  metricBytesReclaimed(options: SluiceMetricOptions = {}): Metric {
    return this.metric('BytesReclaimed', options);
  }

  /** Age of the least recently compacted partition with work due; Maximum over 5 minutes. */
  metricOldestUncompactedSeconds(options: MetricOptions = {}): Metric {
    return this.metric('OldestUncompactedSeconds', { statistic: 'Maximum', ...options });
  }

  /**
   * A group's largest lag in records (Maximum): on `options.topic`, or, without it, over
   * every topic the group consumes. The scheduled pass publishes both series.
   */
  metricConsumerLag(group: string, options: SluiceMetricOptions = {}): Metric {
    return this.metric('ConsumerLagRecords', { statistic: 'Maximum', ...options, group });
  }

  /** Times a group's assignment changed (its group epoch rose); every group's without `group`. */
  metricRebalances(options: SluiceMetricOptions & { readonly group?: string } = {}): Metric {
    return this.metric('Rebalances', options);
  }

  /** An alarm when `group` lags by `thresholdRecords` or more; see ConsumerLagAlarmProps. */
  alarmOnConsumerLag(group: string, props: ConsumerLagAlarmProps): Alarm {
    if (!Number.isSafeInteger(props.thresholdRecords) || props.thresholdRecords < 1) throw new Error(`alarmOnConsumerLag: thresholdRecords must be a positive integer, got ${props.thresholdRecords}`);
    const id = `ConsumerLag-${group}${props.topic === undefined ? '' : `-${props.topic}`}`.replaceAll('/', '_');
    const alarm = new Alarm(this, id, {
      alarmDescription: `Consumer group ${group} lags by ${props.thresholdRecords} records or more${props.topic === undefined ? '' : ` on ${props.topic}`}`,
      metric: this.metricConsumerLag(group, { topic: props.topic, period: Duration.minutes(5) }),
      threshold: props.thresholdRecords,
      evaluationPeriods: props.evaluationPeriods ?? 3,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // No datum means no committed offsets to lag behind, or compaction not running, which has its own alarm.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic !== undefined) alarm.addAlarmAction(new SnsAction(props.alarmTopic));
    return alarm;
  }

  /** Bytes produced (request bodies of accepted produce requests). */
  metricBytesIn(options: SluiceMetricOptions = {}): Metric {
    return this.metric('BytesIn', options);
  }

  /** Records appended. */
  metricRecordsIn(options: SluiceMetricOptions = {}): Metric {
    return this.metric('RecordsIn', options);
  }

  /** Bytes fetched (response bodies). */
  metricBytesOut(options: SluiceMetricOptions = {}): Metric {
    return this.metric('BytesOut', options);
  }

  /** Records fetched. */
  metricRecordsOut(options: SluiceMetricOptions = {}): Metric {
    return this.metric('RecordsOut', options);
  }

  /** Requests answered 429 (storage throttling, contended appends). */
  metricThrottled(options: SluiceMetricOptions = {}): Metric {
    return this.metric('Throttled', options);
  }

  /**
   * Lets `grantee` produce: the produce function's routes (records, producer ids), the
   * topic metadata a client partitions with, and the health check; with `topics`, for those
   * topics only. Grants are `execute-api:Invoke` permissions: they matter with IAM
   * authorization only, and synth warns otherwise.
   */
  grantProduce(grantee: IGrantable, options: GrantOptions = {}): Grant {
    return this.grantFamily(grantee, 'produce', options);
  }

  /**
   * Lets `grantee` consume as a member of a consumer group: the fetch function's routes, the
   * metadata a consumer reads (list and describe topics, health), and the group routes a
   * Kafka consumer needs: heartbeat (join, leave, assignment), commit and fetch offsets,
   * list and describe groups. Not resetting a group's offsets, an administrator's operation
   * (grantAdmin): no consumer route's ARN pattern matches a path ending in `/offsets/reset`.
   */
  grantConsume(grantee: IGrantable, options: GrantOptions = {}): Grant {
    return this.grantFamily(grantee, 'consume', options);
  }

  /**
   * Lets `grantee` administer the cluster: every admin route (create, list, describe,
   * alter, delete topics, delete records, health), and resetting a consumer group's
   * offsets, with the group reads that go with it. Not heartbeats or commits, which are a
   * group member's. Unscoped, `GET /v1/topics/{topic}` becomes `GET /v1/topics/*`, which
   * IAM also matches against fetch's paths; with `topics` the paths are exact.
   */
  grantAdmin(grantee: IGrantable, options: GrantOptions = {}): Grant {
    return this.grantFamily(grantee, 'admin', options);
  }

  private grantFamily(grantee: IGrantable, family: RouteFamily, options: GrantOptions): Grant {
    if (this.authorizationMode !== 'iam') {
      const method = `grant${family.charAt(0).toUpperCase()}${family.slice(1)}`;
      const instead = this.authorizationMode === 'jwt' ? `give callers a token with the sluice/${family} scope instead` : 'the API is open to anyone who reaches it';
      Annotations.of(this).addWarningV2(`sluice:grant-without-iam:${family}`, `${method} has no effect: the API uses ${this.authorizationMode} authorization, not IAM; ${instead}`);
    }
    const stack = Stack.of(this);
    const resourceArns = grantPaths(this.routes, family, options).map(({ method, path }) =>
      stack.formatArn({ service: 'execute-api', resource: this.apiId, arnFormat: ArnFormat.SLASH_RESOURCE_NAME, resourceName: `${this.stageName}/${method}${path}` }),
    );
    return Grant.addToPrincipal({ grantee, actions: ['execute-api:Invoke'], resourceArns });
  }
}

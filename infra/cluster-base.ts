/**
 * What every Sluice cluster offers another stack, whether this app created it
 * (SluiceCluster) or imported it by its API id (SluiceCluster.fromClusterAttributes): its
 * URL and the grant methods, computed from the one route table.
 */
import { Annotations, ArnFormat, Stack } from 'aws-cdk-lib';
import { Metric, type MetricOptions } from 'aws-cdk-lib/aws-cloudwatch';
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
  metric(name: MetricName, options: SluiceMetricOptions = {}): Metric {
    if (this.metricsService === undefined) throw new Error(`metric${name} needs the cluster's namePrefix: pass it to SluiceCluster.fromClusterAttributes`);
    const { topic, ...rest } = options;
    return new Metric({
      namespace: METRICS_NAMESPACE,
      metricName: name,
      statistic: 'Sum',
      ...rest,
      dimensionsMap: { service: this.metricsService, ...(topic === undefined ? {} : { Topic: topic }), ...rest.dimensionsMap },
    });
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

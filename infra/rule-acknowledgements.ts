/**
 * The cdk-nag findings (AwsSolutions and Serverless packs) that a cluster accepts, each
 * with its reason. Recorded through CDK's own `Validations` API, so a cdk-nag run over an
 * app embedding the cluster sees them, and the cluster needs no cdk-nag at runtime.
 * test/infra/nag.test.ts runs both packs in every authorization mode and fails on any
 * finding left unacknowledged.
 */
import { Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { AuthorizationMode } from './authorization.ts';

export interface AcknowledgedScopes {
  readonly bucket: IConstruct;
  /** Every function of the cluster, compact included, with its role. */
  readonly functions: ReadonlyArray<{ readonly fn: IConstruct; readonly role: IConstruct | undefined }>;
  readonly compactFunction: IConstruct | undefined;
  readonly api: IConstruct;
  readonly authorization: AuthorizationMode;
  readonly tracing: boolean;
  readonly serverAccessLogs: boolean;
}

/** The logical id of a construct's CloudFormation resource, as cdk-nag names it in a finding. */
function logicalId(construct: IConstruct): string {
  return Stack.of(construct).getLogicalId(construct.node.defaultChild as CfnElement);
}

/** Records the accepted findings on the constructs they concern. */
export function acknowledgeRules(scopes: AcknowledgedScopes): void {
  if (!scopes.serverAccessLogs) {
    Validations.of(scopes.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Server access logs are an opt-in (serverAccessLogsBucket): every object access is already a Lambda invocation with its own logs, and the logs would cost a PUT per request',
    });
  }
  for (const { fn, role } of scopes.functions) {
    if (role !== undefined) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${logicalId(scopes.bucket)}.Arn>/data/*]`,
        reason: 'Segment objects are created per write under data/, so their keys cannot be named in advance; function-access.test.ts checks that every action is one the bundled code calls',
      });
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${logicalId(scopes.bucket)}.Arn>/blobs/*]`,
        reason: 'Claim-check blobs are created per upload under blobs/, so their keys cannot be named in advance; function-access.test.ts checks that every action is one the bundled code calls',
      });
      if (scopes.compactFunction !== undefined) {
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::<${logicalId(scopes.compactFunction)}.Arn>:*]`,
          reason: 'lambda:InvokeFunction on the compact function and its versions (:*), as Function.grantInvoke writes it; no other function',
        });
      }
    }
    Validations.of(fn).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason: 'API functions are invoked synchronously and answer errors to their caller; compact is idempotent and its scheduled passes redo whatever a failed run left, so a DLQ would hold nothing worth replaying',
    });
    if (!scopes.tracing) {
      Validations.of(fn).acknowledge({ id: 'Serverless-LambdaTracing', reason: 'X-Ray tracing is an opt-in (tracing: true): it costs per trace on every request' });
    } else if (role !== undefined) {
      Validations.of(role).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: 'xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level permissions' });
    }
  }
  if (scopes.compactFunction !== undefined) {
    Validations.of(scopes.compactFunction).acknowledge({
      id: 'Serverless-LambdaAsyncFailureDestination',
      reason: 'A failed or expired one-partition compaction request needs no record: the next scheduled pass visits every partition with work due, and AsyncEventsDropped alarms',
    });
  }
  if (scopes.authorization === 'none') {
    Validations.of(scopes.api).acknowledge({ id: 'AwsSolutions-APIG4', reason: 'The deployer chose SluiceAuthorization.none({ acknowledgeUnauthenticated: true }), and synth warns' });
  }
}

/** Records the accepted findings on a compaction schedule. */
export function acknowledgeScheduleRules(schedule: IConstruct): void {
  Validations.of(schedule).acknowledge({ id: 'Serverless-EventBusDLQ', reason: 'A missed scheduled compaction run is harmless: the next run, one interval later, does the same work' });
}

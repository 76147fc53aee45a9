/**
 * cdk-nag's AwsSolutions and Serverless packs over the stand-alone stack, in every
 * authorization mode and with the opt-ins: no finding may be left unacknowledged, and each
 * acknowledgement carries its reason in infra/rule-acknowledgements.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { SluiceAuthorization } from '../../infra/authorization.ts';
import type { SluiceClusterProps } from '../../infra/cluster-props.ts';
import { SluiceCluster } from '../../infra/sluice-cluster.ts';
import { PROJECT_ROOT } from '../../infra/function-bundling.ts';

/** The feature flags in cdk.json, so the check sees what `cdk synth` builds. */
const CDK_JSON_CONTEXT = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> }).context ?? {};

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

/** The rule ids cdk-nag reports for a stack built by `build`, without bundling (nag reads the template). */
function findings(build: (stack: Stack) => void): string[] {
  const outdir = mkdtempSync(join(tmpdir(), 'sluice-nag-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  build(new Stack(app, 'Nag'));
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  let failed = false;
  try {
    app.synth();
  } catch {
    failed = true;
  }
  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as unknown;
  const rules: string[] = [];
  const walk = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    if (typeof record.ruleName === 'string') rules.push(record.ruleName);
    for (const value of Object.values(record)) walk(value);
  };
  walk(report);
  // A failed synth always names its findings: never pass on a report that could not be read.
  if (failed) expect(rules).not.toEqual([]);
  return rules;
}

describe('cdk-nag (AwsSolutions, Serverless)', () => {
  it.each<[string, SluiceClusterProps]>([
    ['IAM', {}],
    ['JWT', { authorization: SluiceAuthorization.jwt({ issuer: 'https://issuer.example.com', audience: ['sluice'] }) }],
    ['IAM without compaction', { compaction: false }],
  ])('leaves no finding unacknowledged with %s authorization', (_mode, props) => {
    expect(findings((stack) => new SluiceCluster(stack, 'Cluster', props))).toEqual([]);
  });

  it('leaves only its own warning about the open API with SluiceAuthorization.none', () => {
    expect(findings((stack) => new SluiceCluster(stack, 'Cluster', { authorization: SluiceAuthorization.none({ acknowledgeUnauthenticated: true }) }))).toEqual([
      'Annotation::sluice:unauthenticated-api',
    ]);
  });

  it('leaves none with the opt-ins: tracing, a KMS key and server access logs', () => {
    const rules = findings((stack) => {
      const logs = new Bucket(stack, 'AccessLogs', { enforceSSL: true });
      Validations.of(logs).acknowledge({ id: 'AwsSolutions-S1', reason: 'the access-log bucket itself (test fixture)' });
      new SluiceCluster(stack, 'Cluster', { tracing: true, encryptionKey: new Key(stack, 'Key', { enableKeyRotation: true }), serverAccessLogsBucket: logs });
    });
    expect(rules).toEqual([]);
  });

  it('reports what is not acknowledged: an unacknowledged bucket without access logs is a finding', () => {
    // The check itself must be able to fail.
    expect(findings((stack) => new Bucket(stack, 'Plain', { enforceSSL: true }))).toContain('AwsSolutions-S1');
  });
});

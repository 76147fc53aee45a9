/**
 * Builds a SluiceStack for template assertions. Bundling is skipped by default (the
 * `aws:cdk:bundling-stacks` context set to none), as is the built-in CloudFormation
 * validation: together they take seconds per stack. bundle.test.ts does one real synth
 * with both, and `npx cdk synth` does the same from the command line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import type { CfnResource } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { SluiceClusterProps } from '../../infra/sluice-cluster.ts';
import { PROJECT_ROOT } from '../../infra/function-bundling.ts';
import { SluiceStack } from '../../infra/sluice-stack.ts';

export interface SynthOptions {
  /** Run esbuild and the CloudFormation validation, writing the assembly to `outdir`. */
  readonly bundle?: boolean;
  readonly outdir?: string;
}

export interface Synthesized {
  readonly app: App;
  readonly stack: SluiceStack;
  readonly template: Template;
}

/** The feature flags in cdk.json, so tests build what `cdk synth` builds. */
const CDK_JSON_CONTEXT = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> }).context ?? {};

function testApp(options: SynthOptions): App {
  return new App({
    context: { ...CDK_JSON_CONTEXT, ...(options.bundle === true ? {} : { 'aws:cdk:bundling-stacks': [] }) },
    builtinCloudFormationValidation: options.bundle === true,
    ...(options.outdir === undefined ? {} : { outdir: options.outdir }),
  });
}

/** A SluiceStack holding a cluster with `cluster` props; `extend` may add resources before synthesis. */
export function synthStack(cluster: SluiceClusterProps = {}, options: SynthOptions = {}, extend?: (stack: SluiceStack) => void): Synthesized {
  const app = testApp(options);
  const stack = new SluiceStack(app, 'Test', { cluster });
  extend?.(stack);
  return { app, stack, template: Template.fromStack(stack) };
}

/** A plain stack built by `build`, for clusters whose props need resources made first. */
export function synthCustom(build: (stack: Stack) => void): { stack: Stack; template: Template } {
  const stack = new Stack(testApp({}), 'Custom');
  build(stack);
  return { stack, template: Template.fromStack(stack) };
}

/** The logical id of a construct's CloudFormation resource. */
export function logicalId(stack: Stack, construct: IConstruct): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnResource);
}

/**
 * A CloudFormation value as one readable string: `Fn::Join` concatenated, `Ref` as
 * `${Name}`, `Fn::GetAtt` as `${Name.Attr}`, `Fn::Sub` as written.
 */
export function flatten(value: unknown): string {
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  if (Array.isArray(value)) return value.map(flatten).join(',');
  const v = value as Record<string, unknown>;
  if ('Fn::Join' in v) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(flatten).join(sep);
  }
  if ('Ref' in v) return `\${${String(v.Ref)}}`;
  if ('Fn::GetAtt' in v) return `\${${(v['Fn::GetAtt'] as string[]).join('.')}}`;
  if ('Fn::Sub' in v) return String(v['Fn::Sub']);
  return JSON.stringify(value);
}

type Resources = Record<string, { Type: string; Properties?: Record<string, any>; DeletionPolicy?: string; DependsOn?: unknown }>;

/** Every resource of `type`, by logical id. */
export function resourcesOf(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}

/** The warnings synth reports on `stack`, as text. */
export function warnings(stack: Stack): string[] {
  return Annotations.fromStack(stack)
    .findWarning('*', Match.anyValue())
    .map((w) => String(w.entry.data));
}

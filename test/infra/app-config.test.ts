import { RemovalPolicy } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { clusterPropsFrom, settingsLookup } from '../../infra/app-config.ts';
import { SluiceAuthorization } from '../../infra/authorization.ts';

const context = (values: Record<string, unknown>) => (key: string) => values[key];

describe('the app settings', () => {
  it('leave every prop to the construct when nothing is set', () => {
    expect(clusterPropsFrom(settingsLookup(context({}), {}))).toEqual({});
  });

  it('read context before the environment, and ignore blank values', () => {
    const props = clusterPropsFrom(
      settingsLookup(context({ 'sluice:authorization': 'none', 'sluice:acknowledgeUnauthenticated': 'true', 'sluice:namePrefix': ' ' }), {
        SLUICE_AUTHORIZATION: 'jwt',
        SLUICE_NAME_PREFIX: 'from-env',
        SLUICE_REMOVAL_POLICY: 'destroy',
      }),
    );
    expect(props).toEqual({ authorization: SluiceAuthorization.none({ acknowledgeUnauthenticated: true }), namePrefix: 'from-env', removalPolicy: RemovalPolicy.DESTROY });
  });

  it('split a comma-separated JWT audience', () => {
    const props = clusterPropsFrom(settingsLookup(context({ 'sluice:authorization': 'jwt', 'sluice:jwtIssuer': 'https://id.example', 'sluice:jwtAudience': 'a, b' }), {}));
    expect(props).toEqual({ authorization: SluiceAuthorization.jwt({ issuer: 'https://id.example', audience: ['a', 'b'] }) });
  });

  it('fails if authorization none comes without the acknowledgement, since it deploys a public admin API', () => {
    expect(() => clusterPropsFrom(settingsLookup(context({}), { SLUICE_AUTHORIZATION: 'none' }))).toThrow(/sluice:acknowledgeUnauthenticated=true/);
  });

  it('fails if a JWT issuer is set without jwt authorization, or the mode is unknown', () => {
    expect(() => clusterPropsFrom(settingsLookup(context({ 'sluice:jwtIssuer': 'https://id.example' }), {}))).toThrow(/need sluice:authorization=jwt, got "iam"/);
    expect(() => clusterPropsFrom(settingsLookup(context({ 'sluice:authorization': 'basic' }), {}))).toThrow(/expected 'iam', 'jwt' or 'none', got "basic"/);
  });

  it('fails if the removed maxRetentionDays setting is given, rather than ignoring it', () => {
    expect(() => clusterPropsFrom(settingsLookup(context({}), { SLUICE_MAX_RETENTION_DAYS: '14' }))).toThrow(/SLUICE_MAX_RETENTION_DAYS was removed \(got "14"\)/);
    expect(() => clusterPropsFrom(settingsLookup(context({ 'sluice:maxRetentionDays': 30 }), {}))).toThrow(/sluice:maxRetentionDays/);
  });

  it('fails if the removal policy is neither retain nor destroy', () => {
    expect(() => clusterPropsFrom(settingsLookup(context({ 'sluice:removalPolicy': 'snapshot' }), {}))).toThrow(/expected 'retain' or 'destroy', got "snapshot"/);
  });
});

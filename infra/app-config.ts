/**
 * The stand-alone app's settings: CDK context (`cdk deploy -c sluice:authorization=none`)
 * first, then environment variables (`SLUICE_AUTHORIZATION=none cdk deploy`), then the
 * construct's defaults. Only what differs between deployments is exposed here; anything
 * else, embed SluiceCluster in your own app.
 *
 *   context key               env variable                value
 *   sluice:authorization      SLUICE_AUTHORIZATION        iam | jwt | none
 *   sluice:acknowledgeUnauthenticated  SLUICE_ACKNOWLEDGE_UNAUTHENTICATED  true, required with none
 *   sluice:jwtIssuer          SLUICE_JWT_ISSUER           https URL
 *   sluice:jwtAudience        SLUICE_JWT_AUDIENCE         comma-separated audiences
 *   sluice:removalPolicy      SLUICE_REMOVAL_POLICY       retain | destroy
 *   sluice:namePrefix         SLUICE_NAME_PREFIX          name
 *
 * `sluice:maxRetentionDays` (SLUICE_MAX_RETENTION_DAYS) is gone: lifecycle expiry now
 * follows each topic's retention.ms through object tags. Setting it fails rather than
 * being ignored, so nobody believes it still bounds storage.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { SluiceAuthorization } from './authorization.ts';
import type { SluiceClusterProps } from './cluster-props.ts';

type Lookup = (contextKey: string, envName: string) => string | undefined;

/** A lookup reading `context` first, then `env`; blank values count as unset. */
export function settingsLookup(context: (key: string) => unknown, env: NodeJS.ProcessEnv = process.env): Lookup {
  const text = (value: unknown): string | undefined => {
    const trimmed = value === undefined || value === null ? '' : String(value).trim();
    return trimmed === '' ? undefined : trimmed;
  };
  return (contextKey, envName) => text(context(contextKey)) ?? text(env[envName]);
}

/** The authorization the settings ask for; undefined leaves the construct's default (IAM). */
function authorizationFrom(lookup: Lookup): SluiceAuthorization | undefined {
  const mode = lookup('sluice:authorization', 'SLUICE_AUTHORIZATION');
  const issuer = lookup('sluice:jwtIssuer', 'SLUICE_JWT_ISSUER');
  const audience = lookup('sluice:jwtAudience', 'SLUICE_JWT_AUDIENCE');
  if (mode !== 'jwt' && (issuer !== undefined || audience !== undefined)) {
    throw new Error(`sluice:jwtIssuer / sluice:jwtAudience need sluice:authorization=jwt, got ${JSON.stringify(mode ?? 'iam')}`);
  }
  switch (mode) {
    case undefined:
      return undefined;
    case 'iam':
      return SluiceAuthorization.iam();
    case 'jwt':
      return SluiceAuthorization.jwt({ issuer: issuer ?? '', audience: audience === undefined ? [] : audience.split(',').map((a) => a.trim()) });
    case 'none': {
      const acknowledged = lookup('sluice:acknowledgeUnauthenticated', 'SLUICE_ACKNOWLEDGE_UNAUTHENTICATED') === 'true';
      if (!acknowledged) {
        throw new Error('sluice:authorization=none deploys an API anyone can call, topic deletion included; add -c sluice:acknowledgeUnauthenticated=true (or SLUICE_ACKNOWLEDGE_UNAUTHENTICATED=true) to confirm');
      }
      return SluiceAuthorization.none({ acknowledgeUnauthenticated: true });
    }
    default:
      throw new Error(`Invalid sluice:authorization / SLUICE_AUTHORIZATION: expected 'iam', 'jwt' or 'none', got ${JSON.stringify(mode)}`);
  }
}

/** The cluster props the settings ask for; validation is left to SluiceCluster, which quotes bad values. */
export function clusterPropsFrom(lookup: Lookup): SluiceClusterProps {
  const removal = lookup('sluice:removalPolicy', 'SLUICE_REMOVAL_POLICY');
  let removalPolicy: RemovalPolicy | undefined;
  if (removal !== undefined) {
    if (removal !== 'retain' && removal !== 'destroy') throw new Error(`Invalid sluice:removalPolicy / SLUICE_REMOVAL_POLICY: expected 'retain' or 'destroy', got ${JSON.stringify(removal)}`);
    removalPolicy = removal === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
  }
  const removedDays = lookup('sluice:maxRetentionDays', 'SLUICE_MAX_RETENTION_DAYS');
  if (removedDays !== undefined) {
    throw new Error(`sluice:maxRetentionDays / SLUICE_MAX_RETENTION_DAYS was removed (got ${JSON.stringify(removedDays)}): S3 lifecycle now follows each topic's retention.ms, see docs/DEPLOY.md`);
  }
  const props: Record<string, unknown> = {
    authorization: authorizationFrom(lookup),
    removalPolicy,
    namePrefix: lookup('sluice:namePrefix', 'SLUICE_NAME_PREFIX'),
  };
  for (const key of Object.keys(props)) if (props[key] === undefined) delete props[key];
  return props as SluiceClusterProps;
}

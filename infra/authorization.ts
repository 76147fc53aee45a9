/**
 * How callers of a cluster's HTTP API prove who they are, as an enum-like class (the CDK
 * idiom of `Runtime` or `Schedule`): each mode carries exactly the settings it needs, so a
 * JWT issuer cannot be set on an IAM cluster and an open API cannot be chosen by accident.
 */

/** The JWT scopes of the three route families; a route admits a token holding any scope of the grants that include it. */
export const JWT_SCOPES = {
  produce: 'sluice/produce',
  consume: 'sluice/consume',
  admin: 'sluice/admin',
} as const;

export type RouteFamily = keyof typeof JWT_SCOPES;

export interface JwtAuthorizationProps {
  /** Token issuer URL (https), e.g. a Cognito user pool's `https://cognito-idp.<region>.amazonaws.com/<poolId>`. */
  readonly issuer: string;
  /** Accepted `aud` (or Cognito `client_id`) values; at least one. */
  readonly audience: readonly string[];
}

export interface NoAuthorizationProps {
  /**
   * Must be true: anyone who can reach the URL may then produce, consume, delete topics and
   * reset offsets. Only for tests, LocalStack, or an API reachable from a private network alone.
   */
  readonly acknowledgeUnauthenticated: boolean;
}

export type AuthorizationMode = 'iam' | 'jwt' | 'none';

export class SluiceAuthorization {
  /** SigV4-signed requests, allowed per principal by the cluster's `grant*` methods. The default. */
  static iam(): SluiceAuthorization {
    return new SluiceAuthorization('iam', undefined);
  }

  /**
   * Bearer tokens from `issuer` for `audience`. Each route requires one of the scopes in
   * JWT_SCOPES of the families that may call it: `sluice/produce`, `sluice/consume`, `sluice/admin`.
   */
  static jwt(props: JwtAuthorizationProps): SluiceAuthorization {
    if (!/^https:\/\/\S+$/.test(props.issuer)) throw new Error(`Invalid SluiceAuthorization.jwt issuer: expected an https:// URL, got ${JSON.stringify(props.issuer)}`);
    if (props.audience.length === 0 || props.audience.some((a) => a.trim() === '')) {
      throw new Error(`Invalid SluiceAuthorization.jwt audience: expected one or more non-empty values, got ${JSON.stringify(props.audience)}`);
    }
    return new SluiceAuthorization('jwt', { issuer: props.issuer, audience: [...props.audience] });
  }

  /** No authorization at all; requires `acknowledgeUnauthenticated: true`, and synth warns. */
  static none(props: NoAuthorizationProps): SluiceAuthorization {
    if (props.acknowledgeUnauthenticated !== true) {
      throw new Error('SluiceAuthorization.none requires { acknowledgeUnauthenticated: true }: anyone who reaches the URL could delete topics and reset offsets');
    }
    return new SluiceAuthorization('none', undefined);
  }

  private constructor(
    readonly mode: AuthorizationMode,
    /** The issuer and audience, in `jwt` mode only. */
    readonly jwt: JwtAuthorizationProps | undefined,
  ) {}
}

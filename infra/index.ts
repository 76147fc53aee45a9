/** Sluice's infrastructure as a library: embed SluiceCluster in your own CDK app. */
export {
  SluiceCluster,
  SluiceAuthorization,
  JWT_SCOPES,
  DEFAULT_COMPACTION_INTERVAL,
  type ISluiceCluster,
  type SluiceClusterAttributes,
  type SluiceClusterProps,
  type GrantOptions,
  type RouteThrottle,
} from './sluice-cluster.ts';
export { SluiceStack, type SluiceStackProps } from './sluice-stack.ts';
export { FUNCTION_ACCESS, grantFunctionAccess, type FunctionAccess } from './function-access.ts';

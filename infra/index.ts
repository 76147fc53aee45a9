/** Sluice's infrastructure as a library: embed SluiceCluster in your own CDK app. */
export { SluiceCluster, DEFAULT_COMPACTION_INTERVAL, type SluiceAuthorization, type SluiceClusterProps } from './sluice-cluster.ts';
export { SluiceStack, type SluiceStackProps } from './sluice-stack.ts';
export { FUNCTION_ACCESS, grantFunctionAccess, type FunctionAccess } from './function-access.ts';

/**
 * The stand-alone stack: one SluiceCluster and the outputs a client needs to reach it.
 * Environment-agnostic (no account or region baked in, no lookups), so `cdk synth` works
 * offline and one template deploys anywhere.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { SluiceCluster, type SluiceClusterProps } from './sluice-cluster.ts';

export interface SluiceStackProps extends StackProps {
  /**
   * Props of the cluster the stack holds.
   * @default - SluiceCluster's defaults: IAM authorization, resources retained on delete
   */
  readonly cluster?: SluiceClusterProps;
}

export class SluiceStack extends Stack {
  readonly cluster: SluiceCluster;

  constructor(scope: Construct, id: string, props: SluiceStackProps = {}) {
    super(scope, id, { description: 'Sluice: a serverless, Kafka-style event log', ...props });
    this.cluster = new SluiceCluster(this, 'Cluster', props.cluster);
    new CfnOutput(this, 'ApiUrl', { value: this.cluster.url, description: 'Base URL of the Sluice API (SLUICE_URL)' });
    new CfnOutput(this, 'BucketName', { value: this.cluster.bucket.bucketName, description: 'S3 bucket of segment objects' });
    new CfnOutput(this, 'TableName', { value: this.cluster.table.tableName, description: 'DynamoDB table of topics and the index' });
  }
}

/**
 * What each function may do to the bucket and the table: exactly the calls its code makes,
 * on the narrowest resources IAM can name. A new call in lib/ needs a line here, or it
 * fails with AccessDenied on AWS (the emulators do not check IAM).
 */
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { FunctionName } from '../lib/http/routes.ts';
import { DATA_PREFIX } from '../lib/storage/schema.ts';
import { BLOB_OBJECT_PREFIX } from '../lib/blobs/schema.ts';
import type { ClusterFunctionName } from './cluster-props.ts';

export interface FunctionAccess {
  /** Actions on the table (no indexes exist, so the table ARN alone). */
  readonly table: readonly string[];
  /** Actions on the bucket itself (ListBucket; HeadBucket is authorized as ListBucket). */
  readonly bucket: readonly string[];
  /**
   * When set, the bucket actions hold only for listings under this prefix (IAM condition
   * key `s3:prefix`). A request without a prefix, HeadBucket included, is then denied.
   * @default - the bucket actions hold for any request
   */
  readonly listPrefix?: string;
  /** Actions on objects under `data/`. */
  readonly objects: readonly string[];
  /** Actions on claim-check blobs, the objects under `blobs/` (lib/blobs). @default - none */
  readonly blobObjects?: readonly string[];
}

/**
 * The calls behind each action, so the list can be checked against the code:
 *
 *   admin    GetItem (getTopic), Query (listTopics, purge), BatchGetItem (readHeads),
 *            PutItem (createTopic), UpdateItem (alterTopic), DeleteItem (deleteTopic),
 *            BatchWriteItem (purge), DescribeTable (health); s3:ListBucket (HeadBucket in
 *            health, ListObjectsV2 in purge), s3:DeleteObject (DeleteObjects in purge)
 *   produce  GetItem (getTopic, head read), BatchGetItem (producer states judged before a
 *            wide request writes); TransactWriteItems has no IAM action of its own: IAM
 *            checks each item, here an Update of the head, Puts of the index entry and the
 *            producer state, and ConditionChecks of the topic item and the producer-id
 *            counter (ConditionCheckItem); s3:PutObject (the segment) and
 *            s3:PutObjectTagging, which S3 also requires of a PutObject that sets `Tagging`
 *            (the lifecycle expiry tag); s3:DeleteObject (DeleteObjects of a refused
 *            request's objects); UpdateItem (produce-rate counters), Query and BatchGetItem
 *            (a topic's group offsets and heads, for lag-driven backpressure); group
 *            commit's waiting drafts: BatchWriteItem (leave them, remove them), Query (look
 *            for them), DeleteItem (withdraw one); the transaction's Update of an adopted
 *            draft needs UpdateItem
 *   fetch    GetItem (getTopic, head), Query (index), BatchGetItem (a long poll's head and
 *            topic, once a second); s3:GetObject (byte ranges), and
 *            s3:ListBucket because without it S3 answers a missing key with 403 instead of
 *            404 NoSuchKey, and fetch tells an object removed by retention by that 404
 *   groups   Query (a group's members and META, its committed offsets, the group registry,
 *            the index for offsets by timestamp), GetItem (getTopic, head, a rejected commit's
 *            member), BatchGetItem (readHeads, for lag), UpdateItem (a steady heartbeat);
 *            its transactions hold Put (META, member, registry, offsets), Delete (expired
 *            members) and ConditionCheck (the committing member's epoch and assignment, an
 *            empty group's version) items, the last authorized as ConditionCheckItem;
 *            UpdateItem (a deletion's hold on META, an offset's re-stamped TTL),
 *            BatchWriteItem (DeleteGroups removing members and offsets), PutItem (the
 *            retention marker);
 *            s3:GetObject (byte ranges, when a reset to a timestamp looks the offset up),
 *            and s3:ListBucket for the same reason as fetch: lookupOffset skips an object
 *            retention removed by its 404, which without ListBucket would be a 403 that
 *            fails the reset
 *   compact  Query (index, pending deletes, listTopics, committed offsets for lag),
 *            GetItem (getTopic, head), BatchGetItem (readHeads), BatchWriteItem (releasing
 *            cut index entries), PutItem (lease), UpdateItem (head stamp and cut, re-tagged
 *            entry), DeleteItem (lease release, done pending delete); the Update, Delete
 *            and Put items of its transactions need no more than those;
 *            s3:ListBucket for ListObjectsV2 (orphans, dead incarnations), only under
 *            `data/`, so a GetObject of a missing key answers 403, not 404 (compact does
 *            not tell the two apart: a merge fails on either); s3:GetObject (byte ranges
 *            to merge); s3:PutObject and s3:PutObjectTagging (the merged object, tagged);
 *            s3:PutObjectTagging (re-tagging after retention.ms grew); s3:DeleteObject
 *            (DeleteObject, DeleteObjects)
 *
 * Claim-check blobs (`blobs/`): produce signs the upload URLs it hands out (s3:PutObject,
 * which also covers CreateMultipartUpload, UploadPart and CompleteMultipartUpload) and
 * checks an upload with HeadObject (s3:GetObject, plus s3:ListBucket so a missing blob is a
 * 404, not a 403); fetch signs download URLs (s3:GetObject); compact deletes released and
 * orphan blobs (s3:DeleteObject, s3:AbortMultipartUpload for an upload never completed);
 * admin deletes a deleted topic's blobs (DeleteObjects).
 */
export const FUNCTION_ACCESS: Readonly<Record<ClusterFunctionName, FunctionAccess>> = {
  admin: {
    table: [
      'dynamodb:BatchGetItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:DeleteItem',
      'dynamodb:DescribeTable',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ],
    bucket: ['s3:ListBucket'],
    objects: ['s3:DeleteObject'],
    blobObjects: ['s3:DeleteObject'],
  },
  produce: {
    table: [
      'dynamodb:BatchGetItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:ConditionCheckItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ],
    bucket: ['s3:ListBucket'],
    objects: ['s3:DeleteObject', 's3:PutObject', 's3:PutObjectTagging'],
    blobObjects: ['s3:GetObject', 's3:PutObject'],
  },
  fetch: {
    table: ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query'],
    bucket: ['s3:ListBucket'],
    objects: ['s3:GetObject'],
    blobObjects: ['s3:GetObject'],
  },
  groups: {
    table: [
      'dynamodb:BatchGetItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:ConditionCheckItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ],
    bucket: ['s3:ListBucket'],
    objects: ['s3:GetObject'],
  },
  compact: {
    table: ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
    bucket: ['s3:ListBucket'],
    listPrefix: DATA_PREFIX,
    objects: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject', 's3:PutObjectTagging'],
    blobObjects: ['s3:AbortMultipartUpload', 's3:DeleteObject'],
  },
};

/**
 * Functions whose code may queue a compaction of one partition (lib/retention/trigger.ts:
 * produce past a size threshold, admin after deleting records). They invoke the function
 * named by COMPACT_FUNCTION_ENV, which SluiceCluster.scheduleCompaction sets, granting
 * lambda:InvokeFunction on that function alone; unset, they make no call.
 */
export const COMPACTION_TRIGGERS: readonly FunctionName[] = ['admin', 'produce'];
export const COMPACT_FUNCTION_ENV = 'SLUICE_COMPACT_FUNCTION';

/**
 * Adds `name`'s statements from FUNCTION_ACCESS to `grantee`'s policy. With
 * `grantFunctionAccess(fn, 'compact', cluster.bucket, cluster.table)`, a compact function
 * of your own (SluiceClusterProps.compaction false) gets what the cluster's would.
 */
export function grantFunctionAccess(grantee: IGrantable, name: ClusterFunctionName, bucket: IBucket, table: ITable): void {
  const access = FUNCTION_ACCESS[name];
  // `data/*` also matches `data/` itself: IAM's `*` matches zero characters.
  const listCondition = access.listPrefix === undefined ? undefined : { StringLike: { 's3:prefix': [`${access.listPrefix}*`] } };
  const statements = [
    new PolicyStatement({ sid: 'Table', actions: [...access.table], resources: [table.tableArn] }),
    ...(access.bucket.length > 0
      ? [new PolicyStatement({ sid: 'Bucket', actions: [...access.bucket], resources: [bucket.bucketArn], ...(listCondition === undefined ? {} : { conditions: listCondition }) })]
      : []),
    new PolicyStatement({ sid: 'DataObjects', actions: [...access.objects], resources: [bucket.arnForObjects(`${DATA_PREFIX}*`)] }),
    ...((access.blobObjects ?? []).length > 0 ? [new PolicyStatement({ sid: 'BlobObjects', actions: [...(access.blobObjects ?? [])], resources: [bucket.arnForObjects(`${BLOB_OBJECT_PREFIX}*`)] })] : []),
  ];
  for (const statement of statements) grantee.grantPrincipal.addToPrincipalPolicy(statement);
}

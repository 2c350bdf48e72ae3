import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { FieldError } from '../../../src/domain/index.js';
import { centralBucketName } from './naming.js';

/**
 * The IAM statements the router's stacks grant, written once so that the global, regional and
 * customer stacks (and their tests) agree on every action, resource and condition. Each
 * builder grants exactly the calls the router's code makes; the comment on each says which.
 * The naming rules the statements rely on (prefix, role-name patterns, account ids) are
 * checked here too, so every stack refuses the same bad props with the same message.
 */

/**
 * The canned ACL every copy into a tenant bucket carries (`COPY_ACL` of the s3 sink): the
 * central role may write to other accounts' buckets only with it, so the tenant always owns
 * what the router writes.
 */
export const BUCKET_OWNER_FULL_CONTROL_ACL = 'bucket-owner-full-control';

/** Statement ids the stacks use, so tests and operators can find each grant by name. */
export const StatementSid = {
  ASSUME_CUSTOMER_ROLES: 'AssumeCustomerRoles',
  READ_CENTRAL_OBJECTS: 'ReadCentralObjects',
  LIST_CENTRAL_BUCKETS: 'ListCentralBuckets',
  COPY_TO_CUSTOMER_BUCKETS: 'CopyToCustomerBuckets',
  FIND_CUSTOMER_BUCKETS: 'FindCustomerBuckets',
  ABORT_CUSTOMER_UPLOADS: 'AbortCustomerUploads',
  USE_CUSTOMER_KMS_KEYS_VIA_S3: 'UseCustomerKmsKeysViaS3',
  WRITE_CENTRAL_OBJECTS: 'WriteCentralObjects',
  ASSUME_CENTRAL_ROLE: 'AssumeCentralRole',
  WRITE_LAMBDA_LOGS: 'WriteLambdaLogs',
  READ_API_PSK: 'ReadApiPsk',
  WRITE_TENANT_LOGS: 'WriteTenantLogs',
  FIND_TENANT_LOG_GROUPS: 'FindTenantLogGroups',
  PUT_KINESIS_RECORDS: 'PutKinesisRecords',
  PUT_FIREHOSE_RECORDS: 'PutFirehoseRecords',
  ROUTER_COPIES_OBJECTS: 'RouterCopiesObjects',
  ROUTER_FINDS_BUCKET: 'RouterFindsBucket',
  ROUTER_ABORTS_UPLOADS: 'RouterAbortsUploads',
} as const;
export type StatementSid = (typeof StatementSid)[keyof typeof StatementSid];

// --- Naming rules shared by the stacks ---------------------------------------------------

/**
 * Longest prefix: the central bucket name `${prefix}-central-${account}-${region}` must stay
 * within S3's 63 characters for the longest region names (14 characters).
 */
export const MAX_PREFIX_LENGTH = 20;
const PREFIX_PATTERN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const ACCOUNT_ID_PATTERN = /^\d{12}$/;
/** https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html (`RoleName`) */
const ROLE_NAME_PATTERN = /^[\w+=,.@-]{1,64}$/;
const ROLE_NAME_GLOB_PATTERN = /^[\w+=,.@*?-]{1,64}$/;
/** Literal characters a role pattern must start with, so it can never match every role. */
export const MIN_ROLE_PATTERN_LITERAL_PREFIX = 4;
const REGION_PATTERN = /^[a-z]{2}(?:-[a-z]+)+-\d$/;

/**
 * Checks a deployment prefix: it starts bucket, role, table and secret names.
 *
 * @param field - the prop name, for the message
 * @returns the problems found (none for a valid prefix)
 */
export function prefixProblems(prefix: string, field = 'prefix'): FieldError[] {
  if (prefix.length > MAX_PREFIX_LENGTH || !PREFIX_PATTERN.test(prefix)) {
    return [{
      field,
      message: `must be 1-${MAX_PREFIX_LENGTH} lowercase letters, digits and '-', starting and ending with a letter or digit ` +
        `(it starts S3 bucket names); got '${prefix}'`,
    }];
  }
  return [];
}

/** Checks a 12-digit AWS account id (a token from the stack's env is accepted as is). */
export function accountIdProblems(accountId: string, field: string): FieldError[] {
  return ACCOUNT_ID_PATTERN.test(accountId) ? [] : [{ field, message: `must be a 12-digit AWS account id; got '${accountId}'` }];
}

/** Checks a region name such as `eu-west-1` or `us-gov-west-1`. */
export function regionProblems(region: string, field: string): FieldError[] {
  return REGION_PATTERN.test(region) ? [] : [{ field, message: `must be a region name such as 'eu-west-1'; got '${region}'` }];
}

/** Checks an IAM role name (1-64 of letters, digits and `+=,.@_-`). */
export function roleNameProblems(roleName: string, field: string): FieldError[] {
  return ROLE_NAME_PATTERN.test(roleName)
    ? []
    : [{ field, message: `must be an IAM role name: 1-64 letters, digits and '+=,.@_-'; got '${roleName}'` }];
}

/**
 * Checks a pattern of customer role names (IAM wildcards `*` and `?`). It must begin with
 * {@link MIN_ROLE_PATTERN_LITERAL_PREFIX} literal characters, so that the central role can
 * never be allowed to assume every role of every account.
 */
export function rolePatternProblems(pattern: string, field: string): FieldError[] {
  const firstWildcard = pattern.search(/[*?]/);
  const literal = firstWildcard === -1 ? pattern.length : firstWildcard;
  if (!ROLE_NAME_GLOB_PATTERN.test(pattern) || literal < MIN_ROLE_PATTERN_LITERAL_PREFIX) {
    return [{
      field,
      message: "must be a role name pattern of letters, digits, '+=,.@_-' and the wildcards '*' and '?', starting with at " +
        `least ${MIN_ROLE_PATTERN_LITERAL_PREFIX} literal characters (e.g. 'CustomerLogDistribution-*'); got '${pattern}'`,
    }];
  }
  return [];
}

/**
 * Whether a role name matches an IAM wildcard pattern: `*` matches any run of characters,
 * `?` any one character, as IAM matches resource ARNs.
 *
 * @param roleName - a role name without path
 * @param pattern - a pattern such as `CustomerLogDistribution-*`
 */
export function roleNameMatchesPattern(roleName: string, pattern: string): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`).test(roleName);
}

// --- ARNs --------------------------------------------------------------------------------

/**
 * The ARN of a role of this partition, built from its name: the stacks refer to each other's
 * roles by name (IAM is global, and a role's ARN is known before it exists).
 *
 * @param account - the role's account (a token such as `Aws.ACCOUNT_ID` is fine)
 */
export function roleArn(account: string, roleName: string): string {
  return `arn:${Aws.PARTITION}:iam::${account}:role/${roleName}`;
}

/** The ARNs covering every central bucket of a deployment, in any region: `${prefix}-central-${account}-*`. */
export function centralBucketArns(prefix: string, account: string): { readonly buckets: string; readonly objects: string } {
  const buckets = `arn:${Aws.PARTITION}:s3:::${centralBucketName(prefix, account, '*')}`;
  return { buckets, objects: `${buckets}/*` };
}

/** The log groups of the router's own Lambda functions: `/aws/lambda/${prefix}-*`, any region. */
export function lambdaLogGroupArn(prefix: string, account: string): string {
  return `arn:${Aws.PARTITION}:logs:*:${account}:log-group:/aws/lambda/${prefix}-*`;
}

/**
 * The ARNs of one secret in each region it lives in (its primary and its replicas share the
 * name and the random suffix Secrets Manager appends, six characters after a `-`).
 */
export function secretArns(secretName: string, account: string, regions: readonly string[]): string[] {
  return regions.map((region) => `arn:${Aws.PARTITION}:secretsmanager:${region}:${account}:secret:${secretName}-??????`);
}

// --- The central account's statements ----------------------------------------------------

/**
 * The central role may assume only roles named like `rolePattern`, in any account, and only
 * with an ExternalId: the credential broker always sends one (the config's `external_id`, else
 * the central account id), so a request without it is never the router's.
 */
export function assumeCustomerRolesStatement(rolePattern: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: StatementSid.ASSUME_CUSTOMER_ROLES,
    actions: ['sts:AssumeRole'],
    resources: [`arn:${Aws.PARTITION}:iam::*:role/${rolePattern}`],
    conditions: { Null: { 'sts:ExternalId': 'false' } },
  });
}

/**
 * What the s3 sink reads from the central buckets as the central role: `HeadObject` and the
 * source of `CopyObject`/`UploadPartCopy` (`s3:GetObject`; `s3:GetObjectTagging` because a copy
 * keeps the source's tags), and `s3:ListBucket`, without which S3 answers a missing source
 * with 403 instead of 404 and the sink could not tell `source_missing` from a refusal.
 */
export function readCentralBucketsStatements(prefix: string, centralAccount: string): iam.PolicyStatement[] {
  const arns = centralBucketArns(prefix, centralAccount);
  return [
    new iam.PolicyStatement({
      sid: StatementSid.READ_CENTRAL_OBJECTS,
      actions: ['s3:GetObject', 's3:GetObjectTagging'],
      resources: [arns.objects],
    }),
    new iam.PolicyStatement({
      sid: StatementSid.LIST_CENTRAL_BUCKETS,
      actions: ['s3:ListBucket'],
      resources: [arns.buckets],
    }),
  ];
}

/** The condition of every statement on tenant buckets: the bucket is in another account. */
function outsideAccount(centralAccount: string): Record<string, Record<string, string>> {
  return { StringNotEquals: { 's3:ResourceAccount': centralAccount } };
}

/**
 * What the s3 sink does to tenant buckets as the central role:
 * - `CopyObject` and `CreateMultipartUpload` (`s3:PutObject`, plus `s3:PutObjectAcl` since they
 *   set an ACL), only into buckets of other accounts and only with `bucket-owner-full-control`,
 *   so the tenant owns every copy;
 * - `HeadBucket` (`s3:ListBucket`: the access check and the region lookup) and
 *   `GetBucketLocation` (the region lookup's fallback);
 * - `AbortMultipartUpload` after a failed multipart copy.
 *
 * `UploadPartCopy` and `CompleteMultipartUpload` are `s3:PutObject` requests without an ACL
 * header, so the ACL condition refuses them: copies above the multipart threshold (5 GiB by
 * default) are dead-lettered with `access_denied` rather than written without the ACL.
 */
export function copyToCustomerBucketsStatements(centralAccount: string): iam.PolicyStatement[] {
  const notCentral = outsideAccount(centralAccount);
  return [
    new iam.PolicyStatement({
      sid: StatementSid.COPY_TO_CUSTOMER_BUCKETS,
      actions: ['s3:PutObject', 's3:PutObjectAcl'],
      resources: [`arn:${Aws.PARTITION}:s3:::*/*`],
      conditions: { ...notCentral, StringEquals: { 's3:x-amz-acl': BUCKET_OWNER_FULL_CONTROL_ACL } },
    }),
    new iam.PolicyStatement({
      sid: StatementSid.FIND_CUSTOMER_BUCKETS,
      actions: ['s3:ListBucket', 's3:GetBucketLocation'],
      resources: [`arn:${Aws.PARTITION}:s3:::*`],
      conditions: notCentral,
    }),
    new iam.PolicyStatement({
      sid: StatementSid.ABORT_CUSTOMER_UPLOADS,
      actions: ['s3:AbortMultipartUpload'],
      resources: [`arn:${Aws.PARTITION}:s3:::*/*`],
      conditions: notCentral,
    }),
  ];
}

/**
 * Copies with SSE-KMS (`sse_kms_key_id`, or a bucket whose default encryption is a customer
 * key) need the key: `kms:GenerateDataKey` to encrypt, `kms:Decrypt` for multipart copies.
 * Only keys of other accounts, and only when S3 uses them on the role's behalf; the tenant's
 * key policy must allow the central role too.
 */
export function customerKmsViaS3Statement(centralAccount: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: StatementSid.USE_CUSTOMER_KMS_KEYS_VIA_S3,
    actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
    resources: [`arn:${Aws.PARTITION}:kms:*:*:key/*`],
    conditions: {
      StringNotEquals: { 'aws:ResourceAccount': centralAccount },
      StringLike: { 'kms:ViaService': 's3.*.amazonaws.com' },
    },
  });
}

/** The collectors' only right: `s3:PutObject` into the central buckets (no read, no delete, no ACL). */
export function writeCentralBucketsStatement(prefix: string, centralAccount: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: StatementSid.WRITE_CENTRAL_OBJECTS,
    actions: ['s3:PutObject'],
    resources: [centralBucketArns(prefix, centralAccount).objects],
  });
}

/** Lets the processor or the API assume the central role (STS `AssumeRole`, no ExternalId). */
export function assumeCentralRoleStatement(centralRoleArn: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: StatementSid.ASSUME_CENTRAL_ROLE,
    actions: ['sts:AssumeRole'],
    resources: [centralRoleArn],
  });
}

/**
 * What Lambda needs to write a function's logs, limited to the router's own functions
 * (named `${prefix}-…`): the explicit form of `AWSLambdaBasicExecutionRole`, whose resource is `*`.
 */
export function lambdaLogsStatement(prefix: string, account: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: StatementSid.WRITE_LAMBDA_LOGS,
    actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: [lambdaLogGroupArn(prefix, account), `${lambdaLogGroupArn(prefix, account)}:log-stream:*`],
  });
}

/**
 * Reading the API's pre-shared key in each region its readers run in: the PSK source calls only
 * `GetSecretValue` (stages `AWSCURRENT` and `AWSPREVIOUS`).
 */
export function readSecretStatement(secretName: string, account: string, regions: readonly string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: StatementSid.READ_API_PSK,
    actions: ['secretsmanager:GetSecretValue'],
    resources: secretArns(secretName, account, regions),
  });
}

// --- The customer account's statements ---------------------------------------------------

/**
 * What the cloudwatch sink does as the customer role, inside the log groups under
 * `logGroupPrefix`: `PutLogEvents` first, `CreateLogStream` and `CreateLogGroup` only when
 * the stream or group is missing. (`log-group:<prefix>*` also covers the `:*` form of a group's
 * ARN and its streams; the stream ARN is listed for readers.)
 */
export function cloudwatchDeliveryStatement(account: string, logGroupPrefix: string): iam.PolicyStatement {
  const groups = `arn:${Aws.PARTITION}:logs:*:${account}:log-group:${logGroupPrefix}*`;
  return new iam.PolicyStatement({
    sid: StatementSid.WRITE_TENANT_LOGS,
    actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: [groups, `${groups}:log-stream:*`],
  });
}

/**
 * The cloudwatch access check's `DescribeLogGroups` (with `logGroupNamePrefix`). IAM does not
 * evaluate this list action against the named groups, so it is granted on every log group of
 * the account, and of no other account: it reveals log group names, never events.
 */
export function findLogGroupsStatement(account: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: StatementSid.FIND_TENANT_LOG_GROUPS,
    actions: ['logs:DescribeLogGroups'],
    resources: [`arn:${Aws.PARTITION}:logs:*:${account}:log-group:*`],
  });
}

/** The kinesis sink's `PutRecords` and its access check's `DescribeStreamSummary`, on the given streams only. */
export function kinesisDeliveryStatement(streamArns: readonly string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: StatementSid.PUT_KINESIS_RECORDS,
    actions: ['kinesis:PutRecords', 'kinesis:DescribeStreamSummary'],
    resources: [...streamArns],
  });
}

/** The firehose sink's `PutRecordBatch` and its access check's `DescribeDeliveryStream`, on the given streams only. */
export function firehoseDeliveryStatement(deliveryStreamArns: readonly string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: StatementSid.PUT_FIREHOSE_RECORDS,
    actions: ['firehose:PutRecordBatch', 'firehose:DescribeDeliveryStream'],
    resources: [...deliveryStreamArns],
  });
}

/**
 * The tenant bucket's side of the s3 sink's copies (cross-account access needs both the
 * central role's policy and this): the central role may write objects under `keyPrefix` only
 * with `bucket-owner-full-control`, find the bucket (`HeadBucket`, `GetBucketLocation`) and
 * abort its own failed multipart uploads.
 *
 * @param bucketArn - the bucket's ARN
 * @param keyPrefix - the `bucket_prefix` the tenant's s3 configs use ('' for the whole bucket)
 * @param centralRoleArn - the router's central log-distribution role
 */
export function customerBucketStatements(bucketArn: string, keyPrefix: string, centralRoleArn: string): iam.PolicyStatement[] {
  const router = new iam.ArnPrincipal(centralRoleArn);
  const objects = `${bucketArn}/${keyPrefix}*`;
  return [
    new iam.PolicyStatement({
      sid: StatementSid.ROUTER_COPIES_OBJECTS,
      principals: [router],
      actions: ['s3:PutObject', 's3:PutObjectAcl'],
      resources: [objects],
      conditions: { StringEquals: { 's3:x-amz-acl': BUCKET_OWNER_FULL_CONTROL_ACL } },
    }),
    new iam.PolicyStatement({
      sid: StatementSid.ROUTER_FINDS_BUCKET,
      principals: [router],
      actions: ['s3:ListBucket', 's3:GetBucketLocation'],
      resources: [bucketArn],
    }),
    new iam.PolicyStatement({
      sid: StatementSid.ROUTER_ABORTS_UPLOADS,
      principals: [router],
      actions: ['s3:AbortMultipartUpload'],
      resources: [objects],
    }),
  ];
}

import type { Template } from 'aws-cdk-lib/assertions';

/**
 * Reads every IAM policy document of a synthesized template (role trust and inline policies,
 * managed and attached policies, bucket, queue, topic and key policies, secret resource
 * policies: any property holding a `Statement` list) and finds the statements that grant too
 * much. Shared by the CDK stacks' tests, so each stack is held to the same rules.
 */

/** One statement as CloudFormation holds it (values may be intrinsics such as `Fn::Join`). */
export interface StatementJson {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Principal?: unknown;
  readonly NotPrincipal?: unknown;
  readonly Action?: unknown;
  readonly NotAction?: unknown;
  readonly Resource?: unknown;
  readonly NotResource?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

/** A statement and where it was found. */
export interface LocatedStatement {
  /** The logical id of the resource holding the document. */
  readonly logicalId: string;
  /** The resource's CloudFormation type (`AWS::IAM::Role`, `AWS::S3::BucketPolicy`, …). */
  readonly resourceType: string;
  /** The property path of the document (`AssumeRolePolicyDocument`, `Policies.0.PolicyDocument`). */
  readonly path: string;
  readonly statement: StatementJson;
}

/**
 * Actions AWS authorizes only on `Resource: "*"` (no resource-level permissions), which a stack
 * may therefore grant on `*` without being too broad.
 */
export const ACTIONS_ONLY_ON_ANY_RESOURCE: readonly string[] = [
  'cloudwatch:PutMetricData',
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
];

/** Verbs of actions that only read; any other action counts as a write. */
const READ_VERBS = /^(Get|List|Describe|Head|BatchGet|Query|Scan)/;

/** The values of a string-or-list field. */
export function listOf(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** Every statement of every policy document in the template. */
export function policyStatements(template: Template): LocatedStatement[] {
  const resources = (template.toJSON() as { Resources?: Record<string, { Type: string; Properties?: unknown }> }).Resources ?? {};
  const found: LocatedStatement[] = [];
  const walk = (logicalId: string, resourceType: string, value: unknown, path: string): void => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(logicalId, resourceType, item, path ? `${path}.${i}` : String(i)));
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const record = value as Record<string, unknown>;
    if (Array.isArray(record['Statement'])) {
      for (const statement of record['Statement'] as StatementJson[]) found.push({ logicalId, resourceType, path, statement });
      return;
    }
    for (const [key, child] of Object.entries(record)) walk(logicalId, resourceType, child, path ? `${path}.${key}` : key);
  };
  for (const [logicalId, resource] of Object.entries(resources)) walk(logicalId, resource.Type, resource.Properties, '');
  return found;
}

/** The statements with this `Sid`, wherever they are. */
export function statementsWithSid(template: Template, sid: string): LocatedStatement[] {
  return policyStatements(template).filter((s) => s.statement.Sid === sid);
}

/** Whether a principal value is everyone: `"*"`, `{AWS: "*"}` or a list holding `"*"`. */
function isEveryone(principal: unknown): boolean {
  if (principal === '*') return true;
  if (typeof principal !== 'object' || principal === null) return false;
  return Object.values(principal as Record<string, unknown>).some((v) => listOf(v).includes('*'));
}

/** Options of {@link broadPolicyProblems}. */
export interface BroadPolicyOptions {
  /** More actions allowed on `Resource: "*"` besides {@link ACTIONS_ONLY_ON_ANY_RESOURCE}. */
  readonly allowOnAnyResource?: readonly string[];
}

/**
 * The statements that grant too much, each as a sentence naming where it is:
 * - an Allow with `Principal: "*"` (or `AWS: "*"`) and no `Condition`;
 * - an Allow with `Action: "*"` or a whole service (`s3:*`);
 * - an Allow of a write action on `Resource: "*"` (reads and the actions AWS authorizes only
 *   on `*` excepted);
 * - an Allow using `NotAction`, `NotResource` or `NotPrincipal`, which grant by exclusion.
 * Deny statements are never too broad.
 *
 * @example expect(broadPolicyProblems(Template.fromStack(stack))).toEqual([]);
 */
export function broadPolicyProblems(template: Template, options: BroadPolicyOptions = {}): string[] {
  const anyResourceOk = new Set([...ACTIONS_ONLY_ON_ANY_RESOURCE, ...(options.allowOnAnyResource ?? [])]);
  const problems: string[] = [];
  for (const { logicalId, path, statement } of policyStatements(template)) {
    if (statement.Effect !== 'Allow') continue;
    const where = `${logicalId} ${path} ${statement.Sid ?? '(no Sid)'}`;
    if (statement.Principal !== undefined && isEveryone(statement.Principal) && statement.Condition === undefined) {
      problems.push(`${where}: allows everyone (Principal "*") without a Condition`);
    }
    const actions = listOf(statement.Action).map(String);
    const wildcardActions = actions.filter((a) => a === '*' || a.endsWith(':*'));
    if (wildcardActions.length > 0) problems.push(`${where}: allows every action (${wildcardActions.join(', ')})`);
    if (listOf(statement.Resource).includes('*')) {
      const writes = actions.filter((a) => !anyResourceOk.has(a) && !READ_VERBS.test(a.split(':')[1] ?? a));
      if (writes.length > 0) problems.push(`${where}: allows ${writes.join(', ')} on Resource "*"`);
    }
    for (const field of ['NotAction', 'NotResource', 'NotPrincipal'] as const) {
      if (statement[field] !== undefined) problems.push(`${where}: allows by exclusion (${field})`);
    }
  }
  return problems;
}

/**
 * A template value as readable text: `Fn::Join` concatenated, `Ref` as `${Name}`, `Fn::GetAtt`
 * as `${LogicalId.Attribute}`; lists and objects are rendered element by element. Lets a test
 * compare an ARN built from `AWS::Partition` with a plain string.
 *
 * @example expect(asText(resource)).toBe('arn:${AWS::Partition}:iam::*:role/CustomerLogDistribution-*');
 */
export function asText(value: unknown): string {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.map(asText).join(',');
  if (typeof value !== 'object' || value === null) return '';
  const record = value as Record<string, unknown>;
  if ('Ref' in record) return `\${${String(record['Ref'])}}`;
  if ('Fn::GetAtt' in record) return `\${${listOf(record['Fn::GetAtt']).map(String).join('.')}}`;
  if ('Fn::Join' in record) {
    const [separator, parts] = record['Fn::Join'] as [string, unknown[]];
    return parts.map(asText).join(separator);
  }
  return JSON.stringify(record);
}

/** The values of a string-or-list field as text (see {@link asText}). */
export function textsOf(value: unknown): string[] {
  return listOf(value).map(asText);
}

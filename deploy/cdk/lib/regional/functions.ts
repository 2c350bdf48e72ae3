import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** The Node.js runtime the bundles target (`target: 'node22'` in scripts/bundle-lambda.mjs). */
export const ROUTER_LAMBDA_RUNTIME = Runtime.NODEJS_22_X;

export interface RouterFunctionProps {
  readonly functionName: string;
  readonly description: string;
  readonly role: IRole;
  /**
   * Grant the role writing to the function's log group. The global stack's roles may write
   * the logs of every `<prefix>-…` function already; a role created here needs it.
   */
  readonly grantLogs: boolean;
  /** A directory from `prepareLambdaBundles()`. */
  readonly codeDir: string;
  /** `index.handler`, `api.handler`, … */
  readonly handler: string;
  readonly environment: Readonly<Record<string, string>>;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly logRetentionDays: number;
  readonly retainData: boolean;
}

/**
 * A router Lambda: ARM64 (the bundles are pure JavaScript) and its own log group with a
 * retention (none of the roles has a managed policy that would create one without it).
 *
 * @internal
 */
export function createRouterFunction(scope: Construct, id: string, props: RouterFunctionProps): LambdaFunction {
  const logGroup = new LogGroup(scope, `${id}Logs`, {
    logGroupName: `/aws/lambda/${props.functionName}`,
    retention: props.logRetentionDays,
    removalPolicy: props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
  });
  if (props.grantLogs) logGroup.grantWrite(props.role);
  const fn = new LambdaFunction(scope, id, {
    functionName: props.functionName,
    description: props.description,
    runtime: ROUTER_LAMBDA_RUNTIME,
    architecture: Architecture.ARM_64,
    handler: props.handler,
    code: Code.fromAsset(props.codeDir),
    role: props.role,
    environment: { ...props.environment },
    timeout: props.timeout,
    memorySize: props.memorySize,
    logGroup,
  });
  // An imported role's policy is a resource of this stack: the function (and whatever invokes
  // it) must not start before the policy is attached.
  fn.node.addDependency(props.role);
  return fn;
}

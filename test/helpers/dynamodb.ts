import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** Keywords and functions of DynamoDB expressions: everything else must be a `#name` or `:value`. */
const EXPRESSION_WORDS: ReadonlySet<string> = new Set([
  'SET', 'REMOVE', 'ADD', 'DELETE', 'AND', 'OR', 'NOT', 'BETWEEN', 'IN',
  'attribute_exists', 'attribute_not_exists', 'attribute_type', 'begins_with', 'contains', 'size',
  'if_not_exists', 'list_append',
]);

const EXPRESSION_FIELDS = [
  'KeyConditionExpression',
  'ConditionExpression',
  'FilterExpression',
  'UpdateExpression',
  'ProjectionExpression',
] as const;

/** Attribute names an expression uses directly instead of through `#placeholders`. */
export function bareAttributeNames(expression: string): string[] {
  return (expression.match(/[#:]?[A-Za-z_][A-Za-z0-9_]*/g) ?? []).filter(
    (token) => !token.startsWith('#') && !token.startsWith(':') && !EXPRESSION_WORDS.has(token),
  );
}

function expressionsOf(input: Record<string, unknown>): string[] {
  const parts: Record<string, unknown>[] = [input];
  const requestItems = input['RequestItems'];
  if (typeof requestItems === 'object' && requestItems !== null) {
    parts.push(...(Object.values(requestItems) as Record<string, unknown>[]));
  }
  return parts.flatMap((part) => EXPRESSION_FIELDS.map((field) => part[field]).filter((e) => typeof e === 'string'));
}

/**
 * Makes the client fail any request whose expressions name an attribute directly. AWS rejects
 * reserved words (`type`, `ttl`, `offset`, …) in expressions; moto does not, so this check
 * stands in for it.
 */
export function requireAttributeNamePlaceholders(client: DynamoDBClient): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      for (const expression of expressionsOf(args.input as Record<string, unknown>)) {
        const bare = bareAttributeNames(expression);
        if (bare.length > 0) {
          throw new Error(`${context.commandName} names attributes without placeholders (${bare.join(', ')}): ${expression}`);
        }
      }
      return next(args);
    },
    { step: 'initialize', name: 'requireAttributeNamePlaceholders' },
  );
}

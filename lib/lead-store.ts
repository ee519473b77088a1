import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  type ITable,
  ProjectionType,
  StreamViewType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { TABLE } from '../lambdas/adapters/table-definition.js';

export interface LeadStoreProps {
  /**
   * What happens to the table when it leaves the stack. With `RETAIN` the table also has deletion protection.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * A customer-managed key for encryption at rest.
   * @default - the AWS managed key for DynamoDB (`aws/dynamodb`)
   */
  readonly encryptionKey?: IKey;
}

/**
 * The single lead table (DESIGN §3), built from the shared layout in `lambdas/adapters/table-definition.ts`: leads,
 * identities, events, stage history and suppressions; the by-stage index and the sharded review index; a stream of
 * keys only (new event items drive re-scoring, new outbox items publication, erasure records the erase worker); TTL; on-demand capacity; point-in-time recovery.
 */
export class LeadStore extends Construct {
  readonly table: Table;

  constructor(scope: Construct, id: string, props: LeadStoreProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const string = (name: string) => ({ name, type: AttributeType.STRING });

    this.table = new Table(this, 'Table', {
      partitionKey: string(TABLE.partitionKey),
      sortKey: string(TABLE.sortKey),
      billingMode: BillingMode.PAY_PER_REQUEST,
      // Every stream consumer (scoring, the lifecycle publisher, the erase worker) reads only the keys of the records
      // its filter lets through and loads what it needs with a consistent read: no item's content lingers in the
      // stream for 24 h (an erased lead's address included).
      stream: StreamViewType.KEYS_ONLY,
      timeToLiveAttribute: TABLE.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...(props.encryptionKey
        ? { encryption: TableEncryption.CUSTOMER_MANAGED, encryptionKey: props.encryptionKey }
        : { encryption: TableEncryption.AWS_MANAGED }),
      deletionProtection: removalPolicy !== RemovalPolicy.DESTROY,
      removalPolicy,
    });

    for (const index of [TABLE.byStageIndex, TABLE.reviewIndex, TABLE.pendingIndex]) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: string(index.partitionKey),
        sortKey: string(index.sortKey),
        projectionType: ProjectionType[index.projection],
      });
    }
  }
}

/** Item reads a Leadloop function may need: single items, queries of a partition or an index, transactions' checks. */
export const TABLE_READ_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:ConditionCheckItem',
] as const;
/** Item writes, including those inside TransactWriteItems (which is authorized per item and action). */
export const TABLE_WRITE_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
] as const;

/** The table actions a function may be granted one by one (see {@link grantLeadTableActions}). */
export type TableAction = (typeof TABLE_READ_ACTIONS)[number] | (typeof TABLE_WRITE_ACTIONS)[number];

/**
 * Grants exactly `actions` on the lead table's items (not its indexes): for functions that use a few key lookups and
 * conditional writes, such as the public routes, which must not be able to delete or batch-write anything. With a
 * customer-managed key, also its use.
 */
export function grantLeadTableActions(table: ITable, grantee: IGrantable, actions: readonly TableAction[]): Grant {
  const writes = actions.some((a) => (TABLE_WRITE_ACTIONS as readonly string[]).includes(a));
  if (table.encryptionKey) {
    if (writes) table.encryptionKey.grantEncryptDecrypt(grantee);
    else table.encryptionKey.grantDecrypt(grantee);
  }
  return Grant.addToPrincipal({ grantee, actions: [...actions], resourceArns: [table.tableArn] });
}

/**
 * Grants item access to the lead table and its indexes, named one by one (no `index/*` wildcard), and no `Scan`:
 * every access pattern of DESIGN §3 is a key lookup or a query. With a customer-managed key, also its use.
 */
export function grantLeadTableData(table: ITable, grantee: IGrantable, access: 'read' | 'readWrite'): Grant {
  const indexArns = [TABLE.byStageIndex, TABLE.reviewIndex, TABLE.pendingIndex].map(
    (index) => `${table.tableArn}/index/${index.name}`,
  );
  const actions: string[] =
    access === 'read' ? [...TABLE_READ_ACTIONS] : [...TABLE_READ_ACTIONS, ...TABLE_WRITE_ACTIONS];
  if (table.encryptionKey) {
    if (access === 'read') table.encryptionKey.grantDecrypt(grantee);
    else table.encryptionKey.grantEncryptDecrypt(grantee);
  }
  return Grant.addToPrincipal({ grantee, actions, resourceArns: [table.tableArn, ...indexArns] });
}

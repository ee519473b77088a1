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
 * new and old images (new event items drive re-scoring); TTL; on-demand capacity; point-in-time recovery.
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
      stream: StreamViewType.NEW_AND_OLD_IMAGES,
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

import * as z from 'zod';
import { LOCAL_ACCOUNT_ID } from './lambda-context.js';

/**
 * The one resolver of CloudFormation intrinsic functions for the local runtime: every value the local runtime reads
 * from the synthesized template (function environments, state machine definitions, queue and rule targets) goes
 * through it, so a reference resolves to the same local value wherever it appears.
 *
 * Physical names are made locally from logical ids (a function is named by its logical id, a state machine's ARN
 * ends in it); what the local runtime has to decide itself (the table's name, the API's base URL, the stream's ARN)
 * comes in as `bindings`.
 */

export interface TemplateResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  DependsOn?: unknown;
}

export const Template = z.object({
  Resources: z.record(
    z.string(),
    z
      .object({
        Type: z.string(),
        Properties: z.record(z.string(), z.unknown()).optional(),
        Metadata: z.record(z.string(), z.unknown()).optional(),
      })
      .loose(),
  ),
});
export type Template = z.infer<typeof Template>;

export interface LocalBindings {
  region: string;
  account?: string;
  /** The local base URL of the REST API (`http://127.0.0.1:3000`), which stands for the stage's invoke URL. */
  apiUrl: string;
  /** Physical names of resources the local runtime names itself, by logical id (e.g. the table). */
  names?: Readonly<Record<string, string>>;
  /** Attributes the local runtime knows, by `<logicalId>.<attribute>` (e.g. the table's `StreamArn`). */
  attributes?: Readonly<Record<string, string>>;
}

/** A value the resolver cannot turn into a local one: named, with where it appeared. */
export class UnresolvableError extends Error {
  override readonly name = 'UnresolvableError';
}

const SERVICE_OF: Record<string, string> = {
  'AWS::Lambda::Function': 'lambda',
  'AWS::StepFunctions::StateMachine': 'states',
  'AWS::SQS::Queue': 'sqs',
  'AWS::SecretsManager::Secret': 'secretsmanager',
  'AWS::DynamoDB::Table': 'dynamodb',
  'AWS::SNS::Topic': 'sns',
  'AWS::Events::Rule': 'events',
  'AWS::Events::Connection': 'events',
  'AWS::Events::ApiDestination': 'events',
  'AWS::IAM::Role': 'iam',
  'AWS::KMS::Key': 'kms',
  'AWS::Logs::LogGroup': 'logs',
  'AWS::S3::Bucket': 's3',
};

/** Marks where the REST API's id was referenced, so an execute-api URL built around it becomes the local URL. */
const API_ID = '\u0000rest-api\u0000';
const EXECUTE_API_URL = new RegExp(`^https://${API_ID}\\.execute-api\\.[^/]+/[^/]+/`);

export interface Resolver {
  /** Resolves a value to plain JSON (strings, numbers, arrays, objects). */
  resolve(value: unknown, where?: string): unknown;
  /** Resolves a value that must be a string. */
  string(value: unknown, where?: string): string;
  /** The local ARN of a resource. */
  arnOf(logicalId: string): string;
  /** The local physical name (or `Ref` value) of a resource. */
  refOf(logicalId: string): string;
  /** The logical id a local ARN or name stands for, if any. */
  logicalIdOf(arnOrName: string): string | undefined;
}

export function createResolver(template: Template, bindings: LocalBindings): Resolver {
  const resources = template.Resources;
  const account = bindings.account ?? LOCAL_ACCOUNT_ID;
  const { region } = bindings;
  const byValue = new Map<string, string>();

  const typeOf = (id: string, where: string): string => {
    const type = resources[id]?.Type;
    if (!type) throw new UnresolvableError(`${where}: no resource ${id} in the template`);
    return type;
  };

  const arnOf = (id: string): string => {
    const type = typeOf(id, 'ARN');
    const name = bindings.names?.[id] ?? id;
    switch (type) {
      case 'AWS::Lambda::Function':
        return `arn:aws:lambda:${region}:${account}:function:${name}`;
      case 'AWS::StepFunctions::StateMachine':
        return `arn:aws:states:${region}:${account}:stateMachine:${id}`;
      case 'AWS::SQS::Queue':
        return `arn:aws:sqs:${region}:${account}:${name}`;
      case 'AWS::SecretsManager::Secret':
        return `arn:aws:secretsmanager:${region}:${account}:secret:${id}`;
      case 'AWS::DynamoDB::Table':
        return `arn:aws:dynamodb:${region}:${account}:table/${name}`;
      default:
        return `arn:aws:${SERVICE_OF[type] ?? type.split('::')[1]?.toLowerCase() ?? 'unknown'}:${region}:${account}:${id}`;
    }
  };

  /** What `Ref` returns for a resource, by type (CloudFormation's documented return values). */
  const refOf = (id: string): string => {
    const named = bindings.names?.[id];
    if (named !== undefined) return named;
    const resource = resources[id];
    const type = typeOf(id, 'Ref');
    switch (type) {
      case 'AWS::StepFunctions::StateMachine':
      case 'AWS::SecretsManager::Secret':
      case 'AWS::SNS::Topic':
        return arnOf(id);
      case 'AWS::SQS::Queue':
        return `http://sqs.${region}.localhost/${account}/${id}`;
      case 'AWS::ApiGateway::RestApi':
        return API_ID;
      case 'AWS::ApiGateway::Stage': {
        const stageName = resource?.Properties?.StageName;
        return typeof stageName === 'string' ? stageName : id;
      }
      case 'AWS::SES::ConfigurationSet': {
        const name = resource?.Properties?.Name;
        return typeof name === 'string' ? name : id;
      }
      case 'AWS::SES::Template': {
        const name = z.object({ TemplateName: z.string() }).safeParse(resource?.Properties?.Template);
        return name.success ? name.data.TemplateName : id;
      }
      default:
        return id;
    }
  };

  const getAtt = (id: string, attribute: string, where: string): string => {
    const known = bindings.attributes?.[`${id}.${attribute}`];
    if (known !== undefined) return known;
    const type = typeOf(id, where);
    if (attribute === 'Arn') return arnOf(id);
    if (attribute === 'Name' || attribute === 'QueueName') return type === 'AWS::SQS::Queue' ? id : refOf(id);
    if (type === 'AWS::SQS::Queue' && attribute === 'QueueUrl') return refOf(id);
    if (type === 'AWS::ApiGateway::RestApi' && attribute === 'RootResourceId') return `${id}/`;
    throw new UnresolvableError(`${where}: cannot resolve Fn::GetAtt ${id}.${attribute} locally`);
  };

  const pseudo: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': region,
    'AWS::AccountId': account,
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': 'leadloop-local',
    'AWS::NoValue': '',
  };

  const resolve = (value: unknown, where = 'value'): unknown => {
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v, i) => resolve(v, `${where}[${i}]`));
    const entries = Object.entries(value);
    const [key, arg] = entries[0] ?? [];
    if (entries.length === 1 && key !== undefined && (key === 'Ref' || key.startsWith('Fn::'))) {
      switch (key) {
        case 'Ref': {
          const name = z.string().parse(arg);
          return pseudo[name] ?? refOf(name);
        }
        case 'Fn::GetAtt': {
          const [id, attribute] =
            typeof arg === 'string' ? arg.split('.') : z.tuple([z.string(), z.string()]).parse(arg);
          return getAtt(z.string().parse(id), z.string().parse(attribute), where);
        }
        case 'Fn::Join': {
          const [sep, parts] = z.tuple([z.string(), z.array(z.unknown())]).parse(arg);
          const joined = parts.map((p) => asString(resolve(p, where), where)).join(sep);
          return joined.replace(EXECUTE_API_URL, `${bindings.apiUrl.replace(/\/+$/, '')}/`);
        }
        case 'Fn::Select': {
          const [index, list] = z.tuple([z.union([z.number(), z.string()]), z.unknown()]).parse(arg);
          const items = z.array(z.unknown()).parse(resolve(list, where));
          return items[Number(index)];
        }
        case 'Fn::Split': {
          const [sep, source] = z.tuple([z.string(), z.unknown()]).parse(arg);
          return asString(resolve(source, where), where).split(sep);
        }
        case 'Fn::Sub': {
          const [text, vars] =
            typeof arg === 'string' ? [arg, {}] : z.tuple([z.string(), z.record(z.string(), z.unknown())]).parse(arg);
          return text.replace(/\$\{([^}!][^}]*)\}/g, (_, name: string) => {
            if (Object.hasOwn(vars, name)) return asString(resolve(vars[name], where), where);
            const [id, attribute] = name.split('.');
            if (attribute !== undefined && id !== undefined) return getAtt(id, attribute, where);
            return pseudo[name] ?? refOf(name);
          });
        }
        default:
          throw new UnresolvableError(`${where}: ${key} is not resolved locally`);
      }
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, resolve(v, `${where}.${k}`)]));
  };

  const asString = (v: unknown, where: string): string => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw new UnresolvableError(`${where}: expected a string, got ${JSON.stringify(v)?.slice(0, 100)}`);
  };

  for (const id of Object.keys(resources)) {
    for (const value of [refOf(id), ...(SERVICE_OF[resources[id]?.Type ?? ''] ? [arnOf(id)] : [])]) {
      if (!byValue.has(value)) byValue.set(value, id);
    }
  }

  return {
    resolve,
    string: (value, where = 'value') => asString(resolve(value, where), where),
    arnOf,
    refOf,
    logicalIdOf: (v) => byValue.get(v),
  };
}

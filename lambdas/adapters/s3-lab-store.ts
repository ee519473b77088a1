import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { z } from 'zod';
import type { LabStore } from './model-lab-run.js';
import { config, tracer } from './runtime.js';

/** The model lab's bucket (lib/model-lab.ts sets it): exports, shuffle files, partials and reports. */
const Env = z.object({ MODEL_LAB_BUCKET: z.string().min(1) });

/** S3 client, created once per container; the endpoint follows the SDK's standard `AWS_ENDPOINT_URL_S3`. */
const s3 = tracer.captureAWSv3Client(new S3Client({ region: config.region }));

/** The lab bucket as a {@link LabStore}. */
export function s3LabStore(env: NodeJS.ProcessEnv = process.env): LabStore {
  const bucket = Env.parse(env).MODEL_LAB_BUCKET;
  const body = async (key: string) => {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if (!(out.Body instanceof Readable)) throw new Error(`s3://${bucket}/${key}: no body`);
    return out.Body;
  };
  return {
    stream: body,
    get: async (key) => {
      const chunks: Buffer[] = [];
      for await (const chunk of await body(key)) chunks.push(Buffer.from(chunk as Uint8Array));
      return Buffer.concat(chunks);
    },
    put: async (key, data, contentType) => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data, ContentType: contentType }));
    },
    list: async (prefix) => {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const out = await s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key);
        token = out.NextContinuationToken;
      } while (token);
      return keys;
    },
  };
}

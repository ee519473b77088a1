import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import type { LabStore } from './model-lab-run.js';

/** The model lab's bucket (lib/model-lab.ts names it in `MODEL_LAB_BUCKET`) as a {@link LabStore}. */
export function s3LabStore(s3: S3Client, bucket: string): LabStore {
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

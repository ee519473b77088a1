import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as z from 'zod';
import type { LocalQueue } from '../deployment.js';

/**
 * The template's SQS queues, locally: messages with SQS's receive semantics (a received message is invisible for the
 * queue's visibility timeout, then visible again; each receive counts; past the redrive policy's `maxReceiveCount` a
 * message moves to the dead-letter queue). Kept in memory and, with a file, across restarts.
 */

export interface QueueMessage {
  messageId: string;
  body: string;
  md5OfBody: string;
  sentAt: number;
  receiveCount: number;
  firstReceivedAt: number | undefined;
  /** Real time (epoch ms) until which it is invisible. */
  invisibleUntil: number;
  receiptHandle: string | undefined;
  /** Attributes an on-failure destination adds (the source of a dead-lettered record). */
  attributes?: Record<string, string>;
}

const Stored = z.record(
  z.string(),
  z.array(
    z.object({
      messageId: z.string(),
      body: z.string(),
      md5OfBody: z.string(),
      sentAt: z.number(),
      receiveCount: z.number(),
      firstReceivedAt: z.number().optional(),
      attributes: z.record(z.string(), z.string()).optional(),
    }),
  ),
);

export class LocalQueues {
  private readonly messages = new Map<string, QueueMessage[]>();
  private readonly listeners = new Map<string, Set<() => void>>();

  constructor(
    readonly queues: Readonly<Record<string, LocalQueue>>,
    private readonly opts: { file?: string; log?: (line: string) => void } = {},
  ) {
    for (const id of Object.keys(queues)) this.messages.set(id, []);
    this.load();
  }

  /** Sends a message (SendMessage). */
  send(queueId: string, body: string, attributes?: Record<string, string>): QueueMessage {
    const list = this.list(queueId);
    const message: QueueMessage = {
      messageId: randomUUID(),
      body,
      md5OfBody: createHash('md5').update(body).digest('hex'),
      sentAt: Date.now(),
      receiveCount: 0,
      firstReceivedAt: undefined,
      invisibleUntil: 0,
      receiptHandle: undefined,
      ...(attributes && { attributes }),
    };
    list.push(message);
    this.changed(queueId);
    return message;
  }

  /**
   * Receives up to `max` visible messages (ReceiveMessage), each then invisible for `visibilityTimeoutSeconds` (the
   * queue's visibility timeout unless given); over-received ones move to the DLQ first.
   */
  receive(queueId: string, max: number, visibilityTimeoutSeconds?: number): QueueMessage[] {
    const queue = this.queues[queueId];
    const list = this.list(queueId);
    const now = Date.now();
    const out: QueueMessage[] = [];
    for (const m of [...list]) {
      if (out.length >= max) break;
      if (m.invisibleUntil > now) continue;
      if (queue?.maxReceiveCount !== undefined && queue.deadLetterQueue && m.receiveCount >= queue.maxReceiveCount) {
        list.splice(list.indexOf(m), 1);
        this.list(queue.deadLetterQueue).push({ ...m, invisibleUntil: 0, receiptHandle: undefined });
        this.opts.log?.(
          `queue ${queueId}: message ${m.messageId} moved to ${queue.deadLetterQueue} after ${m.receiveCount} receives`,
        );
        this.changed(queue.deadLetterQueue);
        continue;
      }
      m.receiveCount++;
      m.firstReceivedAt ??= now;
      m.invisibleUntil = now + (visibilityTimeoutSeconds ?? queue?.visibilityTimeoutSeconds ?? 30) * 1000;
      m.receiptHandle = randomUUID();
      out.push(m);
    }
    if (out.length > 0) this.persist();
    return out;
  }

  /** Deletes a received message (DeleteMessage); a stale receipt handle deletes nothing. */
  delete(queueId: string, receiptHandle: string): void {
    const list = this.list(queueId);
    const i = list.findIndex((m) => m.receiptHandle === receiptHandle);
    if (i >= 0) {
      list.splice(i, 1);
      this.changed(queueId);
    }
  }

  /** Makes a received message visible again at once (ChangeMessageVisibility to 0). */
  release(queueId: string, receiptHandle: string, delayMs = 0): void {
    const m = this.list(queueId).find((x) => x.receiptHandle === receiptHandle);
    if (m) {
      m.invisibleUntil = Date.now() + delayMs;
      this.changed(queueId);
    }
  }

  /** The messages a queue holds now (visible or not). */
  peek(queueId: string): readonly QueueMessage[] {
    return this.list(queueId);
  }

  /** When the next invisible message of a queue becomes visible (epoch ms), if any. */
  nextVisibleAt(queueId: string): number | undefined {
    const times = this.list(queueId)
      .map((m) => m.invisibleUntil)
      .filter((t) => t > Date.now());
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  /** Calls `listener` whenever a queue's messages change; returns a function that stops it. */
  onChange(queueId: string, listener: () => void): () => void {
    const set = this.listeners.get(queueId) ?? new Set();
    set.add(listener);
    this.listeners.set(queueId, set);
    return () => set.delete(listener);
  }

  private list(queueId: string): QueueMessage[] {
    const list = this.messages.get(queueId);
    if (!list) throw new Error(`no queue ${queueId} in the template`);
    return list;
  }

  private changed(queueId: string): void {
    this.persist();
    for (const l of this.listeners.get(queueId) ?? []) l();
  }

  private persist(): void {
    const file = this.opts.file;
    if (!file) return;
    const data: z.infer<typeof Stored> = {};
    for (const [id, list] of this.messages) {
      data[id] = list.map((m) => ({
        messageId: m.messageId,
        body: m.body,
        md5OfBody: m.md5OfBody,
        sentAt: m.sentAt,
        receiveCount: m.receiveCount,
        ...(m.firstReceivedAt !== undefined && { firstReceivedAt: m.firstReceivedAt }),
        ...(m.attributes && { attributes: m.attributes }),
      }));
    }
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, JSON.stringify(data));
    renameSync(`${file}.tmp`, file);
  }

  private load(): void {
    const file = this.opts.file;
    if (!file || !existsSync(file)) return;
    const parsed = Stored.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) {
      this.opts.log?.(`queue file ${file} is unreadable; starting with empty queues`);
      return;
    }
    for (const [id, list] of Object.entries(parsed.data)) {
      if (!this.messages.has(id)) continue;
      // In flight when the last run stopped: visible again, as after a visibility timeout.
      this.messages.set(
        id,
        list.map((m) => ({ ...m, firstReceivedAt: m.firstReceivedAt, invisibleUntil: 0, receiptHandle: undefined })),
      );
    }
  }
}

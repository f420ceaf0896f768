import type { Notification } from '../db/schema.js';

/**
 * Where outbox rows go: the operator's webhook, Slack, or LiteLLM's key API. The delivery job
 * hands each due row to every sink of its channel that has not accepted it yet.
 */
export interface Sink {
  /** Written to the row's `delivered_to` once the sink accepted it, and prefixed to its errors. */
  readonly name: string;
  readonly channel: Notification['channel'];
  /**
   * Delivers the row or throws (a `DeliveryError` says why in a few words). `progress` is the
   * row's `delivered_to`: a sink that delivers in parts (one LiteLLM key at a time) adds a mark per
   * part it finished, so a retry after a partial failure does not repeat them.
   */
  deliver(notification: Notification, progress: Set<string>): Promise<void>;
}

/** A delivery that did not succeed; the message lands in `last_error`, so it never holds a secret. */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
}

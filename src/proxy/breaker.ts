import CircuitBreaker from 'opossum';
import type { BreakerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { CIRCUIT_STATE, type Metrics } from '../metrics.js';
import { ClientClosedError } from './exchange.js';
import { GatewayError } from '../errors.js';

/**
 * The circuit breaker guards "send the request and receive the headers" only: a long stream that
 * later fails says nothing about whether the upstream can take new requests. A 5xx or a
 * connection failure counts against the upstream; a 4xx, a client that went away or a body the
 * gateway refused does not.
 */
export interface Breaker {
  /** Runs `send` unless the circuit is open; rejects with code EOPENBREAKER when it is. */
  fire(send: () => Promise<number>): Promise<number>;
  /** Whole seconds until the breaker lets a probe through. */
  retryAfterSeconds(): number;
  shutdown(): void;
}

export function createBreaker(config: BreakerConfig, metrics: Metrics, logger: Logger): Breaker {
  const breaker = new CircuitBreaker((send: () => Promise<number>) => send(), {
    // Upstream timeouts belong to undici (per phase, minutes for LLM answers); a breaker
    // timeout would cut long generations.
    timeout: false,
    errorThresholdPercentage: config.errorThresholdPercent,
    volumeThreshold: config.volumeThreshold,
    rollingCountTimeout: config.rollingWindowMs,
    rollingCountBuckets: 10,
    resetTimeout: config.resetTimeoutMs,
    errorFilter: (err: Error) => err instanceof ClientClosedError || err instanceof GatewayError,
    // Only the error rate decides; latency percentiles would keep every call's latency and, each
    // second, concatenate and sort the whole window's (30,000 numbers at 3,000 req/s) on the
    // request thread, and nobody reads them or the per-second snapshots.
    rollingPercentilesEnabled: false,
    enableSnapshots: false,
  });
  let openedAt = 0;
  metrics.circuitState.set(CIRCUIT_STATE.closed);
  breaker.on('open', () => {
    openedAt = Date.now();
    metrics.circuitState.set(CIRCUIT_STATE.open);
    logger.warn({ resetTimeoutMs: config.resetTimeoutMs }, 'upstream circuit opened');
  });
  breaker.on('halfOpen', () => {
    metrics.circuitState.set(CIRCUIT_STATE.halfOpen);
    logger.info('upstream circuit half-open: probing');
  });
  breaker.on('close', () => {
    metrics.circuitState.set(CIRCUIT_STATE.closed);
    logger.info('upstream circuit closed');
  });

  return {
    fire: (send) => breaker.fire(send),
    retryAfterSeconds: () => Math.max(1, Math.ceil((openedAt + config.resetTimeoutMs - Date.now()) / 1000)),
    shutdown: () => breaker.shutdown(),
  };
}

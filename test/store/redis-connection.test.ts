import { describe, expect, it } from 'vitest';
import { openRedis, REQUEST_PATH_REDIS } from '../../src/store/redis-connection.js';

describe('openRedis', () => {
  it('names the host for TLS (SNI) on rediss:// URLs, and leaves everything else as it is', () => {
    // REQUEST_PATH_REDIS connects lazily: nothing here opens a connection.
    const tlsOf = (url: string) => {
      const redis = openRedis(url, REQUEST_PATH_REDIS);
      redis.disconnect();
      return redis.options.tls;
    };
    expect(tlsOf('rediss://default:secret@cache.example.com:6380/0')).toEqual({ servername: 'cache.example.com' });
    // An IP address is not a server name: TLS sends none for it (ioredis's own TLS, from the URL).
    expect(tlsOf('rediss://10.0.0.7:6380')).toBe(true);
    expect(tlsOf('rediss://[::1]:6380')).toBe(true);
    expect(tlsOf('redis://cache.example.com:6379')).toBeUndefined();
    // A connection made from another one keeps it (the invalidation bus's subscriber).
    const first = openRedis('rediss://cache.example.com:6380', REQUEST_PATH_REDIS);
    const second = first.duplicate();
    expect(second.options.tls).toEqual({ servername: 'cache.example.com' });
    first.disconnect();
    second.disconnect();
  });
});

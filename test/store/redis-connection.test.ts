import { describe, expect, it } from 'vitest';
import { REQUEST_PATH_REDIS, redisOptions } from '../../src/store/redis-connection.js';

describe('redisOptions', () => {
  it('names the host for TLS (SNI) on rediss:// URLs, and leaves everything else as it is', () => {
    expect(redisOptions('rediss://default:secret@cache.example.com:6380/0', REQUEST_PATH_REDIS)).toEqual({ ...REQUEST_PATH_REDIS, tls: { servername: 'cache.example.com' } });
    // An IP address is not a server name: TLS sends none for it.
    expect(redisOptions('rediss://10.0.0.7:6380', REQUEST_PATH_REDIS)).toBe(REQUEST_PATH_REDIS);
    expect(redisOptions('rediss://[::1]:6380', REQUEST_PATH_REDIS)).toBe(REQUEST_PATH_REDIS);
    expect(redisOptions('redis://cache.example.com:6379', REQUEST_PATH_REDIS)).toBe(REQUEST_PATH_REDIS);
  });
});

import { formatPlatform, parsePlatform, platformMatches } from '../src/image/platform.js';

describe('platform matching', () => {
  test('parses and formats os/arch/variant', () => {
    expect(parsePlatform('linux/arm/v7')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(formatPlatform(parsePlatform('linux/amd64'))).toBe('linux/amd64');
  });

  test('rejects malformed platforms with a usage error', () => {
    expect(() => parsePlatform('linux')).toThrow(/expected os\/arch\[\/variant\]/);
    expect(() => parsePlatform('linux//v7')).toThrow(/bad platform/);
  });

  test('a bare architecture means linux/ARCH, as containerd takes it', () => {
    expect(parsePlatform('arm64')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(parsePlatform('amd64')).toEqual({ os: 'linux', architecture: 'amd64' });
  });

  test('arm64 is the same as arm64/v8, both ways', () => {
    expect(platformMatches(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(true);
    expect(platformMatches(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64' })).toBe(true);
  });

  test('a missing variant matches any, a different one does not', () => {
    expect(platformMatches(parsePlatform('linux/arm'), { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(true);
    expect(platformMatches(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(false);
    expect(platformMatches(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'arm64' })).toBe(false);
  });
});

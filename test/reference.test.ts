/** Image arguments and registry references, by Docker's rules. */
import { parseImageArgument, parseRegistryReference } from '../src/reference.js';
import { credentialKey, parseChallenge } from '../src/fetch/registry/auth.js';
import { apiHost } from '../src/fetch/registry/client.js';
import { isLoopback, retryAfterMs } from '../src/fetch/registry/transport.js';

describe('registry references follow Docker', () => {
  test.each([
    ['alpine', 'docker.io', 'library/alpine', 'latest', null, 'docker.io/library/alpine:latest'],
    ['alpine:3.20', 'docker.io', 'library/alpine', '3.20', null, 'docker.io/library/alpine:3.20'],
    ['bitnami/redis', 'docker.io', 'bitnami/redis', 'latest', null, 'docker.io/bitnami/redis:latest'],
    ['docker.io/alpine', 'docker.io', 'library/alpine', 'latest', null, 'docker.io/library/alpine:latest'],
    ['index.docker.io/library/alpine:edge', 'docker.io', 'library/alpine', 'edge', null, 'docker.io/library/alpine:edge'],
    ['ghcr.io/org/app:1.2', 'ghcr.io', 'org/app', '1.2', null, 'ghcr.io/org/app:1.2'],
    ['localhost/app', 'localhost', 'app', 'latest', null, 'localhost/app:latest'],
    ['localhost:5000/a/b/c:t', 'localhost:5000', 'a/b/c', 't', null, 'localhost:5000/a/b/c:t'],
    ['127.0.0.1:5000/x', '127.0.0.1:5000', 'x', 'latest', null, '127.0.0.1:5000/x:latest'],
    ['[::1]:5000/x:1', '[::1]:5000', 'x', '1', null, '[::1]:5000/x:1'],
  ])('%s', (text, registry, repository, tag, digest, canonical) => {
    expect(parseRegistryReference(text)).toEqual({ registry, repository, tag, digest, canonical });
  });

  test('a digest wins over a tag, and both are kept in the canonical form', () => {
    const digest = 'sha256:' + 'a'.repeat(64);
    const parsed = parseRegistryReference(`registry.local:5000/x:1.0@${digest}`);
    expect(parsed).toMatchObject({ registry: 'registry.local:5000', repository: 'x', tag: '1.0', digest });
    expect(parseRegistryReference(`alpine@${digest}`)).toMatchObject({ tag: null, digest, canonical: `docker.io/library/alpine@${digest}` });
  });

  test.each([
    ['Alpine', /lowercase/],
    ['alpine:', /not a valid tag/],
    ['alpine@sha256:xyz', /not a digest/],
    ['a//b', /not a valid repository path component/],
    ['', /empty/],
  ])('%s is refused with a clear message', (text, message) => {
    expect(() => parseRegistryReference(text)).toThrow(message);
  });

  test('docker:// always means the registry, even for a name that is also a file', () => {
    expect(parseImageArgument('docker://package.json')).toMatchObject({ kind: 'registry', forced: true });
    expect(parseImageArgument('package.json')).toMatchObject({ kind: 'path', path: 'package.json' });
  });

  test('transports split PATH from REF where PATH exists', () => {
    expect(parseImageArgument('docker-archive:package.json:app:1.2')).toEqual({ kind: 'docker-archive', path: 'package.json', ref: 'app:1.2' });
    expect(parseImageArgument('oci:samples/busybox-oci:latest')).toEqual({ kind: 'oci-layout', path: 'samples/busybox-oci', ref: 'latest' });
    expect(parseImageArgument('oci-archive:x.tar')).toEqual({ kind: 'oci-archive', path: 'x.tar', ref: null });
    expect(parseImageArgument('-')).toEqual({ kind: 'stdin' });
  });
});

describe('registry plumbing', () => {
  test('Docker Hub is reached at registry-1.docker.io and keyed as https://index.docker.io/v1/ for credentials', () => {
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(credentialKey('docker.io')).toBe('https://index.docker.io/v1/');
    expect(credentialKey('ghcr.io')).toBe('ghcr.io');
  });

  test('bearer challenges are parsed with quoted values', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
    });
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic', params: { realm: 'Registry Realm' } });
  });

  test('loopback addresses are recognised (127/8, localhost, ::1)', () => {
    for (const host of ['localhost:5000', '127.0.0.1:5000', '127.1.2.3', '[::1]:5000']) expect(isLoopback(host)).toBe(true);
    for (const host of ['registry.local:5000', '10.0.0.1:5000', 'ghcr.io']) expect(isLoopback(host)).toBe(false);
  });

  test('Retry-After is read as seconds or as an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    const inTwo = new Date(Date.now() + 2000).toUTCString();
    expect(retryAfterMs(inTwo)).toBeGreaterThan(0);
    expect(retryAfterMs(undefined)).toBeNull();
  });
});

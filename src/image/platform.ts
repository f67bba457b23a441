import { UsageError } from '../errors.js';
import type { ImageConfig, Platform } from './types.js';

const OS_NAMES = new Set(['linux', 'windows', 'darwin', 'freebsd', 'netbsd', 'openbsd', 'solaris', 'illumos', 'aix', 'plan9', 'android', 'ios', 'js', 'wasip1']);

/** Parse `os/arch[/variant]` (as docker, crane and regctl take it), or a bare architecture (`arm64`: Linux). */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().split('/');
  // A bare architecture means Linux, as containerd and `docker run --platform arm64` take it.
  // (An OS name alone, `linux`, is still incomplete.)
  if (parts.length === 1 && /^[a-z0-9_-]+$/i.test(parts[0]!) && !OS_NAMES.has(parts[0]!.toLowerCase())) parts.unshift('linux');
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => part === '')) {
    throw new UsageError(`bad platform "${text}": expected os/arch[/variant], e.g. linux/amd64 or linux/arm/v7`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant ? { os: os.toLowerCase(), architecture: architecture.toLowerCase(), variant: variant.toLowerCase() }
    : { os: os.toLowerCase(), architecture: architecture.toLowerCase() };
}

export function formatPlatform(platform: Platform | undefined | null): string {
  if (!platform) return 'unknown';
  const base = `${platform.os}/${platform.architecture}`;
  return platform.variant ? `${base}/${platform.variant}` : base;
}

/**
 * Normalise as containerd does: aliases for architectures, `arm64` ≡ `arm64/v8`, `arm` without a variant is v7,
 * `amd64/v1` ≡ `amd64`.
 */
export function normalizePlatform(platform: Platform): { os: string; architecture: string; variant: string | null } {
  let architecture = platform.architecture.toLowerCase();
  let variant = platform.variant?.toLowerCase() || null;
  switch (architecture) {
    case 'x86_64':
    case 'x86-64':
      architecture = 'amd64';
      break;
    case 'aarch64':
      architecture = 'arm64';
      break;
    case 'armhf':
      architecture = 'arm';
      variant = variant ?? 'v7';
      break;
    case 'armel':
      architecture = 'arm';
      variant = variant ?? 'v6';
      break;
    case 'i386':
    case 'i686':
      architecture = '386';
      break;
    default:
      break;
  }
  if (architecture === 'arm64' && (variant === 'v8' || variant === '8')) variant = null;
  if (architecture === 'amd64' && (variant === 'v1' || variant === '1')) variant = null;
  if (architecture === 'arm' && variant && /^\d+$/.test(variant)) variant = `v${variant}`;
  return { os: platform.os.toLowerCase(), architecture, variant };
}

/**
 * Does `candidate` (an index entry or a config) satisfy what the user asked for? Variants are compared after
 * normalisation (`arm64` ≡ `arm64/v8`); a variant missing on either side matches any (CONTRACT.md).
 */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  const want = normalizePlatform(wanted);
  const have = normalizePlatform(candidate);
  if (want.os !== have.os || want.architecture !== have.architecture) return false;
  if (!wanted.variant || !candidate.variant) return true;
  return want.variant === have.variant;
}

/** The platform `docker pull` would choose on this machine. */
export function hostPlatform(): Platform {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  switch (process.arch) {
    case 'x64':
      return { os, architecture: 'amd64' };
    case 'arm64':
      return { os, architecture: 'arm64', variant: 'v8' };
    case 'arm':
      return { os, architecture: 'arm', variant: 'v7' };
    case 'ia32':
      return { os, architecture: '386' };
    default:
      return { os, architecture: process.arch };
  }
}

/** The platform an image's config says it is (what `--platform` and an index's claim are compared with). */
export function configPlatform(config: Pick<ImageConfig, 'os' | 'architecture' | 'variant'>): Platform {
  return { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
}

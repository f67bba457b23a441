/**
 * containerd's image store (nerdctl, Kubernetes nodes, Docker 25+'s containerd image store): `containerd:NAME`
 * with `--namespace` (default `default`; `k8s.io` on nodes). containerd's own export, `ctr -n NS images export -
 * NAME`, streams an OCI archive; it goes through the one-pass reader (stream-archive.ts) like an engine's export,
 * and the OCI layout reader resolves it. The socket is ctr's: $CONTAINERD_ADDRESS, else
 * /run/containerd/containerd.sock.
 */
import { spawn } from 'node:child_process';
import { ImageReadError } from '../errors.js';
import { layoutRoot, LayoutBlobStore } from './oci-layout.js';
import { quoteServerText } from './registry/transport.js';
import type { Selection, SourceHandle } from '../model/source.js';
import { readArchiveStream } from './stream-archive.js';

export async function openFromContainerd(input: string, name: string, namespace: string, selection: Selection, debug?: (line: string) => void): Promise<SourceHandle> {
  const address = process.env.CONTAINERD_ADDRESS || '/run/containerd/containerd.sock';
  const label = `containerd:${name}`;
  const args = ['-a', address, '-n', namespace, 'images', 'export', '-', name];
  debug?.(`streaming ${name} from containerd at ${address} (namespace ${namespace}): ctr ${args.join(' ')}`);
  const child = spawn('ctr', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    if (stderr.length < 4000) stderr += text;
  });
  const exited = new Promise<{ code: number | null; error: NodeJS.ErrnoException | null }>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code, error: null }));
  });
  const failure = async (): Promise<ImageReadError | null> => {
    const { code, error } = await exited;
    if (error?.code === 'ENOENT') return new ImageReadError('ctr is needed to read containerd images; install containerd (apt-get install containerd)');
    if (error) return new ImageReadError(`ctr failed: ${error.message}`);
    if (code === 0) return null;
    if (code === null && !stderr.trim()) return null; // stopped by us without a word: the stream's own error says more
    const said = stderr.trim().split('\n').pop() ?? '';
    const hint = /not found/i.test(said) ? `; containerd names images in full (docker.io/library/alpine:latest), see ctr -n ${namespace} images ls` : '';
    return new ImageReadError(`containerd at ${address} (namespace ${namespace}) could not export ${name}: ${quoteServerText(said)}${hint}`);
  };
  let tree;
  try {
    tree = await readArchiveStream(child.stdout, label, { ...(debug ? { debug } : {}) });
  } catch (error) {
    // An empty or cut stream usually means ctr is exiting with its reason on stderr: give it a moment to say it
    // (killing at once loses the reason: a race seen in CI), then stop it so a stalled ctr cannot hang us.
    child.stdout.resume(); // drain, so a ctr still writing can reach its exit
    const grace = setTimeout(() => child.kill(), 5000);
    const why = await failure();
    clearTimeout(grace);
    throw why ?? error;
  }
  const failed = await failure();
  if (failed) throw failed;
  const root = await layoutRoot(tree, selection.ref);
  return {
    info: { input, kind: 'containerd', reference: name, engine: { name: 'containerd', version: 'unknown' } },
    store: new LayoutBlobStore(tree),
    label,
    root,
    close: async () => {},
  };
}

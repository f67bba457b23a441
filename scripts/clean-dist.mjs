// dist/ is rebuilt from nothing: a module whose source was deleted or renamed must not linger in the package.
import { rmSync } from 'node:fs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });

// Tests are TypeScript, compiled by ts-jest as ES modules (chalk and yargs are ESM-only), so jest runs
// under `node --experimental-vm-modules` (see the `test` script). Type errors are caught by `npm run typecheck`,
// not here: ts-jest only transpiles (`isolatedModules` in tsconfig.json), which keeps the suite fast.
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 120000,
};

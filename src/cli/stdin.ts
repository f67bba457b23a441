/** yargs-parser reads a lone `-` as an empty flag; main() carries it through as this token, commands turn it back. */
export const STDIN_TOKEN = 'layerlens:stdin';

import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The dashboard runs in the browser.
    files: ['web/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'history', 'sessionStorage', 'fetch', 'TextDecoder', 'AbortController', 'URLSearchParams', 'performance', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'alert', 'console'].map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    files: ['scripts/**/*.mjs'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly' } },
  },
  {
    files: ['src/planner/**/*.ts'],
    ignores: ['src/planner/**/*.spec.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['@nestjs/*', 'typeorm', 'bullmq', 'ioredis', 'pg', 'node:*', 'fs', 'path', 'crypto'], message: 'The planner is pure: no framework, I/O or randomness.' },
      ] }],
      'no-restricted-properties': ['error',
        { object: 'Math', property: 'random', message: 'The planner is deterministic.' },
        { object: 'Date', property: 'now', message: 'The planner has no clock: use the snapshot takenAt.' },
      ],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'The planner has no clock: use the snapshot takenAt.' }],
    },
  },
);

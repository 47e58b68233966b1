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

/** The SQL compatibility layer's pure parts: statement splitting, classification, policy and answers. No I/O. */
export * from './answers.js';
export * from './classify.js';
export * from './policy.js';
export * from './split.js';

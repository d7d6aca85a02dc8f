export * from './journal.ts';
export * from './orderState.ts';
export * from './schemas.ts';
export * from './topics.ts';

/** Bad input (a missing, corrupt or invalid file): the CLI prints the message alone and exits non-zero. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

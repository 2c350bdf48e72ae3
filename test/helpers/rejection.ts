/**
 * What `promise` rejected with; fails the test when it resolves, so an assertion on the
 * error can never pass by accident.
 */
export async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('Expected a rejection.');
}

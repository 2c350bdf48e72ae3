import { describe, expect, it } from 'vitest';
import { ConfigValidationError, type FieldError } from '../../src/domain/errors.js';
import { wholeNumberFromEnv } from '../../src/domain/env-values.js';

describe('wholeNumberFromEnv', () => {
  it('reads a whole number ≥ 1, trimmed, and nothing for an unset or blank variable', () => {
    // Act
    const values = [wholeNumberFromEnv({ N: ' 12 ' }, 'N'), wholeNumberFromEnv({}, 'N'), wholeNumberFromEnv({ N: '  ' }, 'N')];

    // Assess
    expect(values).toEqual([12, undefined, undefined]);
  });

  it.each(['0', '-3', '1.5', 'many', '9007199254740993'])("throws naming the variable for '%s'", (raw) => {
    // Act
    const read = () => wholeNumberFromEnv({ N: raw }, 'N');

    // Assess
    expect(read).toThrow(ConfigValidationError);
    expect(read).toThrow(`must be a whole number ≥ 1, got '${raw}'`);
  });

  it('adds the problem to the given list instead of throwing, so every bad variable is reported at once', () => {
    // Prepare
    const errors: FieldError[] = [];

    // Act
    const value = wholeNumberFromEnv({ N: '0' }, 'N', errors);

    // Assess
    expect(value).toBeUndefined();
    expect(errors).toEqual([{ field: 'N', message: "must be a whole number ≥ 1, got '0'" }]);
  });
});

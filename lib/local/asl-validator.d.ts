/** Types for `asl-validator` (the package ships none): validates an Amazon States Language definition. */
declare module 'asl-validator' {
  interface AslValidationError {
    message: string;
    [key: string]: unknown;
  }
  interface AslValidationResult {
    isValid: boolean;
    errors: AslValidationError[];
    errorsText(separator?: string): string;
  }
  function aslValidator(
    definition: unknown,
    options?: { checkPaths?: boolean; checkArn?: boolean },
  ): AslValidationResult;
  export = aslValidator;
}

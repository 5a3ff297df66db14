// The few platform globals shared code may use: present in browsers, workers and Node alike.
// Declared here so shared/ compiles with neither the DOM nor Node's types in scope.
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: Uint8Array): string;
}
